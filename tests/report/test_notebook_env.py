"""SSA_BENCH_SET's grammar and the notebooks' run choice (no kernel here; tests/test_notebooks.py
runs the notebooks themselves)."""
from __future__ import annotations

import types

import pytest

from ssa_bench.errors import UserError
from ssa_bench.report.notebook_env import choose_run, split_overrides


@pytest.mark.parametrize("text,expected", [
    (None, []),
    ("", []),
    ("train.max_iters=20;ssa.pe=learnable", ["train.max_iters=20", "ssa.pe=learnable"]),
    ("train.max_iters=20\nssa.pe=learnable\n", ["train.max_iters=20", "ssa.pe=learnable"]),
    (" train.crop_size=[64, 64] ; train.log_backends=[tensorboard, wandb];",
     ["train.crop_size=[64, 64]", "train.log_backends=[tensorboard, wandb]"]),
    ("report.caption='a; b';seeds=[0,1]", ["report.caption='a; b'", "seeds=[0,1]"]),
    ("cfg.x={a: [1; 2]};seed=1", ["cfg.x={a: [1; 2]}", "seed=1"]),
])
def test_split_overrides(text, expected):
    assert split_overrides(text) == expected


@pytest.mark.parametrize("text,message", [
    ("train.max_iters", "is not KEY=VALUE"),
    ("train.max_iters=20,ssa.pe=learnable;ssa", "'ssa' is not KEY=VALUE"),
    ("train.crop_size=[64, 64", "unclosed"),
    ("report.caption='a;b", "unclosed '"),
])
def test_split_overrides_refuses_in_one_line(text, message):
    with pytest.raises(UserError) as caught:
        split_overrides(text)
    line = caught.value.one_line()
    assert line.startswith("SSA_BENCH_SET: ") and message in line and "\n" not in line


def _run(run_id, label, ssa):
    return types.SimpleNamespace(id=run_id, label=label, is_ssa=ssa, ssa={"enabled": ssa})


SPEC = types.SimpleNamespace(path="figtest.yaml", name="figtest", profile="cpu-demo")


def test_choose_run_by_id_or_prefix():
    data = [_run("aaaa11112222", "Baseline", False), _run("bbbb11112222", "SSA (Ours)", True)]
    assert choose_run(data, "bbbb11112222", SPEC, []).label == "SSA (Ours)"
    assert choose_run(data, "bbbb", SPEC, []).label == "SSA (Ours)"
    with pytest.raises(UserError, match="does not use SSA"):
        choose_run(data, "aaaa", SPEC, [])
    with pytest.raises(UserError) as caught:
        choose_run(data, "cccc", SPEC, ["train.max_iters=20"])
    line = caught.value.one_line()
    assert ("SSA_BENCH_RUN=cccc is not a run of figtest.yaml (profile cpu-demo, SSA_BENCH_SET train.max_iters=20)"
            in line)
    assert "aaaa11112222 (Baseline), bbbb11112222 (SSA (Ours))" in line
    with pytest.raises(UserError, match="names several runs"):
        choose_run(data + [_run("bbbb99990000", "other", True)], "bbbb", SPEC, [])


def test_split_overrides_splits_only_at_semicolons_and_newlines():
    """Found by mutation testing: no case had a letter that a wider separator set would split at."""
    assert split_overrides("report.caption=XYZ;seed=1") == ["report.caption=XYZ", "seed=1"]


def test_an_unclosed_bracket_says_how_to_close_it():
    """Found by mutation testing: the fix of the unclosed-bracket error was not asserted."""
    with pytest.raises(UserError) as caught:
        split_overrides("train.crop_size=[64, 64")
    assert caught.value.one_line().endswith(
        ' -- close it, e.g. SSA_BENCH_SET="train.crop_size=[64, 64];ssa.pe=learnable"')


TABLE3 = "experiments/tables/table3.yaml"


def test_load_notebook_spec_uses_the_profile_and_names_bad_input_by_its_variable():
    """A notebook's spec is loaded under SSA_BENCH_PROFILE; a bad SSA_BENCH_SET item or profile is
    named as that variable (with the spec file where the spec's check found it), never as --set/--profile."""
    from ssa_bench.report.notebook_env import load_notebook_spec

    assert load_notebook_spec(TABLE3, "cpu-demo", []).profile == "cpu-demo"
    with pytest.raises(UserError) as caught:
        load_notebook_spec(TABLE3, "cpu-demo", ["baseline=nosuch"])
    assert (caught.value.file, caught.value.key) == (TABLE3, "SSA_BENCH_SET.baseline")
    assert caught.value.one_line().startswith(f"{TABLE3}: SSA_BENCH_SET.baseline: unknown baseline 'nosuch'")
    with pytest.raises(UserError) as caught:
        load_notebook_spec(TABLE3, "cpu-demo", ["ssa.pe=bogus"])
    assert caught.value.one_line().startswith("SSA_BENCH_SET ssa.pe: unknown pe 'bogus'")
    with pytest.raises(UserError) as caught:
        load_notebook_spec(TABLE3, "nope", [])
    assert caught.value.one_line() == "SSA_BENCH_PROFILE: unknown profile 'nope' -- use one of: paper, cpu-demo"


class _NotRun:
    def __init__(self, run_id):
        self.id = run_id

    def record(self):
        from ssa_bench.report.figures.inputs import Missing

        raise Missing(f"{self.id} has no record")


def test_require_results_says_how_to_run_them_with_the_same_profile_and_overrides():
    from ssa_bench.report.notebook_env import require_results

    with pytest.raises(UserError) as caught:
        require_results([_NotRun("aaaa"), _NotRun("bbbb"), _NotRun("aaaa")], SPEC, ["train.max_iters=20"], "/r")
    assert caught.value.one_line() == (
        "SSA_BENCH_SPEC: none of the 2 runs of figtest.yaml (profile cpu-demo, SSA_BENCH_SET train.max_iters=20) "
        "has results in /r -- run them first (ssa-bench run figtest.yaml --profile cpu-demo --set "
        "train.max_iters=20), or set SSA_BENCH_PROFILE and SSA_BENCH_SET to the profile and --set overrides "
        "the runs were made with (run ids depend on both)")
    done = types.SimpleNamespace(id="cccc", record=lambda: {"id": "cccc"})
    assert require_results([_NotRun("aaaa"), done], SPEC, [], "/r") is None


def test_in_a_kernel_errors_are_shown_as_one_sentence(monkeypatch, capsys):
    """show_errors_as_sentences registers a handler for UserError and a figure's Missing input with
    IPython's shell that prints the one line; outside a kernel (no shell) it does nothing."""
    IPython = pytest.importorskip("IPython")
    from ssa_bench.report.figures.inputs import Missing
    from ssa_bench.report.notebook_env import show_errors_as_sentences

    registered = []
    shell = types.SimpleNamespace(set_custom_exc=lambda kinds, handler: registered.append((kinds, handler)))
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    show_errors_as_sentences()
    [(kinds, handler)] = registered
    assert set(kinds) == {UserError, Missing}
    handler(shell, UserError, UserError("no runs", key="SSA_BENCH_SPEC", fix="run them"), None)
    assert capsys.readouterr().err == "error: SSA_BENCH_SPEC: no runs -- run them\n"
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    show_errors_as_sentences()
    assert len(registered) == 1
