#!/usr/bin/env bash
# scripts/gpu_check.sh without a GPU: its reading of gtest output (a skipped GPU
# test fails the check, naming why), its workload list against
# src/bench/workloads.cpp, and a whole run on a fake pack whose tests all skip
# (what a driver too old for CUDA 13 gives) and whose benches print figures.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
source "$src/scripts/gpu_check_lib.sh"
scratch=$(mktemp -d /tmp/elm-gpu-check-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fails=0
check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
has() { grep -qF -- "$2" <<< "$1"; }

# gtest 1.12 output of elm_cuda_tests on a machine whose driver is too old.
cat > "$scratch/skipped.log" <<'LOG'
Note: Google Test filter = -CudaNoDevice.*
[==========] Running 3 tests from 2 test suites.
[----------] Global test environment set-up.
[----------] 2 tests from CudaBenchShapes
[ RUN      ] CudaBenchShapes.NeuronioDm100FullBatch
/src/tests/cuda/test_cuda_bench_shapes.cpp:112: Skipped
GPU test skipped: no usable CUDA device: CUDA driver version is insufficient for CUDA runtime version

[  SKIPPED ] CudaBenchShapes.NeuronioDm100FullBatch (0 ms)
[ RUN      ] CudaBenchShapes.PlannedShapesOnH100
[       OK ] CudaBenchShapes.PlannedShapesOnH100 (0 ms)
[----------] 2 tests from CudaBenchShapes (0 ms total)

[----------] 1 test from Random/CudaVsCpu
[ RUN      ] Random/CudaVsCpu.OutputsAndGradients/v1_dense
/src/tests/cuda/test_cuda_vs_cpu.cpp:71: Skipped
GPU test skipped: no usable CUDA device: CUDA driver version is insufficient for CUDA runtime version

[  SKIPPED ] Random/CudaVsCpu.OutputsAndGradients/v1_dense (0 ms)
[----------] 1 test from Random/CudaVsCpu (0 ms total)

[----------] Global test environment tear-down
[==========] 3 tests from 2 test suites ran. (1 ms total)
[  PASSED  ] 1 test.
[  SKIPPED ] 2 tests, listed below:
[  SKIPPED ] CudaBenchShapes.NeuronioDm100FullBatch
[  SKIPPED ] Random/CudaVsCpu.OutputsAndGradients/v1_dense
LOG
grep -v -e SKIPPED -e Skipped -e 'GPU test skipped' "$scratch/skipped.log" > "$scratch/passed.log"
sed -e 's/^\[  SKIPPED \] CudaBenchShapes.NeuronioDm100FullBatch (0 ms)/[  FAILED  ] CudaBenchShapes.NeuronioDm100FullBatch (3 ms)/' \
  "$scratch/skipped.log" > "$scratch/failed.log"
echo '[  FAILED  ] 1 test, listed below:' >> "$scratch/failed.log"
echo '[  FAILED  ] CudaBenchShapes.NeuronioDm100FullBatch' >> "$scratch/failed.log"
head -8 "$scratch/skipped.log" > "$scratch/crashed.log"

check "skipped tests are named once each" \
  test "$(gtest_skipped_tests "$scratch/skipped.log" | tr '\n' ' ')" = \
  "CudaBenchShapes.NeuronioDm100FullBatch Random/CudaVsCpu.OutputsAndGradients/v1_dense "
check "the skip reason is counted" \
  test "$(gtest_skip_reasons "$scratch/skipped.log")" = \
  "2x GPU test skipped: no usable CUDA device: CUDA driver version is insufficient for CUDA runtime version"
v=$(gtest_verdict "$scratch/skipped.log" 0)
check "a run with skips fails though gtest exits 0" test $? -ne 0
check "... naming how many and why" has "$v" "FAIL: 2 of 3 tests skipped: 2x GPU test skipped: no usable CUDA device: CUDA driver version is insufficient"
v=$(gtest_verdict "$scratch/passed.log" 0)
check "a clean run passes" test $? -eq 0
check "... with its test count" test "$v" = "PASS: 3 tests"
v=$(gtest_verdict "$scratch/failed.log" 1)
check "a failed test fails" test $? -ne 0
check "... naming it" has "$v" "failed: CudaBenchShapes.NeuronioDm100FullBatch"
v=$(gtest_verdict "$scratch/crashed.log" 139)
check "a crash (no summary) fails" test $? -ne 0
check "... saying so" has "$v" "no gtest summary"
v=$(gtest_verdict "$scratch/passed.log" 1)
check "a clean log with a nonzero exit fails" test $? -ne 0

echo 'workload=pathx_dm150 backend=cuda batch=64 steps=16384 ms_per_step=812.250 sample_steps_per_s=1.3e+06' > "$scratch/bench.out"
check "bench_figure reads ms_per_step" test "$(bench_figure "$scratch/bench.out" ms_per_step)" = 812.250
check "bench_figure: no figure, nothing" test -z "$(bench_figure "$scratch/bench.out" gflops)"

truncate -s 61M "$scratch/big.tar.gz"
truncate -s 59M "$scratch/small.tar.gz"
out=$(check_archive_size "$scratch/big.tar.gz")
check "an archive of 61 MiB is over the transfer limit" test $? -ne 0
check "... saying so" has "$out" "too large: the archive $scratch/big.tar.gz, 61 MiB (limit 60 MiB)"
check "an archive of 59 MiB is not" check_archive_size "$scratch/small.tar.gz"

# Every bench workload is benched.
known=$(sed -nE 's/.*w\.push_back\(\{"([a-z0-9_]+)".*/\1/p' "$src/src/bench/workloads.cpp" | sort | tr '\n' ' ')
listed=$(sed -nE 's/^workloads=\((.*)\)$/\1/p' "$src/scripts/gpu_check.sh" | tr ' ' '\n' | sort | tr '\n' ' ')
check "gpu_check benches every workload of workloads.cpp ($known)" test -n "$known" -a "$known" = "$listed"

# A whole check on a fake pack: GPU tests all skip, benches print figures.
pack=$scratch/pack
mkdir -p "$pack/bin" "$pack/analysis" "$pack/scripts" "$pack/data/fashion-mnist" "$scratch/path"
printf '#!/bin/sh\necho "PASS: final loss within 1.0e-03 relative (2.0e-05)"\n' > "$pack/scripts/gpu_train_check.sh"
printf '#!/bin/sh\necho "PASS: wall time 9 s one run at a time, 3 s packed by 8 (cuda)"\n' > "$pack/scripts/gpu_pack_sweep_check.sh"
echo "packed for the test" > "$pack/MANIFEST"
cp "$scratch/skipped.log" "$pack/tests.log"
cat > "$pack/run.sh" <<'RUN'
#!/usr/bin/env bash
here=$(cd "$(dirname "$0")" && pwd)
case "$1 $2" in
  "elm_cuda_tests "* | "elm_nccl_tests "*) cat "$here/tests.log"; exit 0 ;;
  "elmrun bench")
    if [[ " $* " == *" --pack "* ]]; then
      for k in 1 8 64; do echo "workload=$6 backend=cuda pack=$k batch=8 ms_per_step=2.000 per_model_speedup=$((k / 2 + 1)).00"; done
    else
      echo "workload=$6 backend=cuda batch=8 steps=500 ms_per_step=2.000 timed_steps=2"
    fi ;;
  *) echo "elmrun 0.0 (fake)" ;;
