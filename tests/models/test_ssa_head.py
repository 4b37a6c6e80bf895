"""SSAHead in real mmseg models: config wrapping, registration, every baseline head, the plain
classifier when SEPA/SPPA are off, no teacher at inference, finite losses, analysis hook."""
from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.models.ssa_support import IGNORE, build, model_cfg, samples, shapes_batch, total_loss

from ssa_bench.efficiency.flops import full_flops, paper_flops  # noqa: E402
from ssa_bench.efficiency.inference import (InferenceGraph, inference_params,  # noqa: E402
                                            prepare_for_inference)
from ssa_bench.configs.classifier_wiring import SSA_IMPORT, apply_ssa
from ssa_bench.models.ssa import extract  # noqa: E402
from ssa_bench.models.ssa.head import SSAHead  # noqa: E402


# ---- apply_ssa --------------------------------------------------------------------------------
def test_apply_ssa_wraps_the_decode_head_and_resolves_the_preset():
    cfg = model_cfg()
    original = copy.deepcopy(cfg["decode_head"])
    apply_ssa(cfg, {"enabled": True, "variant": "released"})
    head = cfg["decode_head"]
    assert head["type"] == "SSAHead" and head["head"] == original
    assert head["ssa"]["w_sd"] == 10.0 and head["ssa"]["logits"] == "cosine"
    apply_ssa(cfg, {"enabled": True, "variant": "paper"})       # again: re-set, not re-wrapped
    assert cfg["decode_head"]["head"] == original and cfg["decode_head"]["ssa"]["w_sd"] == 1.0


def test_apply_ssa_wraps_the_last_head_of_a_cascade():
    cfg = model_cfg("ocrnet_hr48")
    first, last = copy.deepcopy(cfg["decode_head"])
    apply_ssa(cfg, {"enabled": True})
    assert cfg["decode_head"][0] == first
    assert cfg["decode_head"][1]["type"] == "SSAHead" and cfg["decode_head"][1]["head"] == last


def test_apply_ssa_does_nothing_when_disabled_and_adds_the_import_to_a_whole_config():
    cfg = model_cfg()
    before = copy.deepcopy(cfg)
    apply_ssa(cfg, {"enabled": False, "variant": "released"})
    assert cfg == before
    whole = {"model": cfg, "custom_imports": dict(imports=["x"], allow_failed_imports=False)}
    apply_ssa(whole, {"enabled": True})
    assert whole["model"]["decode_head"]["type"] == "SSAHead"
    assert whole["custom_imports"]["imports"] == ["x", SSA_IMPORT]


REGISTRATION_CHECK = textwrap.dedent("""
    import sys
    {first}
    from mmengine.config import Config
    cfg = Config.fromfile(sys.argv[1])
    assert 'torch' not in sys.modules or {allow_torch}
    from ssa_bench.compat import patch_openmmlab
    patch_openmmlab()
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(cfg.model)
    print(type(model.decode_head).__name__)
""")


@pytest.mark.parametrize("first, allow_torch", [
    # Importing the package registers SSAHead, the mmseg way (it loads torch and mmseg).
    ("", "True"),                                   # custom_imports before anything else
    ("import ssa_bench.models.ssa", "True"),        # the package first
    ("from ssa_bench.compat import patch_openmmlab; patch_openmmlab(); import mmseg.models",
     "True"),                                       # mmseg already loaded
])
def test_custom_imports_registers_ssa_head_whatever_the_import_order(tmp_path, first, allow_torch):
    cfg = model_cfg(ssa={"variant": "released"})
    config = tmp_path / "ssa_config.py"
    config.write_text(f"model = {cfg!r}\ncustom_imports = dict(imports=['{SSA_IMPORT}'], "
                      "allow_failed_imports=False)\n")
    script = REGISTRATION_CHECK.format(first=first, allow_torch=allow_torch)
    result = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("SSAHead")


# ---- the wrapper in real models -----------------------------------------------------------------
def test_the_inner_head_is_unchanged_and_its_keys_are_nested():
    model = build(ssa={})
    head = model.decode_head
    assert isinstance(head, SSAHead) and type(head.head).__name__ == "SegformerHead"
    assert head.num_classes == 4 and head.align_corners is False and head.loss_decode is not None
    assert head.settings.variant == "released"      # an empty block: the authors' head (issue 22)
    keys = set(model.state_dict())
    assert "decode_head.head.conv_seg.weight" in keys
    assert any(key.startswith("decode_head.classifier.teacher_phi_s.") for key in keys)
    # a deep copy (EMA hooks make one) must call its own classifier, not the original's
    clone = copy.deepcopy(model)
    assert clone.decode_head.head.cls_seg.__self__ is clone.decode_head


