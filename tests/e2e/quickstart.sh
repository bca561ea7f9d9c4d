#!/usr/bin/env bash
# The README's main job, shortened: scripts/quickstart.sh on Debian's
# Fashion-MNIST produces one summary row per grid point (3 memory sizes x 2
# timescales), all done, and the report.
source "$(dirname "$0")/lib.sh"
[ -d /usr/share/datasets/fashion-mnist ] || { echo "SKIP: dataset-fashion-mnist not installed"; exit 77; }
export QUICKSTART_OUT="$scratch/quickstart" ELM_DATA_DIR="$scratch/data"
bash "$ELM_SOURCE_DIR/scripts/quickstart.sh" --set train.steps=30 --set train.valid_samples=200 \
  --set train.test_samples=300 > "$scratch/log" 2>&1 || { tail -20 "$scratch/log"; fail "quickstart failed"; }
csv="$QUICKSTART_OUT/summary.csv"
[ "$(tail -n +2 "$csv" | wc -l)" -eq 6 ] || fail "expected 6 rows in $csv"
[ "$(done_rows "$csv")" -eq 6 ] || fail "not every grid point is done: $(cat "$csv")"
for m in 8 16 32; do for t in 20 200; do
  grep -q ",done,$m,$t," "$csv" || fail "no row for num_memory=$m memory_tau_max=$t"
done; done
grep -q "test_accuracy" "$scratch/log" || fail "no summary table printed"
[ -s "$QUICKSTART_OUT/report/report.html" ] || fail "no report written"
echo "quickstart: 6 rows, report written"
