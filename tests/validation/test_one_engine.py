"""Issue 26 items 1 and 4: one validation engine, each fact in one table, one YAML reader.

For every fact that used to be written twice or more (the nested-key table, count limits, the
device and test-mode values, the SLURM row keys), changing its one table changes every check that
read a copy: a row, an axis value, ``--set``, and for SLURM keys the cluster profile's merge of a
row. The old copies disagreed; the disagreements found are pinned here too.
"""
from __future__ import annotations

import pytest

from ssa_bench.errors import DataError, SpecError, UserError
from ssa_bench.executors.cluster_profiles import job_resources, load_profile
from ssa_bench.matrix import load_spec
from ssa_bench.matrix.overrides import parse_overrides
from ssa_bench.validation.rules import Field
from ssa_bench.vocabulary import slurm_keys, spec_keys

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"
GPU_PROFILE = "partition: gpu\ngpus_per_node: 8\ngpus: 4\ntime: '24:00:00'\nsignal_delay_s: 300\n"


def _spec(tmp_path, text: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return str(path)


def _doors(tmp_path, key: str, value: str):
    """(door, what happened) for one value written as a row value, an axis value and a --set."""
    head, _, sub = key.partition(".")
    outcomes = {}
    attempts = {
        "row": (BASE + f"rows: [{{label: a, {head}: {{{sub}: {value}}}}}]\n", ()),
        "axis": (BASE + f"rows: [{{label: a}}]\naxes: {{{key}: [{value}]}}\n", ()),
        "--set": (BASE + "rows: [{label: a}]\n", (f"{key}={value}",)),
    }
    for door, (text, overrides) in attempts.items():
        try:
            load_spec(_spec(tmp_path, text), overrides=overrides)
            outcomes[door] = "ok"
        except SpecError as error:
            outcomes[door] = error.one_line()
    return outcomes


# -- the nested-key table (was in values.py and, again, in loader.py's axis check) ---------------

def test_a_key_dropped_from_the_nested_table_is_refused_by_every_door(tmp_path, monkeypatch):
    assert all(outcome == "ok" for outcome in _doors(tmp_path, "train.val_interval", "100").values())
    monkeypatch.delitem(spec_keys.TRAIN_KEYS, "val_interval")
    outcomes = _doors(tmp_path, "train.val_interval", "100")
    assert all("unknown" in outcome and "val_interval" in outcome for outcome in outcomes.values()), outcomes


def test_a_key_added_to_the_nested_table_is_accepted_by_every_door(tmp_path, monkeypatch):
    assert all(outcome != "ok" for outcome in _doors(tmp_path, "train.warmup_iters", "10").values())
    monkeypatch.setitem(spec_keys.TRAIN_KEYS, "warmup_iters", Field(int, at_least=0))
    assert _doors(tmp_path, "train.warmup_iters", "10") == {"row": "ok", "axis": "ok", "--set": "ok"}


# -- count limits (values.py, loader.py twice, cluster_profiles.py) -------------------------------

def test_a_count_limit_changed_in_its_table_changes_every_door(tmp_path, monkeypatch):
    assert all(outcome == "ok" for outcome in _doors(tmp_path, "train.max_iters", "5000").values())
    monkeypatch.setitem(spec_keys.TRAIN_KEYS, "max_iters", Field(int, at_least=1, at_most=1000))
    outcomes = _doors(tmp_path, "train.max_iters", "5000")
    assert all("more than 1,000" in outcome for outcome in outcomes.values()), outcomes


def test_an_inline_datasets_max_iters_has_the_trains_limits(tmp_path):
    """Disagreement found: train.max_iters stopped at 10,000,000, a dataset's max_iters had no
    upper bound (loader.py checked only >= 1). Now both are the one MAX_ITERS field."""
    assert spec_keys.DATASET_KEYS["max_iters"] is spec_keys.TRAIN_KEYS["max_iters"]
    text = (BASE.replace("ade20k", "mine") + "rows: [{label: a}]\n"
            "datasets: {mine: {root: /tmp/x, classes: [a, b], max_iters: 1000000000000000}}\n")
    with pytest.raises(SpecError) as error:
        load_spec(_spec(tmp_path, text))
    assert error.value.key == "datasets.mine.max_iters" and "more than 10,000,000" in error.value.message


# -- device and test-mode values (loader.py twice, values.py) ---------------------------------------

@pytest.mark.parametrize("key, field, value", [("train.device", "device", "mps"),
                                               ("evaluate.test_mode", "test_mode", "tiled")])
def test_a_value_added_to_a_choice_is_accepted_everywhere(tmp_path, monkeypatch, key, field, value):
    """The loader's second device and test-mode checks are gone: extending the one list is enough
    for a whole load_spec (before, loader._validate_values refused what check_value let through)."""
    table = spec_keys.NESTED[key.split(".")[0]]
    assert all(outcome != "ok" for outcome in _doors(tmp_path, key, value).values())
    old = table[field]
    monkeypatch.setitem(table, field, Field(str, choices=(*old.choices, value), noun=old.noun))
    assert _doors(tmp_path, key, value) == {"row": "ok", "axis": "ok", "--set": "ok"}


def test_a_value_removed_from_a_choice_is_refused_everywhere(tmp_path, monkeypatch):
    table = spec_keys.EVALUATE_KEYS
    monkeypatch.setitem(table, "test_mode", Field(str, choices=("authors", "whole"), noun="test mode"))
    outcomes = _doors(tmp_path, "evaluate.test_mode", "slide")
    assert all("unknown test mode 'slide'" in outcome for outcome in outcomes.values()), outcomes


# -- SLURM row keys (spec_keys.SLURM_KEYS and cluster_profiles.ROW_KEYS) ----------------------------

def _profile(tmp_path, text: str = GPU_PROFILE):
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return load_profile(str(path))


def test_a_slurm_key_dropped_from_the_table_is_refused_by_spec_and_profile(tmp_path, monkeypatch):
    profile = _profile(tmp_path)
    assert _doors(tmp_path, "slurm.qos", "high")["row"] == "ok"
    assert job_resources(profile, {"qos": "high"}).params["qos"] == "high"
    monkeypatch.delitem(slurm_keys.ROW_KEYS, "qos")
    outcomes = _doors(tmp_path, "slurm.qos", "high")
    assert all("unknown" in outcome and "qos" in outcome for outcome in outcomes.values()), outcomes
    with pytest.raises(UserError, match="unknown key 'qos'"):
        job_resources(profile, {"qos": "high"}, row_file="spec.yaml")


def test_a_slurm_limit_changed_in_the_table_changes_spec_row_and_profile(tmp_path, monkeypatch):
    monkeypatch.setitem(slurm_keys.ROW_KEYS, "gpus", Field(int, at_least=0, at_most=2))
    assert all("more than 2" in outcome for outcome in _doors(tmp_path, "slurm.gpus", "4").values())
    with pytest.raises(UserError, match="more than 2") as error:
        _profile(tmp_path)                                   # the profile's own gpus: 4
    assert error.value.key == "gpus"
    monkeypatch.setitem(slurm_keys.ROW_KEYS, "gpus", Field(int, at_least=0, at_most=4096))
    profile = _profile(tmp_path)
    monkeypatch.setitem(slurm_keys.ROW_KEYS, "gpus", Field(int, at_least=0, at_most=2))
    with pytest.raises(UserError, match="more than 2") as error:
        job_resources(profile, {"gpus": 4}, row_where="rows[0].slurm", row_file="spec.yaml")
    assert (error.value.file, error.value.key) == ("spec.yaml", "rows[0].slurm.gpus")


@pytest.mark.parametrize("value, minutes", [("1440", 1440), ('"25:00:00"', 1500), ("25:00:00", 1500)])
def test_a_row_time_limit_the_profile_accepts_the_spec_accepts(tmp_path, value, minutes):
    """Disagreement found: a row's ``slurm: {time: 1440}`` was refused when planned ("expected a
    string") although the profile and the job merge read 1440 as minutes; unquoted 25:00:00 was
    YAML 1.1's base-60 integer 90000 (refused by the spec, 90000 minutes in a profile)."""
    spec = load_spec(_spec(tmp_path, BASE + f"rows: [{{label: a, slurm: {{time: {value}}}}}]\n"))
    row = spec.runs[0].slurm
    assert job_resources(_profile(tmp_path), row).params["time"] == minutes


@pytest.mark.parametrize("key, value, words", [("time", '"25:99"', "not a SLURM time limit"),
                                               ("mem_per_gpu", "lots", "not a memory size")])
def test_a_row_value_the_profile_refuses_is_refused_when_planned(tmp_path, key, value, words):
    """Disagreement found: the spec let any string through as slurm.time / mem_per_gpu; only the
    SLURM executor refused it, at run time. Now the plan refuses it, at the row."""
    with pytest.raises(SpecError) as error:
        load_spec(_spec(tmp_path, BASE + f"rows: [{{label: a, slurm: {{{key}: {value}}}}}]\n"))
    assert error.value.key == f"rows[0].slurm.{key}" and words in error.value.message


def test_an_unquoted_time_limit_in_a_profile_is_hours_not_base_60(tmp_path):
    """The old profile reader (yaml.safe_load) read `time: 24:00:00` as 86400 minutes (60 days)."""
    text = GPU_PROFILE.replace("time: '24:00:00'", "time: 24:00:00")
    assert _profile(tmp_path, text).time == 24 * 60


# -- one engine: the same mistake reads the same at every door --------------------------------------

def test_one_engine_words_a_wrong_type_alike_at_every_door(tmp_path):
    from ssa_bench.classifier_settings import resolve_classifier
    from ssa_bench.classifier_settings.fields import SettingsError

    with pytest.raises(SpecError) as spec_error:
        parse_overrides(["train.batch_size=two"])
    with pytest.raises(SettingsError) as settings_error:
        resolve_classifier({"type": "dnc", "num_subcentroids": "two"})
    with pytest.raises(UserError) as profile_error:
        _profile(tmp_path, GPU_PROFILE + "cpus_per_gpu: two\n")
    messages = [spec_error.value.message, settings_error.value.message, profile_error.value.message]
    assert all(message == "expected an integer, got str 'two'" for message in messages), messages


# -- one YAML reader: every file the product reads refuses a key written twice --------------------

def test_a_duplicate_key_in_a_cluster_profile_is_an_error(tmp_path):
    """The old profile reader kept the last `time:` silently."""
    with pytest.raises(UserError) as error:
        _profile(tmp_path, GPU_PROFILE + "time: 30\n")
    assert error.value.file == str(tmp_path / "cluster.yaml") and error.value.key == "time"
    assert "written twice (lines 4 and 6)" in error.value.message


def test_a_duplicate_key_in_the_cli_is_one_line_naming_profile_and_key(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    from ssa_bench import cli

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    path = tmp_path / "cluster.yaml"
    path.write_text(GPU_PROFILE + "partition: debug\n")
    code = cli.main(["run", "tables/table3.yaml", "--executor", "slurm", "--dry-run", "--cluster", str(path),
                     "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"ssa-bench: error: {path}: partition: key 'partition' is written twice")
    assert not (tmp_path / "results" / "runs").exists()


def test_a_duplicate_key_in_a_weights_catalog_is_an_error(tmp_path, monkeypatch):
    from ssa_bench.weights import catalog

    path = tmp_path / "catalog.yaml"
    path.write_text("weights:\n  seaformer_l:\n    file: a.pth\n    file: b.pth\n")
    monkeypatch.setenv(catalog.CATALOG_ENV, str(path))
    with pytest.raises(UserError) as error:
        catalog._read_blocks(str(path))
    assert (error.value.file, error.value.key) == (str(path), "file")
    assert "written twice (lines 3 and 4)" in error.value.message


def test_a_duplicate_key_in_the_paper_numbers_is_an_error(tmp_path):
    from ssa_bench.vocabulary.paper_numbers import load_paper_numbers

    path = tmp_path / "paper_numbers.yaml"
    path.write_text("paper: x\ntables: {}\ntables: {}\n")
    with pytest.raises(DataError) as error:
        load_paper_numbers(path)
    assert (error.value.file, error.value.key) == (str(path), "tables")
    assert "written twice (lines 2 and 3)" in error.value.message


def test_a_duplicate_key_in_a_set_mapping_is_an_error():
    with pytest.raises(SpecError) as error:
        parse_overrides(["train={max_iters: 10, max_iters: 20}"])
    assert "'max_iters' is written twice" in error.value.message


def test_no_module_parses_yaml_but_the_one_reader():
    """A new yaml.safe_load somewhere would bring back a reader that keeps duplicate keys."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "ssa_bench"
    reader = package / "validation" / "yaml_file.py"
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py") if path != reader
                 and re.search(r"\byaml\.(safe_load|load|full_load|unsafe_load|compose|YAML)\b|^import yaml",
                               path.read_text(encoding="utf-8"), re.M)]
    assert offenders == []


def test_an_integer_past_floats_range_is_one_line_not_a_traceback(refuse):
    """Found while merging the engines: a 400-digit integer for a float setting (ssa.w_g) was an
    OverflowError traceback in the old classifier-settings check (math.isfinite of the int)."""
    refuse.bad_spec(BASE + "rows: [{label: a, ssa: {enabled: true, w_g: " + "9" * 400 + "}}]\n",
                    "rows[0].ssa.w_g", "beyond any floating-point number")


def test_the_reader_changes_base_60_and_nothing_else():
    """Run ids hash parsed values: every other YAML 1.1 number must read as before."""
    import yaml

    from ssa_bench.validation.yaml_file import parse_yaml_text

    same = "a: 12\nb: -7\nc: 0x1f\nd: 010\ne: 1_000\nf: 1.5\ng: 6.0e-5\nh: .inf\ni: -.inf\nj: 1e-4\nk: true\nl: null\n"
    assert parse_yaml_text(same) == yaml.safe_load(same)
    assert parse_yaml_text("t: 24:00:00\nu: 1:30\nv: -1:30\nw: 1:30.5\n") == \
        {"t": "24:00:00", "u": "1:30", "v": "-1:30", "w": "1:30.5"}


def test_a_mistyped_weights_catalog_key_gets_the_engines_suggestion(tmp_path):
    from ssa_bench.weights import catalog

    path = tmp_path / "catalog.yaml"
    path.write_text("weights:\n  seaformer_l:\n    file: a.pth\n    sha265: abcdef12\n")
    with pytest.raises(UserError) as error:
        catalog._read_blocks(str(path))
    assert (error.value.file, error.value.key) == (str(path), "weights.seaformer_l.sha265")
    assert "did you mean 'sha256'?" in error.value.fix
