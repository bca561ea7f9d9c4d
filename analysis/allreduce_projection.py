#!/usr/bin/python3
"""The all-reduce share of a data-parallel step at many ranks, projected from
measured all-reduce times (docs/cluster.md, "All-reduce across hosts").

    analysis/allreduce_projection.py --measured 27316:55.8 216016:391 \
        --model neuronio_dm15:27316:3.3 --model listops_dm100:181328:93 [--ranks 8 64 512] [--gbps 100]

--measured BYTES:MICROSECONDS are 2-rank all-reduce times (`elmrun bench
--ranks` over 2 hosts: allreduce_bytes, allreduce_us). They are fitted to the
cost of a 2-rank all-reduce, 2 alpha + S / beta, for the per-message cost alpha.
--model NAME:BYTES:MS is a model's gradient all-reduce size and one rank's
compute time per step (its own batch; ranks keep their batch as they are added).
At W ranks the all-reduce (reduce-scatter then all-gather, recursive halving and
doubling) costs 2 log2(W) alpha + 2 (W-1)/W S / B on a network of B = --gbps.
"""

from __future__ import annotations

import argparse
import math
import sys


def fit_alpha_beta(points):
    """Least squares of t = 2 alpha + s / beta over (bytes, seconds); returns (alpha s, beta B/s)."""
    n = len(points)
    if n < 2 or len({s for s, _ in points}) < 2:
        raise ValueError("need measurements at two or more sizes")
    ms = sum(s for s, _ in points) / n
    mt = sum(t for _, t in points) / n
    slope = sum((s - ms) * (t - mt) for s, t in points) / sum((s - ms) ** 2 for s, _ in points)
    intercept = mt - slope * ms
    if slope <= 0:
        raise ValueError("the measured time does not grow with the size: too noisy to fit")
    return max(intercept, 0.0) / 2, 1 / slope


def allreduce_seconds(ranks, size_bytes, alpha, bandwidth):
    if ranks < 2:
        return 0.0
    return 2 * math.ceil(math.log2(ranks)) * alpha + 2 * (ranks - 1) / ranks * size_bytes / bandwidth


def parse_pair(text, what, count):
    parts = text.split(":")
    if len(parts) != count:
        raise ValueError(f"{what} '{text}': expected {count} fields separated by ':'")
    return parts


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--measured", nargs="+", required=True, metavar="BYTES:US")
    p.add_argument("--model", action="append", required=True, metavar="NAME:BYTES:MS")
    p.add_argument("--ranks", type=int, nargs="+", default=[8, 64, 512])
    p.add_argument("--gbps", type=float, default=100.0, help="network bandwidth in Gb/s [100]")
    a = p.parse_args(argv)
    try:
        points = [(float(b), float(us) * 1e-6) for b, us in (parse_pair(m, "--measured", 2) for m in a.measured)]
        alpha, beta = fit_alpha_beta(points)
        models = [(n, float(b), float(ms) * 1e-3) for n, b, ms in (parse_pair(m, "--model", 3) for m in a.model)]
    except ValueError as e:
        print(f"allreduce_projection.py: error: {e}", file=sys.stderr)
        return 2
    bandwidth = a.gbps * 1e9 / 8
    print(f"fit: alpha = {alpha * 1e6:.3g} us per message, measured link {beta / 1e9:.3g} GB/s; "
          f"projected on {a.gbps:g} Gb/s = {bandwidth / 1e9:.3g} GB/s")
    print("| model | gradient bytes | compute ms/step | " + " | ".join(f"{w} ranks" for w in a.ranks) + " |")
    print("|---|---|---|" + "---|" * len(a.ranks))
    for name, size, step in models:
        cells = []
        for w in a.ranks:
            t = allreduce_seconds(w, size, alpha, bandwidth)
            cells.append(f"{t * 1e6:.3g} us = {100 * t / (t + step):.2g} %")
        print(f"| {name} | {size:.0f} | {step * 1e3:.3g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
