#!/usr/bin/env bash
# The GPU checks of the CUDA backend, on a GPU machine, in under 8 minutes on one
# H100/H200 (unpacking included):
#   1. nvidia-smi, the packed build's manifest, elmrun --version
#   2. elm_cuda_tests: the golden model cases on the GPU, GPU against CPU on random
#      configurations and on the bench workloads' own shapes. A skipped test fails
#      the check (a driver too old for the CUDA runtime skips every GPU test).
#   3. elmrun bench --backend cuda on every bench workload, and 1, 8 and 64
#      neuronio_dm15 models trained as one pack against one: the sweep's pack
#      (recurrences in one launch with a model index), then one stream per model
#   4. training on the GPU against the CPU (scripts/gpu_train_check.sh), a sweep
#      packed on the GPU against it one run at a time (scripts/gpu_pack_sweep_check.sh), and
#      elm_nccl_tests: NCCL on one rank without mpirun
#   5. the PyTorch port (analysis/bench_torch_reference.py --device cuda) on the same
#      workloads, as the peer
# Output: LOG (every command's output) and summary.txt beside it: one line per step
# (PASS/FAIL/SKIP, seconds, key figures), then cuda and torch ms_per_step side by side.
#
# usage: scripts/gpu_check.sh [--dry-run] PACK [LOG]   PACK: a directory from scripts/gpu_pack.sh
#        (LOG default PACK/gpu_check.log) or a .tar/.tar.gz of one (gpu_pack.sh --tar; unpacked
#        into a temporary directory for the run; LOG default ./gpu_check.log)
#        scripts/gpu_check.sh --pack BUILD_DIR PACK_DIR   (pack only, on the build machine)
# --dry-run (or DRY_RUN=1): unpack, check the pack (check_pack: files present, sizes,
# shared libraries) and print the steps with their time limits; runs nothing on a GPU.
# Environment: PYTHON (default python3) for the torch peer; SKIP_TORCH=1 skips it;
# BENCH_SECONDS (default 1) per workload; TIME_BUDGET (default 450) seconds for the
# whole check: a step gets at most its own limit and what is left of the budget, and
# steps that no longer fit are reported as not run (the check then fails).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/gpu_check_lib.sh"
if [[ "${1:-}" == "--pack" ]]; then
  shift
  exec "$here/gpu_pack.sh" "$@"
