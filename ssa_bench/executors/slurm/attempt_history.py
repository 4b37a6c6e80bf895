"""Every start of a run on SLURM, kept in its state.json and, when it is done, in its record.

A requeued job (time limit, preemption, node failure, ``scontrol requeue``) trains one run over
several attempts, and a run resubmitted after a failure over several jobs. The record must say so:
``slurm.attempts`` lists each attempt with its job id, node, start and end, and
``train.wall_time_s`` is the training time of all of them, not only of the attempt that finished
(``train.wall_time_s_last_attempt`` keeps that one).

An attempt that ended without saying so (its node died, it was killed) is closed from SLURM's
accounting when the next attempt starts.
"""
from __future__ import annotations

import socket
import time

from ssa_bench.executors.slurm import accounting


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def _epoch(text: str | None) -> float | None:
    try:
        return time.mktime(time.strptime(text or "", "%Y-%m-%dT%H:%M:%S%z"))
    except ValueError:
        return None


def _close_lost(attempts: list[dict], job_id: str) -> None:
    """Fill the end of earlier attempts of ``job_id`` that never recorded one, from accounting."""
    open_ones = [a for a in attempts if a.get("ended") is None]
    if not open_ones:
        return
    infos = accounting.query([job_id]) or {}
    history = list(infos[job_id].history) if job_id in infos else []
    for entry in open_ones:
        match = None
        if entry.get("job_id") == job_id and history:
            index = int(entry.get("attempt") or 1) - 1      # SLURM_RESTART_COUNT + 1, the row order
            match = history[index] if 0 <= index < len(history) else None
        if match is not None and match.ended is not None:
            entry.update(ended=_iso(match.ended), outcome=match.state.lower(),
                         node=entry.get("node") or match.node)
        else:
            entry.update(ended=None, outcome="lost (ended without a trace: node failure or kill)")


def start(store, run_id: str, job_id: str, attempt: int) -> list[dict]:
    """This attempt's entry appended to the run's attempts (returned; the caller writes the state)."""
    attempts = [dict(a) for a in (store.read_state(run_id) or {}).get("attempts") or []]
    attempts = [a for a in attempts if not (a.get("job_id") == job_id and a.get("attempt") == attempt)]
    _close_lost(attempts, job_id)
    attempts.append({"job_id": job_id, "attempt": attempt, "node": socket.gethostname(),
                     "started": _iso(time.time()), "ended": None, "outcome": None,
                     "train_done_at_start": store.stage_done(run_id, "train")})
    return attempts


def end(store, run_id: str, job_id: str | None, attempt: int, outcome: str) -> list[dict]:
    """Close this attempt's entry (requeued, failed, done) in state.json; returns the attempts."""
    state = store.read_state(run_id) or {}
    attempts = [dict(a) for a in state.get("attempts") or []]
    for entry in attempts:
        if entry.get("job_id") == job_id and entry.get("attempt") == attempt and entry.get("ended") is None:
            entry.update(ended=_iso(time.time()), outcome=outcome)
    if state:
        store.set_state(run_id, state["state"], attempts=attempts)
    return attempts


def training_seconds(attempts: list[dict], last_attempt_train_s: float | None) -> float | None:
    """Training time over all attempts: the train stage's own time for the attempt that finished
    training, plus the whole span of each earlier attempt that was interrupted while training
    (an attempt that started with the train stage done only evaluated or measured)."""
    if last_attempt_train_s is None:
        return None
    trained = [a for a in attempts if not a.get("train_done_at_start")]
    interrupted = trained[:-1]       # the last one that started untrained finished the training
    total = float(last_attempt_train_s)
    for entry in interrupted:
        began, ended = _epoch(entry.get("started")), _epoch(entry.get("ended"))
        if began is not None and ended is not None and ended >= began:
            total += ended - began
    return round(total, 2)


def finish(store, run_id: str, job_id: str, attempt: int) -> None:
    """The run is done by this attempt: close it and write the attempts into the record."""
    attempts = end(store, run_id, job_id, attempt, "done")
    record = store.record(run_id)
    if not isinstance(record, dict):
        return
    train = dict(record.get("train") or {})
    last = train.get("wall_time_s_last_attempt", train.get("wall_time_s"))
    if last is not None:
        train["wall_time_s_last_attempt"] = last
        train["wall_time_s"] = training_seconds(attempts, last)
    train["attempts"] = len(attempts)
    record["train"] = train
    # The job that writes this is the job that trained the run: the claim let no other in.
    record["slurm"] = {"job_id": job_id, "attempt": attempt,
                       "attempts": [{k: a.get(k) for k in ("job_id", "attempt", "node", "started", "ended",
                                                            "outcome")} for a in attempts]}
    store.write_record(run_id, record)
