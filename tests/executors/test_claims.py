"""The run claim (ssa_bench.store.claims): two processes racing on one run never both get it,
a stale claim is broken by exactly one of two racing breakers, and only the owner hands over or
releases. Races start together on a multiprocessing barrier, not after a sleep."""
from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
import socket
import time

import pytest

from ssa_bench.store import Owner, Store, claims

ROUNDS = 200


def _race(tmp_path, run_ids: list[str], prepare) -> dict[str, list[tuple[int, bool]]]:
    """Run two racer processes over ``run_ids``; ``prepare(store, run_id)`` sets up each round."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)            # two racers and the parent, which releases each round
    results = context.Queue()
    store = Store(tmp_path)
    events = [context.Event() for _ in run_ids]
    racers = []
    for _ in range(2):
        racers.append(context.Process(target=_racer_rounds, args=(str(tmp_path), run_ids, barrier, results,
                                                                   events)))
    for process in racers:
        process.start()
    outcome: dict[str, list[tuple[int, bool]]] = {run_id: [] for run_id in run_ids}
    try:
        for run_id, event in zip(run_ids, events):
            prepare(store, run_id)
            event.set()
            barrier.wait(timeout=60)        # start: both racers claim now
            barrier.wait(timeout=60)        # end: both have tried
            for _ in range(2):
                got_id, pid, won = results.get(timeout=60)
                outcome[got_id].append((pid, won))
    finally:
        for process in racers:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in racers)
    return outcome


def _racer_rounds(root, run_ids, barrier, results, events) -> None:
    store = Store(root)
    me = Owner.this_process("local")
    for run_id, event in zip(run_ids, events):
        event.wait(timeout=60)
        barrier.wait(timeout=60)
        results.put((run_id, os.getpid(), store.claim(run_id, me)))
        barrier.wait(timeout=60)


def _assert_one_winner(store: Store, outcome) -> None:
    for run_id, tries in outcome.items():
        winners = [pid for pid, won in tries if won]
        assert len(tries) == 2 and len(winners) == 1, (run_id, tries)
        holder = store.claim_holder(run_id)
        assert holder is not None and holder.pid == winners[0]


def _dead_pid() -> int:
    process = multiprocessing.get_context("fork").Process(target=os._exit, args=(0,))
    process.start()
    process.join()
    return process.pid


def test_two_racers_never_both_claim_one_run(tmp_path):
    outcome = _race(tmp_path, [f"run{i:03d}" for i in range(ROUNDS)], lambda store, run_id: None)
    _assert_one_winner(Store(tmp_path), outcome)


@pytest.fixture
def slow_judgement(monkeypatch):
    """Widen the window between judging a claim stale and breaking it (inherited by the forked
    racers): both racers judge the old claim stale before either breaks it, so a breaker that
    did not compare again under the lock would remove the winner's fresh claim and win too."""
    judge = claims.is_stale

    def slowly(*args, **kwargs):
        verdict = judge(*args, **kwargs)
        time.sleep(0.02)
        return verdict

    monkeypatch.setattr(claims, "is_stale", slowly)


def test_a_dead_owner_claim_is_broken_by_exactly_one_of_two_racers(tmp_path, slow_judgement):
    dead = Owner("local", socket.gethostname(), _dead_pid(), None, time.time())

    def stale_claim(store, run_id):
        assert store.claim(run_id, dead)       # as a worker killed -9 leaves it
        assert store.claim_holder(run_id) == dead

    outcome = _race(tmp_path, [f"dead{i:02d}" for i in range(40)], stale_claim)
    _assert_one_winner(Store(tmp_path), outcome)


def test_an_old_heartbeat_from_another_host_is_broken_by_exactly_one_racer(tmp_path, slow_judgement):
    elsewhere = Owner("local", "some-other-node", 1, None, time.time())

    def silent_claim(store, run_id):
        assert store.claim(run_id, elsewhere)
        old = time.time() - claims.HEARTBEAT_TIMEOUT_S - 60
        os.utime(store.paths(run_id).claim, (old, old))

    outcome = _race(tmp_path, [f"quiet{i:02d}" for i in range(40)], silent_claim)
    _assert_one_winner(Store(tmp_path), outcome)


def test_a_fresh_heartbeat_from_another_host_is_not_broken(tmp_path):
    store = Store(tmp_path)
    elsewhere = Owner("local", "some-other-node", 1, None, time.time())
    assert store.claim("r", elsewhere)
    assert not store.claim("r", Owner.this_process("local"))
    assert store.claim_holder("r") == elsewhere


def test_a_live_owner_keeps_its_claim_and_may_claim_again(tmp_path):
    store = Store(tmp_path)
    me = Owner.this_process("local")
    assert store.claim("r", me) and store.claim("r", me)
    parent = Owner("local", socket.gethostname(), os.getppid(), None, time.time())
    assert not store.claim("r", parent)
    assert store.claim_holder("r") == me and store.claim_is_live("r")


