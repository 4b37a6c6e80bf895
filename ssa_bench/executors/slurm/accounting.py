"""What SLURM says about our jobs, and what that means for each run's state.

The run's own state.json is the primary record: the job writes running/done/failed itself. SLURM
is asked about runs whose job may have done something a job cannot report: been cancelled or
killed (time limit, out of memory), lost its node, or been requeued (``scontrol requeue``,
preemption, node failure) and wait to start again.

Two sources, for two questions:

* **Where is the job now?** The controller (``squeue``) answers without delay. Accounting
  (``sacct``) lags behind it by a few seconds: just after a job starts it may still say PENDING,
  and just after a node failure it says NODE_FAIL before the requeued attempt's PENDING row is
  written. So the controller's word wins while it remembers the job (``MinJobAge`` after its
  end); after that, accounting's newest row.
* **What happened before?** Accounting with ``--duplicates`` keeps one row per attempt of a
  requeued job (REQUEUED, NODE_FAIL, PREEMPTED, then the new PENDING/RUNNING row), with the
  node and the start and end times of each.

A run is failed only when SLURM is done with its job: the job has ended and no later attempt is
queued. NODE_FAIL or PREEMPTED followed by a new attempt is a requeue, not a failure.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

WAITING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED",
           "CONFIGURING", "RESIZING"}
ACTIVE = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
SUCCEEDED = {"COMPLETED"}
# Everything else that ends a job (FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED,
# BOOT_FAIL, DEADLINE, ...) ends it badly -- unless a later attempt of the same job follows.
# Clock difference between this host and slurmctld that a job's submit time may show.
STALE_SLACK_S = 120
# Ends after which SLURM requeues a requeueable job. The controller records the end a moment
# before it queues the job again (and accounting may lag further): such an end is not called a
# failure until it is this old with no new attempt in sight.
REQUEUED_ENDS = {"NODE_FAIL", "PREEMPTED", "REQUEUED"}
REQUEUE_GRACE_S = 30.0


@dataclass(frozen=True)
class Attempt:
    """One start of a job: SLURM runs a requeued job again under the same id."""
    state: str                 # how it ended (REQUEUED, NODE_FAIL, PREEMPTED, COMPLETED, ...) or RUNNING
    started: float | None
    ended: float | None
    node: str = ""

    def to_json(self) -> dict:
        return {"slurm_state": self.state, "node": self.node or None,
                "started": _iso(self.started), "ended": _iso(self.ended)}


@dataclass(frozen=True)
class JobInfo:
    job_id: str        # "123" or "123_4" (array task)
    state: str         # SLURM's state word now, e.g. "CANCELLED" (sacct's "CANCELLED by 0" trimmed)
    reason: str = ""   # why it is pending (BeginTime, Priority, JobHeldAdmin...), or how it ended
    submitted: float | None = None   # sacct's Submit as epoch seconds (None from squeue)
    node: str = ""
    from_controller: bool = False    # state read from squeue (current) rather than sacct (may lag)
    history: tuple[Attempt, ...] = field(default=())   # attempts that started, oldest first

    @property
    def live(self) -> bool:
        return self.state in WAITING or self.state in ACTIVE

    @property
    def ended_attempts(self) -> tuple[Attempt, ...]:
        """Attempts that started and ended while the job is live again: the requeues."""
        if not self.live:
            return ()
        return tuple(a for a in self.history if a.ended is not None and a.state not in ACTIVE)


_RANGE = re.compile(r"^(?P<main>\d+)_\[(?P<ranges>[\d,\-]+)(%\d+)?\]$")


def _expand(job_id: str) -> list[str]:
    """``123_[2-5%2]`` (a pending array's line) -> its tasks; any other id -> itself."""
    match = _RANGE.match(job_id)
    if not match:
        return [job_id]
    tasks = []
    for part in match.group("ranges").split(","):
        low, _, high = part.partition("-")
        tasks += [f"{match.group('main')}_{index}" for index in range(int(low), int(high or low) + 1)]
    return tasks


def parse_table(text: str, *, from_controller: bool = False) -> dict[str, JobInfo]:
    """Parse ``sacct --parsable2`` (with or without --duplicates) or ``squeue`` output with a
    JobID|State|Reason[|Submit|Start|End|NodeList] header.

    A pending array shows as one ``123_[2-5%2]`` line; tasks that started have their own lines,
    which win over the range line whatever the order (submitit's own parser lets the range
    overwrite them). Job steps (``123_4.batch``) are skipped. Several rows of one id (a requeued
    job under --duplicates) become that id's history; the newest row is its state.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    names = [name.strip() for name in lines[0].split("|")]
    explicit: dict[str, list[dict]] = {}
    ranged: dict[str, dict] = {}
    for line in lines[1:]:
        row = dict(zip(names, (cell.strip() for cell in line.split("|"))))
        job_id = row.get("JobID") or row.get("JOBID") or ""
        if not job_id or "." in job_id:
            continue
        tasks = _expand(job_id)
        for task in tasks:
            if len(tasks) > 1 or task != job_id:
                ranged[task] = row
            else:
                explicit.setdefault(task, []).append(row)
    infos = {task: _info(task, [row], from_controller) for task, row in ranged.items()}
    for task, rows in explicit.items():
        rows.sort(key=lambda row: _epoch(row.get("Submit")) or 0.0)   # stable: sacct's order on ties
        infos[task] = _info(task, rows, from_controller)
    return infos


def _info(job_id: str, rows: list[dict], from_controller: bool) -> JobInfo:
    newest = rows[-1]
    state = _state_word(newest)
    reason = newest.get("Reason") or newest.get("REASON") or ""
    if "ExitCode" in newest and state not in WAITING and state not in ACTIVE:
        reason = f"exit code {newest['ExitCode']}"
    history = tuple(Attempt(_state_word(row), _epoch(row.get("Start")), _epoch(row.get("End")),
                            _node(row.get("NodeList") or row.get("NODELIST")))
                    for row in rows if _epoch(row.get("Start")) is not None)
    return JobInfo(job_id, state, "" if reason == "None" else reason,
                   _epoch(rows[0].get("Submit")), _node(newest.get("NodeList") or newest.get("NODELIST")),
                   from_controller, history)


def _state_word(row: dict) -> str:
    return (row.get("State") or row.get("STATE") or "UNKNOWN").split()[0].rstrip("+")


def _node(text: str | None) -> str:
    return "" if not text or text in ("None assigned", "(null)") else text


def _epoch(text: str | None) -> float | None:
    # sacct prints the cluster's local time without a zone; this host is assumed to share it.
    try:
        return time.mktime(time.strptime(text or "", "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def job_info(state: dict, infos: dict[str, JobInfo]) -> JobInfo | None:
    """SLURM's record of the run's job, unless it belongs to an older job with the same id (ids
    start again at 1 when a cluster's state is wiped, while accounting keeps the old rows)."""
    info = infos.get(str(state.get("job_id")))
    submitted = state.get("submitted_at")
    if (info and not info.from_controller and info.submitted and submitted
            and info.submitted < float(submitted) - STALE_SLACK_S):
        return None
    return info


def merge(accounting: dict[str, JobInfo], controller: dict[str, JobInfo]) -> dict[str, JobInfo]:
    """Accounting's history with the controller's current state where the controller knows the job."""
    merged = dict(accounting)
    for job_id, now in controller.items():
        past = accounting.get(job_id)
        merged[job_id] = JobInfo(job_id, now.state, now.reason, past.submitted if past else None,
                                 now.node or (past.node if past else ""), True,
                                 past.history if past else ())
    return merged


def query(job_ids: list[str]) -> dict[str, JobInfo] | None:
    """The SLURM state and history of each job id; None when neither sacct nor squeue answers."""
    mains = sorted({str(job_id).split("_")[0] for job_id in job_ids})
    if not mains:
        return {}
    accounting = controller = None
    if shutil.which("sacct"):
        command = ["sacct", "-X", "--duplicates", "--parsable2",
                   "-o", "JobID,State,ExitCode,Reason,Submit,Start,End,NodeList"]
        for main in mains:
            command += ["-j", main]
        answer = _run(command)
        if answer is not None:
            accounting = parse_table(answer)
    if shutil.which("squeue"):
        # squeue forgets a job MinJobAge seconds after it ends; then accounting is all there is.
        answer = _run(["squeue", "-h", "-r", "-j", ",".join(mains), "-o", "%i|%T|%r|%N"])
        if answer is not None:
            controller = parse_table("JOBID|STATE|REASON|NODELIST\n" + answer, from_controller=True)
    if accounting is None and controller is None:
        return None
    return merge(accounting or {}, controller or {})


def job_alive(job_id: str) -> bool | None:
    """Is this SLURM job (or array task) queued or running? None when SLURM does not answer.

    The liveness test of claims held by SLURM jobs (see ssa_bench.store): a claim whose job
    SLURM is done with is stale.
    """
    infos = query([str(job_id)])
    if infos is None:
        return None
    info = infos.get(str(job_id))
    if info is None:
        # A job id accounting has never seen: sbatch has not returned yet, or a wiped cluster.
        return None
    return info.live


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def reconcile(state: dict, info: JobInfo | None, now: float | None = None) -> dict | None:
    """The state.json update SLURM's view calls for (keyword arguments of set_state), or None.

    ``state`` is the run's state.json; ``info`` what SLURM says about its job_id (None: unknown,
    e.g. accounting has not caught up with a submission a moment ago -- leave it alone).
    """
    current = state.get("state")
    if current == "done" or info is None:
        return None
    keep = {k: state.get(k) for k in ("executor", "job_id", "attempt", "host", "log")}
    attempt = state.get("attempt") or 0
    if info.state in WAITING:
        requeues = len(info.ended_attempts)
        # The controller does not lag: a job it holds as pending after it had started was put back.
        # Accounting alone saying PENDING about a job that wrote 'running' is the start-of-job lag.
        put_back = requeues >= 1 or (info.from_controller and current in ("running", "failed")
                                     and attempt >= 1)
        if put_back:
            requeues = max(requeues, attempt, 1)
            last = info.ended_attempts[-1] if info.ended_attempts else None
            how = f" ({last.state}{' on ' + last.node if last.node else ''})" if last else ""
            reason = (f"requeued by SLURM after attempt {requeues}{how}; waiting to restart: "
                      f"{info.reason or info.state}")
            if current == "queued" and state.get("reason") == reason:
                return None
            return {**keep, "state": "queued", "requeued": requeues, "traceback": None,
                    "slurm_reason": info.reason or info.state, "reason": reason}
        if current in ("running", "failed"):
            return None     # accounting has not caught up with the start
        reason = f"waiting in the SLURM queue: {info.reason or info.state}"
        if current == "queued" and state.get("reason") != reason:
            return {**keep, "state": "queued", "requeued": state.get("requeued"),
                    "slurm_reason": info.reason or info.state, "reason": reason}
        return None
    if info.state in ACTIVE:
        if current == "queued":
            return {**keep, "state": "running", "reason": None, "slurm_reason": None,
                    "host": info.node or state.get("host")}
        return None
    if current == "failed":
        return None         # the job said why itself
    if info.state in REQUEUED_ENDS and _ended_within(info, REQUEUE_GRACE_S, now):
        return None         # SLURM may be queueing it again this very moment
    log = state.get("log")
    where = f"; see {log}" if log else ""
    node = f" on {info.node}" if info.node else ""
    if info.state in SUCCEEDED:
        reason = f"SLURM job {info.job_id} ended without writing the run's result{where}"
    else:
        attempts = len(info.history)
        tries = f" after {attempts} attempts, not requeued again" if attempts > 1 else ""
        reason = (f"SLURM job {info.job_id} ended {info.state}{node}"
                  + (f" ({info.reason})" if info.reason else "") + tries + where)
    return {**keep, "state": "failed", "reason": reason, "traceback": log, "slurm_reason": None}


def _ended_within(info: JobInfo, seconds: float, now: float | None) -> bool:
    last = info.history[-1] if info.history else None
    if last is None or last.ended is None:
        return False
    return (time.time() if now is None else now) - last.ended < seconds


def refresh_states(store, runs, infos: dict[str, JobInfo] | None = None) -> dict[str, JobInfo] | None:
    """Bring every SLURM run's state.json up to date with SLURM (``status``, ``run``).

    Returns what SLURM said (None when it did not answer), for callers that show it.
    """
    tracked = {}
    for run in runs:
        state = store.read_state(run.id) or {}
        if state.get("executor") == "slurm" and state.get("job_id") and state.get("state") != "done":
            tracked[run.id] = state
    if not tracked:
        return {}
    if infos is None:
        infos = query([state["job_id"] for state in tracked.values()])
    if infos is None:
        return None
    for run_id, state in tracked.items():
        # Re-read: the job may have written its own state while we were asking SLURM.
        fresh = store.read_state(run_id) or state
        if fresh.get("job_id") != state.get("job_id"):
            continue
        update = reconcile(fresh, job_info(fresh, infos))
        if update:
            new_state = update.pop("state")
            store.set_state(run_id, new_state, **update)
    return infos
