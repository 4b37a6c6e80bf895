"""ProtoSeg in the classifier slot (fast): finite with absent classes and all-ignore images, the
momentum update touches only the classes present, the head's CE is computed on the authors'
align_corners=True upsampling, it trains in real mmseg segmentors on two different decode heads,
inference changes nothing, settings reject bad keys. The arithmetic itself is pinned to the
authors' by test_protoseg_golden.py."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from tests.models.ssa_support import build as build_model, last_head, IGNORE, samples, shapes_batch, total_loss


import ssa_bench.models.classifiers  # noqa: E402,F401  (registers the implementations)
from ssa_bench.classifier_settings import SettingsError, resolve_classifier  # noqa: E402
from ssa_bench.classifier_settings.protoseg import ProtoSegSettings  # noqa: E402
from ssa_bench.models.classifiers.base import LossContext  # noqa: E402
from ssa_bench.models.classifiers.protoseg import ProtoSegClassifier  # noqa: E402

PROTOSEG_LOSSES = {"loss_ppc", "loss_ppd"}


def _classifier(channels: int = 8, classes: int = 4, **settings) -> ProtoSegClassifier:
    torch.manual_seed(0)
    _, resolved = resolve_classifier({"type": "protoseg", "num_prototypes": 3, **settings})
    return ProtoSegClassifier(channels, classes, resolved)


def _context(calls: list | None = None) -> LossContext:
    """A head whose loss_decode is a plain CE that ignores 255 and is 0 (not nan) on no pixel."""
    def decode_losses(logits, label):
        if calls is not None:
            calls.append(logits)
        valid = label != IGNORE
        ce = F.cross_entropy(logits, label.clamp(max=logits.shape[1] - 1), reduction="none")
        return {"loss_ce": (ce * valid).sum() / valid.sum().clamp(min=1)}
    return LossContext(ignore_index=IGNORE, decode_losses=decode_losses, upsample=None)


def _step(classifier: ProtoSegClassifier, label: torch.Tensor, context=None):
    features = torch.randn(2, 8, 8, 8, requires_grad=True)
    record: dict = {}
    classifier(features, None, None, record)
    losses = classifier.losses(record, label, context or _context())
    params = [features, *classifier.parameters()]
    grads = torch.autograd.grad(sum(losses.values()), params, allow_unused=True)
    return losses, [g for g in grads if g is not None]


def test_absent_classes_and_an_all_ignore_image_give_finite_losses_and_grads():
    classifier = _classifier()
    before = classifier.prototypes().clone()
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[0, :, 16:] = 1                      # classes 2 and 3 absent
    label[1] = IGNORE                         # an all-ignore image
    losses, grads = _step(classifier, label)
    assert set(losses) == PROTOSEG_LOSSES | {"loss_ce"}
    assert all(torch.isfinite(value) and value > 0 for value in losses.values()), losses
    assert grads and all(torch.isfinite(g).all() for g in grads)
    after = classifier.prototypes()
    # (Every step re-normalises all prototypes, as the authors' does: equal up to rounding.)
    assert torch.allclose(before[2:], after[2:], atol=1e-6, rtol=0), "an absent class's moved"
    # A prototype moves only with pixels both labelled and predicted as its class; with an
    # untrained classifier that may be none of class 0 or 1, so only the unit norm is certain.
    assert torch.allclose(after.norm(dim=-1), torch.ones(4, 3))


def test_an_all_ignore_batch_gives_zero_losses_not_nan_and_moves_no_prototype():
    classifier = _classifier()
    before = classifier.prototypes().clone()
    losses, grads = _step(classifier, torch.full((2, 32, 32), IGNORE, dtype=torch.long))
    assert all(value.item() == 0.0 for value in losses.values()), losses
    assert all(torch.isfinite(g).all() for g in grads)
    assert torch.allclose(before, classifier.prototypes(), atol=1e-6, rtol=0)


def test_correctly_predicted_pixels_move_their_class_prototypes_by_the_momentum():
    classifier = _classifier(momentum=0.5)
    features = torch.randn(1, 8, 8, 8)
    record: dict = {}
    logits = classifier(features, None, None, record)
    label = logits.detach().argmax(dim=1)     # every pixel correctly predicted
    before = classifier.prototypes().clone()
    torch.manual_seed(1)
    classifier.losses(record, label, _context())
    moved = (classifier.prototypes() - before).norm(dim=-1) > 1e-6      # (K, M)
    present = torch.zeros(4, dtype=torch.bool)
    present[label.unique()] = True
    assert moved.any(dim=1).tolist() == present.tolist()


def test_inference_computes_the_logits_only_and_changes_nothing():
    classifier = _classifier()
    state = copy.deepcopy(classifier.state_dict())
    with torch.no_grad():
        logits = classifier(torch.randn(2, 8, 8, 8), None, None, None)
    assert logits.shape == (2, 4, 8, 8) and torch.isfinite(logits).all()
    assert all(torch.equal(state[k], v) for k, v in classifier.state_dict().items())


def test_the_prototype_all_reduce_on_one_process_is_the_identity(tmp_path, monkeypatch):
    """Under an initialised process group the updated prototypes are averaged over the ranks (as
    the authors' code does); on one rank that must give the single-process result."""
    import torch.distributed as dist

    reduced = []
    all_reduce = dist.all_reduce
    monkeypatch.setattr(dist, "all_reduce", lambda tensor: reduced.append(all_reduce(tensor)))
    label = torch.zeros(1, 16, 16, dtype=torch.long)
    label[0, 8:] = 2
    results = []
    for distributed in (False, True):
        classifier = _classifier()
        features = torch.randn(1, 8, 8, 8, generator=torch.Generator().manual_seed(3))
        record: dict = {}
        classifier(features, None, None, record)
        if distributed:
            dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}",
                                    rank=0, world_size=1)
        try:
            torch.manual_seed(1)
            losses = classifier.losses(record, label, _context())
        finally:
            if distributed:
                dist.destroy_process_group()
        results.append((classifier.prototypes(), losses))
    (alone, losses_alone), (grouped, losses_grouped) = results
    assert len(reduced) == 1, "the process group's all-reduce did not run (or ran without one)"
    assert torch.equal(alone, grouped)
    assert all(torch.equal(losses_alone[k], losses_grouped[k]) for k in losses_alone)


