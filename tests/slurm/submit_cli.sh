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

# Sweeps larger than the cluster's limits. Stand-ins: scontrol prints a
# config in Slurm 22.05's layout (cluster_config writes it), sacctmgr the
# user's MaxSubmitJobs per association (and records how it was asked).
mkdir "$scratch/cluster"
cat > "$scratch/cluster/scontrol" <<EOT
#!/bin/bash
[ "\$*" = "show config" ] || { echo "scontrol: unexpected arguments \$*" >&2; exit 2; }
cat "$scratch/cluster/config"
EOT
cat > "$scratch/cluster/sacctmgr" <<EOT
#!/bin/bash
echo "\$*" >> "$scratch/sacctmgr.calls"
cat "$scratch/cluster/max_submit"
EOT
chmod +x "$scratch/cluster/scontrol" "$scratch/cluster/sacctmgr"
# cluster_config MAX_ARRAY_SIZE MAX_JOB_COUNT ACCOUNTING_STORAGE_TYPE [SCHEDULER_PARAMETERS]
cluster_config() {
  cat > "$scratch/cluster/config" <<EOT
Configuration data as of 2026-12-02T16:15:52
AccountingStorageBackupHost = (null)
AccountingStorageEnforce = none
AccountingStorageHost   = localhost
AccountingStorageTRES   = cpu,mem,energy,node,billing,fs/disk,vmem,pages
AccountingStorageType   = $3
AccountingStorageUser   = root
ClusterName             = elmtest
MaxArraySize            = $1
MaxDBDMsgs              = 0
MaxJobCount             = $2
MaxJobId                = 67043328
MaxStepCount            = 40000
SchedulerParameters     = ${4:-(null)}
SchedulerType           = sched/backfill

MPI Plugins Configuration:
PMIxCliTmpDirBase       = (null)
PMIxTimeout             = 300

Slurmctld(primary) at vm is UP
EOT
}
cluster_config 1001 10000 accounting_storage/none
on_cluster() { PATH="$scratch/cluster:$PATH" "$@"; }
# big_job ROWS: a sweep of ROWS runs (one per seed) in $scratch/bigROWS.ini.
big_job() {
  printf '[sweep]\nname = big%s\nconfig = base.ini\n[grid]\ntrain.seed = %s\n' "$1" "$(seq -s, 1 "$1")" > "$scratch/big$1.ini"
}
script_of() { sed -n 's/^\(jid=\$(\)\{0,1\}sbatch --parsable \([^ ]*\.sbatch\))\{0,1\}$/\2/p' "$1"; }
task_map_of() { sed -n "s/^TASK_MAP=\(.*\)   # empty: array task I trains pack I$/\1/p" "$1"; }
# map_check MAP TASKS PER_TASK UNITS: the map has lines 0..TASKS-1 in order, at
# most PER_TASK indices each, and lists the indices 0..UNITS-1 once each, in order.
map_check() {
  local map=$1 tasks=$2 per_task=$3 units=$4
  [ "$(head -1 "$map")" = "$(printf 'task\tpacks')" ] || fail "$map: header $(head -1 "$map")"
  [ "$(tail -n +2 "$map" | cut -f1)" = "$(seq 0 $((tasks - 1)))" ] || fail "$map: tasks are not 0..$((tasks - 1))"
  [ "$(tail -n +2 "$map" | awk -F'\t' -v n="$per_task" 'split($2, a, " ") > n' | wc -l)" -eq 0 ] ||
    fail "$map: a task with more than $per_task indices"
  [ "$(tail -n +2 "$map" | cut -f2 | tr ' ' '\n')" = "$(seq 0 $((units - 1)))" ] ||
    fail "$map: does not list 0..$((units - 1)) once each"
}

# 3,000 runs at Slurm's default MaxArraySize 1001: 3 runs per task (2 would
# make 1500 tasks), in 1000 tasks 0-999. An explicit N that fits is kept (7:
# 429 tasks, the last with 4 runs); one that does not is refused, naming the fewest.
big_job 3000
big=(on_cluster "${submit[@]}" "$scratch/big3000.ini" --out "$scratch/big3000" --mode array --dry-run)
"${big[@]}" > "$scratch/b.out"
grep -qx "submit.py: limits: MaxArraySize=1001, MaxJobCount=10000 (scontrol show config); no MaxSubmitJobs (AccountingStorageType=accounting_storage/none)" \
  "$scratch/b.out" || fail "limits line: $(cat "$scratch/b.out")"
