#!/usr/bin/env bash
# `elmrun prep neuronio` runs no code from a pickle. A hostile pickle among
# valid ones (os.system alone; subprocess.Popen inside a valid-looking
# NeuronIO dict; __import__ + getattr inside one's object array), with the C++
# reader (which refuses it and hands it to the Python converter) and with
# --python-unpickler: non-zero exit, one line on stderr naming the pickle and
# the forbidden global, no file at --out, no marker file. A clean tree
# converts to the same stores with either reader. About 25 s. (Every payload,
# nesting and protocol 0-5, in-process: analysis/tests/test_pickle_safety.py.)
source "$(dirname "$0")/lib.sh"
cases_py="$ELM_SOURCE_DIR/analysis/tests/pickle_cases.py"
raw="$scratch/raw"
markers="$scratch/markers"
mkdir -p "$markers"
/usr/bin/python3 "$cases_py" neuronio "$raw"

# A clean tree: both readers succeed and write the same stores.
for reader in cpp python; do
  flag=()
  [ $reader = cpp ] || flag=(--python-unpickler)
  "$ELMRUN" prep neuronio --in "$raw" --out "$scratch/ok_$reader" --jobs 2 "${flag[@]}" > "$scratch/ok.log" 2>&1 \
    || fail "clean tree failed with the $reader reader: $(tail -n 3 "$scratch/ok.log")"
done
/usr/bin/python3 - "$scratch/ok_cpp" "$scratch/ok_python" <<'EOF' || fail "the readers' stores differ"
import sys, h5py, numpy as np
for split in ("train", "valid", "test"):
    a, b = (h5py.File(f"{d}/{split}.h5", "r") for d in sys.argv[1:3])
    assert dict(a.attrs) == dict(b.attrs), split
    names = []
    a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    assert names, split
    for n in names:
        assert np.array_equal(a[n][()], b[n][()]), (split, n)
EOF

# Hostile pickles: the first train file (full_ergodic_train_batch_2), so that
# nothing would be committed before it.
cases="system-alone-p0 popen-params-p2 import_chain-object_array-p5"
/usr/bin/python3 "$cases_py" hostile "$scratch/hostile" "$markers" $cases > "$scratch/cases.tsv"
[ "$(wc -l < "$scratch/cases.tsv")" -eq 3 ] || fail "expected 3 cases: $(cat "$scratch/cases.tsv")"
evil="$raw/full_ergodic_train_batch_2/sim__00_evil.p"
while IFS=$'\t' read -r name globals; do
  cp "$scratch/hostile/$name.p" "$evil"
  for reader in cpp python; do
    flag=()
    [ $reader = cpp ] || flag=(--python-unpickler)
    out="$scratch/out_${name}_$reader"
    set +e
    "$ELMRUN" prep neuronio --in "$raw" --out "$out" --jobs 2 "${flag[@]}" > "$scratch/stdout" 2> "$scratch/stderr"
    rc=$?
    set -e
    what="$name ($reader reader)"
    [ $rc -ne 0 ] || fail "$what: exit 0"
    [ "$(wc -l < "$scratch/stderr")" -eq 1 ] || fail "$what: not one line on stderr: $(cat "$scratch/stderr")"
    grep -qF "$evil: cannot convert NeuronIO pickle: forbidden global " "$scratch/stderr" \
      || fail "$what: the line does not name the pickle and a forbidden global: $(cat "$scratch/stderr")"
    named=$(sed 's/.*: forbidden global \([^ ]*\) .*/\1/' "$scratch/stderr")
    case ",$globals," in *",$named,"*) ;; *) fail "$what: names $named, expected one of $globals" ;; esac
    [ -z "$(find "$out" -type f 2>/dev/null)" ] || fail "$what: files left at --out: $(find "$out" -type f)"
    [ -z "$(ls -A "$markers")" ] || fail "$what: the pickle ran code: $(ls "$markers")"
  done
done < "$scratch/cases.tsv"
sleep 0.3  # a command started in the background would have touched its marker by now
[ -z "$(ls -A "$markers")" ] || fail "a pickle ran code: $(ls "$markers")"

# Control: plain pickle.load of the same files does run their commands.
/usr/bin/python3 -c '
import pickle, sys
for p in sys.argv[1:]:
    try:
        pickle.load(open(p, "rb"))
    except Exception:
        pass' "$scratch"/hostile/*.p > /dev/null 2>&1
for t in $(seq 50); do [ "$(ls "$markers" | wc -l)" -eq 3 ] && break; sleep 0.1; done
[ "$(ls "$markers" | wc -l)" -eq 3 ] || fail "control: plain pickle.load ran $(ls "$markers" | wc -l) of 3 payloads"
echo "3 hostile pickles refused by both readers, nothing run; clean tree identical with either reader"
