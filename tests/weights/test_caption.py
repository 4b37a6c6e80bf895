"""The report's caption says which baselines trained from scratch (train.pretrained: none)."""
from __future__ import annotations



from tests.report.report_fixtures import planned_run, FakeSpec, write_record  # noqa: E402

from ssa_bench.matrix.run import Run  # noqa: E402
from ssa_bench.report import report_table  # noqa: E402
from ssa_bench.report.caption import caption_sentences, from_scratch_baselines  # noqa: E402


def _run(run_id: str, label: str, baseline: str, pretrained) -> Run:
    return planned_run(run_id, label, config={"baseline": baseline, "dataset": "ade20k",
                                          "train": {"max_iters": 10, "pretrained": pretrained}})


def test_from_scratch_runs_are_named_in_the_caption(tmp_path):
    write_record(tmp_path, "r1", miou=40.0)
    write_record(tmp_path, "r2", miou=41.0)
    runs = [_run("r1", "Baseline", "upernet_swin_t", None),
            _run("r2", "SSA (Ours)", "seaformer_l", "catalog:seaformer_l:SeaFormer_L.pth")]
    sentences = caption_sentences(report_table(FakeSpec("t1", paper_table=1), runs, tmp_path))
    scratch = [s for s in sentences if "from scratch" in s]
    assert scratch == ["Trained from scratch, without the ImageNet-pretrained backbone the paper starts from "
                       "(train.pretrained: none): UperNet (Swin-T)."]


def test_pretrained_runs_and_runs_without_a_config_say_nothing(tmp_path):
    write_record(tmp_path, "r1", miou=40.0)
    runs = [_run("r1", "Baseline", "seaformer_l", "catalog:seaformer_l:SeaFormer_L.pth")]
    assert not any("from scratch" in s for s in caption_sentences(report_table(FakeSpec("t"), runs, tmp_path)))
    assert from_scratch_baselines(runs + [planned_run("r2", "Other")]) == []