grep -q "^submit.py: 3 run(s) per array task, the fewest that keep the array within 1001 tasks (MaxArraySize=1001); task map " \
  "$scratch/b.out" || fail "3,000 runs: $(cat "$scratch/b.out")"
grep -q "3000 of 3000 run(s), 1000 array task(s) (--array=0-999)" "$scratch/b.out" || fail "3,000 runs: $(cat "$scratch/b.out")"
script=$(script_of "$scratch/b.out")
grep -qx -- "#SBATCH --array=0-999" "$script" || fail "script's array: $(grep -- --array "$script")"
map=$(task_map_of "$script")
[ "$map" = "${script%.sbatch}.tasks" ] || fail "task map $map is not named after $script"
map_check "$map" 1000 3 3000
[ "$(run_task "$script" 999)" = "--mpi=pmix --kill-on-bad-exit=1 $ELMRUN sweep $scratch/big3000.ini --out $scratch/big3000 --pack-index 2997 2998 2999" ] ||
  fail "task 999: $(cat "$scratch/srun.args")"
grep -q "task 999: pack indices 2997 2998 2999$" "$scratch/task.log" || fail "task 999 log: $(cat "$scratch/task.log")"
set +e
run_task "$script" 1000 > /dev/null
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "task 1000 has no line in $map" "$scratch/task.log" || fail "task 1000 (not in the map): exit $rc: $(cat "$scratch/task.log")"
bash -n "$script" || fail "script with a task map is not valid bash"
[ -z "$(unguarded "$script")" ] || fail "unguarded array expansion in $script: $(unguarded "$script")"
! grep -q "{{" "$script" || fail "placeholder left in $script"
[ ! -e "$scratch/sacctmgr.calls" ] || fail "sacctmgr asked although accounting is off: $(cat "$scratch/sacctmgr.calls")"
"${big[@]}" --runs-per-task 7 --throttle 5 > "$scratch/b.out"
grep -q "^submit.py: 7 run(s) per array task, as --runs-per-task asks; task map " "$scratch/b.out" || fail "N 7: $(cat "$scratch/b.out")"
grep -q "3000 of 3000 run(s), 429 array task(s) (--array=0-428%5)" "$scratch/b.out" || fail "N 7: $(cat "$scratch/b.out")"
map=$(task_map_of "$(script_of "$scratch/b.out")")
map_check "$map" 429 7 3000
[ "$(tail -1 "$map")" = "$(printf '428\t2996 2997 2998 2999')" ] || fail "last task: $(tail -1 "$map")"
files_before=$(ls "$scratch/big3000/slurm" | wc -l)
on_cluster check_error "--runs-per-task 2 makes 1500 array tasks, more than the 1001 this cluster allows (MaxArraySize=1001): use --runs-per-task 3 or more, or leave it out" \
  "$scratch/big3000.ini" --out "$scratch/big3000" --mode array --runs-per-task 2 --dry-run
[ "$(ls "$scratch/big3000/slurm" | wc -l)" -eq "$files_before" ] || fail "a refused --runs-per-task wrote a script or map"
check_error "--runs-per-task applies to --mode array only" "$scratch/big3000.ini" --out "$scratch/big3000" --mode mpi \
  --runs-per-task 3 --dry-run
check_error "--runs-per-task must be > 0" "$scratch/big3000.ini" --out "$scratch/big3000" --mode array --runs-per-task 0 --dry-run

# The other limits, on a 300-run sweep (cheaper): max_array_tasks, MaxSubmitJobs
# (only where accounting is on, the smallest of the user's associations, less
# the summary job) and MaxJobCount (less the summary job).
big_job 300
small=(on_cluster "${submit[@]}" "$scratch/big300.ini" --out "$scratch/big300" --mode array --dry-run)
cluster_config 100001 50000 accounting_storage/none "bf_continue,max_array_tasks=50,sched_interval=2"
"${small[@]}" > "$scratch/b.out"
grep -q "^submit.py: limits: MaxArraySize=100001, MaxJobCount=50000, max_array_tasks=50 (scontrol show config)" "$scratch/b.out" ||
  fail "max_array_tasks: $(cat "$scratch/b.out")"
