#!/usr/bin/env bash
# SIGTERM to mpirun (as Slurm preemption does) during a 2-rank run: the ranks
# agree on a step, checkpoint and exit non-zero; rerunning the command resumes
# and ends bit-identical (parameters and per-step losses) to an uninterrupted run.
source "$(dirname "$0")/lib.sh"
args=(--set train.steps=4000 --set train.batch_size=16 --set train.log_every=10 --set train.eval_every=1500
      --set train.checkpoint_every=0)
mpirun -n 2 "$ELMRUN" train --out "$scratch/whole" "${args[@]}" > "$scratch/whole.log"
mpirun -n 2 "$ELMRUN" train --out "$scratch/cut" "${args[@]}" > "$scratch/cut.log" 2>&1 &
pid=$!
wait_for_text "$scratch/cut.log" 60 "step     20/"
kill -TERM $pid
set +e; wait $pid; status=$?; set -e
[ $status -ne 0 ] || fail "interrupted run exited 0"
grep -q "stop requested" "$scratch/cut.log" || fail "no checkpoint message: $(tail -3 "$scratch/cut.log")"
[ ! -e "$scratch/cut/DONE" ] || fail "the interrupted run finished before the signal (make it longer)"
ls "$scratch"/cut/checkpoints/step_*/DONE > /dev/null || fail "no complete checkpoint"
mpirun -n 2 "$ELMRUN" train --out "$scratch/cut" "${args[@]}" > "$scratch/resume.log"
grep -q "resuming" "$scratch/resume.log" || fail "second run did not resume"
[ -e "$scratch/cut/DONE" ] || fail "resumed run has no DONE"
h5diff "$scratch/whole/checkpoint.h5" "$scratch/cut/checkpoint.h5" || fail "parameters differ from the uninterrupted run"
for d in train/loss train/grad_norm valid/accuracy test/accuracy; do
  h5diff "$scratch/whole/results.h5" "$scratch/cut/results.h5" $d $d || fail "$d differs from the uninterrupted run"
done
echo "stopped at $(grep -o 'checkpoint at step [0-9]*' "$scratch/cut.log"), resumed bit-identical"
