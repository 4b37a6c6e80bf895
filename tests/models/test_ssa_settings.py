"""SSA settings: presets, explicit overrides, validation, hashing stability, no torch."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ssa_bench.classifier_settings.ssa import (DISABLED_BLOCK, PRESETS, SSASettings,
                                           SSASettingsError, resolve_settings)

# Every setting of the equations as printed (arXiv 2405.06525): the values an `ssa:` block without
# a variant resolved to before issue 22 made `released` the default. Written out here, not read
# from the code under test.
PAPER_EQUATIONS = {
    "variant": "paper", "sepa": True, "sppa": True, "pe": "cpvt", "centre_softmax": "hw",
    "w_g": 1.0, "w_rd": 1.0, "w_sd": 1.0, "w_pd": 1.0, "rd_entropy": True, "rd_boundary": True,
    "rd_category": True, "edge_size": 4, "logits": "dot", "logit_scale": 15.0,
    "proto_proj": False, "phi": "linear", "sppa_concat": "centre_basis",
    "teacher_sppa_concat": "centre_basis", "pe_residual": False, "w_coarse": 0.0,
    "aux_ce": "head_loss", "dice": "vnet", "dice_ignored": "exclude",
    "extra_loss_resolution": "feature", "upsample_align_corners": "head",
    "teacher_semantic_pool": "image", "rd_onehot_mix": 0.0, "rd_normalise": "weight",
    "rd_resolution": "feature", "boundary_operator": "label_edges", "edge_border": 0,
    "sd_relation": "dot", "sd_scale": 1.0, "sd_detach_key": False, "pd_form": "eq16",
}


def test_the_default_is_the_released_preset():
    """Issue 22: a block that names no variant trains the authors' released head."""
    default = resolve_settings({"enabled": True})
    assert default.variant == "released"
    assert default == resolve_settings({"enabled": True, "variant": "released"})
    assert resolve_settings({}) == SSASettings()       # the dataclass defaults are that preset


def test_the_paper_preset_is_the_equations_as_printed():
    paper = resolve_settings({"enabled": True, "variant": "paper"}).to_dict()
    assert paper == {"enabled": True, **PAPER_EQUATIONS}


def test_both_presets_set_every_field_where_they_differ():
    assert set(PRESETS) == {"paper", "released"}
    assert set(PRESETS["paper"]) == set(PRESETS["released"])
    paper = resolve_settings({"variant": "paper"}).to_dict()
    released = resolve_settings({"variant": "released"}).to_dict()
    differ = {key for key in paper if paper[key] != released[key]} - {"variant"}
    assert differ <= set(PRESETS["released"])
    # 11 of the 13 SSA-head items of issue 22's audit, as fields
    assert {"logits", "w_coarse", "rd_onehot_mix", "sd_relation", "w_sd", "pd_form", "w_pd",
            "boundary_operator", "dice", "phi", "proto_proj"} <= differ


def test_runs_without_ssa_keep_the_block_they_had_before_the_default_changed():
    """A run without SSA hashes DISABLED_BLOCK; it must resolve to what `{}` resolved to before
    issue 22 (the paper equations, switched off), or every baseline result would be orphaned."""
    assert resolve_settings(DISABLED_BLOCK).to_dict() == {"enabled": False, **PAPER_EQUATIONS}


def test_released_preset_values_unless_set_explicitly():
    released = resolve_settings({"enabled": True, "variant": "released"})
    assert (released.w_sd, released.w_pd, released.edge_size, released.edge_border) == (10, 0.4, 3, 6)
    assert (released.logits, released.phi, released.dice) == ("cosine", "mlp", "sigmoid_present")
    assert released.sppa_concat == "basis_centre" and released.teacher_sppa_concat == "centre_basis"
    assert not released.pe_residual and released.proto_proj
    assert (released.rd_normalise, released.aux_ce, released.dice_ignored) == (
        "weight", "mean_non_ignored", "as_background")
    assert (released.boundary_operator, released.upsample_align_corners) == ("canny", "true")
    overridden = resolve_settings({"variant": "released", "w_sd": 2, "edge_size": 5})
    assert overridden.w_sd == 2.0 and overridden.edge_size == 5
    assert overridden.w_pd == 0.4          # the rest of the preset stays


def test_cac_is_a_classifier_of_its_own_not_an_ssa_preset():
    # The approximation `variant: cac` is gone: CAC runs as its authors' method
    # (classifier: {type: cac}, tests/models/test_cac_golden.py).
    with pytest.raises(SSASettingsError):
        resolve_settings({"variant": "cac"})


def test_every_preset_key_is_a_field():
    for variant, values in PRESETS.items():
        assert set(values) <= set(SSASettings.field_names()), variant
        resolve_settings({"variant": variant})


def test_resolving_a_resolved_dict_is_the_identity():
    for variant in PRESETS:
        resolved = resolve_settings({"variant": variant, "enabled": True}).to_dict()
        assert resolve_settings(resolved).to_dict() == resolved


def test_ints_for_floats_hash_like_floats():
    a = resolve_settings({"w_sd": 10}).to_dict()
    b = resolve_settings({"w_sd": 10.0}).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert isinstance(a["w_sd"], float)


@pytest.mark.parametrize("block, key", [
    ({"sepaa": True}, "sepaa"),
    ({"sepa": "yes"}, "sepa"),
    ({"pe": "rope"}, "pe"),
    ({"variant": "official"}, "variant"),
    ({"edge_size": 2.5}, "edge_size"),
    ({"w_rd": -1}, "w_rd"),
    ({"edge_size": 0}, "edge_size"),
    ({"rd_onehot_mix": 1.5}, "rd_onehot_mix"),
])
def test_bad_blocks_name_the_key_and_a_fix(block, key):
    with pytest.raises(SSASettingsError) as error:
        resolve_settings(block)
    assert error.value.key == key and error.value.fix


def test_from_spec_applies_the_preset():
    assert SSASettings.from_spec({"variant": "released"}).w_sd == 10.0


def test_teacher_is_needed_only_with_an_adaptation_and_a_teacher_loss():
    assert resolve_settings({}).teacher_enabled
    assert not resolve_settings({"w_g": 0, "w_rd": 0, "w_sd": 0, "w_pd": 0}).teacher_enabled
    assert not resolve_settings({"sepa": False, "sppa": False}).teacher_enabled


def test_importing_settings_and_apply_ssa_does_not_import_torch():
    code = ("import sys; import ssa_bench.classifier_settings.ssa; "
            "from ssa_bench.configs.classifier_wiring import apply_ssa; "
            "from ssa_bench.classifier_settings.ssa import resolve_settings; "
            "print('torch' in sys.modules or 'mmseg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_docs_list_every_difference_of_the_released_preset():
    from pathlib import Path

    from ssa_bench.classifier_settings.ssa import PRESETS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ssa.md").read_text()
    undocumented = [key for key in PRESETS["released"] if f"`{key}`" not in doc]
    assert not undocumented, f"docs/ssa.md does not name: {undocumented}"
