#!/usr/bin/env bash
# One writer per run, two concurrent `elmrun sweep JOB --out SAME` on the small
# job of 4 runs: every run is trained exactly once (one "started" line per run
# index over both sweeps, one "run:" line and no "resuming" in each run's
# log.txt), both sweeps exit 0 and the summary lists 4 done runs.
# The overlap is deterministic: sweep A is held at step 20 of its first run
# (ELM_TEST_HOLD) while sweep B runs from start to end, so B must skip that run
# ("skipped, run DIR is in use by HOST:PID") and train the other three; A is
# checked to be still alive when B has ended. A's hold then ends by itself
# (ELM_TEST_HOLD_SECONDS), A finishes its run and finds the rest done.
# Both sweeps run without mpirun, so their stdout is elmrun's own.
source "$(dirname "$0")/lib.sh"
hold_s=${ELM_TEST_ONE_WRITER_HOLD_S:-10}
write_small_job "$scratch" 100
out="$scratch/sweep"

ELM_TEST_HOLD=step@20 ELM_TEST_HOLD_FILE="$scratch/held" ELM_TEST_HOLD_SECONDS=$hold_s \
  "$ELMRUN" sweep "$scratch/job.ini" --out "$out" > "$scratch/a.out" 2>&1 &
a=$!
wait_for_file "$scratch/held" 120 $a
locks=$(ls "$out"/runs/*/LOCK)
[ "$(echo "$locks" | wc -l)" -eq 1 ] || fail "expected one held run, found: $locks"
held_dir=$(dirname "$locks")
held_id=$(basename "$held_dir")
[ "$(sed -n 's/^pid=//p' "$held_dir/LOCK")" = "$a" ] || fail "LOCK does not name sweep A ($a): $(cat "$held_dir/LOCK")"
held_index=$(awk -F'\t' -v id="$held_id" '$2 == id {print $1}' "$out/manifest.tsv")
[ -n "$held_index" ] || fail "run $held_id is not in the manifest"

"$ELMRUN" sweep "$scratch/job.ini" --out "$out" > "$scratch/b.out" 2>&1 || fail "sweep B exited non-zero: $(cat "$scratch/b.out")"
kill -0 $a 2>/dev/null || fail "sweep A ended before sweep B did: the test proved nothing (hold ${hold_s}s)"
[ ! -e "$held_dir/DONE" ] || fail "the held run finished while sweep B ran"
grep -Eq "^\[group 0\] run $held_index $held_id: skipped, run $held_dir is in use by $(hostname):$a since " \
  "$scratch/b.out" || fail "sweep B did not skip the run A holds: $(cat "$scratch/b.out")"
grep -q "^3/4 runs done" "$scratch/b.out" || fail "sweep B: $(tail -3 "$scratch/b.out")"
grep -q "^1 run(s) skipped: held by another job" "$scratch/b.out" || fail "sweep B: $(tail -3 "$scratch/b.out")"

set +e; wait $a; rc=$?; set -e
[ $rc -eq 0 ] || fail "sweep A exited $rc: $(cat "$scratch/a.out")"
grep -q "^4/4 runs done" "$scratch/a.out" || fail "sweep A: $(tail -5 "$scratch/a.out")"
! grep -q "skipped, run" "$scratch/a.out" || fail "sweep A skipped a run held elsewhere: $(cat "$scratch/a.out")"

# Each run index started exactly once over both sweeps, A's only run the held one.
started=$(cat "$scratch/a.out" "$scratch/b.out" | sed -n 's/^\[group [0-9]*\] run \([0-9]*\) .*: started$/\1/p' | sort | tr '\n' ' ')
[ "$started" = "0 1 2 3 " ] || fail "runs started over both sweeps: '$started'"
[ "$(sed -n 's/^\[group [0-9]*\] run \([0-9]*\) .*: started$/\1/p' "$scratch/a.out")" = "$held_index" ] ||
  fail "sweep A started other runs than the held one: $(cat "$scratch/a.out")"
for d in "$out"/runs/*/; do
  [ -e "$d/DONE" ] || fail "$d has no DONE"
  [ "$(grep -c "^run:" "$d/log.txt")" -eq 1 ] || fail "$d was trained more than once: $(cat "$d/log.txt")"
  ! grep -q "resuming" "$d/log.txt" || fail "$d resumed: $(cat "$d/log.txt")"
  [ ! -e "$d/LOCK" ] || fail "$d: LOCK left: $(cat "$d/LOCK")"
done
[ "$(ls -d "$out"/runs/*/ | wc -l)" -eq 4 ] || fail "not 4 run directories"
[ "$(done_rows "$out/summary.csv")" -eq 4 ] || fail "summary.csv: $(cat "$out/summary.csv")"
echo "sweep B skipped run $held_index (held by A) and trained 3; A trained run $held_index; each run once, 4/4 done"
