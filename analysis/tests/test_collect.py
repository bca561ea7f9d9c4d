"""collect.py against real elmrun results: a complete sweep, then damaged copies of it."""

import json
import math
import os
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import collect
import sweep_io
from conftest import ANALYSIS_DIR, elmrun_path, manifest_rows

PYTHON = "/usr/bin/python3"
COLLECT = os.path.join(ANALYSIS_DIR, "collect.py")


def run_cli(*args):
    return subprocess.run([PYTHON, COLLECT, *args], capture_output=True, text=True, timeout=60)


def run_dir(sweep, index):
    return os.path.join(sweep, "runs", manifest_rows(sweep)[index]["run_id"])


def row_of(frame, index):
    return frame[frame["index"] == index].iloc[0]


def metric_columns(frame):
    return [c for c in frame.columns if c.startswith(("test_", "valid_"))] + [
        "parameter_count", "wall_seconds", "steps_completed", "mean_sample_steps_per_s"]


# ---------------------------------------------------------------- a complete sweep


def test_complete_sweep_matches_the_hdf5_files(good_sweep):
    frame, problems = collect.collect(good_sweep)
    manifest = manifest_rows(good_sweep)
    assert len(frame) == len(manifest)
    assert list(frame["run_id"]) == [r["run_id"] for r in manifest]
    assert set(frame["status"]) == {"done"}
    assert problems == []
    assert collect.resubmit_indices(frame) == []
    assert frame.attrs["axes"] == ["model.num_memory", "model.memory_tau_max", "train.seed"]
    for _, row in frame.iterrows():
        with h5py.File(os.path.join(good_sweep, "runs", row["run_id"], "results.h5"), "r") as f:
            assert row["test_accuracy"] == f["test/accuracy"][()]
            assert row["test_loss"] == f["test/loss"][()]
            assert row["valid_accuracy"] == f["valid/accuracy"][-1]
            assert row["parameter_count"] == f.attrs["parameter_count"]
            assert row["wall_seconds"] == f.attrs["wall_seconds"]
            assert row["steps_completed"] == f["train/loss"].shape[0] == 20
            # Throughput is total sample-steps over total time; every step does the same work.
            rates = f["train/sample_steps_per_s"][()]
            assert row["mean_sample_steps_per_s"] == pytest.approx(rates.size / np.sum(1.0 / rates))
        config = json.loads(open(os.path.join(good_sweep, "runs", row["run_id"], "config.json")).read())
        assert float(config["model.num_memory"]) == row["model.num_memory"]


def test_cli_prints_table_and_writes_csv_and_json(good_sweep, tmp_path):
    csv_path = str(tmp_path / "table.csv")
    result = run_cli(good_sweep, "--csv", csv_path)
    assert result.returncode == 0, result.stderr
    assert "12 done of 12 runs" in result.stdout
    assert "nothing to resubmit" in result.stdout
    import pandas as pd
    table = pd.read_csv(csv_path)
    assert len(table) == 12 and (table["status"] == "done").all()
    as_json = json.loads(run_cli(good_sweep, "--json").stdout)
    assert len(as_json["runs"]) == 12 and as_json["problems"] == [] and as_json["array"] is None


# ---------------------------------------------------------------- damaged sweeps


