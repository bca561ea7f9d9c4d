#!/usr/bin/env bash
# A real multi-host Slurm cluster on one machine, for the multinode tests and
# for trying multi-node jobs by hand (docs/cluster.md, "The multi-host test
# cluster"). Every host is a Linux network namespace with its own address on a
# private bridge and its own hostname (UTS namespace): one controller (ctl)
# and N compute hosts (node1..nodeN), each running its own slurmd with its own
# spool, all sharing one munge key (one munged; the hosts share the file
# system, as a cluster shares its home directories). The machine itself is the
# login host: it sits on the bridge, and sbatch/srun/squeue run there.
#
#   scripts/slurm_cluster.sh start  STATE_DIR [N]   # N compute hosts (default 3); writes STATE_DIR/env
#   scripts/slurm_cluster.sh status STATE_DIR       # exit 0 when every compute host is up in Slurm
#   scripts/slurm_cluster.sh stop   STATE_DIR       # kill everything, delete namespaces and links; safe to repeat
#   scripts/slurm_cluster.sh kill-host STATE_DIR HOST   # HOST dies: link down, every process on it killed
#   scripts/slurm_cluster.sh revive-host STATE_DIR HOST # link up, slurmd started again
#   scripts/slurm_cluster.sh partition STATE_DIR HOST_A HOST_B  # A and B cannot reach each other (both still reach the rest)
#   scripts/slurm_cluster.sh heal STATE_DIR HOST_A HOST_B
#   scripts/slurm_cluster.sh exec STATE_DIR HOST CMD...          # run CMD on HOST (its namespaces)
#
# Then: source STATE_DIR/env (SLURM_CONF) and use sbatch/srun/squeue/scontrol.
# STATE_DIR/hosts lists "name address namespace" per host. Launch: srun
# --mpi=pmix starts one slurmstepd per host, which hosts the PMIx server of
# its ranks; OpenMPI's ranks exchange their TCP addresses through PMIx and
# then talk over the hosts' eth0 (btl tcp) across the bridge.
# Needs root (namespaces, slurmd). Exit 77 when Slurm, munge or iproute2 is
# not installed or network namespaces cannot be made here.
set -euo pipefail
source "$(dirname "$0")/slurm_conf_common.sh"

usage() {
  echo "usage: $0 start STATE_DIR [N] | status|stop STATE_DIR | kill-host|revive-host STATE_DIR HOST |" \
    "partition|heal STATE_DIR HOST_A HOST_B | exec STATE_DIR HOST CMD..." >&2
  exit 2
}
[ $# -ge 2 ] || usage
action=$1
state=$2
shift 2
die() { echo "slurm_cluster: $*" >&2; exit 1; }
PATH=/usr/sbin:/sbin:$PATH

# Names derive from the state dir, so two clusters (two build trees) never meet.
hash=$(printf '%s' "$(realpath -m "$state")" | cksum | awk '{print $1}')
tag=$(printf '%04x' $((hash % 65536)))
subnet="10.$((100 + hash % 100)).$((hash / 100 % 250 + 1))"
bridge="elmbr$tag"
ns_of() { echo "elm$tag-$1"; }        # network namespace of host $1
veth_of() { echo "elm$tag${1#node}"; }  # the bridge side of host $1's link (<= 15 chars)
[ "$(veth_of ctl)" != "$(veth_of node1)" ]

# Host address: ctl .10, nodeK .(10+K); the login host (bridge) .1.
addr_of() {
  case $1 in
    ctl) echo "$subnet.10" ;;
    node*) echo "$subnet.$((10 + ${1#node}))" ;;
    *) die "no host '$1' (hosts: ctl node1..nodeN)" ;;
  esac
}

hosts_file() { echo "$state/hosts"; }
compute_hosts() { [ -s "$(hosts_file)" ] && awk '$1 != "ctl" {print $1}' "$(hosts_file)"; }

