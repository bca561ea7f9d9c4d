#!/usr/bin/python3
"""Interrupts `elmrun train` and `elmrun sweep` at seeded random moments and
checks that rerunning the same command finishes bit-identical to an
uninterrupted run, that no completed run of a sweep is retrained or changed,
and that no temporary file is left.

Moments come from the code itself: ELM_TEST_HOLD=POINT@N makes the ranks
pause at a named point (src/core/test_hold.hpp) and write a file, the driver
waits for that file and then delivers the signal, so each case hits its
phase on any machine. A share of the cases use a plain random delay instead
(whatever phase that lands in). Signals: SIGTERM and SIGUSR2 to the launcher
(mpirun, srun, or elmrun itself), and kill -9 of every process of the job.

    random_interrupt.py --seed S --count N [--launchers none,mpirun,srun]

Prints one line per case (replay one with --seed S --only K) and a table of
the trained steps each interruption cost. Exit 1 on the first broken promise.
"""
import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ELMRUN = os.environ.get("ELMRUN")
STEPS = 240           # per run
EVAL_EVERY = 80
CHECKPOINT_EVERY = 100
SWEEP_RUNS = 4

BASE_INI = f"""[model]
variant = v1
num_input = 32
num_output = 4
num_memory = 10
memory_tau_max = 150
[task]
name = synthetic_burst
[train]
steps = {STEPS}
batch_size = 16
threads = 1
log_every = 20
eval_every = {EVAL_EVERY}
checkpoint_every = {CHECKPOINT_EVERY}
[optim]
lr = 0.005
"""

JOB_INI = """[sweep]
name = interrupt
config = base.ini
ranks_per_run = {rpr}
[grid]
model.num_memory = 4,12
model.memory_tau_max = 20,200
"""

# Points where a signal can arrive, with the N each is held at (None: any).
TRAIN_POINTS = ["step", "eval", "test_eval", "checkpoint", "results", "done_marker", "after_done"]
SWEEP_POINTS = TRAIN_POINTS + ["between_runs", "summary"]


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


class Driver:
    def __init__(self, root, launchers):
        self.root = root
        self.launchers = launchers
        with open(os.path.join(root, "base.ini"), "w") as f:
            f.write(BASE_INI)
        for rpr in (1, 2):
            with open(os.path.join(root, f"job{rpr}.ini"), "w") as f:
                f.write(JOB_INI.format(rpr=rpr))
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        OMPI_MCA_rmaps_base_oversubscribe="1")
        for k in ("ELM_TEST_HOLD", "ELM_TEST_HOLD_FILE"):
            self.env.pop(k, None)
        self.references = {}

    # The command of a case: mode train|sweep, world size, launcher.
    def command(self, mode, world, launcher, out):
        if mode == "train":
            args = [ELMRUN, "train", "--config", os.path.join(self.root, "base.ini"), "--out", out]
        else:
            # ranks_per_run = world: the two ranks train each run together, or one rank alone.
            job = os.path.join(self.root, f"job{world}.ini")
            args = [ELMRUN, "sweep", job, "--out", out]
        if launcher == "none":
            assert world == 1
            return args
        if launcher == "mpirun":
            return ["mpirun", "-n", str(world)] + args  # local ranks inherit mpirun's environment
        return ["srun", "--mpi=pmix", "-n", str(world), "--kill-on-bad-exit=1", "--quiet"] + args

    def run(self, cmd, env, log, timeout=120):
        with open(log, "ab") as f:
            return subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode

    def reference(self, mode, world):
        key = (mode, world)
        if key not in self.references:
            out = os.path.join(self.root, f"ref_{mode}_{world}")
            launcher = "mpirun" if world > 1 else "none"
            rc = self.run(self.command(mode, world, launcher, out), self.env, out + ".log")
            if rc != 0:
                fail(f"reference {mode} on {world} rank(s) exited {rc}: {open(out + '.log').read()[-800:]}")
            self.references[key] = out
        return self.references[key]


def run_dirs(out, mode):
    if mode == "train":
        return {"run": out}
    runs = os.path.join(out, "runs")
    return {d: os.path.join(runs, d) for d in sorted(os.listdir(runs))} if os.path.isdir(runs) else {}


