#!/usr/bin/env bash
# A real single-node Slurm (munged + slurmctld + slurmd) in a private state
# directory, for the Slurm tests and for trying the slurm/ templates by hand
# (docs/cluster.md; setup per ../shared/docs/platform-notes.md "Slurm in a box").
#
#   scripts/slurm_box.sh start  STATE_DIR   # start (or reuse a running box); writes STATE_DIR/env
#   scripts/slurm_box.sh status STATE_DIR   # exit 0 when the node is up and idle/allocated
#   scripts/slurm_box.sh stop   STATE_DIR   # kill the daemons; safe to repeat, also after a failed start
#
# Then: source STATE_DIR/env (sets SLURM_CONF) and use sbatch/srun/squeue/scontrol.
# Keep STATE_DIR short (the munge socket path must fit a unix socket name).
# Needs root (slurmd runs jobs as their user; SlurmUser=root). Exit 77 when the
# Slurm or munge daemons are not installed.
set -euo pipefail
source "$(dirname "$0")/slurm_conf_common.sh"

usage() { echo "usage: $0 start|stop|status STATE_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
state=$2
case $action in start | stop | status) ;; *) usage ;; esac

die() { echo "slurm_box: $*" >&2; exit 1; }

# Daemon pid files this script writes; stop kills exactly these processes.
pid_files() { echo "$state/slurmd.pid $state/slurmctld.pid $state/munge/munged.pid"; }

# Kills the process named by pid file $1 if it is still the daemon $2; waits up to 10 s.
kill_from_pidfile() {
  local file=$1 name=$2 pid t
  [ -s "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for t in $(seq 50); do
      [ -e "/proc/$pid" ] || break
      sleep 0.2
    done
    [ ! -e "/proc/$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# Kills process $1 and all its descendants.
kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null || true); do kill_tree "$child"; done
  kill -KILL "$1" 2>/dev/null || true
}

# slurmstepd processes of this box: they run in its log directory.
box_stepds() {
  local p
  for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
    case $(readlink "/proc/$p/cwd" 2>/dev/null) in "$state"/*) echo "$p" ;; esac
  done
}

stop_box() {
  [ -d "$state" ] || return 0
  local t
  # Cancel the jobs through Slurm first (their steps end cleanly), then the daemons.
  if [ -s "$state/slurmctld.pid" ] && [ -e "/proc/$(cat "$state/slurmctld.pid")" ]; then
    SLURM_CONF="$state/slurm.conf" timeout 5 scancel --quiet --user=root 2>/dev/null || true
    for t in $(seq 50); do
      [ -n "$(SLURM_CONF="$state/slurm.conf" timeout 2 squeue -h -t R,CG,PD 2>/dev/null)" ] || break
      sleep 0.2
    done
  fi
  kill_from_pidfile "$state/slurmd.pid" slurmd
  kill_from_pidfile "$state/slurmctld.pid" slurmctld
  # Steps that outlived slurmd, with whatever they started.
  for t in $(box_stepds); do kill_tree "$t"; done
  kill_from_pidfile "$state/munge/munged.pid" munged
}

node_state() {
  SLURM_CONF="$state/slurm.conf" timeout 5 sinfo -h -N -o %t 2>/dev/null | head -1
}

status_box() {
  [ -s "$state/env" ] || return 1
  local pf
  for pf in $(pid_files); do
    [ -s "$pf" ] && [ -e "/proc/$(cat "$pf")" ] || return 1
  done
  case $(node_state) in idle | alloc | mix | comp) return 0 ;; *) return 1 ;; esac
}

# A TCP port nobody listens on, from 20000 + a hash of the state dir upwards.
free_port() {
  local port=$1
  while ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || grep -qw "$port" "$state/.ports" 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port" >> "$state/.ports"
  echo "$port"
}

start_box() {
  for exe in munged slurmctld slurmd sbatch; do
    command -v "$exe" > /dev/null || [ -x "/usr/sbin/$exe" ] || { echo "slurm_box: $exe is not installed" >&2; exit 77; }
  done
  [ "$(id -u)" -eq 0 ] || die "needs root (slurmd must start jobs as their user)"
  if status_box; then
    echo "slurm_box: already running in $state"
    return 0
  fi
  stop_box  # leftovers of an earlier, failed start
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  local sock="$state/munge/munge.socket.2"
  [ ${#sock} -lt 100 ] || die "state dir path too long for the munge socket: $state"
  rm -rf "$state/munge" "$state/ctld" "$state/spool" "$state/log" "$state/.ports"
  mkdir -p "$state/munge" "$state/ctld" "$state/spool" "$state/log"
  chmod 0755 "$state" "$state/munge"
  PATH=/usr/sbin:/sbin:$PATH

  # munge: a fresh key for this box only.
  head -c 1024 /dev/urandom > "$state/munge/munge.key"
  chmod 0400 "$state/munge/munge.key"
  munged --force --key-file="$state/munge/munge.key" --socket="$sock" --pid-file="$state/munge/munged.pid" \
    --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed" ||
    die "munged did not start: $(tail -3 "$state/munge/munged.log" 2>/dev/null)"

  local cpus mem ctld_port slurmd_port hash
  CRED_EXPIRE=${SLURM_BOX_CRED_EXPIRE:-5}
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  hash=$(printf '%s' "$state" | cksum | awk '{print $1 % 5000}')
  ctld_port=$(free_port $((20000 + hash * 2)))
  slurmd_port=$(free_port $((ctld_port + 1)))
  {
    cat <<EOF
# Written by scripts/slurm_box.sh: one node, no accounting, no cgroups.
ClusterName=elmbox
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmdTimeout=60
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
EOF
    slurm_conf_common "$sock" "$CRED_EXPIRE"
    echo "NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
  } > "$state/slurm.conf"
  printf 'export SLURM_CONF=%q\n' "$state/slurm.conf" > "$state/env.tmp"
  mv "$state/env.tmp" "$state/env"

  slurmctld -f "$state/slurm.conf" -i || die "slurmctld did not start: $(tail -3 "$state/log/slurmctld.log" 2>/dev/null)"
  slurmd -f "$state/slurm.conf" -N localhost || die "slurmd did not start: $(tail -3 "$state/log/slurmd.log" 2>/dev/null)"
  local t
  for t in $(seq 100); do
    case $(node_state) in
      idle | alloc | mix) echo "slurm_box: up in $state (SLURM_CONF=$state/slurm.conf, $cpus CPUs)"; return 0 ;;
    esac
    sleep 0.2
  done
  die "node did not come up within 20 s: $(node_state); see $state/log/"
}

case $action in
  start)
    # Not `if ! (...)`: inside that branch $? is the negation's 0, and a failed
    # or skipped (77) start would exit 0.
    rc=0
    (start_box) || rc=$?
    if [ $rc -ne 0 ]; then
      stop_box
      exit $rc
    fi
    ;;
  stop) stop_box; echo "slurm_box: stopped ($state)" ;;
  status)
    if status_box; then echo "slurm_box: up ($state, node $(node_state))"; else echo "slurm_box: down ($state)"; exit 1; fi
    ;;
esac
