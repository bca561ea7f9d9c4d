#!/usr/bin/env bash
# The same short training run on the CPU and on the GPU, compared: configs/
# sfmnist_pool2.ini for STEPS steps (default 200) on a Fashion-MNIST store
# prepared from the raw files, both runs on one rank. Passes when the GPU run's
# final training loss (the mean of the last log window) is within REL_TOL
# (default 1e-3) of the CPU run's; prints both loss series side by side.
#
# usage: scripts/gpu_train_check.sh FMNIST_RAW_DIR WORK_DIR STEPS ELMRUN...
#   ELMRUN...: the command that runs elmrun (build/elmrun, or PACK/run.sh elmrun)
# Environment: REL_TOL (1e-3), GPU_BACKEND (cuda; cpu compares the CPU with itself, a dry check).
# Exit 0 pass, 1 fail, 77 no GPU to run on (ctest's skip).
set -euo pipefail
if [[ $# -lt 4 ]]; then
  echo "usage: $0 FMNIST_RAW_DIR WORK_DIR STEPS ELMRUN..." >&2
  exit 2
fi
raw=$1 work=$2 steps=$3
shift 3
elmrun=("$@")
tol=${REL_TOL:-1e-3}
gpu=${GPU_BACKEND:-cuda}
here=$(cd "$(dirname "$0")" && pwd)
config=${CONFIG:-$here/../configs/sfmnist_pool2.ini}
mkdir -p "$work"
store=$work/fmnist
[[ -f "$store/test.h5" ]] || "${elmrun[@]}" prep fmnist --in "$raw" --out "$store" > "$work/prep.log"
common=(--config "$config" --set "task.store=$store" --set "train.steps=$steps" --set train.eval_every=100000
        --set train.log_every=25 --set train.valid_samples=512 --set train.test_samples=512 --set train.threads=2)
rm -rf "$work/cpu" "$work/gpu"
# The GPU run first: where none can run (ctest on a machine without one) the
# check is skipped (exit 77) before the CPU run costs anything.
if ! "${elmrun[@]}" train "${common[@]}" --set "train.backend=$gpu" --out "$work/gpu" > "$work/gpu.log" 2> "$work/gpu.err"; then
  cat "$work/gpu.err" >&2
  if grep -qE 'train.backend = cuda: (no usable CUDA device|this elmrun was built without)' "$work/gpu.err"; then
    echo "SKIP: no GPU for the GPU run"
    exit 77
  fi
  echo "FAIL: the GPU run failed"
  exit 1
fi
"${elmrun[@]}" train "${common[@]}" --set train.backend=cpu --out "$work/cpu" > "$work/cpu.log"
series() { sed -n 's/^step *\([0-9]*\)\/[0-9]*  loss \([0-9.eE+-]*\).*/\1 \2/p' "$1"; }
paste <(series "$work/cpu.log") <(series "$work/gpu.log") | awk -v tol="$tol" -v gpu="$gpu" '
  BEGIN { printf "%6s %10s %10s %10s\n", "step", "cpu", gpu, "rel_diff" }
  { d = ($2 - $4) / ($2 == 0 ? 1 : $2); if (d < 0) d = -d
    printf "%6d %10.4f %10.4f %10.2e\n", $1, $2, $4, d; last = d; n++ }
  END {
    if (n == 0) { print "FAIL: no loss lines in the logs"; exit 1 }
    if (last <= tol) { printf "PASS: final loss within %.1e relative (%.2e)\n", tol, last; exit 0 }
    printf "FAIL: final loss differs by %.2e relative (> %.1e)\n", last, tol; exit 1 }'
grep -h '^run:' "$work/cpu.log" "$work/gpu.log"
