#!/usr/bin/env bash
# Stop the test cluster slurm/up.sh started: only the daemons whose pid files up.sh wrote under
# $SSA_SLURM_DIR, so a SLURM, munged or MariaDB this script did not start keeps running.
# Idempotent; fast when nothing runs. Touches nothing outside $SSA_SLURM_DIR.
#   --purge   also delete $SSA_SLURM_DIR (configuration, job state, logs, munge key, the
#             accounting database), so the next up.sh starts cold
set -uo pipefail

DIR=${SSA_SLURM_DIR:-/tmp/ssa-bench-slurm}
# Every client below talks to this cluster, whatever the caller's SLURM_CONF says.
export SLURM_CONF=$DIR/etc/slurm.conf

stop() {  # NAME PIDFILE
  [ -s "$2" ] || return 0
  local pid
  pid=$(cat "$2")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "[slurm/down.sh] stopped $1 ($pid)"
  fi
  rm -f "$2"
}

# Jobs left behind by a test would hold CPUs (and their processes) past the daemons' end.
if [ -s "$DIR/slurmctld.pid" ] && [ -f "$SLURM_CONF" ] && timeout 5 scontrol ping >/dev/null 2>&1; then
  scancel --state=PENDING,RUNNING,SUSPENDED,REQUEUED 2>/dev/null || true
  for _ in $(seq 1 40); do [ -z "$(squeue -h -t R,CG 2>/dev/null)" ] && break; sleep 0.5; done
fi
# Each daemon takes a few seconds to exit; stop those that do not depend on each other together.
stop slurmd "$DIR/slurmd.pid" &
stop slurmctld "$DIR/slurmctld.pid" &
wait
stop slurmdbd "$DIR/slurmdbd.pid"
stop mariadb "$DIR/mariadb.pid" &
stop munged "$DIR/munge/munged.pid" &
wait
if [ "${1:-}" = --purge ]; then
  rm -rf "$DIR"
  echo "[slurm/down.sh] removed $DIR"
fi
exit 0
