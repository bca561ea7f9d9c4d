#!/usr/bin/python3
"""Hostile and legitimate NeuronIO-like pickles for the pickle-safety tests
(analysis/tests/test_pickle_safety.py, tests/e2e/hostile_pickle.sh).

    /usr/bin/python3 analysis/tests/pickle_cases.py hostile DIR MARKER_DIR [CASE ...]
    /usr/bin/python3 analysis/tests/pickle_cases.py neuronio DIR

`hostile` writes DIR/<case>.p for every case (or the named ones) and prints
one line per case: "<case>\t<global>[,<global>...]", the globals of which the
refusal must name one. Each case, if unpickled by plain pickle.load, runs a
command that creates MARKER_DIR/<case>. `neuronio` writes a small valid
NeuronIO folder tree (full_ergodic_train_batch_1..10, Data_test) under DIR.
"""
import builtins
import collections
import io
import os
import pickle
import pickletools
import struct
import subprocess
import sys

import numpy as np

PROTOCOLS = range(0, pickle.HIGHEST_PROTOCOL + 1)


# ---------------------------------------------------------------- payloads
# Each class pickles (through __reduce__) as a call that creates `marker`.


class System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class Popen(System):
    def __reduce__(self):
        return (subprocess.Popen, (["/bin/sh", "-c", f"touch '{self.marker}'"],))


class CheckCall(System):
    def __reduce__(self):
        return (subprocess.check_call, (["touch", self.marker],))


class Eval(System):
    def __reduce__(self):
        return (builtins.eval, (f"__import__('os').system(\"touch '{self.marker}'\")",))


class Exec(System):
    def __reduce__(self):
        return (builtins.exec, (f"import os; os.system(\"touch '{self.marker}'\")",))


class _Import:
    """builtins.__import__('os')"""

    def __reduce__(self):
        return (builtins.__import__, ("os",))


class _Getattr:
    """getattr(__import__('os'), 'system'): a callable, as pickle requires of a reduce function."""

    def __call__(self, *args):
        raise AssertionError("never called while pickling")

    def __reduce__(self):
        return (builtins.getattr, (_Import(), "system"))


class ImportChain(System):
    def __reduce__(self):
        return (_Getattr(), (f"touch '{self.marker}'",))


class NumpyRunstring(System):
    """A gadget inside numpy itself: numpy.testing's runstring() is exec()."""

    def __reduce__(self):
        from numpy.testing._private.utils import runstring
        return (runstring, (f"import os; os.system(\"touch '{self.marker}'\")", {}))


# payload name -> (class, the globals a refusal may name: the first one in the file)
PAYLOADS = {
    "system": (System, {"os.system", "posix.system"}),
    # Protocols 0-2 write Python 2's names (subprocess -> commands), which Python 3 maps back.
    "popen": (Popen, {"subprocess.Popen", "commands.Popen"}),
    "check_call": (CheckCall, {"subprocess.check_call", "commands.check_call"}),
    "eval": (Eval, {"builtins.eval", "__builtin__.eval"}),
    "exec": (Exec, {"builtins.exec", "__builtin__.exec"}),
    "import_chain": (ImportChain, {"builtins.getattr", "__builtin__.getattr", "builtins.__import__",
                                   "__builtin__.__import__"}),
    "numpy_runstring": (NumpyRunstring, {"numpy.testing._private.utils.runstring"}),
}


# ---------------------------------------------------------------- NeuronIO-like content


def sim(ex, inh, out, soma, **extra):
    d = {"exInputSpikeTimes": ex, "inhInputSpikeTimes": inh, "outputSpikeTimes": out, "somaVoltageLowRes": soma}
    d.update(extra)
    return d


def experiment(sims, segments=639, seconds=6, **params):
    p = {"allSegmentsType": ["basal"] * segments, "totalSimDurationInSec": seconds}
    p.update(params)
    return {"Params": p, "Results": {"listOfSingleSimulationDicts": sims}}


def small_experiment(seconds=0.05):
    """Two simulations of `seconds` (50 ms: 50 soma values each), valid for elmrun prep."""
    steps = int(round(seconds * 1000))
    soma = -70.0 + 0.01 * np.arange(steps)
    return experiment([sim({0: np.array([1.0, 7.0]), 638: np.array([float(steps - 1)])}, {5: np.array([3.0])},
                           np.array([10.2]), soma),
                       sim({}, {2: np.array([4.0, 5.0])}, np.array([], np.float64), soma + 1.0)],
                      seconds=seconds)


