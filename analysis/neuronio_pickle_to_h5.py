#!/usr/bin/python3
"""Unpickle ONE NeuronIO simulation file into a plain intermediate HDF5 file.

    /usr/bin/python3 neuronio_pickle_to_h5.py IN_PICKLE OUT_H5

This is deliberately a thin step: it only undoes the pickling (which C++ cannot
read) and lays the arrays out flat. Every check, the binning into 1 ms steps and
the dataset store are done by elmrun (src/data/prep/neuronio_prep.cpp).

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

Output layout (format "elm-neuronio-intermediate-1"); S = number of
simulations, every ragged quantity is a flat array plus int64 offsets [S + 1]
(simulation k owns rows offsets[k] .. offsets[k+1]):
    attrs  format            "elm-neuronio-intermediate-1"
           source            the pickle's path
           num_segments      int64, len(Params.allSegmentsType)
           sim_duration_ms   float64, Params.totalSimDurationInSec * 1000
           num_simulations   int64, S
    ex_segment   int64  [E]  segment index of each excitatory input spike
    ex_time_ms   float64[E]  its time in ms, as stored in the pickle
    ex_offsets   int64  [S+1]
    inh_segment, inh_time_ms, inh_offsets          the same for inhibitory inputs
    output_spike_ms  float64[O], output_offsets int64[S+1]   outputSpikeTimes
    soma_mV          float64[V], soma_offsets   int64[S+1]   somaVoltageLowRes
Spikes of one simulation keep the pickle's order: segments in dict order, each
segment's times in their stored order. No Python loop runs over spikes (only
over segments); arrays are joined with numpy.concatenate.

The file is written under OUT_H5.tmp and renamed, so OUT_H5 is complete or
absent. On failure one line "neuronio_pickle_to_h5: IN_PICKLE: reason" goes to
stderr and the exit status is 1.
"""
import os
import pickle
import sys

import h5py
import numpy as np

FORMAT = "elm-neuronio-intermediate-1"


class ConvertError(Exception):
    pass


def load_pickle(path):
    with open(path, "rb") as f:
        try:
            return pickle.load(f, encoding="ASCII")
        except UnicodeDecodeError:
            f.seek(0)
            return pickle.load(f, encoding="latin1")


def flatten_spike_dict(d, what, k):
    """dict segment -> times  ==>  (segment per spike, time per spike)."""
    if not isinstance(d, dict):
        raise ConvertError(f"simulation {k}: {what} is {type(d).__name__}, not a dict")
    if not d:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    keys = np.asarray(list(d.keys()))
    if keys.dtype.kind not in "iu":
        raise ConvertError(f"simulation {k}: {what} has non-integer segment keys ({keys.dtype})")
    values = list(d.values())
    if all(type(v) is np.ndarray and v.ndim == 1 and v.dtype.kind in "biuf" for v in values):
        # Fast path (the released pickles): one concatenate, no per-segment arrays.
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        return np.repeat(keys.astype(np.int64), lengths), np.concatenate(values).astype(np.float64, copy=False)
    try:
        times = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    except (TypeError, ValueError) as e:
        raise ConvertError(f"simulation {k}: {what}: spike times are not numbers ({e})")
    lengths = np.fromiter((t.size for t in times), dtype=np.int64, count=len(times))
    return np.repeat(keys.astype(np.int64), lengths), np.concatenate(times)


def ragged(parts, dtype):
    offsets = np.zeros(len(parts) + 1, np.int64)
    offsets[1:] = np.cumsum([p.size for p in parts])
    values = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
    return values, offsets


def convert(src, dst):
    try:
        data = load_pickle(src)
    except Exception as e:  # unpickling errors come in many types
        raise ConvertError(f"cannot unpickle ({type(e).__name__}: {e})")
    try:
        params = data["Params"]
        sims = data["Results"]["listOfSingleSimulationDicts"]
        num_segments = len(params["allSegmentsType"])
        duration_ms = float(params["totalSimDurationInSec"]) * 1000.0
    except (KeyError, TypeError, ValueError) as e:
        raise ConvertError(f"not a NeuronIO simulation dict (missing or bad {e})")
    parts = {n: [] for n in ("ex_segment", "ex_time_ms", "inh_segment", "inh_time_ms", "out", "soma")}
    for k, sim in enumerate(sims):
        try:
            ex, inh = sim["exInputSpikeTimes"], sim["inhInputSpikeTimes"]
            out, soma = sim["outputSpikeTimes"], sim["somaVoltageLowRes"]
        except (KeyError, TypeError) as e:
            raise ConvertError(f"simulation {k}: missing {e}")
        seg, t = flatten_spike_dict(ex, "exInputSpikeTimes", k)
        parts["ex_segment"].append(seg)
        parts["ex_time_ms"].append(t)
        seg, t = flatten_spike_dict(inh, "inhInputSpikeTimes", k)
        parts["inh_segment"].append(seg)
        parts["inh_time_ms"].append(t)
        try:
            parts["out"].append(np.asarray(out, dtype=np.float64).ravel())
            parts["soma"].append(np.asarray(soma, dtype=np.float64).ravel())
        except (TypeError, ValueError) as e:
            raise ConvertError(f"simulation {k}: outputSpikeTimes/somaVoltageLowRes not numeric ({e})")

    tmp = dst + ".tmp"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["source"] = src
            f.attrs["num_segments"] = np.int64(num_segments)
            f.attrs["sim_duration_ms"] = np.float64(duration_ms)
            f.attrs["num_simulations"] = np.int64(len(sims))
            for prefix in ("ex", "inh"):
                seg, off = ragged(parts[prefix + "_segment"], np.int64)
                t, _ = ragged(parts[prefix + "_time_ms"], np.float64)
                f.create_dataset(prefix + "_segment", data=seg)
                f.create_dataset(prefix + "_time_ms", data=t)
                f.create_dataset(prefix + "_offsets", data=off)
            v, off = ragged(parts["out"], np.float64)
            f.create_dataset("output_spike_ms", data=v)
            f.create_dataset("output_offsets", data=off)
            v, off = ragged(parts["soma"], np.float64)
            f.create_dataset("soma_mV", data=v)
            f.create_dataset("soma_offsets", data=off)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: neuronio_pickle_to_h5.py IN_PICKLE OUT_H5\n")
        return 2
    src, dst = argv[1], argv[2]
    try:
        convert(src, dst)
    except ConvertError as e:
        sys.stderr.write(f"neuronio_pickle_to_h5: {src}: {e}\n")
        return 1
    except Exception as e:
        msg = str(e).replace("\n", " ")
        sys.stderr.write(f"neuronio_pickle_to_h5: {src}: {type(e).__name__}: {msg}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
