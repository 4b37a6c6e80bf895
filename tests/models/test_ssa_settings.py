"""SSA settings: presets, explicit overrides, validation, hashing stability, no torch."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ssa_bench.classifier_settings.ssa import (PRESETS, SSASettings, SSASettingsError,
                                           resolve_settings)


def test_paper_preset_is_the_dataclass_defaults():
    assert resolve_settings({}) == SSASettings()
    assert resolve_settings({"variant": "paper"}).to_dict() == SSASettings().to_dict()


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
            "from ssa_bench.configs.classifier import apply_ssa; from ssa_bench.classifier_settings.ssa import resolve_settings; "
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
