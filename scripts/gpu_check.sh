#!/usr/bin/env bash
# The GPU checks of the CUDA backend, on a GPU machine, all output to one log:
#   1. nvidia-smi, the packed build's manifest, elmrun --version
#   2. elm_cuda_tests: every golden model case on the GPU, GPU against CPU on random
#      configurations (both variants, routings, input kinds, learned tau, segments)
#   3. elmrun bench --backend cuda on neuronio_dm15, pathfinder_dm150, pathx_dm150
#   4. the PyTorch port (analysis/bench_torch_reference.py --device cuda) on the same
#      workloads, as the peer
#
# usage: scripts/gpu_check.sh PACK_DIR [LOG]           (PACK_DIR from scripts/gpu_pack.sh)
#        scripts/gpu_check.sh --pack BUILD_DIR PACK_DIR (pack only, on the build machine)
# Environment: PYTHON (default python3) for the torch peer; SKIP_TORCH=1 skips it;
# BENCH_SECONDS (default 3) per workload; STEP_TIMEOUT (default 900) seconds per command.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ "${1:-}" == "--pack" ]]; then
  shift
  exec "$here/gpu_pack.sh" "$@"
fi
if [[ $# -lt 1 ]]; then
  echo "usage: $0 PACK_DIR [LOG] | $0 --pack BUILD_DIR PACK_DIR" >&2
  exit 2
fi
pack=$(cd "$1" && pwd)
log=${2:-$pack/gpu_check.log}
python=${PYTHON:-python3}
secs=${BENCH_SECONDS:-3}
tmo=${STEP_TIMEOUT:-900}
workloads=(neuronio_dm15 pathfinder_dm150 pathx_dm150)
: > "$log"
status=0

step() {  # step TITLE COMMAND...: run with a timeout, output to the log and the terminal
  local title=$1
  shift
  echo "=== $title: $* ($(date -u +%H:%M:%S))" | tee -a "$log"
  timeout "$tmo" "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  echo "=== $title: exit $rc" | tee -a "$log"
  [[ $rc -eq 0 ]] || status=1
}

step "device" nvidia-smi
step "manifest" cat "$pack/MANIFEST"
step "version" "$pack/run.sh" elmrun --version   # the CPU level and CUDA architectures of this binary
step "cuda tests" "$pack/run.sh" elm_cuda_tests --gtest_color=no
for w in "${workloads[@]}"; do
  step "bench cuda $w" "$pack/run.sh" elmrun bench --backend cuda --workload "$w" --min-seconds "$secs" --min-steps 2
done
if [[ "${SKIP_TORCH:-0}" != 1 ]]; then
  for w in "${workloads[@]}"; do
    step "bench torch $w" "$python" "$pack/analysis/bench_torch_reference.py" --device cuda --workload "$w" \
      --min-seconds "$secs" --min-steps 1
  done
fi
echo "=== gpu_check: $([[ $status -eq 0 ]] && echo PASS || echo FAIL) (log: $log)" | tee -a "$log"
exit $status