@pytest.mark.parametrize("align, expected_align", [("true", True), ("head", None)])
def test_the_heads_ce_is_on_logits_upsampled_as_the_setting_says(align, expected_align):
    classifier = _classifier(upsample_align_corners=align)
    assert classifier.replaces_head_loss is (align == "true")
    record: dict = {}
    logits = classifier(torch.randn(2, 8, 8, 8), None, None, record)
    calls: list = []
    losses = classifier.losses(record, torch.zeros(2, 32, 32, dtype=torch.long), _context(calls))
    if expected_align is None:                # the wrapper computes the head's CE itself
        assert not calls and "loss_ce" not in losses
        return
    reference = F.interpolate(logits, size=(32, 32), mode="bilinear", align_corners=True)
    assert len(calls) == 1 and torch.equal(calls[0], reference)
    assert not torch.allclose(calls[0], F.interpolate(logits, size=(32, 32), mode="bilinear"))


def _build(baseline: str):
    return build_model(baseline, num_classes=5, classifier={"type": "protoseg", "num_prototypes": 3})




@pytest.mark.parametrize("baseline", ["segformer_mini", "seaformer_b"])
def test_trains_in_a_real_segmentor_and_inference_changes_no_state(baseline):
    model = _build(baseline)
    head = last_head(model)
    assert isinstance(head.classifier, ProtoSegClassifier)
    assert isinstance(head.head.conv_seg, torch.nn.Identity)
    images, labels = shapes_batch(num_classes=5)
    labels[1, :20] = IGNORE

    model.eval()
    state = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        before = model.predict(images, samples(labels))[0].seg_logits.data
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())

    losses = model.train().loss(images, samples(labels))
    assert {f"decode.{name}" for name in PROTOSEG_LOSSES | {"loss_ce"}} <= set(losses)
    assert all(torch.isfinite(value).all() for value in losses.values()), losses
    total_loss(losses).backward()
    assert head.classifier.proj_head.proj[0].weight.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # SeaFormer's untrained backbone has gradients of ~1e5 on two images; unclipped, one SGD step
    # overflows its activations whatever the classifier.
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    torch.optim.SGD(model.parameters(), lr=0.05).step()
    model.eval()
    with torch.no_grad():
        after = model.predict(images, samples(labels))[0].seg_logits.data
    assert torch.isfinite(after).all() and not torch.allclose(before, after)


def test_settings_defaults_are_the_authors():
    _, settings = resolve_classifier({"type": "protoseg"})
    assert settings == ProtoSegSettings()
    assert settings.to_dict() == dict(
        num_prototypes=10, momentum=0.999, w_ppc=0.01, w_ppd=0.001, update_prototypes=True,
        sinkhorn_iterations=3, sinkhorn_epsilon=0.05, gumbel_tau=0.5, prototype_init_std=0.02,
        projection_norm="width", upsample_align_corners="true")


@pytest.mark.parametrize("block, key", [
    ({"num_prototype": 10}, "num_prototype"),       # unknown (the authors' spelling)
    ({"num_prototypes": 2.5}, "num_prototypes"),    # wrong type
    ({"update_prototypes": 1}, "update_prototypes"),
    ({"projection_norm": "pixel"}, "projection_norm"),
    ({"momentum": 1.5}, "momentum"),                # out of range
    ({"num_prototypes": 0}, "num_prototypes"),
    ({"w_ppc": -0.01}, "w_ppc"),
    ({"sinkhorn_epsilon": 0.0}, "sinkhorn_epsilon"),
])
def test_settings_reject_bad_keys_naming_them(block, key):
    with pytest.raises(SettingsError) as caught:
        resolve_classifier({"type": "protoseg", **block})
    assert caught.value.key == key