esac
RUN
printf '#!/bin/sh\necho "workload=$5 backend=torch-cuda ms_per_step=9.000"\n' > "$scratch/path/python-fake"
printf '#!/bin/sh\necho "fake GPU"\n' > "$scratch/path/nvidia-smi"
chmod +x "$pack/run.sh" "$pack/scripts/gpu_train_check.sh" "$pack/scripts/gpu_pack_sweep_check.sh" "$scratch/path/"*
PATH="$scratch/path:$PATH" PYTHON=python-fake TIME_BUDGET=60 \
  bash "$src/scripts/gpu_check.sh" "$pack" "$scratch/out/check.log" > "$scratch/run.out" 2>&1
rc=$?
summary=$(cat "$scratch/out/summary.txt" 2>/dev/null)
check "gpu_check fails when the GPU tests skip" test $rc -ne 0
check "... its summary names the skip reason" has "$summary" "FAIL  cuda tests"
check "... and why" has "$summary" "CUDA driver version is insufficient"
check "... the benches still pass with their figures" has "$summary" "ms_per_step=2.000"
check "... cuda and torch side by side" grep -qE '^pathx_dm150 +2\.000 +9\.000 +4\.5x' "$scratch/out/summary.txt"
check "... one summary line per step (3 + tests + 8 + 2 packs + training + pack sweep + nccl + 8)" \
  test "$(grep -cE '^(PASS|FAIL|SKIP) ' "$scratch/out/summary.txt")" -eq 25
check "... the packed GPU sweep among them" grep -q "^PASS  pack sweep gpu vs alone" "$scratch/out/summary.txt"
check "... the pack bench shows the last pack size's speed-up" \
  grep -q "^PASS  bench cuda pack neuronio_dm15 .*per_model_speedup=33.00 at pack=64" "$scratch/out/summary.txt"
check "... and so does the one-stream-per-model pack bench" \
  grep -q "^PASS  bench cuda pack streams neuronio_dm15 .*per_model_speedup=33.00 at pack=64" "$scratch/out/summary.txt"
check "... the GPU training check among them" grep -q "^PASS  train gpu vs cpu" "$scratch/out/summary.txt"
check "... the one-rank NCCL tests among them, read as gtest output" grep -q "^FAIL  nccl one rank .*skipped" "$scratch/out/summary.txt"
check "... the log holds the test output" grep -q "GPU test skipped" "$scratch/out/check.log"
cp "$scratch/passed.log" "$pack/tests.log"
PATH="$scratch/path:$PATH" PYTHON=python-fake TIME_BUDGET=60 \
  bash "$src/scripts/gpu_check.sh" "$pack" "$scratch/out/check.log" > "$scratch/run.out" 2>&1
check "gpu_check passes when nothing skips or fails" test $? -eq 0
PATH="$scratch/path:$PATH" PYTHON=python-fake TIME_BUDGET=0 \
  bash "$src/scripts/gpu_check.sh" "$pack" "$scratch/out/check.log" > "$scratch/run.out" 2>&1
check "steps beyond the time budget are not run, and the check fails" test $? -ne 0
check "... saying so" grep -q "^SKIP  device .*not run: .*of the 0s budget" "$scratch/out/summary.txt"

if [[ $fails -gt 0 ]]; then
  echo "--- last gpu_check output:"
  cat "$scratch/run.out"
  echo "$fails check(s) failed"
  exit 1
fi
echo "all checks passed"
