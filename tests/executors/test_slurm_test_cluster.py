"""The local test cluster keeps to itself (issue 23, measured case 6): slurm/up.sh refuses to start
where it finds a SLURM it did not start, before it installs, starts or writes anything; the running
cluster's configuration, state, logs and munge socket live in its own folder and nothing of it is
under /etc."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from slurm_helpers import CLUSTER_CONF, CLUSTER_DIR

REPO = Path(__file__).resolve().parents[2]
UP = REPO / "slurm" / "up.sh"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="slurm/up.sh needs root")


def _up(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(UP)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def _tree(path: Path) -> list[tuple[str, float]]:
    return sorted((str(p), p.stat().st_mtime) for p in path.rglob("*")) if path.exists() else []


@needs_root
def test_up_refuses_where_a_slurmctld_it_did_not_start_runs(tmp_path):
    # A process called slurmctld that no pid file of the test cluster names, started without the
    # cluster's configuration: a login node's or workstation's own controller, as far as up.sh can tell.
    impostor = tmp_path / "bin" / "slurmctld"
    impostor.parent.mkdir()
    shutil.copy(shutil.which("sleep"), impostor)
    process = subprocess.Popen([str(impostor), "60"])
    try:
        time.sleep(0.2)
        before = _tree(CLUSTER_DIR)
        done = _up({})
        assert done.returncode == 3, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {process.pid}" in lines[0] and "not started by slurm/up.sh" in lines[0]
        assert not done.stdout.strip()                     # refused before doing anything
        assert _tree(CLUSTER_DIR) == before                # nothing written
    finally:
        process.kill()
        process.wait()


@pytest.mark.slurm
@needs_root
def test_up_refuses_into_a_fresh_folder_while_another_cluster_runs(tmp_path, slurm_cluster):
    # The running test cluster is not the one a second folder would start: up.sh must not start
    # a second controller beside it, nor write that folder.
    other = tmp_path / "other-cluster"
    done = _up({"SSA_SLURM_DIR": str(other)})
    assert done.returncode == 3 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not started by slurm/up.sh" in done.stderr
    assert not other.exists()


@pytest.mark.slurm
@needs_root
def test_up_refuses_when_slurm_conf_names_a_controller_that_answers(tmp_path, slurm_cluster):
    # SLURM_CONF pointing elsewhere at a controller that answers: this machine has a cluster of its own.
    elsewhere = tmp_path / "site" / "slurm.conf"
    elsewhere.parent.mkdir()
    shutil.copy(CLUSTER_CONF, elsewhere)
    done = _up({"SLURM_CONF": str(elsewhere)})
    assert done.returncode == 3, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and str(elsewhere) in done.stderr


@pytest.mark.slurm
def test_the_cluster_lives_in_its_folder_and_not_under_etc(slurm_cluster):
    assert os.environ["SLURM_CONF"] == str(CLUSTER_CONF) and CLUSTER_CONF.is_file()
    conf = CLUSTER_CONF.read_text()
    for line in ("StateSaveLocation", "SlurmdSpoolDir", "SlurmctldLogFile", "SlurmctldPidFile"):
        value = next(l.split("=", 1)[1] for l in conf.splitlines() if l.startswith(line + "="))
        assert value.startswith(str(CLUSTER_DIR)), (line, value)
    assert f"AuthInfo=socket={CLUSTER_DIR}/munge/" in conf
    # the daemons run this configuration, given explicitly
    for daemon in ("slurmctld", "slurmd"):
        pid = (CLUSTER_DIR / f"{daemon}.pid").read_text().strip()
        assert Path(f"/proc/{pid}").exists(), daemon
    written_by_us = [p for p in (Path("/etc/slurm/slurm.conf"), Path("/etc/slurm/slurmdbd.conf"),
                                 Path("/etc/slurm/gres.conf")) if p.is_file() and "ssa-bench" in p.read_text()]
    assert not written_by_us
    done = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30)
    assert f"SLURM_CONF              = {CLUSTER_CONF}" in done.stdout
