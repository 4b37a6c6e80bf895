"""GMMSeg in the classifier slot (fast): finite with absent classes and all-ignore images, the EM
step moves only the classes present, it trains in real mmseg segmentors on two different decode
heads, inference changes no state, settings reject bad keys. The arithmetic itself is pinned to
the authors' by test_gmmseg_golden.py."""
from __future__ import annotations

import copy

import pytest
import torch
from tests.models.ssa_support import build as build_model, last_head, IGNORE, samples, shapes_batch, total_loss


import ssa_bench.models.classifiers  # noqa: E402,F401  (registers the implementations)
from ssa_bench.classifier_settings import SettingsError, resolve_classifier  # noqa: E402
from ssa_bench.classifier_settings.gmmseg import GMMSegSettings  # noqa: E402
from ssa_bench.models.classifiers.base import LossContext  # noqa: E402
from ssa_bench.models.classifiers.gmmseg import GMMSegClassifier  # noqa: E402

# A small memory: the authors' 32000 embeddings per component cost memory, not coverage.
SMALL = {"embed_dim": 16, "num_components": 3, "memory_size": 32}
CONTEXT = LossContext(ignore_index=IGNORE, decode_losses=None, upsample=None)


def _classifier(channels: int = 8, classes: int = 4, **settings) -> GMMSegClassifier:
    torch.manual_seed(0)
    _, resolved = resolve_classifier({"type": "gmmseg", **SMALL, **settings})
    return GMMSegClassifier(channels, classes, resolved).train()


def _step(classifier: GMMSegClassifier, label: torch.Tensor):
    features = torch.randn(2, 8, 8, 8, requires_grad=True)
    record: dict = {}
    logits = classifier(features, None, None, record)
    losses = classifier.losses(record, label, CONTEXT)
    total = sum(losses.values()) + logits.square().mean()   # stands in for the head's CE
    params = [features, *classifier.parameters()]
    grads = torch.autograd.grad(total, params, allow_unused=True)
    return losses, [g for g in grads if g is not None]


def test_absent_classes_and_an_all_ignore_image_give_finite_losses_and_grads():
    classifier = _classifier()
    means, scales = classifier.means.clone(), classifier.scales.clone()
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[0, :, 16:] = 1                      # classes 2 and 3 absent
    label[1] = IGNORE                         # an all-ignore image
    losses, grads = _step(classifier, label)
    assert set(losses) == {"loss_gmm_contrast"}
    assert torch.isfinite(losses["loss_gmm_contrast"]) and losses["loss_gmm_contrast"] > 0
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # iteration 0 is an EM step: present classes move, absent ones keep their mixture
    # (the step re-normalises every mean, as the authors' forward does: equal up to rounding)
    assert torch.allclose(means[2:], classifier.means[2:], atol=1e-6, rtol=0)
    assert torch.equal(scales[2:], classifier.scales[2:])
    assert not torch.allclose(scales[:2], classifier.scales[:2])
    assert torch.isfinite(classifier.means).all() and torch.isfinite(classifier.scales).all()


def test_an_all_ignore_batch_gives_a_zero_loss_not_nan_and_moves_nothing():
    classifier = _classifier()
    state = copy.deepcopy(classifier.state_dict())
    losses, grads = _step(classifier, torch.full((2, 32, 32), IGNORE, dtype=torch.long))
    assert losses["loss_gmm_contrast"].item() == 0.0
    assert all(torch.isfinite(g).all() for g in grads)
    for key in ("scales", "memory", "memory_ptr"):
        assert torch.equal(state[key], classifier.state_dict()[key]), key
    assert torch.allclose(state["means"], classifier.means, atol=1e-6, rtol=0)


def test_the_em_step_runs_every_update_interval_iterations():
    classifier = _classifier(update_interval=2)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    moved = []
    for _ in range(4):
        scales = classifier.scales.clone()
        _step(classifier, label)
        moved.append(not torch.equal(scales, classifier.scales))
    assert moved == [True, False, True, False]


def test_inference_computes_the_logits_only_and_changes_nothing():
    classifier = _classifier().eval()
    state = copy.deepcopy(classifier.state_dict())
    with torch.no_grad():
        logits = classifier(torch.randn(2, 8, 8, 8), None, None, None)
    assert logits.shape == (2, 4, 8, 8) and torch.isfinite(logits).all()
    assert all(torch.equal(state[k], v) for k, v in classifier.state_dict().items())


def _build(baseline: str):
    return build_model(baseline, num_classes=5, classifier={"type": "gmmseg", **SMALL})




@pytest.mark.parametrize("baseline", ["segformer_mini", "seaformer_b"])
def test_trains_in_a_real_segmentor_and_inference_changes_no_state(baseline):
    model = _build(baseline)
    head = last_head(model)
    assert isinstance(head.classifier, GMMSegClassifier)
    assert isinstance(head.head.conv_seg, torch.nn.Identity)
    images, labels = shapes_batch(num_classes=5)
    labels[1, :20] = IGNORE

    model.eval()
    state = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        before = model.predict(images, samples(labels))[0].seg_logits.data
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())

    losses = model.train().loss(images, samples(labels))
    assert {"decode.loss_gmm_contrast", "decode.loss_ce"} <= set(losses)
    assert all(torch.isfinite(value).all() for value in losses.values()), losses
    total_loss(losses).backward()
    grads = [p.grad for p in head.classifier.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    torch.optim.SGD(model.parameters(), lr=0.05).step()
    model.eval()
    with torch.no_grad():
        after = model.predict(images, samples(labels))[0].seg_logits.data
    assert torch.isfinite(after).all() and not torch.allclose(before, after)


def test_settings_defaults_are_the_authors():
    _, settings = resolve_classifier({"type": "gmmseg"})
    assert settings == GMMSegSettings()
    assert settings.to_dict() == dict(
        embed_dim=64, num_components=5, momentum_mean=0.999, momentum_scale=0.0,
        memory_size=32000, max_sample_size=20, update_interval=5, w_contrast=0.01,
        sinkhorn_iterations=3, sinkhorn_epsilon=0.05, scale_floor=0.01, projection_norm="SyncBN")


@pytest.mark.parametrize("block, key", [
    ({"mem_size": 100}, "mem_size"),                # unknown (the authors' spelling)
    ({"num_components": 2.5}, "num_components"),    # wrong type
    ({"projection_norm": "LN"}, "projection_norm"),
    ({"momentum_mean": 1.5}, "momentum_mean"),      # out of range
    ({"memory_size": 0}, "memory_size"),
    ({"w_contrast": -0.01}, "w_contrast"),
    ({"sinkhorn_epsilon": 0.0}, "sinkhorn_epsilon"),
])
def test_settings_reject_bad_keys_naming_them(block, key):
    with pytest.raises(SettingsError) as caught:
        resolve_classifier({"type": "gmmseg", **block})
    assert caught.value.key == key
