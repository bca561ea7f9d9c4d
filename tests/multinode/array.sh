#!/usr/bin/env bash
# An array sweep on the cluster: slurm/submit.py --mode array, 6 runs, each
# task taking all the cores of a host (--cpus-per-task = the host's CPUs), so
# Slurm spreads the tasks over the hosts. Every host must run a task, every
# run is done once, and the summary job (afterany) collects all 6.
source "$(dirname "$0")/lib.sh"
write_six_run_job arr
cpus=$(sinfo -h -N -n node1 -o %c | head -1)
submit "$scratch/job.ini" --out "$scratch/sweep" --mode array --cpus-per-task "$cpus" --time 00:05:00 --signal-lead 30
wait_jobs 150 "${submitted[@]}"
for j in "${submitted[@]}"; do
  for s in $(job_states "$j"); do [ "$s" = COMPLETED ] || fail "job $j: $s"; done
done
used=$(grep -ho "attempt 1 on node[0-9]*" "$scratch"/sweep/slurm/logs/elm-arr_*_*.out | sort | uniq -c)
[ "$(echo "$used" | wc -l)" -eq 3 ] || fail "array tasks did not land on all 3 hosts: $used"
[ "$(done_rows "$scratch/sweep/summary.csv")" -eq 6 ] || fail "summary: $(cat "$scratch/sweep/summary.csv")"
for r in "$scratch"/sweep/runs/*; do
  [ "$(grep -c '^run:' "$r/log.txt")" -eq 1 ] || fail "$r trained $(grep -c '^run:' "$r/log.txt") times"
done
echo "6 tasks on hosts:" $used
