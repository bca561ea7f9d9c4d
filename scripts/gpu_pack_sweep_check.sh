#!/usr/bin/env bash
# A sweep trained packed on the GPU against the same sweep trained one run at a
# time: 8 runs (4 seeds x 2 learning rates) of configs/synthetic_burst.ini,
# `--pack 1` and `--pack 8` (one stream per run, docs/sweeps.md "Packed runs"). Passes when every run is done both ways and its validation
# and test losses agree within REL_TOL (default 1e-3) relative and its
# accuracies within 2 samples: the runs' kernels are those of a run alone,
# whose float sums (atomics) already vary in order from one run to the next.
# Prints the wall time of both sweeps.
#
# usage: scripts/gpu_pack_sweep_check.sh WORK_DIR ELMRUN...
#   ELMRUN...: the command that runs elmrun (build/elmrun, or PACK/run.sh elmrun)
# Environment: REL_TOL (1e-3); GPU_BACKEND (cuda; cpu checks the CPU packs,
# which must then agree bit for bit, REL_TOL 0); CONFIG (the base config).
# Exit 0 pass, 1 fail, 77 no GPU to run on (ctest's skip).
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 WORK_DIR ELMRUN..." >&2
  exit 2
fi
work=$1
shift
elmrun=("$@")
gpu=${GPU_BACKEND:-cuda}
tol=${REL_TOL:-$([[ $gpu == cpu ]] && echo 0 || echo 1e-3)}
rm -rf "$work"
mkdir -p "$work"
here=$(cd "$(dirname "$0")" && pwd)
config=${CONFIG:-$here/../configs/synthetic_burst.ini}
[[ -f "$config" ]] || { echo "FAIL: no config $config" >&2; exit 1; }
cat > "$work/job.ini" <<EOF
[sweep]
name = gpu_pack
config = $config
[set]
train.backend = $gpu
train.steps = 120
train.eval_every = 60
[grid]
train.seed = 1,2,3,4
optim.lr = 0.005,0.002
EOF
sweep() {  # sweep NAME PACK: wall seconds on stdout
  local t0=$SECONDS
  if ! "${elmrun[@]}" sweep "$work/job.ini" --out "$work/$1" --pack "$2" --progress-every 0 > "$work/$1.log" 2>&1; then
    tail -n 5 "$work/$1.log" >&2
    if grep -qE 'train.backend = cuda: (no usable CUDA device|this elmrun was built without)' "$work/$1.log"; then
      echo "SKIP: no GPU for the sweep" >&2
      exit 77
    fi
    echo "FAIL: the sweep with --pack $2 failed" >&2
    exit 1
  fi
  echo $((SECONDS - t0))
}
t_alone=$(sweep alone 1)
t_packed=$(sweep packed 8)
grep -q "8 to run in 1 pack(s) of up to 8" "$work/packed.log" ||
  { echo "FAIL: the runs did not pack: $(grep -m1 '^sweep' "$work/packed.log")"; exit 1; }
python3 - "$work/alone/summary.csv" "$work/packed/summary.csv" "$tol" <<'PY'
import csv, sys
alone, packed, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = lambda p: {r["run_id"]: r for r in csv.DictReader(open(p))}
a, b = rows(alone), rows(packed)
bad = []
if sorted(a) != sorted(b) or len(a) != 8:
    bad.append(f"runs differ: {sorted(a)} vs {sorted(b)}")
worst = 0.0
for rid in sorted(set(a) & set(b)):
    ra, rb = a[rid], b[rid]
    if ra["status"] != "done" or rb["status"] != "done":
        bad.append(f"{rid}: {ra['status']} alone, {rb['status']} packed")
        continue
    for key in ("valid_loss", "test_loss"):
        x, y = float(ra[key]), float(rb[key])
        rel = abs(x - y) / max(abs(x), 1e-30)
        worst = max(worst, rel)
        if rel > tol:
            bad.append(f"{rid}: {key} {x} alone, {y} packed (relative {rel:.2e} > {tol})")
    for key, n in (("valid_accuracy", "valid_samples"), ("test_accuracy", "test_samples")):
        if abs(float(ra[key]) - float(rb[key])) * float(ra[n]) > (0 if tol == 0 else 2) + 1e-9:
            bad.append(f"{rid}: {key} {ra[key]} alone, {rb[key]} packed")
for line in bad:
    print("FAIL: " + line)
if bad:
    sys.exit(1)
print(f"8 runs: losses within {worst:.2e} relative (tolerance {tol}), accuracies agree")
PY
echo "PASS: wall time $t_alone s one run at a time, $t_packed s packed by 8 ($gpu)"
