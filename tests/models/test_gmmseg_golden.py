"""GMMSeg's arithmetic equals its authors' (leonnnop/GMMSeg @74f882e) to ~1e-8 in float64: logits,
the contrastive loss, the per-component memory after one enqueue, the mixture after one EM step,
and the logits the updated mixture gives. How the numbers were made: fixtures/gmmseg/README.md."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ssa_bench.models.classifiers  # noqa: F401  (registers the implementations)
from ssa_bench.classifier_settings.gmmseg import resolve
from ssa_bench.models.classifiers.base import LossContext
from ssa_bench.models.classifiers.gmmseg import GMMSegClassifier

FIXTURES = Path(__file__).parent / "fixtures" / "gmmseg"
TOLERANCE = dict(rtol=1e-8, atol=1e-8)


@pytest.fixture(scope="module")
def golden():
    data = np.load(FIXTURES / "golden.npz")
    return {key: torch.from_numpy(data[key]) for key in data.files}


@pytest.fixture(scope="module")
def stepped(golden):
    """Our classifier with the authors' initial state, after one training step on their inputs."""
    block = json.loads((FIXTURES / "settings.json").read_text())
    num_classes = block.pop("num_classes")
    classifier = GMMSegClassifier(block["embed_dim"], num_classes, resolve(block)).double()
    assert classifier.projection is None     # channels == embed_dim, as in the authors' run
    with torch.no_grad():
        # The authors normalise the means at the start of each forward; ours are kept normalised.
        classifier.means.copy_(F.normalize(golden["initial.means"], dim=-1))
        classifier.scales.copy_(golden["initial.scales"])
        classifier.memory.copy_(golden["initial.memory"])
        classifier.memory_ptr.copy_(golden["initial.memory_ptr"])
        for name, tensor in classifier.named_parameters():
            tensor.copy_(golden[f"initial.{name}"])
    classifier.train()
    record: dict = {}
    logits = classifier(golden["features"], None, None, record)
    context = LossContext(ignore_index=255, decode_losses=None, upsample=None)
    losses = classifier.losses(record, golden["label"], context)
    classifier.eval()
    with torch.no_grad():
        logits_after = classifier(golden["features"], None, None, None)
    return classifier, logits, losses, logits_after


def test_logits(golden, stepped):
    torch.testing.assert_close(stepped[1].detach(), golden["logits"], **TOLERANCE)


def test_contrastive_loss(golden, stepped):
    torch.testing.assert_close(stepped[2]["loss_gmm_contrast"].detach(),
                               golden["loss_gmm_contrast"], **TOLERANCE)


def test_memory_after_enqueue(golden, stepped):
    classifier = stepped[0]
    assert not torch.equal(golden["memory_after"], golden["initial.memory"])
    assert torch.equal(classifier.memory_ptr, golden["memory_ptr_after"])
    torch.testing.assert_close(classifier.memory, golden["memory_after"], **TOLERANCE)


def test_mixture_after_the_em_step(golden, stepped):
    classifier = stepped[0]
    torch.testing.assert_close(classifier.means, F.normalize(golden["means_after_raw"], dim=-1),
                               **TOLERANCE)
    torch.testing.assert_close(classifier.scales, golden["scales_after"], **TOLERANCE)
    # class 3 is absent from the label: its components keep their initial values
    torch.testing.assert_close(classifier.scales[3], golden["initial.scales"][3], **TOLERANCE)


def test_logits_of_the_updated_mixture(golden, stepped):
    assert not torch.allclose(golden["logits_after_update"], golden["logits"])
    torch.testing.assert_close(stepped[3], golden["logits_after_update"], **TOLERANCE)
