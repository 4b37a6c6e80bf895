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

import contextlib
import fcntl
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
from ssa_bench.executors import slurm_accounting, slurm_claims
from ssa_bench.executors.cluster_profiles import ClusterProfile, JobResources, job_resources, load_profile
from ssa_bench.runtime import per_device_batch
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
        where = f"{run.label or run.id}: slurm"
        resources = job_resources(profile, run.slurm, row_where=where, row_file=run.spec_name)
        total = int(run.config.get("train", {}).get("batch_size", resources.world_size))
        try:
            per_device_batch(total, resources.world_size)
        except UserError as error:
            raise UserError(f"run {run.id} ({run.label}): {error.message}",
                            file=run.spec_name, key="train.batch_size", fix=error.fix) from None
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
    for column in ("array index", "run", "baseline", "dataset", "row", "batch total / per GPU", "iterations"):
        table.add_column(column)
    for index, run in enumerate(group.runs):
        config = run.config
        train = config.get("train", {})
        total = train.get("batch_size", res.world_size)
        table.add_row(str(index), run.id, str(config.get("baseline", "")), str(config.get("dataset", "")),
                      _row_name(run), f"{total} / {total // res.world_size}", str(train.get("max_iters", "")))
    return table


def _row_name(run) -> str:
    """'Table 3 / SegFormer-B0 / SSA (Ours)': where the run comes from in the spec."""
    return " / ".join(str(part) for part in (run.section, run.label, run.column) if part) or str(run.label)


def _print_dry_run(groups: list[ArrayPlan], profile: ClusterProfile, worker) -> None:
    # The dry run's output is the command's result: stdout, unwrapped, so scripts can be piped.
    # A pipe gets whole lines: the table is for reading, the script for copying.
    out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
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
    """Ids of runs whose job SLURM has not finished with: queued, running, or requeued after a
    node failure or preemption (never submit those again). A run on disk as failed is asked
    about too: its job may be waiting to resume (``run --rerun-failed`` during a requeue)."""
    tracked = {}
    for run in runs:
        state = store.read_state(run.id) or {}
        if state.get("executor") == "slurm" and state.get("state") != "done" and state.get("job_id"):
            tracked[run.id] = state
    if not tracked:
        return set()
    infos = slurm_accounting.query([str(state["job_id"]) for state in tracked.values()])
    if infos is None:   # SLURM does not answer: trust the disk rather than risk duplicates
        return {run_id for run_id, state in tracked.items() if state.get("state") in ("queued", "running")}
    alive = set()
    for run_id, state in tracked.items():
        info = slurm_accounting.job_info(state, infos)
        if info is None:
            # A job accounting does not know (yet) counts as alive while the disk says so.
            if state.get("state") in ("queued", "running"):
                alive.add(run_id)
        elif info.live:
            alive.add(run_id)
    slurm_accounting.refresh_states(store, [run for run in runs if run.id in tracked], infos)
    return alive


def orphan_submission(store, run_id: str, state: dict | None = None, grace_s: float = 60.0) -> str | None:
    """Why ``run_id`` is an orphan submission -- queued by a submitter that died inside sbatch,
    before it learnt the job id -- or None when it is not one."""
    state = state if state is not None else (store.read_state(run_id) or {})
    if state.get("state") != "queued" or state.get("job_id"):
        return None
    holder = store.claim_holder(run_id)
    if holder is not None and holder.kind == "submitter":
        if slurm_claims.process_alive(holder) is not False:
            return None            # still submitting (or on another host: it hands over or times out)
        who = slurm_claims.describe(holder)
    elif holder is None:
        try:
            if time.time() - os.path.getmtime(store.paths(run_id).state) <= grace_s:
                return None
        except OSError:
            pass
        who = "a submitter"
    else:
        return None                # a job holds it: it is that job's run
    return (f"orphan submission: {who} was killed while submitting (inside sbatch); its job, if "
            f"SLURM accepted it, takes the run over when it starts, otherwise `ssa-bench run` "
            f"submits it again")


@contextlib.contextmanager
def _submission_lock(folder: Path):
    """One submitter at a time per results folder sends its array: a second one started in the
    same instant then finds the runs claimed by the first one's jobs and follows them, instead
    of sending a second array of the runs it won the claim race for. (The claims alone already
    keep a run from being trained twice; flock may not work on every network file system.)"""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".submit.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            pass
        try:
            yield
        finally:
            try:
                fcntl.flock(handle, fcntl.LOCK_UN)
            except OSError:
                pass


# submitit writes each task's pickle and the sbatch file under a temporary name, then renames them
# after sbatch answers; a submitter killed in between leaves them behind.
STRAY_PATTERNS = ("*.pkl", ".submission_file_*.sh")
STRAY_AGE_S = 600.0


