"""YAML matrix -> validated, expanded, resolved :class:`Spec` (see experiments/README.md)."""
from ssa_bench.matrix.loader import Entry, Spec, SpecRow, load_spec, resolve_path
from ssa_bench.matrix.profiles import PROFILES

__all__ = ["Entry", "PROFILES", "Spec", "SpecRow", "load_spec", "resolve_path"]
