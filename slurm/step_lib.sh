# Shared by slurm/array.sbatch and slurm/mpi_sweep.sbatch: slurm/submit.py
# pastes this file in place of {{STEP_LIB}}, so every generated script stands
# alone. Needs MAX_REQUEUES.

say() { echo "[elmrun-slurm $(date '+%F %T')] $*"; }
# The batch shell must outlive a signal meant for the steps (scancel --full,
# preemption, a --signal with B:): note it and keep waiting for the step.
got_signal=0
trap 'got_signal=1; say "batch shell got SIGUSR2"' USR2
trap 'got_signal=1; say "batch shell got SIGTERM"' TERM
attempt=$((${SLURM_RESTART_COUNT:-0} + 1))

# wait_step PID: the step's exit status in rc. `wait` returns early when a
# trapped signal arrives: wait again while the step lives.
wait_step() {
  local step=$1 r
  while true; do
    got_signal=0
    wait "$step"
    rc=$?
    if [ "$got_signal" = 1 ]; then
      if kill -0 "$step" 2>/dev/null; then continue; fi
      wait "$step" 2>/dev/null
      r=$?
      [ $r -eq 127 ] || rc=$r
    fi
    break
  done
}

# finish RC DONE_MESSAGE WHAT_WAS_WRITTEN: exit 75 (interrupted after a
# checkpoint) requeues the job up to MAX_REQUEUES times; exits with RC.
finish() {
  local code=$1 done_message=$2 written=$3
  case $code in
    0) say "$done_message" ;;
    75)
      if [ "${SLURM_RESTART_COUNT:-0}" -lt "$MAX_REQUEUES" ]; then
        say "interrupted ($written written): requeueing, restart $attempt of at most $MAX_REQUEUES"
        if scontrol requeue "$SLURM_JOB_ID"; then exit 0; fi
        say "scontrol requeue failed: resubmit (slurm/submit.py ... --only-missing) to resume"
      else
        say "interrupted ($written written) after $MAX_REQUEUES requeues: resubmit (slurm/submit.py ... --only-missing) to resume"
      fi
      ;;
    *) say "elmrun exited $code" ;;
  esac
  exit "$code"
}
