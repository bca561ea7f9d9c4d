#!/usr/bin/env bash
# Two Slurm jobs given the same array index (as a resubmission that overlaps a
# still running array task does): `elmrun sweep JOB --out DIR --run-index 0`
# under srun in two sbatch jobs at once. Exactly one trains run 0: job A is
# held at step 20 of it (ELM_TEST_HOLD, passed on by sbatch and srun) while
# job B runs from start to end, so B must find the run in use, skip it and
# exit 0; A is checked to be still running when B has ended, and then finishes
# the run (its hold ends by itself after ELM_TEST_HOLD_SECONDS).
# submit.py cannot submit two tasks with one index, hence plain sbatch --wrap.
source "$(dirname "$0")/lib.sh"
hold_s=${ELM_TEST_ONE_WRITER_HOLD_S:-20}
write_small_job "$scratch" 100
out="$scratch/sweep"
"$ELMRUN" sweep "$scratch/job.ini" --out "$out" --list > /dev/null || fail "sweep --list failed"
run_id=$(awk -F'\t' '$1 == 0 {print $2}' "$out/manifest.tsv")
run="$out/runs/$run_id"
step="srun --mpi=pmix --kill-on-bad-exit=1 $ELMRUN sweep $scratch/job.ini --out $out --run-index 0"
# sbatch_wrap NAME: submits the step as one 1-rank job; its id in `job`.
sbatch_wrap() {
  job=$(sbatch --parsable --job-name="elm-same-$1" --chdir="$scratch" --output="$scratch/$1_%j.out" --ntasks=1 \
    --time=00:05:00 --wrap "$step") || fail "sbatch $1 failed: $job"
  job=${job%%;*}
  our_jobs+=("$job")
}

ELM_TEST_HOLD=step@20 ELM_TEST_HOLD_FILE="$scratch/held" ELM_TEST_HOLD_SECONDS=$hold_s sbatch_wrap a
a=$job
wait_for_file "$scratch/held" 120
a_pid=$(sed -n 's/^pid=//p' "$run/LOCK")
[ -n "$a_pid" ] || fail "job $a holds run 0 but its LOCK names no pid: $(cat "$run/LOCK")"
sbatch_wrap b
b=$job
wait_jobs 120 "$b"
[ "$(job_states "$b")" = COMPLETED ] || fail "job B ended $(job_states "$b"): $(cat "$scratch"/b_"$b".out)"
[ "$(job_states "$a")" = RUNNING ] || fail "job A is $(job_states "$a") after B ended: the test proved nothing (hold ${hold_s}s)"
[ ! -e "$run/DONE" ] || fail "run 0 finished while job B ran"
b_log="$scratch/b_$b.out"
grep -Eq "^\[group 0\] run 0 $run_id: skipped, run $run is in use by $(hostname):$a_pid since " "$b_log" ||
  fail "job B did not skip the run job A holds: $(cat "$b_log")"
! grep -q ": started$" "$b_log" || fail "job B started a run: $(cat "$b_log")"
grep -q "^1 run(s) skipped: held by another job" "$b_log" || fail "job B: $(tail -3 "$b_log")"

wait_jobs 120 "$a"
a_log="$scratch/a_$a.out"
[ "$(job_states "$a")" = COMPLETED ] || fail "job A ended $(job_states "$a"): $(cat "$a_log")"
grep -q "^\[group 0\] run 0 $run_id .*: started$" "$a_log" || fail "job A did not train run 0: $(cat "$a_log")"
grep -q "^\[group 0\] run 0 $run_id: done in" "$a_log" || fail "job A did not finish run 0: $(cat "$a_log")"
[ -e "$run/DONE" ] || fail "run 0 has no DONE"
[ "$(grep -c "^run:" "$run/log.txt")" -eq 1 ] || fail "run 0 was trained more than once: $(cat "$run/log.txt")"
! grep -q "resuming" "$run/log.txt" || fail "run 0 resumed: $(cat "$run/log.txt")"
[ ! -e "$run/LOCK" ] || fail "LOCK left: $(cat "$run/LOCK")"
[ "$(ls "$out"/runs/*/DONE | wc -l)" -eq 1 ] || fail "other runs than index 0 were trained"
echo "jobs $a and $b given index 0: $b skipped it (held by $a), $a trained it once"
