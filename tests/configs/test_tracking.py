"""train.log_backends: mmengine visualizer backends (TensorBoard, W&B, MLflow) chosen in a spec.

The key is checked like every train.* key, does not enter the run id, reaches the composed
config as visualizer backends beside the LocalVisBackend the train stage reads, and a tracker
whose package is missing is one line before anything trains. The slow test trains a real tiny
run and reads its TensorBoard event files back.
"""
from __future__ import annotations

import copy
import glob
from pathlib import Path

import pytest

from ssa_bench.configs import build_mmseg_config, tracking
from ssa_bench.errors import SpecError, UserError
from ssa_bench.matrix import load_spec
from ssa_bench.store import Store
from tests.stages.stage_helpers import run_config

REPO = Path(__file__).resolve().parents[2]
SPEC = "base: {baseline: seaformer_l, dataset: ade20k}\nrows: [{label: a}, {label: b, ssa: {enabled: true}}]\n"


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture(autouse=True)
def single_process(monkeypatch, tmp_path):
    for var in ("SSA_BENCH_LAUNCHER", "WORLD_SIZE", "SLURM_NTASKS", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))


def test_default_is_tensorboard_in_the_resolved_config(spec_file):
    spec = load_spec(spec_file)
    assert all(run.config["train"]["log_backends"] == ["tensorboard"] for run in spec.runs)


def test_log_backends_are_not_part_of_the_run_id(spec_file):
    default = load_spec(spec_file)
    chosen = load_spec(spec_file, overrides=["train.log_backends=[tensorboard, wandb, mlflow]"])
    none = load_spec(spec_file, overrides=["train.log_backends=[]"])
    assert [run.config["train"]["log_backends"] for run in chosen.runs] == [["tensorboard", "wandb", "mlflow"]] * 2
    assert [run.id for run in default.runs] == [run.id for run in chosen.runs] == [run.id for run in none.runs]
    # ... while a key that changes the training still changes the id
    longer = load_spec(spec_file, overrides=["train.max_iters=100"])
    assert {run.id for run in longer.runs}.isdisjoint(run.id for run in default.runs)


def test_ids_of_the_paper_tables_are_unchanged_by_the_key(monkeypatch):
    # Table 3's first run, as recorded before the key existed: its config had no log_backends.
    monkeypatch.chdir(REPO)
    from ssa_bench.matrix.run import run_id

    run = load_spec("tables/table3.yaml").runs[0]
    before = copy.deepcopy(run.config)
    del before["train"]["log_backends"]
    assert run_id(before) == run.id


@pytest.mark.parametrize("override,message", [
    ("train.log_backends=[tensorboard, comet]", "unknown log backend 'comet'"),
    ("train.log_backends=[tensorbord]", "did you mean 'tensorboard'"),
    ("train.log_backends=tensorboard", "expected a list"),
    ("train.log_backends=[wandb, wandb]", "listed twice"),
])
def test_bad_backends_are_refused_at_the_key(spec_file, override, message):
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file, overrides=[override])
    line = caught.value.one_line()
    assert "\n" not in line and "--set" in line and message in line
    if "unknown" in message:
        assert "tensorboard, wandb, mlflow" in line


def test_bad_backend_in_a_row_is_named_at_the_row(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("{label: a}", "{label: a, train: {log_backends: [neptune]}}"))
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    assert "rows[0].train.log_backends" in caught.value.one_line()


def test_missing_tracker_package_is_one_line_naming_it(monkeypatch):
    monkeypatch.setattr(tracking, "_installed", lambda module: module != "wandb")
    tracking.check_log_backends(run_config(log_backends=["tensorboard", "mlflow"]))
    with pytest.raises(UserError) as caught:
        tracking.check_runs_log_backends([run_config(), run_config(log_backends=["tensorboard", "wandb"])])
    line = caught.value.one_line()
    assert line == ("train.log_backends: log backend 'wandb' needs the wandb package, which is not installed "
                    "-- pip install wandb, or drop 'wandb' from train.log_backends")


def test_missing_tensorboard_is_named_for_the_default(monkeypatch):
    monkeypatch.setattr(tracking, "_installed", lambda module: module != "tensorboard")
    config = run_config()
    config["train"].pop("log_backends", None)       # a run recorded before the key: the default
    with pytest.raises(UserError, match="needs the tensorboard package"):
        tracking.check_log_backends(config)
    tracking.check_log_backends(run_config(log_backends=[]))


def test_installed_looks_without_importing():
    assert tracking._installed("tensorboard")        # a dependency of ssa-bench
    assert not tracking._installed("no_such_tracker_package_xyz")


