#!/usr/bin/env bash
# slurm/submit.py --mode mpi on a real Slurm: one job of 2 ranks under
# srun --mpi=pmix. With ranks_per_run = 1 the ranks form 2 groups that share
# the 4 runs; with ranks_per_run = 2 one group trains each run data-parallel
# (results.h5 world_size 2).
source "$(dirname "$0")/lib.sh"
mkdir -p "$scratch/one" "$scratch/two"
write_small_job "$scratch/one" 300 1
write_small_job "$scratch/two" 300 2
submit "$scratch/one/job.ini" --out "$scratch/one/sweep" --mode mpi --ntasks-per-node 2 --time 00:05:00 --signal-lead 30
one=${submitted[0]}
submit "$scratch/two/job.ini" --out "$scratch/two/sweep" --mode mpi --nodes 1 --time 00:05:00 --signal-lead 30
two=${submitted[0]}
grep -q "2 rank(s) per job" "$scratch/submit.out" || fail "ranks_per_run 2 job is not 2 ranks: $(cat "$scratch/submit.out")"
wait_jobs 120 "$one" "$two"
for case in one two; do
  job=${!case}
  out="$scratch/$case/sweep"
  log="$out/slurm/logs/elm-small_$job.out"
  [ "$(job_states "$job")" = COMPLETED ] || fail "job $case: $(job_states "$job"): $(tail -5 "$log")"
  grep -q "attempt 1: 2 ranks on 1 node" "$log" || fail "job $case did not get 2 ranks: $(head -3 "$log")"
  [ "$(done_rows "$out/summary.csv")" -eq 4 ] || fail "job $case summary: $(cat "$out/summary.csv")"
done
grep -q "4 to run on 2 group(s) of 1 rank(s)" "$scratch/one/sweep/slurm/logs/elm-small_$one.out" ||
  fail "ranks_per_run 1: not 2 groups"
for g in 0 1; do
  grep -q "\[group $g\] run .*: done in" "$scratch/one/sweep/slurm/logs/elm-small_$one.out" || fail "group $g trained no run"
done
grep -q "4 to run on 1 group(s) of 2 rank(s)" "$scratch/two/sweep/slurm/logs/elm-small_$two.out" ||
  fail "ranks_per_run 2: not 1 group of 2"
for r in "$scratch"/two/sweep/runs/*/results.h5; do
  h5dump -a world_size "$r" | grep -q "(0): 2" || fail "$r: world_size is not 2: $(h5dump -a world_size "$r")"
done
echo "job $one: 2 groups of 1 rank, job $two: 1 group of 2 ranks; 4/4 runs done in each"
