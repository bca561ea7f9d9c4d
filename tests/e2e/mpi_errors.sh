#!/usr/bin/env bash
# Under mpirun, bad input that every rank reads is one error line for the job
# (no rank prefix, no MPI_ABORT banner) and a non-zero exit; ranks whose
# messages differ each say theirs with their rank.
source "$(dirname "$0")/lib.sh"
check_once() {  # check_once WHAT ARGS...: one "elmrun ...: error:" line naming WHAT
  local what=$1
  shift
  set +e
  mpirun -n 2 "$ELMRUN" "$@" > "$scratch/out" 2> "$scratch/err"
  local rc=$?
  set -e
  [ $rc -ne 0 ] || fail "exit 0 for $*"
  [ "$(cat "$scratch/out" "$scratch/err" | grep -c ': error: ')" -eq 1 ] ||
    fail "not one error line for $*: $(cat "$scratch/out" "$scratch/err")"
  grep -q "^elmrun [a-z]*: error: .*$what" "$scratch/err" || fail "for $*: $(cat "$scratch/err")"
  ! grep -q "\[rank" "$scratch/err" || fail "rank prefix on an error of every rank: $(cat "$scratch/err")"
  ! grep -q "MPI_ABORT" "$scratch/out" "$scratch/err" || fail "job aborted for an error of every rank"
}
check_once "train.batch_size (3) must be a multiple of the 2 ranks" train --set train.batch_size=3 --out "$scratch/r1"
check_once "unknown model key 'bogus'" train --set model.bogus=1 --out "$scratch/r2"
printf '[sweep]\nconfig = nope.ini\n' > "$scratch/job.ini"
check_once "sweep.config 'nope.ini' not found" sweep "$scratch/job.ini" --out "$scratch/s"
echo "errors of every rank: one line each, exit 1, no abort"
