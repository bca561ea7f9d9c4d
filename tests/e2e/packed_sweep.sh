#!/usr/bin/env bash
# Packed sweeps (docs/sweeps.md): the same grid trained one run at a time and
# in packs gives every run bitwise the same parameters and records, alone and
# data parallel over 2 ranks; a run that diverges fails alone and its pack goes
# on; a stop signal checkpoints every run of the pack at the same step, and the
# rerun resumes the pack; a pack whose runs are partly done trains only the rest.
source "$(dirname "$0")/lib.sh"
# The small sweep's base config, validated and checkpointed within the run.
write_small_job "$scratch" 60
sed -i 's/^eval_every = 100000$/eval_every = 30\ncheckpoint_every = 25/' "$scratch/base.ini"
grep -q "^checkpoint_every = 25$" "$scratch/base.ini" || fail "base config: $(cat "$scratch/base.ini")"
# 12 runs: 2 shapes x (3 seeds x 2 learning rates); lr 1e30 diverges.
job() {  # job NAME RANKS_PER_RUN
  cat > "$scratch/$1.ini" <<EOT
[sweep]
name = $1
config = base.ini
ranks_per_run = $2
[grid]
model.num_memory = 6,12
optim.lr = 0.005,1e30
train.seed = 1,2,3
EOT
}
job one 1
job two 2
results_equal() {  # results_equal DIR_A DIR_B: every run's parameters and records
  local a=$1 b=$2 n=0 id
  for id in $(ls "$a/runs"); do
    n=$((n + 1))
    if [ -e "$a/runs/$id/FAILED" ]; then
      [ -e "$b/runs/$id/FAILED" ] || fail "run $id failed in $a but not in $b"
      cmp -s "$a/runs/$id/FAILED" "$b/runs/$id/FAILED" || fail "run $id failed differently in $b"
      continue
    fi
    [ -e "$b/runs/$id/DONE" ] || fail "run $id is not done in $b"
    h5diff "$a/runs/$id/checkpoint.h5" "$b/runs/$id/checkpoint.h5" >/dev/null ||
      fail "run $id: parameters differ between $a and $b"
    for d in train/loss train/grad_norm train/lr valid/step valid/accuracy valid/loss test/accuracy test/loss; do
      h5diff "$a/runs/$id/results.h5" "$b/runs/$id/results.h5" $d $d >/dev/null ||
        fail "run $id: $d differs between $a and $b"
    done
  done
  [ $n -eq 12 ] || fail "$n runs in $a, expected 12"
}
"$ELMRUN" sweep "$scratch/one.ini" --out "$scratch/alone" --pack 1 > "$scratch/alone.log"
"$ELMRUN" sweep "$scratch/one.ini" --out "$scratch/packed" --pack 4 --progress-every 0 > "$scratch/packed.log"
grep -q "12 to run in 4 pack(s) of up to 4" "$scratch/packed.log" || fail "no packs: $(head -1 "$scratch/packed.log")"
# Progress: each run's steps with elapsed time and ETA, the sweep's count as packs finish.
grep -q "^\[group 0\] run 0 [0-9a-f]*: step 60/60 (100%), elapsed [0-9]*s, ETA 0s$" "$scratch/packed.log" ||
  fail "no progress line of run 0: $(grep -m3 'run 0' "$scratch/packed.log")"
grep -q "^sweep one: 6/12 done, 6 failed, elapsed [0-9]*s, ETA 0s$" "$scratch/packed.log" ||
  fail "no final count: $(grep '^sweep one' "$scratch/packed.log")"
[ $(ls "$scratch"/alone/runs/*/FAILED | wc -l) -eq 6 ] || fail "expected the 6 runs with lr 1e30 to fail"
results_equal "$scratch/alone" "$scratch/packed"
echo "1 rank: 12 runs packed by 4 equal the runs trained alone (6 diverged alone and in their packs)"

# Data parallel: packs over ranks_per_run = 2 ranks, 2 packs of 6.
mpirun -n 2 "$ELMRUN" sweep "$scratch/two.ini" --out "$scratch/alone2" --pack 1 > "$scratch/alone2.log"
mpirun -n 2 "$ELMRUN" sweep "$scratch/two.ini" --out "$scratch/packed2" --pack 6 > "$scratch/packed2.log"
results_equal "$scratch/alone2" "$scratch/packed2"
echo "2 ranks per run: packs of 6 equal the runs trained alone"

# A stop while the first pack is held at step 20: all its runs checkpoint at 20.
ELM_TEST_HOLD=step@20 ELM_TEST_HOLD_FILE="$scratch/held" \
  "$ELMRUN" sweep "$scratch/one.ini" --out "$scratch/cut" --pack 6 > "$scratch/cut.log" 2>&1 &
pid=$!
wait_for_file "$scratch/held" 120 $pid
kill -TERM $pid
set +e; wait $pid; status=$?; set -e
[ $status -ne 0 ] || fail "the stopped sweep exited 0"
stopped=0
for s in "$scratch"/cut/runs/*/status; do
  grep -q "^state=interrupted" "$s" || continue
  stopped=$((stopped + 1))
  grep -q "^checkpoint_step=20$" "$s" || fail "$s: not checkpointed at step 20: $(cat "$s")"
done
"$ELMRUN" status "$scratch/cut" > "$scratch/status.out" || true
grep -q "in 2 pack(s): --array=0-1 (packs.tsv)" "$scratch/status.out" ||
  fail "status does not name the packs that remain: $(tail -2 "$scratch/status.out")"
[ $stopped -eq 3 ] || fail "$stopped runs interrupted, expected the 3 finite runs of the first pack: $(cat "$scratch/cut.log")"
"$ELMRUN" sweep "$scratch/one.ini" --out "$scratch/cut" --pack 6 > "$scratch/resume.log"
[ $(grep -c "resuming" "$scratch"/cut/runs/*/log.txt | awk -F: '{s += $2} END {print s}') -eq 3 ] ||
  fail "the rerun did not resume the 3 runs"
results_equal "$scratch/alone" "$scratch/cut"
echo "stop at step 20: the pack's 3 live runs checkpointed at 20 and resumed bit-identical"

# Partly done: one run of a pack is lost; the rerun trains only that run (and
# retries the 6 failed ones, as every rerun does).
victim=$(ls "$scratch/cut/runs" | head -1)
[ -e "$scratch/cut/runs/$victim/DONE" ] || victim=$(ls "$scratch/cut/runs" | sed -n 2p)
rm -rf "$scratch/cut/runs/$victim"
"$ELMRUN" sweep "$scratch/one.ini" --out "$scratch/cut" --pack 6 > "$scratch/rest.log"
grep -q "5 already done, 7 to run" "$scratch/rest.log" || fail "rerun: $(head -1 "$scratch/rest.log")"
results_equal "$scratch/alone" "$scratch/cut"
echo "a sweep with 5 of 12 runs done trained only the other 7, bit-identical"
