#!/usr/bin/env bash
# A sweep larger than MaxArraySize on a real Slurm (the suite's box, at
# Slurm's default MaxArraySize 1001): 3,000 tiny runs. A dry run reads the
# box's limits and picks 3 runs per task (1000 tasks); the submission asks
# for 256 runs per task (12 tasks, the last with 184 runs), which keeps the
# test short. Every run ends DONE, trained exactly once, and the summary job,
# started after the whole array, lists all 3,000.
source "$(dirname "$0")/lib.sh"
runs=3000
[ "$(scontrol show config | sed -n 's/^MaxArraySize *= *//p')" = 1001 ] ||
  fail "the box does not run at Slurm's default MaxArraySize 1001: $(scontrol show config | grep MaxArraySize)"
# Runs of a few milliseconds each: a tiny model, 2 steps, 8 test samples.
cat > "$scratch/base.ini" <<EOT
[model]
variant = v1
num_input = 8
num_output = 2
num_memory = 2
memory_tau_max = 20
[task]
name = synthetic_burst
classes = 2
channels_per_class = 4
steps = 10
burst_steps = 2
train_samples = 16
valid_samples = 8
test_samples = 8
[train]
steps = 2
batch_size = 2
threads = 1
log_every = 10
eval_every = 100000
[optim]
lr = 0.005
EOT
printf '[sweep]\nname = many\nconfig = base.ini\n[grid]\ntrain.seed = %s\n' "$(seq -s, 1 $runs)" > "$scratch/job.ini"
out="$scratch/sweep"

"${SUBMIT[@]}" "$scratch/job.ini" --out "$out" --mode array --dry-run > "$scratch/dry.out" 2>&1 ||
  fail "dry run: $(cat "$scratch/dry.out")"
grep -qx "submit.py: limits: MaxArraySize=1001, MaxJobCount=10000 (scontrol show config); no MaxSubmitJobs (AccountingStorageType=accounting_storage/none)" \
  "$scratch/dry.out" || fail "limits read from the box: $(cat "$scratch/dry.out")"
grep -q "^submit.py: 3 run(s) per array task, the fewest that keep the array within 1001 tasks (MaxArraySize=1001); " \
  "$scratch/dry.out" || fail "dry run: $(cat "$scratch/dry.out")"
grep -q "$runs of $runs run(s), 1000 array task(s) (--array=0-999)" "$scratch/dry.out" || fail "dry run: $(cat "$scratch/dry.out")"

submit "$scratch/job.ini" --out "$out" --mode array --runs-per-task 256
grep -q "$runs of $runs run(s), 12 array task(s) (--array=0-11)" "$scratch/submit.out" || fail "submission: $(cat "$scratch/submit.out")"
array=${submitted[0]} summary=${submitted[1]:-}
[ -n "$summary" ] || fail "no summary job submitted"
wait_jobs 240 "$array" "$summary"

states=$(job_states "$array" | sort | uniq -c | tr -s ' ')
[ "$states" = " 12 COMPLETED" ] || fail "array task states: $states"
[ "$(job_states "$summary")" = COMPLETED ] || fail "summary job: $(job_states "$summary")"
for t in $(seq 0 11); do
  grep -q "task $t: pack indices $(seq -s ' ' $((t * 256)) $((t < 11 ? t * 256 + 255 : runs - 1))) finished" \
    "$out/slurm/logs/elm-many_${array}_$t.out" || fail "task $t log: $(tail -3 "$out/slurm/logs/elm-many_${array}_$t.out")"
done
[ "$(find "$out/runs" -name DONE | wc -l)" -eq $runs ] || fail "$(find "$out/runs" -name DONE | wc -l) of $runs runs have DONE"
# Trained once: one attempt in each run's log, and each run done once over all task logs.
[ "$(grep -c '^run:' "$out"/runs/*/log.txt | grep -c ':1$')" -eq $runs ] ||
  fail "runs not trained exactly once: $(grep -c '^run:' "$out"/runs/*/log.txt | grep -v ':1$' | head -3)"
done_lines=$(cat "$out"/slurm/logs/elm-many_"${array}"_*.out | grep -o '^\[group 0\] run [0-9]* [0-9a-f]*: done in')
[ "$(echo "$done_lines" | wc -l)" -eq $runs ] && [ -z "$(echo "$done_lines" | sort | uniq -d)" ] ||
  fail "task logs: $(echo "$done_lines" | wc -l) 'done' lines, repeated: $(echo "$done_lines" | sort | uniq -d | head -3)"
[ "$(done_rows "$out/summary.csv")" -eq $runs ] || fail "summary.csv: $(done_rows "$out/summary.csv") done rows"
grep -q "$runs/$runs runs done" "$out"/slurm/logs/elm-many-collect_"$summary".out || fail "summary job did not see $runs done runs"
echo "array job $array: 12 tasks of up to 256 runs COMPLETED; $runs/$runs runs done once each; summary job $summary"
