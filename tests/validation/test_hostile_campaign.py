"""A campaign of malformed and hostile inputs (issue 23, measured case 7), every door at once: spec
files, --set values, inline data sets, cluster profiles, weights catalogs, odd files.

Every case must end as bad input does (docs: exit codes): exit 2, exactly one line on stderr naming
where the mistake is, no traceback, and nothing written under the results root. Each case is one
row of CASES: the files it writes into a temp folder, the command line, the environment.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.validation.conftest import nothing_written, run_cli

BASE = "base: {baseline: seaformer_l, dataset: ade20k}\n"
GOOD = BASE + "rows: [{label: a}]\n"
INLINE = "datasets:\n  mine: {{root: /tmp/mine, classes: {classes}}}\nbase: {{baseline: segnext_t, dataset: mine, " \
         "train: {{pretrained: none}}}}\nrows: [{{label: a}}]\n"
DEEP = "rows: " + "[" * 5000 + "]" * 5000 + "\n"


def case(name, files, argv, command="plan", env=None, expect=()):
    """files: name -> text or bytes (written under the case's folder); argv/env may use {tmp}."""
    return pytest.param(files, argv, command, env or {}, expect, id=name)


CASES = [
    # --- specs: values and shapes --------------------------------------------------------------
    case("seeds-negative", {"s.yaml": GOOD + "seeds: [-1, 0]\n"}, ["{tmp}/s.yaml"], expect=("seeds",)),
    case("seeds-huge", {"s.yaml": GOOD + "seeds: [0, 99999999999999]\n"}, ["{tmp}/s.yaml"], expect=("seeds",)),
    case("seeds-scalar", {"s.yaml": GOOD + "seeds: 3\n"}, ["{tmp}/s.yaml"], expect=("seeds",)),
    case("seeds-bool", {"s.yaml": GOOD + "seeds: [true]\n"}, ["{tmp}/s.yaml"], expect=("seeds",)),
    case("seeds-float", {"s.yaml": GOOD + "seeds: [1.5]\n"}, ["{tmp}/s.yaml"], expect=("seeds",)),
    case("rows-empty", {"s.yaml": BASE + "rows: []\n"}, ["{tmp}/s.yaml"], expect=("rows",)),
    case("rows-mapping", {"s.yaml": BASE + "rows: {label: a}\n"}, ["{tmp}/s.yaml"], expect=("rows",)),
    case("rows-string", {"s.yaml": BASE + "rows: a\n"}, ["{tmp}/s.yaml"], expect=("rows",)),
    case("row-not-mapping", {"s.yaml": BASE + "rows: [a]\n"}, ["{tmp}/s.yaml"], expect=("rows[0]",)),
    case("label-list", {"s.yaml": BASE + "rows: [{label: [1, 2]}]\n"}, ["{tmp}/s.yaml"], expect=("label",)),
    case("label-blank", {"s.yaml": BASE + "rows: [{label: '  '}]\n"}, ["{tmp}/s.yaml"], expect=("label",)),
    case("paper-only-unknown-baseline",
         {"s.yaml": "paper_table: 3\n" + GOOD.replace("rows: [{label: a}]", "rows: [{label: a}, {label: DNC, paper_only: true, "
                                                        "baseline: nope_net}]")},
         ["{tmp}/s.yaml"], expect=("rows[1].baseline",)),
    case("paper-only-unknown-ssa-key",
         {"s.yaml": "paper_table: 3\n" + GOOD.replace("rows: [{label: a}]", "rows: [{label: a}, {label: DNC, paper_only: true, "
                                                        "ssa: {warp_speed: 9}}]")},
         ["{tmp}/s.yaml"], expect=("rows[1].ssa",)),
    case("paper-only-unknown-dataset",
         {"s.yaml": "paper_table: 3\n" + GOOD.replace("rows: [{label: a}]", "rows: [{label: a}, {label: DNC, paper_only: true, "
                                                        "dataset: mars}]")},
         ["{tmp}/s.yaml"], expect=("rows[1].dataset",)),
    case("paper-only-not-bool", {"s.yaml": BASE + "rows: [{label: a}, {label: b, paper_only: maybe}]\n"},
         ["{tmp}/s.yaml"], expect=("paper_only",)),
    case("max-iters-string", {"s.yaml": BASE + "rows: [{label: a, train: {max_iters: lots}}]\n"},
         ["{tmp}/s.yaml"], expect=("max_iters",)),
    case("max-iters-huge", {"s.yaml": BASE + "rows: [{label: a, train: {max_iters: 1000000000000000}}]\n"},
         ["{tmp}/s.yaml"], expect=("max_iters",)),
    case("batch-size-huge", {"s.yaml": BASE + "rows: [{label: a, train: {batch_size: 100000000}}]\n"},
         ["{tmp}/s.yaml"], expect=("batch_size",)),
    case("crop-huge", {"s.yaml": BASE + "rows: [{label: a, train: {crop_size: [1000000, 1000000]}}]\n"},
         ["{tmp}/s.yaml"], expect=("crop_size",)),
    case("lr-nan", {"s.yaml": BASE + "rows: [{label: a, train: {lr: .nan}}]\n"}, ["{tmp}/s.yaml"], expect=("lr",)),
    case("lr-yaml11-exponent-is-a-string", {"s.yaml": BASE + "rows: [{label: a, train: {lr: 1e-4}}]\n"},
         ["{tmp}/s.yaml"], expect=("lr", "write it with a dot, e.g. 1.0e-04")),
    case("lr-bool", {"s.yaml": BASE + "rows: [{label: a, train: {lr: true}}]\n"}, ["{tmp}/s.yaml"], expect=("lr",)),
    case("slurm-gpus-negative", {"s.yaml": BASE + "rows: [{label: a, slurm: {gpus: -2}}]\n"},
         ["{tmp}/s.yaml"], expect=("gpus",)),
    case("axis-huge-product",
         {"s.yaml": GOOD + "axes:\n  seed: [" + ", ".join(map(str, range(400))) + "]\n  train.max_iters: ["
                   + ", ".join(str(i + 1) for i in range(400)) + "]\n"},
         ["{tmp}/s.yaml"], expect=("runs",)),
    case("axis-empty", {"s.yaml": GOOD + "axes: {seed: []}\n"}, ["{tmp}/s.yaml"], expect=("axes.seed",)),
    case("axis-scalar", {"s.yaml": GOOD + "axes: {seed: 5}\n"}, ["{tmp}/s.yaml"], expect=("axes.seed",)),
    case("zip-uneven", {"s.yaml": GOOD + "zip: {seed: [0, 1], train.max_iters: [100]}\n"}, ["{tmp}/s.yaml"],
         expect=("zip", "different lengths")),
    case("base-list", {"s.yaml": "base: [1, 2]\nrows: [{label: a}]\n"}, ["{tmp}/s.yaml"], expect=("base",)),
    case("name-traversal", {"s.yaml": "name: ../../../escaped\n" + GOOD}, ["{tmp}/s.yaml"], expect=("name",)),
    case("name-slash", {"s.yaml": "name: a/b\n" + GOOD}, ["{tmp}/s.yaml"], expect=("name",)),
    case("name-blank", {"s.yaml": "name: '  '\n" + GOOD}, ["{tmp}/s.yaml"], expect=("name",)),
    case("sections-unknown-key", {"s.yaml": GOOD + "sections: flavour\n"}, ["{tmp}/s.yaml"], expect=("sections",)),
    case("exclude-not-list", {"s.yaml": GOOD + "exclude: {label: a}\n"}, ["{tmp}/s.yaml"], expect=("exclude",)),
    case("report-not-mapping", {"s.yaml": GOOD + "report: [mIoU]\n"}, ["{tmp}/s.yaml"], expect=("report",)),
    case("paper-table-unknown", {"s.yaml": "paper_table: 42\n" + GOOD}, ["{tmp}/s.yaml"], expect=("paper_table",)),
    # --- inline data sets ----------------------------------------------------------------------
    case("dataset-duplicate-classes", {"s.yaml": INLINE.format(classes="[road, car, road]")}, ["{tmp}/s.yaml"],
         expect=("datasets.mine.classes", "road")),
    case("dataset-duplicate-classes-case", {"s.yaml": INLINE.format(classes="[Road, road]")}, ["{tmp}/s.yaml"],
         expect=("datasets.mine.classes",)),
    case("dataset-classes-empty", {"s.yaml": INLINE.format(classes="[]")}, ["{tmp}/s.yaml"], expect=("classes",)),
    case("dataset-classes-numbers", {"s.yaml": INLINE.format(classes="[1, 2]")}, ["{tmp}/s.yaml"],
         expect=("classes",)),
    case("dataset-classes-blank", {"s.yaml": INLINE.format(classes="[road, '']")}, ["{tmp}/s.yaml"],
         expect=("classes",)),
    case("dataset-classes-huge", {"s.yaml": INLINE.format(classes="[" + ", ".join(f"c{i}" for i in range(70000)) + "]")},
         ["{tmp}/s.yaml"], expect=("classes",)),
    case("dataset-not-mapping", {"s.yaml": "datasets: {mine: /tmp/mine}\n" + GOOD}, ["{tmp}/s.yaml"],
         expect=("datasets.mine",)),
    case("dataset-reduce-zero-string",
         {"s.yaml": INLINE.format(classes="[a, b]").replace("classes: [a, b]", "classes: [a, b], reduce_zero_label: 'yes'")},
         ["{tmp}/s.yaml"], expect=("reduce_zero_label",)),
    case("dataset-shadows-builtin", {"s.yaml": "datasets: {ade20k: {root: /x, classes: [a]}}\n" + GOOD},
         ["{tmp}/s.yaml"], expect=("datasets.ade20k",)),
    # --- YAML itself ---------------------------------------------------------------------------
    case("yaml-python-tag", {"s.yaml": BASE + "rows: [{label: !!python/object/apply:os.system [echo hi]}]\n"},
         ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-syntax", {"s.yaml": BASE + "rows: [{label: a}\n"}, ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-tabs", {"s.yaml": "base:\n\tbaseline: seaformer_l\n"}, ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-deep-nesting", {"s.yaml": BASE + DEEP}, ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-list-top", {"s.yaml": "- a\n- b\n"}, ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-empty", {"s.yaml": ""}, ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-nul-bytes", {"s.yaml": b"base: {baseline: seaformer_l\x00}\n"}, ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-utf16", {"s.yaml": GOOD.encode("utf-16")}, ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-anchor-bomb-key",
         {"s.yaml": BASE + "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                    "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nrows: [{label: a}]\n"},
         ["{tmp}/s.yaml"], expect=("s.yaml",)),
    case("yaml-recursive-alias", {"s.yaml": BASE + "rows: &r [{label: a, cfg: {x.y: *r}}]\n"}, ["{tmp}/s.yaml"],
         expect=("s.yaml",)),
    # --- --set values --------------------------------------------------------------------------
    case("set-seed-negative", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "seed=-3"], expect=("--set seed",)),
    case("set-seeds-negative", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "seeds=[-1]"], expect=("seeds",)),
    case("set-seeds-empty", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "seeds=[]"], expect=("seeds",)),
    case("set-max-iters-word", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "train.max_iters=many"],
         expect=("--set train.max_iters",)),
    case("set-dataset-unknown", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "dataset=mars"], expect=("mars",)),
    case("set-no-equals", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "train.max_iters"], expect=("--set",)),
    case("set-bad-yaml", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "train.lr=[1,"], expect=("--set",)),
    case("set-name-traversal", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "name=../../x"], expect=("name",)),
    case("set-columns-list", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "columns=[a]"], expect=("columns",)),
    case("set-datasets-string", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "datasets=oops"], expect=("datasets",)),
    case("set-report-caption-list", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "report.caption=[1]"],
         expect=("caption",)),
    case("set-ssa-unknown", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "ssa.warp=1"], expect=("--set ssa.warp",)),
    case("set-cfg-bomb", {"s.yaml": GOOD},
         ["{tmp}/s.yaml", "--set", "cfg.model.x=" + "[" * 3000 + "]" * 3000], expect=("--set",)),
    case("profile-unknown", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--profile", "gpu-deluxe"], expect=("--profile",)),
    # --- cluster profiles ----------------------------------------------------------------------
    case("cluster-unknown", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "nope",
                                               "--dry-run"], command="run", expect=("nope",)),
    case("cluster-broken-yaml", {"s.yaml": GOOD, "clusters/mine.yaml": "partition: [gpu\n"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    case("cluster-not-mapping", {"s.yaml": GOOD, "clusters/mine.yaml": "- gpu\n"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    case("cluster-gpus-negative", {"s.yaml": GOOD, "clusters/mine.yaml": "partition: gpu\ngpus_per_node: -1\n"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    case("cluster-binary", {"s.yaml": GOOD, "clusters/mine.yaml": b"\xff\xfe\x00garbage"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    case("cluster-is-directory", {"s.yaml": GOOD, "clusters/mine.yaml/x": "a: 1\n"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    case("cluster-deep-nesting", {"s.yaml": GOOD, "clusters/mine.yaml": "extra: " + "[" * 5000 + "]" * 5000 + "\n"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    case("cluster-gpus-huge", {"s.yaml": GOOD, "clusters/mine.yaml": "partition: gpu\ngpus_per_node: 8\n"
                                                                    "gpus: 100000000\ntime: '1:00:00'\n"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    case("cluster-alias-bomb", {"s.yaml": GOOD, "clusters/mine.yaml":
                                "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                                "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nextra: {x: [*e, *e, *e, *e, *e, *e]}\n"},
         ["{tmp}/s.yaml", "--executor", "slurm", "--cluster", "mine", "--dry-run"], command="run",
         env={"SSA_BENCH_CLUSTERS": "{tmp}/clusters"}, expect=("mine.yaml",)),
    # --- weights catalogs ----------------------------------------------------------------------
    case("catalog-broken-yaml", {"s.yaml": GOOD, "catalog.yaml": "seaformer_l: {url: [\n"}, ["{tmp}/s.yaml"],
         env={"SSA_BENCH_WEIGHTS_CATALOG": "{tmp}/catalog.yaml"}, expect=("catalog.yaml",)),
    case("catalog-not-mapping", {"s.yaml": GOOD, "catalog.yaml": "- seaformer_l\n"}, ["{tmp}/s.yaml"],
         env={"SSA_BENCH_WEIGHTS_CATALOG": "{tmp}/catalog.yaml"}, expect=("catalog.yaml",)),
    case("catalog-missing-file", {"s.yaml": GOOD}, ["{tmp}/s.yaml"],
         env={"SSA_BENCH_WEIGHTS_CATALOG": "{tmp}/nope.yaml"}, expect=("nope.yaml",)),
    case("catalog-directory", {"s.yaml": GOOD, "catalog/x": ""}, ["{tmp}/s.yaml"],
         env={"SSA_BENCH_WEIGHTS_CATALOG": "{tmp}/catalog"}, expect=("catalog",)),
    case("catalog-binary", {"s.yaml": GOOD, "catalog.yaml": b"\x89PNG\r\n\x1a\n\x00\x00"}, ["{tmp}/s.yaml"],
         env={"SSA_BENCH_WEIGHTS_CATALOG": "{tmp}/catalog.yaml"}, expect=("catalog.yaml",)),
    case("catalog-bad-hash", {"s.yaml": GOOD, "catalog.yaml": "weights:\n  seaformer_l:\n    file: x.pth\n"
                                                              "    url: http://127.0.0.1/x.pth\n    sha256: nothex\n"},
         ["{tmp}/s.yaml"], env={"SSA_BENCH_WEIGHTS_CATALOG": "{tmp}/catalog.yaml"}, expect=("catalog.yaml",)),
    case("catalog-deep-nesting", {"s.yaml": GOOD, "catalog.yaml": "weights: " + "[" * 5000 + "]" * 5000 + "\n"},
         ["{tmp}/s.yaml"], env={"SSA_BENCH_WEIGHTS_CATALOG": "{tmp}/catalog.yaml"}, expect=("catalog.yaml",)),
    case("set-seed-huge", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "seed=" + "9" * 40], expect=("--set seed",)),
    case("set-seeds-repeated", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--set", "seeds=[0, 0]"], expect=("seeds",)),
    case("name-nul", {"s.yaml": "name: \"a\\0b\"\n" + GOOD}, ["{tmp}/s.yaml"], expect=("name",)),
    case("label-huge", {"s.yaml": BASE + "rows: [{label: " + "x" * 100_000 + "}]\n"}, ["{tmp}/s.yaml"],
         expect=("label",)),
    # --- odd files -----------------------------------------------------------------------------
    case("spec-is-directory", {"specdir/x": ""}, ["{tmp}/specdir"], expect=("specdir",)),
    case("spec-fifo-like-devnull", {}, ["/dev/null"], expect=("/dev/null",)),
    case("spec-missing", {}, ["{tmp}/nope.yaml"], expect=("nope.yaml",)),
    case("results-dir-is-file", {"s.yaml": GOOD, "afile": "x"}, ["{tmp}/s.yaml", "--results-dir", "{tmp}/afile"],
         command="run", expect=("--results-dir",)),
    case("results-dir-not-writable", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--results-dir", "/proc/ssa-results"],
         command="run", expect=("--results-dir",)),
    case("report-out-not-writable", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--out", "/proc/ssa-out"],
         command="report", expect=("--out",)),
    case("figures-out-not-writable", {"s.yaml": GOOD}, ["{tmp}/s.yaml", "--out", "/proc/ssa-out"],
         command="figures", expect=("--out",)),
]


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


@pytest.mark.parametrize("files, argv, command, env, expect", CASES)
def test_hostile_input_is_refused_in_one_line(tmp_path, capsys, monkeypatch, files, argv, command, env, expect):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, content in files.items():
        path = inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    before = sorted(p.relative_to(inputs) for p in inputs.rglob("*"))
    for key, value in env.items():
        monkeypatch.setenv(key, _fill(value, inputs))
    results = tmp_path / "results"
    full = [command, *(_fill(a, inputs) for a in argv)]
    if "--results-dir" not in argv:
        full += ["--results-dir", str(results)]
    code, out, err = run_cli(full, capsys)
    assert "Traceback" not in err and "Traceback" not in out, err[-2000:]
    assert code == 2, f"exit {code}; stderr {err[-600:]!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-2000:]
    for text in expect:
        assert _fill(text, inputs) in lines[0], f"{text!r} not in {lines[0]!r}"
    assert nothing_written(results)
    assert sorted(p.relative_to(inputs) for p in inputs.rglob("*")) == before
    assert not (tmp_path / "escaped").exists() and not Path(os.getcwd(), "escaped").exists()
