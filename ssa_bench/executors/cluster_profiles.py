"""SLURM cluster profiles (``slurm/clusters/NAME.yaml``) and the resources one run asks for.

A profile says what a lab's cluster looks like (partition, account, GPUs per node, time limit, how
to set up the job's environment); a spec row may ask for more or less (``slurm: {gpus: 8,
time: "48:00:00"}``). Both are checked by the one engine against one table of keys,
``ssa_bench/vocabulary/slurm_keys.py``, and read by the one YAML reader. :func:`job_resources`
merges the two into the sbatch parameters submitit takes, so the dry run and the real submission
are produced from the same dictionary.

No torch, no submitit: planning and ``--dry-run`` must work on a laptop without either a GPU or SLURM.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ssa_bench.errors import UserError
from ssa_bench.validation import rules
from ssa_bench.validation.yaml_file import read_yaml
from ssa_bench.vocabulary.slurm_keys import ROW_KEYS, profile_keys

DEFAULT_CLUSTER = "example-gpu"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ClusterProfile:
    name: str
    path: str
    description: str = ""
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None   # node features, e.g. "volta" for V100 nodes
    gpus_per_node: int = 0          # what one node has; 0 = a CPU-only cluster
    gpus: int | None = None         # GPUs one run uses unless its row says otherwise
    nodes: int | None = None        # nodes one run spans; default: as few as hold its GPUs
    cpus_per_gpu: int = 4
    mem_per_gpu: str | None = None  # sbatch size, e.g. "48G"
    cpus_per_task: int = 1          # CPU-only clusters: one task per run
    mem_per_cpu: str | None = None
    time: int = 60                  # minutes (the YAML may say "1-00:00:00", "24:00:00" or 1440)
    signal_delay_s: int = 120       # USR2 this long before the time limit: time to checkpoint
    max_requeues: int = 3           # timeouts/preemptions a run survives (submitit max_num_timeout)
    max_parallel: int | None = None  # array tasks running at once unless --max-parallel says
    job_name: str = "ssa-bench"
    extra: dict[str, Any] = field(default_factory=dict)    # other #SBATCH flags, verbatim
    srun_args: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)         # shell lines before srun (modules, venv)
    python: str | None = None      # the job's python; default: the submitting interpreter

    def default_gpus(self) -> int:
        return self.gpus if self.gpus is not None else self.gpus_per_node


def search_dirs() -> list[Path]:
    """Where ``--cluster NAME`` is looked up, first match wins."""
    dirs = [Path(d) for d in os.environ.get("SSA_BENCH_CLUSTERS", "").split(os.pathsep) if d]
    dirs += [Path.cwd() / "slurm" / "clusters", _REPO_ROOT / "slurm" / "clusters"]
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def available_profiles() -> list[str]:
    names: set[str] = set()
    for d in search_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def find_profile(name: str | None) -> Path:
    name = name or os.environ.get("SSA_BENCH_CLUSTER") or DEFAULT_CLUSTER
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        path = Path(name)
        if path.is_file():
            return path
        raise UserError(f"cluster profile file '{name}' not found", key="--cluster",
                        fix="give an existing YAML file or a profile name")
    for d in search_dirs():
        path = d / f"{name}.yaml"
        if path.is_file():
            return path
    known = ", ".join(available_profiles()) or "none found"
    raise UserError(f"unknown cluster profile '{name}'", key="--cluster",
                    fix=f"use one of: {known}; or add slurm/clusters/{name}.yaml (see docs/slurm.md)")


def load_profile(name: str | None = None) -> ClusterProfile:
    path = find_profile(name)
    file = str(path)
    data = read_yaml(path, what="cluster profile", arg="--cluster")
    if data is None or data == {}:
        raise UserError("the cluster profile is empty", file=file,
                        fix="set at least partition and time (see slurm/clusters/example-gpu.yaml)")
    if not isinstance(data, dict):
        raise UserError(f"a cluster profile is a mapping of keys to values, not a {type(data).__name__}",
                        file=file, fix="write one 'key: value' per line (see slurm/clusters/example-gpu.yaml)")
    values = _check_values(data, file, profile_keys(), where="")
    values = {k: v for k, v in values.items() if v is not None or k in ("gpus", "nodes", "max_parallel")}
    profile = ClusterProfile(name=path.stem, path=file, **values)
    _check_consistency(profile, set(data))
    job_resources(profile)   # what every run inherits must make a valid job on its own
    return profile


def _check_consistency(profile: ClusterProfile, given: set[str]) -> None:
    """Values each fine alone that together ask for something SLURM would do differently."""
    file = profile.path
    if profile.gpus_per_node == 0 and profile.gpus:
        # Without gpus_per_node the runs would be submitted as CPU jobs and train on no GPU.
        raise UserError(f"gpus: {profile.gpus} on a cluster whose nodes have no GPUs "
                        f"(gpus_per_node is {'0' if 'gpus_per_node' in given else 'not set'})",
                        file=file, key="gpus",
                        fix=f"set gpus_per_node to the GPUs one node has (at least {profile.gpus}), "
                            f"or drop gpus for a CPU-only cluster")
    if profile.gpus_per_node and profile.default_gpus() < 1:
        raise UserError("a GPU cluster's runs need at least one GPU", file=file, key="gpus",
                        fix="set gpus to 1 or more, or leave it out to use a whole node")
    if profile.signal_delay_s >= profile.time * 60:
        raise UserError(f"USR2 {profile.signal_delay_s} s before a time limit of {profile.time} min "
                        f"({profile.time * 60} s) would come before the job starts",
                        file=file, key="signal_delay_s",
                        fix=f"use less than {profile.time * 60} s (e.g. {max(1, profile.time * 60 // 10)}) "
                            f"or raise time")


def _check_values(data: dict, file: str, table: dict, *, where: str) -> dict[str, Any]:
    """A profile's (or a row's ``slurm:``) values checked by the one engine against the fields of
    ``ssa_bench.vocabulary.slurm_keys``, normalised (time in minutes, memory as sbatch writes it);
    null means "the default" and passes."""
    with rules.reported_as(UserError, file, where):
        rules.check_keys(data, table, "")
        return {key: None if value is None else rules.check_field(value, table[key], str(key))
                for key, value in data.items()}


@dataclass(frozen=True)
class JobResources:
    """One run's request, as submitit's sbatch parameters plus what the run needs to know."""
    params: dict[str, Any]   # keyword arguments of submitit's SlurmExecutor.update_parameters
    world_size: int          # processes (one per GPU) training this run
    gpus: int                # 0 on a CPU-only cluster
    nodes: int

    def key(self) -> str:
        """Runs with equal keys can share one job array (SLURM arrays are homogeneous)."""
        return repr(sorted(self.params.items()))


def job_resources(profile: ClusterProfile, row: dict | None = None, *, row_where: str = "slurm",
                  row_file: str | None = None) -> JobResources:
    """The sbatch parameters of one run: the profile, with the run's ``slurm:`` row overrides."""
    row_file = row_file or profile.path
    overrides = _check_values(dict(row or {}), row_file, ROW_KEYS, where=row_where)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    merged = {f.name: getattr(profile, f.name) for f in fields(profile)}
    extra = dict(profile.extra)
    extra.update(overrides.pop("extra", None) or {})
    merged.update(overrides)

    def blame(key: str) -> dict[str, str]:
        # A value the row set is the spec's mistake; one it inherited is the profile's.
        if key in overrides:
            return {"file": row_file, "key": f"{row_where}.{key}"}
        return {"file": profile.path, "key": key}

    if "time" in overrides and merged["signal_delay_s"] >= merged["time"] * 60:
        raise UserError(f"a time limit of {merged['time']} min is not longer than the profile's "
                        f"signal_delay_s ({merged['signal_delay_s']} s)", **blame("time"),
                        fix=f"ask for more than {math.ceil(merged['signal_delay_s'] / 60)} min")
    params: dict[str, Any] = {"job_name": merged["job_name"], "time": merged["time"],
                              "signal_delay_s": merged["signal_delay_s"]}
    for key in ("partition", "account", "qos", "constraint"):
        if merged[key]:
            params[key] = merged[key]
    gpus = merged["gpus"] if merged["gpus"] is not None else profile.default_gpus()
    if profile.gpus_per_node == 0:
        if overrides.get("gpus"):
            raise UserError(f"asks for {gpus} GPUs but cluster profile '{profile.name}' has none",
                            **blame("gpus"),
                            fix="pick a GPU cluster with --cluster, or drop the gpus override")
        if (merged["nodes"] or 1) != 1:
            raise UserError("a CPU run is one task on one node", **blame("nodes"),
                            fix="drop nodes, or pick a GPU cluster with --cluster")
        nodes, per_node, gpus = 1, 1, 0
        params["cpus_per_task"] = merged["cpus_per_task"]
        if merged["mem_per_cpu"]:
            params["mem_per_cpu"] = merged["mem_per_cpu"]
    else:
        if gpus < 1:
            raise UserError("a run on a GPU cluster needs at least one GPU", **blame("gpus"),
                            fix="set gpus to 1 or more")
        nodes = merged["nodes"] or math.ceil(gpus / profile.gpus_per_node)
        if nodes < 1 or gpus % nodes or gpus // nodes > profile.gpus_per_node:
            fewest = math.ceil(gpus / profile.gpus_per_node)
            culprit = ("nodes" if "nodes" in overrides else "gpus" if "gpus" in overrides
                       else "nodes" if merged["nodes"] else "gpus")
            raise UserError(f"{gpus} GPUs do not split evenly over {nodes} node(s) of "
                            f"{profile.gpus_per_node} GPUs", **blame(culprit),
                            fix=f"ask for a multiple of the node count (at least {fewest} node(s)), e.g. "
                                f"gpus: {fewest * profile.gpus_per_node}")
        per_node = gpus // nodes
        # One task per GPU: mmengine's 'slurm' launcher maps SLURM_PROCID/LOCALID to rank/device.
        params["gpus_per_node"] = per_node
        params["cpus_per_task"] = merged["cpus_per_gpu"]
        if merged["mem_per_gpu"]:
            params["mem_per_gpu"] = merged["mem_per_gpu"]
    params["nodes"] = nodes
    params["ntasks_per_node"] = per_node
    if extra:
        params["additional_parameters"] = dict(sorted(extra.items()))
    if merged["srun_args"]:
        params["srun_args"] = list(merged["srun_args"])
    return JobResources(params=params, world_size=nodes * per_node, gpus=gpus, nodes=nodes)
