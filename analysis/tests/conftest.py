"""Fixture sweeps made of real results.h5 files from the elmrun binary.

The sweep is laid out as docs/sweeps.md describes (manifest.tsv, runs/<run_id>/
config.json, results.h5, DONE) with short runs of the built-in synthetic task,
built once per session; tests that damage a sweep work on a copy.
"""

import itertools
import json
import os
import shutil
import subprocess
import sys

import h5py
import pytest

ANALYSIS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ANALYSIS_DIR)

DEFAULT_ELMRUN = os.path.join(os.path.dirname(ANALYSIS_DIR), "build", "elmrun")

# 3 x 2 x 2 = 12 runs of 20 steps: about 0.1 s each.
GRID = {
    "model.num_memory": ["2", "4", "8"],
    "model.memory_tau_max": ["20", "200"],
    "train.seed": ["1", "2"],
}
FIXED = {"train.steps": "20", "train.eval_every": "5"}


def fnv1a64(text: str) -> str:
    h = 0xCBF29CE484222325  # FNV-1a 64 offset basis, as elmrun's run ids
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def run_id_of(config: dict) -> str:
    """As elmrun names runs: FNV-1a 64 of the resolved config's flat JSON without threads and
    log_every (this config has no '/' that elmrun's JSON writer would escape)."""
    kept = {k: v for k, v in config.items() if k not in ("train.threads", "train.log_every")}
    return fnv1a64(json.dumps(kept, sort_keys=True, separators=(",", ":")))


def elmrun_path() -> str:
    path = os.environ.get("ELMRUN", DEFAULT_ELMRUN)
    if not os.access(path, os.X_OK):
        pytest.skip(f"elmrun binary not found at {path} (set ELMRUN)")
    return path


def train_run(elmrun: str, settings: dict, out_dir: str) -> dict:
    """Train one run into out_dir, mark it DONE, write config.json; returns the resolved config."""
    command = [elmrun, "train", "--out", out_dir]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    with h5py.File(os.path.join(out_dir, "results.h5"), "r") as f:
        config = json.loads(f.attrs["config_json"])
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f)
    open(os.path.join(out_dir, "DONE"), "w").close()
    return config


def build_sweep(root: str, grid: dict, fixed: dict, elmrun: str) -> str:
    """A complete sweep directory under root; the first axis varies slowest, as in elmrun sweep."""
    os.makedirs(os.path.join(root, "runs"), exist_ok=True)
    axes = list(grid)
    lines = ["\t".join(["index", "run_id"] + axes)]
    for index, values in enumerate(itertools.product(*grid.values())):
        settings = dict(fixed, **dict(zip(axes, values)))
        scratch = os.path.join(root, "runs", f"training-{index}")
        run_id = run_id_of(train_run(elmrun, settings, scratch))
        os.rename(scratch, os.path.join(root, "runs", run_id))
        lines.append("\t".join([str(index), run_id] + list(values)))
    with open(os.path.join(root, "manifest.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


def manifest_rows(sweep_dir: str) -> list:
    with open(os.path.join(sweep_dir, "manifest.tsv")) as f:
        header, *rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [dict(zip(header, r)) for r in rows]


@pytest.fixture(scope="session")
def good_sweep(tmp_path_factory):
    """A finished 12-run sweep; treat as read-only (copy it to damage it)."""
    return build_sweep(str(tmp_path_factory.mktemp("sweep")), GRID, FIXED, elmrun_path())


@pytest.fixture
def sweep_copy(good_sweep, tmp_path):
    return shutil.copytree(good_sweep, str(tmp_path / "sweep"))
