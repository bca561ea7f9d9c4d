#!/usr/bin/env bash
# One data-parallel run with its 2 ranks on 2 hosts (srun -N 2, all-reduce over
# TCP between the namespaces) against the same run with 2 ranks on one host
# (srun -N 1): parameters and the 600 logged losses within 1e-5 relative (h5diff -p).
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 600 2
for n in 2 1; do
  timeout 120 srun -N $n -n 2 --mpi=pmix --kill-on-bad-exit=1 "$ELMRUN" train --config "$scratch/base.ini" \
    --out "$scratch/on$n" > "$scratch/on$n.log" 2>&1 || fail "srun -N $n: $(tail -5 "$scratch/on$n.log")"
  grep -q "host=node" "$scratch/on$n/status" || fail "on$n: no status host"
done
h5dump -a world_size "$scratch/on2/results.h5" | grep -q "(0): 2" || fail "2-host run is not on 2 ranks"
# h5diff -p: relative difference |a - b| / |a| above 1e-5 counts as a difference.
for obj in /params; do
  h5diff -r -p 1e-5 "$scratch/on2/checkpoint.h5" "$scratch/on1/checkpoint.h5" $obj > "$scratch/diff_params.txt" 2>&1 ||
    fail "parameters differ by more than 1e-5 relative: $(grep -v '^attribute\|^0 differences' "$scratch/diff_params.txt" | head -8)"
done
h5diff -r -p 1e-5 "$scratch/on2/results.h5" "$scratch/on1/results.h5" /train/loss > "$scratch/diff_loss.txt" 2>&1 ||
  fail "losses differ: $(head -8 "$scratch/diff_loss.txt")"
n=$(h5dump -H "$scratch/on2/results.h5" | grep -A2 'DATASET "loss"' | grep -o '( 600 )' | head -1)
[ -n "$n" ] || fail "results hold no 600 losses: $(h5dump -H "$scratch/on2/results.h5" | grep -A2 'DATASET \"loss\"')"
echo "2 hosts ($(grep '^host=' "$scratch/on2/status")) = 1 host"
