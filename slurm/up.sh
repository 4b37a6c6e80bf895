#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine for the tests (docs/slurm.md).
#
# munge + MariaDB + slurmdbd + slurmctld + slurmd from Debian's packages, no systemd. The cluster
# keeps to itself: its configuration, state, spool, logs, pid files, munge key and socket and its
# accounting database all live under $SSA_SLURM_DIR; every daemon is started with that folder's
# configuration (-f / SLURM_CONF), on ports found free; nothing under /etc is written. Clients reach
# it with SLURM_CONF=$SSA_SLURM_DIR/etc/slurm.conf (`. $SSA_SLURM_DIR/env` sets it); the tests and
# `make test` set it themselves.
#
# It refuses (one line, exit 3) to start where it finds a SLURM it did not start: a slurmctld or
# slurmd that is not its own, or a configuration elsewhere (/etc/slurm/slurm.conf, $SLURM_CONF)
# whose controller answers. Idempotent: when the cluster is already up with the same configuration
# it returns in well under a second. Needs root (packages, daemons, the fake GPU device files).
#
#   SSA_SLURM_DIR        everything of the cluster     (default /tmp/ssa-bench-slurm)
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
ETC=$DIR/etc
CONF=$ETC/slurm.conf
MUNGE_DIR=$DIR/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
DB_SOCKET=$DIR/mysql/mysqld.sock

say() { echo "[slurm/up.sh +$(( $(date +%s) - START ))s] $*"; }
refuse() { echo "slurm/up.sh: refusing to start the test cluster: $*" >&2; exit 3; }
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
  echo "slurm/up.sh: needs root (installs packages, starts the daemons); run it with sudo" >&2
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

# ours DAEMON PID: the process runs this folder's configuration: started with -f $CONF, or (a
# slurmd restarted by a test with SLURM_CONF set) it wrote the pid file that configuration names.
ours() {
  [ -s "$DIR/$1.pid" ] && [ "$(cat "$DIR/$1.pid")" = "$2" ] && return 0
  tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null | grep -qF -- "$CONF"
}

# Any SLURM on this machine that is not ours stops us before anything is started or written.
refuse_foreign_slurm() {
  local daemon pid
  for daemon in slurmctld slurmd; do
    for pid in $(pgrep -x "$daemon" || true); do
      ours "$daemon" "$pid" || refuse "a $daemon not started by slurm/up.sh is running (pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)); stop it first or use this machine's SLURM"
    done
  done
  local other
  for other in ${SLURM_CONF:-} /etc/slurm/slurm.conf /etc/slurm-llnl/slurm.conf; do
    [ "$other" = "$CONF" ] && continue
    [ -f "$other" ] || continue
    if command -v scontrol >/dev/null && SLURM_CONF=$other timeout 5 scontrol ping 2>/dev/null | grep -q "is UP"; then
      refuse "$other configures a SLURM whose controller answers; this machine has a cluster of its own (unset SLURM_CONF or run the tests elsewhere)"
    fi
  done
}

# ---- free ports, chosen once and kept (a change would restart the daemons) ----------------------
port_in_use() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v h="$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