def _in_params(p):
    e = small_experiment()
    e["Params"]["note"] = p
    return e


def _in_spikes(p):
    e = small_experiment()
    e["Results"]["listOfSingleSimulationDicts"][1]["exInputSpikeTimes"][3] = p
    return e


def _in_object_array(p):
    e = small_experiment()
    e["Results"]["listOfSingleSimulationDicts"][0]["extra"] = np.array([1, p], dtype=object)
    return e


# context name -> function(payload) -> the object to pickle
CONTEXTS = {
    "alone": lambda p: p,
    "dict": lambda p: {"a": 1, "payload": p},
    "list": lambda p: [1.0, "x", [p]],
    "params": _in_params,  # a valid NeuronIO dict with the payload as a Params value
    "spikes": _in_spikes,  # ... as one segment's spike times
    "object_array": _in_object_array,  # ... inside an object ndarray of a simulation
    "after_data": lambda p: dict(small_experiment(), zz_after=p),  # ... after all the valid data
}


def hostile_cases(marker_dir, names=None):
    """{case: (pickle bytes, globals a refusal may name)} for every payload x context x protocol,
    and three written by hand (the text GLOBAL opcode, a dotted name under an allowed module, a
    Python 2 builtins name)."""
    cases = {}
    for payload, (cls, globals_) in PAYLOADS.items():
        for context, wrap in CONTEXTS.items():
            for protocol in PROTOCOLS:
                name = f"{payload}-{context}-p{protocol}"
                if names and name not in names:
                    continue
                obj = wrap(cls(os.path.join(marker_dir, name)))
                cases[name] = (pickle.dumps(obj, protocol=protocol), globals_)

    def hand(name, data, globals_):
        if not names or name in names:
            cases[name] = (data, globals_)

    marker = os.path.join(marker_dir, "os_system_text_global").encode()
    hand("os_system_text_global", b"cos\nsystem\n(S'touch " + marker + b"'\ntR.", {"os.system"})
    # STACK_GLOBAL with a dotted name: an unrestricted protocol 4 unpickler walks the
    # attributes from the allowed-looking module "numpy" to an exec().
    marker = os.path.join(marker_dir, "numpy_dotted_name").encode()
    code = b"import os; os.system(\"touch '" + marker + b"'\")"

    def short(s):
        return b"\x8c" + bytes([len(s)]) + s

    hand("numpy_dotted_name",
         b"\x80\x04" + short(b"numpy") + short(b"testing._private.utils.runstring") + b"\x93"
         + short(code) + b"}\x86R.", {"numpy.testing._private.utils.runstring"})
    # A Python-2-style name that Python 3's fix_imports maps (__builtin__ -> builtins).
    marker = os.path.join(marker_dir, "py2_builtin_eval").encode()
    code = b"__import__('os').system(\"touch '" + marker + b"'\")"
    hand("py2_builtin_eval", b"\x80\x02c__builtin__\neval\nU" + bytes([len(code)]) + code + b"\x85R.",
         {"__builtin__.eval"})
    return cases


# ---------------------------------------------------------------- legitimate pickles


