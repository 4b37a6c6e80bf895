"""What a starting SLURM job does with its run, given who holds the run's claim (no SLURM needed).

The claims here are an in-memory stand-in with the store's claim semantics (atomic take when free
or stale, transfer only by the holder), so that every branch of the job's decision is exercised,
including the hand-over race and an orphan submission; the store's own claim file is tested with
the store.
"""
from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass

import pytest

from ssa_bench.executors.slurm import claims as slurm_claims


@dataclass(frozen=True)
class Owner:
    kind: str
    host: str
    pid: int | None
    job_id: str | None = None
    since: float = 0.0


class Claims:
    def __init__(self, dead_jobs=()):
        self.holders: dict[str, Owner] = {}
        self.dead_jobs = set(dead_jobs)
        self.lock = threading.Lock()

    def _stale(self, owner: Owner) -> bool:
        if owner.kind == "slurm":
            return owner.job_id in self.dead_jobs
        return slurm_claims.process_alive(owner) is False

    def claim(self, run_id, owner) -> bool:
        with self.lock:
            holder = self.holders.get(run_id)
            if holder is not None and not self._stale(holder):
                return False
            self.holders[run_id] = owner
            return True

    def claim_holder(self, run_id):
        return self.holders.get(run_id)

    def transfer_claim(self, run_id, old, new) -> bool:
        with self.lock:
            if self.holders.get(run_id) != old:
                return False
            self.holders[run_id] = new
            return True

    def release_claim(self, run_id, owner) -> None:
        with self.lock:
            if self.holders.get(run_id) == owner:
                del self.holders[run_id]


HOST = socket.gethostname()


@pytest.fixture(autouse=True)
def _owners(monkeypatch):
    monkeypatch.setattr(slurm_claims, "job_owner", lambda job_id: Owner("slurm", HOST, os.getpid(), str(job_id)))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_job_the_claim_names_trains_including_after_a_requeue():
    claims = Claims()
    claims.holders["r"] = Owner("slurm", "node1", 1, "12_3")
    verdict = slurm_claims.verdict_for_job(claims, "r", "12_3", may_claim=True, wait_s=0)
    assert verdict.train and not verdict.orphan


def test_a_job_whose_run_another_live_job_holds_exits_untouched():
    claims = Claims()
    claims.holders["r"] = Owner("slurm", "node1", 1, "12_3")
    verdict = slurm_claims.verdict_for_job(claims, "r", "13_0", may_claim=True, wait_s=0)
    assert not verdict.train and "SLURM job 12_3" in verdict.message and "without touching" in verdict.message
    assert claims.holders["r"].job_id == "12_3"


def test_a_job_started_before_the_handover_waits_for_it():
    claims = Claims()
    submitter = Owner("submitter", HOST, os.getpid())
    claims.holders["r"] = submitter
    timer = threading.Timer(0.3, claims.transfer_claim, ("r", submitter, Owner("slurm", HOST, 1, "14_0")))
    timer.start()
    verdict = slurm_claims.verdict_for_job(claims, "r", "14_0", may_claim=True, wait_s=10, poll_s=0.05)
    timer.join()
    assert verdict.train


def test_a_handover_that_never_comes_ends_in_an_exit_not_a_training():
    claims = Claims()
    claims.holders["r"] = Owner("submitter", HOST, os.getpid())        # alive, never hands over
    verdict = slurm_claims.verdict_for_job(claims, "r", "15_0", may_claim=True, wait_s=0.2, poll_s=0.05)
    assert not verdict.train and "after 0 s" in verdict.message


def test_orphan_submission_the_job_takes_the_run_over_from_a_dead_submitter():
    claims = Claims()
    claims.holders["r"] = Owner("submitter", HOST, _dead_pid())
    verdict = slurm_claims.verdict_for_job(claims, "r", "16_0", may_claim=True, wait_s=0)
    assert verdict.train and verdict.orphan and "orphan submission" in verdict.message
    assert claims.holders["r"].job_id == "16_0"


def test_only_rank_zero_takes_a_claim_the_other_ranks_wait_for_it():
    claims = Claims()
    verdict = slurm_claims.verdict_for_job(claims, "r", "17_0", may_claim=False, wait_s=0.1, poll_s=0.05)
    assert not verdict.train and "r" not in claims.holders


def test_a_stale_job_claim_is_taken_by_the_next_job():
    claims = Claims(dead_jobs={"18_0"})
    claims.holders["r"] = Owner("slurm", "node1", 1, "18_0")         # cancelled, SLURM done with it
    verdict = slurm_claims.verdict_for_job(claims, "r", "19_0", may_claim=True, wait_s=0)
    assert not verdict.train          # another job's claim is never taken by a job: only submitters do


def test_two_jobs_racing_for_a_free_run_only_one_trains():
    for _ in range(200):
        claims = Claims()
        verdicts = {}

        def start(job_id):
            verdicts[job_id] = slurm_claims.verdict_for_job(claims, "r", job_id, may_claim=True, wait_s=0)

        threads = [threading.Thread(target=start, args=(job,)) for job in ("20_0", "21_0")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(v.train for v in verdicts.values()) == 1


def test_release_for_job_leaves_another_holders_claim_alone():
    claims = Claims()
    other = Owner("slurm", "node1", 1, "22_0")
    claims.holders["r"] = other
    slurm_claims.release_for_job(claims, "r", "23_0")
    assert claims.holders["r"] == other
    slurm_claims.release_for_job(claims, "r", "22_0")
    assert "r" not in claims.holders


def test_a_submitter_whose_pid_check_fails_keeps_the_run(monkeypatch):
    """os.kill failing with anything but "no such process" says nothing about the submitter: the job
    neither crashes nor takes the run over as an orphan; it leaves the claim where it is."""
    claims = Claims()
    submitter = Owner("submitter", HOST, os.getppid())
    claims.holders["r"] = submitter
    real_kill = os.kill

    def kill(pid, sig):
        if pid == submitter.pid and sig == 0:
            raise OSError(errno.EIO, "I/O error")
        return real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", kill)
    assert slurm_claims.process_alive(submitter) is None
    verdict = slurm_claims.verdict_for_job(claims, "r", "17_0", may_claim=True, wait_s=0.1, poll_s=0.05)
    assert not verdict.train and not verdict.orphan
    assert claims.holders["r"] == submitter
