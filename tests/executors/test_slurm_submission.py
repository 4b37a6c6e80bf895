"""Submission details without a cluster: stray files of killed submissions, the dry-run table."""
from __future__ import annotations

import io
import os
import time

from rich.console import Console
from slurm_helpers import fake_run

from ssa_bench.executors.cluster_profiles import load_profile
from ssa_bench.executors.slurm.arrays import plan_arrays
from ssa_bench.executors.slurm.dry_run import array_table
from ssa_bench.executors.slurm.orphans import clean_stray_submission_files


def test_stray_files_of_a_killed_submission_are_removed_and_live_ones_kept(tmp_path):
    folder = tmp_path / "slurm"
    (folder / "41_0").mkdir(parents=True)
    old_pickle, old_script = folder / "0a1b.pkl", folder / ".submission_file_0a1b.sh"
    fresh_pickle = folder / "9f9f.pkl"                       # a submission in flight right now
    kept = folder / "41_0" / "41_0_submitted.pkl"           # a job's own pickle, in its folder
    for path in (old_pickle, old_script, fresh_pickle, kept):
        path.write_text("x")
    an_hour_ago = time.time() - 3600
    for path in (old_pickle, old_script, kept):
        os.utime(path, (an_hour_ago, an_hour_ago))
    removed = clean_stray_submission_files(folder)
    assert sorted(p.name for p in removed) == [".submission_file_0a1b.sh", "0a1b.pkl"]
    assert fresh_pickle.exists() and kept.exists()


def test_dry_run_table_labels_each_array_index_with_baseline_dataset_and_row(tmp_path):
    runs = [fake_run("a"), fake_run("b")]
    runs[0].config.update(baseline="seaformer_l", dataset="ade20k")
    runs[0].section, runs[0].label, runs[0].column = "Table 3", "SeaFormer-L", "SSA (Ours)"
    (group,) = plan_arrays(runs, load_profile("local-test"), str(tmp_path), None)
    out = io.StringIO()
    Console(file=out, width=200).print(array_table(group, load_profile("local-test")))
    rows = [line for line in out.getvalue().splitlines() if line.startswith("│")]
    line = rows[0]
    for word in ("seaformer_l", "ade20k", "Table 3 / SeaFormer-L / SSA (Ours)"):
        assert word in line, (word, line)
    assert rows[1].split("│")[1].strip() == "1" and "segformer_mini" in rows[1] and "demo_shapes" in rows[1]
