#!/usr/bin/env bash
# kill -9 of one rank during a 2-rank sweep: the job exits non-zero within 30 s
# (no hang); rerunning the sweep completes the missing runs and leaves the
# completed ones untouched.
# Deterministic on any machine: rank 1 (alone, through mpirun's MPMD syntax)
# is held at step 100 of its first run (ELM_TEST_HOLD), rank 0 trains on; once
# rank 1 is held and rank 0 has completed a run (its DONE file), rank 1 (found
# by OMPI_COMM_WORLD_RANK) is killed mid-run. Nothing waits on log lines
# relayed through mpirun.
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 300
out="$scratch/sweep"
sweep=("$ELMRUN" sweep "$scratch/job.ini" --out "$out")
mpirun -n 1 "${sweep[@]}" : -n 1 env ELM_TEST_HOLD=step@100 ELM_TEST_HOLD_FILE="$scratch/held" "${sweep[@]}" \
  > "$scratch/first.log" 2>&1 &
pid=$!
wait_for_file "$scratch/held" 120 $pid
wait_for_file "$out/runs/*/DONE" 120 $pid
# One completed run exists now; note its files, then kill rank 1 mid-run.
done_dir=$(dirname "$(ls "$out"/runs/*/DONE | head -1)")
sum_before=$(md5sum "$done_dir"/results.h5 "$done_dir"/checkpoint.h5 "$done_dir"/DONE)
victim=
for p in $(pgrep -f "elmrun sweep $scratch/job.ini" || true); do
  if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$p; fi
done
[ -n "$victim" ] || fail "no rank 1 process found"
tr '\0' '\n' < "/proc/$victim/environ" | grep -qx "ELM_TEST_HOLD=step@100" || fail "rank 1 is not the held one"
kill -9 "$victim"
start=$(date +%s)
set +e; wait $pid; status=$?; set -e
took=$(( $(date +%s) - start ))
[ $status -ne 0 ] || fail "job exited 0 after a rank was killed"
[ $took -le 30 ] || fail "job took ${took}s to exit after kill -9 (limit 30)"
if pgrep -f "elmrun sweep $scratch" > /dev/null; then fail "ranks left running"; fi
done_before=$(ls "$out"/runs/*/DONE | wc -l)
[ "$done_before" -lt 4 ] || fail "every run finished although rank 1 was killed mid-run"
mpirun -n 2 "${sweep[@]}" > "$scratch/second.log" 2>&1
[ "$(ls "$out"/runs/*/DONE | wc -l)" -eq 4 ] || fail "rerun did not complete every run"
grep -q "$done_before already done" "$scratch/second.log" || fail "rerun did not skip the $done_before completed run(s)"
[ "$(md5sum "$done_dir"/results.h5 "$done_dir"/checkpoint.h5 "$done_dir"/DONE)" = "$sum_before" ] ||
  fail "a completed run was rewritten"
rows=$(done_rows "$out/summary.csv")
[ "$rows" -eq 4 ] || fail "summary.csv has $rows done rows, expected 4"
echo "job exited $status ${took}s after kill -9 of rank 1; rerun completed $((4 - done_before)) missing run(s)"
