"""`ssa-bench figures`: the four figures from a real (tiny) spec's records and dumps, their
provenance, and what happens when an artefact is missing."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from ssa_bench.errors import UserError
from ssa_bench.report.figures import build_figures, make_figures
from ssa_bench.report.figures.inputs import RunData, main_ssa_run, sd_pair
from ssa_bench.report.figures.relations import off_diagonal_mean, relation_matrix
from ssa_bench.report.figures.tsne import embed, pick_image_and_class
from ssa_bench.store import Store

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("fig1_tsne", "fig3_relations", "fig4_qualitative", "fig5_curves", "fig5b_loss_terms", "fig_gain_forest")


@pytest.fixture
def trained(figure_runs):
    return figure_runs


@pytest.fixture
def copy_of(trained, tmp_path):
    """A mutable copy of the trained results (without checkpoints) and its Store."""
    spec_path, spec, runs, store = trained
    root = tmp_path / "results"
    shutil.copytree(store.root, root, ignore=shutil.ignore_patterns("work_dir"))
    return spec, runs, Store(root)


def ids(runs):
    return {run.label: run.id for run in runs}


@pytest.mark.slow   # trains three runs (module fixture)
def test_every_figure_from_recorded_runs(trained, tmp_path):
    spec_path, spec, runs, store = trained
    result = build_figures(spec, runs, store, out_dir=tmp_path / "figs")
    assert result.notes == []
    assert sorted(p.name for p in result.paths) == sorted(f"{n}.{ext}" for n in FIGURES for ext in ("png", "pdf"))
    for path in result.paths:
        data = path.read_bytes()
        assert len(data) > 2000, path
        assert data[:8] == b"\x89PNG\r\n\x1a\n" if path.suffix == ".png" else data[:5] == b"%PDF-"
    run = ids(runs)
    expected = {"fig1_tsne": [run["SSA (Ours)"]],
                "fig3_relations": [run["+ SEPA + SPPA"], run["SSA (Ours)"]],
                "fig4_qualitative": [run["Baseline"], run["SSA (Ours)"]],
                "fig5_curves": [run["Baseline"], run["+ SEPA + SPPA"], run["SSA (Ours)"]],
                "fig5b_loss_terms": [run["Baseline"], run["+ SEPA + SPPA"], run["SSA (Ours)"]]}
    for name, run_ids in expected.items():
        provenance = json.loads((tmp_path / "figs" / f"{name}.json").read_text())
        assert provenance["runs"] == run_ids, name
        assert provenance["spec"] == "figtest"
        for artefact in provenance["artefacts"]:
            assert (Path(store.root) / artefact).is_file(), artefact
        # the PDF itself names its runs (a figure copied elsewhere still says where it came from)
        pdf = (tmp_path / "figs" / f"{name}.pdf").read_bytes()
        assert f"ssa-bench runs: {','.join(run_ids)}".encode() in pdf, name
        if name != "fig3_relations":        # Fig. 3 notes that '+ SEPA + SPPA' has no teacher
            assert provenance["notes"] == [], (name, provenance["notes"])


@pytest.mark.slow   # trains three runs (module fixture)
def test_fig1_names_the_largest_class_of_the_image(trained, tmp_path):
    spec_path, spec, runs, store = trained
    build_figures(spec, runs, store, out_dir=tmp_path, only=["fig1_tsne"])
    details = json.loads((tmp_path / "fig1_tsne.json").read_text())["details"]
    analysis = np.load(Path(store.root) / "runs" / ids(runs)["SSA (Ours)"] / "dump" / "ssa_analysis.npz")
    label = analysis["label"][details["image_index"]]
    counts = np.bincount(label[label != 255].ravel(), minlength=8)
    assert details["class"] == int(counts.argmax()) and details["pixels"] == int(counts.max())
    names = list(store.record(ids(runs)["SSA (Ours)"])["metrics"]["per_class_iou"])
    assert details["class_name"] == names[details["class"]]


@pytest.mark.slow   # trains three runs (module fixture)
def test_fig5_draws_the_recorded_curve(copy_of, tmp_path):
    # Change a recorded curve and the figure changes: the numbers come from record.json.
    spec, runs, store = copy_of
    build_figures(spec, runs, store, out_dir=tmp_path / "a", only=["fig5_curves"])
    build_figures(spec, runs, store, out_dir=tmp_path / "a2", only=["fig5_curves"])
    # same inputs, same bytes: so a difference below is the data's
    assert (tmp_path / "a" / "fig5_curves.png").read_bytes() == (tmp_path / "a2" / "fig5_curves.png").read_bytes()
    record = store.record(runs[0].id)
    record["curve"] = [{"iter": p["iter"], "mIoU": p["mIoU"] + 40.0} for p in record["curve"]]
    store.write_record(runs[0].id, record)
    build_figures(spec, runs, store, out_dir=tmp_path / "b", only=["fig5_curves"])
    assert (tmp_path / "a" / "fig5_curves.png").read_bytes() != (tmp_path / "b" / "fig5_curves.png").read_bytes()


@pytest.mark.slow   # trains three runs (module fixture)
def test_records_carry_every_logged_loss_term(trained):
    # The SSA run's record lists its distillation terms by iteration, the baseline's only CE.
    spec_path, spec, runs, store = trained
    run = ids(runs)
    ssa_terms = set().union(*(p.keys() for p in store.record(run["SSA (Ours)"])["loss_curves"]))
    assert {"iter", "loss", "decode.loss_ce", "decode.loss_ssa_rd", "decode.loss_ssa_sd",
            "decode.loss_ssa_pd"} <= ssa_terms
    base = store.record(run["Baseline"])["loss_curves"]
    assert base and all(not key.startswith("decode.loss_ssa") for p in base for key in p)
    # the logged total is the sum of the logged terms
    point = store.record(run["SSA (Ours)"])["loss_curves"][-1]
    terms = sum(v for k, v in point.items() if k not in ("iter", "loss"))
    assert point["loss"] == pytest.approx(terms, rel=1e-3)


@pytest.mark.slow   # trains three runs (module fixture)
def test_fig5b_draws_the_recorded_loss_terms(copy_of, tmp_path):
    from ssa_bench.report.figures.loss_terms import short_name, term_series

    spec, runs, store = copy_of
    build_figures(spec, runs, store, out_dir=tmp_path / "a", only=["fig5b_loss_terms"])
    record = store.record(runs[-1].id)
    series = term_series(record["loss_curves"])
    assert "loss" in series and short_name("decode.loss_ssa_rd") == "ssa_rd"
    record["loss_curves"] = [{**p, "decode.loss_ssa_rd": 50.0} for p in record["loss_curves"]]
    store.write_record(runs[-1].id, record)
    build_figures(spec, runs, store, out_dir=tmp_path / "b", only=["fig5b_loss_terms"])
    assert (tmp_path / "a" / "fig5b_loss_terms.png").read_bytes() != \
        (tmp_path / "b" / "fig5b_loss_terms.png").read_bytes()


@pytest.mark.slow   # trains three runs (module fixture)
def test_missing_artefacts_give_notes_not_crashes(copy_of, tmp_path):
    spec, runs, store = copy_of
    run = ids(runs)
    (Path(store.root) / "runs" / run["SSA (Ours)"] / "dump" / "ssa_analysis.npz").unlink()
    (Path(store.root) / "runs" / run["Baseline"] / "dump" / "predictions.npz").unlink()
    (Path(store.root) / "runs" / run["+ SEPA + SPPA"] / "record.json").unlink()
    result = build_figures(spec, runs, store, out_dir=tmp_path)
    notes = "\n".join(result.notes)
    assert f"fig1_tsne skipped: run {run['SSA (Ours)']} (SSA (Ours)): missing dump/ssa_analysis.npz" in notes
    assert f"fig4_qualitative skipped: run {run['Baseline']} (Baseline): missing dump/predictions.npz" in notes
    assert len(result.notes) == 2, notes
    # Fig. 3 keeps the run that still has its dump and says what the other row lacks.
    fig3 = json.loads((tmp_path / "fig3_relations.json").read_text())
    assert fig3["runs"] == [run["+ SEPA + SPPA"]]
    assert any("missing dump/ssa_analysis.npz" in note for note in fig3["notes"])
    # Fig. 5 draws the two finished curves and notes the run without a record.
    fig5 = json.loads((tmp_path / "fig5_curves.json").read_text())
    assert fig5["runs"] == [run["Baseline"], run["SSA (Ours)"]]
    assert fig5["notes"] == [f"run {run['+ SEPA + SPPA']} (+ SEPA + SPPA): no record.json (state pending)"]   # the record is the truth: without it the run is not done


@pytest.mark.slow   # trains three runs (module fixture)
def test_fig3_with_only_distilled_run_notes_the_missing_row(trained, tmp_path):
    spec_path, spec, runs, store = trained
    subset = [r for r in runs if r.label != "+ SEPA + SPPA"]
    result = build_figures(spec, subset, store, out_dir=tmp_path, only=["fig3_relations"])
    assert result.notes == [] and len(result.paths) == 2
    fig3 = json.loads((tmp_path / "fig3_relations.json").read_text())
    assert fig3["notes"] == ["the spec has no SEPA run with w_sd = 0"]


@pytest.mark.slow   # trains three runs (module fixture)
def test_no_results_is_a_user_error_with_the_fix(trained, tmp_path):
    spec_path, spec, runs, store = trained
    with pytest.raises(UserError) as error:
        make_figures(spec, runs, Store(tmp_path / "empty"), out_dir=tmp_path / "figs")
    assert "no figure could be made" in str(error.value) and "ssa-bench run" in str(error.value)
    done = subprocess.run([sys.executable, "-m", "ssa_bench.cli", "figures", str(spec_path),
                           "--results-dir", str(tmp_path / "empty")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2, done.stderr
    assert "run the spec first" in done.stderr
    assert "fig1_tsne skipped: run " in done.stderr


@pytest.mark.slow   # trains three runs (module fixture)
def test_cli_writes_figures_without_importing_torch(trained, tmp_path):
    spec_path, spec, runs, store = trained
    script = (f"import sys; sys.argv = ['ssa-bench', 'figures', {str(spec_path)!r}, '--results-dir', "
              f"{store.root!r}, '--out', {str(tmp_path)!r}]\n"
              "from ssa_bench import cli\n"
              "code = cli.main()\n"
              "print('torch' in sys.modules, code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["False", "0"]
    assert sorted(p.name for p in tmp_path.glob("*.pdf")) == sorted(f"{n}.pdf" for n in FIGURES)


# ---- choices made from the data ------------------------------------------------------------------
def _fake(label, run_id, **ssa):
    config = {"baseline": "m", "dataset": "d", "ssa": {"enabled": bool(ssa), **ssa}}
    return RunData(types.SimpleNamespace(id=run_id, label=label, config=config, seed=0), "/nonexistent")


def test_run_choice():
    table = [_fake("Baseline", "b"),
             _fake("+ SEPA", "s", sepa=True, sppa=False, w_g=0, w_sd=0),
             _fake("+ SEPA + SPPA", "ss", sepa=True, sppa=True, w_g=0, w_sd=0),
             _fake("+ SEPA + Lg + Lsd", "sd", sepa=True, sppa=False, w_g=1, w_sd=1),
             _fake("SSA", "full", sepa=True, sppa=True, w_g=1, w_sd=1, w_pd=1, w_rd=1)]
    assert main_ssa_run(table).id == "full"
    without, with_sd = sd_pair(table)
    assert (without.id, with_sd.id) == ("s", "sd")            # they differ in w_g and w_sd only
    assert sd_pair(table[:3]) == (table[1], None)
    assert main_ssa_run(table[:1]) is None


def test_relation_matrix_and_tsne_helpers():
    prototypes = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    matrix = relation_matrix(prototypes)
    assert np.allclose(matrix, [[1, 0, -1], [0, 1, 0], [-1, 0, 1]])
    assert off_diagonal_mean(matrix) == pytest.approx(-1 / 3)
    assert np.allclose(relation_matrix(np.stack([prototypes, prototypes])), matrix)
    label = np.full((2, 4, 4), 255)
    label[1, :3, :] = 2
    label[1, 3, :] = 5
    assert pick_image_and_class(label) == (1, 2)
    points = np.random.default_rng(0).normal(size=(20, 8))
    assert np.array_equal(embed(points), embed(points))       # fixed random_state


def test_fig5_one_panel_per_dataset(tmp_path):
    # Table 1 style: the same rows on two datasets -> two panels, as the paper's Fig. 5 (a), (b).
    from ssa_bench.report.figures import curves
    from ssa_bench.report.figures import Context

    store = Store(tmp_path / "results")
    data = []
    for run_id, dataset, ssa in (("b1", "ade20k", False), ("s1", "ade20k", True),
                                 ("b2", "coco_stuff10k", False), ("s2", "coco_stuff10k", True)):
        store.write_record(run_id, {"curve": [{"iter": 10, "mIoU": 1.0}, {"iter": 20, "mIoU": 2.0}]})
        run = types.SimpleNamespace(id=run_id, label="SSA" if ssa else "Baseline", seed=0,
                                    config={"baseline": "m", "dataset": dataset, "ssa": {"enabled": ssa}})
        data.append(RunData(run, store.root))
    paths = curves.make(Context("t1", data, tmp_path / "figs"))
    assert [p.name for p in paths] == ["fig5_curves.png", "fig5_curves.pdf"]
    import matplotlib.image

    height, width = matplotlib.image.imread(paths[0]).shape[:2]
    assert width > 1.6 * height                  # two panels side by side
    assert json.loads((tmp_path / "figs" / "fig5_curves.json").read_text())["runs"] == ["b1", "s1", "b2", "s2"]


def test_schedule_gain_from_records(tmp_path):
    # Three seeds of a baseline and one SSA row at two schedules: the gain is taken seed by seed.
    from ssa_bench.report.figures import Context, build_figures, schedule_gain

    store = Store(tmp_path / "results")
    data, results = [], []
    for iters, base, ssa in ((1000, (30.0, 31.0, 32.0), (29.0, 30.5, 31.0)),
                             (4000, (40.0, 41.0, 39.0), (42.0, 43.5, 41.0))):
        for seed in range(3):
            for label, is_ssa, value in (("Baseline", False, base[seed]), ("SSA", True, ssa[seed])):
                run_id = f"{label}-{iters}-{seed}"
                store.write_record(run_id, {"metrics": {"mIoU": value}})
                run = types.SimpleNamespace(id=run_id, label=label, seed=seed, config={
                    "baseline": "m", "dataset": "demo_scenes", "ssa": {"enabled": is_ssa},
                    "train": {"max_iters": iters}})
                data.append(RunData(run, store.root))
                results.append((label, is_ssa, iters, seed, value))
    miou, gains, baseline = schedule_gain.schedule_table(results)
    assert baseline == "Baseline"
    assert gains["SSA"][1000] == pytest.approx([-1.0, -0.5, -1.0])
    assert gains["SSA"][4000] == pytest.approx([2.0, 2.5, 2.0])
    paths = schedule_gain.make(Context("schedule", data, tmp_path / "figs"))
    assert [p.name for p in paths] == ["fig_schedule_gain.png", "fig_schedule_gain.pdf"]
    assert len(json.loads((tmp_path / "figs" / "fig_schedule_gain.json").read_text())["runs"]) == 12
    # a spec with one schedule: the figure does not apply, and says nothing
    one = [d for d in data if d.run.config["train"]["max_iters"] == 1000]
    spec = types.SimpleNamespace(name="t", path="t.yaml", profile="paper")
    result = build_figures(spec, [d.run for d in one], store, out_dir=tmp_path / "none",
                           only=["fig_schedule_gain"])
    assert result.paths == [] and result.notes == []


def test_recorded_lists_say_why_a_run_draws_nothing(tmp_path):
    from report_fixtures import write_record

    from ssa_bench.report.figures.inputs import Missing

    write_record(tmp_path, "aaa", miou=40.0)       # a validation curve, no loss curves
    run = RunData(types.SimpleNamespace(id="aaa", label="SSA", seed=0, config={}), str(tmp_path))
    assert run.recorded("curve", "validation curve") == [{"iter": 100, "mIoU": 40.0}]
    with pytest.raises(Missing, match=r"run aaa \(SSA\): record.json has no loss curves"):
        run.recorded("loss_curves", "loss curves")
    absent = RunData(types.SimpleNamespace(id="bbb", label="X", seed=0, config={}), str(tmp_path))
    with pytest.raises(Missing, match="no record.json"):
        absent.recorded("curve", "validation curve")
