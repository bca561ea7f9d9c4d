# Shared by tests/e2e/lib.sh and tests/slurm/lib.sh: strict mode, the
# environment ctest passes, mpirun as root (platform-notes.md), fail(),
# waiting for text, killing leftover background jobs, and the small sweep.
set -euo pipefail
: "${ELMRUN:?set ELMRUN to the elmrun binary}"
: "${ELM_SOURCE_DIR:?set ELM_SOURCE_DIR to the source tree}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "FAIL: $*" >&2; exit 1; }

# Waits up to $2 seconds for file $1 (a path or a glob) to contain $3.
wait_for_text() {
  local file=$1 limit=$2 text=$3 t=0
  while ! grep -q -- "$text" $file 2>/dev/null; do
    sleep 0.2; t=$((t + 1))
    [ $t -lt $((limit * 5)) ] || fail "waited ${limit}s for '$text' in $file"
  done
}

# wait_for_file PATH SECONDS [PID]: waits until PATH (a path or a glob) names
# a non-empty file; fails after SECONDS, or as soon as process PID has ended
# (the file then never comes). For files the code writes (a hold file, DONE,
# status), never for log lines relayed through mpirun.
wait_for_file() {
  local path=$1 limit=$2 pid=${3:-} t=0 alive=1 f
  while true; do
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || alive=0
    for f in $path; do [ -s "$f" ] && return 0; done
    [ $alive = 1 ] || fail "process $pid ended before $path was written"
    sleep 0.05; t=$((t + 1))
    [ $t -lt $((limit * 20)) ] || fail "waited ${limit}s for $path"
  done
}

# Kills this shell's background jobs (for cleanup on exit).
kill_background_jobs() {
  local pids
  pids=$(jobs -p) || true
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
}

# done_rows CSV: how many runs summary.csv lists as done.
done_rows() { tail -n +2 "$1" | grep -c ",done," || true; }

source "$ELM_SOURCE_DIR/tests/e2e/small_job.sh"
