#!/usr/bin/env bash
# slurm/submit.py --mode array on a real Slurm: a job array of 4 tasks (one
# sweep run each, at most 2 at once) completes, every task logs to its own
# %A_%a file, and the summary job that follows the array reports all 4 runs done.
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 300
out="$scratch/sweep"
submit "$scratch/job.ini" --out "$out" --mode array --throttle 2 --time 00:05:00 --signal-lead 30
grep -q -- "--array=0-3%2" "$scratch/submit.out" || fail "unexpected array: $(cat "$scratch/submit.out")"
grep -q "^jid=\$(sbatch --parsable $out/slurm/array-.*\.sbatch)$" "$scratch/submit.out" || fail "no sbatch line: $(cat "$scratch/submit.out")"
array=${submitted[0]} summary=${submitted[1]:-}
[ -n "$summary" ] || fail "no summary job submitted"
wait_jobs 120 "$array" "$summary"

states=$(job_states "$array" | sort | uniq -c | tr -s ' ')
[ "$states" = " 4 COMPLETED" ] || fail "array task states: $states"
[ "$(job_states "$summary")" = COMPLETED ] || fail "summary job: $(job_states "$summary")"
for i in 0 1 2 3; do
  log="$out/slurm/logs/elm-small_${array}_$i.out"
  grep -q "pack index $i finished" "$log" || fail "task $i log: $(tail -3 "$log")"
done
[ "$(ls "$out"/runs/*/DONE | wc -l)" -eq 4 ] || fail "not every run has DONE"
[ "$(done_rows "$out/summary.csv")" -eq 4 ] || fail "summary.csv: $(cat "$out/summary.csv")"
grep -q "4/4 runs done" "$out"/slurm/logs/elm-small-collect_"$summary".out || fail "summary job did not see 4 done runs"
# The training settings came from the job file alone: 300 steps per run.
grep -q "300 steps of batch 16 on 1 rank" "$out"/runs/*/log.txt || fail "runs did not train the job's 300 steps"
if /usr/bin/python3 -c "import pandas, h5py" 2> /dev/null; then
  /usr/bin/python3 "$ELM_SOURCE_DIR/analysis/collect.py" "$out" > "$scratch/collect.txt" || fail "collect.py failed"
  grep -q "nothing to resubmit" "$scratch/collect.txt" || fail "collect.py: $(tail -3 "$scratch/collect.txt")"
fi
echo "array job $array: 4/4 tasks COMPLETED, summary job $summary: 4/4 runs done"
