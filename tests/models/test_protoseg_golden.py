"""ProtoSeg in the classifier slot against its authors' arithmetic
(tests/models/fixtures/protoseg/README.md): logits, the Sinkhorn assignment, the momentum update
of the prototypes, PPC and PPD, and every gradient, float64."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ssa_bench.models.classifiers  # noqa: F401
from ssa_bench.classifier_settings import resolve_classifier
from ssa_bench.models.classifiers.base import LossContext
from ssa_bench.models.classifiers.protoseg import ProtoSegClassifier

FIXTURE = Path(__file__).parent / "fixtures" / "protoseg"


def _case():
    arrays = np.load(FIXTURE / "inputs.npz")
    expected = json.loads((FIXTURE / "expected.json").read_text())
    shape = expected["shape"]
    _, settings = resolve_classifier({"type": "protoseg", "num_prototypes": shape["M"],
                                      "momentum": expected["momentum"]})
    classifier = ProtoSegClassifier(shape["D"], shape["K"], settings).double()
    named = dict(classifier.named_parameters())
    with torch.no_grad():
        for key in arrays.files:
            if key.startswith("param."):
                named[key[len("param."):]].copy_(torch.from_numpy(arrays[key]))
        classifier.prototypes_.copy_(torch.from_numpy(arrays["prototypes_before"]))
    features = torch.from_numpy(arrays["features"]).requires_grad_(True)
    return classifier, features, torch.from_numpy(arrays["label"]).long(), arrays, expected


def test_protoseg_matches_the_authors_logits_assignment_update_losses_and_gradients():
    classifier, features, label, arrays, expected = _case()
    record: dict = {}
    logits = classifier(features, None, None, record)
    assert torch.allclose(logits, torch.from_numpy(arrays["logits"]), atol=1e-10)
    torch.manual_seed(expected["gumbel_seed"])
    # The head's CE is not part of the fixture (it is the head's own loss_decode).
    context = LossContext(ignore_index=255, decode_losses=lambda logits, label: {},
                          upsample=None)
    losses = classifier.losses(record, label, context)
    for name, value in expected["losses"].items():
        assert losses[name].item() == pytest.approx(value, rel=1e-9), name
    assert torch.allclose(classifier.prototypes(), torch.from_numpy(arrays["prototypes_after"]),
                          atol=1e-12)
    total = sum(losses.values()) + logits.square().mean()
    named = dict(classifier.named_parameters())
    names = [n for n in expected["grad_norms"] if n != "features"]
    grads = torch.autograd.grad(total, [features] + [named[n] for n in names])
    assert grads[0].norm().item() == pytest.approx(expected["grad_norms"]["features"], rel=1e-8)
    for name, grad in zip(names, grads[1:]):
        assert grad.norm().item() == pytest.approx(expected["grad_norms"][name], rel=1e-8), name


def test_the_assignment_targets_are_the_authors():
    classifier, features, label, arrays, expected = _case()
    record: dict = {}
    logits = classifier(features, None, None, record)
    torch.manual_seed(expected["gumbel_seed"])
    from ssa_bench.models.classifiers.wrapper import resize_label

    target = resize_label(label, logits.shape[-2:]).reshape(-1)
    _, assigned = classifier.learn_prototypes(record["pixels"], logits, record["masks"], target)
    assert torch.equal(assigned, torch.from_numpy(arrays["contrast_target"]).long())


def test_inference_leaves_the_prototypes_alone():
    classifier, features, *_ = _case()
    before = classifier.prototypes().clone()
    with torch.no_grad():
        classifier(features, None, None, None)
    assert torch.equal(before, classifier.prototypes())


def test_the_fixture_tells_the_authors_width_normalisation_from_the_papers_channels():
    """The golden logits pin projection_norm='width': the paper's per-pixel normalisation misses."""
    arrays = np.load(FIXTURE / "inputs.npz")
    expected = json.loads((FIXTURE / "expected.json").read_text())
    shape = expected["shape"]
    _, settings = resolve_classifier({"type": "protoseg", "num_prototypes": shape["M"],
                                      "projection_norm": "channels"})
    classifier = ProtoSegClassifier(shape["D"], shape["K"], settings).double()
    classifier.load_state_dict(_case()[0].state_dict())
    with torch.no_grad():
        logits = classifier(torch.from_numpy(arrays["features"]), None, None, None)
    assert not torch.allclose(logits, torch.from_numpy(arrays["logits"]), atol=1e-3)
