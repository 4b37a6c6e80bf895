"""The SSA losses beyond cross-entropy (Eqs. 8-16 and the released code's forms).

Every function is vectorised over images and classes (per-class sums are ``scatter_add`` /
``index_add`` over the label, never a one-hot of K x H x W or a Python loop), stays finite when
a class is absent or every pixel is ignored, and treats teacher outputs as fixed targets
(detached), so only the student is pulled towards the teacher.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Denominators of per-region means: a region without pixels has a zero numerator as well.
_TINY = 1e-12


def _valid_labels(label: torch.Tensor, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    valid = label != ignore_index
    return valid, torch.where(valid, label, torch.zeros_like(label))


def dice_loss(logits: torch.Tensor, label: torch.Tensor, ignore_index: int,
              form: str = "vnet", ignored: str = "exclude") -> torch.Tensor:
    """Dice on (B, K, H, W) logits against a (B, H, W) label.

    ``vnet`` (the paper's [31]): softmax probabilities, per image and class
    1 - (2 sum(p t) + 1) / (sum p^2 + sum t^2 + 1), averaged over all images and classes.
    ``sigmoid_present`` (released, SL:76-91): sigmoid probabilities, 1 - (2 sum(p t) + 1) /
    (sum p + sum t + 1), summed over the (image, class) pairs whose class is in the image and
    divided by their number (at least 1).
    ``ignored``: ignored pixels are left out of every sum (``exclude``), or kept with a zero
    target for every class (``as_background``: the released targets are masks of the present
    classes over the whole image, so ignored and padded pixels count as negatives).
    """
    batch, classes = logits.shape[:2]
    valid, label = _valid_labels(label, ignore_index)
    if ignored == "exclude":
        counted = valid.unsqueeze(1)
    elif ignored == "as_background":
        counted = torch.ones_like(valid).unsqueeze(1)
    else:
        raise ValueError(f"unknown handling of ignored pixels {ignored!r}")
    if form == "vnet":
        probs = logits.softmax(dim=1)
        prob_sum = (probs * probs * counted).sum(dim=(2, 3))
    elif form == "sigmoid_present":
        probs = logits.sigmoid()
        prob_sum = (probs * counted).sum(dim=(2, 3))
    else:
        raise ValueError(f"unknown dice form {form!r}")
    true_prob = probs.gather(1, label.unsqueeze(1)).squeeze(1) * valid
    index = label.flatten(1)
    overlap = logits.new_zeros(batch, classes).scatter_add(1, index, true_prob.flatten(1))
    count = logits.new_zeros(batch, classes).scatter_add(1, index, valid.flatten(1).to(logits.dtype))
    dice = 1 - (2 * overlap + 1) / (prob_sum + count + 1)
    if form == "vnet":
        return dice.mean()
    present = (count > 0).to(dice.dtype)
    return (dice * present).sum() / present.sum().clamp_min(1)


def mean_non_ignored_ce(logits: torch.Tensor, label: torch.Tensor,
                        ignore_index: int) -> torch.Tensor:
    """Cross-entropy averaged over the labelled pixels (``nn.CrossEntropyLoss(ignore_index)``),
    except that an all-ignored batch gives 0 instead of 0/0 = nan."""
    per_pixel = F.cross_entropy(logits, label, ignore_index=ignore_index, reduction="none")
    labelled = (label != ignore_index).sum()
    return per_pixel.sum() / labelled.clamp_min(1)


def response_distillation(student: torch.Tensor, teacher: torch.Tensor, label: torch.Tensor,
                          ignore_index: int, *, onehot_mix: float = 0.0, entropy: bool = True,
                          boundary: torch.Tensor | None = None, category: bool = True,
                          normalise: str = "weight") -> torch.Tensor:
    """L_rd (Eqs. 8-12) for (B, K, H, W) logits and a (B, H, W) label at the same size.

    Per pixel: soft cross-entropy of the student against
    ``(1 - onehot_mix) softmax(teacher) + onehot_mix onehot(label)``, weighted by the teacher's
    entropy when ``entropy`` (H). Pixels are grouped by class when ``category`` (E, else one
    group) and split into ``boundary`` / interior when a mask is given (B); each group's value is
    the mean of its regions' means (a region without pixels counts 0, as 0/eps in Eq. 10), and
    the loss is the mean over groups with at least one pixel. A region's mean divides by its
    summed weights (``"weight"``, Eq. 11 and the released code, SF:360-364) or its pixel count
    (``"count"``, the ``cac`` preset's approximation).
    """
    classes = student.shape[1]
    valid, label = _valid_labels(label, ignore_index)
    log_q = student.log_softmax(dim=1)
    with torch.no_grad():
        log_p = teacher.detach().log_softmax(dim=1)
        p = log_p.exp()
    per_pixel = -(p * log_q).sum(dim=1)
    if onehot_mix > 0:
        hard = -log_q.gather(1, label.unsqueeze(1)).squeeze(1)
        per_pixel = (1 - onehot_mix) * per_pixel + onehot_mix * hard
    if entropy:
        weight = -(p * log_p).sum(dim=1)
    else:
        weight = torch.ones_like(per_pixel)
    weight = weight * valid
    groups = label if category else torch.zeros_like(label)
    n_groups = classes if category else 1
    n_regions = 1 if boundary is None else 2
    # bin = group * regions + region (region 0: boundary, 1: interior)
    bins = groups * n_regions
    if boundary is not None:
        bins = bins + (~boundary).long()
    bins = bins.flatten()
    n_bins = n_groups * n_regions
    numerator = per_pixel.new_zeros(n_bins).index_add(0, bins, (per_pixel * weight).flatten())
    if normalise == "weight":
        denominator = weight.new_zeros(n_bins).index_add(0, bins, weight.flatten())
    elif normalise == "count":
        denominator = weight.new_zeros(n_bins).index_add(0, bins, valid.flatten().to(weight.dtype))
    else:
        raise ValueError(f"unknown normalisation {normalise!r}")
    region_mean = (numerator / denominator.clamp_min(_TINY)).view(n_groups, n_regions)
    group_value = region_mean.mean(dim=1)
    pixels = valid.flatten().to(weight.dtype)
    present = weight.new_zeros(n_bins).index_add(0, bins, pixels).view(n_groups, n_regions).sum(1) > 0
    present = present.to(group_value.dtype)
    return (group_value * present).sum() / present.sum().clamp_min(1)


def relation_distillation(student: torch.Tensor, teacher: torch.Tensor, *, relation: str = "dot",
                          scale: float = 1.0, detach_key: bool = False) -> torch.Tensor:
    """L_sd (Eqs. 13-15): one-sided inter-class relation distillation.

    ``student`` (B, K, D) adapted semantic prototypes S_p, ``teacher`` (K, D) or (B, K, D) the
    teacher's S_p-hat. M = row-softmax(scale * a b^T) with a = b = the prototypes (``cosine``:
    L2-normalised first; ``detach_key``: the student's b is detached, as in the released code);
    Lambda zeroes the diagonal and the negative entries of M - M-hat; the loss is
    (1/K) sum_ij, averaged over images.
    """
    teacher = teacher.detach()
    if relation == "cosine":
        student = F.normalize(student, dim=-1)
        teacher = F.normalize(teacher, dim=-1)
    elif relation != "dot":
        raise ValueError(f"unknown relation {relation!r}")
    key = student.detach() if detach_key else student
    relation_student = (scale * student @ key.transpose(-1, -2)).softmax(dim=-1)
    relation_teacher = (scale * teacher @ teacher.transpose(-1, -2)).softmax(dim=-1)
    classes = student.shape[-2]
    off_diagonal = 1 - torch.eye(classes, device=student.device, dtype=student.dtype)
    difference = F.relu(relation_student - relation_teacher) * off_diagonal
    return difference.sum(dim=-1).mean()


def spatial_distillation(student: torch.Tensor, teacher: torch.Tensor,
                         form: str = "eq16") -> torch.Tensor:
    """L_pd (Eq. 16) between (B, K, D) spatial prototypes P_p and the teacher's P_p-hat.

    ``eq16`` as printed: -(1/K) sum_ij softmax(P_p) log softmax(P_p-hat) (the student's
    distribution outside the log); ``soft_ce`` (released): -(1/K) sum_ij softmax(P_p-hat)
    log softmax(P_p). Softmax over the D channels; averaged over images.
    """
    teacher = teacher.detach()
    if form == "eq16":
        terms = student.softmax(dim=-1) * teacher.log_softmax(dim=-1)
    elif form == "soft_ce":
        terms = teacher.softmax(dim=-1) * student.log_softmax(dim=-1)
    else:
        raise ValueError(f"unknown L_pd form {form!r}")
    return -terms.sum(dim=-1).mean()
