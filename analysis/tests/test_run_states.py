"""Run states in Python (sweep_io.read_run_state) on hand-made run directories: the same cases and
the same words as tests/unit/test_run_status.cpp, collect.py's status column and resubmit set, and
agreement with `elmrun status` on one sweep."""

import math
import os
import shutil
import subprocess
import time

import pytest

import collect
import sweep_io
from conftest import elmrun_path

NOW = 1_800_000_000.0


def write(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def status_text(state, step, updated, checkpoint_step=0, reason="", steps=400):
    """As write_run_status writes it (src/train/run_status.cpp)."""
    text = (f"state={state}\nstep={step}\nsteps={steps}\ncheckpoint_step={checkpoint_step}\nhost=node7\n"
            f"pid=4242\nstarted={updated - 100:.3f}\nupdated={updated:.3f}\n")
    return text + (f"reason={reason}\n" if reason else "")


def checkpoint(run, step, done=True, state=True):
    d = os.path.join(run, "checkpoints", f"step_{step:08d}")
    os.makedirs(d, exist_ok=True)
    if state:
        write(os.path.join(d, "state.h5"))
    if done:
        write(os.path.join(d, "DONE"), f"step {step}\n")


@pytest.fixture
def run(tmp_path):
    path = str(tmp_path / "run")
    os.makedirs(path)
    return path


def state_of(run, stale_after=sweep_io.STALE_SECONDS):
    return sweep_io.read_run_state(run, NOW, stale_after)


def describe(run, stale_after=sweep_io.STALE_SECONDS):
    return sweep_io.describe_run_state(state_of(run, stale_after))


def test_absent_or_empty_directory_is_not_started(tmp_path, run):
    assert sweep_io.read_run_state(str(tmp_path / "nothing"), NOW).state == "not_started"
    assert describe(run) == "not started"
    for name in ("config.json", "log.txt", "results.h5"):  # results.h5 without DONE is not final
        write(os.path.join(run, name))
    assert state_of(run).state == "not_started"


def test_done(run):
    write(os.path.join(run, "status"), status_text("done", 400, NOW - 5000))
    write(os.path.join(run, "DONE"), "steps 400\n")
    info = state_of(run)
    assert (info.state, info.steps) == ("done", 400) and describe(run) == "done"
    os.remove(os.path.join(run, "status"))
    assert state_of(run).state == "done"


def test_running_with_a_fresh_heartbeat(run):
    checkpoint(run, 100)
    write(os.path.join(run, "status"), status_text("running", 123, NOW - 3.4, 100))
    info = state_of(run)
    assert (info.state, info.step, info.steps, info.checkpoint_step, info.holder) == \
        ("running", 123, 400, 100, "node7:4242")
    assert info.heartbeat_age == pytest.approx(3.4, abs=1e-3)
    assert describe(run) == "running (step 123 of 400, heartbeat 3 s ago, node7:4242)"
    write(os.path.join(run, "status"), status_text("running", 123, NOW + 30))
    assert state_of(run).state == "running" and state_of(run).heartbeat_age == 0


def test_stale_threshold(run):
    path = os.path.join(run, "status")
    write(path, status_text("running", 50, NOW - 60))
    assert state_of(run).state == "running"  # exactly at the limit
    write(path, status_text("running", 50, NOW - 60.5))
    assert state_of(run).state == "stale"
    assert describe(run) == "stale (no heartbeat for 60 s from node7:4242, last step 50 of 400; no checkpoint)"
    assert state_of(run, 120).state == "running"
    write(path, status_text("running", 50, NOW - 11))
    assert state_of(run).state == "running" and state_of(run, 10).state == "stale"
    checkpoint(run, 40)
    write(path, status_text("running", 50, NOW - 600, 40))
    assert "checkpoint at step 40 of 400" in describe(run)


def test_interrupted_by_checkpoint_or_status(run):
    checkpoint(run, 40)
    checkpoint(run, 80, done=False)
    checkpoint(run, 90, state=False)
    info = state_of(run)
    assert (info.state, info.checkpoint_step) == ("interrupted", 40)
    assert describe(run) == "interrupted (checkpoint at step 40)"
    write(os.path.join(run, "status"), status_text("interrupted", 57, NOW - 1000, 40, "SIGTERM"))
    assert state_of(run).reason == "SIGTERM"
    assert describe(run) == "interrupted (checkpoint at step 40 of 400)"
    shutil.rmtree(os.path.join(run, "checkpoints"))
    assert describe(run) == "interrupted (no checkpoint)"
    write(os.path.join(run, "status"), status_text("done", 400, NOW - 10))
    assert state_of(run).state == "not_started"
    checkpoint(run, 300)
    assert state_of(run).state == "interrupted"


def test_failed_wins_over_everything(run):
    write(os.path.join(run, "FAILED"), "loss NaN at step 812\nmore detail\n")
    assert describe(run) == "failed (loss NaN at step 812)"
    checkpoint(run, 40)
    write(os.path.join(run, "status"), status_text("running", 50, NOW - 1, 40))
    write(os.path.join(run, "DONE"), "steps 400\n")
    assert state_of(run).state == "failed" and state_of(run).reason == "loss NaN at step 812"
    write(os.path.join(run, "FAILED"))
    assert describe(run) == "failed (FAILED without a reason)"


def test_torn_empty_and_foreign_status_files(run):
    path = os.path.join(run, "status")
    write(path)
    assert state_of(run).state == "not_started"
    write(path, "step=12\nsteps=400\nupd")
    assert state_of(run).state == "not_started"
    checkpoint(run, 40)
    assert state_of(run).state == "interrupted"
    shutil.rmtree(os.path.join(run, "checkpoints"))
    with open(path, "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n\0\0garbage\xff")
    assert state_of(run).state == "not_started"
    write(path, "state=running\nstep=12\nsteps=400\nhost=n\npid=1\n")
    assert state_of(run).state == "stale" and math.isinf(state_of(run).heartbeat_age)
    assert describe(run) == "stale (no valid heartbeat from n:1, last step 12 of 400; no checkpoint)"
    for updated in ("nan", "inf", "-inf", "soon", ""):
        write(path, f"state=running\nstep=12\nupdated={updated}\n")
        assert state_of(run, 1e12).state == "stale", updated
    write(path, "state=paused\nstep=12\nupdated=1800000000\n")
    assert state_of(run).state == "not_started"


def hand_made_sweep(root, now):
    """8 runs: 0 DONE (without results.h5), 1 running, 2 stale, 3 interrupted by its checkpoint,
    4 failed, 5 not started (config.json only), 6 never created, 7 interrupted by its status."""
    os.makedirs(os.path.join(root, "runs"))
    ids = [f"00000000000000a{i}" for i in range(8)]
    write(os.path.join(root, "manifest.tsv"),
          "index\trun_id\ttrain.seed\n" + "".join(f"{i}\t{r}\t{i}\n" for i, r in enumerate(ids)))
    runs = [os.path.join(root, "runs", r) for r in ids]
    write(os.path.join(runs[0], "DONE"))
    write(os.path.join(runs[1], "status"), status_text("running", 5, now - 2))
    write(os.path.join(runs[2], "status"), status_text("running", 5, now - 3600))
    checkpoint(runs[3], 200)
    write(os.path.join(runs[4], "FAILED"), "loss NaN\n")
    write(os.path.join(runs[5], "config.json"), '{"train.seed": "5"}')
    write(os.path.join(runs[7], "status"), status_text("interrupted", 9, now - 100, 0, "SIGUSR2"))
    return runs


def test_collect_reports_the_states_and_resubmits_what_remains(tmp_path):
    root = str(tmp_path / "sweep")
    hand_made_sweep(root, time.time())
    frame, problems = collect.collect(root)
    status = dict(zip(frame["index"], frame["status"]))
    # Run 0 has DONE but no results.h5: it cannot count, so it is failed, as in elmrun's summary.
    assert status == {0: "failed", 1: "running", 2: "stale", 3: "interrupted", 4: "failed", 5: "not_started",
                      6: "not_started", 7: "interrupted"}
    assert collect.resubmit_indices(frame) == [0, 2, 3, 4, 5, 6, 7]  # all but the running one
    kinds = {p.index: p.kind for p in problems if p.index is not None}
    assert kinds[1] == "running" and kinds[2] == "stale" and kinds[6] == "not_started"
    assert "1 running" in collect.status_counts(frame)
    assert collect.resubmit_line(frame).endswith("--array=0,2-7")


def test_collect_agrees_with_elmrun_status(tmp_path):
    elmrun = elmrun_path()
    if subprocess.run([elmrun, "status", "--help"], capture_output=True).returncode != 0:
        pytest.skip("this elmrun has no status command")
    root = str(tmp_path / "sweep")
    runs = hand_made_sweep(root, time.time())
    os.remove(os.path.join(runs[0], "DONE"))  # collect would call DONE without results.h5 failed
    write(os.path.join(runs[0], "FAILED"), "out of memory\n")
    result = subprocess.run([elmrun, "status", root], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    frame, problems = collect.collect(root)
    reasons = {p.index: p.reason for p in problems if p.index is not None}
    for index, run_id, status in zip(frame["index"], frame["run_id"], frame["status"]):
        line = lines[1 + index]
        words = line.split(None, 3)
        assert words[:2] == [str(index), run_id], line
        elmrun_text = words[3]
        # Same state, and for all but running/stale (whose heartbeat age moves) the same words
        # (collect says why a run directory is absent).
        assert elmrun_text.split(" (")[0].replace("not started", "not_started") == status, line
        if status not in ("running", "stale"):
            expected = "not started (no run directory)" if index == 6 else elmrun_text
            assert reasons[index] == expected, (line, reasons[index])
    assert lines[-1].endswith("--array=" + sweep_io.array_expression(collect.resubmit_indices(frame)))
