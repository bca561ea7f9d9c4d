#!/usr/bin/env bash
# The multinode.stop fixture cleanup: stops the cluster (also after failed
# tests) and fails if any of its namespaces, its bridge, its daemons or a
# process of the cluster or of a multinode test (scratch /tmp/elm-multinode-*)
# is still there afterwards.
set -uo pipefail
state=${1:?usage: stop.sh STATE_DIR}
script="$(dirname "$0")/../../scripts/slurm_cluster.sh"
bash "$script" stop "$state" || exit 1
left=$(pgrep -a -f "$state/|/tmp/elm-multinode-" | grep -v "pgrep\|stop.sh" || true)
hash=$(printf '%s' "$(realpath -m "$state")" | cksum | awk '{print $1}')
tag=$(printf '%04x' $((hash % 65536)))
namespaces=$(ip netns list 2>/dev/null | grep "^elm$tag-" || true)
[ -z "$namespaces" ] || left+=$'\n'"namespaces: $namespaces"
! ip link show "elmbr$tag" > /dev/null 2>&1 || left+=$'\n'"bridge elmbr$tag"
left=$(echo "$left" | sed '/^$/d')
if [ -n "$left" ]; then
  echo "FAIL: still there after stop:"$'\n'"$left" >&2
  exit 1
fi
echo "no namespaces, bridge, daemons or test runs left"
