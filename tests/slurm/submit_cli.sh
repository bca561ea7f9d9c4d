#!/usr/bin/env bash
# slurm/submit.py without a cluster (--dry-run and errors): the filled scripts
# hold the resources, the preemption settings and no leftover placeholder;
# --only-missing picks the rows without DONE; mistakes are one line, exit 1
# (missing stores: one line per problem, nothing written).
source "$(dirname "$0")/../e2e/common.sh"
scratch=$(mktemp -d /tmp/elm-slurm-cli-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
submit=(/usr/bin/python3 "$ELM_SOURCE_DIR/slurm/submit.py" --elmrun "$ELMRUN")
cat > "$scratch/base.ini" <<EOT
[model]
num_input = 32
num_output = 4
[task]
name = synthetic_burst
[train]
steps = 10
EOT
cat > "$scratch/job.ini" <<EOT
[sweep]
name = cli
config = base.ini
ranks_per_run = 2
[grid]
train.seed = 1,2,3,4,5
EOT
out="$scratch/sweep"

# Array mode: manifest written, script filled, exact sbatch line printed, nothing submitted.
PATH=/nonexistent:$PATH "${submit[@]}" "$scratch/job.ini" --out "$out" --mode array --throttle 3 --time 01:00:00 \
  --partition gpu --account proj --max-requeues 5 --signal-lead 90 --set train.steps=7 \
  --sbatch-option=--qos=long --dry-run > "$scratch/a.out"
script=$(sed -n 's/^jid=\$(sbatch --parsable \(.*\.sbatch\))$/\1/p' "$scratch/a.out")
[ -f "$script" ] || fail "no script from: $(cat "$scratch/a.out")"
[ "$(dirname "$script")" = "$out/slurm" ] || fail "script not in DIR/slurm: $script"
[ "$(tail -n +2 "$out/manifest.tsv" | wc -l)" -eq 5 ] || fail "manifest.tsv not written"
# The printed lines run as they are: the summary job gets the array's id.
mkdir "$scratch/fakebin"
cat > "$scratch/fakebin/sbatch" <<EOT
#!/bin/bash
echo "\$*" >> "$scratch/sbatch.calls"
echo 4242
EOT
chmod +x "$scratch/fakebin/sbatch"
grep -A1 '^jid=' "$scratch/a.out" > "$scratch/paste.sh"
[ "$(wc -l < "$scratch/paste.sh")" -eq 2 ] || fail "no summary job line after the sbatch line: $(cat "$scratch/a.out")"
PATH="$scratch/fakebin:$PATH" bash -eu "$scratch/paste.sh" > /dev/null || fail "printed lines do not run: $(cat "$scratch/paste.sh")"
[ "$(sed -n 1p "$scratch/sbatch.calls")" = "--parsable $script" ] || fail "first sbatch: $(cat "$scratch/sbatch.calls")"
sed -n 2p "$scratch/sbatch.calls" | grep -q -- "--parsable --dependency=afterany:4242 --kill-on-invalid-dep=no --job-name=elm-cli-collect" \
  || fail "summary sbatch: $(cat "$scratch/sbatch.calls")"
for line in "--array=0-4%3" "--signal=USR2@90" "--requeue" "--ntasks=2" "--time=01:00:00" \
  "--partition=gpu" "--account=proj" "--qos=long" "--output=$out/slurm/logs/%x_%A_%a.out" "--open-mode=append"; do
  grep -qx -- "#SBATCH $line" "$script" || fail "script lacks '#SBATCH $line'"
done
! grep -q -- "--signal=B:" "$script" || fail "signal goes to the batch shell only"
grep -qx "MAX_REQUEUES=5" "$script" || fail "MAX_REQUEUES not filled"
grep -qx "SETS=(--set train.steps=7)" "$script" || fail "--set not passed on"
! grep -q "{{" "$script" || fail "placeholder left in $script"
bash -n "$script" || fail "filled script is not valid bash"
# bash < 4.4 under set -u: an empty "${A[@]}" is unbound, so every array expands guarded.
unguarded() { sed -E 's/\$\{([A-Za-z_]+)\[@\]\+"\$\{\1\[@\]\}"\}//g' "$1" | grep -nE '\$\{[A-Za-z_]+\[@\]\}' | grep -vE '^[0-9]+:[[:space:]]*#' || true; }
[ -z "$(unguarded "$script")" ] || fail "unguarded array expansion in $script: $(unguarded "$script")"

# MPI mode with --only-missing: the rows without DONE become --run-index.
for i in 0 3; do
  id=$(awk -F'\t' -v i=$i '$1 == i {print $2}' "$out/manifest.tsv")
  touch "$out/runs/$id/DONE"
done
"${submit[@]}" "$scratch/job.ini" --out "$out" --mode mpi --nodes 2 --ntasks-per-node 4 --only-missing \
  --set train.steps=7 --dry-run > "$scratch/m.out"
script=$(sed -n 's/^sbatch --parsable \(.*\.sbatch\)$/\1/p' "$scratch/m.out")
grep -q "3 of 5 run(s), 8 rank(s) per job" "$scratch/m.out" || fail "mpi summary: $(cat "$scratch/m.out")"
grep -qx "RUN_INDICES=(1 2 4)   # empty: every unfinished run of the manifest" "$script" || fail "run indices: $(grep RUN_INDICES= "$script")"
grep -qx -- "#SBATCH --nodes=2" "$script" && grep -qx -- "#SBATCH --ntasks-per-node=4" "$script" || fail "mpi resources"
grep -q 'srun --mpi=pmix' "$script" || fail "no srun --mpi=pmix"
bash -n "$script" || fail "filled mpi script is not valid bash"
[ -z "$(unguarded "$script")" ] || fail "unguarded array expansion in $script: $(unguarded "$script")"

# Packs (--pack 2: 3 packs of the 5 runs): one array task per pack of packs.tsv,
# the pack size passed on; --only-missing submits the packs holding a run without DONE.
"${submit[@]}" "$scratch/job.ini" --out "$out" --mode array --pack 2 --set train.steps=7 --dry-run > "$scratch/p.out"
grep -q "5 of 5 run(s) in 3 pack(s) (--array=0-2)" "$scratch/p.out" || fail "packed array: $(cat "$scratch/p.out")"
script=$(sed -n 's/^jid=\$(sbatch --parsable \(.*\.sbatch\))$/\1/p' "$scratch/p.out")
grep -qx "SETS=(--set train.steps=7 --pack 2)" "$script" || fail "--pack not passed on: $(grep SETS= "$script")"
# run_task SCRIPT I: runs a generated array script as array task I, with a
# stand-in srun that records its arguments; prints them.
cat > "$scratch/fakebin/srun" <<EOT
#!/bin/bash
echo "\$*" > "$scratch/srun.args"
EOT
chmod +x "$scratch/fakebin/srun"
run_task() {
  rm -f "$scratch/srun.args"
  PATH="$scratch/fakebin:$PATH" SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=$2 SLURM_JOB_ID=78 \
    bash "$1" > "$scratch/task.log" 2>&1 || return $?
  cat "$scratch/srun.args"
}
[ "$(run_task "$script" 1)" = "--mpi=pmix --kill-on-bad-exit=1 $ELMRUN sweep $scratch/job.ini --out $out --pack-index 1 --set train.steps=7 --pack 2" ] ||
  fail "array task 1 does not train pack 1: $(cat "$scratch/srun.args")"
[ "$(sed -n 2p "$out/packs.tsv")" = "$(printf '0\t0 1')" ] || fail "packs.tsv: $(cat "$out/packs.tsv")"
"${submit[@]}" "$scratch/job.ini" --out "$out" --mode array --pack 2 --set train.steps=7 --only-missing --dry-run > "$scratch/p.out"
grep -q "3 of 5 run(s) in 3 pack(s) (--array=0-2)" "$scratch/p.out" || fail "packed, runs 0 and 3 done: $(cat "$scratch/p.out")"
touch "$out/runs/$(awk -F'\t' '$1 == 1 {print $2}' "$out/manifest.tsv")/DONE"
"${submit[@]}" "$scratch/job.ini" --out "$out" --mode array --pack 2 --set train.steps=7 --only-missing --dry-run > "$scratch/p.out"
grep -q "2 of 5 run(s) in 2 pack(s) (--array=1-2)" "$scratch/p.out" || fail "packed, runs 0, 1 and 3 done: $(cat "$scratch/p.out")"
"$ELMRUN" status "$out" | grep -q "remains 2 runs in 2 pack(s): --array=1-2 (packs.tsv)" ||
  fail "status of a packed sweep: $("$ELMRUN" status "$out" | tail -2)"

# Mistakes: one line on stderr, exit 1.
check_error() {
  local want=$1
  shift
  set +e
  "${submit[@]}" "$@" > "$scratch/e.out" 2> "$scratch/e.err"
  local rc=$?
  set -e
  [ $rc -ne 0 ] || fail "exit 0 for: $*"
  [ "$(wc -l < "$scratch/e.err")" -eq 1 ] || fail "not one line for $*: $(cat "$scratch/e.err")"
  grep -q -- "$want" "$scratch/e.err" || fail "for $*: expected '$want', got $(cat "$scratch/e.err")"
}
check_error "no such job file" "$scratch/nope.ini" --out "$out" --mode array --dry-run
check_error "not a multiple of ranks_per_run" "$scratch/job.ini" --out "$out" --mode mpi --ntasks-per-node 3 --dry-run
check_error "elmrun runs one rank per GPU" "$scratch/job.ini" --out "$out" --mode array --gpus-per-node 1 --dry-run
# GPUs and train.backend go together (the GPU scripts' #SBATCH lines:
# analysis/tests/test_submit_gpus.py).
check_error "so the GPUs would sit idle: add --set train.backend=cuda" "$scratch/job.ini" --out "$out" --mode array \
  --gpus-per-node 2 --dry-run
check_error "but --gpus-per-node is 0, so the ranks would get no GPU" "$scratch/job.ini" --out "$out" --mode mpi \
  --set train.backend=cuda --dry-run
check_error "is not a Slurm time" "$scratch/job.ini" --out "$out" --mode array --time 2h --dry-run
check_error "must be shorter than --time" "$scratch/job.ini" --out "$out" --mode array --time 00:05:00 --dry-run
check_error "elmrun sweep --list failed" "$scratch/job.ini" --out "$out" --mode array --set model.bogus=1 --dry-run
check_error "--throttle applies to --mode array" "$scratch/job.ini" --out "$out" --mode mpi --throttle 2 --dry-run
check_error "no elmrun binary" "$scratch/job.ini" --out "$out" --mode array --elmrun "$scratch/none" --dry-run

# Cores per rank follow train.threads (--set, grid, [set], base config):
# asked for by default, and fewer than the runs use is refused.
grep -qx -- "#SBATCH --cpus-per-task=1" "$(ls "$out"/slurm/array-*.sbatch | head -1)" || fail "default cores with 1 thread"
cat > "$scratch/threads.ini" <<EOT
[sweep]
name = thr
config = base.ini
[grid]
train.threads = 3
train.seed = 1,2
EOT
cores() {  # cores the script of a dry run asks for
  "${submit[@]}" "$scratch/threads.ini" --out "$scratch/thr" --mode array --dry-run "$@" > "$scratch/t.out"
  sed -n 's/^#SBATCH --cpus-per-task=//p' "$(sed -n 's/^jid=\$(sbatch --parsable \(.*\.sbatch\))$/\1/p' "$scratch/t.out")"
}
[ "$(cores)" = 3 ] || fail "grid train.threads 3: cores $(cores)"
grep -q "2 of 2 run(s) (--array=0-1), 1 rank(s) per task x 3 core(s)" "$scratch/t.out" || fail "summary: $(cat "$scratch/t.out")"
[ "$(cores --set train.threads=2)" = 2 ] || fail "--set train.threads=2: cores $(cores --set train.threads=2)"
[ "$(cores --cpus-per-task 8)" = 8 ] || fail "--cpus-per-task 8 not kept"
check_error "--cpus-per-task 2 is fewer than the runs' train.threads = 3" "$scratch/threads.ini" --out "$scratch/thr" \
  --mode array --cpus-per-task 2 --dry-run
sed -i 's/^\[train\]$/[train]\nthreads = 4/' "$scratch/base.ini"
[ "$(cores --set train.threads=1)" = 1 ] || fail "--set wins over the grid"
sed -i '/^train.threads/d' "$scratch/threads.ini"
[ "$(cores)" = 4 ] || fail "base config's train.threads = 4: cores $(cores)"

# Store paths that do not exist: elmrun sweep --list's line per problem (two
# here, each shared by two runs), exit 1, nothing written (no DIR), in both modes.
cat > "$scratch/stores.ini" <<EOT
[sweep]
name = stores
config = base.ini
[grid]
task.store = $scratch/missing_a,$scratch/missing_b
train.seed = 1,2
EOT
for mode in array mpi; do
  set +e
  "${submit[@]}" "$scratch/stores.ini" --out "$scratch/stores" --mode $mode --set task.name=listops \
    --set model.num_input=15 --set model.num_output=10 --dry-run > "$scratch/s.out" 2> "$scratch/s.err"
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "$mode: missing stores: exit $rc: $(cat "$scratch/s.out" "$scratch/s.err")"
  [ "$(wc -l < "$scratch/s.err")" -eq 2 ] || fail "$mode: not one line per missing store: $(cat "$scratch/s.err")"
  for m in missing_a missing_b; do
    [ "$(grep -c "^submit.py: elmrun sweep --list failed: elmrun sweep: .*and 1 other run(s): .*$scratch/$m" \
      "$scratch/s.err")" -eq 1 ] || fail "$mode: no line for $m: $(cat "$scratch/s.err")"
  done
  [ ! -s "$scratch/s.out" ] || fail "$mode: missing stores: printed $(cat "$scratch/s.out")"
  [ ! -e "$scratch/stores" ] || fail "$mode: missing stores: wrote $(ls -R "$scratch/stores")"
done
echo "dry runs filled both templates; errors are one line"