def test_composed_visualizer_keeps_the_local_scalars_and_adds_each_backend(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "_installed", lambda module: True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    work_dir = tmp_path / "runs" / "abc123def456" / "work_dir"
    cfg = build_mmseg_config(run_config(log_backends=["tensorboard", "wandb", "mlflow"]), str(work_dir))
    backends = cfg.visualizer.vis_backends
    assert [b["type"] for b in backends] == ["LocalVisBackend", "TensorboardVisBackend", "WandbVisBackend",
                                             "MLflowVisBackend"]
    assert backends[2]["init_kwargs"]["name"] == "abc123def456"
    assert backends[3]["run_name"] == "abc123def456"
    assert backends[3]["tracking_uri"] == "http://127.0.0.1:5000"
    assert [b["type"] for b in cfg.vis_backends] == [b["type"] for b in backends]
    local_only = build_mmseg_config(run_config(log_backends=[]), str(work_dir))
    assert [b["type"] for b in local_only.visualizer.vis_backends] == ["LocalVisBackend"]


def test_compose_refuses_a_missing_tracker_before_training(tmp_path, monkeypatch):
    # the worker's side: a SLURM node without the package fails the run in one line
    monkeypatch.setattr(tracking, "_installed", lambda module: module != "mlflow")
    with pytest.raises(UserError, match="pip install mlflow"):
        build_mmseg_config(run_config(log_backends=["mlflow"]), str(tmp_path / "work"))


def test_store_gives_a_rerequested_run_its_newest_backends(tmp_path):
    from types import SimpleNamespace

    store = Store(str(tmp_path / "results"))
    first = run_config(log_backends=["tensorboard"])
    store.write_run(SimpleNamespace(id="abc123def456", config=first, label="a"))
    created = store.read_run("abc123def456")
    again = run_config(log_backends=["tensorboard", "wandb"])
    store.write_run(SimpleNamespace(id="abc123def456", config=again, label="a"))
    stored = store.read_run("abc123def456")
    assert stored["config"]["train"]["log_backends"] == ["tensorboard", "wandb"]
    assert stored["created"] == created["created"]
    assert {**stored["config"], "train": first["train"]} == first


def _scalars(event_dir: str) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list] = {}
    for path in sorted(glob.glob(f"{event_dir}/events.out.tfevents.*")):
        events = EventAccumulator(path)
        events.Reload()
        for tag in events.Tags()["scalars"]:
            out.setdefault(tag, []).extend((event.step, event.value) for event in events.Scalars(tag))
    return out


@pytest.mark.slow
def test_a_trained_run_writes_tensorboard_events_read_back(tmp_path, monkeypatch, demo_data):
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)
    from ssa_bench.data import ensure_datasets
    from ssa_bench.stages.train import train_stage

    config = run_config(log_backends=["tensorboard"])
    ensure_datasets([config])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = train_stage(config, str(run_dir))
    event_dirs = {str(Path(p).parent) for p in glob.glob(str(run_dir / "work_dir/*/vis_data/events.out.tfevents.*"))}
    assert len(event_dirs) == 1, event_dirs
    (event_dir,) = event_dirs
    scalars = _scalars(event_dir)
    assert {"loss", "mIoU", "lr"} <= set(scalars), sorted(scalars)
    # the validation points are the train stage's curve, value for value
    assert [(step, round(value, 4)) for step, value in scalars["mIoU"]] == \
        [(point["iter"], round(point["mIoU"], 4)) for point in result["curve"]]
    assert all(step <= 20 for step, _ in scalars["loss"]) and all(value > 0 for _, value in scalars["loss"])
    # LocalVisBackend is still there: the curve came from its scalars.json
    assert (Path(event_dir) / "scalars.json").exists()


def test_only_the_training_runner_logs_to_trackers(tmp_path, monkeypatch):
    # the evaluate and dump stages' Runners would open a W&B/MLflow run each with nothing but
    # the config (mmengine sends no test metrics to the visualizer)
    from ssa_bench.stages.runner import make_runner

    config = run_config(log_backends=["tensorboard"])      # (a Runner with wandb would need wandb)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    kinds = {}
    for stage in ("train", "evaluate", "dump"):
        runner = make_runner(config, str(run_dir), stage)
        kinds[stage] = [type(backend).__name__ for backend in runner.visualizer._vis_backends.values()]
    assert kinds["train"] == ["LocalVisBackend", "TensorboardVisBackend"]
    assert kinds["evaluate"] == kinds["dump"] == ["LocalVisBackend"]