def _as_ssa_state(state: dict) -> dict:
    return {(key.replace("decode_head.", "decode_head.head.", 1)
             if key.startswith("decode_head.") else key): value for key, value in state.items()}


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_without_sepa_and_sppa_the_model_is_the_baseline(variant):
    baseline = build(seed=1).eval()
    # upsample_align_corners: the released code upsamples before every loss with
    # align_corners=True, the head's own CE included; "head" keeps the baseline's.
    plain_ssa = build(ssa={"variant": variant, "sepa": False, "sppa": False, "dice": "none",
                           "w_coarse": 0.0, "upsample_align_corners": "head"}, seed=2)
    missing, unexpected = plain_ssa.load_state_dict(_as_ssa_state(baseline.state_dict()))
    assert not missing and not unexpected
    images, labels = shapes_batch()
    with torch.no_grad():
        assert torch.equal(plain_ssa.eval()._forward(images), baseline._forward(images))
        baseline.train()
        plain_ssa.train()
        torch.manual_seed(3)
        base_losses = baseline.loss(images, samples(labels))
        torch.manual_seed(3)
        ssa_losses = plain_ssa.loss(images, samples(labels))
    assert set(ssa_losses) == set(base_losses)
    for key in base_losses:
        assert torch.equal(ssa_losses[key], base_losses[key]), key


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_the_head_dropout_touches_only_the_coarse_mask(variant):
    # The released heads return their features ahead of cls_seg's dropout (SF:98-102): M_c
    # sees dropped features, S_c, P_f, the logits and the teacher the original ones.
    model = build(ssa={"variant": variant}).train()
    head = model.decode_head
    assert head.head.dropout is not None
    head.head.dropout.p = 1.0                          # drops every feature of M_c's input
    images, _ = shapes_batch()
    with torch.no_grad(), head.recording() as record:
        model._forward(images)
    conv = head.head.conv_seg
    assert torch.equal(record["coarse"], conv.bias.view(1, -1, 1, 1).expand_as(record["coarse"]))
    assert record["features"].abs().sum() > 0
    with torch.no_grad():
        again = head.classifier(record["features"], conv, dropout=torch.zeros_like)
        undropped = head.classifier(record["features"], conv)
    assert torch.equal(again, record["logits"])
    assert not torch.allclose(undropped, record["logits"])   # M_c matters to the logits


PRESET_KEYS = {
    "paper": {"decode.loss_ce", "decode.acc_seg", "decode.loss_ssa_dice", "decode.loss_ce_teacher",
              "decode.loss_ssa_teacher_dice", "decode.loss_ssa_rd", "decode.loss_ssa_sd",
              "decode.loss_ssa_pd"},
    "released": {"decode.loss_ce", "decode.acc_seg", "decode.loss_ssa_dice",
                 "decode.loss_ce_coarse", "decode.loss_ce_teacher",
                 "decode.loss_ssa_teacher_dice", "decode.loss_ssa_rd", "decode.loss_ssa_sd",
                 "decode.loss_ssa_pd"},
}


@pytest.mark.parametrize("variant", sorted(PRESET_KEYS))
def test_loss_terms_of_each_preset(variant):
    model = build(ssa={"variant": variant}).train()
    images, labels = shapes_batch()
    losses = model.loss(images, samples(labels))
    assert set(losses) == PRESET_KEYS[variant]
    total_loss(losses).backward()
    assert all(torch.isfinite(value) for value in losses.values())


@pytest.mark.parametrize("variant", ["paper", "released"])
@pytest.mark.parametrize("fill", ["ignore", "one_class"])
def test_no_nan_when_the_ground_truth_is_all_ignore_or_one_class(variant, fill):
    model = build(ssa={"variant": variant}).train()
    images, labels = shapes_batch()
    labels = torch.full_like(labels, IGNORE if fill == "ignore" else 2)
    losses = model.loss(images, samples(labels))
    total_loss(losses).backward()
    assert all(torch.isfinite(value) for value in losses.values()), losses
    for name, param in model.named_parameters():
        assert param.grad is None or torch.isfinite(param.grad).all(), name


def _count_teacher_calls(model) -> list:
    calls: list = []
    for name, module in model.named_modules():
        if name.split(".")[-1].startswith("teacher_"):
            module.register_forward_hook(lambda *args, name=name: calls.append(name))
    return calls


def test_the_teacher_runs_in_training_only():
    model = build(ssa={"variant": "released"})
    calls = _count_teacher_calls(model)
    images, labels = shapes_batch()
    model.train().loss(images, samples(labels))
    assert calls, "the hooks must see the teacher in training"
    calls.clear()
    model.eval()
    with torch.no_grad():
        model.predict(images, samples(labels))
        extract(model, images)      # no ground truth: no teacher
        InferenceGraph(prepare_for_inference(model), (64, 64))(images)
    assert calls == []