def done_sums(out, mode):
    """md5 of the files of every completed run."""
    sums = {}
    for name, d in run_dirs(out, mode).items():
        if os.path.exists(os.path.join(d, "DONE")):
            sums[name] = {f: md5(os.path.join(d, f)) for f in ("DONE", "results.h5", "checkpoint.h5")}
    return sums


def h5_equal(a, b, objects=None):
    cmd = ["h5diff", a, b] + (objects or [])
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def compare_with_reference(out, ref, mode, tag):
    got, want = run_dirs(out, mode), run_dirs(ref, mode)
    if sorted(got) != sorted(want):
        fail(f"{tag}: run directories {sorted(got)} != reference {sorted(want)}")
    for name, d in got.items():
        r = want[name]
        for marker in ("DONE", "results.h5", "checkpoint.h5"):
            if not os.path.exists(os.path.join(d, marker)):
                fail(f"{tag}: {name} has no {marker}")
        if not h5_equal(os.path.join(r, "checkpoint.h5"), os.path.join(d, "checkpoint.h5")):
            fail(f"{tag}: {name}: parameters differ from the uninterrupted run")
        for obj in ("train/loss", "train/grad_norm", "train/lr", "valid/step", "valid/accuracy", "valid/loss",
                    "test/accuracy", "test/loss"):
            if not h5_equal(os.path.join(r, "results.h5"), os.path.join(d, "results.h5"), [obj, obj]):
                fail(f"{tag}: {name}: {obj} differs from the uninterrupted run")
        if os.path.exists(os.path.join(d, "checkpoints")):
            fail(f"{tag}: {name}: checkpoints/ left after DONE")
        if os.path.exists(os.path.join(d, "LOCK")):
            fail(f"{tag}: {name}: LOCK left after the run ended")
    for dirpath, _, files in os.walk(out):
        for f in files:
            if ".tmp-" in f:
                fail(f"{tag}: temporary file left: {os.path.join(dirpath, f)}")


def read_status(run_dir):
    try:
        with open(os.path.join(run_dir, "status")) as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        return {}


def job_pids(pgid, out_dir, ranks_only=False):
    """The launcher's process group, and the ranks wherever they run (srun's
    tasks are children of slurmstepd, outside that group)."""
    pids = [] if ranks_only else subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    pids += subprocess.run(["pgrep", "-f", "^[^ ]*elmrun .*" + out_dir + "( |$)"], capture_output=True, text=True).stdout.split()
    return sorted({int(p) for p in pids} - {os.getpid()})


def make_cases(seed, count, launchers):
    rng = random.Random(seed)
    cases = []
    combos = []
    for launcher in launchers:
        for world in ((1,) if launcher == "none" else (1, 2)):
            for mode in ("train", "sweep"):
                combos.append((launcher, world, mode))
    for k in range(count):
        launcher, world, mode = combos[k % len(combos)] if k < len(combos) else rng.choice(combos)
        sig = rng.choice(["TERM", "USR2", "KILL"])
        points = SWEEP_POINTS if mode == "sweep" else TRAIN_POINTS
        point = rng.choice(points + ["delay"])
        n = None
        if point == "step":
            n = rng.randrange(1, STEPS + 1)
        elif point == "eval":
            n = rng.choice(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))
        elif point == "checkpoint":
            n = rng.choice([s for s in range(CHECKPOINT_EVERY, STEPS, CHECKPOINT_EVERY)] + [STEPS])
        elif point in ("test_eval", "results", "done_marker", "after_done"):
            n = STEPS
        elif point == "between_runs":
            n = None  # after whichever run finishes first
        delay = rng.uniform(0.2, 2.5) if point == "delay" else None
        cases.append(dict(k=k, launcher=launcher, world=world, mode=mode, sig=sig, point=point, n=n, delay=delay))
    return cases


def fixed_case(k, text):
    launcher, world, mode, sig, point = text.split(",")
    point, _, n = point.partition("@")
    return dict(k=k, launcher=launcher, world=int(world), mode=mode, sig=sig, point=point,
                n=int(n) if n else None, delay=None)


