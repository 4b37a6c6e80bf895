"""YAML matrix -> validated, expanded, resolved :class:`Spec` of :class:`Run` s (see experiments/README.md)."""
from ssa_bench.matrix.loader import Spec, SpecRow, load_spec, resolve_path
from ssa_bench.vocabulary.profiles import PROFILES
from ssa_bench.matrix.run import Run, plan, run_id

__all__ = ["PROFILES", "Run", "Spec", "SpecRow", "load_spec", "plan", "resolve_path", "run_id"]
