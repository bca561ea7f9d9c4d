# Shared by the Slurm tests: the box started by the slurm.start fixture
# (scripts/slurm_box.sh), a scratch dir, submit.py with job-id bookkeeping, and
# cleanup that cancels this test's jobs before removing its files
# (ELM_SLURM_KEEP=1 keeps the scratch dir for a look afterwards).
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/common.sh"
if ! command -v slurmctld > /dev/null && [ ! -x /usr/sbin/slurmctld ]; then
  echo "SKIP: slurmctld is not installed (scripts/setup.sh installs it)"
  exit 77
fi
: "${ELM_SLURM_STATE:?set ELM_SLURM_STATE to the Slurm box state dir (the slurm.start test starts it)}"
[ -s "$ELM_SLURM_STATE/env" ] || fail "no Slurm box in $ELM_SLURM_STATE (run the slurm.start test first)"
source "$ELM_SLURM_STATE/env"
SUBMIT=(/usr/bin/python3 "$ELM_SOURCE_DIR/slurm/submit.py" --elmrun "$ELMRUN")
# The multinode tests use their own prefix: slurm.stop looks for leftovers by this one.
scratch=$(mktemp -d "/tmp/${ELM_SCRATCH_PREFIX:-elm-slurm}-XXXXXX")
test_start=$(date +%s)
our_jobs=()
cleanup() {
  local rc=$? t
  if [ ${#our_jobs[@]} -gt 0 ]; then
    scancel "${our_jobs[@]}" 2>/dev/null || true
    for t in $(seq 75); do
      [ -n "$(squeue -h -j "$(IFS=,; echo "${our_jobs[*]}")" 2>/dev/null)" ] || break
      sleep 0.2
    done
  fi
  kill_background_jobs
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for f in "$scratch"/*/slurm/logs/*; do
      [ -e "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
    done
  fi
  [ -n "${ELM_SLURM_KEEP:-}" ] || rm -rf "$scratch"
  echo "took $(( $(date +%s) - test_start )) s"
}
trap cleanup EXIT

# submit ARGS...: runs submit.py (output in $scratch/submit.out); the job ids
# it printed go to the array `submitted` and to the jobs cancelled on exit.
submit() {
  "${SUBMIT[@]}" "$@" > "$scratch/submit.out" 2>&1 || fail "submit.py $*: $(cat "$scratch/submit.out")"
  submitted=($(sed -n 's/^submitted \(summary \)\{0,1\}job \([0-9]*\).*/\2/p' "$scratch/submit.out"))
  [ ${#submitted[@]} -gt 0 ] || fail "submit.py printed no job id: $(cat "$scratch/submit.out")"
  our_jobs+=("${submitted[@]}")
}

# wait_jobs SECONDS ID...: until none of the jobs is pending, running or completing.
wait_jobs() {
  local limit=$1 t=0
  shift
  local list
  list=$(IFS=,; echo "$*")
  while [ -n "$(squeue -h -j "$list" 2>/dev/null)" ]; do
    sleep 0.5; t=$((t + 1))
    [ $t -lt $((limit * 2)) ] || fail "jobs $* still queued after ${limit}s: $(squeue -h -j "$list" -o '%i %T %r' | tr '\n' ';')"
  done
}

# job_states ID: one JobState per job (one per array task).
job_states() { scontrol show job -o "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

# md5 sums of every file below the given run directories.
run_sums() { find "$@" -type f -print0 | sort -z | xargs -0 md5sum; }