grep -q "6 run(s) per array task, the fewest that keep the array within 50 tasks (max_array_tasks=50)" "$scratch/b.out" ||
  fail "max_array_tasks: $(cat "$scratch/b.out")"
grep -q "300 of 300 run(s), 50 array task(s) (--array=0-49)" "$scratch/b.out" || fail "max_array_tasks: $(cat "$scratch/b.out")"
cluster_config 100001 50000 accounting_storage/slurmdbd
printf '\n25\n40\n' > "$scratch/cluster/max_submit"   # three associations, one without a limit
"${small[@]}" --account proj > "$scratch/b.out"
grep -q "; MaxSubmitJobs=25 (sacctmgr, user $(id -un), account proj)$" "$scratch/b.out" || fail "MaxSubmitJobs: $(cat "$scratch/b.out")"
grep -q "13 run(s) per array task, the fewest that keep the array within 24 tasks (MaxSubmitJobs=25 less the summary job)" \
  "$scratch/b.out" || fail "MaxSubmitJobs 25: $(cat "$scratch/b.out")"
grep -q "300 of 300 run(s), 24 array task(s) (--array=0-23)" "$scratch/b.out" || fail "MaxSubmitJobs 25: $(cat "$scratch/b.out")"
grep -qx -- "--noheader --parsable2 show associations users=$(id -un) clusters=elmtest accounts=proj format=MaxSubmitJobs" "$scratch/sacctmgr.calls" || fail "sacctmgr: $(cat "$scratch/sacctmgr.calls")"
"${small[@]}" --no-collect-job > "$scratch/b.out"
grep -q "300 of 300 run(s), 25 array task(s) (--array=0-24)" "$scratch/b.out" || fail "MaxSubmitJobs 25, no summary job: $(cat "$scratch/b.out")"
: > "$scratch/cluster/max_submit"
cluster_config 100001 120 accounting_storage/slurmdbd
"${small[@]}" > "$scratch/b.out"
grep -q "; MaxSubmitJobs not set (sacctmgr, user $(id -un))$" "$scratch/b.out" || fail "no MaxSubmitJobs: $(cat "$scratch/b.out")"
grep -q "3 run(s) per array task, the fewest that keep the array within 119 tasks (MaxJobCount=120 less the summary job)" \
  "$scratch/b.out" || fail "MaxJobCount 120: $(cat "$scratch/b.out")"
grep -q "300 of 300 run(s), 100 array task(s) (--array=0-99)" "$scratch/b.out" || fail "MaxJobCount 120: $(cat "$scratch/b.out")"
cluster_config 0 10000 accounting_storage/none
on_cluster check_error "this cluster disables job arrays (MaxArraySize=0): use --mode mpi" "$scratch/big300.ini" \
  --out "$scratch/big300" --mode array --dry-run

# Away from the cluster: Slurm's defaults, and why they were assumed.
cat > "$scratch/fakebin/scontrol" <<EOT
#!/bin/bash
echo "slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)" >&2
exit 1
EOT
chmod +x "$scratch/fakebin/scontrol"
PATH="$scratch/fakebin:$PATH" "${submit[@]}" "$scratch/big3000.ini" --out "$scratch/big3000" --mode array --dry-run > "$scratch/b.out"
grep -qx "submit.py: limits: MaxArraySize=1001, MaxJobCount=10000 (Slurm's defaults, assumed: scontrol show config failed: slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)); MaxSubmitJobs not read" \
  "$scratch/b.out" || fail "scontrol failing: $(cat "$scratch/b.out")"
grep -q "3000 of 3000 run(s), 1000 array task(s) (--array=0-999)" "$scratch/b.out" || fail "defaults: $(cat "$scratch/b.out")"
mkdir "$scratch/no_slurm"
PATH="$scratch/no_slurm" "${submit[@]}" "$scratch/big300.ini" --out "$scratch/big300" --mode array --dry-run > "$scratch/b.out"
grep -q "^submit.py: limits: MaxArraySize=1001, MaxJobCount=10000 (Slurm's defaults, assumed: scontrol not found); MaxSubmitJobs not read$" \
  "$scratch/b.out" || fail "no scontrol: $(cat "$scratch/b.out")"

