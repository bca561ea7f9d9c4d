#!/usr/bin/env bash
# Preemption of an array task that trains several runs (a task map): task 0
# of a 4-run sweep at 2 runs per task is stopped with SIGUSR2 between its two
# runs (held there by ELM_TEST_HOLD=between_runs@0, which sbatch and srun
# pass on to the ranks), exits 75 and requeues itself; the second attempt is
# given the same runs, skips run 0 (DONE) and trains run 1. Every run is
# trained exactly once.
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 300
out="$scratch/sweep"
ELM_TEST_HOLD=between_runs@0 ELM_TEST_HOLD_FILE="$scratch/held" ELM_TEST_HOLD_SECONDS=60 \
  submit "$scratch/job.ini" --out "$out" --mode array --runs-per-task 2 --max-requeues 2 --no-collect-job
grep -q "4 of 4 run(s), 2 array task(s) (--array=0-1)" "$scratch/submit.out" || fail "submission: $(cat "$scratch/submit.out")"
job=${submitted[0]}
log="$out/slurm/logs/elm-small_${job}_0.out"
wait_for_file "$scratch/held" 120
scancel --batch --signal=USR2 "${job}_0"
scancel --signal=USR2 "${job}_0"
wait_for_text "$log" 60 "requeueing"
wait_jobs 150 "$job"

[ "$(job_states "$job" | sort | uniq -c | tr -s ' ')" = " 2 COMPLETED" ] || fail "task states: $(job_states "$job")"
[ "$(scontrol show job -o "${job}_0" | grep -o 'Restarts=[0-9]*')" = Restarts=1 ] ||
  fail "task 0 was not requeued once: $(scontrol show job -o "${job}_0" | grep -o 'Restarts=[0-9]*')"
run_id() { awk -F'\t' -v i="$1" '$1 == i {print $2}' "$out/manifest.tsv"; }
grep -q "attempt 2 on .*: task 0: pack indices 0 1$" "$log" || fail "no second attempt with packs 0 1: $(cat "$log")"
# Attempt 1 trained run 0 only; attempt 2 (after its line) trained run 1 only.
attempt2=$(sed -n '/ attempt 2 on /,$p' "$log")
echo "$attempt2" | grep -q "run 1 $(run_id 1): done in" || fail "attempt 2 did not train run 1: $attempt2"
! echo "$attempt2" | grep -q "run 0 $(run_id 0): done in" || fail "attempt 2 trained run 0 again: $attempt2"
for i in 0 1 2 3; do
  run="$out/runs/$(run_id $i)"
  [ -e "$run/DONE" ] || fail "run $i has no DONE"
  [ "$(grep -c '^run:' "$run/log.txt")" -eq 1 ] || fail "run $i was started $(grep -c '^run:' "$run/log.txt") times"
done
echo "task 0 of job $job: stopped after run 0, requeued, attempt 2 trained run 1 only; 4/4 runs trained once"