def test_transfer_and_release_only_by_the_owner(tmp_path):
    store = Store(tmp_path)
    submitter = Owner.this_process("submitter")
    stranger = Owner("submitter", socket.gethostname(), os.getppid(), None, time.time())
    job = Owner("slurm", "node1", 77, "12_3", time.time())
    assert store.claim("r", submitter)
    assert not store.transfer_claim("r", stranger, job)
    assert store.claim_holder("r") == submitter
    store.release_claim("r", stranger)
    assert store.claim_holder("r") == submitter
    assert store.transfer_claim("r", submitter, job)
    assert store.claim_holder("r") == job
    assert not store.transfer_claim("r", submitter, job)       # no longer the owner
    # a requeued attempt of the same job (other node, other pid) is the same owner
    requeued = Owner("slurm", "node2", 91, "12_3", time.time())
    store.release_claim("r", requeued)
    assert store.claim_holder("r") is None
    assert not store.transfer_claim("r", job, submitter)       # nothing to hand over


def test_slurm_claims_follow_the_registered_liveness_test(tmp_path, monkeypatch):
    store = Store(tmp_path)
    monkeypatch.setattr(claims, "_LIVENESS", {})
    job = Owner("slurm", "node1", 5, "40", time.time())
    me = Owner.this_process("local")
    assert store.claim("r", job)
    assert not store.claim("r", me)                            # no test registered: live
    answers = {"40": None}
    claims.register_liveness("slurm", lambda job_id: answers[job_id])
    assert not store.claim("r", me)                            # SLURM does not answer: live
    answers["40"] = True
    assert not store.claim("r", me)
    answers["40"] = False                                      # SLURM is done with the job
    assert store.claim("r", me) and store.claim_holder("r") == me


def test_a_damaged_claim_is_kept_until_the_heartbeat_timeout(tmp_path):
    store = Store(tmp_path)
    path = store.paths("r").claim
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write("{\"kind\": ")
    me = Owner.this_process("local")
    assert store.claim_holder("r") is None
    assert not store.claim("r", me)
    old = time.time() - claims.HEARTBEAT_TIMEOUT_S - 1
    os.utime(path, (old, old))
    assert store.claim("r", me)


def test_heartbeat_refreshes_only_the_owners_claim(tmp_path):
    store = Store(tmp_path)
    me = Owner.this_process("local")
    assert store.claim("r", me)
    path = store.paths("r").claim
    os.utime(path, (1000, 1000))
    assert not store.heartbeat_claim("r", Owner("local", "x", 1, None, 0.0))
    assert os.stat(path).st_mtime == 1000
    assert store.heartbeat_claim("r", me)
    assert os.stat(path).st_mtime > time.time() - 60


def test_an_abandoned_compare_and_swap_lock_is_broken(tmp_path):
    store = Store(tmp_path)
    me = Owner.this_process("local")
    assert store.claim("r", me)
    lock = os.path.join(store.paths("r").run_dir, "claim.lock")
    with open(lock, "w"):
        pass
    old = time.time() - claims.LOCK_STALE_S - 1
    os.utime(lock, (old, old))
    store.release_claim("r", me)
    assert store.claim_holder("r") is None and not os.path.exists(lock)


def test_owner_kind_is_checked():
    with pytest.raises(ValueError):
        Owner.this_process("cron")


@pytest.mark.parametrize("error", [PermissionError(errno.EPERM, "not allowed"),
                                   OSError(errno.EIO, "I/O error"), RuntimeError("sacct crashed")])
def test_a_slurm_liveness_test_that_raises_keeps_the_claim(tmp_path, monkeypatch, error):
    """A scheduler that cannot be asked says nothing about the job: the claim stays held."""
    store = Store(tmp_path)
    monkeypatch.setattr(claims, "_LIVENESS", {})
    job = Owner("slurm", "node1", 5, "41", time.time())
    assert store.claim("r", job)

    def raising(job_id):
        raise error

    claims.register_liveness("slurm", raising)
    assert store.claim_is_live("r")
    assert not store.claim("r", Owner.this_process("local"))
    assert store.claim_holder("r") == job


@pytest.mark.parametrize("error", [PermissionError(errno.EPERM, "not allowed"),
                                   OSError(errno.EIO, "I/O error"), OSError(errno.EINVAL, "invalid")])
def test_a_local_pid_check_that_raises_keeps_the_claim(tmp_path, monkeypatch, error):
    """Only "no such process" (ESRCH) means the owner is gone; any other failure of the check is
    an unknown, and breaking a live run's claim would start a second copy of it."""
    store = Store(tmp_path)
    other = Owner("local", socket.gethostname(), os.getppid(), None, time.time())
    assert store.claim("r", other)
    real_kill = os.kill

    def kill(pid, sig):
        if pid == other.pid and sig == 0:
            raise error
        return real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", kill)
    assert store.claim_is_live("r")
    assert not store.claim("r", Owner.this_process("local"))
    assert store.claim_holder("r") == other


# -- found by mutation testing (tools/mutation.py store): what the races above left open -------
def test_a_slurm_owner_keeps_its_job_id_as_text_and_a_process_has_none():
    assert Owner.this_process("slurm", job_id=4711).job_id == "4711"
    assert Owner.this_process("local").job_id is None
    with pytest.raises(ValueError, match="'cron'"):
        Owner.this_process("cron")


