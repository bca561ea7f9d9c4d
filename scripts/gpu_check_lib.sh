# Sourced by scripts/gpu_check.sh (and its host-side test): reading a step's
# output into a verdict, and checking that a pack holds what the GPU machine
# needs. Plain functions, no side effects beyond stdout.

# The names of the gtest tests that were skipped, one a line. gtest prints a
# skipped test twice (when it ends, "(N ms)", and in the closing list), plus a
# "[  SKIPPED ] N tests, listed below:" line, which is not a name.
gtest_skipped_tests() {
  sed -nE 's/^\[  SKIPPED \] ([A-Za-z_][A-Za-z0-9_/.]*)( .*)?$/\1/p' "$1" | sort -u
}

# Why they were skipped: the line after each "FILE:LINE: Skipped", counted,
# most frequent first ("3x GPU test skipped: CUDA driver version is insufficient ...").
gtest_skip_reasons() {
  awk 'prev ~ /: Skipped$/ && $0 != "" { n[$0]++ } { prev = $0 } END { for (r in n) print n[r] "x " r }' "$1" |
    sort -rn
}

gtest_failed_tests() {
  sed -nE 's/^\[  FAILED  \] ([A-Za-z_][A-Za-z0-9_/.]*)( .*)?$/\1/p' "$1" | sort -u
}

# One line for a gtest run (OUTPUT file, exit status RC): "PASS: 41 tests" or
# "FAIL: ..." naming the failed tests or the skip reason. A skipped test fails
# the check: on a GPU machine a skip means the GPU was not used (a driver too
# old for the CUDA runtime makes every GPU test skip, and the run exits 0).
# Returns 0 on PASS.
gtest_verdict() {
  local out=$1 rc=$2 ran skipped failed
  ran=$(sed -nE 's/^\[==========\] ([0-9]+) tests? from .* ran\..*/\1/p' "$out" | tail -1)
  skipped=$(gtest_skipped_tests "$out" | wc -l)
  failed=$(gtest_failed_tests "$out" | tr '\n' ' ')
  if [[ -z "$ran" ]]; then
    echo "FAIL: exit $rc, no gtest summary (crashed or killed?)"
    return 1
  fi
  if [[ $rc -ne 0 || -n "$failed" ]]; then
    echo "FAIL: exit $rc; $ran tests ran; failed: ${failed:-none listed}"
    return 1
  fi
  if [[ $skipped -gt 0 ]]; then
    echo "FAIL: $skipped of $ran tests skipped: $(gtest_skip_reasons "$out" | head -1)"
    return 1
  fi
  echo "PASS: $ran tests"
}

# The first "KEY=VALUE" figure of a bench line in OUTPUT ("" when absent).
bench_figure() {
  grep -oE "(^| )$2=[^ ]+" "$1" | head -1 | sed -E "s/^ ?$2=//"
}

# Checks a pack (scripts/gpu_pack.sh) before it is shipped or used: the files
# gpu_check needs are present; no file and not the whole pack reach LIMIT_MIB
# (default 60: what one transfer to the GPU machine carries; 0: no limit, for
# a pack that travels as its archive, see check_archive_size); every shared
# library the binaries need resolves inside the pack, except glibc's own, the
# GPU driver and the CUDA toolkit's (the GPU machine provides those; it has no
# HDF5, Boost or MPI). Prints one line per problem; returns 1 if there is one.
# A pack's archive (gpu_pack.sh --tar) is what travels: it, not the unpacked
# directory, must stay under LIMIT_MIB (default 60). One line and 1 if not.
check_archive_size() {
  local archive=$1 limit_mib=${2:-60} kib
  kib=$(($(stat -c %s "$archive") / 1024))
  if [[ $kib -ge $((limit_mib * 1024)) ]]; then
    echo "too large: the archive $archive, $((kib / 1024)) MiB (limit $limit_mib MiB)"
    return 1
  fi
}

check_pack() {
  local pack=$1 limit_mib=${2:-60} problems=0 f total_kib
  local cuda=${CUDA_HOME:-/usr/local/cuda}
  for f in run.sh MANIFEST bin/elmrun bin/elm_cuda_tests analysis/elm_torch.py analysis/bench_torch_reference.py \
    scripts/gpu_train_check.sh scripts/gpu_pack_sweep_check.sh configs/synthetic_burst.ini; do
    [[ -s "$pack/$f" ]] || { echo "missing: $pack/$f"; problems=$((problems + 1)); }
  done
  compgen -G "$pack/golden/*.h5" > /dev/null || { echo "missing: $pack/golden/*.h5 (the golden GPU tests)"; problems=$((problems + 1)); }
  [[ $limit_mib -gt 0 ]] && while read -r kib f; do
    echo "too large: $f ($((kib / 1024)) MiB, limit $limit_mib MiB)"
    problems=$((problems + 1))
  done < <(find "$pack" -type f -size +"$((limit_mib * 1024))"k -printf '%k %p\n')
  total_kib=$(du -sk "$pack" | cut -f1)
  if [[ $limit_mib -gt 0 && $total_kib -ge $((limit_mib * 1024)) ]]; then
    echo "too large: the pack, $((total_kib / 1024)) MiB (limit $limit_mib MiB)"
    problems=$((problems + 1))
  fi
  local provided='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libresolv|libutil\.so|libcuda\.so|libnvidia-|libcudart|libcublas|libcublasLt|libnccl|libnvJitLink)'
  local b name path
  for b in "$pack"/bin/*; do
    while read -r name path; do
      [[ "$name" =~ $provided ]] && continue
      if [[ "$path" == "not" ]]; then
        echo "$(basename "$b"): $name not found"
        problems=$((problems + 1))
      elif [[ "$path" != "$pack/lib/"* ]]; then
        echo "$(basename "$b"): $name comes from $path, outside the pack"
        problems=$((problems + 1))
      fi
    done < <(LD_LIBRARY_PATH="$pack/lib:$cuda/lib64:$cuda/lib" ldd "$b" | awk '/=>/ {print $1, $3}')
  done
  [[ $problems -eq 0 ]]
}
