#!/usr/bin/python3
"""Unpickle NeuronIO simulation files and stream their arrays to elmrun.

    /usr/bin/python3 neuronio_pickle_stream.py OUT PICKLE [PICKLE ...]

OUT is "-" for standard output (how `elmrun prep neuronio` runs it, one
process per pickle that its own C++ reader does not handle, or per pickle with
--python-unpickler) or a file path (written as OUT.tmp and renamed, so OUT is
complete or absent). Only numpy and the standard library are imported.

This is deliberately a thin step: it only undoes the pickling and hands over
each simulation's arrays as they are. Every check, the
binning into 1 ms steps and the dataset store are done by elmrun
(src/data/prep/neuronio_prep.cpp, neuronio_stream.cpp).

Input (Beniaguev et al. 2021, Kaggle "single-neurons-as-deep-nets-nmda-*"): a
pickled dict with
    Params.allSegmentsType            list, one entry per segment (639)
    Params.totalSimDurationInSec      6 for the released files
    Results.listOfSingleSimulationDicts[k]:
        exInputSpikeTimes, inhInputSpikeTimes   dict segment index -> spike times (ms)
        outputSpikeTimes                        array of output spike times (ms)
        somaVoltageLowRes                       soma voltage per ms (mV)
Older pickles need encoding='latin1' (tried when the default fails, as the
reference loader does).

Unpickling runs no code from the file: globals are resolved through an
allow-list (ALLOWED_GLOBALS: numpy's array, dtype and scalar reconstructors
under numpy 1 and numpy 2 module names, _codecs.encode with latin1 only, which
Python 3 writes for bytes under protocols 0-2, and builtin containers), never
by importing what the pickle names. Any other global (os.system, eval,
subprocess.Popen, ...) stops the file before anything is called, with the line
"neuronio_pickle_stream: PICKLE: forbidden global MODULE.NAME ...". Persistent
ids are refused as well.

Stream format "elm-neuronio-stream-1", little-endian, one block per pickle in
the order given:
    b"ELMNIO1\\0"
    u64 L, L bytes      the pickle's path (UTF-8)
    u64 num_segments    len(Params.allSegmentsType)
    f64 sim_duration_ms Params.totalSimDurationInSec * 1000
    u64 S               number of simulations
    S times:
        u64[6] counts   ex_keys, ex_spikes, inh_keys, inh_spikes, n_output, n_soma
        i64[ex_keys]    excitatory segment of each dict entry (dict order)
        i64[ex_keys]    number of spike times of that entry
        f64[ex_spikes]  the times in ms, entries concatenated in dict order
        the same three arrays for the inhibitory dict
        f64[n_output]   outputSpikeTimes
        f64[n_soma]     somaVoltageLowRes
    b"ELMNIEND"
No Python loop runs over spikes, only over dict entries.

On failure one line "neuronio_pickle_stream: PICKLE: reason" goes to stderr,
the stream stops (the reader sees it unfinished) and the exit status is 1.

With ELM_CONVERTER_TIMES=FILE set, one line per pickle is appended to FILE:
"PICKLE unpickle_cpu_s handoff_cpu_s" (process CPU time of pickle.load, and of
everything after it for that file), for `elmrun bench --convert-neuronio`.
"""
import codecs
import collections
import importlib
import os
import pickle
import sys
import time

import numpy as np

MAGIC = b"ELMNIO1\0"
END = b"ELMNIEND"


class ConvertError(Exception):
    pass


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global outside ALLOWED_GLOBALS (nothing was called)."""

    def __init__(self, module, name):
        self.global_name = f"{printable(module)}.{printable(name)}"
        super().__init__(f"forbidden global {self.global_name} (a NeuronIO pickle holds only numpy arrays, "
                         "numpy scalars and builtin containers; refused before running anything)")


def printable(text, limit=80):
    """A short one-line excerpt of a name from the file, for messages."""
    text = str(text)
    out = "".join(c if c.isprintable() and c.isascii() else "?" for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


def _numpy_module(name):
    """numpy's private module `name` (numpy 2: numpy._core.NAME, numpy 1: numpy.core.NAME)."""
    for package in ("numpy._core", "numpy.core"):
        try:
            return importlib.import_module(f"{package}.{name}")
        except ImportError:
            pass
    raise ImportError(f"numpy has neither numpy._core.{name} nor numpy.core.{name}")


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """_codecs.encode as Python 3 pickles bytes under protocols 0-2: encode(str, 'latin1') only."""
    if encoding not in ("latin1", "latin-1") or errors != "strict":
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {printable(encoding)!r} "
                                     "(only 'latin1', as pickle writes bytes, is allowed)")
    return codecs.encode(text, "latin1")


def _allowed_globals():
    """(module, name) as written in the pickle -> the object it stands for."""
    multiarray, numeric = _numpy_module("multiarray"), _numpy_module("numeric")
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): _latin1_encode,
               ("collections", "OrderedDict"): collections.OrderedDict}
    for core in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 write different names
        allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5 arrays
    for builtins_module in ("builtins", "__builtin__"):  # Python 3 and Python 2 (protocols 0-2) names
        for t in (bytes, bytearray, complex, set, frozenset):
            allowed[(builtins_module, t.__name__)] = t
    return allowed


ALLOWED_GLOBALS = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves globals only from ALLOWED_GLOBALS, by exact
    (module, name) as written in the file: no import, no attribute lookup, no
    Python 2 name mapping. Every callable a pickle can reach comes from there."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise ForbiddenGlobal(module, name) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent id in the pickle (not used by NeuronIO files)")


