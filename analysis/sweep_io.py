"""Reading sweep directories and run results (shared by collect.py and report.py).

Layout and results.h5 format: docs/sweeps.md. Every reader here is defensive:
a sweep directory is written by many jobs that can die at any moment, so a
broken file is a finding to report, never a reason to stop.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np

from array_expression import array_expression  # noqa: F401  (sweep_io.array_expression for collect)

RESULTS_FORMAT = "elmrun-results-1"

# NeuronIO metrics appear under the reference's names ("AUC", "TP @ 0.0025 FP",
# as in the released eval_results.json) or under docs/sweeps.md's names; one
# canonical column name per metric keeps tables and plots independent of that.
CANONICAL_METRIC = {
    "AUC": "spike_auc",
    "TP @ 0.0025 FP": "spike_tp_at_fp_0025",
    "AUC @ 0.0025 FP": "spike_auc_at_fp_0025",
    "TP @ 0.0100 FP": "spike_tp_at_fp_0100",
    "AUC @ 0.0100 FP": "spike_auc_at_fp_0100",
    "soma_RMSE": "soma_rmse",
    "soma_MAE": "soma_mae",
    "soma_explained_variance_percent": "soma_explained_variance_percent",
}

# Config keys that do not change results (also left out of the run_id hash).
NON_RESULT_KEYS = ("train.threads", "train.log_every")


def short_key(key: str) -> str:
    """'model.num_memory' -> 'num_memory'."""
    return key.rsplit(".", 1)[-1]


def canonical_metric(name: str) -> str:
    if name in CANONICAL_METRIC:
        return CANONICAL_METRIC[name]
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()


@dataclass
class Problem:
    """One finding about a sweep: kind is a run state that is not done (failed, running, stale,
    interrupted, not_started), or foreign, manifest or layout."""

    kind: str
    reason: str
    index: int | None = None
    run_id: str | None = None

    def line(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"#{self.index}")
        if self.run_id:
            where.append(self.run_id)
        prefix = " ".join(where)
        return f"{self.kind:<10} {prefix + ': ' if prefix else ''}{self.reason}"


@dataclass
class RunResults:
    """What one readable results.h5 holds; scalars only (series: read_series)."""

    attrs: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
    last_valid: dict = field(default_factory=dict)
    steps_completed: float = math.nan
    mean_sample_steps_per_s: float = math.nan


class UnreadableResults(Exception):
    pass


# ---------------------------------------------------------------- manifest


@dataclass
class Manifest:
    axes: list
    rows: list  # dicts: index (int), run_id (str), one str value per axis
    problems: list


def read_manifest(path: str) -> Manifest:
    """Tab-separated: index, run_id, one column per grid axis. Tolerates ragged rows."""
    problems = []
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            lines = [row for row in csv.reader(f, delimiter="\t") if any(c.strip() for c in row)]
    except OSError as e:
        return Manifest([], [], [Problem("manifest", f"cannot read manifest.tsv: {e}")])
    if not lines:
        return Manifest([], [], [Problem("manifest", "manifest.tsv is empty")])
    header = [h.strip() for h in lines[0]]
    if "run_id" not in header:
        problems.append(Problem("manifest", f"manifest.tsv header has no run_id column: {header}"))
        return Manifest([], [], problems)
    axes = [h for h in header if h not in ("index", "run_id") and h]
    rows, seen_index, seen_id = [], set(), set()
    for position, cells in enumerate(lines[1:]):
        cells = [c.strip() for c in cells]
        if len(cells) != len(header):
            problems.append(Problem("manifest", f"manifest row {position + 1} has {len(cells)} fields, "
                                                f"header has {len(header)}"))
        values = dict(zip(header, cells + [""] * (len(header) - len(cells))))
        index = _parse_index(values.get("index"), position, problems)
        if index in seen_index:
            problems.append(Problem("manifest", f"index {index} appears twice", index=index))
        seen_index.add(index)
        run_id = values.get("run_id", "")
        if run_id in seen_id:
            problems.append(Problem("manifest", f"run_id appears twice", index=index, run_id=run_id))
        seen_id.add(run_id)
        row = {"index": index, "run_id": run_id}
        row.update({a: values.get(a, "") for a in axes})
        rows.append(row)
    return Manifest(axes, rows, problems)


def _parse_index(text, position, problems):
    try:
        return int(text)
    except (TypeError, ValueError):
        problems.append(Problem("manifest", f"row {position + 1}: index {text!r} is not an integer, "
                                            f"using its position {position}"))
        return position


def valid_run_id(run_id: str) -> bool:
    # Guards the path join below against '..', '/' and empty names from a damaged manifest.
    return bool(re.fullmatch(r"[0-9A-Za-z_.-]+", run_id or "")) and run_id not in (".", "..")


# ---------------------------------------------------------------- run directories


def read_text(path: str, limit: int = 2000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit).strip()
    except OSError:
        return ""


def read_config_json(path: str):
    """The flat config dict, or raise ValueError saying why it is unusable."""
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"unreadable config.json ({type(e).__name__})") from e
    if not isinstance(config, dict):
        raise ValueError("config.json is not a JSON object")
    return config


def same_value(a, b) -> bool:
    """Config values are strings; '20' and '20.0' name the same axis value."""
    a, b = str(a).strip(), str(b).strip()
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def config_mismatches(config: dict, expected: dict, strict: bool) -> list:
    """Axis keys whose config value differs from the manifest's (absent keys count only when strict)."""
    wrong = []
    for key, want in expected.items():
        if key not in config:
            if strict:
                wrong.append(f"{key} absent (manifest {want})")
        elif not same_value(config[key], want):
            wrong.append(f"{key}={config[key]} (manifest {want})")
    return wrong


