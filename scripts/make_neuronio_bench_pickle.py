#!/usr/bin/python3
"""A NeuronIO-shaped pickle for `elmrun bench --convert-neuronio` (BENCHMARKS.md).

    /usr/bin/python3 scripts/make_neuronio_bench_pickle.py OUT.p [SIMULATIONS]

SIMULATIONS (default 128) x 6000 ms, 639 segments, excitatory and inhibitory spike dicts
(whole-ms float64 times, 1-6 Hz per segment, ~3.4 M spikes), output spikes and
a soma trace per ms; protocol 2 as the released files. 53.9 MB for 128
simulations, seed 0.
"""
import pickle, sys
import numpy as np
rng = np.random.default_rng(0)
S = int(sys.argv[2]) if len(sys.argv) > 2 else 128
T, SEG = 6000, 639
sims = []
total = 0
for k in range(S):
    d = {}
    for key in ("exInputSpikeTimes", "inhInputSpikeTimes"):
        rates = rng.uniform(1.0, 6.0, SEG)  # Hz per segment
        counts = rng.poisson(rates * T / 1000.0)
        dd = {}
        for s in range(SEG):
            dd[s] = np.sort(rng.integers(0, T, counts[s]).astype(np.float64))
        total += counts.sum()
        d[key] = dd
    d["outputSpikeTimes"] = np.sort(rng.uniform(0, T, rng.integers(0, 30))).astype(np.float64)
    d["somaVoltageLowRes"] = rng.normal(-70, 3, T)
    sims.append(d)
data = {"Params": {"allSegmentsType": ["basal"] * SEG, "totalSimDurationInSec": 6},
        "Results": {"listOfSingleSimulationDicts": sims}}
with open(sys.argv[1], "wb") as f:
    pickle.dump(data, f, protocol=2)
print("input spikes", total)
