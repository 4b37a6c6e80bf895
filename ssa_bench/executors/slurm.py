"""Run a matrix on SLURM through submitit: one job array per ``ssa-bench run``, one task per run.

The flow: pick the cluster profile (``--cluster``), work out each run's resources (profile + the
row's ``slurm:`` overrides), group runs with equal requests into one array (SLURM arrays are
homogeneous; usually there is one group), record every run as queued with its job id, then wait
and show progress. The job side is :mod:`ssa_bench.executors.slurm_task`; SLURM's view of the jobs
(requeued, cancelled, killed) comes in through :mod:`ssa_bench.executors.slurm_accounting`.

Everything the jobs need is on disk (run.json, state.json), so the submitting process may die:
``ssa-bench status`` and a second ``ssa-bench run`` re-attach to the jobs instead of resubmitting.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ssa_bench.errors import UserError
from ssa_bench.executors import slurm_accounting
from ssa_bench.executors.cluster_profiles import ClusterProfile, JobResources, job_resources, load_profile
from ssa_bench.executors.launch import per_device_batch
from ssa_bench.executors.slurm_task import DEFAULT_WORKER

refresh_states = slurm_accounting.refresh_states

# Disk states are cheap to read; SLURM's accounting is shared by everyone on a cluster.
POLL_DISK_S = 1.0
POLL_SLURM_S = float(os.environ.get("SSA_BENCH_SLURM_POLL_S", "30"))
TERMINAL = ("done", "failed")


@dataclass
class ArrayPlan:
    """One job array: runs with the same resource request."""
    resources: JobResources
    runs: list
    params: dict          # submitit SlurmExecutor parameters, setup lines included
    folder: Path          # submitit's folder pattern; %j becomes <array id>_<task index>
    python: str

    @property
    def submitit_command(self) -> str:
        # The command submitit puts in the script (SlurmExecutor._submitit_command_str).
        return " ".join([self.python, "-u -m submitit.core._submit", shlex.quote(str(self.folder))])

    def sbatch_script(self) -> str:
        """The sbatch file submitit writes for this array, from submitit's own generator."""
        from submitit.slurm.slurm import _make_sbatch_string

        map_count = len(self.runs) if len(self.runs) > 1 else None   # submitit submits 1 as a plain job
        return _make_sbatch_string(command=self.submitit_command, folder=self.folder,
                                   map_count=map_count, **self.params)


def _checkout_root() -> str | None:
    """The source checkout ssa_bench is imported from, when it is not an installed package."""
    package = Path(__file__).resolve().parents[1]
    if "site-packages" in package.parts or "dist-packages" in package.parts:
        return None
    return str(package.parent)


def job_setup(profile: ClusterProfile, resources: JobResources) -> list[str]:
    """Shell lines at the top of the job: the profile's, then the run environment ssa-bench needs."""
    lines = list(profile.setup)
    root = _checkout_root()
    if root:
        lines.append(f"export PYTHONPATH={shlex.quote(root)}${{PYTHONPATH:+:$PYTHONPATH}}")
    lines.append("export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} SSA_BENCH_THREADS=${SLURM_CPUS_PER_TASK:-1}")
    if resources.world_size > 1:
        # One srun task per GPU; mmengine's 'slurm' launcher reads SLURM_PROCID/LOCALID/NTASKS and
        # takes the first node as master. Array tasks sharing a node need distinct ports.
        lines.append("export SSA_BENCH_LAUNCHER=slurm")
        lines.append("export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))")
    return lines


def plan_arrays(runs: list, profile: ClusterProfile, results_root: str,
                max_parallel: int | None) -> list[ArrayPlan]:
    groups: dict[str, ArrayPlan] = {}
    for run in runs:
        row = getattr(run, "slurm", None)
        where = f"{getattr(run, 'label', run.id)}: slurm"
        resources = job_resources(profile, row, row_where=where, row_file=getattr(run, "spec_name", None))
        total = int(run.config.get("train", {}).get("batch_size", resources.world_size))
        try:
            per_device_batch(total, resources.world_size)
        except UserError as error:
            raise UserError(f"run {run.id} ({getattr(run, 'label', '')}): {error.message}",
                            file=getattr(run, "spec_name", None), key="train.batch_size", fix=error.fix) from None
        key = resources.key()
        if key not in groups:
            params = dict(resources.params)
            params["setup"] = job_setup(profile, resources)
            groups[key] = ArrayPlan(resources, [], params,
                                    Path(results_root).absolute() / "slurm" / "%j",
                                    profile.python or shlex.quote(sys.executable))
        groups[key].runs.append(run)
    for group in groups.values():
        parallel = max_parallel or profile.max_parallel or len(group.runs)
        group.params["array_parallelism"] = max(1, parallel)
    return list(groups.values())


