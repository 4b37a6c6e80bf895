"""DNC in the classifier slot against its authors' arithmetic (tests/models/fixtures/dnc/README.md):
logits, the sub-centroid assignment, the momentum update, the centroid contrast loss and the
gradients, float64."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ssa_bench.models.classifiers  # noqa: F401
from ssa_bench.classifier_settings import resolve_classifier
from ssa_bench.models.classifiers.base import LossContext
from ssa_bench.models.classifiers.dnc import DNCClassifier

FIXTURE = Path(__file__).parent / "fixtures" / "dnc"
PARAMETERS = ("feat_norm.weight", "feat_norm.bias", "mask_norm.weight", "mask_norm.bias")


def _case():
    arrays = np.load(FIXTURE / "inputs.npz")
    expected = json.loads((FIXTURE / "expected.json").read_text())
    # The golden run switched the (default-off) centroid contrast loss on to check it too.
    _, settings = resolve_classifier({"type": "dnc", "num_subcentroids": expected["M"],
                                      "centroid_contrast_loss": True})
    classifier = DNCClassifier(expected["D"], expected["K"], settings).double()
    named = dict(classifier.named_parameters())
    with torch.no_grad():
        for name in PARAMETERS:
            named[name].copy_(torch.from_numpy(arrays[name]))
        raw = torch.from_numpy(arrays["subcentroids_raw"])
        classifier.subcentroids = F.normalize(raw, p=2, dim=-1)
    features = torch.from_numpy(arrays["features"]).requires_grad_(True)
    return classifier, features, torch.from_numpy(arrays["label"]).long(), expected


def _train_step(classifier, features, label, seed):
    record: dict = {}
    logits = classifier(features, None, None, record)
    torch.manual_seed(seed)
    context = LossContext(ignore_index=255, decode_losses=None, upsample=None)
    return logits, classifier.losses(record, label, context)


def test_dnc_matches_the_authors_logits_update_loss_and_gradients():
    classifier, features, label, expected = _case()
    logits, losses = _train_step(classifier, features, label, expected["step_seed"])
    assert torch.allclose(logits, torch.tensor(expected["logits"], dtype=torch.float64),
                          rtol=0, atol=1e-10)
    assert losses["loss_centroid_contrast"].item() == pytest.approx(
        expected["loss_centroid_contrast"], rel=1e-9)
    after = torch.tensor(expected["subcentroids_after"], dtype=torch.float64)
    assert torch.allclose(classifier.prototypes(), after, rtol=0, atol=1e-12)
    total = losses["loss_centroid_contrast"] + logits.square().mean()
    named = dict(classifier.named_parameters())
    grads = torch.autograd.grad(total, [features] + [named[n] for n in PARAMETERS])
    want = expected["grad_norms_of_contrast_plus_mean_square_logits"]
    for name, grad in zip(("features",) + PARAMETERS, grads):
        assert grad.norm().item() == pytest.approx(want[name], rel=1e-8), name


def test_every_pixel_gets_the_authors_subcentroid_target():
    classifier, features, label, expected = _case()
    record: dict = {}
    classifier(features, None, None, record)
    torch.manual_seed(expected["step_seed"])
    pixels, masks, scores = record["pixels"], record["masks"], record["scores"]
    target = F.interpolate(label[:, None].double(), size=features.shape[-2:],
                           mode="nearest").reshape(-1).long()
    _, contrast_target = classifier.learn_subcentroids(pixels, scores, masks, target)
    assert contrast_target.tolist() == expected["contrast_target"]


def test_the_golden_case_moves_some_subcentroids_and_keeps_the_absent_class():
    # Guards the fixture itself: a case where nothing moves could not catch a wrong update.
    classifier, features, label, expected = _case()
    before = classifier.prototypes().clone()
    after = torch.tensor(expected["subcentroids_after"], dtype=torch.float64)
    moved = (after - before).abs().amax(dim=-1) > 1e-6
    assert moved[:4].sum() > 20 and not moved[4].any()


def test_the_sinkhorn_option_matches_the_authors_alternative():
    classifier, features, label, expected = _case()
    classifier.settings = resolve_classifier({"type": "dnc", "num_subcentroids": expected["M"],
                                              "assignment": "sinkhorn"})[1]
    with torch.no_grad():
        record: dict = {}
        classifier(features, None, None, record)
        target = F.interpolate(label[:, None].double(), size=features.shape[-2:],
                               mode="nearest").reshape(-1).long()
        _, contrast_target = classifier.learn_subcentroids(
            record["pixels"], record["scores"], record["masks"], target)
    want = expected["sinkhorn_assignment"]
    assert contrast_target.tolist() == want["contrast_target"]
    after = torch.tensor(want["subcentroids_after"], dtype=torch.float64)
    assert torch.allclose(classifier.prototypes(), after, rtol=0, atol=1e-12)