def damage(sweep):
    """Breaks runs 1-7 and 9 in different ways; 0, 8, 10, 11 stay intact. Returns the broken indices."""
    truncate(os.path.join(run_dir(sweep, 1), "results.h5"))
    with open(os.path.join(run_dir(sweep, 2), "FAILED"), "w") as f:
        f.write("loss NaN at step 12\n")  # results.h5 and DONE stay: FAILED must still win
    shutil.rmtree(run_dir(sweep, 3))
    open(os.path.join(run_dir(sweep, 4), "FAILED"), "w").close()
    os.remove(os.path.join(run_dir(sweep, 5), "DONE"))
    open(os.path.join(run_dir(sweep, 6), "results.h5"), "w").close()
    edit_config(run_dir(sweep, 7), {"model.num_memory": "99"})
    with open(os.path.join(run_dir(sweep, 9), "results.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + os.urandom(3000))
    foreign = os.path.join(sweep, "runs", "deadbeefdeadbeef")
    shutil.copytree(run_dir(sweep, 0), foreign)
    with open(os.path.join(sweep, "runs", "notes.txt"), "w") as f:
        f.write("not a run\n")
    return [1, 2, 3, 4, 5, 6, 7, 9]


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def edit_config(directory, changes):
    path = os.path.join(directory, "config.json")
    config = json.load(open(path))
    config.update(changes)
    json.dump(config, open(path, "w"))


def test_damaged_sweep_reports_every_problem_and_counts_no_broken_run(sweep_copy):
    broken = damage(sweep_copy)
    frame, problems = collect.collect(sweep_copy)
    assert len(frame) == len(manifest_rows(sweep_copy)) == 12
    status = dict(zip(frame["index"], frame["status"]))
    assert {i for i, s in status.items() if s == "done"} == {0, 8, 10, 11}
    # DONE with unreadable or foreign results is failed, as in elmrun's summary table.
    assert {i for i, s in status.items() if s == "failed"} == {1, 2, 4, 6, 7, 9}
    assert {i for i, s in status.items() if s == "not_started"} == {3, 5}
    assert set(frame["status"]) <= set(sweep_io.RUN_STATES)
    for index in broken:
        row = row_of(frame, index)
        assert all(pd_isna(row[c]) for c in metric_columns(frame)), f"run {index} counted"
    reasons = {p.index: p for p in problems if p.index is not None}
    assert "half-written results" in reasons[1].reason
    assert reasons[2].kind == "failed" and reasons[2].reason == "failed (loss NaN at step 12)"
    assert reasons[3].kind == "not_started" and "no run directory" in reasons[3].reason
    assert reasons[4].reason == "failed (FAILED without a reason)"
    assert reasons[5].kind == "not_started"  # DONE gone, no checkpoint left: nothing to resume
    assert "half-written results" in reasons[6].reason
    assert reasons[7].kind == "foreign" and "model.num_memory=99" in reasons[7].reason
    assert "half-written results" in reasons[9].reason
    unindexed = [p for p in problems if p.index is None]
    assert any(p.kind == "foreign" and p.run_id == "deadbeefdeadbeef" for p in unindexed)
    assert any(p.kind == "layout" and "notes.txt" in p.reason for p in unindexed)
    assert "deadbeefdeadbeef" not in set(frame["run_id"])
    assert collect.resubmit_indices(frame) == broken


def pd_isna(value):
    import pandas as pd
    return bool(pd.isna(value))


def test_cli_on_damaged_sweep_prints_exact_array(sweep_copy):
    damage(sweep_copy)
    result = run_cli(sweep_copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith("--array=1-7,9")
    for text in ("half-written results", "loss NaN at step 12", "FAILED without a reason",
                 "deadbeefdeadbeef", "notes.txt", "no run directory"):
        assert text in result.stdout
    assert json.loads(run_cli(sweep_copy, "--json").stdout)["array"] == "1-7,9"


def test_missing_runs_only(sweep_copy):
    for index in (0, 1, 2, 3, 7, 9, 10):
        shutil.rmtree(run_dir(sweep_copy, index))
    frame, _ = collect.collect(sweep_copy)
    assert sweep_io.array_expression(collect.resubmit_indices(frame)) == "0-3,7,9-10"
    assert "--array=0-3,7,9-10" in run_cli(sweep_copy).stdout


def test_array_expression():
    assert sweep_io.array_expression([]) == ""
    assert sweep_io.array_expression([5]) == "5"
    assert sweep_io.array_expression([10, 9, 0, 1, 2, 3, 7, 3]) == "0-3,7,9-10"
    assert sweep_io.array_expression([1, 3, 5]) == "1,3,5"


def test_unfinished_run_with_checkpoint_is_interrupted(sweep_copy):
    directory = run_dir(sweep_copy, 0)
    os.remove(os.path.join(directory, "DONE"))
    os.remove(os.path.join(directory, "results.h5"))
    os.makedirs(os.path.join(directory, "checkpoints", "step_00000010"))
    open(os.path.join(directory, "checkpoints", "step_00000010", "DONE"), "w").close()
    open(os.path.join(directory, "checkpoints", "step_00000010", "state.h5"), "w").close()
    frame, problems = collect.collect(sweep_copy)
    assert row_of(frame, 0)["status"] == "interrupted"
    assert "interrupted (checkpoint at step 10" in [p for p in problems if p.index == 0][0].reason
    assert collect.resubmit_indices(frame) == [0]


def test_done_without_results_and_unreadable_config(sweep_copy):
    os.remove(os.path.join(run_dir(sweep_copy, 0), "results.h5"))
    with open(os.path.join(run_dir(sweep_copy, 1), "config.json"), "w") as f:
        f.write("{not json")
    frame, problems = collect.collect(sweep_copy)
    reasons = {p.index: p for p in problems if p.index is not None}
    assert row_of(frame, 0)["status"] == "failed" and "DONE but no results.h5" in reasons[0].reason
    assert row_of(frame, 1)["status"] == "failed"
    assert reasons[1].kind == "foreign" and "unreadable config.json" in reasons[1].reason


def test_results_of_another_format_are_not_counted(sweep_copy):
    with h5py.File(os.path.join(run_dir(sweep_copy, 0), "results.h5"), "a") as f:
        f.attrs["format"] = "something-else"
    frame, _ = collect.collect(sweep_copy)
    assert row_of(frame, 0)["status"] == "failed" and pd_isna(row_of(frame, 0)["test_accuracy"])


# ---------------------------------------------------------------- odd manifests and directories


def test_manifest_with_extra_and_missing_fields(sweep_copy):
    path = os.path.join(sweep_copy, "manifest.tsv")
    lines = open(path).read().splitlines()
    lines[1] += "\tsurplus"
    lines[2] = "\t".join(lines[2].split("\t")[:3])  # drops memory_tau_max and seed
    open(path, "w").write("\n".join(lines) + "\n")
    result = run_cli(sweep_copy)
    assert result.returncode == 0, result.stderr
    frame, problems = collect.collect(sweep_copy)
    assert len(frame) == 12
    assert sum(p.kind == "manifest" for p in problems) == 2
    assert row_of(frame, 0)["status"] == "done"
    # Row 1 lost its axis values: nothing to compare against, the run still counts.
    assert row_of(frame, 1)["status"] == "done" and pd_isna(row_of(frame, 1)["train.seed"])


def test_manifest_without_run_id_column_falls_back_to_scan(sweep_copy):
    path = os.path.join(sweep_copy, "manifest.tsv")
    text = open(path).read().replace("run_id", "name", 1)
    open(path, "w").write(text)
    frame, problems = collect.collect(sweep_copy)
    assert len(frame) == 12 and any(p.kind == "manifest" for p in problems)
    assert "no --array" in run_cli(sweep_copy).stdout


def test_sweep_without_manifest_scans_runs(sweep_copy):
    os.remove(os.path.join(sweep_copy, "manifest.tsv"))
    shutil.rmtree(run_dir_by_scan(sweep_copy, 0), ignore_errors=True)
    frame, problems = collect.collect(sweep_copy)
    assert len(frame) == 11 and set(frame["status"]) == {"done"}
    # model.mlp_hidden_size follows num_memory: not an axis of its own.
    assert frame.attrs["axes"] == ["model.memory_tau_max", "model.num_memory", "train.seed"]
    assert any("no manifest.tsv" in p.reason for p in problems)
    result = run_cli(sweep_copy)
    assert result.returncode == 0 and "no --array" in result.stdout


def run_dir_by_scan(sweep, position):
    return os.path.join(sweep, "runs", sorted(os.listdir(os.path.join(sweep, "runs")))[position])


def test_single_run_directory(good_sweep):
    frame, problems = collect.collect(run_dir(good_sweep, 0))
    assert len(frame) == 1 and frame.iloc[0]["status"] == "done" and problems == []
    assert not math.isnan(frame.iloc[0]["test_accuracy"])


def test_empty_and_absent_directories_exit_2(tmp_path):
    for path in (str(tmp_path), str(tmp_path / "absent")):
        result = run_cli(path)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    with pytest.raises(collect.NotASweep):
        collect.collect(str(tmp_path))


def test_empty_runs_dir_and_empty_manifest(tmp_path):
    os.makedirs(tmp_path / "runs")
    assert len(collect.collect(str(tmp_path))[0]) == 0
    (tmp_path / "manifest.tsv").write_text("")
    frame, problems = collect.collect(str(tmp_path))
    assert len(frame) == 0 and any("empty" in p.reason for p in problems)
    assert run_cli(str(tmp_path)).returncode == 0


# ---------------------------------------------------------------- run identity


def test_config_that_does_not_hash_to_its_run_id_is_foreign(sweep_copy):
    edit_config(run_dir(sweep_copy, 0), {"optim.lr": "0.5"})  # not an axis: only the hash can tell
    frame, problems = collect.collect(sweep_copy)
    assert row_of(frame, 0)["status"] == "failed" and pd_isna(row_of(frame, 0)["test_accuracy"])
    reason = [p for p in problems if p.index == 0][0]
    assert reason.kind == "foreign" and "does not hash to the run_id" in reason.reason
    assert collect.resubmit_indices(frame) == [0]


def test_prepared_but_unstarted_run_is_not_started(sweep_copy):
    directory = run_dir(sweep_copy, 4)
    for name in os.listdir(directory):
        if name != "config.json":
            path = os.path.join(directory, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    frame, problems = collect.collect(sweep_copy)
    assert row_of(frame, 4)["status"] == "not_started"
    assert [p for p in problems if p.index == 4][0].reason == "not started"


def test_other_run_id_convention_is_checked_by_axis_values(sweep_copy):
    """Ids that are not config hashes: no run is called foreign for that, axis values still count."""
    path = os.path.join(sweep_copy, "manifest.tsv")
    text = open(path).read()
    for index, row in enumerate(manifest_rows(sweep_copy)):
        new_id = f"run{index:02d}"
        os.rename(os.path.join(sweep_copy, "runs", row["run_id"]), os.path.join(sweep_copy, "runs", new_id))
        text = text.replace(row["run_id"], new_id)
    open(path, "w").write(text)
    edit_config(os.path.join(sweep_copy, "runs", "run03"), {"train.seed": "7"})
    frame, problems = collect.collect(sweep_copy)
    assert collect.resubmit_indices(frame) == [3]
    assert any("identity checked by grid-axis values only" in p.reason for p in problems)
    assert [p.kind for p in problems if p.index is not None] == ["foreign"]


def test_identity_hash_matches_elmrun_json_escaping_and_offset():
    config = {"task.data_dir": "/data/neuronio", "train.threads": "8", "model.num_memory": "20"}
    boost_json = '{"model.num_memory":"20","task.data_dir":"\\/data\\/neuronio"}'
    assert sweep_io.fnv1a64(boost_json.encode()) in sweep_io.identity_hashes(config)
    assert sweep_io.fnv1a64(b"a") == "af63dc4c8601ec8c"  # FNV-1a test vector


def test_collect_agrees_with_elmrun_sweep(tmp_path):
    """A sweep made by `elmrun sweep` itself: ids verified by hash, numbers as in its summary.csv."""
    elmrun = elmrun_path()
    base = os.path.join(os.path.dirname(ANALYSIS_DIR), "configs", "synthetic_burst.ini")
    if subprocess.run([elmrun, "sweep", "--help"], capture_output=True).returncode != 0 or not os.path.exists(base):
        pytest.skip("this elmrun has no sweep command or configs/synthetic_burst.ini is absent")
    job = tmp_path / "job.ini"
    job.write_text(f"[sweep]\nname = tiny\nconfig = {base}\n[set]\ntrain.steps = 20\ntrain.eval_every = 10\n"
                   "[grid]\nmodel.num_memory = 2,4\nmodel.memory_tau_max = 20,200\n")
    out = str(tmp_path / "out")
    subprocess.run([elmrun, "sweep", str(job), "--out", out], check=True, capture_output=True, timeout=120)
    frame, problems = collect.collect(out)
    assert problems == [] and len(frame) == len(manifest_rows(out)) == 4
    assert set(frame["status"]) == {"done"}
    import pandas as pd
    summary = pd.read_csv(os.path.join(out, "summary.csv"), dtype={"run_id": str})
    assert list(summary["run_id"]) == list(frame["run_id"])
    assert list(summary["status"]) == list(frame["status"])
    shared = [c for c in summary.columns if c.startswith("test_") or c == "parameter_count"]
    assert "test_accuracy" in shared
    for column in shared:
        np.testing.assert_allclose(frame[column].astype(float), summary[column].astype(float), rtol=1e-6)
