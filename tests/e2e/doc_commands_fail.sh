#!/usr/bin/env bash
# The doc test must be able to fail: on tests/e2e/doc_fixtures/broken.md it
# exits 1 and names each broken block (line), passes the good figure and
# prints the skipped block with its reason.
source "$(dirname "$0")/lib.sh"
fixture="$ELM_SOURCE_DIR/tests/e2e/doc_fixtures/broken.md"
rc=0
/usr/bin/python3 "$ELM_SOURCE_DIR/tests/e2e/doc_commands.py" "$fixture" > "$scratch/log" 2>&1 || rc=$?
cat "$scratch/log"
[ "$rc" -eq 1 ] || fail "doc test exited $rc on broken blocks, not 1"
expect() { grep -qF -- "$1" "$scratch/log" || fail "no '$1' in the doc test's output"; }
expect "ran     broken.md:7 "
expect "figure units/s: printed 100 (median of 1), docs 150 ('about 150 units/s'): ok"
expect "FAIL    broken.md:13: figure units/s: printed 100 (median of 1), docs 1000 ('about 1000 units/s'): OFF BY MORE THAN 2x"
expect "FAIL    broken.md:19: figure units/s: the text 'about 100 units/s' is no longer in broken.md"
expect "FAIL    broken.md:23: exit 1:"
expect "FAIL    broken.md:29: \`elmrun sweep --help\` knows no --no-such-option"
expect "FAIL    broken.md:35: the block no longer shows jobs/quickstart.ini"
expect "SKIP    broken.md:43 [gpu] the fixture's skipped block"
expect "doc test: 5 block(s) failed"
# Only GPU, data, cluster and the suite itself excuse a block; commands are never hidden in text.
for case in "bad_marker.md:3: skip marker must be skip=<gpu|data|cluster|self>" \
            "hidden_command.md:6: command line inside a text block"; do
  rc=0
  /usr/bin/python3 "$ELM_SOURCE_DIR/tests/e2e/doc_commands.py" "$ELM_SOURCE_DIR/tests/e2e/doc_fixtures/${case%%:*}" \
    > "$scratch/log" 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || fail "doc test exited $rc on ${case%%:*}, not 1: $(cat "$scratch/log")"
  grep -qF -- "FAIL: $case" "$scratch/log" || fail "no 'FAIL: $case' in: $(cat "$scratch/log")"
done
echo "doc_commands_fail: every broken block named"
