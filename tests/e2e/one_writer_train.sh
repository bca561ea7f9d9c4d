#!/usr/bin/env bash
# One writer per run, `elmrun train` (RUN_DIR/LOCK):
#  1. A second train on a run directory that a first one holds (a different
#     model.num_memory) exits non-zero with one line "run DIR is in use by
#     HOST:PID since ...", naming the first, and changes no file of the run;
#     the first then finishes normally. The first is held at step 5
#     (ELM_TEST_HOLD) while the second runs, and is checked to be still alive
#     (so still holding the run) after the second has ended: the test means
#     the same on a slow and on a fast machine. The hold ends by itself after
#     ELM_TEST_HOLD_SECONDS.
#  2. A LOCK naming this host and a dead process (written by hand) is taken over.
#  3. The LOCK of a holder killed with kill -9 is taken over.
#  4. A LOCK naming another host is honoured while it is fresh and taken over
#     once it is stale (no heartbeat, older than 60 s).
source "$(dirname "$0")/lib.sh"
host=$(hostname)
hold_s=${ELM_TEST_ONE_WRITER_HOLD_S:-10}
args=(--set train.steps=60 --set train.log_every=10 --set train.eval_every=100000 --set train.checkpoint_every=0)

# Every file below a run directory but status (its heartbeat is rewritten
# while the holder lives), with its md5 sum.
files_of() { (cd "$1" && find . -type f ! -name status -print0 | sort -z | xargs -0 -r md5sum); }
lock_field() { sed -n "s/^$2=//p" "$1/LOCK"; }
# refused NAME DIR HOLDER_REGEX ARGS...: `elmrun train --out DIR ARGS` exits
# non-zero with one line naming the holder and changes no file of DIR.
refused() {
  local name=$1 dir=$2 holder=$3 before rc
  shift 3
  before=$(files_of "$dir")
  set +e
  "$ELMRUN" train --out "$dir" "${args[@]}" "$@" > "$scratch/$name.out" 2> "$scratch/$name.err"
  rc=$?
  set -e
  [ $rc -ne 0 ] || fail "$name: a train on a held run exited 0: $(cat "$scratch/$name.out")"
  [ "$(wc -l < "$scratch/$name.err")" -eq 1 ] || fail "$name: not one line on stderr: $(cat "$scratch/$name.err")"
  grep -Eq "^elmrun train: error: run $dir is in use by $holder since [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$" \
    "$scratch/$name.err" || fail "$name: unexpected message: $(cat "$scratch/$name.err")"
  ! grep -q "^run:" "$scratch/$name.out" || fail "$name: the refused train started training"
  [ "$(files_of "$dir")" = "$before" ] || fail "$name: the refused train changed the run: $(files_of "$dir")"
}
# finished NAME DIR: the run ended normally (DONE, state done, no LOCK left).
finished() {
  [ -e "$2/DONE" ] || fail "$1: no DONE"
  grep -q "^state=done$" "$2/status" || fail "$1: status: $(cat "$2/status")"
  [ ! -e "$2/LOCK" ] || fail "$1: LOCK left after the run: $(cat "$2/LOCK")"
}

# ---- 1. a second train while the first holds the run -------------------------------
run="$scratch/run"
ELM_TEST_HOLD=step@5 ELM_TEST_HOLD_FILE="$scratch/held" ELM_TEST_HOLD_SECONDS=$hold_s \
  "$ELMRUN" train --out "$run" "${args[@]}" --set model.num_memory=10 > "$scratch/first.out" 2>&1 &
first=$!
wait_for_file "$scratch/held" 120 $first
[ "$(lock_field "$run" host)" = "$host" ] && [ "$(lock_field "$run" pid)" = "$first" ] ||
  fail "LOCK does not name the first train ($host:$first): $(cat "$run/LOCK")"
refused second "$run" "$host:$first" --set model.num_memory=12
kill -0 $first 2>/dev/null || fail "the first train ended before the second did: the test proved nothing (hold ${hold_s}s)"
[ ! -e "$run/DONE" ] || fail "the first train finished while the second ran"
set +e; wait $first; rc=$?; set -e
[ $rc -eq 0 ] || fail "the first train exited $rc: $(tail -3 "$scratch/first.out")"
finished first "$run"
[ "$(grep -c "^run: .* d_m=10," "$scratch/first.out")" -eq 1 ] || fail "first: $(cat "$scratch/first.out")"
grep -q "^test " "$scratch/first.out" || fail "the first train did not evaluate: $(tail -3 "$scratch/first.out")"
echo "1. second train refused ($(cat "$scratch/second.err")); first finished"

# ---- 2. a LOCK of a dead process on this host, written by hand ---------------------------
( exit 0 ) &
dead=$!
wait $dead
stale="$scratch/stale"
mkdir -p "$stale"
printf 'host=%s\npid=%s\nsince=2020-01-01 00:00:00\nstarted=%s.000\n' "$host" "$dead" "$(date +%s)" > "$stale/LOCK"
"$ELMRUN" train --out "$stale" "${args[@]}" > "$scratch/stale.out" 2>&1 || fail "dead holder's LOCK: $(tail -3 "$scratch/stale.out")"
finished "dead holder" "$stale"
echo "2. LOCK of dead pid $dead taken over"

# ---- 3. the LOCK of a holder killed with kill -9 -------------------------------------
killed="$scratch/killed"
ELM_TEST_HOLD=step@5 ELM_TEST_HOLD_FILE="$scratch/held_killed" \
  "$ELMRUN" train --out "$killed" "${args[@]}" > "$scratch/killed1.out" 2>&1 &
victim=$!
wait_for_file "$scratch/held_killed" 120 $victim
kill -9 $victim
{ wait $victim; } 2> /dev/null || true
[ "$(lock_field "$killed" pid)" = "$victim" ] || fail "the killed holder's LOCK is gone or changed: $(cat "$killed/LOCK" 2>&1)"
"$ELMRUN" train --out "$killed" "${args[@]}" > "$scratch/killed2.out" 2>&1 ||
  fail "LOCK of a killed holder: $(tail -3 "$scratch/killed2.out")"
finished "killed holder" "$killed"
echo "3. LOCK of kill -9'd pid $victim taken over"

# ---- 4. a LOCK naming another host ---------------------------------------------------------
remote="$scratch/remote"
mkdir -p "$remote"
printf 'host=elm-other-node\npid=4242\nsince=2020-01-01 00:00:00\nstarted=%s.000\n' "$(date +%s)" > "$remote/LOCK"
refused remote_fresh "$remote" "elm-other-node:4242"
printf 'host=elm-other-node\npid=4242\nsince=2020-01-01 00:00:00\nstarted=%s.000\n' "$(( $(date +%s) - 3600 ))" \
  > "$remote/LOCK"
"$ELMRUN" train --out "$remote" "${args[@]}" > "$scratch/remote.out" 2>&1 ||
  fail "stale LOCK of another host: $(tail -3 "$scratch/remote.out")"
finished "stale remote holder" "$remote"
echo "4. fresh LOCK of another host honoured, stale one taken over"
