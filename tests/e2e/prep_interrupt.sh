#!/usr/bin/env bash
# A signal during `elmrun prep` into a directory that already holds a complete
# store: prep exits 128 + signal with one line on stderr, soon after the
# signal, leaving no temporary file, the earlier store byte-identical and no
# converter process. Three cases:
#   neuronio, SIGTERM: Python converters (--python-unpickler -j 1), stopped in
#     the valid split, after train was complete (one converter still running);
#   fmnist, SIGINT: the IDX reader, stopped at its first sample;
#   synthetic_neuron, SIGUSR2: a generator that commits split after split,
#     stopped in valid, after train was complete.
# The interrupted prep reads other inputs than the earlier one, so installing
# any of its splits would change a file. The signal is sent at a known point:
# ELM_TEST_PREP_PAUSE_AT_SAMPLE=N makes the N-th sample written wait for a
# stop signal; the script waits for the temporary files (and the converter)
# to exist, by polling the file system and the process list, then signals.
# Also checked: a first prep removes a stale temporary file of this host
# whose process has ended, and keeps those of running processes and other hosts.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy"; exit 77; }
command -v pgrep > /dev/null || { echo "SKIP: no pgrep"; exit 77; }
host=$(hostname)
max_stop_ms=${ELM_PREP_STOP_MAX_MS:-5000}  # the bound checked; the measured time is printed

# Every file under $1 with its md5 sum, sorted by path.
snapshot() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r md5sum); }

# wait_until SECONDS PID DESCRIPTION COMMAND...: polls COMMAND every 20 ms
# until it succeeds; fails after SECONDS or as soon as process PID has ended.
wait_until() {
  local limit=$1 pid=$2 what=$3 t=0
  shift 3
  until "$@" > /dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || fail "prep ended before $what"
    sleep 0.02
    t=$((t + 1))
    [ $t -lt $((limit * 50)) ] || fail "waited ${limit}s for $what"
  done
}
exists() { compgen -G "$1"; }

# interrupt NAME SIGNAL PAUSE_AT OUT WAIT_GLOB CHILD_PATTERN PREP_ARGS...: runs
# `elmrun prep PREP_ARGS --out OUT` that pauses at sample PAUSE_AT, waits for a
# file matching WAIT_GLOB (and a process matching CHILD_PATTERN, if not
# empty), sends SIGNAL and checks what it left.
interrupt() {
  local name=$1 sig=$2 pause=$3 out=$4 wait_glob=$5 child=$6
  shift 6
  local before after pid status t0 ms signum
  signum=$(kill -l "$sig")
  before=$(snapshot "$out")
  [ -n "$before" ] || fail "$name: no earlier store in $out"
  ELM_TEST_PREP_PAUSE_AT_SAMPLE=$pause "$ELMRUN" prep "$@" --out "$out" > "$scratch/$name.log" 2> "$scratch/$name.err" &
  pid=$!
  wait_until 120 $pid "a temporary file $wait_glob" exists "$wait_glob"
  [ -z "$child" ] || wait_until 120 $pid "a converter process '$child'" pgrep -f "$child"
  t0=$(date +%s%N)
  kill -s "$sig" $pid
  set +e; wait $pid; status=$?; set -e
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ $status -eq $((128 + signum)) ] || fail "$name: exit status $status, expected $((128 + signum)): $(cat "$scratch/$name.err")"
  [ "$(cat "$scratch/$name.err")" = "elmrun prep: interrupted by signal $signum; nothing written to $out" ] \
    || fail "$name: stderr is not the one line expected: $(cat "$scratch/$name.err")"
  [ -z "$(find "$out" -name '*.tmp-*')" ] || fail "$name: temporary files left: $(find "$out" -name '*.tmp-*')"
  after=$(snapshot "$out")
  [ "$after" = "$before" ] || fail "$name: $out changed: $(diff <(echo "$before") <(echo "$after"))"
  ! pgrep -af "$scratch" || fail "$name: processes left (above)"
  [ $ms -le $max_stop_ms ] || fail "$name: stopped ${ms} ms after SIG$sig (bound $max_stop_ms ms)"
  echo "$name: SIG$sig -> exit $status after ${ms} ms, $out unchanged"
}

