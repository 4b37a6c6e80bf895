"""What the notebooks (``notebooks/*.ipynb``) share: the spec, runs and store their environment
variables name, and mistakes told as one sentence instead of a traceback.

``SSA_BENCH_SET`` carries the ``--set`` overrides the runs were made with (run ids depend on
them), separated by ``;`` or newlines: ``train.max_iters=20;ssa.pe=learnable``. A ``;`` inside
quotes or brackets does not separate, so YAML values with commas, brackets or quoted text pass
whole: ``train.crop_size=[64, 64];cfg.model.decode_head.channels=256``.
"""
from __future__ import annotations

import sys

from ssa_bench.errors import SpecError, UserError

ENV_RESULTS, ENV_SPEC, ENV_PROFILE, ENV_SET, ENV_RUN = (
    "SSA_BENCH_RESULTS", "SSA_BENCH_SPEC", "SSA_BENCH_PROFILE", "SSA_BENCH_SET", "SSA_BENCH_RUN")
_CLOSING = {"[": "]", "{": "}", "(": ")"}


def split_overrides(text: str | None) -> list[str]:
    """``SSA_BENCH_SET``'s overrides: split on ``;`` and newlines outside quotes and brackets."""
    items, current, quote, depth = [], [], None, []
    for char in text or "":
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _CLOSING:
            depth.append(_CLOSING[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char in ";\n" and not depth:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    out = [item.strip() for item in items if item.strip()]
    if quote or depth:
        raise UserError(f"unclosed {quote or '(bracket)'} in {text!r}", key=ENV_SET,
                        fix="close it, e.g. SSA_BENCH_SET=\"train.crop_size=[64, 64];ssa.pe=learnable\"")
    for item in out:
        if "=" not in item:
            raise UserError(f"'{item}' is not KEY=VALUE", key=ENV_SET,
                            fix="separate overrides with ';', e.g. SSA_BENCH_SET=\"train.max_iters=20;ssa.pe=learnable\"")
    return out


def load_notebook_spec(spec_path: str, profile: str, overrides: list[str]):
    """``load_spec`` with the notebook's overrides; a bad override is named as SSA_BENCH_SET's."""
    from ssa_bench.matrix import load_spec

    try:
        return load_spec(spec_path, profile=profile, overrides=overrides)
    except SpecError as error:
        if error.key and error.key.startswith("--set"):
            raise UserError(error.message, file=error.file, key=ENV_SET + error.key[len("--set"):],
                            fix=error.fix) from None
        if error.key == "--profile":
            raise UserError(error.message, key=ENV_PROFILE, fix=error.fix) from None
        raise


def describe_selection(spec, overrides: list[str]) -> str:
    """'tables/table3.yaml (profile cpu-demo, SSA_BENCH_SET train.max_iters=20)'."""
    chosen = f"profile {spec.profile}" + (f", {ENV_SET} {';'.join(overrides)}" if overrides else "")
    return f"{spec.path or spec.name} ({chosen})"


def _how_to_select(spec, overrides: list[str]) -> str:
    command = f"ssa-bench run {spec.path or spec.name}" + (
        f" --profile {spec.profile}" if spec.profile != "paper" else "") + "".join(
        f" --set {item}" for item in overrides)
    return (f"run them first ({command}), or set {ENV_PROFILE} and {ENV_SET} to the profile and "
            f"--set overrides the runs were made with (run ids depend on both)")


def require_results(data, spec, overrides: list[str], results_root: str) -> None:
    """UserError when not one run of the spec has a record: the runs were never made, or made
    under another profile or other overrides (other ids)."""
    from ssa_bench.report.figures.inputs import Missing

    for run in data:
        try:
            run.record()
            return
        except Missing:
            continue
    raise UserError(f"none of the {len({run.id for run in data})} runs of {describe_selection(spec, overrides)} "
                    f"has results in {results_root}", key=ENV_SPEC, fix=_how_to_select(spec, overrides))


def choose_run(data, chosen: str | None, spec, overrides: list[str]):
    """The run ``SSA_BENCH_RUN`` names (an id or its first characters), else the spec's
    full-SSA row; a sentence when there is no such run."""
    from ssa_bench.report.figures.inputs import main_ssa_run

    if not chosen:
        run = main_ssa_run(data)
        if run is None:
            raise UserError(f"{describe_selection(spec, overrides)} has no SSA run to explore", key=ENV_SPEC,
                            fix="choose a spec with an SSA row, or name a run with SSA_BENCH_RUN")
        return run
    matches = {run.id: run for run in data if run.id.startswith(chosen.strip())}
    if len(matches) == 1:
        run = next(iter(matches.values()))
        if not run.is_ssa:
            raise UserError(f"run {run.id} ({run.label}) does not use SSA: it has no prototypes to explore",
                            key=ENV_RUN, fix="name an SSA run: " + _listing([d for d in data if d.is_ssa]))
        return run
    what = "names several runs" if matches else "is not a run of"
    raise UserError(f"{ENV_RUN}={chosen} {what} {describe_selection(spec, overrides)}", key=ENV_RUN,
                    fix=f"use one of: {_listing(data)}; or unset it for the full-SSA row (runs made with "
                        f"--set need the same overrides in {ENV_SET})")


def _listing(data) -> str:
    seen = {}
    for run in data:
        seen.setdefault(run.id, run.label)
    return ", ".join(f"{run_id} ({label})" for run_id, label in seen.items())


def show_errors_as_sentences() -> None:
    """In a Jupyter kernel, a UserError (and a figure's missing input) stops the notebook with its
    one-line message on stderr and no traceback; elsewhere a no-op."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from ssa_bench.report.figures.inputs import Missing

    def one_line(_shell, _kind, error, _traceback, tb_offset=None):
        print(f"error: {error}", file=sys.stderr)

    shell.set_custom_exc((UserError, Missing), one_line)

