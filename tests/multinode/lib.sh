# Shared by the multinode tests: the cluster the multinode.start fixture
# started (scripts/slurm_cluster.sh: a controller and 3 compute hosts in
# network namespaces), the Slurm test helpers (tests/slurm/lib.sh: scratch
# dir, submit, wait_jobs, job_states, cleanup), and bringing every host back
# (link up, partitions healed, slurmd running, node idle) when a test ends,
# so the next test finds the whole cluster.
: "${ELM_CLUSTER_STATE:?set ELM_CLUSTER_STATE to the cluster state dir (the multinode.start test starts it)}"
export ELM_SLURM_STATE=$ELM_CLUSTER_STATE
ELM_SCRATCH_PREFIX=elm-multinode
CLUSTER=(bash "$ELM_SOURCE_DIR/scripts/slurm_cluster.sh")
source "$(dirname "${BASH_SOURCE[0]}")/../slurm/lib.sh"
# No job of these tests should wait 15 minutes for a lost peer.
export ELMRUN_COLLECTIVE_TIMEOUT=${ELMRUN_COLLECTIVE_TIMEOUT:-20}

hosts_changed=0
restore_cluster() {
  local rc=$? h t
  if [ "$hosts_changed" = 1 ]; then
    for h in node1 node2 node3; do
      "${CLUSTER[@]}" heal "$ELM_CLUSTER_STATE" node1 "$h" > /dev/null 2>&1 || true
      "${CLUSTER[@]}" heal "$ELM_CLUSTER_STATE" node2 "$h" > /dev/null 2>&1 || true
    done
    for h in $(sinfo -h -N -t down,drain,fail,unk -o %N 2>/dev/null | sort -u); do
      "${CLUSTER[@]}" revive-host "$ELM_CLUSTER_STATE" "$h" > /dev/null 2>&1 || true
    done
    for t in $(seq 150); do
      "${CLUSTER[@]}" status "$ELM_CLUSTER_STATE" > /dev/null 2>&1 && break
      sleep 0.2
    done
  fi
  (exit $rc)
  cleanup
}
trap restore_cluster EXIT

# write_six_run_job NAME: the small job's base config (1500 steps) and a
# 3 x 2 grid job file named NAME in $scratch (6 runs, one rank each).
write_six_run_job() {
  write_small_job "$scratch" 1500 1
  cat > "$scratch/job.ini" <<EOT
[sweep]
name = $1
config = base.ini
ranks_per_run = 1
[grid]
model.num_memory = 4, 8, 12
model.memory_tau_max = 20, 200
EOT
}

# kill_host HOST: the host dies (link down, every process on it killed).
kill_host() { hosts_changed=1; "${CLUSTER[@]}" kill-host "$ELM_CLUSTER_STATE" "$1" > /dev/null; }
partition_hosts() { hosts_changed=1; "${CLUSTER[@]}" partition "$ELM_CLUSTER_STATE" "$1" "$2" > /dev/null; }

# node_state HOST: its Slurm state (idle, alloc, down*, ...).
node_state() { sinfo -h -n "$1" -o %t | head -1; }

# newest_checkpoint RUN_DIR: the step of its newest complete checkpoint (0: none).
newest_checkpoint() {
  local d best=0 s
  for d in "$1"/checkpoints/step_*; do
    [ -e "$d/DONE" ] && [ -e "$d/state.h5" ] || continue
    s=${d##*step_}
    s=$((10#$s))
    [ "$s" -le "$best" ] || best=$s
  done
  echo "$best"
}

# wait_state JOB SECONDS STATE...: until the job's state is one of STATE; prints the seconds it took.
wait_state() {
  local job=$1 limit=$2 t=0 s
  shift 2
  while true; do
    s=$(job_states "$job" | head -1)
    for want in "$@"; do [ "$s" = "$want" ] && { echo $((t / 5)); return 0; }; done
    sleep 0.2; t=$((t + 1))
    [ $t -lt $((limit * 5)) ] || fail "job $job still $s after ${limit}s (waiting for $*)"
  done
}
