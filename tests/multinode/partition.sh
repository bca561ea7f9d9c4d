#!/usr/bin/env bash
# A network partition between two hosts in the middle of an all-reduce: one
# data-parallel run with a rank on node1 and one on node2 (srun -N 2), both
# held before the all-reduce of step 301; the link between the two hosts is
# cut (both still reach the controller, so Slurm sees nothing wrong) and the
# ranks are released into the all-reduce. With ELMRUN_COLLECTIVE_TIMEOUT=15
# the job must end within 45 s of the release (15 s wait, 5 s probe, 3 s
# error agreement, the abort) with one error line naming the silent rank and
# its host, and a non-zero exit.
source "$(dirname "$0")/lib.sh"
write_small_job "$scratch" 100000 2
export ELMRUN_COLLECTIVE_TIMEOUT=15
ELM_TEST_HOLD=step@301 ELM_TEST_HOLD_FILE="$scratch/held" ELM_TEST_HOLD_SECONDS=120 \
  ELM_TEST_HOLD_RELEASE_FILE="$scratch/released" \
  timeout 150 srun -N 2 -w node1,node2 -n 2 --mpi=pmix --kill-on-bad-exit=1 "$ELMRUN" train \
  --config "$scratch/base.ini" --out "$scratch/run" > "$scratch/srun.log" 2>&1 &
srun_pid=$!
# Both ranks held: two lines in the hold file.
t=0
until [ "$(cat "$scratch/held" 2>/dev/null | wc -l)" -ge 2 ]; do
  kill -0 $srun_pid 2>/dev/null || fail "srun ended before the hold: $(tail -5 "$scratch/srun.log")"
  sleep 0.2; t=$((t + 1))
  [ $t -lt 600 ] || fail "ranks not held within 120 s"
done
partition_hosts node1 node2
start=$(date +%s)
touch "$scratch/released"
rc=0
wait $srun_pid || rc=$?
took=$(( $(date +%s) - start ))
echo "srun exited $rc, $took s after the ranks entered the all-reduce"
[ $rc -ne 0 ] || fail "srun exited 0 across a partition"
[ $rc -ne 124 ] || fail "hung: srun still running 150 s after the start: $(tail -5 "$scratch/srun.log")"
[ $took -le 45 ] || fail "took $took s, over the 45 s bound"
errors=$(grep "error: \[rank" "$scratch/srun.log" || true)
[ "$(echo "$errors" | grep -c .)" -eq 1 ] || fail "not one error line: $(cat "$scratch/srun.log" | grep -v '^step')"
echo "$errors" | grep -q "an all-reduce waited 15 s .*no answer from rank [01] (node[12])" ||
  fail "the error line does not name the silent rank and host: $errors"
echo "$errors"
