#!/usr/bin/python3
"""Time full training steps of the PyTorch ELM port on the `elmrun bench` workloads.

The baseline for `elmrun bench`: the same workloads (shapes, variant, routing,
tau ranges, delta_t, activation, loss, Adam lr 1e-4; mirrored from
src/bench/workloads.cpp) run through elm_torch.ElmTorch, which computes like
the published reference (TorchScript per-step loop, dense input). One step =
forward over the whole sequence, loss, backward, optimizer step. Inputs are
random, of the workload's kind, as a DENSE float32 tensor [B, T, n_in] (what the
reference consumes): +-1 spikes at 1% density, binary spikes at 5%, or one
token per step as a one-hot of width n_in. Targets are random (labels uniform;
NeuronIO spike targets 1% ones, soma targets standard normal).

One warm-up step, then steps are timed until both --min-steps and
--min-seconds are reached (cuda: synchronised before and after). One line per
workload, in the format of `elmrun bench`:

  workload=NAME backend=torch-cpu threads=N batch=B steps=T ms_per_step=X.XXX sample_steps_per_s=Y timed_steps=K

`all` skips the GPU-sized workloads (pathfinder_dm150, pathx_dm150) on the CPU;
name them explicitly to run them there anyway. --flush-denormal (off by default,
like the reference) flushes subnormal floats; lines then end in flush_denormal=1.

Example:
  /usr/bin/python3 analysis/bench_torch_reference.py --workload neuronio_dm15 listops_dm100 --threads 1
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elm_torch import ElmTorch, last_step_ce_loss, neuronio_loss  # noqa: E402


def _neuronio(dm, act):
    return dict(variant="v1", num_input=1278, num_output=2, num_memory=dm, num_branch=45,
                num_synapse_per_branch=100, input_to_synapse_routing="neuronio_routing",
                memory_tau_min=1.0, memory_tau_max=150.0, mlp_activation=act)


def _plain(variant, n_in, dm, d_o, tau_max, dt, **extra):
    return dict(variant=variant, num_input=n_in, num_output=d_o, num_memory=dm,
                memory_tau_min=1.0, memory_tau_max=tau_max, delta_t=dt, **extra)


# name -> (model config, batch, steps, loss, input kind, density, gpu_sized); as src/bench/workloads.cpp
WORKLOADS = {
    "neuronio_dm15": (_neuronio(15, "relu"), 8, 500, "neuronio", "pm_spikes", 0.01, False),
    "neuronio_dm100": (_neuronio(100, "silu"), 8, 500, "neuronio", "pm_spikes", 0.01, False),
    "shd_dm100": (_plain("v1", 700, 100, 20, 500.0, 10.0), 8, 100, "ce", "spikes", 0.05, False),
    "shdadd_dm100": (_plain("v1", 700, 100, 19, 500.0, 10.0), 8, 200, "ce", "spikes", 0.05, False),
    "listops_dm100": (_plain("v2", 20, 100, 10, 1000.0, 1.0), 8, 2000, "ce", "tokens", 0.0, False),
    "sfmnist_dm64": (_plain("v1", 16, 64, 10, 1000.0, 1.0), 32, 196, "ce", "tokens", 0.0, False),
    "pathfinder_dm150": (_plain("v2", 16, 150, 2, 1000.0, 1.0), 384, 1024, "ce", "tokens", 0.0, True),
    "pathx_dm150": (_plain("v2", 8, 150, 2, 2e4, 1.0, tau_b_value=150.0), 64, 16384, "ce", "tokens", 0.0, True),
}


def make_input(kind, B, T, n, density, gen):
    if kind == "tokens":
        ids = torch.randint(n, (B, T), generator=gen)
        return torch.nn.functional.one_hot(ids, n).to(torch.float32)
    on = (torch.rand(B, T, n, generator=gen) < density).to(torch.float32)
    if kind == "pm_spikes":
        sign = torch.where(torch.rand(B, T, n, generator=gen) < 0.5, -1.0, 1.0)
        on = on * sign
    return on


def bench(name, device, threads, min_seconds, min_steps, flush=False):
    cfg, B, T, loss_kind, kind, density, _ = WORKLOADS[name]
    torch.manual_seed(1)
    model = ElmTorch.from_config(cfg).to(device)
    gen = torch.Generator().manual_seed(2)
    n_in, d_o = cfg["num_input"], cfg["num_output"]
    X = make_input(kind, B, T, n_in, density, gen).to(device)
    labels = torch.randint(d_o, (B,), generator=gen).to(device)
    spike = (torch.rand(B, T, generator=gen) < 0.01).to(torch.float32).to(device)
    soma = torch.randn(B, T, generator=gen).to(device)
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-4)

    def one_step():
        opt.zero_grad(set_to_none=True)
        Y = model(X)
        loss = neuronio_loss(Y, spike, soma) if loss_kind == "neuronio" else last_step_ce_loss(Y, labels)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    # warm-up: allocations, and TorchScript's profiling executor optimises on the first calls
    one_step()
    sync()
    n, t0 = 0, time.perf_counter()
    elapsed = 0.0
    while n < min_steps or elapsed < min_seconds:
        one_step()
        sync()
        n += 1
        elapsed = time.perf_counter() - t0
    ms = 1e3 * elapsed / n
    backend = "torch-cuda" if device == "cuda" else "torch-cpu"
    print(f"workload={name} backend={backend} threads={threads} batch={B} steps={T} ms_per_step={ms:.3f} "
          f"sample_steps_per_s={B * T / (ms * 1e-3):.4g} timed_steps={n}" + (" flush_denormal=1" if flush else ""),
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", nargs="+", default=["all"], metavar="NAME",
                    help="workload names, or 'all' (known: " + ", ".join(WORKLOADS) + ")")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--min-seconds", type=float, default=2.0, help="time at least this long per workload")
    ap.add_argument("--min-steps", type=int, default=3, help="time at least this many steps per workload")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--flush-denormal", action="store_true",
                    help="torch.set_flush_denormal(True) (CPU; off by default, as in the reference: "
                         "decaying traces reach subnormal floats, which slows shd-like workloads)")
    a = ap.parse_args()
    if a.threads < 1 or a.min_steps < 1 or a.min_seconds < 0:
        ap.error("--threads and --min-steps must be >= 1, --min-seconds >= 0")
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch has no CUDA device here")
    if a.workload == ["all"]:
        names = [n for n, w in WORKLOADS.items() if a.device == "cuda" or not w[6]]
    else:
        unknown = [n for n in a.workload if n not in WORKLOADS]
        if unknown:
            ap.error(f"unknown workload(s) {', '.join(unknown)} (known: {', '.join(WORKLOADS)}, or all)")
        names = a.workload
    torch.set_num_threads(a.threads)
    if a.flush_denormal and not torch.set_flush_denormal(True):
        ap.error("--flush-denormal: not supported on this CPU")
    for name in names:
        bench(name, a.device, a.threads, a.min_seconds, a.min_steps, a.flush_denormal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
