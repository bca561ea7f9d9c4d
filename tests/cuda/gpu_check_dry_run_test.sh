#!/usr/bin/env bash
# scripts/gpu_pack.sh on this build and scripts/gpu_check.sh --dry-run on the
# pack, as a directory and as the --tar archive: the pack holds every file and
# library gpu_check needs (the GPU machine has no HDF5, Boost or MPI), its
# archive stays under the 60 MiB a transfer carries, and the dry run lists
# every step. A pack
# missing a binary or a library must fail the dry run, naming it.
# Needs ELM_BUILD_DIR with elmrun and tests/elm_cuda_tests (exit 77 otherwise).
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${ELM_BUILD_DIR:-$src/build}
if [[ ! -x "$build/elmrun" || ! -x "$build/tests/elm_cuda_tests" ]]; then
  echo "skip: no elmrun and elm_cuda_tests in $build"
  exit 77
fi
scratch=$(mktemp -d /tmp/elm-gpu-dry-run.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fails=0
check() {
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

bash "$src/scripts/gpu_pack.sh" --tar "$build" "$scratch/pack" > "$scratch/pack.out" 2>&1
check "gpu_pack packs this build" test $? -eq 0
cat "$scratch/pack.out"
check "... its archive, which travels, under 60 MiB" test "$(du -sk "$scratch/pack.tar.gz" | cut -f1)" -lt $((60 * 1024))
bash "$src/scripts/gpu_check.sh" --dry-run "$scratch/pack" "$scratch/out/check.log" > "$scratch/dry.out" 2>&1
check "the dry run passes" test $? -eq 0
check "... the pack check passed" grep -q '^PASS  pack ' "$scratch/out/summary.txt"
check "... it plans the GPU tests" grep -q '^PLAN  cuda tests .*elm_cuda_tests' "$scratch/out/summary.txt"
workload_count=$(sed -nE 's/^workloads=\((.*)\)$/\1/p' "$src/scripts/gpu_check.sh" | wc -w)
check "... a cuda and a torch bench per workload (2 x $workload_count), and the two pack benches" \
  test "$(grep -c '^PLAN  bench ' "$scratch/out/summary.txt")" -eq $((2 * workload_count + 2))
check "... the pack bench times 1, 8 and 64 models" \
  grep -q '^PLAN  bench cuda pack neuronio_dm15 .*--pack 1 8 64' "$scratch/out/summary.txt"
check "... and so does the one-stream-per-model pack bench" \
  grep -q '^PLAN  bench cuda pack streams neuronio_dm15 .*--pack 1 8 64 --pack-mode streams' "$scratch/out/summary.txt"
check "... and reports the time budget" grep -q '^INFO  time .*budget' "$scratch/out/summary.txt"
mkdir -p "$scratch/tmp"
(cd "$scratch" && TMPDIR=$scratch/tmp bash "$src/scripts/gpu_check.sh" --dry-run "$scratch/pack.tar.gz" > "$scratch/dry_tar.out" 2>&1)
check "the dry run takes the --tar archive" test $? -eq 0
check "... writes its summary in the current directory" grep -q '^PASS  pack ' "$scratch/summary.txt"
check "... and leaves nothing unpacked" test -z "$(ls -A "$scratch/tmp")"

cp -r "$scratch/pack" "$scratch/nolib"
rm "$scratch/nolib/lib/"libhdf5*
bash "$src/scripts/gpu_check.sh" --dry-run "$scratch/nolib" "$scratch/nolib_out/check.log" > "$scratch/nolib.out" 2>&1
check "a pack without HDF5 fails the dry run" test $? -ne 0
check "... naming the library" grep -q "libhdf5.* \(comes from .*outside the pack\|not found\)" "$scratch/nolib_out/check.log"
cp -r "$scratch/pack" "$scratch/nobin"
rm "$scratch/nobin/bin/elm_cuda_tests"
bash "$src/scripts/gpu_check.sh" --dry-run "$scratch/nobin" "$scratch/nobin_out/check.log" > "$scratch/nobin.out" 2>&1
check "a pack without elm_cuda_tests fails the dry run" test $? -ne 0
check "... naming it" grep -q "^FAIL  cuda tests .*missing: .*bin/elm_cuda_tests" "$scratch/nobin_out/summary.txt"

if [[ $fails -gt 0 ]]; then
  cat "$scratch/dry.out" "$scratch/nolib.out" "$scratch/nobin.out"
  echo "$fails check(s) failed"
  exit 1
fi
echo "all checks passed"
