#!/usr/bin/env bash
# kill -9 right after a run wrote DONE, before its checkpoints/ went: the
# rerun (train's refusal of a completed run, or the sweep's next pass) removes
# them, and the runs come out bit-identical to uninterrupted ones
# (tests/interrupt/random_interrupt.py with fixed cases).
source "$(dirname "$0")/common.sh"
exec /usr/bin/python3 "$ELM_SOURCE_DIR/tests/interrupt/random_interrupt.py" \
  --case none,1,train,KILL,after_done@240 --case none,1,sweep,KILL,after_done@240 \
  --case mpirun,2,sweep,KILL,after_done@240
