# Shared by the end-to-end scripts: fail(), a scratch dir removed on exit, and
# mpirun as root (platform-notes.md).
set -euo pipefail
: "${ELMRUN:?set ELMRUN to the elmrun binary}"
: "${ELM_SOURCE_DIR:?set ELM_SOURCE_DIR to the source tree}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
scratch=$(mktemp -d /tmp/elm-e2e-XXXXXX)
cleanup() {
  local pids
  pids=$(jobs -p) || true
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Waits up to $2 seconds for file $1 to contain $3.
wait_for_text() {
  local file=$1 limit=$2 text=$3 t=0
  while ! grep -q -- "$text" "$file" 2>/dev/null; do
    sleep 0.2; t=$((t + 1))
    [ $t -lt $((limit * 5)) ] || fail "waited ${limit}s for '$text' in $file"
  done
}
# A job file of 2 x 2 runs on the built-in synthetic task.
write_small_job() {
  local dir=$1 steps=$2
  cat > "$dir/base.ini" <<EOT
[model]
variant = v1
num_input = 32
num_output = 4
num_memory = 10
memory_tau_max = 150
[task]
name = synthetic_burst
[train]
steps = $steps
batch_size = 16
threads = 1
log_every = 10
eval_every = 100000
[optim]
lr = 0.005
EOT
  cat > "$dir/job.ini" <<EOT
[sweep]
name = small
config = base.ini
ranks_per_run = 1
[grid]
model.num_memory = 4,12
model.memory_tau_max = 20,200
EOT
}
