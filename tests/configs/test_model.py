"""The one model-config builder (configs/model.py): what training composes and measuring builds."""
from __future__ import annotations

import sys
import types

import pytest

import ssa_bench.classifier_settings as classifier_settings
from ssa_bench.classifier_settings.ssa import SSASettings, resolve_settings
from ssa_bench.configs import build_mmseg_config, build_model_config
from ssa_bench.configs.classifier_wiring import CLASSIFIERS_IMPORT, SSA_IMPORT
from ssa_bench.errors import UserError

SSA_ON = SSASettings.from_spec({"enabled": True, "variant": "paper"}).to_dict()


def run_config(**overrides) -> dict:
    config = {
        "baseline": "segformer_mini", "dataset": "demo_shapes", "dataset_def": None,
        "ssa": {"enabled": False},
        "train": {"max_iters": 10, "batch_size": 2, "crop_size": [64, 48], "val_interval": 10,
                  "checkpoint_interval": 10, "lr": None, "num_workers": 0, "device": "cpu",
                  "pretrained": None},
        "cfg": {}, "seed": 0,
    }
    config.update(overrides)
    return config


@pytest.fixture(autouse=True)
def single_process(monkeypatch, tmp_path):
    for var in ("SSA_BENCH_LAUNCHER", "WORLD_SIZE", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SSA_BENCH_DATA", str(tmp_path / "data"))


def _last_head(model: dict) -> dict:
    heads = model["decode_head"]
    return heads[-1] if isinstance(heads, list) else heads


@pytest.mark.parametrize("overrides", [
    {},
    {"ssa": SSA_ON},
    {"cfg": {"model.decode_head.channels": 32, "train_dataloader.batch_size": 4}},
    {"evaluate": {"aug_test": False, "test_mode": "slide"}},
], ids=["plain", "ssa", "model-override", "slide"])
def test_training_and_measuring_build_the_same_model(tmp_path, overrides):
    config = run_config(**overrides)
    composed = build_mmseg_config(config, str(tmp_path / "work_dir"))
    model, imports = build_model_config(config)
    assert composed.model.to_dict() == model
    assert set(imports) <= set(composed.custom_imports.imports)


def test_crop_classes_and_test_mode_come_from_the_run(tmp_path):
    model, _ = build_model_config(run_config(evaluate={"aug_test": False, "test_mode": "slide"}))
    assert tuple(model["data_preprocessor"]["size"]) == (64, 48)
    assert model["decode_head"]["num_classes"] == 8
    assert model["test_cfg"] == {"mode": "slide", "crop_size": (64, 48), "stride": (42, 32)}
    inline = run_config(dataset="my_data", dataset_def={"root": str(tmp_path), "classes": ["a", "b", "c"],
                                                        "reduce_zero_label": False})
    assert build_model_config(inline)[0]["decode_head"]["num_classes"] == 3


def test_a_model_named_on_the_command_line_gets_its_datasets_paper_crop():
    config = {"baseline": "segformer_mini", "dataset": "pascal_context59", "dataset_def": None,
              "ssa": {"enabled": False}}
    model, _ = build_model_config(config)
    assert tuple(model["data_preprocessor"]["size"]) == (480, 480)
    assert model["decode_head"]["num_classes"] == 59


def test_model_overrides_are_applied_and_the_rest_left_to_the_composer():
    model, _ = build_model_config(run_config(cfg={"model.decode_head.channels": 32,
                                                  "train_dataloader.batch_size": 4}))
    assert model["decode_head"]["channels"] == 32
    assert build_model_config(run_config())[0]["decode_head"]["channels"] == 64


def test_ssa_block_wraps_the_head_and_adds_its_import():
    model, imports = build_model_config(run_config(ssa=SSA_ON))
    head = _last_head(model)
    assert head["type"] == "SSAHead" and head["ssa"]["enabled"] and head["head"]["num_classes"] == 8
    assert imports.count(SSA_IMPORT) == 1
    plain, plain_imports = build_model_config(run_config())
    assert _last_head(plain)["type"] != "SSAHead" and SSA_IMPORT not in plain_imports


def test_classifier_block_of_type_ssa_is_the_ssa_head():
    block = {"type": "ssa", **{k: v for k, v in SSA_ON.items() if k != "enabled"}}
    model, imports = build_model_config(run_config(classifier=block))
    assert model == build_model_config(run_config(ssa=SSA_ON))[0]
    assert SSA_IMPORT in imports


@pytest.fixture
def fake_classifier(monkeypatch):
    """A classifier type whose settings module exists only for this test (the comparators of
    Table 2 plug in the same way: a settings module named in CLASSIFIER_TYPES)."""
    module = types.ModuleType("fake_classifier_settings")

    class Settings:
        def __init__(self, prototypes):
            self.prototypes = prototypes

        def to_dict(self):
            return {"prototypes": self.prototypes}

    def resolve(block):
        unknown = set(block) - {"prototypes"}
        if unknown:
            raise classifier_settings.SettingsError(sorted(unknown)[0], "unknown key", "remove it")
        return Settings(int(block.get("prototypes", 10)))

    module.resolve = resolve
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(classifier_settings.CLASSIFIER_TYPES, "fake", module.__name__)
    return "fake"


def test_classifier_block_wraps_the_head_in_the_classifier_slot(fake_classifier):
    model, imports = build_model_config(run_config(classifier={"type": fake_classifier, "prototypes": 3}))
    head = _last_head(model)
    assert head["type"] == "ClassifierHead"
    assert head["classifier"] == {"type": "fake", "prototypes": 3}
    assert head["head"] == _last_head(build_model_config(run_config())[0])
    assert imports.count(CLASSIFIERS_IMPORT) == 1 and SSA_IMPORT not in imports


def test_a_bad_classifier_block_names_its_key(fake_classifier):
    with pytest.raises(UserError) as error:
        build_model_config(run_config(classifier={"type": "fake", "protoypes": 3}))
    assert error.value.key == "classifier.protoypes"
    with pytest.raises(UserError) as error:
        build_model_config(run_config(classifier={"type": "nope"}))
    assert error.value.key == "classifier.type"


def test_ssa_and_another_classifier_cannot_share_a_head(fake_classifier):
    with pytest.raises(UserError, match="both") as error:
        build_model_config(run_config(ssa=SSA_ON, classifier={"type": "fake"}))
    assert error.value.key == "classifier"


def test_ssa_settings_reach_the_head_resolved():
    # The run's ssa block reaches SSAHead resolved: its preset's values, then its explicit keys
    # (here one the paper preset sets otherwise).
    settings = {"enabled": True, "variant": "paper", "logits": "cosine"}
    model, imports = build_model_config(run_config(ssa=settings))
    head = _last_head(model)
    assert head["ssa"] == resolve_settings(settings).to_dict()
    assert head["ssa"]["logits"] == "cosine" and head["ssa"]["phi"] == "linear"     # explicit; the paper's
    assert imports[-1] == SSA_IMPORT


def test_unknown_dataset_is_a_user_error():
    with pytest.raises(UserError, match="unknown dataset 'nope'") as error:
        build_model_config(run_config(dataset="nope"))
    assert error.value.key == "dataset"
