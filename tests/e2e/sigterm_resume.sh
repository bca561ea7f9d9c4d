#!/usr/bin/env bash
# SIGTERM to mpirun (as Slurm preemption does) during a 2-rank run: the ranks
# agree on a step, checkpoint and exit non-zero; rerunning the command resumes
# and ends bit-identical (parameters and per-step losses) to an uninterrupted run.
# The signal is sent while the ranks are held at step 20 (ELM_TEST_HOLD), so the
# test means the same on a slow and on a fast machine.
source "$(dirname "$0")/lib.sh"
args=(--set train.steps=400 --set train.batch_size=16 --set train.log_every=10 --set train.eval_every=150
      --set train.checkpoint_every=0)
mpirun -n 2 "$ELMRUN" train --out "$scratch/whole" "${args[@]}" > "$scratch/whole.log"
ELM_TEST_HOLD=step@20 ELM_TEST_HOLD_FILE="$scratch/held" \
  mpirun -n 2 "$ELMRUN" train --out "$scratch/cut" "${args[@]}" > "$scratch/cut.log" 2>&1 &
pid=$!
for t in $(seq 600); do [ -s "$scratch/held" ] && break; sleep 0.1; done
[ -s "$scratch/held" ] || fail "the run never reached step 20: $(tail -3 "$scratch/cut.log")"
kill -TERM $pid
set +e; wait $pid; status=$?; set -e
[ $status -ne 0 ] || fail "interrupted run exited 0"
[ ! -e "$scratch/cut/DONE" ] || fail "the interrupted run finished"
grep -q "^state=interrupted" "$scratch/cut/status" || fail "status is not interrupted: $(cat "$scratch/cut/status")"
grep -q "^checkpoint_step=20$" "$scratch/cut/status" || fail "checkpoint is not at step 20: $(cat "$scratch/cut/status")"
[ -e "$scratch/cut/checkpoints/step_00000020/DONE" ] || fail "no complete checkpoint at step 20"
mpirun -n 2 "$ELMRUN" train --out "$scratch/cut" "${args[@]}" > "$scratch/resume.log"
grep -q "resuming" "$scratch/resume.log" || fail "second run did not resume"
[ -e "$scratch/cut/DONE" ] || fail "resumed run has no DONE"
h5diff "$scratch/whole/checkpoint.h5" "$scratch/cut/checkpoint.h5" || fail "parameters differ from the uninterrupted run"
for d in train/loss train/grad_norm valid/accuracy test/accuracy; do
  h5diff "$scratch/whole/results.h5" "$scratch/cut/results.h5" $d $d || fail "$d differs from the uninterrupted run"
done
echo "stopped at step 20 (checkpoint at step 20), resumed bit-identical"
