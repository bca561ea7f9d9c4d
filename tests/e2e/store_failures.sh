#!/usr/bin/env bash
# Store failures:
#  1. A corrupt test split (4 KiB in the middle of test.h5 overwritten with
#     fixed pseudo-random bytes) fails only the final test evaluation: every
#     step is trained, elmrun exits non-zero with one line naming test.h5, and
#     the run keeps a complete checkpoint at the last step
#     (checkpoints/step_<steps>/DONE, status checkpoint_step=<steps>, no DONE).
#     With the good test.h5 back in place, rerunning resumes from that step,
#     trains nothing, finishes, and ends bit-identical to an uninterrupted run.
#  2. A store path that does not exist fails `elmrun sweep JOB --list` and
#     `elmrun sweep JOB` with one line per problem on stderr and exit 1,
#     before anything is written (the sweep directory is not created).
#     (slurm/submit.py --dry-run: tests/slurm/submit_cli.sh.)
source "$(dirname "$0")/lib.sh"
store="$scratch/store"
"$ELMRUN" prep synthetic_listops --set train=400 --set valid=50 --set test=100 --out "$store" > "$scratch/prep.log" ||
  fail "prep synthetic_listops: $(tail -3 "$scratch/prep.log")"
steps=40
cat > "$scratch/listops.ini" <<EOT
[model]
variant = v1
num_input = 15
num_output = 10
num_memory = 8
memory_tau_max = 100
[task]
name = listops
store = $store
seq_len = 200
[train]
steps = $steps
batch_size = 16
threads = 1
log_every = 10
eval_every = 20
[optim]
lr = 0.002
EOT
train=("$ELMRUN" train --config "$scratch/listops.ini")
ckpt=$(printf "checkpoints/step_%08d" $steps)

# ---- 1. a corrupt test split ---------------------------------------------------------
"${train[@]}" --out "$scratch/ref" > "$scratch/ref.log" 2>&1 || fail "reference run: $(tail -3 "$scratch/ref.log")"
cp "$store/test.h5" "$scratch/test.h5.good"
/usr/bin/python3 - "$store/test.h5" <<'EOF'
import os, random, sys
path = sys.argv[1]
size = os.path.getsize(path)
with open(path, "r+b") as f:
    f.seek(size // 2 - 2048)
    f.write(random.Random(7).randbytes(4096))
EOF
cmp -s "$store/test.h5" "$scratch/test.h5.good" && fail "test.h5 was not changed"
run="$scratch/run"
set +e
"${train[@]}" --out "$run" > "$scratch/cut.out" 2> "$scratch/cut.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "a run with a corrupt test split exited 0: $(tail -3 "$scratch/cut.out")"
[ "$(wc -l < "$scratch/cut.err")" -eq 1 ] || fail "not one line on stderr: $(cat "$scratch/cut.err")"
grep -q "^elmrun train: error: $store/test.h5: " "$scratch/cut.err" || fail "the error does not name test.h5: $(cat "$scratch/cut.err")"
grep -q "^step $(printf %6d $steps)/$steps " "$scratch/cut.out" || fail "training did not reach step $steps: $(cat "$scratch/cut.out")"
grep -q "^eval  step $steps " "$scratch/cut.out" || fail "no validation at step $steps: $(cat "$scratch/cut.out")"
! grep -q "^test " "$scratch/cut.out" || fail "the test evaluation succeeded on a corrupt split"
[ -e "$run/$ckpt/DONE" ] || fail "no complete checkpoint at step $steps: $(ls -R "$run")"
[ "$(ls "$run/checkpoints")" = "$(basename "$ckpt")" ] || fail "other checkpoints: $(ls "$run/checkpoints")"
grep -q "^checkpoint_step=$steps$" "$run/status" || fail "status: $(cat "$run/status")"
grep -q "^step=$steps$" "$run/status" || fail "status: $(cat "$run/status")"
for f in DONE results.h5 checkpoint.h5 LOCK; do [ ! -e "$run/$f" ] || fail "the failed run left $f"; done

cp "$scratch/test.h5.good" "$store/test.h5"
"${train[@]}" --out "$run" > "$scratch/resume.out" 2>&1 || fail "rerun: $(tail -3 "$scratch/resume.out")"
grep -q "^resuming $run from step $steps " "$scratch/resume.out" || fail "rerun did not resume from step $steps: $(cat "$scratch/resume.out")"
! grep -q "^step " "$scratch/resume.out" || fail "the rerun trained again: $(cat "$scratch/resume.out")"
! grep -q "^eval " "$scratch/resume.out" || fail "the rerun validated again: $(cat "$scratch/resume.out")"
[ -e "$run/DONE" ] || fail "the rerun has no DONE"
grep -q "^state=done$" "$run/status" || fail "status after the rerun: $(cat "$run/status")"
[ ! -e "$run/checkpoints" ] || fail "checkpoints left after the run finished: $(ls "$run/checkpoints")"
h5diff "$scratch/ref/checkpoint.h5" "$run/checkpoint.h5" || fail "parameters differ from the uninterrupted run"
for d in train/loss train/grad_norm valid/accuracy test/accuracy test/loss; do
  h5diff "$scratch/ref/results.h5" "$run/results.h5" $d $d || fail "$d differs from the uninterrupted run"
done
echo "1. corrupt test split: $(cat "$scratch/cut.err"); checkpoint at step $steps kept, resumed without training"

# ---- 2. a store path that does not exist ---------------------------------------------
cat > "$scratch/job.ini" <<EOT
[sweep]
name = stores
config = listops.ini
[grid]
task.store = $scratch/missing_a,$store,$scratch/missing_b
model.num_memory = 4,8
EOT
for mode in list sweep; do
  sweep_out="$scratch/sweep_$mode"
  extra=()
  [ $mode = sweep ] || extra=(--list)
  set +e
  "$ELMRUN" sweep "$scratch/job.ini" --out "$sweep_out" "${extra[@]}" > "$scratch/$mode.out" 2> "$scratch/$mode.err"
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "sweep ${extra[*]} with missing stores exited $rc: $(cat "$scratch/$mode.out" "$scratch/$mode.err")"
  [ "$(wc -l < "$scratch/$mode.err")" -eq 2 ] || fail "sweep ${extra[*]}: not one line per problem: $(cat "$scratch/$mode.err")"
  for m in missing_a missing_b; do
    [ "$(grep -c "^elmrun sweep: $scratch/job.ini: run [0-9]* ([0-9a-f]*) and 1 other run(s): .*$scratch/$m" \
      "$scratch/$mode.err")" -eq 1 ] || fail "sweep ${extra[*]}: no one line for $m: $(cat "$scratch/$mode.err")"
  done
  [ ! -s "$scratch/$mode.out" ] || fail "sweep ${extra[*]} printed: $(cat "$scratch/$mode.out")"
  [ ! -e "$sweep_out" ] || fail "sweep ${extra[*]} wrote $sweep_out: $(ls -R "$sweep_out")"
done
echo "2. missing stores: sweep --list and sweep exit 1 with one line per store, nothing written"