# Runs "$@" on host $1: in its network namespace and (for daemons) with its hostname.
on_host() {
  local host=$1
  shift
  # nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup file system slurmd needs.
  nsenter --net="/run/netns/$(ns_of "$host")" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

kill_netns_processes() {
  local ns=$1 pids t
  for t in 1 2 3 4 5; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  done
}

# This cluster's links in this namespace: the bridge and the hosts' veth ends.
our_links() { ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^elm$tag\|^elmbr$tag$" || true; }

stop_cluster() {
  local ns t pid
  if [ -s "$state/slurm.conf" ] && [ -n "$(ip netns pids "$(ns_of ctl)" 2>/dev/null || true)" ]; then
    SLURM_CONF="$state/slurm.conf" timeout 5 scancel --quiet --user=root 2>/dev/null || true
    for t in $(seq 25); do
      [ -n "$(SLURM_CONF="$state/slurm.conf" timeout 2 squeue -h -t R,CG,PD 2>/dev/null)" ] || break
      sleep 0.2
    done
  fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^elm$tag-" || true); do
    kill_netns_processes "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  # The kernel tears a deleted namespace's links down in the background: delete
  # the bridge-side ends now and wait, so a start right after finds the names free.
  for t in $(seq 50); do
    links=$(our_links)
    [ -n "$links" ] || break
    for l in $links; do ip link del "$l" 2>/dev/null || true; done
    sleep 0.1
  done
  if [ -s "$state/munged.pid" ]; then
    pid=$(cat "$state/munged.pid")
    if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = munged ]; then
      kill -TERM "$pid" 2>/dev/null || true
      for t in $(seq 25); do [ -e "/proc/$pid" ] || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/munged.pid"
  fi
  rm -f "$state/env"
}

node_states() {
  SLURM_CONF="$state/slurm.conf" timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u
}

status_cluster() {
  [ -s "$state/env" ] || return 1
  local n up
  n=$(compute_hosts | wc -l)
  up=$(node_states | awk '$2 ~ /^(idle|alloc|mix|comp)$/' | wc -l)
  [ "$n" -gt 0 ] && [ "$up" -eq "$n" ]
}

add_host() {
  local host=$1 ns veth
  ns=$(ns_of "$host")
  veth=$(veth_of "$host")
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$bridge" up
  ip -n "$ns" addr add "$(addr_of "$host")/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  echo "$host $(addr_of "$host") $ns" >> "$(hosts_file)"
}

start_slurmd() {
  local host=$1
  mkdir -p "$state/$host/spool" "$state/$host/tmp"
  on_host "$host" slurmd -f "$state/slurm.conf" -N "$host" ||
    die "slurmd on $host did not start: $(tail -3 "$state/$host/slurmd.log" 2>/dev/null)"
}

start_cluster() {
  local n=$1 exe k host cpus mem t
  for exe in munged slurmctld slurmd sbatch ip unshare nsenter; do
    command -v "$exe" > /dev/null || { echo "SKIP: slurm_cluster: $exe is not installed (scripts/setup.sh installs it)" >&2; exit 77; }
  done
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, slurmd)"
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 9 ] || die "compute hosts: 1 to 9, not '$n'"
  if ! ip netns add "elm$tag-probe" 2> /dev/null; then
    echo "SKIP: slurm_cluster: cannot create network namespaces here (needs CAP_SYS_ADMIN and CAP_NET_ADMIN)" >&2
    exit 77
  fi
  ip netns del "elm$tag-probe"
  if status_cluster; then
    echo "slurm_cluster: already running in $state"
    return 0
  fi
  stop_cluster
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  local sock="$state/munge/munge.socket.2"
  [ ${#sock} -lt 100 ] || die "state dir path too long for the munge socket: $state"
  rm -rf "$state/munge" "$state/ctld" "$state/ctl" "$state"/node* "$(hosts_file)"
  mkdir -p "$state/munge" "$state/ctld" "$state/ctl"
  chmod 0755 "$state" "$state/munge"

  ip link add "$bridge" type bridge
  ip addr add "$subnet.1/24" dev "$bridge"
  ip link set "$bridge" up
  add_host ctl
  for k in $(seq "$n"); do add_host "node$k"; done

  # One munge key for every host; the socket is a file, so every namespace reaches it.
  head -c 1024 /dev/urandom > "$state/munge/munge.key"
  chmod 0400 "$state/munge/munge.key"
  munged --force --key-file="$state/munge/munge.key" --socket="$sock" --pid-file="$state/munged.pid" \
    --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed" ||
    die "munged did not start: $(tail -3 "$state/munge/munged.log" 2>/dev/null)"

  # The hosts share the machine's cores: each claims them all, as real hosts would.
  cpus=$(nproc)
  mem=$(awk -v n="$n" '/MemTotal/ {print int($2 / 1024 * 0.8 / n)}' /proc/meminfo)
  {
    cat <<EOF
# Written by scripts/slurm_cluster.sh: one controller and $n compute hosts in
# network namespaces on bridge $bridge ($subnet.0/24); no accounting, no cgroups.
ClusterName=elmmulti
SlurmctldHost=ctl($(addr_of ctl))
# A host that stops answering is marked DOWN after SlurmdTimeout; its jobs are
# then ended (NODE_FAIL) and requeued when they allow it.
SlurmdTimeout=10
MessageTimeout=5
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/%n/spool
# Each host has its own /tmp: the PMIx plugin names its directories there by job and step only.
TmpFS=$state/%n/tmp
SlurmctldPidFile=$state/ctl/slurmctld.pid
SlurmdPidFile=$state/%n/slurmd.pid
SlurmctldLogFile=$state/ctl/slurmctld.log
SlurmdLogFile=$state/%n/slurmd.log
EOF
    slurm_conf_common "$sock" 5
    for k in $(seq "$n"); do
      echo "NodeName=node$k NodeAddr=$(addr_of "node$k") NodeHostname=node$k CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    done
    echo "PartitionName=multi Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
  } > "$state/slurm.conf"

  on_host ctl slurmctld -f "$state/slurm.conf" -i ||
    die "slurmctld did not start: $(tail -3 "$state/ctl/slurmctld.log" 2>/dev/null)"
  for k in $(seq "$n"); do start_slurmd "node$k"; done
  printf 'export SLURM_CONF=%q\n' "$state/slurm.conf" > "$state/env.tmp"
  mv "$state/env.tmp" "$state/env"
  for t in $(seq 300); do
    if status_cluster; then
      echo "slurm_cluster: up in $state: ctl $(addr_of ctl), $(compute_hosts | while read -r h; do printf '%s %s, ' "$h" "$(addr_of "$h")"; done)login $subnet.1 (SLURM_CONF=$state/slurm.conf)"
      return 0
    fi
    sleep 0.2
  done
  die "compute hosts did not come up within 60 s: $(node_states | tr '\n' ' '); see $state/ctl/slurmctld.log"
}

need_host() {
  grep -q "^$1 " "$(hosts_file)" 2>/dev/null || die "no host '$1' in $state (hosts: $(awk '{print $1}' "$(hosts_file)" 2>/dev/null | tr '\n' ' '))"
}

# Both directions: A drops what goes to B and B what goes to A; both still reach ctl and the rest.
set_partition() {
  local verb=$1 a=$2 b=$3
  ip -n "$(ns_of "$a")" route "$verb" blackhole "$(addr_of "$b")/32" 2>/dev/null || [ "$verb" = del ]
  ip -n "$(ns_of "$b")" route "$verb" blackhole "$(addr_of "$a")/32" 2>/dev/null || [ "$verb" = del ]
}

case $action in
  start)
    [ $# -le 1 ] || usage
    # In a process of its own, so that set -e holds in it (a subshell on the
    # left of || runs without it), and its exit status (77: skip) is kept.
    rc=0
    "$BASH" "$0" __start "$state" "${1:-3}" || rc=$?
    if [ $rc -ne 0 ]; then
      stop_cluster
      exit $rc
    fi
    ;;
  __start) start_cluster "${1:-3}" ;;
  stop)
    stop_cluster
    echo "slurm_cluster: stopped ($state)"
    ;;
  status)
    if status_cluster; then echo "slurm_cluster: up ($state): $(node_states | tr '\n' ' ')"; else echo "slurm_cluster: down ($state): $(node_states | tr '\n' ' ')"; exit 1; fi
    ;;
  kill-host)
    [ $# -eq 1 ] || usage
    need_host "$1"
    # The link first: the peers see silence, as with a power cut, not closed sockets.
    ip link set "$(veth_of "$1")" down
    kill_netns_processes "$(ns_of "$1")"
    echo "slurm_cluster: $1 is dead (link down, processes killed)"
    ;;
  revive-host)
    [ $# -eq 1 ] || usage
    need_host "$1"
    ip link set "$(veth_of "$1")" up
    start_slurmd "$1"
    echo "slurm_cluster: $1 is back"
    ;;
  partition | heal)
    [ $# -eq 2 ] || usage
    need_host "$1"
    need_host "$2"
    if [ "$action" = partition ]; then set_partition add "$1" "$2"; else set_partition del "$1" "$2"; fi
    echo "slurm_cluster: $action $1 <-> $2"
    ;;
  exec)
    [ $# -ge 2 ] || usage
    need_host "$1"
    host=$1
    shift
    exec nsenter --net="/run/netns/$(ns_of "$host")" "$@"
    ;;
  *) usage ;;
esac
