"""paper_numbers.yaml: it loads, holds Tables 1-8 completely, and matches the paper's text."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ssa_bench.errors import DataError
from ssa_bench.vocabulary.paper_numbers import load_paper_numbers, normalize, table_key
from ssa_bench.vocabulary.metrics import DEFAULT_DECIMALS

PAPER_TEXT = Path("/work/shared/paper/ssa_paper.txt")


@pytest.fixture(scope="module")
def numbers():
    return load_paper_numbers()


def _all_numbers(table):
    """(section, label, group, metric, value) for every number of a table."""
    for section in table.sections:
        for row in section.rows:
            for metric, value in row.values.items():
                yield section.name, row.label, None, metric, value
            for group, metrics in row.groups.items():
                for metric, value in metrics.items():
                    yield section.name, row.label, group, metric, value


def test_every_table_of_the_paper_is_present(numbers):
    assert sorted(numbers.tables) == [f"table{n}" for n in range(1, 9)]


@pytest.mark.parametrize("table, count", [
    # Counted from the paper: Table 1 = 18 rows x (latency + 3 datasets x (FLOPs, mIoU));
    # Table 2 = 18 rows x (GFLOPs, ADE20K, COCO) minus the two '-' of GMMSeg and CAC under OCRNet;
    # Table 3 = 7 rows x (GFLOPs, mIoU); Tables 4-8 = one mIoU per row.
    ("table1", 18 * 7), ("table2", 18 * 3 - 2), ("table3", 14), ("table4", 7), ("table5", 4),
    ("table6", 2), ("table7", 3), ("table8", 3),
])
def test_each_table_has_all_its_numbers(numbers, table, count):
    assert len(list(_all_numbers(numbers.table(table)))) == count


def test_every_row_says_where_it_comes_from(numbers):
    for key, table in numbers.tables.items():
        for section in table.sections:
            for row in section.rows:
                assert row.source.startswith(f"Table {key[5:]}, row"), row


@pytest.mark.parametrize("table, section, label, group, metric, expected", [
    ("table1", "SeaFormer-L", "SSA (Ours)", "ade20k", "mIoU", 45.36),
    ("table1", "SeaFormer-L", "SSA (Ours)", "ade20k", "latency_ms", 29.9),
    ("table1", "ocrnet_hr48", "Baseline", "pascal_context59", "gflops", 143.2),
    ("table1", "UperNet (Swin-L)", "SSA (Ours)", "coco_stuff10k", "mIoU", 48.94),
    ("table1", "SegNeXt-T", "SSA (Ours)", "COCO-Stuff-10K", "mIoU", 38.91),
    ("table2", "OCRNet", "CAC", "ade20k", "mIoU", 45.7),
    ("table2", "FCN", "ProtoSeg", "coco_stuff10k", "mIoU", 34.0),
    ("table2", "UperNet (Swin-B)", "DNC", "ade20k", "gflops", 308.6),
    ("table3", None, "+ SEPA + Lg + Lsd", None, "mIoU", 44.26),
    ("table4", None, "+ Lg + Lrd", None, "mIoU", 44.54),
    ("table5", None, "-B", None, "mIoU", 44.77),
    ("table6", None, "Softmax_{K}", None, "mIoU", 44.86),
    ("table7", None, "Learnable", None, "mIoU", 44.02),
    ("table8", None, "5", None, "mIoU", 44.98),
])
def test_spot_checks_against_the_paper(numbers, table, section, label, group, metric, expected):
    paper = numbers.table(table)
    block = paper.section(section)
    row = block.row(label)
    assert paper.value(row, metric, paper.group(group)) == pytest.approx(expected)


def test_numbers_the_paper_leaves_out_are_absent(numbers):
    paper = numbers.table(2)
    row = paper.section("OCRNet").row("GMMSeg")
    assert paper.value(row, "mIoU", "coco_stuff10k") is None
    assert paper.value(row, "mIoU", "ade20k") == pytest.approx(44.8)


def test_gflops_of_a_baseline_with_and_without_ssa(numbers):
    # Table 1 per dataset; Table 2 prints one GFLOPs column, measured on ADE20K only.
    assert numbers.gflops("seaformer_l", "pascal_context59") == (5.6, 5.6)
    assert numbers.gflops("vit_adapter_l", "coco_stuff10k") == (616.1, 616.3)
    assert numbers.gflops("fcn_r101", "ade20k") == (275.7, 275.9)
    assert numbers.gflops("fcn_r101", "coco_stuff10k") is None
    assert numbers.gflops("segformer_mini", "ade20k") is None


def test_single_dataset_tables_have_no_number_for_another_dataset(numbers):
    paper = numbers.table(3)
    row = paper.section(None).row("SSA (Ours)")
    assert paper.value(row, "mIoU", "ade20k") == pytest.approx(45.36)
    assert paper.value(row, "mIoU", "coco_stuff10k") is None


# The paper's own inconsistencies (arrow printed vs. its numbers), checked by hand in the paper text.
PAPER_ARROW_TYPOS = {("table1", "SeaFormer-L", "SSA (Ours)", "coco_stuff10k"): (2.44, 38.48 - 35.99)}


def test_printed_arrows_equal_the_differences_of_the_transcribed_numbers(numbers):
    # A transcription typo in either the arrow or the number shows up here.
    checked = 0
    for table in numbers.tables.values():
        for section in table.sections:
            first = section.rows[0]
            for row in section.rows[1:]:
                for group, gains in row.printed_gains.items():
                    for metric, gain in gains.items():
                        diff = table.value(row, metric, group) - table.value(first, metric, group)
                        where = (table.key, section.name, row.label, group)
                        if where in PAPER_ARROW_TYPOS:
                            assert (gain, diff) == pytest.approx(PAPER_ARROW_TYPOS[where])
                        else:
                            assert diff == pytest.approx(gain, abs=1e-9), where
                        checked += 1
    # Table 1: 9 SSA rows x 3 datasets; Table 2: 6 + 6 + 4 + 4 + 4 arrows (two are "-" under OCRNet)
    assert checked == 27 + 24


@pytest.mark.skipif(not PAPER_TEXT.exists(), reason=f"the paper text is not at {PAPER_TEXT}")
def test_every_number_appears_in_its_paper_table(numbers):
    text = PAPER_TEXT.read_text()
    # Each table's block of the paper text, from its "Table N:" heading (or tab-separated body) on.
    for key, table in numbers.tables.items():
        for section, label, group, metric, value in _all_numbers(table):
            decimals = table.decimals.get(metric, DEFAULT_DECIMALS[metric])
            printed = f"{value:.{decimals}f}"
            assert re.search(rf"(?<![\d.]){re.escape(printed)}(?![\d])", text), (key, section, label, group, metric, printed)


def test_lookup_is_spelling_insensitive():
    assert normalize("Softmax_{HW}") == normalize("softmax HW")
    assert table_key(3) == table_key("Table 3") == table_key("table3") == "table3"


def test_a_broken_file_names_the_entry(tmp_path):
    raw = yaml.safe_load(Path(load_paper_numbers.__globals__["PAPER_NUMBERS_PATH"]).read_text())
    raw["tables"]["table7"]["sections"][0]["rows"][1]["values"]["mIoU"] = "44.O2"
    broken = tmp_path / "paper_numbers.yaml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError) as caught:
        load_paper_numbers(broken)
    assert "tables.table7.sections[0].rows[1].values.mIoU" in str(caught.value)