class Py2Pickler(pickle._Pickler):
    """Python 2's cPickle protocol 2: str and bytes both as Python 2 str (as the C++ reader's tests)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj):
        if isinstance(obj, str):
            try:
                data = obj.encode("latin1")
            except UnicodeEncodeError:  # a Python 2 unicode object
                return pickle._Pickler.save_str(self, obj)
        else:
            data = obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2str
    dispatch[str] = save_py2str


def py2_dumps(obj):
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    return f.getvalue()


def numpy2_names(data):
    """numpy.core -> numpy._core in GLOBAL and SHORT_BINUNICODE (frames dropped), as numpy 2 writes."""
    ops = list(pickletools.genops(data))
    out = bytearray()
    for k, (op, arg, pos) in enumerate(ops):
        chunk = data[pos:ops[k + 1][2] if k + 1 < len(ops) else pos + 1]
        if op.name == "FRAME":
            continue
        if op.name == "GLOBAL" and arg.startswith("numpy.core."):
            chunk = chunk.replace(b"numpy.core.", b"numpy._core.", 1)
        elif op.name == "SHORT_BINUNICODE" and arg.startswith("numpy.core."):
            s = arg.replace("numpy.core.", "numpy._core.", 1).encode()
            chunk = b"\x8c" + bytes([len(s)]) + s
        out += chunk
    assert b"numpy.core" not in out
    return bytes(out)


def rich_experiment():
    """Everything a NeuronIO-like file may hold: arrays of every kind and order, numpy
    scalars as keys and values, OrderedDict simulations, sets, complex, bytes."""
    rng = np.random.default_rng(5)
    ramp = -70.0 + 0.001 * np.arange(6000)
    ex = {0: np.array([5.0, 3.0]), 638: np.array([5999.0]), 7: np.array([], np.float64),
          np.int64(12): np.array([1.5, 2.25], np.float32), np.int32(13): np.array([4, 9], np.int32),
          np.uint16(14): np.array([100, -7], np.int64), 15: np.array([1, 0], np.int16),
          16: np.array([True, False]), 17: [1.5, 2, True], 18: (7.25,), 19: 8.5,
          20: rng.uniform(0, 6000, 300), 21: np.array([[1.0, 2.0], [3.0, 4.0]]), 22: np.array(9.5),
          23: np.arange(4, dtype=">f8"), 24: np.asfortranarray(np.ones((2, 3)))}
    inh = {np.int64(5): np.sort(rng.integers(0, 6000, 50)).astype(np.float64), 6: np.float32([0.1, 0.2])}
    extra = dict(somaVoltageHighRes=rng.normal(size=4800), note="caf\u00e9", tags={"a", "b"},
                 frozen=frozenset([1, 2]), z=1 + 2j, raw=b"\x00\xffab", empty=b"", buf=bytearray(b"xy"),
                 objects=np.array([1, "a", None], dtype=object), records=np.zeros(2, [("x", "<f8"), ("y", "<i4")]),
                 dt=np.dtype("f4"), big=2**70, flag=np.bool_(True), half=np.float16(1.5))
    return experiment([collections.OrderedDict(sim(ex, inh, np.array([10.2, 4000.7]), ramp, **extra)),
                       sim({}, {}, [], np.full(6000, -65.0)),
                       sim({3: np.array([12.7])}, {}, [1.0, 2.0], (ramp + 1.0).astype(np.float32))],
                      seconds=np.float32(6.0), name="caf\u00e9 \u2603", nested=[[1, [2]], {"k": None}])


def legitimate_pickles():
    """{name: bytes} of valid NeuronIO-like pickles: protocols 0-5, Python 2 style, numpy 2 names."""
    obj = rich_experiment()
    out = {f"rich_p{p}": pickle.dumps(obj, protocol=p) for p in PROTOCOLS}
    out["rich_p2_nofix"] = pickle.dumps(obj, protocol=2, fix_imports=False)
    for p in (2, 3, 4, 5):
        out[f"rich_p{p}_np2"] = numpy2_names(pickle.dumps(obj, protocol=p))
    py2 = rich_experiment()
    sim0 = py2["Results"]["listOfSingleSimulationDicts"][0]
    for key in ("objects", "raw", "empty", "buf"):  # not what Python 2 writes
        del sim0[key]
    out["rich_py2"] = py2_dumps(py2)
    return out


def write_neuronio_tree(root, seconds=0.05):
    """A valid NeuronIO folder tree with one small pickle per folder (protocol 2, as released)."""
    folders = [f"full_ergodic_train_batch_{b}" for b in range(1, 11)] + ["Data_test"]
    for k, folder in enumerate(folders):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        with open(os.path.join(root, folder, f"sim__{k:02d}.p"), "wb") as f:
            pickle.dump(small_experiment(seconds), f, protocol=2)


def main(argv):
    if len(argv) >= 3 and argv[1] == "neuronio":
        write_neuronio_tree(argv[2])
        return 0
    if len(argv) >= 4 and argv[1] == "hostile":
        out, markers = argv[2], argv[3]
        os.makedirs(out, exist_ok=True)
        for name, (data, globals_) in hostile_cases(markers, set(argv[4:]) or None).items():
            with open(os.path.join(out, name + ".p"), "wb") as f:
                f.write(data)
            print(f"{name}\t{','.join(sorted(globals_))}")
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
