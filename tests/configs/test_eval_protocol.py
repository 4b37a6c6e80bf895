"""The evaluation protocol: whole image or sliding window as the SSA authors' configs test (or as
`evaluate.test_mode` says), `evaluate.aug_test` switches to multi-scale + flip (spec, run id,
composed config, evaluate stage), and the report says which protocol ours and each paper number
used."""
from __future__ import annotations

import copy
import glob
import os
import tempfile

import pytest

from ssa_bench.configs import build_mmseg_config
from ssa_bench.configs.multi_scale import use_test_time_aug
from ssa_bench.vocabulary.protocol import MULTI_SCALE_FLIP, SINGLE_SCALE, TTA_RATIOS, describe, eval_mode
from ssa_bench.errors import DataError, SpecError


@pytest.fixture(autouse=True)
def single_process(monkeypatch, demo_data):
    for var in ("SSA_BENCH_LAUNCHER", "WORLD_SIZE", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SSA_BENCH_DATA", demo_data)


def run_config(baseline="segnext_t", dataset="pascal_context59", crop=(480, 480), aug_test=None,
               test_mode=None):
    config = {
        "baseline": baseline, "dataset": dataset, "dataset_def": None, "ssa": {"enabled": False},
        "train": {"max_iters": 300, "batch_size": 8, "crop_size": list(crop), "val_interval": 100,
                  "checkpoint_interval": 100, "lr": None, "num_workers": 0, "device": "cpu", "pretrained": None},
        "measure": {"input_size": list(crop), "latency_warmup": 2, "latency_iters": 10, "threads": 1},
        "cfg": {}, "seed": 0,
    }
    if aug_test is not None or test_mode is not None:
        config["evaluate"] = {}
    if aug_test is not None:
        config["evaluate"]["aug_test"] = aug_test
    if test_mode is not None:
        config["evaluate"]["test_mode"] = test_mode
    return config


# ------------------------------------------------------------------------------ whole image or slide

@pytest.mark.parametrize("baseline", ["segnext_t", "seaformer_l", "afformer_b", "ocrnet_hr48"])
def test_pascal_context_tests_the_whole_image_as_the_ssa_authors(tmp_path, baseline):
    # xwmaxwma/SSA-Seg configs/*/*_pc.py: test_cfg=dict(mode='whole') (mmseg's own PC configs slide)
    cfg = build_mmseg_config(run_config(baseline), str(tmp_path / "w"))
    assert cfg.model.test_cfg == dict(mode="whole")
    (resize,) = [s for s in cfg.val_dataloader.dataset.pipeline if s["type"] == "Resize"]
    assert tuple(resize.scale) == (520, 520)
    assert "tta_model" not in cfg and "tta_pipeline" not in cfg
    assert describe(run_config(baseline)) == "single-scale"


def test_vit_adapter_slides_with_the_runs_crop_as_its_authors(tmp_path):
    # upernet_augreg_adapter_large_480_80k_pc.py: slide 480/320; the ADE20K/COCO configs 512/341
    cfg = build_mmseg_config(run_config("vit_adapter_l"), str(tmp_path / "p"))
    assert cfg.model.test_cfg == dict(mode="slide", crop_size=(480, 480), stride=(320, 320))
    vit = build_mmseg_config(run_config("vit_adapter_l", "coco_stuff10k", (512, 512)), str(tmp_path / "b"))
    assert vit.model.test_cfg == dict(mode="slide", crop_size=(512, 512), stride=(341, 341))


@pytest.mark.parametrize("baseline", ["segnext_t", "seaformer_l"])
def test_test_mode_slide_slides_as_mmsegs_pascal_context_configs(tmp_path, baseline):
    config = run_config(baseline, test_mode="slide")
    cfg = build_mmseg_config(config, str(tmp_path / "w"))
    assert cfg.model.test_cfg == dict(mode="slide", crop_size=(480, 480), stride=(320, 320))
    assert describe(config) == "single-scale, sliding window 480x480 stride 320"
    whole = build_mmseg_config(run_config("vit_adapter_l", test_mode="whole"), str(tmp_path / "v"))
    assert whole.model.test_cfg == dict(mode="whole")


def test_other_datasets_and_the_demo_test_the_whole_image(tmp_path):
    assert build_mmseg_config(run_config("segnext_t", "ade20k", (512, 512)), str(tmp_path / "a")).model.test_cfg \
        == dict(mode="whole")
    demo = build_mmseg_config(run_config("segformer_mini", "demo_shapes", (64, 64)), str(tmp_path / "c"))
    assert demo.model.test_cfg == dict(mode="whole")
    assert describe(run_config("segnext_t", "ade20k")) == "single-scale"


def test_slide_mode_is_what_every_mmseg_pascal_context_59_config_uses():
    from mmengine.config import Config

    from ssa_bench.configs.baselines import mmseg_config_dir

    paths = sorted(glob.glob(os.path.join(mmseg_config_dir(), "*", "*pascal-context-59*.py")))
    assert len(paths) >= 10
    for path in paths:
        test_cfg = Config.fromfile(path).model.test_cfg
        assert (test_cfg.mode, tuple(test_cfg.crop_size), tuple(test_cfg.stride)) == \
            ("slide", (480, 480), (320, 320)), path


# ------------------------------------------------------------------------------------ evaluate.aug_test

def test_aug_test_composes_mmseg_tta(tmp_path):
    config = run_config("segnext_t", "ade20k", (512, 512), aug_test=True)
    cfg = build_mmseg_config(config, str(tmp_path / "w"))
    assert cfg.tta_model == dict(type="SegTTAModel")
    load, tta = cfg.tta_pipeline
    assert load.type == "LoadImageFromFile" and tta.type == "TestTimeAug"
    resizes, flips, annotations, pack = tta.transforms
    # the ratios of ADE20K's test scale (2048, 512), as MultiScaleFlipAug did for the ViT-Adapter authors
    assert [tuple(r.scale) for r in resizes] == [(int(2048 * r), int(512 * r)) for r in TTA_RATIOS]
    assert all(r.keep_ratio for r in resizes)
    assert [(f.type, f.prob) for f in flips] == [("RandomFlip", 0.0), ("RandomFlip", 1.0)]
    assert annotations[0].type == "LoadAnnotations" and pack[0].type == "PackSegInputs"
    # training, validation and the test loader itself stay single-scale until the evaluate stage
    assert cfg.model.type == "EncoderDecoder"
    assert not any(s["type"] == "TestTimeAug" for s in cfg.test_dataloader.dataset.pipeline)
    assert not any(s["type"] == "TestTimeAug" for s in cfg.val_dataloader.dataset.pipeline)
    plain = copy.deepcopy(cfg.model)
    use_test_time_aug(cfg)
    assert cfg.model.type == "SegTTAModel" and cfg.model.module == plain
    assert cfg.test_dataloader.dataset.pipeline == cfg.tta_pipeline


def test_aug_test_off_is_a_no_op(tmp_path):
    for config in (run_config("segnext_t", "ade20k", (512, 512)), run_config(aug_test=False)):
        cfg = build_mmseg_config(config, str(tmp_path / "w"))
        assert "tta_model" not in cfg
        before = copy.deepcopy(cfg.model)
        use_test_time_aug(cfg)
        assert cfg.model == before
        assert eval_mode(config) == SINGLE_SCALE


def test_aug_test_on_pascal_context_and_demo_keep_their_label_conventions(tmp_path):
    cfg = build_mmseg_config(run_config(aug_test=True, test_mode="slide"), str(tmp_path / "p"))
    resizes = cfg.tta_pipeline[1].transforms[0]
    assert [tuple(r.scale) for r in resizes] == [(int(520 * r), int(520 * r)) for r in TTA_RATIOS]
    assert cfg.model.test_cfg.mode == "slide"          # each scale is tested with the sliding window
    demo = build_mmseg_config(run_config("segformer_mini", "demo_shapes", (64, 64), aug_test=True),
                              str(tmp_path / "d"))
    (load_annotations,) = demo.tta_pipeline[1].transforms[2]
    assert load_annotations.reduce_zero_label is True
    assert describe(run_config(aug_test=True, test_mode="slide")) == \
        "multi-scale (0.5-1.75) + flip, sliding window 480x480 stride 320"
    assert describe(run_config(aug_test=True)) == "multi-scale (0.5-1.75) + flip"


def _random_checkpoint(config: dict, run_dir) -> None:
    import torch

    from ssa_bench.compat import patch_openmmlab

    patch_openmmlab()
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from ssa_bench.stages.runner import import_modules

    cfg = build_mmseg_config(config, str(run_dir / "work_dir"))
    import_modules(cfg.custom_imports.imports)
    init_default_scope("mmseg")
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    (run_dir / "work_dir").mkdir(parents=True)
    torch.save({"state_dict": model.state_dict(), "meta": {}}, run_dir / "work_dir" / "iter_1.pth")


def test_evaluate_stage_runs_mmseg_tta(tmp_path, monkeypatch):
    """The evaluate stage with aug_test: SegTTAModel merges 12 views per image, the checkpoint is
    loaded into the wrapped model, and the metric comes out (2 demo images to keep it quick)."""
    from ssa_bench.data import ensure_datasets
    from ssa_bench.stages.evaluate import evaluate_stage

    config = run_config("segformer_mini", "demo_shapes", (64, 64), aug_test=True)
    config["cfg"] = {"test_dataloader.dataset.indices": 2}
    ensure_datasets([config])
    _random_checkpoint(config, tmp_path / "run")

    from mmseg.models.segmentors.seg_tta import SegTTAModel

    views = []
    original = SegTTAModel.merge_preds

    def counting(self, data_samples_list):
        views.extend(len(samples) for samples in data_samples_list)
        return original(self, data_samples_list)

    monkeypatch.setattr(SegTTAModel, "merge_preds", counting)
    result = evaluate_stage(config, str(tmp_path / "run"))
    assert views == [2 * len(TTA_RATIOS)] * 2           # 6 scales x (flip, no flip), for each image
    assert 0 <= result["mIoU"] <= 100 and result["checkpoint"].endswith("iter_1.pth")

    single = dict(config, evaluate={"aug_test": False})
    views.clear()
    assert 0 <= evaluate_stage(single, str(tmp_path / "run"))["mIoU"] <= 100
    assert views == []


# ---------------------------------------------------------------------------------------- the spec

SPEC = """
name: protocol
base: {baseline: segnext_t, dataset: pascal_context59}
rows:
  - label: SS
  - label: MS
    evaluate: {aug_test: true}
"""


def spec_file(tmp_path, text=SPEC):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return str(path)


def test_spec_evaluate_block_enters_the_run_id(tmp_path):
    from ssa_bench.matrix import load_spec, plan

    runs = plan(load_spec(spec_file(tmp_path)))
    single, multi = runs
    # every default is filled in
    assert single.config["evaluate"] == {"aug_test": False, "test_mode": "authors", "checkpoint": "authors"}
    assert multi.config["evaluate"] == {"aug_test": True, "test_mode": "authors", "checkpoint": "authors"}
    assert single.id != multi.id
    # at the defaults, the id is the one the run had before the evaluate block existed
    from ssa_bench.matrix import run_id
    before = {key: value for key, value in single.config.items() if key != "evaluate"}
    assert single.id == run_id(before)
    assert run_id({**before, "evaluate": {"aug_test": False, "test_mode": "slide"}}) != single.id
    assert eval_mode(single.config) == SINGLE_SCALE and eval_mode(multi.config) == MULTI_SCALE_FLIP
    overridden = plan(load_spec(spec_file(tmp_path), overrides=["evaluate.aug_test=true"]))
    assert [r.id for r in overridden] == [multi.id, multi.id]
    demo = plan(load_spec(spec_file(tmp_path), profile="cpu-demo"))
    assert [r.config["evaluate"]["aug_test"] for r in demo] == [False, True]


def test_spec_evaluate_axis(tmp_path):
    from ssa_bench.matrix import load_spec, plan

    text = "base: {baseline: segnext_t, dataset: ade20k}\nrows: [{label: X}]\naxes: {evaluate.aug_test: [false, true]}\n"
    runs = plan(load_spec(spec_file(tmp_path, text)))
    assert [r.config["evaluate"]["aug_test"] for r in runs] == [False, True]
    assert runs[1].label == "X (aug_test=True)"


@pytest.mark.parametrize("text, key, message", [
    ("base: {baseline: segnext_t, dataset: ade20k, evaluate: {aug_test: yes please}}\nrows: [{label: X}]\n",
     "base.evaluate.aug_test", "expected true or false, got str 'yes please'"),
    ("base: {baseline: segnext_t, dataset: ade20k}\nrows: [{label: X, evaluate: {aug_tset: true}}]\n",
     "rows[0].evaluate.aug_tset", "unknown key 'evaluate.aug_tset'"),
    ("base: {baseline: segnext_t, dataset: ade20k, evaluate: true}\nrows: [{label: X}]\n",
     "base.evaluate", "expected a mapping, got bool True"),
    ("base: {baseline: segnext_t, dataset: ade20k, evaluate: {test_mode: sliding}}\nrows: [{label: X}]\n",
     "base.evaluate.test_mode", "unknown test mode 'sliding'"),
    ("base: {baseline: segnext_t, dataset: ade20k}\nrows: [{label: X}]\naxes: {evaluate.flip: [true]}\n",
     "axes.evaluate.flip", "unknown axis key 'evaluate.flip'"),
])
def test_spec_evaluate_errors(tmp_path, text, key, message):
    from ssa_bench.matrix import load_spec

    with pytest.raises(SpecError) as error:
        load_spec(spec_file(tmp_path, text))
    assert error.value.key == key and message in error.value.message
    assert error.value.fix


def test_set_evaluate_is_validated(tmp_path):
    from ssa_bench.matrix import load_spec

    with pytest.raises(SpecError, match=r"--set.evaluate.aug_test: expected true or false"):
        load_spec(spec_file(tmp_path), overrides=["evaluate.aug_test=maybe"])


# ------------------------------------------------------------------------ paper numbers and report

def test_every_paper_number_has_an_evaluation_mode():
    from ssa_bench.vocabulary.paper_numbers import load_paper_numbers

    numbers = load_paper_numbers()
    assert numbers.eval_mode_default == SINGLE_SCALE and "4.2" in numbers.eval_source
    modes = {}
    for key, table in numbers.tables.items():
        for section in table.sections:
            for row in section.rows:
                for group in list(row.groups) or [None]:
                    modes[(key, section.name, row.label, group)] = table.eval_mode(row, group)
    exceptions = {k: m for k, m in modes.items() if m != SINGLE_SCALE}
    assert exceptions == {("table1", "ViT-Adapter (ViT-Adapter-L)", "ViT-Adapter", "ade20k"): MULTI_SCALE_FLIP}
    vit = numbers.table(1).section("ViT-Adapter (ViT-Adapter-L)").row("ViT-Adapter")
    assert vit.groups["ade20k"]["mIoU"] == 54.40 and "53.4 single-scale" in vit.eval_note
    assert numbers.table(1).eval_mode(vit, "coco_stuff10k") == SINGLE_SCALE


def test_paper_numbers_reject_unknown_modes(tmp_path):
    from ssa_bench.vocabulary.paper_numbers import load_paper_numbers

    base = "tables:\n  t1:\n    sections:\n      - rows:\n          - {label: A, source: s, groups: {ade20k: {mIoU: 1}}, eval_mode: %s}\n"
    for value, key in (("{ade20k: tta}", "eval_mode.ade20k"), ("{coco_stuff10k: single-scale}", "eval_mode.coco_stuff10k"),
                       ("flipped", "eval_mode")):
        path = tmp_path / f"bad{len(key)}{len(value)}.yaml"
        path.write_text(base % value)
        with pytest.raises(DataError) as error:
            load_paper_numbers(path)
        assert error.value.key.endswith(key)
    path = tmp_path / "default.yaml"
    path.write_text("evaluation: {default: sometimes}\n" + base % "single-scale")
    with pytest.raises(DataError, match="unknown evaluation mode 'sometimes'"):
        load_paper_numbers(path)


def _caption(spec_text, tmp_path, profile="paper", overrides=()):
    from ssa_bench.matrix import plan
    from ssa_bench.report.api import report_table
    from ssa_bench.report.caption import caption_sentences
    from ssa_bench.matrix import load_spec

    spec = load_spec(spec_file(tmp_path, spec_text), profile=profile, overrides=list(overrides))
    table = report_table(spec, plan(spec), tempfile.mkdtemp(dir=tmp_path))
    return [s for s in caption_sentences(table) if s.startswith("Evaluation:")], table


TABLE1_VIT = """
name: t1vit
paper_table: table1
base: {baseline: vit_adapter_l, dataset: ade20k}
rows: [{label: ViT-Adapter, ssa: {enabled: false}}]
axes: {dataset: [ade20k, pascal_context59]}
columns: dataset
sections: baseline
"""


def test_caption_states_ours_and_the_papers_protocol(tmp_path):
    (sentence,), table = _caption(TABLE1_VIT, tmp_path)
    assert table.ours_eval_modes == [SINGLE_SCALE]
    # ViT-Adapter-L slides as its authors' configs: 512/341 on ADE20K, 480/320 on PASCAL-Context
    assert table.ours_eval_windows == {"ade20k": "512x512/341", "pascal_context59": "480x480/320"}
    assert sentence.startswith("Evaluation: ours single-scale (sliding window where the run's test "
                               "slides: ADE20K 512x512, stride 341; PASCAL-Context 480x480, stride 320)")
    assert "the paper's numbers single-scale (Sec. 4.2), except" in sentence
    assert "54.40 is the ViT-Adapter authors' multi-scale + flip result (53.4 single-scale)" in sentence
    vit_row = next(r for r in table.rows if r.label == "ViT-Adapter")
    by_group = {c.group: cell.paper_eval for c, cell in zip(table.columns, vit_row.cells) if c.metric == "mIoU"}
    assert by_group == {"ade20k": MULTI_SCALE_FLIP, "pascal_context59": SINGLE_SCALE}

    (multi,), table = _caption(TABLE1_VIT, tmp_path, overrides=["evaluate.aug_test=true"])
    assert multi.startswith("Evaluation: ours multi-scale (0.5-1.75) + flip (sliding window")


def test_caption_without_exceptions(tmp_path):
    text = "paper_table: table3\nbase: {baseline: seaformer_l, dataset: ade20k}\nrows: [{label: Baseline}]\n"
    (sentence,), _ = _caption(text, tmp_path, profile="cpu-demo")
    assert sentence == "Evaluation: ours single-scale; the paper's numbers single-scale (Sec. 4.2)."


def test_evaluate_checkpoint_is_the_authors_choice_by_default(tmp_path):
    from ssa_bench.configs import build_mmseg_config
    from ssa_bench.vocabulary.protocol import checkpoint_choice
    from ssa_bench.errors import SpecError
    from ssa_bench.matrix import load_spec, plan, run_id

    text = "base: {dataset: ade20k}\nrows: [{label: X}]\naxes: {baseline: [vit_adapter_l, segnext_t]}\n"
    vit, segnext = plan(load_spec(spec_file(tmp_path, text)))
    # save_best='mIoU' in the ViT-Adapter-L configs only (tests/fixtures/authors_configs)
    assert checkpoint_choice(vit.config) == "best" and checkpoint_choice(segnext.config) == "last"
    hook = build_mmseg_config(vit.config, str(tmp_path / "a")).default_hooks.checkpoint
    assert hook.save_best == "mIoU" and hook.rule == "greater"
    assert "save_best" not in build_mmseg_config(segnext.config, str(tmp_path / "b")).default_hooks.checkpoint
    # a run config written before the key existed keeps its id
    old = {**segnext.config, "evaluate": {"aug_test": False, "test_mode": "authors"}}
    assert run_id(old) == segnext.id
    last = plan(load_spec(spec_file(tmp_path, text), overrides=["evaluate.checkpoint=last"]))[0]
    assert checkpoint_choice(last.config) == "last" and last.id != vit.id
    with pytest.raises(SpecError, match="unknown checkpoint choice 'newest'"):
        load_spec(spec_file(tmp_path, text), overrides=["evaluate.checkpoint=newest"])


def test_evaluate_stage_tests_the_best_checkpoint(tmp_path, monkeypatch):
    import os
    import time

    from ssa_bench.stages import evaluate
    from ssa_bench.store.paths import run_paths_at

    work_dir = run_paths_at(str(tmp_path)).work_dir
    os.makedirs(work_dir)
    for name in ("iter_8000.pth", "best_mIoU_iter_4000.pth", "iter_12000.pth"):
        open(os.path.join(work_dir, name), "w").close()
        time.sleep(0.01)
    loaded = []

    class Runner:
        test_evaluator = type("E", (), {"metrics": [type("M", (), {"per_class_iou": {}, "image_counts": None})()]})()

        def test(self):
            return {"mIoU": 1.0, "mAcc": 1.0, "aAcc": 1.0}

    monkeypatch.setattr(evaluate, "make_runner", lambda config, run_dir, stage, load_from, resume: loaded.append(load_from) or Runner())
    config = {"baseline": "vit_adapter_l", "evaluate": {"checkpoint": "authors"}}
    assert evaluate.evaluate_stage(config, str(tmp_path))["checkpoint"].endswith("best_mIoU_iter_4000.pth")
    config = {"baseline": "vit_adapter_l", "evaluate": {"checkpoint": "last"}}
    assert evaluate.evaluate_stage(config, str(tmp_path))["checkpoint"].endswith("iter_12000.pth")
    os.remove(os.path.join(work_dir, "best_mIoU_iter_4000.pth"))
    with pytest.raises(FileNotFoundError, match="evaluate.checkpoint: best"):
        evaluate.evaluate_stage({"baseline": "vit_adapter_l"}, str(tmp_path))