def test_inference_graph_is_the_student_alone():
    # The same SSA structure with and without a teacher: identical FLOPs (both counts) and
    # identical inference params, and the teacher's params are in the model.
    with_teacher = prepare_for_inference(build(ssa={"variant": "released"}))
    without = prepare_for_inference(build(ssa={"variant": "released", "w_g": 0, "w_rd": 0,
                                               "w_sd": 0, "w_pd": 0}))
    image = torch.randn(1, 3, 64, 64)
    graphs = [InferenceGraph(m, (64, 64)).eval() for m in (with_teacher, without)]
    with torch.no_grad():
        assert paper_flops(graphs[0], image) == paper_flops(graphs[1], image)
        assert full_flops(graphs[0], image) == full_flops(graphs[1], image)
    assert inference_params(with_teacher) == inference_params(without)
    teacher_params = sum(p.numel() for n, p in with_teacher.named_parameters() if ".teacher_" in n)
    total = sum(p.numel() for p in with_teacher.parameters())
    assert teacher_params > 0 and total == inference_params(with_teacher) + teacher_params


def test_extract_returns_the_figure_arrays():
    model = build(ssa={})
    images, labels = shapes_batch()
    arrays = extract(model.train(), images, samples(labels))
    assert model.training                                  # mode restored
    k, d = 4, 64
    assert arrays["prototypes"].shape == (k, d)
    assert arrays["features"].shape == (2, d, 16, 16)
    for key in ("semantic_prototypes", "spatial_prototypes", "teacher_semantic_prototypes",
                "teacher_spatial_prototypes"):
        assert arrays[key].shape == (2, k, d), key
    assert arrays["teacher_semantic_prototypes_batch"].shape == (k, d)
    assert arrays["logits"].shape == arrays["teacher_logits"].shape == (2, k, 16, 16)
    assert arrays["label"].shape == (2, 16, 16) and arrays["label"].dtype.kind == "i"
    without_gt = extract(model, images)
    assert "teacher_logits" not in without_gt and "label" not in without_gt


# ---- every head of the zoo ------------------------------------------------------------------------
@pytest.mark.parametrize("baseline", ["segnext_t", "ocrnet_hr48", "fcn_r101", "upernet_swin_t",
                                      "seaformer_b", "afformer_b"])
def test_ssa_on_every_baseline_head(baseline):
    # one training loss and one prediction at 64x64 (OCRNet: the cascade's last stage)
    model = build(baseline, num_classes=5, ssa={})
    images, labels = shapes_batch(num_classes=5)
    losses = model.train().loss(images, samples(labels))
    total_loss(losses).backward()
    assert any(key.endswith("loss_ssa_rd") for key in losses)
    assert all(torch.isfinite(value) for value in losses.values())
    head = model.decode_head[-1] if isinstance(model.decode_head, torch.nn.ModuleList) \
        else model.decode_head
    with torch.no_grad(), head.recording() as record:
        out = model.eval().predict(images, samples(labels))
    assert out[0].seg_logits.data.shape == (5, 64, 64)
    # SSA really classifies: its logits are not the head's own 1x1 classifier's
    plain = head.head.conv_seg(record["features"])
    assert record["logits"].shape == plain.shape
    assert not torch.allclose(record["logits"], plain, atol=1e-3)


def test_extract_gives_the_position_features_only_with_sppa():
    # Fig. 1's spatial side plots P_p against the pixels' P_f.
    images, labels = shapes_batch()
    arrays = extract(build(ssa={}), images)
    assert arrays["position_features"].shape == arrays["features"].shape == (2, 64, 16, 16)
    without_sppa = extract(build(ssa={"sppa": False}), images)
    assert "position_features" not in without_sppa and "spatial_prototypes" not in without_sppa


def test_extract_finds_the_ssa_head_last_in_a_cascade():
    from ssa_bench.models.ssa.analysis import find_ssa_head

    model = build(ssa={})
    head = model.decode_head
    model.decode_head = torch.nn.ModuleList([torch.nn.Identity(), head])
    assert find_ssa_head(model) is head


def test_a_zero_weighted_teacher_ce_is_left_out_of_the_losses():
    model = build(ssa={"w_g": 0.0}).train()
    images, labels = shapes_batch()
    losses = model.loss(images, samples(labels))
    assert not any("teacher" in key for key in losses), sorted(losses)
    assert "decode.loss_ssa_rd" in losses          # the teacher still runs for the other terms