def fnv1a64(data: bytes) -> str:
    """elmrun's fnv1a64 (src/dist/comm.hpp): standard FNV-1a 64, as hex."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def identity_hashes(config: dict) -> set:
    """run_id candidates for a resolved config: FNV-1a 64 of its flat JSON without NON_RESULT_KEYS.

    elmrun writes that JSON with Boost's write_json (sorted keys, no spaces, '/'
    escaped as '\\/'); the variants cover how it may treat non-ASCII text.
    """
    kept = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items() if k not in NON_RESULT_KEYS}
    texts = set()
    for ensure_ascii in (False, True):
        text = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii)
        texts.update((text, text.replace("/", "\\/")))
    return {fnv1a64(t.encode("utf-8")) for t in texts}


# ---------------------------------------------------------------- run states

# The states of a run directory and the rule that tells them apart mirror
# src/train/run_status.cpp (read_run_state, describe_run_state); keep the two
# in step. RUN_DIR/status is written by rank 0 of the run (format in
# src/train/run_status.hpp and docs/sweeps.md).
RUN_STATES = ("done", "running", "stale", "interrupted", "failed", "not_started")
# What a resubmission runs again (`elmrun status` calls them "remains").
REMAINING_STATES = ("failed", "interrupted", "stale", "not_started")
STALE_SECONDS = 60.0  # kStaleSeconds: a running status with an older heartbeat is stale


@dataclass
class RunState:
    state: str = "not_started"
    step: int = 0  # running / stale: last step reported
    steps: int = 0  # the run's total (0: unknown)
    checkpoint_step: int = 0  # newest complete checkpoint (0: none)
    heartbeat_age: float = 0.0  # running / stale: seconds since the last heartbeat (inf: none readable)
    reason: str = ""  # failed: FAILED's first line; interrupted: the status file's reason
    holder: str = ""  # running / stale: HOST:PID


def latest_checkpoint_step(run_dir: str) -> int:
    """Step of the newest checkpoints/step_N that has both DONE and state.h5; 0 if none."""
    root = os.path.join(run_dir, "checkpoints")
    steps = []
    try:
        for name in os.listdir(root):
            m = re.fullmatch(r"step_(\d+)", name)
            path = os.path.join(root, name)
            if m and os.path.isdir(path) and os.path.exists(os.path.join(path, "DONE")) \
                    and os.path.exists(os.path.join(path, "state.h5")):
                steps.append(int(m.group(1)))
    except OSError:
        return 0
    return max(steps) if steps else 0


def _leading_int(text: str) -> int:
    m = re.match(r"\s*[+-]?\d+", text)
    return int(m.group()) if m else 0


def _leading_float(text: str) -> float:
    m = re.match(r"\s*[+-]?(inf(inity)?|nan|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)", text, re.IGNORECASE)
    return float(m.group()) if m else 0.0


def read_status_file(run_dir: str):
    """RUN_DIR/status as a dict (state, step, steps, checkpoint_step, host, pid, started, updated,
    reason), or None when absent or without a state line (torn, empty, foreign)."""
    try:
        with open(os.path.join(run_dir, "status"), "rb") as f:
            text = f.read(65536).decode("utf-8", "replace")
    except OSError:
        return None
    s = {"state": "", "step": 0, "steps": 0, "checkpoint_step": 0, "host": "", "pid": 0, "started": 0.0,
         "updated": 0.0, "reason": ""}
    for line in text.split("\n"):
        key, eq, value = line.partition("=")
        if not eq or key not in s:
            continue
        if key in ("step", "steps", "checkpoint_step", "pid"):
            s[key] = _leading_int(value)
        elif key in ("started", "updated"):
            s[key] = _leading_float(value)
        else:
            s[key] = value
    return s if s["state"] else None


def read_run_state(run_dir: str, now: float = None, stale_after: float = STALE_SECONDS) -> RunState:
    """Classifies a run directory: FAILED, then DONE; a running status whose heartbeat is older
    than stale_after is stale; a complete checkpoint or an interrupted status is interrupted;
    anything else (an absent directory too) is not started. Reads small files only."""
    now = time.time() if now is None else now
    failed = os.path.join(run_dir, "FAILED")
    if os.path.exists(failed):
        try:
            with open(failed, "rb") as f:
                why = f.read(4096).decode("utf-8", "replace").split("\n")[0].rstrip("\r")
        except OSError:
            why = ""
        return RunState("failed", reason=why or "FAILED without a reason")
    status = read_status_file(run_dir)
    if os.path.exists(os.path.join(run_dir, "DONE")):
        info = RunState("done")
        if status:
            info.step, info.steps = status["step"], status["steps"]
        return info
    info = RunState(checkpoint_step=latest_checkpoint_step(run_dir))
    if status:
        info.step, info.steps = status["step"], status["steps"]
        if status["state"] == "running":
            updated = status["updated"]
            info.heartbeat_age = max(0.0, now - updated) if math.isfinite(updated) and updated > 0 else math.inf
            info.holder = f"{status['host']}:{status['pid']}"
            info.state = "running" if info.heartbeat_age <= stale_after else "stale"
            return info
        if status["state"] in ("interrupted", "done", "failed"):
            info.reason = status["reason"]
    # DONE/FAILED absent: a status of done/failed without its marker was cut short while
    # finishing, which is what a checkpoint resumes.
    if info.checkpoint_step > 0 or (status and status["state"] == "interrupted"):
        info.state = "interrupted"
    return info


def describe_run_state(info: RunState) -> str:
    """One line for people, word for word what `elmrun status` prints."""
    of = f" of {info.steps}" if info.steps > 0 else ""
    ckpt = f"checkpoint at step {info.checkpoint_step}{of}" if info.checkpoint_step > 0 else "no checkpoint"
    age = f"{math.floor(info.heartbeat_age):.0f} s" if math.isfinite(info.heartbeat_age) else ""
    if info.state == "done":
        return "done"
    if info.state == "failed":
        return f"failed ({info.reason})"
    if info.state == "running":
        return f"running (step {info.step}{of}, heartbeat {age} ago, {info.holder})"
    if info.state == "stale":
        silence = f"no heartbeat for {age}" if age else "no valid heartbeat"
        return f"stale ({silence} from {info.holder}, last step {info.step}{of}; {ckpt})"
    if info.state == "interrupted":
        return f"interrupted ({ckpt})"
    return "not started"


def _attr(attrs, name, default=None):
    value = attrs.get(name, default)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _total_rate(rates) -> float:
    """Total sample-steps over total time, from per-step rates of equal work per
    step (batch x sequence length): their harmonic mean. The plain mean would
    overstate a run whose steps vary in time."""
    rates = np.asarray(rates, dtype=float).ravel()
    rates = rates[np.isfinite(rates) & (rates > 0)]
    return float(rates.size / np.sum(1.0 / rates)) if rates.size else math.nan


def _finite_mean(values) -> float:
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def read_results(path: str) -> RunResults:
    """Scalars of one results.h5; UnreadableResults when it is not a complete results file."""
    import h5py  # deferred: argument errors should not wait for h5py's import

    if not os.path.isfile(path):
        raise UnreadableResults("no results.h5")
    if os.path.getsize(path) == 0:
        raise UnreadableResults("half-written results (empty results.h5)")
    try:
        with h5py.File(path, "r") as f:
            return _read_results_file(f)
    except UnreadableResults:
        raise
    except Exception as e:  # h5py raises OSError, KeyError, ValueError... for damaged files
        raise UnreadableResults(f"half-written results ({type(e).__name__}: {str(e)[:120]})") from e


def _read_results_file(f) -> RunResults:
    import h5py

    r = RunResults()
    r.attrs = {k: _attr(f.attrs, k) for k in f.attrs.keys()}
    fmt = r.attrs.get("format")
    if fmt != RESULTS_FORMAT:
        raise UnreadableResults(f"results.h5 format is {fmt!r}, not {RESULTS_FORMAT!r}")
    try:
        config = json.loads(r.attrs.get("config_json") or "{}")
        r.config = config if isinstance(config, dict) else {}
    except (TypeError, json.JSONDecodeError):
        r.config = {}
    if "test" in f:
        for name, ds in f["test"].items():
            if isinstance(ds, h5py.Dataset):
                r.test[canonical_metric(name)] = float(np.asarray(ds[()], dtype=float).ravel()[0])
    if "valid" in f:
        for name, ds in f["valid"].items():
            if name == "step" or not isinstance(ds, h5py.Dataset):
                continue
            values = np.asarray(ds[()], dtype=float).ravel()
            r.last_valid[canonical_metric(name)] = float(values[-1]) if values.size else math.nan
    steps = r.attrs.get("steps_completed")
    if steps is None and "train/loss" in f:  # older files: one loss per completed step
        steps = f["train/loss"].shape[0]
    r.steps_completed = float(steps) if steps is not None else math.nan
    if "train/sample_steps_per_s" in f:
        r.mean_sample_steps_per_s = _total_rate(f["train/sample_steps_per_s"][()])
    return r


def read_series(path: str) -> dict:
    """Per-step and per-evaluation series of a results.h5: {'train/loss': array, 'valid/step': ...,
    'valid/<canonical metric>': ...}; {} when unreadable (plots then skip the run)."""
    import h5py

    series = {}
    try:
        with h5py.File(path, "r") as f:
            for group in ("train", "valid"):
                if group not in f:
                    continue
                for name, ds in f[group].items():
                    if isinstance(ds, h5py.Dataset) and ds.ndim == 1:
                        key = name if name == "step" or group == "train" else canonical_metric(name)
                        series[f"{group}/{key}"] = np.asarray(ds[()], dtype=float)
    except Exception:
        return {}
    return series
