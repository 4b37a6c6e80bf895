"""The switches of the SSA classifier, as plain data (no torch), so specs validate fast.

A spec's ``ssa:`` block is checked against :class:`SSASettings` (unknown key -> error naming it);
the model builder consumes the same object. ``variant`` selects a preset (``released``, the default,
or ``paper``, see :data:`PRESETS`); any field set explicitly overrides the preset's value for that
field. :func:`resolve_settings` does both; its ``to_dict()`` is what a run's id hashes, so every
detail that changes training is a field here.

Field names here are the public vocabulary of the spec files: renaming one breaks specs.
What each field means, and why the presets differ, is in docs/ssa.md.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

from ssa_bench.classifier_settings.fields import SettingsError, resolve_fields

Variant = Literal["paper", "released"]


@dataclass(frozen=True)
class SSASettings:
    """Defaults are the ``released`` preset, the SSA head of the authors' released code (issue 22);
    ``variant: paper`` gives the equations as arXiv 2405.06525 prints them."""

    LABEL: ClassVar[str] = "SSA"

    enabled: bool = False
    variant: Variant = "released"
    # Structure (Table 3, 6, 7)
    sepa: bool = True                     # semantic prototype adaptation
    sppa: bool = True                     # spatial prototype adaptation
    pe: Literal["cpvt", "sinusoidal", "learnable"] = "cpvt"
    centre_softmax: Literal["hw", "k"] = "hw"   # softmax axis for the spatial centre P_c
    # Loss weights (Tables 3, 4); 0 switches a term off. The teacher branch is built in training
    # only, and only when one of w_g, w_rd, w_sd, w_pd is non-zero.
    w_g: float = 1.0
    w_rd: float = 1.0
    w_sd: float = 10.0
    w_pd: float = 0.4
    # L_rd design (Tables 5, 8)
    rd_entropy: bool = True               # H
    rd_boundary: bool = True              # B
    rd_category: bool = True              # E
    edge_size: int = 3
    # ---- where the paper and the authors' released code differ (docs/ssa.md, "Presets") ----
    # Logits: "dot" = Eq. 2's inner product; "cosine" = L2-normalised features and prototypes
    # times logit_scale.
    logits: Literal["dot", "cosine"] = "cosine"
    logit_scale: float = 15.0
    proto_proj: bool = True               # bias-free Linear(C, C) on S_p + P_p before the logits
    # phi_s / phi_p: "linear" = one 1x1 conv (Linear(2C, C)); "mlp" = Linear(2C, C/2, no bias)
    # -> ReLU -> Linear(C/2, C).
    phi: Literal["linear", "mlp"] = "mlp"
    # Input order of the student's phi_p and of the teacher's: the released code feeds the
    # student [P, P_c] and the teacher [P_c-hat, P].
    sppa_concat: Literal["centre_basis", "basis_centre"] = "basis_centre"
    teacher_sppa_concat: Literal["centre_basis", "basis_centre"] = "centre_basis"
    pe_residual: bool = False             # P_f = S_f + PE(S_f) instead of PE(S_f) (in no preset)
    w_coarse: float = 1.0                 # CE on the coarse mask M_c
    # The CE of M_c and of O-hat: the head's own loss_decode (mmseg: mean over all pixels) or a
    # plain CE averaged over the labelled pixels only (released: nn.CrossEntropyLoss).
    aux_ce: Literal["head_loss", "mean_non_ignored"] = "mean_non_ignored"
    # The Dice term of L_c and L_g.
    dice: Literal["vnet", "sigmoid_present", "none"] = "sigmoid_present"
    # Ignored pixels in the Dice sums: left out, or kept with a zero target for every class (the
    # released code builds its targets as masks of the present classes over the whole image).
    dice_ignored: Literal["exclude", "as_background"] = "as_background"
    # Where the terms SSA adds to the head's CE (Dice, coarse CE, teacher CE and Dice) compare
    # with the label: at the classifier's resolution (label resized by nearest) or upsampled to
    # the label's, as the head's own CE. The main CE is always the head's, at label resolution.
    extra_loss_resolution: Literal["feature", "label"] = "label"
    # align_corners of every upsampling of student, coarse and teacher logits to the label size
    # before a loss: the head's own setting, or always True (released code).
    upsample_align_corners: Literal["head", "true"] = "true"
    # Teacher semantic centre behind O-hat: per image, or pooled over the batch (L_sd always
    # uses the batch-pooled one, as the paper says under Eq. 15).
    teacher_semantic_pool: Literal["image", "batch"] = "batch"
    # L_rd: target = (1 - rd_onehot_mix) softmax(O-hat) + rd_onehot_mix onehot(GT); a region's
    # mean divides by its summed entropy weights ("weight", Eq. 11) or its pixel count ("count").
    rd_onehot_mix: float = 0.5
    rd_normalise: Literal["weight", "count"] = "weight"
    rd_resolution: Literal["feature", "label"] = "feature"
    # Boundary B: one-pixel label changes dilated symmetrically to edge_size ("label_edges"), or
    # OpenCV's Canny on the label map followed by cv2.dilate (released code).
    boundary_operator: Literal["label_edges", "canny"] = "canny"
    edge_border: int = 6                  # edges within this many pixels of the image border dropped
    # L_sd relation matrices: softmax(sd_scale * a b^T) of raw ("dot") or L2-normalised ("cosine")
    # prototypes; sd_detach_key: the student's b is detached.
    sd_relation: Literal["dot", "cosine"] = "cosine"
    sd_scale: float = 15.0
    sd_detach_key: bool = True
    # L_pd: "eq16" = -sum softmax(P_p) log softmax(P_p-hat) as printed; "soft_ce" = the teacher's
    # softmax as the target of the student's log-softmax.
    pd_form: Literal["eq16", "soft_ce"] = "soft_ce"

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        return {f.name: f.type for f in fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_spec(cls, block: dict[str, Any] | None) -> "SSASettings":
        """Build from a spec's ``ssa:`` block: the variant's preset plus the explicit keys.

        Raises ``SSASettingsError(key, message, fix)`` for an unknown key or a value of the wrong
        type, so the spec loader can name the file and key path.
        """
        return resolve_settings(block)

    @property
    def teacher_enabled(self) -> bool:
        """Whether training builds and runs the teacher classifier."""
        adapts = self.sepa or self.sppa
        return adapts and any(w > 0 for w in (self.w_g, self.w_rd, self.w_sd, self.w_pd))


# Every field where the two presets differ, with each preset's value; a field not listed here has
# one value in both (the dataclass default). A block that names no variant gets the dataclass's
# default variant, ``released``, whose values are also the dataclass defaults (tested).
PRESETS: dict[str, dict[str, Any]] = {
    # The authors' code (github.com/xwmaxwma/SSA @650c30d, the golden fixture's source; the SF
    # lines cited hold in xwmaxwma/SSA-Seg @e67fc2f too. SF = models/decode_heads/
    # segformer_head_ssa.py, SL = models/losses/ssa_loss.py), line by line in docs/ssa.md.
    "released": {
        "logits": "cosine", "logit_scale": 15.0, "proto_proj": True, "phi": "mlp",
        "sppa_concat": "basis_centre", "teacher_sppa_concat": "centre_basis",
        "pe_residual": False, "w_coarse": 1.0, "aux_ce": "mean_non_ignored",
        "dice": "sigmoid_present", "dice_ignored": "as_background",
        "extra_loss_resolution": "label", "upsample_align_corners": "true",
        "teacher_semantic_pool": "batch",
        "rd_onehot_mix": 0.5, "rd_normalise": "weight", "rd_resolution": "feature",
        "boundary_operator": "canny", "edge_size": 3, "edge_border": 6,
        "sd_relation": "cosine", "sd_scale": 15.0, "sd_detach_key": True, "w_sd": 10.0,
        "pd_form": "soft_ce", "w_pd": 0.4,
    },
    # The equations of arXiv 2405.06525 as printed (Eqs. 2, 9-16; Sec. 4.2's weights of 1).
    "paper": {
        "logits": "dot", "logit_scale": 15.0, "proto_proj": False, "phi": "linear",
        "sppa_concat": "centre_basis", "teacher_sppa_concat": "centre_basis",
        "pe_residual": False, "w_coarse": 0.0, "aux_ce": "head_loss",
        "dice": "vnet", "dice_ignored": "exclude",
        "extra_loss_resolution": "feature", "upsample_align_corners": "head",
        "teacher_semantic_pool": "image",
        "rd_onehot_mix": 0.0, "rd_normalise": "weight", "rd_resolution": "feature",
        "boundary_operator": "label_edges", "edge_size": 4, "edge_border": 0,
        "sd_relation": "dot", "sd_scale": 1.0, "sd_detach_key": False, "w_sd": 1.0,
        "pd_form": "eq16", "w_pd": 1.0,
    },
}

# The ``ssa:`` block of every run without SSA (the spec loader puts it there, and a run's id
# hashes it). Switched off, the other fields change nothing; they keep the values the default had
# before ``released`` became it, so the ids of runs without SSA recorded before issue 22 still
# find their results.
DISABLED_BLOCK: dict[str, Any] = {"enabled": False, "variant": "paper"}


# The SSA name of the shared error (spec loader, tests and users catch it by this name).
SSASettingsError = SettingsError

_RANGES = {**{key: ">=0" for key in ("w_g", "w_rd", "w_sd", "w_pd", "w_coarse", "edge_border")},
           **{key: ">0" for key in ("edge_size", "logit_scale", "sd_scale")},
           "rd_onehot_mix": (0.0, 1.0)}


def resolve_settings(block: dict[str, Any] | None) -> SSASettings:
    """The settings of a spec's ``ssa:`` block: ``variant``'s preset, then the explicit keys.

    A fully resolved dict (``SSASettings.to_dict()``) resolves to itself. Raises
    :class:`SettingsError` on an unknown key, a value of the wrong type or out of range.
    """
    return resolve_fields(SSASettings, block, PRESETS, _RANGES)


# The common entry point of every classifier's settings module (ssa_bench.classifier_settings).
resolve = resolve_settings
