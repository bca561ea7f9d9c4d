#!/usr/bin/env bash
# The random interruptions of tests/e2e/interrupt_random.sh through srun on the
# suite's Slurm: SIGTERM, SIGUSR2 and kill -9 to an `srun --mpi=pmix` step of
# train or sweep on 1 and 2 ranks.
source "$(dirname "$0")/lib.sh"
args=(--count "${ELM_INTERRUPT_COUNT:-8}" --launchers srun)
[ -z "${ELM_INTERRUPT_SEED:-}" ] || args+=(--seed "$ELM_INTERRUPT_SEED")
/usr/bin/python3 "$ELM_SOURCE_DIR/tests/interrupt/random_interrupt.py" "${args[@]}"
