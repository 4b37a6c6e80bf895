"""The SSA losses against values computed by hand on tiny examples (both presets' forms)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssa_bench.models.ssa.boundary import boundary_mask, label_edges
from ssa_bench.models.ssa.losses import (dice_loss, relation_distillation,
                                         response_distillation, spatial_distillation)

LN3 = math.log(3)
IGNORE = 255


# ---- boundary ----------------------------------------------------------------------------------
def _square() -> torch.Tensor:
    label = torch.zeros(1, 10, 10, dtype=torch.long)
    label[0, 3:7, 3:7] = 1                 # a 4x4 square of class 1 at rows/cols 3..6
    return label


def _reference_dilation(edges: set, before: int, after: int, size: int = 10) -> torch.Tensor:
    out = torch.zeros(1, size, size, dtype=torch.bool)
    for r, c in edges:
        for i in range(r - after, r + before + 1):
            for j in range(c - after, c + before + 1):
                if 0 <= i < size and 0 <= j < size:
                    out[0, i, j] = True
    return out


# Label changes marked on the pixel before the change (right/down): left and right sides of the
# square at columns 2 and 6 (rows 3..6), top and bottom at rows 2 and 6 (columns 3..6).
SQUARE_EDGES = ({(r, 2) for r in range(3, 7)} | {(r, 6) for r in range(3, 7)}
                | {(2, c) for c in range(3, 7)} | {(6, c) for c in range(3, 7)})


def test_edges_of_a_square_are_one_pixel_lines():
    edges = label_edges(_square())
    assert {tuple(p) for p in edges[0].nonzero().tolist()} == SQUARE_EDGES
    assert int(edges.sum()) == 15          # (6, 6) is on two sides


def test_boundary_band_of_a_square():
    label = _square()
    assert torch.equal(boundary_mask(label, 1), label_edges(label))
    band3 = boundary_mask(label, 3)
    # row 4 crosses the left and right sides: columns 1..3 and 5..7
    assert band3[0, 4].int().tolist() == [0, 1, 1, 1, 0, 1, 1, 1, 0, 0]
    assert torch.equal(band3, _reference_dilation(SQUARE_EDGES, 1, 1))
    band4 = boundary_mask(label, 4)
    # even size: the change between columns c and c+1 is the centre, so the band around an
    # edge marked at column c covers c-1..c+2 (two pixels on each side of the change)
    assert band4[0, 4].int().tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    assert torch.equal(band4, _reference_dilation(SQUARE_EDGES, 2, 1))
    assert int(band4.sum()) > int(band3.sum())


def test_even_boundary_band_is_symmetric_about_the_label_change():
    # A hand-made map: class 0 in columns 0..4, class 1 in columns 5..9, an ignore block in
    # the lower right. Edge size 4: two pixels on each side of each change, nothing else.
    label = torch.tensor([[[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]] * 6
                          + [[0, 0, 0, 0, 0, 1, 1, IGNORE, IGNORE, IGNORE]] * 4])
    # Worked out by hand: the 4|5 change gives columns 3..6 in every row; the change between
    # rows 5 and 6 in columns 7..9 (class 1 above ignore) gives rows 4..7, columns 6..9; the
    # change between columns 6 and 7 in rows 6..9 gives rows 5..9, columns 5..8.
    expected = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 0, 0, 0]] * 4
                            + [[0, 0, 0, 1, 1, 1, 1, 1, 1, 1]] * 4
                            + [[0, 0, 0, 1, 1, 1, 1, 1, 1, 0]] * 2).unsqueeze(0).bool()
    got = boundary_mask(label, 4)
    assert got.int().tolist() == expected.int().tolist()
    # and the same window as OpenCV's dilation with a 4x4 kernel (anchor at the centre)
    import cv2
    import numpy as np
    edges = label_edges(label)[0].numpy().astype(np.uint8)
    dilated = cv2.dilate(edges, np.ones((4, 4), np.uint8)) > 0
    assert torch.equal(got[0], torch.from_numpy(dilated))


def test_border_drops_edges_near_the_frame_before_dilating():
    edges = boundary_mask(_square(), 1, border=3)
    kept = {(r, 6) for r in range(3, 7)} | {(6, c) for c in range(3, 7)}
    assert {tuple(p) for p in edges[0].nonzero().tolist()} == kept


def test_ignore_label_changes_count_as_edges():
    label = torch.zeros(1, 4, 4, dtype=torch.long)
    label[0, :, 2:] = IGNORE
    assert label_edges(label)[0, :, 1].all() and int(label_edges(label).sum()) == 4


# ---- Dice --------------------------------------------------------------------------------------
def test_sigmoid_dice_keeps_ignored_pixels_as_negatives_when_asked():
    # class 0 on pixels 0, 1 (sigmoid .5, .75), pixel 2 ignored with sigmoid .75; class 1 absent
    logits = torch.tensor([[0.0, LN3, LN3], [0.0, 0.0, 0.0]]).view(1, 2, 1, 3)
    label = torch.tensor([[[0, 0, IGNORE]]])
    # left out: 1 - (2 * 1.25 + 1) / (1.25 + 2 + 1)
    assert dice_loss(logits, label, IGNORE, "sigmoid_present", "exclude").item() == \
        pytest.approx(1 - 3.5 / 4.25, abs=1e-6)
    # as negatives (released): the ignored pixel's .75 joins sum p
    assert dice_loss(logits, label, IGNORE, "sigmoid_present", "as_background").item() == \
        pytest.approx(1 - 3.5 / 5.0, abs=1e-6)


def test_vnet_dice_by_hand():
    # pixel 0 logits (0, 0) -> p (.5, .5); pixel 1 (ln3, 0) -> (.75, .25); pixel 2 ignored.
    logits = torch.tensor([[0.0, LN3, 5.0], [0.0, 0.0, -5.0]]).view(1, 2, 1, 3)
    label = torch.tensor([[[0, 1, IGNORE]]])
    # class 0: 1 - (2*.5 + 1) / (.25 + .5625 + 1 + 1) = 0.288889
    # class 1: 1 - (2*.25 + 1) / (.25 + .0625 + 1 + 1) = 0.351351
    expected = (1 - 2 / 2.8125 + 1 - 1.5 / 2.3125) / 2
    assert dice_loss(logits, label, IGNORE, "vnet").item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.320120, abs=1e-6)


def test_released_sigmoid_dice_over_present_classes_by_hand():
    # image 0: sigmoid p0 = (.5, .75) on two class-0 pixels; class 1 absent (left out)
    # image 1: sigmoid p1 = (.5, .25) on two class-1 pixels; class 0 absent
    logits = torch.tensor([[[[0.0, LN3]], [[9.0, -9.0]]],
                           [[[7.0, 7.0]], [[0.0, -LN3]]]])
    label = torch.tensor([[[0, 0]], [[1, 1]]])
    # image 0, class 0: 1 - (2*1.25 + 1) / (1.25 + 2 + 1) = 0.176471
    # image 1, class 1: 1 - (2*.75 + 1) / (.75 + 2 + 1) = 0.333333
    expected = (1 - 3.5 / 4.25 + 1 - 2.5 / 3.75) / 2
    got = dice_loss(logits, label, IGNORE, "sigmoid_present").item()
    assert got == pytest.approx(expected, abs=1e-6) and got == pytest.approx(0.254902, abs=1e-6)


# ---- L_rd --------------------------------------------------------------------------------------
# Six pixels, K = 2. Teacher logits -> softmax p; student logits -> softmax q.
TEACHER = [[0, 0], [LN3, 0], [LN3, 0], [0, 0], [0, LN3], [math.log(9), 0]]
STUDENT = [[0, 0], [0, LN3], [0, 0], [0, LN3], [0, 0], [LN3, 0]]
LABEL = [0, 0, 0, 1, 1, 1]
BOUNDARY = [True, True, False, True, False, False]
# per pixel -sum p log q:  .693147 1.111641 .693147 .836988 .693147 .397543
# teacher entropy H:       .693147  .562335 .562335 .693147 .562335 .325083
# -log q[label]:           .693147 1.386294 .693147 .287682 .693147 1.386294


def _rd_inputs():
    teacher = torch.tensor(TEACHER).t().reshape(1, 2, 1, 6)
    student = torch.tensor(STUDENT).t().reshape(1, 2, 1, 6)
    label = torch.tensor(LABEL).view(1, 1, 6)
    boundary = torch.tensor(BOUNDARY).view(1, 1, 6)
    return student, teacher, label, boundary


@pytest.mark.parametrize("switches, expected", [
    # Eq. 9: the plain mean of the six soft cross-entropies
    (dict(entropy=False, boundary=False, category=False), 0.737602),
    # entropy-weighted mean sum(l H) / sum(H)
    (dict(entropy=True, boundary=False, category=False), 0.763457),
    # Eq. 11 (paper): class 0 = (boundary {A,B} H-weighted .880592 + interior C .693147) / 2
    # = .786870; class 1 = (D .836988 + interior {E,F} H-weighted .584861) / 2 = .710924
    (dict(entropy=True, boundary=True, category=True), 0.748897),
    # Table 5 "-H": the same with unit weights
    (dict(entropy=False, boundary=True, category=True), 0.744469),
    # "-B": per-class H-weighted means, averaged
    (dict(entropy=True, boundary=False, category=True), 0.759018),
    # "-E": boundary and interior over all pixels
    (dict(entropy=True, boundary=True, category=False), 0.745972),
])
def test_response_distillation_by_hand(switches, expected):
    student, teacher, label, boundary = _rd_inputs()
    got = response_distillation(
        student, teacher, label, IGNORE, entropy=switches["entropy"],
        boundary=boundary if switches["boundary"] else None, category=switches["category"])
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_count_normalised_response_distillation_by_hand():
    # (rd_normalise="count", the cac preset's approximation; the released code divides by the
    # summed weights, checked against the authors' numbers in test_ssa_released_golden.py)
    # target .5 softmax(teacher) + .5 onehot: per-pixel loss .5 soft CE + .5 (-log q[label]);
    # weight H; per region the mean of l*H over its pixel count; class 0 = .490588,
    # class 1 = .364823
    student, teacher, label, boundary = _rd_inputs()
    got = response_distillation(student, teacher, label, IGNORE, onehot_mix=0.5, entropy=True,
                                boundary=boundary, category=True, normalise="count")
    assert got.item() == pytest.approx(0.427706, abs=1e-5)


def test_cac_distillation_by_hand():
    student, teacher, label, _ = _rd_inputs()
    got = response_distillation(student, teacher, label, IGNORE, onehot_mix=0.5, entropy=True,
                                boundary=None, category=True, normalise="count")
    assert got.item() == pytest.approx(0.440347, abs=1e-5)


def test_response_distillation_leaves_ignored_pixels_out_and_trains_only_the_student():
    student, teacher, label, boundary = _rd_inputs()
    wide = lambda t, fill: torch.cat([t, torch.full_like(t[..., :1], fill)], dim=-1)  # noqa: E731
    student2 = wide(student, 3.0).requires_grad_()
    teacher2 = wide(teacher, -2.0).requires_grad_()
    label2 = wide(label, IGNORE)
    boundary2 = wide(boundary, True)
    got = response_distillation(student2, teacher2, label2, IGNORE, boundary=boundary2)
    assert got.item() == pytest.approx(0.748897, abs=1e-5)
    got.backward()
    assert teacher2.grad is None and student2.grad[..., -1].abs().sum() == 0


# ---- L_sd --------------------------------------------------------------------------------------
# Student S_p rows (1,0), (0,1), (1,1); teacher rows (1,0), (0,1), (0,-1).
SD_STUDENT = [[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]
SD_TEACHER = [[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]


def test_relation_distillation_by_hand():
    # M = row-softmax of the Gram matrix [[1,0,1],[0,1,1],[1,1,2]]:
    #   [[.4223,.1554,.4223],[.1554,.4223,.4223],[.2119,.2119,.5761]]
    # M-hat of [[1,0,0],[0,1,-1],[0,-1,1]]:
    #   [[.5761,.2119,.2119],[.2447,.6652,.0900],[.2447,.0900,.6652]]
    # Lambda keeps the positive off-diagonal entries of M - M-hat:
    #   (0,2) .2104, (1,2) .3323, (2,1) .1219 -> sum .6646 / K=3 = .221525
    student, teacher = torch.tensor(SD_STUDENT), torch.tensor(SD_TEACHER)
    assert relation_distillation(student, teacher).item() == pytest.approx(0.221525, abs=1e-5)


def test_relation_distillation_is_one_sided():
    # Eq. 14's mask drops where the student is already farther apart than the teacher:
    # swapping the roles keeps other entries ((0,1) .0565, (1,0) .0892, (2,0) .0328)
    student, teacher = torch.tensor(SD_STUDENT), torch.tensor(SD_TEACHER)
    swapped = relation_distillation(teacher.unsqueeze(0), student[0]).item()
    assert swapped == pytest.approx(0.059577, abs=1e-5)


def test_released_relation_distillation_by_hand():
    # cosine relations (rows normalised: (1,1) -> (.7071,.7071)), times 15, row softmax
    student, teacher = torch.tensor(SD_STUDENT), torch.tensor(SD_TEACHER)
    got = relation_distillation(student, teacher, relation="cosine", scale=15.0, detach_key=True)
    assert got.item() == pytest.approx(0.016179, abs=1e-5)


def test_released_relation_distillation_detaches_the_key():
    student = torch.tensor(SD_STUDENT, requires_grad=True)
    loss = relation_distillation(student, torch.tensor(SD_TEACHER), relation="cosine",
                                 scale=15.0, detach_key=True)
    (grad,) = torch.autograd.grad(loss, student)
    full = torch.tensor(SD_STUDENT, requires_grad=True)
    (grad_full,) = torch.autograd.grad(relation_distillation(full, torch.tensor(SD_TEACHER),
                                                             relation="cosine", scale=15.0),
                                       full)
    assert not torch.allclose(grad, grad_full)


# ---- L_pd --------------------------------------------------------------------------------------
def test_spatial_distillation_by_hand():
    # class 0: P_p (0, ln3) -> (.25, .75), P_p-hat (0, 0) -> (.5, .5)
    # class 1: P_p (0, 0) -> (.5, .5),   P_p-hat (ln3, 0) -> (.75, .25)
    student = torch.tensor([[[0.0, LN3], [0.0, 0.0]]])
    teacher = torch.tensor([[[0.0, 0.0], [LN3, 0.0]]])
    # Eq. 16 as printed: -sum softmax(P_p) log softmax(P_p-hat):
    #   class 0: ln 2 = .693147; class 1: -(.5 ln .75 + .5 ln .25) = .836988
    assert spatial_distillation(student, teacher, "eq16").item() == pytest.approx(
        (0.693147 + 0.836988) / 2, abs=1e-5)
    # released: -sum softmax(P_p-hat) log softmax(P_p):
    #   class 0: -(.5 ln .25 + .5 ln .75) = .836988; class 1: ln 2 = .693147
    assert spatial_distillation(student, teacher, "soft_ce").item() == pytest.approx(
        (0.836988 + 0.693147) / 2, abs=1e-5)


def _reference_l_pd(outside: np.ndarray, inside: np.ndarray) -> float:
    """-(1/K) sum_i sum_j softmax(outside)^{ij} log softmax(inside)^{ij}, averaged over images."""
    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return float(-(softmax(outside) * np.log(softmax(inside))).sum(axis=-1).mean())


def test_spatial_distillation_keeps_student_and_teacher_apart():
    # The fixture above is symmetric (swapping P_p and P_p-hat gives the same value), so a swap of
    # the roles would pass it. Here: K=2 classes, D=3 channels, nothing mirrored.
    # class 0: softmax(P_p) = (1,2,1)/4, softmax(P_p-hat) = (1,1,1)/3
    # class 1: softmax(P_p) = (1,1,1)/3, softmax(P_p-hat) = (1,2,5)/8
    student = np.array([[[0.0, math.log(2), 0.0], [0.0, 0.0, 0.0]]])
    teacher = np.array([[[0.0, 0.0, 0.0], [0.0, math.log(2), math.log(5)]]])
    # Eq. 16 as printed, by hand: class 0: ln 3 = 1.098612;
    #   class 1: -(1/3)(ln 1/8 + ln 2/8 + ln 5/8) = 1.311913  -> mean 1.205263
    # the roles swapped (released soft_ce) give class 0: -(1/3)(ln .25 + ln .5 + ln .25) = 1.155245,
    #   class 1: -(1/8 + 2/8 + 5/8) ln(1/3) = 1.098612 -> mean 1.126929
    eq16 = _reference_l_pd(student, teacher)
    soft_ce = _reference_l_pd(teacher, student)
    assert eq16 == pytest.approx(1.205263, abs=1e-5)
    assert soft_ce == pytest.approx(1.126929, abs=1e-5)
    got_eq16 = spatial_distillation(torch.tensor(student), torch.tensor(teacher), "eq16").item()
    got_soft_ce = spatial_distillation(torch.tensor(student), torch.tensor(teacher),
                                       "soft_ce").item()
    assert got_eq16 == pytest.approx(eq16, abs=1e-6)
    assert got_soft_ce == pytest.approx(soft_ce, abs=1e-6)


def test_spatial_distillation_trains_only_the_student():
    student = torch.randn(2, 3, 4, requires_grad=True)
    teacher = torch.randn(2, 3, 4, requires_grad=True)
    for form in ("eq16", "soft_ce"):
        spatial_distillation(student, teacher, form).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


# ---- degenerate labels -------------------------------------------------------------------------
@pytest.mark.parametrize("fill", [IGNORE, 2])
def test_losses_are_finite_on_all_ignore_and_one_class_labels(fill):
    logits = torch.randn(2, 4, 6, 6, requires_grad=True)
    teacher = torch.randn(2, 4, 6, 6)
    label = torch.full((2, 6, 6), fill, dtype=torch.long)
    boundary = boundary_mask(label, 4)
    terms = [dice_loss(logits, label, IGNORE, "vnet"),
             dice_loss(logits, label, IGNORE, "sigmoid_present")]
    for mix, normalise in ((0.0, "weight"), (0.5, "count")):
        terms.append(response_distillation(logits, teacher, label, IGNORE, onehot_mix=mix,
                                           boundary=boundary, normalise=normalise))
    total = sum(terms)
    total.backward()
    assert all(torch.isfinite(t) for t in terms)
    assert torch.isfinite(logits.grad).all()
    if fill == IGNORE:
        # nothing to learn from: the response distillation is exactly 0
        assert terms[2].item() == 0 and terms[3].item() == 0