def clean_stray_submission_files(folder: Path, max_age_s: float = STRAY_AGE_S) -> list[Path]:
    """Remove the temporary files of killed submissions (older than any submission takes)."""
    removed = []
    now = time.time()
    for pattern in STRAY_PATTERNS:
        for path in folder.glob(pattern):
            try:
                if path.is_file() and now - path.stat().st_mtime > max_age_s:
                    path.unlink()
                    removed.append(path)
            except OSError:
                pass
    return removed


def _claim_all(runs: list, store, owner) -> tuple[list, list]:
    """(claimed, held elsewhere): a run is claimed before it is submitted, so that no second
    submitter, pending requeue or running job trains it at the same time."""
    claimed, refused = [], []
    for run in runs:
        store.write_run(run)
        (claimed if store.claim(run.id, owner) else refused).append(run)
    return claimed, refused


def _submit(group: ArrayPlan, profile: ClusterProfile, store, worker, owner) -> str:
    """sbatch one array of claimed runs and hand each run's claim to its array task."""
    import submitit

    from ssa_bench.executors.slurm_task import RunTask

    executor = submitit.SlurmExecutor(folder=group.folder, max_num_timeout=profile.max_requeues,
                                      python=group.python)
    executor.update_parameters(**group.params)
    submitted_at = time.time()
    for run in group.runs:
        fresh_training = not os.listdir(store.work_dir(run.id))
        extra = {"attempts": []} if fresh_training else {}
        store.set_state(run.id, "queued", executor="slurm", job_id=None, attempt=0, traceback=None,
                        requeued=None, submitted_at=round(submitted_at, 1), reason="submitting",
                        slurm_reason=None, orphan_submission=None, **extra)
    try:
        jobs = executor.map_array(RunTask(store, worker, grace_s=group.params["signal_delay_s"]),
                                  [run.id for run in group.runs])
    except Exception as error:   # sbatch refused it: a bad partition/account/qos in the profile
        for run in group.runs:
            store.set_state(run.id, "pending", executor="slurm", job_id=None, reason=None)
            store.release_claim(run.id, owner)
        message = " ".join(str(error).split())[-400:]
        kind = "job array" if len(group.runs) > 1 else "job"
        raise UserError(f"sbatch refused the {kind}: {message}", file=profile.path,
                        fix="check partition, account, qos, constraint and sizes in the cluster profile") from None
    for run, job in zip(group.runs, jobs):
        # Job ids first: a job that starts now waits for its claim, and finds its id on disk.
        state = store.read_state(run.id) or {}
        if state.get("state") == "queued" and not state.get("job_id"):
            store.set_state(run.id, "queued", executor="slurm", job_id=job.job_id, attempt=0,
                            log=str(job.paths.stderr), traceback=None, reason="submitted")
        if not store.transfer_claim(run.id, owner, slurm_claims.job_owner(job.job_id)):
            raise RuntimeError(f"the claim of run {run.id} was taken from this submitter while it "
                               f"submitted job {job.job_id}; that job will not train it")
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
        waiting = f"pending: {state['slurm_reason']}" if name == "queued" and state.get("slurm_reason") else ""
        if state.get("requeued") and name == "queued":
            waiting = f"requeued; {waiting}" if waiting else "requeued"
        rows.append((run.id, str(run.label), name, str(state.get("job_id") or ""),
                     str(state.get("attempt") or ""), progress.get("stage", "") if running else waiting,
                     iteration))
    table = Table(title=f"SLURM: {counts['done']} done, {counts['failed']} failed, {counts['running']} "
                        f"running, {counts['queued']} queued of {len(runs)} ({time.time() - started:.0f}s)",
                  title_justify="left")
    for column in ("run", "label", "state", "job", "attempt", "stage / SLURM", "iteration"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table, counts


class _SlurmLines:
    """Each run's state changes (queued, running, done, failed) and its training progress as
    timestamped lines (ssa_bench.executors.progress_lines), for a submitter whose stderr is a log."""

    def __init__(self, stream) -> None:
        from ssa_bench.executors.progress_lines import ProgressLines

        self.lines = ProgressLines(stream)
        self.seen: dict[str, str] = {}

    def update(self, runs: list, store) -> None:
        for run in runs:
            state = store.read_state(run.id) or {}
            name = state.get("state", "pending")
            if name != self.seen.get(run.id):
                self.seen[run.id] = name
                job = f"job {state['job_id']}" if state.get("job_id") else ""
                if name == "running":
                    self.lines.started_as(run, ", ".join(p for p in (job, state.get("host") or "") if p))
                elif name in ("done", "failed"):
                    self.lines.finished(run, name, (state.get("reason") or "") if name == "failed" else "")
                else:
                    reason = f"pending: {state['slurm_reason']}" if state.get("slurm_reason") else ""
                    details = ", ".join(p for p in (job, reason) if p)
                    self.lines.line(run, name + (f" ({details})" if details else ""))
            if name == "running":
                self.lines.poll(run, store.read_progress(run.id) or {})


def wait_for(runs: list, store, console: Console, *, poll_slurm_s: float | None = None) -> int:
    """Follow the runs until each is done or failed; 0 when all are done."""
    poll_slurm_s = POLL_SLURM_S if poll_slurm_s is None else poll_slurm_s
    started = last_query = time.time()
    # A terminal gets the live table; a log (nohup, 2>file) a plain line per run event.
    lines = None if console.is_terminal else _SlurmLines(console.file)
    display = Live(console=console, refresh_per_second=1, transient=False) if lines is None else contextlib.nullcontext()
    with display as live:
        while True:
            if time.time() - last_query >= poll_slurm_s:
                refresh_states(store, runs)
                last_query = time.time()
            table, counts = _progress_table(runs, store, started)
            if lines is not None:
                lines.update(runs, store)
            else:
                live.update(table)
            if counts["done"] + counts["failed"] >= len(runs):
                # Confirm with SLURM before giving up on a 'failed': a task leaving through
                # submitit's requeue looks failed for a moment while its job is back in the queue.
                refresh_states(store, runs)
                last_query = time.time()
                table, counts = _progress_table(runs, store, started)
                if lines is not None:
                    lines.update(runs, store)
                else:
                    live.update(table)
                if counts["done"] + counts["failed"] >= len(runs):
                    break
            time.sleep(POLL_DISK_S)
    failed = [run for run in runs if (store.read_state(run.id) or {}).get("state") == "failed"]
    for run in failed:
        state = store.read_state(run.id) or {}
        console.print(f"[red]failed[/red] {run.id}: {state.get('reason') or ''} "
                      f"{('traceback: ' + store.resolve(run.id, state['traceback'])) if state.get('traceback') else ''}")
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
    slurm_claims.register_liveness()
    attach = list(attach or [])
    runs = list(runs)
    # What SLURM says first: jobs may have ended while nobody watched (cancelled, killed), or be
    # waiting after a requeue while the disk says failed.
    live = _live_jobs(store, attach + runs)
    states = {run.id: store.read_state(run.id) or {} for run in attach}
    orphans = {run.id for run in attach if orphan_submission(store, run.id, states[run.id])}
    followed, redo = [], []
    for run in attach:
        if run.id in live or (states[run.id].get("state") in ("queued", "running") and run.id not in orphans):
            followed.append(run)
        elif states[run.id].get("state") == "failed" or run.id in orphans:
            redo.append(run)        # SLURM is done with its job and there is no result
    followed += [run for run in runs if run.id in live]
    candidates = [run for run in runs if run.id not in live] + redo
    if orphans:
        console.print(f"{len(orphans)} run(s) left by a submitter killed inside sbatch (orphan "
                      f"submission) are submitted again")
    if any(states[run.id].get("state") == "failed" for run in redo):
        console.print(f"{len(redo) - len(orphans)} run(s) whose SLURM job ended without a result are "
                      f"submitted again")
    owner = slurm_claims.submitter_owner()
    folder = Path(root) / "slurm"
    submitted = []
    with _submission_lock(folder):
        removed = clean_stray_submission_files(folder)
        if removed:
            console.print(f"removed {len(removed)} temporary file(s) of killed submissions from {folder}")
        claimed, refused = _claim_all(candidates, store, owner)
        if refused:
            holders = {slurm_claims.describe(store.claim_holder(run.id)) for run in refused}
            console.print(f"{len(refused)} run(s) are claimed by {', '.join(sorted(holders))}: "
                          f"followed, not submitted again")
            followed += refused
        try:
            for group in plan_arrays(claimed, profile, root, max_parallel):
                array_id = _submit(group, profile, store, worker, owner)
                submitted.append(group)
                many = len(group.runs) > 1
                console.print(f"submitted {'job array' if many else 'job'} {array_id}: {len(group.runs)} "
                              f"run(s)" + (f", at most {min(len(group.runs), group.params['array_parallelism'])} "
                                           f"at once" if many else "")
                              + f" (cluster '{profile.name}'); logs under {group.folder.parent}; "
                              f"watch with: squeue -j {array_id}")
        except BaseException:
            # Runs this submitter claimed but did not send go back to whoever comes next.
            sent = {run.id for group in submitted for run in group.runs}
            for run in claimed:
                if run.id not in sent and store.claim_holder(run.id) == owner:
                    store.release_claim(run.id, owner)
                    if (store.read_state(run.id) or {}).get("state") == "queued":
                        store.set_state(run.id, "pending", job_id=None, reason=None)
            raise
    reattached = len(followed)
    if reattached:
        console.print(f"re-attached to {reattached} run(s) already queued or running in SLURM")
    followed += [run for group in submitted for run in group.runs]
    if not wait or not followed:
        return 0
    try:
        return wait_for(followed, store, console, poll_slurm_s=poll_slurm_s)
    except KeyboardInterrupt:
        console.print("the jobs keep running on the cluster; 'ssa-bench status SPEC' shows them, and "
                      "running the same 'ssa-bench run' again re-attaches without resubmitting")
        raise