def run_case(driver, case, seed):
    tag = (f"seed {seed} case {case['k']}: {case['mode']} on {case['world']} rank(s) via {case['launcher']}, "
           f"SIG{case['sig']} at {case['point']}" + (f"@{case['n']}" if case['n'] is not None else "")
           + (f" after {case['delay']:.2f}s" if case['delay'] else ""))
    mode, world = case["mode"], case["world"]
    ref = driver.reference(mode, world)
    out = os.path.join(driver.root, f"case{case['k']}")
    hold_file = out + ".held"
    env = dict(driver.env)
    if case["point"] != "delay":
        env["ELM_TEST_HOLD"] = case["point"] + (f"@{case['n']}" if case["n"] is not None else "")
        env["ELM_TEST_HOLD_FILE"] = hold_file
        env["ELM_TEST_HOLD_SECONDS"] = "60"
    cmd = driver.command(mode, world, case["launcher"], out)
    log = out + ".log"
    with open(log, "ab") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    if case["point"] == "delay":
        time.sleep(case["delay"])
    else:
        while not os.path.exists(hold_file):
            if proc.poll() is not None:
                fail(f"{tag}: ended (exit {proc.returncode}) before reaching the hold point: "
                     + open(log).read()[-800:])
            if time.monotonic() - t0 > 90:
                proc.kill()
                fail(f"{tag}: never reached the hold point")
            time.sleep(0.01)
    # What was complete before the signal: it must come out unchanged.
    before = done_sums(out, mode)
    held_step = case["n"] if case["point"] in ("step", "eval", "checkpoint", "test_eval") else None
    t_sig = time.monotonic()
    if proc.poll() is None:
        if case["sig"] == "KILL":
            # srun killed -9 would leave its allocation behind with nobody to
            # release it: there the ranks die (a lost node) and srun sees it.
            for pid in job_pids(proc.pid, out, ranks_only=case["launcher"] == "srun"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        elif case["sig"] == "TERM" and case["launcher"] == "srun":
            # What Slurm does at a time limit or preemption: slurmstepd sends
            # SIGTERM to the tasks (srun itself takes a SIGTERM as scancel and
            # kills the step at once; docs/cluster.md).
            for pid in job_pids(proc.pid, out, ranks_only=True):
                os.kill(pid, signal.SIGTERM)
        else:
            proc.send_signal(getattr(signal, "SIG" + case["sig"]))
    # Until the run's state file leaves "running" (checkpoint complete or run
    # done): the stop latency a launcher's kill timer races against.
    status_dir = out if mode == "train" else None
    stopped_after = None
    while case["sig"] != "KILL" and proc.poll() is None and time.monotonic() - t_sig < 60:
        dirs = [status_dir] if status_dir else list(run_dirs(out, mode).values())
        if any(read_status(d).get("state") in ("interrupted", "done") and
               float(read_status(d).get("updated", 0)) >= time.time() - (time.monotonic() - t_sig) - 0.05
               for d in dirs):
            stopped_after = time.monotonic() - t_sig
            break
        time.sleep(0.005)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        fail(f"{tag}: still running 60 s after the signal")
    took = time.monotonic() - t_sig
    deadline = time.monotonic() + 10  # srun's tasks end a moment after srun
    while job_pids(proc.pid, out) and time.monotonic() < deadline:
        time.sleep(0.1)
    if True:
        left = job_pids(proc.pid, out)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
            fail(f"{tag}: processes left after the launcher exited: {left}")
    # Trained steps this interruption cost: held at step N with a complete
    # checkpoint at M < N loses N - M (the target is 0 for a signal).
    lost = None
    if held_step is not None:
        # The run that was held: the one directory neither done nor untouched.
        held = [d for name, d in run_dirs(out, mode).items()
                if name not in before and read_status(d).get("state") not in (None, "done")]
        if held:
            st = read_status(held[0])
            ckpt = int(st.get("checkpoint_step", 0))
            lost = max(0, held_step - ckpt)
        elif any(os.path.exists(os.path.join(d, "DONE")) for d in run_dirs(out, mode).values()):
            lost = 0
        if case["sig"] != "KILL" and lost:
            fail(f"{tag}: the stop lost {lost} trained step(s): " + open(log).read()[-600:])
    # A hang detector, not a speed test: the figures are printed (BENCHMARKS.md);
    # what a slow stop would cost under mpirun's kill timer shows as lost steps.
    if took > 30:
        fail(f"{tag}: took {took:.2f} s to end after the signal")
    # Rerun until done.
    if mode == "train" and os.path.exists(os.path.join(out, "DONE")):
        # train refuses to redo a completed run (a sweep skips it), and tidies
        # what a kill right after DONE left behind.
        rc2 = driver.run(cmd, driver.env, log)
        if rc2 == 0 or "already holds a completed run" not in open(log).read()[-1000:]:
            fail(f"{tag}: a rerun of the completed run exited {rc2}: " + open(log).read()[-800:])
    else:
        for attempt in range(4):
            rc2 = driver.run(cmd, driver.env, log)
            if rc2 == 0:
                break
            if rc2 != 75:
                fail(f"{tag}: rerun {attempt + 1} exited {rc2}: " + open(log).read()[-800:])
        else:
            fail(f"{tag}: not done after 4 reruns")
    after = done_sums(out, mode)
    for name, sums in before.items():
        if after.get(name) != sums:
            fail(f"{tag}: completed run {name} was changed by the rerun")
    compare_with_reference(out, ref, mode, tag)
    if mode == "sweep":
        with open(os.path.join(out, "summary.csv")) as f:
            rows = [l for l in f.read().splitlines()[1:] if l]
        if len(rows) != SWEEP_RUNS or not all(",done," in r for r in rows):
            fail(f"{tag}: summary.csv does not list {SWEEP_RUNS} done runs: {rows}")
    shutil.rmtree(out)
    for p in (hold_file,):
        if os.path.exists(p):
            os.remove(p)
    os.remove(log)
    print(f"ok  {tag}: exit {rc} after {took:.2f} s"
          + (f", stopped {stopped_after:.2f} s after the signal" if stopped_after is not None else "") + (f", lost {lost} step(s)" if lost is not None else "")
          + f", {len(before)} completed run(s) kept", flush=True)
    return case, lost, took, stopped_after


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--only", type=int, default=None, help="replay one case of the seed")
    ap.add_argument("--launchers", default="none,mpirun")
    ap.add_argument("--case", action="append", default=[], metavar="LAUNCHER,WORLD,MODE,SIG,POINT[@N]",
                    help="run this case instead of random ones (repeatable), e.g. none,1,sweep,KILL,after_done@240")
    a = ap.parse_args()
    if not ELMRUN:
        fail("set ELMRUN to the elmrun binary")
    seed = a.seed if a.seed is not None else int(time.time()) % 100000
    launchers = a.launchers.split(",")
    root = tempfile.mkdtemp(prefix="elm-interrupt-")
    try:
        driver = Driver(root, launchers)
        cases = make_cases(seed, a.count, launchers) if not a.case else [fixed_case(k, c) for k, c in enumerate(a.case)]
        if a.only is not None:
            cases = [c for c in cases if c["k"] == a.only]
        print(f"random_interrupt: seed {seed}, {len(cases)} case(s) (replay: --seed {seed} --only K)", flush=True)
        results = [run_case(driver, c, seed) for c in cases]
    finally:
        if not os.environ.get("ELM_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
    by_sig = {}
    for case, lost, took, stopped in results:
        key = f"SIG{case['sig']} via {case['launcher']}"
        by_sig.setdefault(key, []).append((lost, took, stopped))
    for key, vals in sorted(by_sig.items()):
        losts = [l for l, _, _ in vals if l is not None]
        stops = [s for _, _, s in vals if s is not None]
        print(f"{key}: {len(vals)} case(s); steps lost at held steps: "
              f"{('max ' + str(max(losts)) + ', total ' + str(sum(losts))) if losts else 'n/a'}; "
              f"state saved {('%.2f-%.2f s' % (min(stops), max(stops))) if stops else 'n/a'} and launcher ended "
              f"{min(t for _, t, _ in vals):.2f}-{max(t for _, t, _ in vals):.2f} s after the signal")
    print(f"{len(results)} passed, 0 failed")


if __name__ == "__main__":
    main()
