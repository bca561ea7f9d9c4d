#!/usr/bin/env bash
# The slurm.stop fixture cleanup: stops the box (also after failed tests) and
# fails if any of its daemons, job steps or elmrun processes of the Slurm
# tests are still alive afterwards. Only this build's elmrun counts: another
# build's suite may be running its own Slurm tests on the same machine.
set -uo pipefail
state=${1:?usage: stop.sh STATE_DIR ELMRUN}
elmrun=${2:?usage: stop.sh STATE_DIR ELMRUN}
bash "$(dirname "$0")/../../scripts/slurm_box.sh" stop "$state" || exit 1
left=$(pgrep -a -f "$state/|$elmrun sweep /tmp/elm-slurm-" | grep -v "pgrep\|stop.sh" || true)
for p in $(pgrep -x slurmstepd || true); do
  case $(readlink "/proc/$p/cwd" 2>/dev/null) in "$state"/*) left+=$'\n'"$p slurmstepd" ;; esac
done
left=$(echo "$left" | sed '/^$/d')
if [ -n "$left" ]; then
  echo "FAIL: still running after stop:"$'\n'"$left" >&2
  exit 1
fi
echo "no daemons, steps or test runs left"
