#!/usr/bin/env bash
# kill -9 of one rank during a 2-rank sweep: the job exits non-zero within 30 s
# (no hang); rerunning the sweep completes the missing runs and leaves the
# completed ones untouched.
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 3000
out="$scratch/sweep"
mpirun -n 2 "$ELMRUN" sweep "$scratch/job.ini" --out "$out" > "$scratch/first.log" 2>&1 &
pid=$!
wait_for_text "$scratch/first.log" 120 ": done in"
# One completed run exists now; note its files, then kill one rank mid-run.
done_dir=$(dirname "$(ls "$out"/runs/*/DONE | head -1)")
sum_before=$(md5sum "$done_dir"/results.h5 "$done_dir"/checkpoint.h5 "$done_dir"/DONE)
victim=$(pgrep -P $pid -f "elmrun sweep" | head -1 || true)
[ -n "$victim" ] || victim=$(pgrep -f "elmrun sweep $scratch" | head -1)
[ -n "$victim" ] || fail "no rank process found"
kill -9 "$victim"
start=$(date +%s)
set +e; wait $pid; status=$?; set -e
took=$(( $(date +%s) - start ))
[ $status -ne 0 ] || fail "job exited 0 after a rank was killed"
[ $took -le 30 ] || fail "job took ${took}s to exit after kill -9 (limit 30)"
if pgrep -f "elmrun sweep $scratch" > /dev/null; then fail "ranks left running"; fi
done_before=$(ls "$out"/runs/*/DONE | wc -l)
mpirun -n 2 "$ELMRUN" sweep "$scratch/job.ini" --out "$out" > "$scratch/second.log" 2>&1
[ "$(ls "$out"/runs/*/DONE | wc -l)" -eq 4 ] || fail "rerun did not complete every run"
grep -q "$done_before already done" "$scratch/second.log" || fail "rerun did not skip the $done_before completed run(s)"
[ "$(md5sum "$done_dir"/results.h5 "$done_dir"/checkpoint.h5 "$done_dir"/DONE)" = "$sum_before" ] ||
  fail "a completed run was rewritten"
rows=$(done_rows "$out/summary.csv")
[ "$rows" -eq 4 ] || fail "summary.csv has $rows done rows, expected 4"
echo "job exited $status ${took}s after kill -9; rerun completed $((4 - done_before)) missing run(s)"