choose_ports() {
  local file=$ETC/ports
  if [ -s "$file" ]; then
    # shellcheck disable=SC1090
    . "$file"
    # a saved port taken by someone else while our daemon was down: choose anew
    local stale=""
    running "$DIR/slurmctld.pid" || ! port_in_use "$CTLD_PORT" || stale=1
    running "$DIR/slurmd.pid" || ! port_in_use "$SLURMD_PORT" || stale=1
    running "$DIR/slurmdbd.pid" || ! port_in_use "$DBD_PORT" || stale=1
    running "$DIR/mariadb.pid" || ! port_in_use "$DB_PORT" || stale=1
    [ -z "$stale" ] && return 0
    say "a port of $file is taken by another program; choosing new ones"
  fi
  local chosen=() port
  while [ ${#chosen[@]} -lt 4 ]; do
    port=$(( 20000 + RANDOM % 40000 ))
    port_in_use "$port" && continue
    [[ " ${chosen[*]} " == *" $port "* ]] && continue
    chosen+=("$port")
  done
  printf 'CTLD_PORT=%s\nSLURMD_PORT=%s\nDBD_PORT=%s\nDB_PORT=%s\n' "${chosen[@]}" >"$file"
  . "$file"
}

# ---- munge: its own key, socket, pid and seed files --------------------------------------------
munge_ok() { munge -n --socket="$MUNGE_SOCKET" | unmunge --socket="$MUNGE_SOCKET"; }

start_munge() {
  running "$MUNGE_DIR/munged.pid" && munge_ok >/dev/null 2>&1 && return 0
  note_dead munged "$MUNGE_DIR/munged.pid"
  install -d -o munge -g munge -m 711 "$MUNGE_DIR"
  if [ ! -s "$MUNGE_DIR/munge.key" ]; then
    mungekey -c -k "$MUNGE_DIR/munge.key" 2>/dev/null ||
      dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1 count=1024 status=none
  fi
  chown munge:munge "$MUNGE_DIR/munge.key"
  chmod 400 "$MUNGE_DIR/munge.key"
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" --key-file="$MUNGE_DIR/munge.key" \
    --pid-file="$MUNGE_DIR/munged.pid" --seed-file="$MUNGE_DIR/munged.seed" --log-file="$MUNGE_DIR/munged.log"
  retry 40 munge_ok
  say "munged up ($MUNGE_SOCKET)"
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
  write_if_changed "$CONF" <<EOF && changed=0
# Written by ssa-bench slurm/up.sh: a one-node test cluster. Do not use in production.
# Reach it with SLURM_CONF=$CONF.
ClusterName=ssabench
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
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
AccountingStoragePort=$DBD_PORT
# Clients authenticate to slurmdbd through this munge socket (AuthInfo covers the other daemons).
AccountingStoragePass=$MUNGE_SOCKET
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
    write_if_changed "$ETC/gres.conf" <<EOF && changed=0
NodeName=$HOST Name=gpu File=$DIR/fake-gpu[0-$((FAKE_GPUS - 1))]
EOF
  else
    rm -f "$ETC/gres.conf"
  fi
  printf 'export SLURM_CONF=%s\n' "$CONF" >"$DIR/env"
  return $changed
}

# ---- accounting: a MariaDB of its own (data, socket, port under $DIR) and slurmdbd ---------------
db() { mariadb --no-defaults --socket="$DB_SOCKET" -uroot "$@"; }
db_up() { mariadb-admin --no-defaults --socket="$DB_SOCKET" -uroot ping; }

start_accounting() {
  if ! running "$DIR/mariadb.pid" || ! db_up >/dev/null 2>&1; then
    note_dead mariadb "$DIR/mariadb.pid"
    if [ ! -d "$DIR/mysql/mysql" ]; then
      install -d -o mysql -g mysql -m 750 "$DIR/mysql"
      mariadb-install-db --no-defaults --user=mysql --datadir="$DIR/mysql" \
        --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1 ||
        { tail "$DIR/log/mariadb-install.log" >&2; exit 1; }
    fi
    nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DIR/mysql" --socket="$DB_SOCKET" \
      --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$DIR/mysql/mariadbd.pid" \
      >"$DIR/log/mariadb.log" 2>&1 </dev/null &
    echo $! >"$DIR/mariadb.pid"
    for _ in $(seq 1 120); do
      db_up >/dev/null 2>&1 && break
      running "$DIR/mariadb.pid" || { tail "$DIR/log/mariadb.log" >&2; exit 1; }
      sleep 0.5
    done
    say "mariadb up (port $DB_PORT)"
  fi
  db -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'ssabench';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  local changed=1
  # slurmdbd reads slurmdbd.conf from the folder of SLURM_CONF.
  write_if_changed "$ETC/slurmdbd.conf" <<EOF && changed=0
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=ssabench
StorageLoc=slurm_acct_db
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/slurmdbd.pid
EOF
  chmod 600 "$ETC/slurmdbd.conf"
  if [ $changed -eq 0 ] && running "$DIR/slurmdbd.pid"; then
    kill "$(cat "$DIR/slurmdbd.pid")"
    for _ in $(seq 1 40); do running "$DIR/slurmdbd.pid" || break; sleep 0.25; done
  fi
  note_dead slurmdbd "$DIR/slurmdbd.pid"
  # slurmdbd has no -f: it takes slurmdbd.conf from the folder of SLURM_CONF.
  running "$DIR/slurmdbd.pid" || SLURM_CONF=$CONF slurmdbd
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
  running "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
  retry 60 scontrol ping
  note_dead slurmd "$DIR/slurmd.pid"
  running "$DIR/slurmd.pid" || slurmd -f "$CONF"
  # Busy is fine on a rerun: the node answers and takes jobs.
  retry 120 bash -c "sinfo -h -n $HOST -o %T | grep -Eqx 'idle|mixed|allocated|completing'"
  retry 60 sacct -n -X
}

refuse_foreign_slurm       # before anything is installed, started or written
install_packages
export SLURM_CONF=$CONF
mkdir -p "$ETC" "$DIR"/state "$DIR"/spool "$DIR"/log
chmod 755 "$DIR"
choose_ports
start_munge
restart=no
write_slurm_conf && restart=yes
start_accounting
start_slurm "$restart"
say "cluster up on $HOST: partition $PARTITION, $(sinfo -h -o '%c CPUs, %G'); reach it with SLURM_CONF=$CONF (or: . $DIR/env)"