def _describe(group: ArrayPlan, profile: ClusterProfile) -> Table:
    res = group.resources
    title = (f"{len(group.runs)} run{'s' if len(group.runs) != 1 else ''}, {res.nodes} node(s) x {res.params['ntasks_per_node']} task(s), "
             + (f"{res.gpus} GPU(s) per run" if res.gpus else "CPU only")
             + f", launcher {'slurm (distributed)' if res.world_size > 1 else 'none'}"
             + f", at most {min(len(group.runs), group.params['array_parallelism'])} at once")
    table = Table(title=title, title_justify="left")
    for column in ("array index", "run", "label", "batch total / per GPU", "iterations"):
        table.add_column(column)
    for index, run in enumerate(group.runs):
        train = run.config.get("train", {})
        total = train.get("batch_size", res.world_size)
        table.add_row(str(index), run.id, str(getattr(run, "label", "")),
                      f"{total} / {total // res.world_size}", str(train.get("max_iters", "")))
    return table


def _print_dry_run(groups: list[ArrayPlan], profile: ClusterProfile, worker) -> None:
    # The dry run's output is the command's result: stdout, unwrapped, so scripts can be piped.
    out = Console(soft_wrap=True)
    worker_name = worker if isinstance(worker, str) else f"{worker.__module__}:{worker.__qualname__}"
    out.print(f"# cluster profile '{profile.name}' ({profile.path}): {profile.description}",
              markup=False, highlight=False)
    for number, group in enumerate(groups, 1):
        kind = "job array" if len(group.runs) > 1 else "job (a single run: no array)"
        out.rule(f"{kind} {number} of {len(groups)}: the sbatch script submitit would write")
        out.print(group.sbatch_script(), markup=False, highlight=False)
        out.print(_describe(group, profile))
        out.print(f"each srun task runs {worker_name}({group.folder.parent.parent}, <run id of its array "
                  f"index>)", markup=False, highlight=False)
    out.print(f"dry run: nothing submitted ({sum(len(g.runs) for g in groups)} runs in "
              f"{len(groups)} array(s))")


def _live_jobs(store, runs: list) -> set[str]:
    """Ids of runs whose job is still queued or running in SLURM (never submit those again)."""
    tracked = {}
    for run in runs:
        state = store.read_state(run.id) or {}
        if (state.get("executor") == "slurm" and state.get("state") in ("queued", "running")
                and state.get("job_id")):
            tracked[run.id] = state
    if not tracked:
        return set()
    infos = slurm_accounting.query([str(state["job_id"]) for state in tracked.values()])
    if infos is None:   # SLURM does not answer: trust the disk rather than risk duplicates
        return set(tracked)
    # A job accounting does not know (yet) counts as alive, for the same reason.
    alive = set()
    for run_id, state in tracked.items():
        info = slurm_accounting.job_info(state, infos)
        if info is None or info.live:
            alive.add(run_id)
    return alive


def _orphaned(store, run_id: str, grace_s: float = 60.0) -> bool:
    """Queued without a job id for longer than a submission takes."""
    if (store.read_state(run_id) or {}).get("job_id"):
        return False
    try:
        return time.time() - os.path.getmtime(store.path(run_id, "state.json")) > grace_s
    except OSError:
        return True


def _submit(group: ArrayPlan, profile: ClusterProfile, store, worker) -> str:
    import submitit

    from ssa_bench.executors.slurm_task import RunTask

    executor = submitit.SlurmExecutor(folder=group.folder, max_num_timeout=profile.max_requeues,
                                      python=group.python)
    executor.update_parameters(**group.params)
    submitted_at = time.time()
    for run in group.runs:
        store.write_run(run)
        store.set_state(run.id, "queued", executor="slurm", job_id=None, attempt=0, traceback=None,
                        requeued=None, submitted_at=round(submitted_at, 1), reason="submitting")
    try:
        jobs = executor.map_array(RunTask(store, worker, grace_s=group.params["signal_delay_s"]),
                                  [run.id for run in group.runs])
    except Exception as error:   # sbatch refused it: a bad partition/account/qos in the profile
        for run in group.runs:
            store.set_state(run.id, "pending", executor="slurm", job_id=None, reason=None)
        message = " ".join(str(error).split())[-400:]
        raise UserError(f"sbatch refused the job array: {message}", file=profile.path,
                        fix="check partition, account, qos, constraint and sizes in the cluster profile") from None
    for run, job in zip(group.runs, jobs):
        state = store.read_state(run.id) or {}
        if state.get("state") == "queued" and not state.get("job_id"):
            # Unless the task already started and wrote 'running' itself.
            store.set_state(run.id, "queued", executor="slurm", job_id=job.job_id, attempt=0,
                            log=str(job.paths.stderr), traceback=None, reason="submitted")
    return jobs[0].job_id.split("_")[0]