def test_release_and_transfer_say_whether_they_changed_anything(tmp_path):
    store = Store(tmp_path)
    me = Owner.this_process("local")
    stranger = Owner("local", "elsewhere", 1, None, time.time())
    path = store.paths("r").claim
    assert claims.release(path, me) is False                   # nothing to release
    assert store.claim("r", me)
    assert claims.release(path, stranger) is False
    assert claims.release(path, me) is True and store.claim_holder("r") is None
    assert os.listdir(store.paths("r").run_dir) == []           # no lock or temp file left
    assert store.claim("r", me)
    assert store.transfer_claim("r", me, stranger) is True
    assert os.listdir(store.paths("r").run_dir) == ["claim.json"]
    assert store.heartbeat_claim("r", me) is False


def test_the_compare_and_swap_lock_is_held_inside_and_gone_after(tmp_path):
    claim = str(tmp_path / "claim.json")
    assert claims._Lock(claim).path == str(tmp_path / "claim.lock")
    assert claims._Lock(str(tmp_path / "other")).path == str(tmp_path / "other.lock")
    with claims._Lock(claim) as lock:
        assert isinstance(lock, claims._Lock)
        with open(tmp_path / "claim.lock") as handle:
            assert json.load(handle) == {"host": socket.gethostname(), "pid": os.getpid()}
        with pytest.raises(TimeoutError, match=re.escape(str(tmp_path / "claim.lock"))):
            with claims._Lock(claim, wait_s=0.2):
                pass
        assert os.path.exists(tmp_path / "claim.lock")          # the waiter did not take it
    assert os.listdir(tmp_path) == []                           # lock and its temp file gone


def test_staleness_is_judged_at_the_time_asked_and_the_timeout_is_strict(tmp_path):
    path = str(tmp_path / "claim.json")
    assert claims.is_stale(path) is False                       # no claim: nothing to break
    elsewhere = Owner("local", "some-other-node", 1, None, 0.0)
    with open(path, "w") as handle:
        json.dump(elsewhere.to_dict(), handle)
    os.utime(path, ns=(10**18, 10**18))                         # mtime 1e9 s, exactly
    mtime = os.stat(path).st_mtime
    timeout = claims.HEARTBEAT_TIMEOUT_S
    assert claims.is_stale(path, now=mtime + timeout) is False
    assert claims.is_stale(path, now=mtime + timeout + 1) is True
    assert claims.is_stale(path, elsewhere, now=mtime + timeout + 1) is True
    with open(path, "w") as handle:
        handle.write("{")                                        # damage, not a claim
    os.utime(path, ns=(10**18, 10**18))
    assert claims.is_stale(path, now=mtime + timeout) is False
    assert claims.is_stale(path, now=mtime + timeout + 1) is True
    os.unlink(path)
    assert claims._age(path, now=mtime + timeout) == 0.0         # vanished: as young as can be


def test_a_pid_no_process_can_have_is_not_alive():
    assert claims.pid_alive("not-a-pid") is False
    assert claims.pid_alive(2 ** 80) is False


def test_a_claim_without_a_host_is_not_a_claim_and_owners_describe_themselves():
    good = {"kind": "local", "host": "node1", "pid": 7, "job_id": None, "since": 1.0}
    assert claims.owner_from_dict(good) == Owner("local", "node1", 7, None, 1.0)
    assert claims.owner_from_dict({**good, "host": ""}) is None
    assert claims.owner_from_dict({**good, "host": 5}) is None
    assert Owner("slurm", "n", 1, "12_3", 0.0).describe() == "SLURM job 12_3"
    assert Owner("local", "node1", 7, None, 0.0).describe() == "local process 7 on node1"


@pytest.mark.parametrize("since", ["yesterday", "1765000000", True, None])
def test_a_claim_whose_since_is_not_a_number_is_not_a_claim(since):
    # a hand-edited or foreign claim.json: read as "not a well-formed claim", never a crash
    data = {"kind": "local", "host": "node1", "pid": 12, "job_id": None, "since": since}
    assert claims.owner_from_dict(data) is None
    assert claims.owner_from_dict({**data, "since": 1765000000}) == Owner("local", "node1", 12, None, 1765000000.0)


def test_a_claim_released_between_our_link_and_our_read_is_taken_on_the_next_try(tmp_path, monkeypatch):
    """Another holder's claim is gone when we read it (released in between): that is a free claim to
    try again, not a foreign one to give up on."""
    path = str(tmp_path / "runs" / "r" / "claim.json")
    ours = Owner.this_process("local")
    real_try_create = claims.try_create
    attempts = []

    def someone_else_held_it_then_released(target, owner):
        attempts.append(target)
        if len(attempts) == 1:
            return False              # our link failed: the file existed ... and is gone before our read
        return real_try_create(target, owner)

    monkeypatch.setattr(claims, "try_create", someone_else_held_it_then_released)
    assert claims.claim(path, ours)
    assert len(attempts) == 2 and ours.same_as(claims.holder(path))
