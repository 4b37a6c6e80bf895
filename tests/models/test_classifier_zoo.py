"""Every classifier of the slot (ssa_bench.models.classifiers) in real mmseg models: on the heads
of the zoo (plain and cascade), finite losses and gradients with an all-ignore image and absent
classes, a training step changes the prediction, inference changes no state, and the classifier
really classifies (its logits are not the head's own 1x1 classifier's)."""
from __future__ import annotations

import copy

import pytest
import torch
from tests.models.ssa_support import build as build_model, last_head, samples, shapes_batch, total_loss


import ssa_bench.models.classifiers as zoo  # noqa: E402
from ssa_bench.classifier_settings import SettingsError, resolve_classifier  # noqa: E402

KINDS = sorted(zoo.IMPLEMENTATIONS)
HEADS = ["segformer_mini", "ocrnet_hr48", "segnext_t", "seaformer_b"]


def build(kind: str, baseline: str, num_classes: int = 5):
    return build_model(baseline, num_classes=num_classes, classifier={"type": kind})




@pytest.mark.parametrize("baseline", HEADS)
@pytest.mark.parametrize("kind", KINDS)
def test_trains_and_predicts_on_every_head(kind, baseline):
    model = build(kind, baseline)
    images, labels = shapes_batch(num_classes=5)
    labels[1] = 255                                   # an all-ignore image; classes 3-4 absent
    losses = model.train().loss(images, samples(labels))
    assert any("loss" in key for key in losses)
    assert all(torch.isfinite(value).all() for value in losses.values()), losses
    total_loss(losses).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    head = last_head(model)
    model.eval()
    state = copy.deepcopy(model.state_dict())
    with torch.no_grad(), head.recording() as record:
        before = model.predict(images, samples(labels))[0].seg_logits.data
    assert before.shape == (5, 64, 64)
    after_state = model.state_dict()
    assert all(torch.equal(state[k], after_state[k]) for k in state), "inference changed state"
    # the classifier's logits are its own, not the plain 1x1 classifier's
    if isinstance(head.head.conv_seg, torch.nn.Conv2d):
        plain = head.head.conv_seg(record["features"])
        assert not torch.allclose(record["logits"], plain, atol=1e-4)
    # one clipped step (an unclipped lr-0.05 step sends SeaFormer's features to nan whatever
    # the classifier): the prediction moves and stays finite
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    optimizer.step()
    with torch.no_grad():
        after = model.predict(images, samples(labels))[0].seg_logits.data
    assert torch.isfinite(after).all() and not torch.allclose(before, after)


@pytest.mark.parametrize("kind", KINDS)
def test_settings_reject_unknown_wrong_type_and_out_of_range(kind):
    with pytest.raises(SettingsError, match="unknown"):
        resolve_classifier({"type": kind, "no_such_key": 1})
    _, settings = resolve_classifier({"type": kind})
    for name, value in settings.to_dict().items():
        if isinstance(value, float):
            with pytest.raises(SettingsError):
                resolve_classifier({"type": kind, name: "fast"})
            with pytest.raises(SettingsError):
                resolve_classifier({"type": kind, name: float("nan")})
            break
