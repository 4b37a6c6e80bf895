"""DNC in the classifier slot: finite losses and gradients with absent classes and all-ignore
images, real mmseg segmentors on two decode heads, one optimisation step, inference leaves the
training state alone, the memory bank, and the settings' checks."""
from __future__ import annotations

import copy

import pytest
import torch
from tests.models.ssa_support import build as build_model, last_head, samples, shapes_batch, total_loss


import ssa_bench.models.classifiers  # noqa: E402,F401
from ssa_bench.classifier_settings import SettingsError, resolve_classifier  # noqa: E402
from ssa_bench.classifier_settings.dnc import DNCSettings  # noqa: E402
from ssa_bench.models.classifiers.base import LossContext  # noqa: E402
from ssa_bench.models.classifiers.dnc import DNCClassifier, transport_assign  # noqa: E402

CONTEXT = LossContext(ignore_index=255, decode_losses=None, upsample=None)


def classifier(**settings) -> DNCClassifier:
    torch.manual_seed(0)
    _, resolved = resolve_classifier({"type": "dnc", "centroid_contrast_loss": True, **settings})
    return DNCClassifier(8, 5, resolved)


def step(model: DNCClassifier, features, label):
    record: dict = {}
    logits = model(features, None, None, record)
    return logits, model.losses(record, label, CONTEXT)


@pytest.mark.parametrize("ignored", ["absent classes", "all ignore"])
def test_losses_and_gradients_are_finite(ignored):
    model = classifier()
    features = torch.randn(2, 8, 8, 8, requires_grad=True)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :, 16:] = 1                                   # classes 2-4 absent
    if ignored == "all ignore":
        label[:] = 255
    logits, losses = step(model, features, label)
    total = losses["loss_centroid_contrast"] + logits.square().mean()
    assert torch.isfinite(total)
    total.backward()
    assert torch.isfinite(features.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert torch.isfinite(model.prototypes()).all()


def test_only_labelled_classes_move_and_stay_on_the_sphere():
    model = classifier()
    before = model.prototypes().clone()
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    step(model, torch.randn(2, 8, 8, 8), label)
    after = model.prototypes()
    # Unlabelled classes are only re-normalised (rounding), the labelled one moves.
    assert (after[0] - before[0]).abs().max() > 1e-5
    assert torch.allclose(after[1:], before[1:], rtol=0, atol=1e-6)
    assert torch.allclose(after.norm(dim=-1), torch.ones(5, 10))


def test_inference_computes_logits_only_and_changes_nothing():
    model = classifier().eval()
    state = copy.deepcopy(model.state_dict())
    logits = model(torch.randn(1, 8, 6, 7), None, None, None)
    assert logits.shape == (1, 5, 6, 7)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert model._bank == []


def test_the_memory_bank_updates_once_per_filled_bank():
    model = classifier(memory_bank_batches=2, centroid_contrast_loss=False)
    label = torch.zeros(1, 16, 16, dtype=torch.long)
    before = model.prototypes().clone()
    _, losses = step(model, torch.randn(1, 8, 8, 8), label)
    assert losses == {} and torch.equal(model.prototypes(), before) and len(model._bank) == 1
    step(model, torch.randn(1, 8, 8, 8), label)
    assert not torch.equal(model.prototypes(), before) and model._bank == []


def test_transport_plan_handles_one_pixel_and_many_pixels():
    hard, index = transport_assign(torch.tensor([[0.3, -0.2]]), 20, 0.05, 0.5)
    assert hard.shape == (1, 2) and hard.sum() == 1 and index.tolist() == [0]
    # Beyond where the authors' exp overflows: still a finite one-hot per pixel.
    hard, index = transport_assign(torch.rand(200_000, 3) * 2 - 1, 20, 0.05, 0.5)
    assert torch.isfinite(hard).all() and torch.equal(hard.sum(dim=1), torch.ones(200_000))


def test_sinkhorn_assignment_option_runs():
    model = classifier(assignment="sinkhorn")
    _, losses = step(model, torch.randn(2, 8, 8, 8), torch.randint(0, 5, (2, 32, 32)))
    assert torch.isfinite(losses["loss_centroid_contrast"])


def build(baseline: str):
    return build_model(baseline, num_classes=5, classifier={"type": "dnc"})




@pytest.mark.parametrize("baseline", ["segformer_mini", "seaformer_b"])
def test_one_optimisation_step_in_a_real_segmentor(baseline):
    model = build(baseline)
    head = last_head(model)
    assert type(head.classifier).__name__ == "DNCClassifier"
    assert isinstance(head.head.conv_seg, torch.nn.Identity)
    images, labels = shapes_batch(num_classes=5)
    labels[1] = 255                                        # an all-ignore image
    model.eval()
    with torch.no_grad():
        before = model.predict(images, samples(labels))[0].seg_logits.data.clone()
    centroids = head.classifier.prototypes().clone()
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = model.loss(images, samples(labels))
    assert all(torch.isfinite(v).all() for v in losses.values()), losses
    total_loss(losses).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    optimiser.step()
    assert not torch.equal(head.classifier.prototypes(), centroids)
    model.eval()
    with torch.no_grad():
        after = model.predict(images, samples(labels))[0].seg_logits.data
    assert not torch.allclose(before, after)


def test_settings_defaults_and_rejections():
    _, settings = resolve_classifier({"type": "dnc"})
    assert settings == DNCSettings() and settings.num_subcentroids == 10
    assert settings.to_dict()["momentum"] == 0.999
    for bad, key in [({"subcentroids": 4}, "subcentroids"),
                     ({"num_subcentroids": 2.5}, "num_subcentroids"),
                     ({"momentum": 1.5}, "momentum"),
                     ({"assignment": "kmeans"}, "assignment"),
                     ({"memory_bank_batches": 0}, "memory_bank_batches")]:
        with pytest.raises(SettingsError) as error:
            resolve_classifier({"type": "dnc", **bad})
        assert error.value.key == key
