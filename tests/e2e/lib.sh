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
source "$ELM_SOURCE_DIR/tests/e2e/small_job.sh"
