#!/usr/bin/env bash
# Preemption on a real Slurm, in both modes (a job array of one 2-rank task and
# a 2-rank MPI sweep job): the job gets SIGUSR2 in its batch shell (which must
# survive it) and in its steps (scancel --signal=USR2, what --signal=USR2@N
# does before the time limit); the ranks checkpoint and exit 75, the script
# requeues the job, the second attempt resumes from the checkpoint and ends
# bit-identical (checkpoint.h5, train/loss) to an uninterrupted run of the same
# config on 2 ranks.
# The signals arrive while the ranks are held at step 100 (ELM_TEST_HOLD, which
# sbatch and srun pass on to the ranks; the test waits for the hold file the
# ranks write), so the checkpoint is at step 100 on a slow and on a fast
# machine alike. The requeued attempt resumes at step 100 and is not held again.
source "$(dirname "$0")/lib.sh"
# One 400-step run on 2 ranks: the shared small job's base config, no grid,
# no periodic checkpoints (the only one is the signal's).
write_small_job "$scratch" 400 2
cat > "$scratch/job.ini" <<EOT
[sweep]
name = preempt
config = base.ini
ranks_per_run = 2
EOT
sets=(--set train.checkpoint_every=0)

# preempt MODE: submits the one-run sweep to $scratch/MODE, signals it once
# its ranks are held at step 100 and waits until the script has requeued it.
preempt() {
  local mode=$1 out="$scratch/$1" job log
  ELM_TEST_HOLD=step@100 ELM_TEST_HOLD_FILE="$scratch/held_$mode" ELM_TEST_HOLD_SECONDS=120 \
    submit "$scratch/job.ini" --out "$out" --mode "$mode" --max-requeues 2 --no-collect-job "${sets[@]}"
  job=${submitted[0]}
  log="$out/slurm/logs/elm-preempt_$job.out"
  [ "$mode" = mpi ] || log="$out/slurm/logs/elm-preempt_${job}_0.out"
  wait_for_file "$scratch/held_$mode" 120
  scancel --batch --signal=USR2 "$job"
  scancel --signal=USR2 "$job"
  wait_for_text "$log" 60 "requeueing"
  grep -q "batch shell got SIGUSR2" "$log" || fail "$mode: the batch shell did not trap SIGUSR2: $(cat "$log")"
  eval "${mode}_job=$job ${mode}_log=$log"
}
preempt array
preempt mpi
# The uninterrupted reference on 2 ranks, while the requeued jobs wait to start again.
mpirun -n 2 "$ELMRUN" sweep "$scratch/job.ini" --out "$scratch/ref" "${sets[@]}" > "$scratch/ref.log" 2>&1 ||
  fail "reference run: $(tail -3 "$scratch/ref.log")"
ref=$(ls -d "$scratch"/ref/runs/*)
wait_jobs 150 "$array_job" "$mpi_job"

for mode in array mpi; do
  job=$(eval echo \$${mode}_job) log=$(eval echo \$${mode}_log)
  [ "$(job_states "$job")" = COMPLETED ] || fail "$mode job ended $(job_states "$job")"
  restarts=$(scontrol show job -o "$job" | grep -o 'Restarts=[0-9]*')
  [ "$restarts" = Restarts=1 ] || fail "$mode job was not restarted once: $restarts"
  grep -q " attempt 2[: ]" "$log" || fail "$mode: no second attempt in $log"
  run=$(ls -d "$scratch/$mode"/runs/*)
  [ "$(basename "$run")" = "$(basename "$ref")" ] || fail "$mode: run id differs from the reference"
  grep -q "stop requested (signal 12) at step 100: checkpoint at step 100 " "$run/log.txt" ||
    fail "$mode: no checkpoint at step 100 on SIGUSR2: $(grep -E "stop|resuming" "$run/log.txt")"
  grep -q "resuming .* from step 100 " "$run/log.txt" || fail "$mode: second attempt did not resume from step 100"
  [ "$(grep -c "^run:" "$run/log.txt")" -eq 2 ] || fail "$mode: not two attempts in $run/log.txt"
  [ -e "$run/DONE" ] || fail "$mode: run has no DONE"
  h5diff "$ref/checkpoint.h5" "$run/checkpoint.h5" || fail "$mode: parameters differ from the uninterrupted run"
  for d in train/loss train/grad_norm test/accuracy; do
    h5diff "$ref/results.h5" "$run/results.h5" $d $d || fail "$mode: $d differs from the uninterrupted run"
  done
  echo "$mode job $job: $(grep -o 'checkpoint at step [0-9]*' "$run/log.txt"), requeued, resumed bit-identical"
done