fi
dry=${DRY_RUN:-0}
if [[ "${1:-}" == "--dry-run" ]]; then dry=1; shift; fi
if [[ $# -lt 1 ]]; then
  echo "usage: $0 [--dry-run] PACK [LOG] | $0 --pack BUILD_DIR PACK_DIR" >&2
  exit 2
fi
budget=${TIME_BUDGET:-450}
python=${PYTHON:-python3}
secs=${BENCH_SECONDS:-1}
# Every workload of src/bench/workloads.cpp (tests/cuda/gpu_check_lib_test.sh keeps the two in step).
workloads=(neuronio_dm15 neuronio_dm100 shd_dm100 shdadd_dm100 listops_dm100 sfmnist_dm64 pathfinder_dm150 pathx_dm150)

steps_dir=$(mktemp -d "${TMPDIR:-/tmp}/elm-gpu-steps.XXXXXX")  # each step's output; an archive's unpacked pack
trap 'rm -rf "$steps_dir"' EXIT
if [[ -f "$1" ]]; then  # an archive: unpacked for this run only (its time counts against the budget)
  tar -xf "$1" -C "$steps_dir" || { echo "gpu_check: cannot unpack $1" >&2; exit 1; }
  top=$(find "$steps_dir" -mindepth 1 -maxdepth 2 -name run.sh -printf '%h\n' | head -1)
  [[ -n "$top" ]] || { echo "gpu_check: $1 holds no run.sh (not a gpu_pack.sh pack)" >&2; exit 1; }
  pack=$(cd "$top" && pwd)
  default_log=$PWD/gpu_check.log
else
  pack=$(cd "$1" && pwd) || exit 1
  default_log=$pack/gpu_check.log
fi
log=${2:-$default_log}
summary=$(dirname "$log")/summary.txt
mkdir -p "$(dirname "$log")"
: > "$log"
: > "$summary"
status=0
n_step=0
limits_sum=0  # dry run: the steps' own limits added up

say() { echo "$*" | tee -a "$log"; }
note() { printf '%-5s %-28s %s\n' "$1" "$2" "$3" | tee -a "$summary" >> "$log"; }

# run_step KIND TITLE LIMIT_S COMMAND...: one step of the check, output to the log
# and the terminal, one line to the summary. KIND says how the output is read:
#   cmd   exit status 0 passes
#   gtest gtest_verdict: a failed or a skipped test fails
#   bench exit 0 and a ms_per_step= figure (shown in the summary)
#   pack  exit 0 and a per_model_speedup= figure (the last K's, shown in the summary)
run_step() {
  local kind=$1 title=$2 limit=$3
  shift 3
  n_step=$((n_step + 1))
  local left=$((budget - SECONDS))
  if [[ $dry -eq 1 ]]; then
    local arg missing=""
    for arg in "$@"; do  # every path into the pack must be there
      if [[ "$arg" == "$pack/"* && ! -e "$arg" ]]; then missing+=" $arg"; fi
    done
    if [[ "$1" == "$pack/run.sh" && ! -x "$pack/bin/$2" ]]; then missing+=" $pack/bin/$2"; fi
    if [[ -n "$missing" ]]; then
      note FAIL "$title" "missing:$missing"
      status=1
    else
      note PLAN "$title" "[${limit}s] $*"
    fi
    limits_sum=$((limits_sum + limit))
    return
  fi
  if [[ $left -lt 10 ]]; then
    note SKIP "$title" "not run: ${left}s left of the ${budget}s budget"
    status=1
    return
  fi
  [[ $limit -gt $left ]] && limit=$left
  local out="$steps_dir/$n_step.out" t0=$SECONDS rc verdict
  say "=== $title [limit ${limit}s]: $* ($(date -u +%H:%M:%S))"
  timeout -k 5 "$limit" "$@" 2>&1 | tee "$out" >> "$log"
  rc=${PIPESTATUS[0]}
  case $kind in
    gtest) verdict=$(gtest_verdict "$out" "$rc") ;;
    bench)
      local ms
      ms=$(bench_figure "$out" ms_per_step)
      if [[ $rc -eq 0 && -n "$ms" ]]; then verdict="PASS: ms_per_step=$ms"; else verdict="FAIL: exit $rc${ms:+, ms_per_step=$ms}"; fi
      ;;
    pack)
      local last speedup k
      last=$(grep 'per_model_speedup=' "$out" | tail -n 1)
      speedup=$(bench_figure <(echo "$last") per_model_speedup)
      k=$(bench_figure <(echo "$last") pack)
      if [[ $rc -eq 0 && -n "$speedup" ]]; then verdict="PASS: per_model_speedup=$speedup at pack=$k"; else verdict="FAIL: exit $rc"; fi
      ;;
    *) if [[ $rc -eq 0 ]]; then verdict="PASS: exit 0"; else verdict="FAIL: exit $rc"; fi ;;
  esac
  [[ $rc -eq 124 || $rc -eq 137 ]] && verdict="FAIL: killed at the step's limit of ${limit}s"
  if [[ "$verdict" == FAIL* && $kind != gtest ]]; then  # the error is usually the last line
    verdict+=": $(grep -v '^[[:space:]]*$' "$out" | tail -n 1 | cut -c1-160)"
  fi
  [[ "$verdict" == FAIL* ]] && tail -n 5 "$out"
  say "=== $title: exit $rc, $((SECONDS - t0))s: $verdict"
  note "${verdict%%:*}" "$title" "$((SECONDS - t0))s ${verdict#*: }"
  [[ "$verdict" == PASS* ]] || status=1
}

