#!/usr/bin/env bash
# `elmrun bench --convert-neuronio` on a small pickle from the bench's
# generator: one line per reader and worker count, the C++ reader's lines
# without Python unpickling. Format only:
# the figures themselves go to BENCHMARKS.md.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 "$ELM_SOURCE_DIR/scripts/make_neuronio_bench_pickle.py" "$scratch/sim__small.p" 4 > /dev/null
"$ELMRUN" bench --convert-neuronio "$scratch/sim__small.p" --copies 3 --jobs 2 > "$scratch/out" 2> "$scratch/err" \
  || fail "bench failed: $(cat "$scratch/err")"
cat "$scratch/out"
[ "$(wc -l < "$scratch/out")" -eq 4 ] || fail "expected 4 lines"
for reader in python cpp; do
  for jobs in 1 2; do
    grep -q "^neuronio_convert reader=$reader jobs=$jobs copies=3 .*simulations=12 .*wall_s=[0-9.e+-]* mb_per_s=" \
      "$scratch/out" || fail "no line for reader=$reader jobs=$jobs"
  done
done
grep "reader=cpp" "$scratch/out" | grep -q "python_unpickle_cpu_s=0 .*python_cpu_s=0 " \
  || fail "the C++ reader's runs started Python"
grep "reader=python" "$scratch/out" | grep -vq "python_unpickle_cpu_s=0 " || fail "Python runs report no unpickling"
[ -z "$(ls "$scratch/sim__small.p.bench" 2>/dev/null)" ] || fail "bench left its work directory"
