#!/usr/bin/python3
"""A sweep directory of many runs in every state, for timing `elmrun status` (BENCHMARKS.md).

    /usr/bin/python3 scripts/make_status_bench_sweep.py OUT [--runs 10000]

Writes OUT/job.ini, OUT/manifest.tsv (two grid axes) and OUT/runs/<run_id>/
holding what elmrun leaves in each state (docs/sweeps.md): done runs with
config.json, log.txt, status, results.h5, checkpoint.h5 and DONE (the HDF5
files are empty placeholders: elmrun status never opens them, collect.py calls
such runs failed); failed runs with
FAILED; running runs with a fresh heartbeat; stale runs with one 10 minutes
old and a checkpoint; interrupted runs with a checkpoint and
state=interrupted; not-started runs with config.json only; and some run
directories that were never created. Prints the expected totals.
"""

import argparse
import os
import sys
import time

# Share of runs per state, in the order the runs cycle through them.
MIX = (("done", 55), ("failed", 5), ("running", 5), ("stale", 5), ("interrupted", 10), ("not_started", 15),
       ("absent", 5))


def status_text(state, step, steps, updated, checkpoint_step=0, reason=""):
    text = (f"state={state}\nstep={step}\nsteps={steps}\ncheckpoint_step={checkpoint_step}\nhost=node07\n"
            f"pid=4242\nstarted={updated - 100:.3f}\nupdated={updated:.3f}\n")
    return text + (f"reason={reason}\n" if reason else "")


def write(path, text=""):
    with open(path, "w") as f:
        f.write(text)


def checkpoint(run_dir, step):
    d = os.path.join(run_dir, "checkpoints", f"step_{step:08d}")
    os.makedirs(d)
    write(os.path.join(d, "state.h5"))
    write(os.path.join(d, "DONE"), f"step {step}\n")


def make_run(run_dir, state, index, now):
    steps = 4000
    if state == "absent":
        return
    os.makedirs(run_dir)
    write(os.path.join(run_dir, "config.json"), '{"model.num_memory":"%d","train.seed":"%d"}\n' % (index // 10, index % 10))
    if state == "not_started":
        return
    write(os.path.join(run_dir, "log.txt"), "step 1 loss 0.7\n")
    if state == "done":
        write(os.path.join(run_dir, "status"), status_text("done", steps, steps, now - 3600))
        for name in ("results.h5", "checkpoint.h5"):
            write(os.path.join(run_dir, name))
        write(os.path.join(run_dir, "DONE"), f"steps {steps}, test accuracy=0.7\n")
    elif state == "failed":
        write(os.path.join(run_dir, "status"), status_text("failed", 812, steps, now - 3600, 0, "loss NaN at step 812"))
        write(os.path.join(run_dir, "FAILED"), "loss NaN at step 812\n")
    elif state == "running":
        checkpoint(run_dir, 1000)
        write(os.path.join(run_dir, "status"), status_text("running", 1234, steps, now - 2, 1000))
    elif state == "stale":
        checkpoint(run_dir, 2000)
        write(os.path.join(run_dir, "status"), status_text("running", 2345, steps, now - 600, 2000))
    elif state == "interrupted":
        checkpoint(run_dir, 3000)
        write(os.path.join(run_dir, "status"), status_text("interrupted", 3000, steps, now - 60, 3000, "SIGTERM"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--runs", type=int, default=10000)
    a = p.parse_args(argv)
    if os.path.exists(a.out):
        sys.exit(f"{a.out} exists: give a new directory")
    os.makedirs(os.path.join(a.out, "runs"))
    write(os.path.join(a.out, "job.ini"), "[sweep]\nname = status_bench\nconfig = none.ini\n[grid]\n"
                                          "model.num_memory = ...\ntrain.seed = ...\n")
    cycle = [state for state, share in MIX for _ in range(share)]
    now = time.time()
    counts = {}
    lines = ["index\trun_id\tmodel.num_memory\ttrain.seed"]
    for i in range(a.runs):
        state = cycle[(i * 37) % len(cycle)]  # interleaved, not in blocks
        run_id = f"{0x5eed0000_00000000 + i:016x}"
        lines.append(f"{i}\t{run_id}\t{i // 10}\t{i % 10}")
        make_run(os.path.join(a.out, "runs", run_id), state, i, now)
        key = "not_started" if state == "absent" else state
        counts[key] = counts.get(key, 0) + 1
    write(os.path.join(a.out, "manifest.tsv"), "\n".join(lines) + "\n")
    print(f"{a.runs} runs: " + ", ".join(f"{counts[s]} {s}" for s, _ in MIX if s in counts))


if __name__ == "__main__":
    main()
