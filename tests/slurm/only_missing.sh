#!/usr/bin/env bash
# Resubmitting an array with --only-missing on a real Slurm: after one run's
# directory is deleted, submit.py submits exactly that manifest index, the
# new array has one task, and the other runs' files stay untouched (md5sum).
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 300
out="$scratch/sweep"
submit "$scratch/job.ini" --out "$out" --mode array --no-collect-job
wait_jobs 120 "${submitted[0]}"
[ "$(ls "$out"/runs/*/DONE | wc -l)" -eq 4 ] || fail "first array did not complete every run"
victim=$(awk -F'\t' '$1 == 2 {print $2}' "$out/manifest.tsv")
[ -n "$victim" ] || fail "no manifest row 2"
keep=$(ls -d "$out"/runs/* | grep -v "/$victim$")
before=$(run_sums $keep)
rm -rf "${out:?}/runs/$victim"

submit "$scratch/job.ini" --out "$out" --mode array --only-missing
grep -q "1 of 4 run(s) (--array=2)" "$scratch/submit.out" || fail "resubmission: $(cat "$scratch/submit.out")"
array=${submitted[0]} summary=${submitted[1]}
wait_jobs 120 "$array" "$summary"
[ "$(scontrol show job -o "$array" | wc -l)" -eq 1 ] || fail "resubmitted array has more than one task"
scontrol show job -o "$array" | grep -q "ArrayTaskId=2 " || fail "resubmitted task is not index 2"
[ "$(job_states "$array")" = COMPLETED ] || fail "resubmitted task: $(job_states "$array")"
[ -e "$out/runs/$victim/DONE" ] || fail "the deleted run was not trained again"
[ "$(run_sums $keep)" = "$before" ] || fail "files of the other runs changed"
[ "$(done_rows "$out/summary.csv")" -eq 4 ] || fail "summary.csv: $(cat "$out/summary.csv")"
"${SUBMIT[@]}" "$scratch/job.ini" --out "$out" --mode array --only-missing > "$scratch/none.out" 2>&1 ||
  fail "submit.py with nothing missing failed"
grep -q "nothing to submit" "$scratch/none.out" || fail "nothing missing: $(cat "$scratch/none.out")"
! grep -q "^submitted" "$scratch/none.out" || fail "submitted a job although nothing was missing"
echo "resubmitted only index 2 (run $victim) as job $array; 3 other runs untouched"