# ---- neuronio, Python converters, SIGTERM -----------------------------------------
# 9 train files (2 simulations each), 3 valid, 1 test; the second prep pauses
# at the first valid simulation (sample 19). With one worker and 3 valid files
# the converter of valid file 3 is started (one file ahead) while it pauses,
# and its stream (~0.5 MB) outgrows the pipe: it is still running.
/usr/bin/python3 "$ELM_SOURCE_DIR/scripts/make_neuronio_bench_pickle.py" "$scratch/sim.p" 2 > /dev/null
make_raw() {
  local raw=$1 b f
  for b in 2 3 4 5 6 7 8 9 10; do mkdir -p "$raw/full_ergodic_train_batch_$b"; ln "$scratch/sim.p" "$raw/full_ergodic_train_batch_$b/sim__1.p"; done
  mkdir -p "$raw/full_ergodic_train_batch_1" "$raw/Data_test"
  for f in 1 2 3; do ln "$scratch/sim.p" "$raw/full_ergodic_train_batch_1/sim__$f.p"; done
  ln "$scratch/sim.p" "$raw/Data_test/sim__1.p"
}
make_raw "$scratch/neuronio_a"
make_raw "$scratch/neuronio_b"
out=$scratch/neuronio_out
mkdir -p "$out"
sh -c 'exit 0' & dead=$!
wait $dead
printf x > "$out/train.h5.tmp-$host-$dead"  # stale: this host, process ended
printf x > "$out/test.h5.tmp-$host-$$"      # this shell's: running
printf x > "$out/test.h5.tmp-another-host-$dead"
"$ELMRUN" prep neuronio --in "$scratch/neuronio_a" --out "$out" > "$scratch/neuronio_first.log" \
  || fail "first neuronio prep failed"
[ ! -e "$out/train.h5.tmp-$host-$dead" ] || fail "the stale temporary file was not removed"
grep -q "removed $out/train.h5.tmp-$host-$dead" "$scratch/neuronio_first.log" || fail "no line on the stale file"
[ -e "$out/test.h5.tmp-$host-$$" ] || fail "a running process's temporary file was removed"
[ -e "$out/test.h5.tmp-another-host-$dead" ] || fail "another host's temporary file was removed"
rm "$out/test.h5.tmp-$host-$$" "$out/test.h5.tmp-another-host-$dead"
[ "$(cd "$out" && ls)" = "$(printf 'test.h5\ntrain.h5\nvalid.h5')" ] || fail "first prep wrote: $(ls "$out")"
interrupt neuronio TERM 19 "$out" "$out/valid.h5.tmp-*" \
  "neuronio_pickle_stream.py - $scratch/neuronio_b/full_ergodic_train_batch_1/sim__3.p" \
  neuronio --in "$scratch/neuronio_b" --python-unpickler --jobs 1

# ---- fmnist, SIGINT -----------------------------------------------------------------
# 5003 training images (the CLI keeps 5000 for valid) and 2 test images, raw IDX.
make_fmnist() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import os, struct, sys
import numpy as np
d, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
os.makedirs(d, exist_ok=True)
for prefix, n in (("train", 5003), ("t10k", 2)):
    with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes())
    with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + rng.integers(0, 10, n, dtype=np.uint8).tobytes())
EOF
}
make_fmnist "$scratch/fmnist_a" 1
make_fmnist "$scratch/fmnist_b" 2
out=$scratch/fmnist_out
"$ELMRUN" prep fmnist --in "$scratch/fmnist_a" --out "$out" > /dev/null || fail "first fmnist prep failed"
interrupt fmnist INT 1 "$out" "$out/test.h5.tmp-*" "" fmnist --in "$scratch/fmnist_b"

# ---- synthetic_neuron, SIGUSR2 ----------------------------------------------------
# Its generator commits train before it writes valid: paused at valid's first sample.
sets=(--set train_simulations=3 --set valid_simulations=3 --set test_simulations=2 --set duration_ms=500)
out=$scratch/synthetic_out
"$ELMRUN" prep synthetic_neuron "${sets[@]}" --set seed=1 --out "$out" > /dev/null || fail "first synthetic prep failed"
interrupt synthetic_neuron USR2 4 "$out" "$out/valid.h5.tmp-*" "" synthetic_neuron "${sets[@]}" --set seed=2

# ---- nothing left when OUT did not exist before ----------------------------------------
ELM_TEST_PREP_PAUSE_AT_SAMPLE=1 "$ELMRUN" prep fmnist --in "$scratch/fmnist_b" --out "$scratch/new_out" \
  > /dev/null 2> "$scratch/new.err" &
pid=$!
wait_until 120 $pid "a temporary file in a new directory" exists "$scratch/new_out/test.h5.tmp-*"
kill -TERM $pid
set +e; wait $pid; status=$?; set -e
[ $status -eq 143 ] || fail "new directory: exit status $status: $(cat "$scratch/new.err")"
[ ! -e "$scratch/new_out" ] || fail "an interrupted prep left the directory it created: $(ls -A "$scratch/new_out")"
echo "new directory: SIGTERM -> exit 143, directory removed"
