# Shared by the end-to-end scripts: common.sh and a scratch dir removed on exit.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scratch=$(mktemp -d /tmp/elm-e2e-XXXXXX)
cleanup() {
  kill_background_jobs
  rm -rf "$scratch"
}
trap cleanup EXIT
