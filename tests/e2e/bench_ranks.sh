#!/usr/bin/env bash
# `elmrun bench --ranks` under mpirun -n 2 prints the 1-rank and 2-rank lines
# with the all-reduce figures at the model's gradient size (6827 trainable
# parameters of neuronio_dm15 + loss + stop flag = 6829 floats). Format only:
# the figures themselves go to BENCHMARKS.md.
source "$(dirname "$0")/lib.sh"
mpirun -n 2 "$ELMRUN" bench --ranks --min-seconds 0 --min-steps 2 --rounds 1 > "$scratch/out"
cat "$scratch/out"
[ "$(wc -l < "$scratch/out")" -eq 2 ] || fail "expected 2 lines"
grep -q "ranks=1 .*global_batch=16 .*allreduce=none" "$scratch/out" || fail "no 1-rank line"
grep -q "ranks=2 .*global_batch=16 .*allreduce_bytes=27316 allreduce_us=[0-9.]* algbw_GBps=[0-9.]* busbw_GBps=" \
  "$scratch/out" || fail "no 2-rank line with all-reduce figures"
set +e; mpirun -n 2 "$ELMRUN" bench --ranks --global-batch 15 > /dev/null 2> "$scratch/err"; status=$?; set -e
[ $status -ne 0 ] || fail "odd global batch on 2 ranks accepted"
grep -q "global-batch 15 must be a multiple of the 2 ranks" "$scratch/err" || fail "unclear error: $(cat "$scratch/err")"
