#!/usr/bin/env bash
# A host dies under an MPI-mode sweep on 2 hosts (slurm/submit.py --mode mpi
# --nodes 2, one rank per host, ranks_per_run 1: a group per host). Runs 0
# and 1 (300 steps) finish first; runs 2 and 3 (2000 steps) are then held at
# step 1001, one on each host, the checkpoint of step 1000 complete. The host
# that is not the batch host is killed (link down, then every process on it).
# The job must end within 60 s (Slurm marks the host DOWN after
# SlurmdTimeout = 10 s: NODE_FAIL), be requeued by Slurm and finish the sweep
# on the two hosts left: the finished runs untouched (same bytes, one
# attempt), the dead host's run resumed from step 1000, every run done once.
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 2000 1
cat > "$scratch/job.ini" <<EOT
[sweep]
name = hd
config = base.ini
ranks_per_run = 1
[grid]
train.steps = 300, 2000
model.num_memory = 4, 12
EOT
ELM_TEST_HOLD=step@1001 ELM_TEST_HOLD_FILE="$scratch/held" ELM_TEST_HOLD_SECONDS=300 \
  ELM_TEST_HOLD_RELEASE_FILE="$scratch/released" \
  submit "$scratch/job.ini" --out "$scratch/hd" --mode mpi --nodes 2 --ntasks-per-node 1 --time 00:10:00 \
  --signal-lead 30 --set train.checkpoint_every=100
job=${submitted[0]}
log="$scratch/hd/slurm/logs/elm-hd_$job.out"
# Both long runs held: two lines in the hold file, one per rank.
t=0
until [ "$(cat "$scratch/held" 2>/dev/null | wc -l)" -ge 2 ]; do
  sleep 0.2; t=$((t + 1))
  [ $t -lt 600 ] || fail "the two long runs were not both held within 120 s: $(cat "$scratch/held" 2>/dev/null)"
done
runs=("$scratch"/hd/runs/*)
[ ${#runs[@]} -eq 4 ] || fail "expected 4 run directories, found ${#runs[@]}"
batch_host=$(scontrol show job -o "$job" | grep -o 'BatchHost=[^ ]*' | cut -d= -f2)
hosts=$(scontrol show hostnames "$(squeue -h -j "$job" -o %N)")
victim=$(echo "$hosts" | grep -vx "$batch_host" | head -1)
[ -n "$victim" ] || fail "job $job is not on 2 hosts: $hosts"
finished=() victim_run=""
for r in "${runs[@]}"; do
  if [ -e "$r/DONE" ]; then finished+=("$r"); fi
  grep -q "^host=$victim$" "$r/status" 2>/dev/null && [ ! -e "$r/DONE" ] && victim_run=$r
done
[ ${#finished[@]} -eq 2 ] || fail "expected the 2 short runs done before the kill, found ${#finished[@]}"
[ -n "$victim_run" ] || fail "no unfinished run on $victim: $(grep -h '^host=' "$scratch"/hd/runs/*/status)"
[ "$(newest_checkpoint "$victim_run")" -eq 1000 ] || fail "$victim_run: newest checkpoint $(newest_checkpoint "$victim_run"), not 1000"
sums_before=$(run_sums "${finished[@]}")
kill_host "$victim"
touch "$scratch/released"
took=$(wait_state "$job" 60 PENDING REQUEUED REQUEUE_HOLD COMPLETED FAILED NODE_FAIL)
echo "job $job on $batch_host+$victim ended $took s after $victim died"
[ "$(node_state "$victim")" = "down*" ] || fail "$victim is '$(node_state "$victim")' in Slurm, not down*"
wait_jobs 180 "$job"
[ "$(job_states "$job")" = COMPLETED ] || fail "job ended $(job_states "$job"): $(tail -5 "$log")"
scontrol show job -o "$job" | grep -q 'Restarts=1' || fail "job was not requeued once"
second=$(grep " attempt 2: " "$log") || fail "no second attempt in $log: $(cat "$log")"
for h in $(scontrol show hostnames "$(echo "$second" | sed 's/.*(\(.*\))$/\1/')"); do
  [ "$h" != "$victim" ] || fail "second attempt ran on the dead host: $second"
done
[ "$(run_sums "${finished[@]}")" = "$sums_before" ] || fail "a run finished before the kill was changed"
for r in "${finished[@]}"; do
  [ "$(grep -c '^run:' "$r/log.txt")" -eq 1 ] || fail "$r finished before the kill but was trained again"
done
grep -q "resuming .* from step 1000 " "$victim_run/log.txt" ||
  fail "$victim's run did not resume from step 1000: $(grep -E '^run:|resuming' "$victim_run/log.txt")"
[ "$(grep -c '^run:' "$victim_run/log.txt")" -eq 2 ] || fail "$victim's run: not exactly 2 attempts"
[ "$(done_rows "$scratch/hd/summary.csv")" -eq 4 ] || fail "summary: $(cat "$scratch/hd/summary.csv")"
echo "second attempt: $second; $victim's run resumed from step 1000; 2 finished runs unchanged; 4/4 done"
