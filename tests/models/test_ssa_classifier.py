"""SSAClassifier on small tensors: every switch, the equations against loop references,
the teacher, gradients, position encodings."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from ssa_bench.models.ssa.classifier import SSAClassifier, class_sums, means_or_fallback
from ssa_bench.models.ssa.position import LearnablePE, sinusoidal_code
from ssa_bench.classifier_settings.ssa import resolve_settings

B, D, K, H, W = 2, 8, 3, 4, 5


def _classifier(channels: int = D, **block):
    torch.manual_seed(0)
    settings = resolve_settings({"enabled": True, **block})
    conv_seg = nn.Conv2d(channels, K, 1)
    return SSAClassifier(channels, K, settings), conv_seg


def _label(batch=B, height=H, width=W):
    label = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 1, 1, -1], [2, 2, 1, 1, -1], [2, 2, 2, 1, 1]])
    return label[:height, :width].expand(batch, -1, -1).clone()


STRUCTURE = list(itertools.product([True, False], [True, False], ["cpvt", "sinusoidal", "learnable"],
                                   ["hw", "k"], ["paper", "released"]))


@pytest.mark.parametrize("sepa, sppa, pe, centre, variant", STRUCTURE)
def test_shapes_for_every_structure_switch(sepa, sppa, pe, centre, variant):
    classifier, conv_seg = _classifier(variant=variant, sepa=sepa, sppa=sppa, pe=pe,
                                       centre_softmax=centre)
    features = torch.randn(B, D, H, W)
    record: dict = {}
    logits = classifier(features, conv_seg, record)
    assert logits.shape == (B, K, H, W) and torch.isfinite(logits).all()
    assert record["coarse"].shape == (B, K, H, W)
    if sepa:
        assert record["semantic"].shape == (B, K, D)
    if sppa:
        assert record["spatial"].shape == (B, K, D)
        assert record["position"].shape[1:] == (D, H, W)
    if classifier.has_teacher:
        teacher = classifier.teacher(record, _label())
        assert teacher["logits"].shape == (B, K, H, W)
        assert (teacher["semantic"] is not None) == sepa
        assert (teacher["spatial"] is not None) == sppa
        if sepa:
            assert teacher["semantic"].shape == (B, K, D) and teacher["semantic_batch"].shape == (K, D)


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_without_sepa_and_sppa_it_is_exactly_the_plain_classifier(variant):
    classifier, conv_seg = _classifier(variant=variant, sepa=False, sppa=False)
    features = torch.randn(B, D, H, W)
    assert torch.equal(classifier(features, conv_seg), conv_seg(features))
    assert not classifier.has_teacher and not list(classifier.parameters())


def test_teacher_modules_exist_only_with_a_teacher_loss():
    classifier, _ = _classifier(w_g=0, w_rd=0, w_sd=0, w_pd=0)
    assert not any(name.startswith("teacher_") for name, _ in classifier.named_modules())
    classifier, _ = _classifier()
    names = {name for name, _ in classifier.named_children()}
    assert {"teacher_phi_s", "teacher_phi_p"} <= names


# ---- the equations, against per-class / per-pixel loops -------------------------------------------
def _softmax(values):
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def _reference_logits(classifier: SSAClassifier, conv_seg: nn.Conv2d, features: torch.Tensor):
    """Eqs. 1, 2, 4-7 with explicit loops over images, classes, pixels and the 3x3 window."""
    s = classifier.settings
    S = conv_seg.weight[:, :, 0, 0].tolist()
    bias = conv_seg.bias.tolist()
    pixels_list = [(i, j) for i in range(H) for j in range(W)]
    out = torch.zeros(B, K, H, W)
    for b in range(B):
        f = features[b]
        coarse = {p: [sum(S[k][d] * f[d][p].item() for d in range(D)) + bias[k] for k in range(K)]
                  for p in pixels_list}
        # P_f: depth-wise 3x3 conv with zero padding (+ S_f when residual)
        pos = {}
        for (i, j) in (pixels_list if s.sppa else []):
            dw = classifier.pe.dwconv
            vec = []
            for d in range(D):
                acc = dw.bias[d].item()
                for di in (-1, 0, 1):
                    for dj in (-1, 0, 1):
                        if 0 <= i + di < H and 0 <= j + dj < W:
                            acc += dw.weight[d, 0, di + 1, dj + 1].item() * f[d, i + di, j + dj].item()
                vec.append(acc + (f[d, i, j].item() if s.pe_residual else 0.0))
            pos[(i, j)] = vec
        soft_k = {p: _softmax(coarse[p]) for p in pixels_list}
        prototypes = []
        for k in range(K):
            weights = [soft_k[p][k] for p in pixels_list]
            centre = [sum(w * f[d][p].item() for w, p in zip(weights, pixels_list)) / sum(weights)
                      for d in range(D)]
            semantic = (classifier.phi_s(torch.tensor(centre + S[k])).tolist() if s.sepa
                        else list(S[k]))
            if not s.sppa:
                prototypes.append(semantic)
                continue
            if s.centre_softmax == "hw":      # Eq. 6: softmax over the pixels
                spatial_weights = _softmax([coarse[p][k] for p in pixels_list])
            else:                             # Table 6: the soft class mean (softmax over K)
                spatial_weights = [w / sum(weights) for w in weights]
            p_centre = [sum(w * pos[p][d] for w, p in zip(spatial_weights, pixels_list))
                        for d in range(D)]
            basis = classifier.basis.weight[k].tolist()
            pair = p_centre + basis if s.sppa_concat == "centre_basis" else basis + p_centre
            spatial = classifier.phi_p(torch.tensor(pair)).tolist()
            prototypes.append([a + c for a, c in zip(semantic, spatial)])
        if s.proto_proj:
            prototypes = classifier.proto_proj(torch.tensor(prototypes)).tolist()
        for (i, j) in pixels_list:
            pixel = [f[d, i, j].item() + (pos[(i, j)][d] if s.sppa else 0.0) for d in range(D)]
            for k in range(K):
                proto = prototypes[k]
                dot = sum(x * y for x, y in zip(pixel, proto))
                if s.logits == "cosine":
                    norm = math.sqrt(sum(x * x for x in pixel)) * math.sqrt(sum(y * y for y in proto))
                    dot = s.logit_scale * dot / norm
                out[b, k, i, j] = dot
    return out


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_student_logits_match_the_equations(variant):
    classifier, conv_seg = _classifier(variant=variant)
    features = torch.randn(B, D, H, W)
    with torch.no_grad():
        got = classifier(features, conv_seg)
        expected = _reference_logits(classifier, conv_seg, features)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("sepa, sppa, centre", [
    (True, True, "k"), (True, False, "hw"), (False, True, "hw"), (False, True, "k")])
@pytest.mark.parametrize("variant", ["paper", "released"])
def test_each_structure_switch_computes_its_equation(sepa, sppa, centre, variant):
    # centre_softmax='k' (Table 6), SEPA alone (S_p only) and SPPA alone (S_p = S) against loops.
    classifier, conv_seg = _classifier(variant=variant, sepa=sepa, sppa=sppa, centre_softmax=centre)
    torch.manual_seed(1)
    features = torch.randn(B, D, H, W)
    with torch.no_grad():
        got = classifier(features, conv_seg)
        expected = _reference_logits(classifier, conv_seg, features)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_channels_last_features_give_the_same_logits_in_the_same_layout():
    classifier, conv_seg = _classifier()
    features = torch.randn(B, D, H, W)
    with torch.no_grad():
        plain = classifier(features, conv_seg)
        last = classifier(features.contiguous(memory_format=torch.channels_last), conv_seg)
    assert torch.allclose(plain, last, atol=1e-5)
    assert last.is_contiguous(memory_format=torch.channels_last)


def test_class_sums_and_means_with_ignore_and_absent_classes_by_hand():
    values = torch.tensor([[[1.0, 2.0, 3.0, 4.0]], [[10.0, 20.0, 30.0, 40.0]]])   # (B=2, D=1, N=4)
    label = torch.tensor([[0, 0, 1, -1], [1, 1, -1, 255]])
    sums, counts = class_sums(values, label, num_classes=3)
    assert sums[..., 0].tolist() == [[3.0, 3.0, 0.0], [0.0, 30.0, 0.0]]
    assert counts.tolist() == [[2, 1, 0], [0, 2, 0]]
    fallback = torch.tensor([[7.0], [8.0], [9.0]])
    per_image = means_or_fallback(sums, counts, fallback)
    assert per_image[..., 0].tolist() == [[1.5, 3.0, 9.0], [7.0, 15.0, 9.0]]
    pooled = means_or_fallback(sums.sum(0), counts.sum(0), fallback)
    assert pooled[:, 0].tolist() == [1.5, 11.0, 9.0]      # class 1: (3 + 10 + 20) / 3


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_class_sums_match_a_one_hot_product_in_value_gradient_and_layout(layout):
    torch.manual_seed(0)
    features = torch.randn(3, 6, 4, 5).contiguous(memory_format=layout).requires_grad_()
    label = torch.randint(-1, 5, (3, 20))
    label[label == 4] = 255                                   # ignored, like -1
    sums, counts = class_sums(features.flatten(2), label, num_classes=4)
    one_hot = torch.stack([label == k for k in range(4)], dim=1).float()     # (B, K, N)
    reference = one_hot @ features.flatten(2).transpose(1, 2)
    assert torch.allclose(sums, reference, atol=1e-5)
    assert torch.equal(counts, one_hot.sum(-1))
    weights = torch.randn_like(sums)
    (grad,) = torch.autograd.grad((sums * weights).sum(), features)
    (expected,) = torch.autograd.grad((reference * weights).sum(), features)
    assert torch.allclose(grad, expected, atol=1e-5)
    # A gradient in the features' own layout: summing mixed layouts is what made training slow.
    assert grad.is_contiguous(memory_format=layout)


def test_teacher_uses_the_ground_truth_class_means():
    classifier, conv_seg = _classifier(teacher_semantic_pool="image")
    features = torch.randn(B, D, H, W)
    record: dict = {}
    classifier(features, conv_seg, record)
    label = _label()
    teacher = classifier.teacher(record, label)
    prototypes = conv_seg.weight.flatten(1)
    for b in range(B):
        for k in range(K):
            mask = label[b] == k
            centre = features[b][:, mask].mean(dim=1)
            expected = classifier.teacher_phi_s(torch.cat([centre, prototypes[k]]))
            assert torch.allclose(teacher["semantic"][b, k], expected, atol=1e-5)
    pooled = torch.stack([features.permute(1, 0, 2, 3)[:, label == k].mean(dim=1) for k in range(K)])
    expected_batch = classifier.teacher_phi_s(torch.cat([pooled, prototypes], dim=1))
    assert torch.allclose(teacher["semantic_batch"], expected_batch, atol=1e-5)


def test_teacher_falls_back_to_the_detached_prototype_and_basis_for_absent_classes():
    classifier, conv_seg = _classifier(variant="released")
    record: dict = {}
    classifier(torch.randn(B, D, H, W), conv_seg, record)
    label = torch.full((B, H, W), -1)
    label[:, 0, 0] = 0                                 # only class 0 is present anywhere
    teacher = classifier.teacher(record, label)
    prototypes = conv_seg.weight.flatten(1)
    expected = classifier.teacher_phi_s(torch.cat([prototypes[2], prototypes[2]]))
    assert torch.allclose(teacher["semantic_batch"][2], expected, atol=1e-6)
    basis = classifier.basis.weight
    expected_spatial = classifier.teacher_phi_p(torch.cat([basis[1], basis[1]]))
    assert torch.allclose(teacher["spatial"][0, 1], expected_spatial, atol=1e-6)


@pytest.mark.parametrize("variant", ["paper", "released"])
@pytest.mark.parametrize("pe", ["cpvt", "learnable"])
def test_gradients_reach_phi_basis_and_position_encoding(pe, variant):
    # 32 channels: the released phi is an MLP whose bias-free first layer has C/2 ReLU units; at
    # D = 8 (4 units, 3 classes, P_c ~ 0 under a learnable PE) all of them can start dead, as
    # they did at seed 0, and then no gradient reaches phi_p by construction, not by a bug.
    classifier, conv_seg = _classifier(channels=32, variant=variant, pe=pe)
    record: dict = {}
    logits = classifier(torch.randn(B, 32, H, W), conv_seg, record)
    teacher = classifier.teacher(record, _label())
    (logits.square().mean() + teacher["logits"].square().mean()).backward()
    for name, param in classifier.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert conv_seg.weight.grad.abs().sum() > 0
    pe_params = [n for n, _ in classifier.named_parameters() if n.startswith("pe.")]
    assert pe_params


def test_sinusoidal_code_by_hand():
    code = sinusoidal_code(4, height=2, width=1, temperature=10000.0, device="cpu",
                           dtype=torch.float32)
    # 2 channels per axis, one frequency (1): y = (i+1)/2 * 2pi -> sin, cos; x = 2pi -> sin, cos
    expected_y = [[math.sin(math.pi), math.sin(2 * math.pi)], [math.cos(math.pi), math.cos(2 * math.pi)]]
    assert torch.allclose(code[0, :2, :, 0], torch.tensor(expected_y), atol=1e-6)
    assert torch.allclose(code[0, 2:, :, 0], torch.tensor([[0.0, 0.0], [1.0, 1.0]]), atol=1e-6)


def test_sinusoidal_frequencies_fall_geometrically_from_one_to_one_over_temperature():
    # 8 channels: 4 per axis = sin, sin, cos, cos at the frequencies 1 and temperature^(-1/2)
    code = sinusoidal_code(8, height=4, width=4, temperature=100.0, device="cpu", dtype=torch.float32)
    angle = 0.25 * 2 * math.pi                              # the first row/column: (0 + 1) / 4 of 2pi
    expected = [math.sin(angle), math.sin(angle * 0.1), math.cos(angle), math.cos(angle * 0.1)]
    assert torch.allclose(code[0, :4, 0, 0], torch.tensor(expected), atol=1e-6)     # y
    assert torch.allclose(code[0, 4:, 0, 0], torch.tensor(expected), atol=1e-6)     # x


def test_learnable_code_halved_is_the_mean_of_each_2x2_cell():
    # Pixel-centre alignment (align_corners=False, as mmseg resizes feature maps): a feature
    # pixel's code is the mean of the learnt grid over the area it covers, with no shift.
    pe = LearnablePE(channels=3, grid=4)
    halved = pe(torch.zeros(1, 3, 2, 2))
    blocks = torch.nn.functional.avg_pool2d(pe.code, 2)
    assert torch.allclose(halved, blocks, atol=1e-6)


def test_learnable_code_is_resized_to_the_features():
    pe = LearnablePE(channels=3, grid=4)
    assert pe(torch.zeros(1, 3, 4, 4)) is pe.code
    assert pe(torch.zeros(2, 3, 7, 9)).shape == (1, 3, 7, 9)