# The steps, in order of importance (a short budget cuts the last ones). One line
# per step: run_step KIND TITLE LIMIT_S COMMAND...
steps() {
  run_step cmd "device" 30 nvidia-smi
  run_step cmd "manifest" 5 cat "$pack/MANIFEST"
  run_step cmd "version" 30 "$pack/run.sh" elmrun --version  # the CPU level and CUDA architectures
  # CudaNoDevice.* checks the no-GPU path and skips where a GPU is present.
  run_step gtest "cuda tests" 210 "$pack/run.sh" elm_cuda_tests --gtest_color=no '--gtest_filter=-CudaNoDevice.*'
  local w
  for w in "${workloads[@]}"; do
    run_step bench "bench cuda $w" 45 "$pack/run.sh" elmrun bench --backend cuda --workload "$w" \
      --min-seconds "$secs" --min-steps 2
  done
  run_step pack "bench cuda pack neuronio_dm15" 60 "$pack/run.sh" elmrun bench --backend cuda \
    --workload neuronio_dm15 --pack 1 8 64 --min-seconds "$secs" --min-steps 2
  run_step pack "bench cuda pack streams neuronio_dm15" 60 "$pack/run.sh" elmrun bench --backend cuda \
    --workload neuronio_dm15 --pack 1 8 64 --pack-mode streams --min-seconds "$secs" --min-steps 2
  # --- further GPU steps go here, one line each, e.g.:
  run_step cmd "train gpu vs cpu" 120 "$pack/scripts/gpu_train_check.sh" "$pack/data/fashion-mnist" \
    "$steps_dir/train_check" 200 "$pack/run.sh" elmrun
  run_step cmd "pack sweep gpu vs alone" 90 "$pack/scripts/gpu_pack_sweep_check.sh" "$steps_dir/pack_sweep" \
    "$pack/run.sh" elmrun
  # NCCL on one GPU without mpirun: the DeviceComm of a single rank and a backend using it.
  run_step gtest "nccl one rank" 60 "$pack/run.sh" elm_nccl_tests --gtest_color=no
  # ---
  if [[ "${SKIP_TORCH:-0}" == 1 ]]; then
    note SKIP "bench torch" "SKIP_TORCH=1"
    return
  fi
  for w in "${workloads[@]}"; do  # Path-X: a Python loop over 16384 steps, forward and backward
    run_step bench "bench torch $w" "$([[ $w == pathx_dm150 ]] && echo 120 || echo 60)" "$python" "$pack/analysis/bench_torch_reference.py" --device cuda \
      --workload "$w" --min-seconds "$secs" --min-steps 1
  done
}

# cuda and torch ms_per_step of each workload side by side, from the summary.
side_by_side() {
  local w c t
  printf '%-18s %14s %14s %8s\n' workload cuda_ms/step torch_ms/step speedup
  for w in "${workloads[@]}"; do
    c=$(sed -nE "s/^PASS +bench cuda $w .*ms_per_step=([0-9.]+).*/\1/p" "$summary")
    t=$(sed -nE "s/^PASS +bench torch $w .*ms_per_step=([0-9.]+).*/\1/p" "$summary")
    printf '%-18s %14s %14s %8s\n' "$w" "${c:--}" "${t:--}" \
      "$([[ -n "$c" && -n "$t" ]] && awk -v c="$c" -v t="$t" 'BEGIN { if (c > 0) printf "%.1fx", t / c }')"
  done
}

if [[ $dry -eq 1 ]]; then
  say "=== gpu_check dry run: pack $pack"
  # The archive is what travels (gpu_pack.sh): its size has a limit, the directory's not.
  if [[ -f "$1" ]]; then
    problems=$(check_archive_size "$1"; check_pack "$pack" 0)
  else
    problems=$(check_pack "$pack" 0)
  fi
  if [[ -z "$problems" ]]; then
    note PASS "pack" "$(du -sh "$pack" | cut -f1)$([[ -f "$1" ]] && echo " ($(du -sh "$1" | cut -f1) archived)"), every file and library present"
  else
    note FAIL "pack" "$(echo "$problems" | head -3 | tr '\n' ';')"
    echo "$problems" >> "$log"
    status=1
  fi
fi
note INFO "pack" "$pack ($(head -1 "$pack/MANIFEST" 2>/dev/null))"
steps
if [[ $dry -eq 1 ]]; then
  note INFO "time" "step limits add up to ${limits_sum}s; the budget (TIME_BUDGET) is ${budget}s"
else
  side_by_side | tee -a "$summary" >> "$log"
fi
verdict=$([[ $status -eq 0 ]] && echo PASS || echo FAIL)
[[ $dry -eq 1 ]] && verdict="dry run $verdict"
echo "=== gpu_check: $verdict in ${SECONDS}s (log: $log, summary: $summary)" | tee -a "$summary" >> "$log"
cat "$summary"
exit $status
