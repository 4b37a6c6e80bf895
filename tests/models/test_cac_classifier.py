"""CAC in the classifier slot (fast): finite with absent classes and all-ignore images, trains in
real mmseg segmentors on two different decode heads, inference is the contextual classifier alone
and changes nothing, settings reject bad keys. The arithmetic itself is pinned to the authors' by
test_cac_golden.py."""
from __future__ import annotations

import copy

import pytest
import torch
from tests.models.ssa_support import build as build_model, last_head, IGNORE, samples, shapes_batch, total_loss


import ssa_bench.models.classifiers  # noqa: E402,F401  (registers the implementations)
from ssa_bench.classifier_settings import SettingsError, resolve_classifier  # noqa: E402
from ssa_bench.classifier_settings.cac import CACSettings  # noqa: E402
from ssa_bench.models.classifiers.base import LossContext  # noqa: E402
from ssa_bench.models.classifiers.cac import CACClassifier  # noqa: E402

CAC_LOSSES = {"loss_cac_coarse", "loss_cac_gt", "loss_cac_kl"}


def _classifier(channels: int = 8, classes: int = 4, **settings):
    torch.manual_seed(0)
    _, resolved = resolve_classifier({"type": "cac", **settings})
    return CACClassifier(channels, classes, resolved), torch.nn.Conv2d(channels, classes, 1)


def _context() -> LossContext:
    def upsample(logits, size, align_corners=None):
        return torch.nn.functional.interpolate(logits, size=size, mode="bilinear",
                                               align_corners=bool(align_corners))
    return LossContext(ignore_index=IGNORE, decode_losses=None, upsample=upsample)


def _losses_and_grads(label: torch.Tensor):
    classifier, conv_seg = _classifier()
    features = torch.randn(2, 8, 8, 8, requires_grad=True)
    record: dict = {}
    classifier(features, conv_seg, None, record)
    losses = classifier.losses(record, label, _context())
    params = [features, *classifier.parameters(), *conv_seg.parameters()]
    grads = torch.autograd.grad(sum(losses.values()), params, allow_unused=True)
    return losses, [g for g in grads if g is not None]


def test_absent_classes_and_an_all_ignore_image_give_finite_losses_and_grads():
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[0, :, 16:] = 1                      # classes 2 and 3 absent
    label[1] = IGNORE                         # an all-ignore image
    losses, grads = _losses_and_grads(label)
    assert set(losses) == CAC_LOSSES
    assert all(torch.isfinite(value) and value > 0 for value in losses.values()), losses
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_an_all_ignore_batch_gives_zero_losses_not_nan():
    losses, grads = _losses_and_grads(torch.full((2, 32, 32), IGNORE, dtype=torch.long))
    assert all(value.item() == 0.0 for value in losses.values()), losses
    assert all(torch.isfinite(g).all() for g in grads)


def test_logits_are_cosines_times_the_scale():
    classifier, conv_seg = _classifier(logit_scale=7.0)
    with torch.no_grad():
        logits = classifier(torch.randn(2, 8, 8, 8), conv_seg, None, None)
    assert logits.abs().max() <= 7.0 + 1e-5 and logits.abs().max() > 1.0


def test_zero_loss_weights_drop_their_terms():
    classifier, conv_seg = _classifier(w_coarse=0.0, w_kl=0.0)
    record: dict = {}
    classifier(torch.randn(2, 8, 8, 8), conv_seg, None, record)
    losses = classifier.losses(record, torch.zeros(2, 16, 16, dtype=torch.long), _context())
    assert set(losses) == {"loss_cac_gt"}


def _build(baseline: str):
    return build_model(baseline, num_classes=5, classifier={"type": "cac"})




@pytest.mark.parametrize("baseline", ["segformer_mini", "seaformer_b"])
def test_trains_in_a_real_segmentor_and_inference_is_the_contextual_classifier_only(baseline):
    model = _build(baseline)
    head = last_head(model)
    assert isinstance(head.classifier, CACClassifier)
    images, labels = shapes_batch(num_classes=5)
    labels[1, :20] = IGNORE
    losses = model.train().loss(images, samples(labels))
    assert {f"decode.{name}" for name in CAC_LOSSES | {"loss_ce"}} <= set(losses)
    assert all(torch.isfinite(value).all() for value in losses.values()), losses
    total_loss(losses).backward()
    assert head.classifier.apd_proj[0].weight.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)

    model.eval()
    calls = []
    hook = head.classifier.apd_proj.register_forward_hook(lambda *args: calls.append(1))
    state = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        before = model.predict(images, samples(labels))[0].seg_logits.data
    hook.remove()
    assert not calls, "the GT-informed classifier ran at inference"
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())

    # SeaFormer's untrained backbone has gradients of ~1e5 on two images; unclipped, one SGD step
    # overflows its activations whatever the classifier.
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    torch.optim.SGD(model.parameters(), lr=0.05).step()
    with torch.no_grad():
        after = model.predict(images, samples(labels))[0].seg_logits.data
    assert torch.isfinite(after).all() and not torch.allclose(before, after)


def test_settings_defaults_are_the_authors():
    _, settings = resolve_classifier({"type": "cac"})
    assert settings == CACSettings()
    assert settings.to_dict() == dict(logit_scale=15.0, norm_eps=1e-12, smoothness=0.5,
                                      label_eps=0.0, teacher_temperature=1.0, w_coarse=1.0,
                                      w_gt=1.0, w_kl=1.0)


@pytest.mark.parametrize("block, key", [
    ({"logit_scal": 15.0}, "logit_scal"),           # unknown (a typo)
    ({"smoothness": "half"}, "smoothness"),         # wrong type
    ({"w_kl": True}, "w_kl"),                       # a bool is not a weight
    ({"smoothness": 1.5}, "smoothness"),            # out of range
    ({"logit_scale": 0.0}, "logit_scale"),
    ({"teacher_temperature": -1.0}, "teacher_temperature"),
    ({"w_gt": -0.5}, "w_gt"),
])
def test_settings_reject_bad_keys_naming_them(block, key):
    with pytest.raises(SettingsError) as caught:
        resolve_classifier({"type": "cac", **block})
    assert caught.value.key == key


@pytest.mark.slow
@pytest.mark.parametrize("baseline", ["fcn_r101", "upernet_swin_t", "afformer_b"])
def test_finite_on_the_heads_the_zoo_test_leaves_out(baseline):
    """FCNHead, UPerHead and AFFormer's head (test_classifier_zoo covers SegFormer, OCRNet,
    LightHam and SeaFormer): an all-ignore image and absent classes stay finite."""
    model = _build(baseline)
    images, labels = shapes_batch(num_classes=5)
    labels[1] = IGNORE
    losses = model.train().loss(images, samples(labels))
    assert {f"decode.{name}" for name in CAC_LOSSES} <= set(losses)
    assert all(torch.isfinite(value).all() for value in losses.values()), losses
    total_loss(losses).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
