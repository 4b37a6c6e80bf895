"""CAC in the classifier slot against the authors' arithmetic (tests/models/fixtures/cac/README.md):
the contextual logits, the GT-informed logits, each loss term and every gradient, float64."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ssa_bench.models.classifiers  # noqa: F401  (registers the implementations)
from ssa_bench.classifier_settings import resolve_classifier
from ssa_bench.models.classifiers.base import LossContext
from ssa_bench.models.classifiers.cac import CACClassifier

FIXTURE = Path(__file__).parent / "fixtures" / "cac"


def _case(**settings):
    arrays = np.load(FIXTURE / "inputs.npz")
    expected = json.loads((FIXTURE / "expected.json").read_text())
    shape = expected["shape"]
    _, resolved = resolve_classifier({"type": "cac", **settings})
    classifier = CACClassifier(shape["C"], shape["K"], resolved).double()
    conv_seg = torch.nn.Conv2d(shape["C"], shape["K"], 1).double()
    params = {**{f"conv_seg.{n}": p for n, p in conv_seg.named_parameters()},
              **dict(classifier.named_parameters())}
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(torch.from_numpy(arrays[f"param.{name}"]))
    features = torch.from_numpy(arrays["features"]).requires_grad_(True)
    label = torch.from_numpy(arrays["label"]).long()
    return classifier, conv_seg, features, label, arrays, expected, params


def _context():
    def upsample(logits, size, align_corners=None):
        return torch.nn.functional.interpolate(logits, size=size, mode="bilinear",
                                               align_corners=bool(align_corners))
    return LossContext(ignore_index=255, decode_losses=None, upsample=upsample)


def test_cac_matches_the_authors_logits_losses_and_gradients():
    classifier, conv_seg, features, label, arrays, expected, params = _case()
    record: dict = {}
    logits = classifier(features, conv_seg, None, record)
    assert torch.allclose(logits, torch.from_numpy(arrays["logits"]), rtol=0, atol=1e-12)
    gt_logits = classifier.gt_informed_logits(features, conv_seg.weight.flatten(1), label, 255)
    assert torch.allclose(gt_logits, torch.from_numpy(arrays["gt_logits"]), rtol=0,
                          atol=1e-12)
    losses = classifier.losses(record, label, _context())
    for name, value in expected["losses"].items():
        assert losses[name].item() == pytest.approx(value, rel=1e-9, abs=1e-12), name
    total = sum(losses.values())
    names = list(params)
    grads = torch.autograd.grad(total, [features] + [params[n] for n in names])
    assert torch.allclose(grads[0], torch.from_numpy(arrays["grad_features"]), rtol=1e-8,
                          atol=1e-12)
    assert grads[0].norm().item() == pytest.approx(expected["grad_norms"]["features"], rel=1e-8)
    for name, grad in zip(names, grads[1:]):
        assert torch.allclose(grad, torch.from_numpy(arrays[f"grad.{name}"]), rtol=1e-8,
                              atol=1e-12), name
        assert grad.norm().item() == pytest.approx(expected["grad_norms"][name], rel=1e-8), name


def test_norm_eps_zero_is_the_ocrnet_heads_cosine():
    """ocr_head_cac.py divides by the bare L2 norm; norm_eps=0 reproduces its logits."""
    classifier, conv_seg, features, _, arrays, *_ = _case(norm_eps=0.0)
    with torch.no_grad():
        logits = classifier(features, conv_seg, None, None)
    assert torch.allclose(logits, torch.from_numpy(arrays["ocr_logits"]), rtol=0, atol=1e-12)


def test_inference_does_not_run_the_training_only_classifier():
    classifier, conv_seg, features, *_ = _case()
    calls = []
    classifier.apd_proj.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        logits = classifier(features, conv_seg, None, None)
    assert logits.shape[1] == conv_seg.out_channels and not calls
