#!/usr/bin/env bash
# A host dies under a data-parallel run: one run on 2 ranks, one per host
# (slurm/submit.py --mode mpi --nodes 2), both ranks held at step 1001 (the
# checkpoint of step 1000 complete); the host that is not the batch host is
# killed (link down, then every process on it). The job must end within 60 s
# (Slurm marks the host DOWN after SlurmdTimeout = 10 s and ends the job,
# NODE_FAIL), be requeued by Slurm, run its second attempt on the two hosts
# left, resume from the newest complete checkpoint (step 1000) and finish.
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 2000 2
cat > "$scratch/job.ini" <<EOT
[sweep]
name = dp
config = base.ini
ranks_per_run = 2
EOT
ELM_TEST_HOLD=step@1001 ELM_TEST_HOLD_FILE="$scratch/held" ELM_TEST_HOLD_SECONDS=300 \
  ELM_TEST_HOLD_RELEASE_FILE="$scratch/released" \
  submit "$scratch/job.ini" --out "$scratch/dp" --mode mpi --nodes 2 --ntasks-per-node 1 --time 00:10:00 \
  --signal-lead 30 --set train.checkpoint_every=100
job=${submitted[0]}
log="$scratch/dp/slurm/logs/elm-dp_$job.out"
wait_for_file "$scratch/held" 120
run=$(ls -d "$scratch"/dp/runs/*)
batch_host=$(scontrol show job -o "$job" | grep -o 'BatchHost=[^ ]*' | cut -d= -f2)
hosts=$(scontrol show hostnames "$(squeue -h -j "$job" -o %N)")
victim=$(echo "$hosts" | grep -vx "$batch_host" | head -1)
[ -n "$victim" ] || fail "job $job is not on 2 hosts: $hosts"
before=$(newest_checkpoint "$run")
[ "$before" -eq 1000 ] || fail "newest checkpoint at the hold is step $before, not 1000"
kill_host "$victim"
touch "$scratch/released"   # rank 0 goes on into the step's all-reduce; the requeued attempt is not held again
took=$(wait_state "$job" 60 PENDING REQUEUED REQUEUE_HOLD COMPLETED FAILED NODE_FAIL)
echo "job $job on $batch_host+$victim ended $took s after $victim died"
[ "$(node_state "$victim")" = "down*" ] || fail "$victim is '$(node_state "$victim")' in Slurm, not down*"
wait_jobs 180 "$job"
[ "$(job_states "$job")" = COMPLETED ] || fail "job ended $(job_states "$job"): $(tail -5 "$log")"
scontrol show job -o "$job" | grep -q 'Restarts=1' || fail "job was not requeued once: $(scontrol show job -o "$job" | grep -o 'Restarts=[0-9]*')"
second=$(grep " attempt 2: " "$log") || fail "no second attempt in $log: $(cat "$log")"
echo "$second" | grep -q "2 ranks on 2 node" || fail "second attempt not on 2 hosts: $second"
for h in $(scontrol show hostnames "$(echo "$second" | sed 's/.*(\(.*\))$/\1/')"); do
  [ "$h" != "$victim" ] || fail "second attempt ran on the dead host: $second"
done
grep -q "resuming .* from step 1000 " "$run/log.txt" ||
  fail "did not resume from step 1000: $(grep -E '^run:|resuming' "$run/log.txt")"
[ -e "$run/DONE" ] || fail "run not done"
h5dump -a steps_completed "$run/results.h5" | grep -q "(0): 2000" || fail "results do not cover 2000 steps"
echo "second attempt: $second; resumed from step 1000"
