#!/usr/bin/env bash
# Preemption on a real Slurm: a 2-rank MPI sweep job gets SIGUSR2 in its batch
# shell (which must survive it) and then in its steps (scancel --signal=USR2,
# what --signal=USR2@N does before the time limit); the ranks checkpoint and
# exit 75, the script requeues the job, the second attempt resumes from the
# checkpoint and ends bit-identical (checkpoint.h5, train/loss) to an
# uninterrupted run of the same config on 2 ranks.
source "$(dirname "$0")/lib.sh"
cat > "$scratch/base.ini" <<EOT
[model]
variant = v1
num_input = 32
num_output = 4
num_memory = 10
memory_tau_max = 150
[task]
name = synthetic_burst
[train]
batch_size = 16
threads = 1
log_every = 10
eval_every = 100000
checkpoint_every = 0
[optim]
lr = 0.005
EOT
cat > "$scratch/job.ini" <<EOT
[sweep]
name = preempt
config = base.ini
ranks_per_run = 2
EOT
sets=(--set train.steps=8000)
out="$scratch/sweep"
submit "$scratch/job.ini" --out "$out" --mode mpi --ntasks-per-node 2 --max-requeues 2 "${sets[@]}"
job=${submitted[0]}
log="$out/slurm/logs/elm-preempt_$job.out"
wait_for_text "$out/runs/*/log.txt" 60 "step    100/"
scancel --batch --signal=USR2 "$job"
scancel --signal=USR2 "$job"
wait_for_text "$log" 60 "requeueing"
grep -q "batch shell got SIGUSR2" "$log" || fail "the batch shell did not trap SIGUSR2: $(cat "$log")"
# The uninterrupted reference on 2 ranks, while the requeued job waits to start again.
mpirun -n 2 "$ELMRUN" sweep "$scratch/job.ini" --out "$scratch/ref" "${sets[@]}" > "$scratch/ref.log" 2>&1 ||
  fail "reference run: $(tail -3 "$scratch/ref.log")"
wait_jobs 120 "$job"

[ "$(job_states "$job")" = COMPLETED ] || fail "job ended $(job_states "$job")"
scontrol show job -o "$job" | grep -q "Restarts=1 " || fail "job was not restarted once: $(scontrol show job -o "$job" | grep -o 'Restarts=[0-9]*')"
grep -q "attempt 2: 2 ranks" "$log" || fail "no second attempt in $log"
run=$(ls -d "$out"/runs/*)
[ "$(basename "$run")" = "$(ls "$scratch/ref/runs")" ] || fail "run ids differ from the reference"
grep -q "stop requested (signal 12)" "$run/log.txt" || fail "no checkpoint on SIGUSR2 (the run finished first? make it longer)"
grep -q "resuming .* from step" "$run/log.txt" || fail "second attempt did not resume from the checkpoint"
[ -e "$run/DONE" ] || fail "run has no DONE"
h5diff "$scratch/ref/runs/$(basename "$run")/checkpoint.h5" "$run/checkpoint.h5" || fail "parameters differ from the uninterrupted run"
for d in train/loss train/grad_norm test/accuracy; do
  h5diff "$scratch/ref/runs/$(basename "$run")/results.h5" "$run/results.h5" $d $d || fail "$d differs from the uninterrupted run"
done
echo "job $job: $(grep -o 'checkpoint at step [0-9]*' "$run/log.txt"), requeued, resumed bit-identical"
