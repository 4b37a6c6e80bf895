"""`in_flight` without a live claim asks the backend the run's state names, and only that one.

A SLURM job the disk calls queued or running is trusted until SLURM says otherwise, whatever
pid or host the state carries; a local worker only while its pid lives on this host. The
dispatch is by the state's ``executor`` (base.BACKENDS), so a new backend answers for its own
runs without an ``if executor == ...`` in base.py.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from slurm_helpers import fake_run, make_store

from ssa_bench.executors.base import BACKENDS, backend, in_flight
from ssa_bench.executors.local import LocalExecutor
from ssa_bench.executors.slurm import SlurmExecutor


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def asked(monkeypatch):
    """Which backend's ``state_in_flight`` answered, in order; each still gives its real answer."""
    calls: list[str] = []
    for name, cls in (("local", LocalExecutor), ("slurm", SlurmExecutor)):
        real = cls.state_in_flight

        def spy(state, name=name, real=real):
            calls.append(name)
            return real(state)

        monkeypatch.setattr(cls, "state_in_flight", staticmethod(spy))
    return calls


def _store_with(tmp_path, run_id: str, state: str, **info):
    store = make_store(tmp_path)
    store.write_run(fake_run(run_id))
    store.set_state(run_id, state, **info)
    return store


def test_the_registry_names_each_backend_class():
    assert {name: backend(name) for name in BACKENDS} == {"local": LocalExecutor, "slurm": SlurmExecutor}


def test_a_slurm_state_asks_the_slurm_backend_and_never_the_local_pid_check(tmp_path, asked):
    # A pid and host that the local check would call dead: a SLURM job is judged by SLURM, not here.
    store = _store_with(tmp_path, "s", "running", executor="slurm", job_id="12_0",
                        host=socket.gethostname(), pid=_dead_pid())
    assert in_flight(store, "s")
    assert asked == ["slurm"]


def test_a_local_state_asks_the_local_backend_and_never_the_slurm_one(tmp_path, asked):
    store = _store_with(tmp_path, "l", "running", executor="local", host=socket.gethostname(),
                        pid=_dead_pid())
    assert not in_flight(store, "l")
    assert asked == ["local"]


@pytest.mark.parametrize("executor", [None, "ray"])
def test_a_state_naming_no_known_backend_is_judged_as_a_local_one(tmp_path, asked, executor):
    store = _store_with(tmp_path, "old", "running", executor=executor, host=socket.gethostname(),
                        pid=_dead_pid())
    assert not in_flight(store, "old")
    assert asked == ["local"]


def test_no_backend_is_asked_about_a_run_that_is_not_queued_or_running(tmp_path, asked):
    store = _store_with(tmp_path, "f", "failed", executor="slurm", job_id="12_0")
    assert not in_flight(store, "f") and asked == []


def test_each_backends_own_answer():
    here, dead = socket.gethostname(), _dead_pid()
    assert SlurmExecutor.state_in_flight({"state": "queued", "executor": "slurm", "job_id": "3_1"})
    assert SlurmExecutor.state_in_flight({"state": "running", "host": here, "pid": dead})
    assert LocalExecutor.state_in_flight({"state": "running", "host": here, "pid": os.getpid()})
    assert not LocalExecutor.state_in_flight({"state": "running", "host": here, "pid": dead})
    assert not LocalExecutor.state_in_flight({"state": "running", "host": here})          # no pid to ask
    assert not LocalExecutor.state_in_flight({"state": "queued", "host": here})
    assert LocalExecutor.state_in_flight({"state": "running", "host": "another-node", "pid": dead})