# --only-missing: sparse rows, one at MaxArraySize (the first index Slurm
# refuses), become tasks 0..1 of a map; rows that fit (up to MaxArraySize - 1)
# keep their own indices (no map, as before).
cluster_config 1001 10000 accounting_storage/none
tail -n +2 "$scratch/big3000/manifest.tsv" | awk -F'\t' -v d="$scratch/big3000/runs" \
  '$1 != 5 && $1 != 1001 {print d "/" $2 "/DONE"}' | xargs touch
"${big[@]}" --only-missing > "$scratch/b.out"
grep -q "^submit.py: 1 run(s) per array task, the fewest that keep the array within 1001 tasks (MaxArraySize=1001); task map " \
  "$scratch/b.out" || fail "sparse missing rows: $(cat "$scratch/b.out")"
grep -q "2 of 3000 run(s), 2 array task(s) (--array=0-1)" "$scratch/b.out" || fail "sparse missing rows: $(cat "$scratch/b.out")"
[ "$(cat "$(task_map_of "$(script_of "$scratch/b.out")")")" = "$(printf 'task\tpacks\n0\t5\n1\t1001')" ] ||
  fail "sparse map: $(cat "$(task_map_of "$(script_of "$scratch/b.out")")")"
run_dir() { echo "$scratch/big3000/runs/$(awk -F'\t' -v i="$1" '$1 == i {print $2}' "$scratch/big3000/manifest.tsv")"; }
touch "$(run_dir 1001)/DONE"
rm "$(run_dir 1000)/DONE"
"${big[@]}" --only-missing > "$scratch/b.out"
grep -q "^submit.py: 1 run(s) per array task, array index = manifest row$" "$scratch/b.out" || fail "rows 5, 1000: $(cat "$scratch/b.out")"
grep -q "2 of 3000 run(s) (--array=5,1000)" "$scratch/b.out" || fail "rows 5, 1000: $(cat "$scratch/b.out")"
[ "$(task_map_of "$(script_of "$scratch/b.out")")" = "''" ] || fail "a map for indices that fit"

# Packs count as units: --pack 2 makes 1500 packs, 2 per task; --pack 4 makes 750, one task each.
"${big[@]}" --pack 2 > "$scratch/b.out"
grep -q "^submit.py: 2 pack(s) per array task, the fewest that keep the array within 1001 tasks" "$scratch/b.out" ||
  fail "--pack 2: $(cat "$scratch/b.out")"
grep -q "3000 of 3000 run(s) in 1500 pack(s), 750 array task(s) (--array=0-749)" "$scratch/b.out" || fail "--pack 2: $(cat "$scratch/b.out")"
map=$(task_map_of "$(script_of "$scratch/b.out")")
map_check "$map" 750 2 1500
[ "$(run_task "$(script_of "$scratch/b.out")" 749)" = "--mpi=pmix --kill-on-bad-exit=1 $ELMRUN sweep $scratch/big3000.ini --out $scratch/big3000 --pack-index 1498 1499 --pack 2" ] ||
  fail "packed task 749: $(cat "$scratch/srun.args")"
"${big[@]}" --pack 4 > "$scratch/b.out"
grep -q "3000 of 3000 run(s) in 750 pack(s) (--array=0-749)" "$scratch/b.out" || fail "--pack 4: $(cat "$scratch/b.out")"
grep -q "^submit.py: 1 pack(s) per array task, array index = pack index$" "$scratch/b.out" || fail "--pack 4: $(cat "$scratch/b.out")"

# A suite: every sweep's array is checked against the limits before the first
# is written (the 5-run sweep comes first and fits).
printf '[suite]\nname = two\njobs = job.ini, big3000.ini\n' > "$scratch/two.ini"
on_cluster check_error "^submit.py: sweep big3000: --runs-per-task 2 makes 1500 array tasks, more than the 1001 this cluster allows" \
  "$scratch/two.ini" --out "$scratch" --mode array --runs-per-task 2 --dry-run
[ ! -e "$scratch/cli/slurm" ] || fail "suite: the first sweep was written although the second does not fit: $(ls "$scratch/cli/slurm")"
echo "dry runs filled both templates; errors are one line; arrays fit the cluster's limits"