def _progress_table(runs: list, store, started: float) -> tuple[Table, dict[str, int]]:
    counts = {"done": 0, "failed": 0, "running": 0, "queued": 0}
    rows = []
    for run in runs:
        state = store.read_state(run.id) or {}
        name = state.get("state", "pending")
        counts[name] = counts.get(name, 0) + 1
        progress = store.read_progress(run.id) or {}
        running = name == "running"
        iteration = (f"{progress['iter']}/{progress.get('max_iters') or '?'}"
                     if running and progress.get("iter") is not None else "")
        rows.append((run.id, str(getattr(run, "label", "")), name, str(state.get("job_id") or ""),
                     str(state.get("attempt") or ""), progress.get("stage", "") if running else "",
                     iteration))
    table = Table(title=f"SLURM: {counts['done']} done, {counts['failed']} failed, {counts['running']} "
                        f"running, {counts['queued']} queued of {len(runs)} ({time.time() - started:.0f}s)",
                  title_justify="left")
    for column in ("run", "label", "state", "job", "attempt", "stage", "iteration"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table, counts


def wait_for(runs: list, store, console: Console, *, poll_slurm_s: float | None = None) -> int:
    """Follow the runs until each is done or failed; 0 when all are done."""
    poll_slurm_s = POLL_SLURM_S if poll_slurm_s is None else poll_slurm_s
    started = last_query = time.time()
    with Live(console=console, refresh_per_second=1, transient=False) as live:
        while True:
            if time.time() - last_query >= poll_slurm_s:
                refresh_states(store, runs)
                last_query = time.time()
            table, counts = _progress_table(runs, store, started)
            live.update(table)
            if counts["done"] + counts["failed"] >= len(runs):
                # Confirm with SLURM before giving up on a 'failed': a task leaving through
                # submitit's requeue looks failed for a moment while its job is back in the queue.
                refresh_states(store, runs)
                last_query = time.time()
                table, counts = _progress_table(runs, store, started)
                live.update(table)
                if counts["done"] + counts["failed"] >= len(runs):
                    break
            time.sleep(POLL_DISK_S)
    failed = [run for run in runs if (store.read_state(run.id) or {}).get("state") == "failed"]
    for run in failed:
        state = store.read_state(run.id) or {}
        console.print(f"[red]failed[/red] {run.id}: {state.get('reason') or ''} "
                      f"{('traceback: ' + state['traceback']) if state.get('traceback') else ''}")
    return 1 if failed else 0


def run_slurm(runs: list, store, *, cluster: str | None, max_parallel: int | None, dry_run: bool,
              wait: bool = True, console: Console | None = None, attach: list | None = None,
              worker=DEFAULT_WORKER, poll_slurm_s: float | None = None) -> int:
    """Submit ``runs`` as job array(s) and (unless ``wait`` is False) follow them to the end.

    ``attach``: runs submitted earlier (their state.json says queued/running on SLURM) to follow
    along with the new ones. Runs in ``runs`` whose job is still alive in SLURM are attached, not
    submitted again. ``worker``: what each task calls, ``module:function`` or a callable taking
    (results_root, run_id); tests pass cheap ones. Returns 0 when every run is done, else 1.
    """
    console = console or Console(stderr=True)
    profile = load_profile(cluster)
    if max_parallel is not None and max_parallel < 1:
        raise UserError("--max-parallel must be at least 1", key="--max-parallel", fix="pass a positive number")
    root = str(Path(store.root).absolute())
    if dry_run:
        groups = plan_arrays(list(runs), profile, root, max_parallel)
        if groups:
            _print_dry_run(groups, profile, worker)
        else:
            console.print("dry run: nothing to submit")
        return 0
    if not shutil.which("sbatch"):
        raise UserError("SLURM is not available here (no sbatch on PATH)", key="--executor",
                        fix="run on the cluster's login node, use --executor local, or start the "
                            "local test cluster with slurm/up.sh")
    attach = list(attach or [])
    if attach:
        # Their jobs may have ended while nobody watched (cancelled, killed): ask SLURM first.
        refresh_states(store, attach)
    # Runs whose job died are run again, like any failed run; and a submitter killed between
    # recording 'queued' and learning the job ids left runs that no job will ever start.
    states = {run.id: (store.read_state(run.id) or {}).get("state") for run in attach}
    redo = [run for run in attach if states[run.id] == "failed" or _orphaned(store, run.id)]
    redo_ids = {run.id for run in redo}
    attach = [run for run in attach
              if run.id not in redo_ids and states[run.id] in ("queued", "running")]
    runs = list(runs) + redo
    live = _live_jobs(store, runs)
    to_submit = [run for run in runs if run.id not in live]
    groups = plan_arrays(to_submit, profile, root, max_parallel)
    followed = attach + [run for run in runs if run.id in live]
    if followed:
        console.print(f"re-attached to {len(followed)} run(s) still queued or running in SLURM")
    if redo:
        console.print(f"{len(redo)} run(s) whose SLURM job ended without a result are submitted again")
    for group in groups:
        array_id = _submit(group, profile, store, worker)
        console.print(f"submitted job array {array_id}: {len(group.runs)} run(s), at most "
                      f"{min(len(group.runs), group.params['array_parallelism'])} at once "
                      f"(cluster '{profile.name}'); logs under {group.folder.parent}; "
                      f"watch with: squeue -j {array_id}")
        followed += group.runs
    if not wait or not followed:
        return 0
    try:
        return wait_for(followed, store, console, poll_slurm_s=poll_slurm_s)
    except KeyboardInterrupt:
        console.print("the jobs keep running on the cluster; 'ssa-bench status SPEC' shows them, and "
                      "running the same 'ssa-bench run' again re-attaches without resubmitting")
        raise
