#!/usr/bin/env bash
# Seeded random interruptions of train and sweep on 1 and 2 ranks, through
# elmrun alone and mpirun, with SIGTERM, SIGUSR2 and kill -9 at every phase
# (tests/interrupt/random_interrupt.py; the seed is printed for a replay).
# ELM_INTERRUPT_COUNT / ELM_INTERRUPT_SEED choose how many and which.
source "$(dirname "$0")/common.sh"
args=(--count "${ELM_INTERRUPT_COUNT:-14}" --launchers none,mpirun)
[ -z "${ELM_INTERRUPT_SEED:-}" ] || args+=(--seed "$ELM_INTERRUPT_SEED")
exec /usr/bin/python3 "$ELM_SOURCE_DIR/tests/interrupt/random_interrupt.py" "${args[@]}"
