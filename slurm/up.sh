#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine for the tests (slurm/README.md).
#
# munge + MariaDB + slurmdbd + slurmctld + slurmd from Debian's packages, no systemd, all state,
# logs and pid files under $SSA_SLURM_DIR. Idempotent: when the cluster is already up with the
# same configuration it returns in well under a second. Needs root (packages, /etc/slurm).
#
#   SSA_SLURM_DIR        state, logs, pid files        (default /tmp/ssa-bench-slurm)
#   SSA_SLURM_PARTITION  the one partition's name      (default debug)
#   SSA_SLURM_FAKE_GPUS  GPUs the node claims to have  (default 2; 0 = none). They are GRES
#                        without device files: jobs asking for GPUs get scheduled and launched
#                        like on a GPU cluster, but see no CUDA device.
set -euo pipefail

DIR=${SSA_SLURM_DIR:-/tmp/ssa-bench-slurm}
PARTITION=${SSA_SLURM_PARTITION:-debug}
FAKE_GPUS=${SSA_SLURM_FAKE_GPUS:-2}
HOST=$(hostname -s)
START=$(date +%s)

say() { echo "[slurm/up.sh +$(( $(date +%s) - START ))s] $*"; }
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# note_dead NAME PIDFILE: say so when a daemon this script started before has died (a crash, a
# killed slurmd in a node-failure test), so that a restart is never silent.
note_dead() {
  if [ -s "$2" ] && ! running "$2"; then
    say "$1 (pid $(cat "$2")) had died; restarting it"
    rm -f "$2"
  fi
}
# retry TRIES CMD...: poll every half second
retry() {
  local tries=$1; shift
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "slurm/up.sh: gave up waiting for: $*" >&2
  return 1
}

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm/up.sh: needs root (installs packages, writes /etc/slurm); run it with sudo" >&2
  exit 1
fi

install_packages() {
  local wanted=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server) missing=()
  for p in "${wanted[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  # Package scripts would start the daemons with the distribution's config; we start our own.
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

start_munge() {
  (munge -n | unmunge) >/dev/null 2>&1 && return 0
  note_dead munged "$DIR/munged.pid"
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey -c -k /etc/munge/munge.key 2>/dev/null ||
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  retry 40 bash -c 'munge -n | unmunge'
  # Only a munged this script started is stopped by down.sh.
  cp /run/munge/munged.pid "$DIR/munged.pid"
  say "munged up"
}

# Writes $1 from stdin; returns 0 when the file changed.
write_if_changed() {
  local target=$1 tmp="$1.new.$$"
  cat >"$tmp"
  if cmp -s "$tmp" "$target"; then rm -f "$tmp"; return 1; fi
  mv "$tmp" "$target"
  return 0
}

write_slurm_conf() {
  # CPUs, sockets, cores and threads as slurmd detects them; memory a little under the total so
  # slurmd does not drain the node for having less than it declares.
  local node memory gres_line="" changed=1
  node=$(slurmd -C | head -1 | sed -E 's/ RealMemory=[0-9]+//')
  memory=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  [ "$FAKE_GPUS" -gt 0 ] && gres_line=" Gres=gpu:$FAKE_GPUS"
  mkdir -p /etc/slurm
  write_if_changed /etc/slurm/slurm.conf <<EOF && changed=0
# Written by ssa-bench slurm/up.sh: a one-node test cluster. Do not use in production.
ClusterName=ssabench
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# Accounting lets sacct report cancelled and killed jobs; submitit and 'ssa-bench status' rely on it.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
# A cancelled submitit job ignores SIGTERM; do not make every test wait 30 s for the SIGKILL.
KillWait=5
# Keep finished jobs visible to squeue/scontrol between polls.
MinJobAge=3600
$node RealMemory=$memory$gres_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [ "$FAKE_GPUS" -gt 0 ]; then
    # A GPU GRES without device files registers as zero GPUs and drains the node; character
    # devices with /dev/null's numbers pass slurmd's check and give jobs CUDA_VISIBLE_DEVICES.
    local i
    for i in $(seq 0 $((FAKE_GPUS - 1))); do
      [ -c "$DIR/fake-gpu$i" ] || { rm -f "$DIR/fake-gpu$i"; mknod "$DIR/fake-gpu$i" c 1 3; }
    done
    write_if_changed /etc/slurm/gres.conf <<EOF && changed=0
NodeName=$HOST Name=gpu File=$DIR/fake-gpu[0-$((FAKE_GPUS - 1))]
EOF
  else
    rm -f /etc/slurm/gres.conf
  fi
  return $changed
}

start_accounting() {
  if ! mariadb-admin ping >/dev/null 2>&1; then
    note_dead mariadb "$DIR/mariadb.pid"
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
    install -d -o mysql -g root -m 755 /run/mysqld
    nohup /usr/sbin/mariadbd --user=mysql --skip-networking >"$DIR/log/mariadb.log" 2>&1 </dev/null &
    echo $! >"$DIR/mariadb.pid"
    for _ in $(seq 1 120); do
      mariadb-admin ping >/dev/null 2>&1 && break
      running "$DIR/mariadb.pid" || { tail "$DIR/log/mariadb.log" >&2; exit 1; }
      sleep 0.5
    done
    say "mariadb up"
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'ssabench';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  write_if_changed /etc/slurm/slurmdbd.conf <<EOF || true
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=ssabench
StorageLoc=slurm_acct_db
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/slurmdbd.pid
EOF
  chmod 600 /etc/slurm/slurmdbd.conf
  note_dead slurmdbd "$DIR/slurmdbd.pid"
  running "$DIR/slurmdbd.pid" || slurmdbd
  retry 60 sacctmgr -n list cluster
}

start_slurm() {
  local restart=$1
  if [ "$restart" = yes ]; then
    for daemon in slurmd slurmctld; do
      running "$DIR/$daemon.pid" || continue
      kill "$(cat "$DIR/$daemon.pid")"
      for _ in $(seq 1 40); do running "$DIR/$daemon.pid" || break; sleep 0.25; done
    done
  fi
  note_dead slurmctld "$DIR/slurmctld.pid"
  running "$DIR/slurmctld.pid" || slurmctld
  retry 60 scontrol ping
  note_dead slurmd "$DIR/slurmd.pid"
  running "$DIR/slurmd.pid" || slurmd
  # Busy is fine on a rerun: the node answers and takes jobs.
  retry 120 bash -c "sinfo -h -n $HOST -o %T | grep -Eqx 'idle|mixed|allocated|completing'"
  retry 60 sacct -n -X
}

install_packages
mkdir -p "$DIR"/state "$DIR"/spool "$DIR"/log
start_munge
restart=no
write_slurm_conf && restart=yes
start_accounting
start_slurm "$restart"
say "cluster up on $HOST: partition $PARTITION, $(sinfo -h -o '%c CPUs, %G')"