def load_pickle(path):
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f, encoding="ASCII").load()
        except UnicodeDecodeError:
            f.seek(0)
            return RestrictedUnpickler(f, encoding="latin1").load()


def spike_dict_arrays(d, what, k):
    """dict segment -> times  ==>  (keys int64, counts int64, times float64)."""
    if not isinstance(d, dict):
        raise ConvertError(f"simulation {k}: {what} is {type(d).__name__}, not a dict")
    if not d:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float64)
    keys = np.asarray(list(d.keys()))
    if keys.dtype.kind not in "iu":
        raise ConvertError(f"simulation {k}: {what} has non-integer segment keys ({keys.dtype})")
    values = list(d.values())
    times = None
    try:
        # Fast path (the released pickles: 1-D float arrays): one concatenate.
        counts = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        times = np.concatenate(values)
    except (TypeError, ValueError):
        pass
    if times is None or times.ndim != 1 or times.size != counts.sum() or times.dtype.kind not in "biuf":
        try:
            values = [np.asarray(v, dtype=np.float64).ravel() for v in values]
        except (TypeError, ValueError) as e:
            raise ConvertError(f"simulation {k}: {what}: spike times are not numbers ({e})")
        counts = np.fromiter((v.size for v in values), dtype=np.int64, count=len(values))
        times = np.concatenate(values)
    times = times.astype(np.float64, copy=False)
    return keys.astype(np.int64, copy=False), counts, times


def numeric(x, what, k):
    try:
        return np.ascontiguousarray(np.asarray(x, dtype=np.float64).ravel())
    except (TypeError, ValueError) as e:
        raise ConvertError(f"simulation {k}: {what} is not numeric ({e})")


def write_pickle(src, out, timing=None):
    t0 = time.process_time()
    try:
        data = load_pickle(src)
    except ForbiddenGlobal as e:
        raise ConvertError(str(e)) from None
    except Exception as e:  # unpickling errors come in many types
        raise ConvertError(f"cannot unpickle ({type(e).__name__}: {e})")
    try:
        params = data["Params"]
        sims = data["Results"]["listOfSingleSimulationDicts"]
        num_segments = len(params["allSegmentsType"])
        duration_ms = float(params["totalSimDurationInSec"]) * 1000.0
        num_sims = len(sims)
    except (KeyError, TypeError, ValueError) as e:
        raise ConvertError(f"not a NeuronIO simulation dict (missing or bad {e})")
    t1 = time.process_time()
    name = os.fsencode(src)
    out.write(MAGIC)
    out.write(np.array([len(name)], "<u8").tobytes() + name)
    out.write(np.array([num_segments], "<u8").tobytes() + np.array([duration_ms], "<f8").tobytes())
    out.write(np.array([num_sims], "<u8").tobytes())
    for k, sim in enumerate(sims):
        try:
            ex, inh = sim["exInputSpikeTimes"], sim["inhInputSpikeTimes"]
            output, soma = sim["outputSpikeTimes"], sim["somaVoltageLowRes"]
        except (KeyError, TypeError) as e:
            raise ConvertError(f"simulation {k}: missing {e}")
        ex_keys, ex_counts, ex_times = spike_dict_arrays(ex, "exInputSpikeTimes", k)
        inh_keys, inh_counts, inh_times = spike_dict_arrays(inh, "inhInputSpikeTimes", k)
        output = numeric(output, "outputSpikeTimes", k)
        soma = numeric(soma, "somaVoltageLowRes", k)
        counts = np.array([ex_keys.size, ex_times.size, inh_keys.size, inh_times.size, output.size, soma.size], "<u8")
        out.write(counts.tobytes())
        # Buffer-protocol writes: the arrays go out without a copy.
        for a in (ex_keys, ex_counts, ex_times, inh_keys, inh_counts, inh_times, output, soma):
            if a.size:
                out.write(memoryview(np.ascontiguousarray(a)).cast("B"))
    out.write(END)
    if timing is not None:
        out.flush()
        timing.write(f"{src} {t1 - t0:.6f} {time.process_time() - t1:.6f}\n")
        timing.flush()


def main(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: neuronio_pickle_stream.py OUT PICKLE [PICKLE ...]\n")
        return 2
    if sys.byteorder != "little":
        sys.stderr.write("neuronio_pickle_stream: the stream is little-endian; this host is not\n")
        return 1
    dst, sources = argv[1], argv[2:]
    tmp = None
    src = sources[0]
    try:
        if dst == "-":
            out = sys.stdout.buffer
        else:
            tmp = dst + ".tmp"
            out = open(tmp, "wb")
        times_path = os.environ.get("ELM_CONVERTER_TIMES")
        timing = open(times_path, "a") if times_path else None
        for src in sources:
            write_pickle(src, out, timing)
        out.flush()
        if tmp is not None:
            out.close()
            os.replace(tmp, dst)
            tmp = None
    except ConvertError as e:
        msg = str(e).replace("\n", " ")
        sys.stderr.write(f"neuronio_pickle_stream: {src}: {msg}\n")
        return 1
    except BrokenPipeError:
        return 1  # the reader stopped (it reports its own error)
    except Exception as e:
        msg = str(e).replace("\n", " ")
        sys.stderr.write(f"neuronio_pickle_stream: {src}: {type(e).__name__}: {msg}\n")
        return 1
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
