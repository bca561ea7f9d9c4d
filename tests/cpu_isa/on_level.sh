#!/bin/bash
# on_level.sh LEVEL COMMAND...: runs COMMAND with the CPU kernels forced to
# LEVEL through ELM_CPU_ISA, or skips (exit 77) when this CPU cannot run it.
# The levels this CPU runs are read from `elmrun --version`.
set -u
level=$1
shift
versions=$(env -u ELM_CPU_ISA "$ELMRUN" --version) || { echo "$ELMRUN --version failed"; exit 1; }
available=$(sed -n 's/^cpu kernels: .*(available: \(.*\))$/\1/p' <<<"$versions")
[ -n "$available" ] || { echo "no 'cpu kernels: ... (available: ...)' line in: $versions"; exit 1; }
case " $available " in
  *" $level "*) ;;
  *) echo "skip: this CPU runs only $available, not $level"; exit 77 ;;
esac
echo "ELM_CPU_ISA=$level $*"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
ELM_CPU_ISA=$level "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# A filter that matches nothing must not pass as a checked level.
if [ "$rc" = 0 ] && ! grep -q '^\[==========\] [1-9][0-9]* tests\? from' "$out"; then
  echo "no test ran on $level"
  exit 1
fi
exit "$rc"
