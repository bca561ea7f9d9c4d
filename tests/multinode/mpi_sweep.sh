#!/usr/bin/env bash
# An MPI-mode sweep across hosts: slurm/submit.py --mode mpi --nodes 2 with one
# rank per host and ranks_per_run 1 makes two groups, one per host, that share
# 6 runs through the work counter on rank 0 (one-sided MPI across hosts).
# Both hosts must train runs (each run's status file names its host) and every
# run is trained exactly once (one "run:" line in each run's log).
source "$(dirname "$0")/lib.sh"
write_six_run_job spread
submit "$scratch/job.ini" --out "$scratch/sweep" --mode mpi --nodes 2 --ntasks-per-node 1 --time 00:05:00 --signal-lead 30
job=${submitted[0]}
log="$scratch/sweep/slurm/logs/elm-spread_$job.out"
wait_jobs 150 "$job"
[ "$(job_states "$job")" = COMPLETED ] || fail "job ended $(job_states "$job"): $(tail -5 "$log")"
grep -q "attempt 1: 2 ranks on 2 node(s)" "$log" || fail "not 2 ranks on 2 hosts: $(head -3 "$log")"
grep -q "6 to run on 2 group(s) of 1 rank(s)" "$log" || fail "not 2 groups: $(grep 'to run' "$log")"
[ "$(done_rows "$scratch/sweep/summary.csv")" -eq 6 ] || fail "summary: $(cat "$scratch/sweep/summary.csv")"
hosts=$(grep -h '^host=' "$scratch"/sweep/runs/*/status | sort | uniq -c)
[ "$(echo "$hosts" | wc -l)" -eq 2 ] || fail "runs were not trained on 2 hosts: $hosts"
for r in "$scratch"/sweep/runs/*; do
  [ "$(grep -c '^run:' "$r/log.txt")" -eq 1 ] || fail "$r trained $(grep -c '^run:' "$r/log.txt") times"
done
[ "$(grep -c ': done in ' "$log")" -eq 6 ] || fail "not 6 'done' lines: $(grep -c ': done in ' "$log")"
echo "6 runs, each trained once, on hosts:" $hosts
