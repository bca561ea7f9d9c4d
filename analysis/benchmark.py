#!/usr/bin/python3
"""One report across the sweeps of a benchmark, next to the paper's published numbers.

    /usr/bin/python3 analysis/benchmark.py SUITE_OR_SWEEP_DIR... --out DIR [--published CSV]

Each argument is a suite directory (what `elmrun sweep SUITE.ini` writes: one
sweep directory per job and suite.tsv, the list of the suite's jobs), a sweep
directory or one run directory. Writes DIR/benchmark.md, DIR/benchmark.html
(self-contained: the PNGs inlined as data: URIs, no scripts) and the PNGs.

- Runs are read as analysis/collect.py reads them: only a run with DONE and a
  readable results.h5 counts. A configuration is a run's resolved config
  without train.seed (and without the keys that change no result), pooled over
  the sweeps given; the seeds of a configuration give its mean and its sample
  standard deviation (ddof = 1; none for one seed).
- Selection: for every published number of the task (analysis/published_results.csv,
  rows whose `config` conditions a configuration meets), the configuration with
  the best mean **validation** value of the task's main metric (spike AUC for
  NeuronIO, else accuracy; the last evaluation, made on the final model) is
  chosen and its **test** mean is reported. Test values never choose.
- Verdict: within when |ours - paper| <= the band: 2 x the paper's std where it
  gives one, else 2 x our seed std (2 or more seeds), and never less than half
  a unit of the published figure's last digit. Runs on a synthetic store
  (`elmrun prep synthetic_*`) are shown but not compared.
- Compute from the runs' own records (results.h5, else the newest checkpoint):
  wall_seconds, world_size, train.threads and train.backend; runs of one pack
  (packs.tsv) trained in one process and count once.
- Partial input gives a partial report: absent sweeps, unfinished and broken
  runs are listed per sweep with the command that completes them.

Exit 0 when the report is written; 1 with one line on stderr for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import os
import re
import shlex
import sys
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collect as collect_mod  # noqa: E402
import report  # noqa: E402
import sweep_io  # noqa: E402
from number_text import count_text, grid_text, measured_text  # noqa: E402
from report import Bullets, Code, Heading, Image, Paragraph, Table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
DEFAULT_PUBLISHED = os.path.join(HERE, "published_results.csv")

TASK_TITLES = {
    "neuronio": "NeuronIO", "shd": "SHD", "shd_adding": "SHD-Adding", "listops": "ListOps", "text": "Text",
    "retrieval": "Retrieval", "image": "Image", "pathfinder": "Pathfinder", "pathx": "Path-X",
    "sfmnist": "sequential Fashion-MNIST", "synthetic_listops": "synthetic ListOps",
    "synthetic_burst": "synthetic burst",
}
LRA_TASKS = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")
SHD_TASKS = ("shd", "shd_adding")
# The NeuronIO table's columns: the released eval_results.json quantities (canonical names).
NEURONIO_METRICS = (
    ("AUC", "spike_auc"), ("TP @ 0.0025 FP", "spike_tp_at_fp_0025"), ("TP @ 0.0100 FP", "spike_tp_at_fp_0100"),
    ("soma RMSE", "soma_rmse"), ("soma explained variance %", "soma_explained_variance_percent"),
)
LOWER_IS_BETTER = ("loss", "soma_rmse", "soma_mae")
SEED_KEY = "train.seed"
# Preferred names of a configuration when several keys vary together.
LABEL_KEYS = ("model.num_memory", "task.bin_ms", "model.memory_tau_max", "model.lambda_value", "model.num_branch")
# Keys that name where or how a run computed, not what it computed.
NOT_CONFIGURATION = set(sweep_io.NON_RESULT_KEYS) | {SEED_KEY, "train.backend"}


class UsageError(Exception):
    pass


def number(value) -> float:
    """A float from an attribute or config value; NaN for anything else."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------- inputs


@dataclass
class Sweep:
    name: str
    path: str
    suite: str = ""        # the suite directory it belongs to ('' for a sweep given alone)
    suite_file: str = ""   # suite.tsv's suite file, for the commands that complete it
    job_file: str = ""


def is_suite_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "suite.tsv"))


def read_suite_tsv(path: str):
    """[(sweep, job_file, suite_file)] of SUITE_DIR/suite.tsv, [] when unreadable."""
    try:
        with open(os.path.join(path, "suite.tsv"), newline="", encoding="utf-8", errors="replace") as f:
            rows = list(csv.reader(f, delimiter="\t"))
    except OSError:
        return []
    if not rows or rows[0][:2] != ["sweep", "job_file"]:
        return []
    out = []
    for r in rows[1:]:
        if len(r) >= 2 and sweep_io.valid_run_id(r[0]):  # a sweep name is one directory name
            out.append((r[0], r[1], r[2] if len(r) > 2 else ""))
    return out


def resolve_inputs(paths):
    """The sweeps the arguments stand for; UsageError for an argument that is none of a suite,
    sweep or run directory."""
    sweeps, seen = [], set()

    def add(s: Sweep):
        key = os.path.realpath(s.path)
        if key not in seen:
            seen.add(key)
            sweeps.append(s)

    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such directory")
        if not os.path.isdir(path):
            raise UsageError(f"{path}: not a directory (pass a suite directory such as runs/paper, or sweep "
                             "directories)")
        if is_suite_dir(path):
            listed = read_suite_tsv(path)
            for name, job_file, suite_file in listed:
                add(Sweep(name, os.path.join(path, name), path, suite_file, job_file))
            for name in sorted(os.listdir(path)):  # sweeps in the directory that suite.tsv does not list
                sub = os.path.join(path, name)
                if name not in {n for n, _, _ in listed} and is_sweep_dir(sub):
                    add(Sweep(name, sub, path))
            continue
        try:
            collect_mod.sweep_kind(path)
            add(Sweep(os.path.basename(os.path.abspath(path)), path))
            continue
        except collect_mod.NotASweep:
            pass
        subs = [n for n in sorted(os.listdir(path)) if is_sweep_dir(os.path.join(path, n))]
        if not subs:
            raise UsageError(f"{path}: neither a suite directory (suite.tsv or sweep directories) nor a sweep "
                             "directory (manifest.tsv, runs/) nor a run directory")
        for name in subs:
            add(Sweep(name, os.path.join(path, name), path))
    return sweeps


def is_sweep_dir(path: str) -> bool:
    try:
        return collect_mod.sweep_kind(path) == "sweep"
    except (collect_mod.NotASweep, OSError):
        return False


# ---------------------------------------------------------------- published numbers


@dataclass
class Published:
    task: str
    model: str
    metric: str
    value: float
    value_text: str
    std: float
    parameter_count: float
    conditions: dict
    source: str


def read_published(path: str):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None
    need = {"task", "model", "metric", "value", "std", "parameter_count", "source"}
    if rows and not need <= set(rows[0]):
        raise UsageError(f"{path}: needs the columns {', '.join(sorted(need))}")
    out = []
    for line, r in enumerate(rows, start=2):
        try:
            value = float(r["value"])
            std = float(r["std"]) if (r.get("std") or "").strip() else math.nan
            params = float(r["parameter_count"]) if (r.get("parameter_count") or "").strip() else math.nan
        except ValueError:
            raise UsageError(f"{path}:{line}: value, std and parameter_count must be numbers") from None
        conditions = {}
        for part in (r.get("config") or "").split(";"):
            if part.strip():
                key, eq, val = part.partition("=")
                if not eq:
                    raise UsageError(f"{path}:{line}: config entry {part!r} is not section.key=value")
                conditions[key.strip()] = val.strip()
        out.append(Published(r["task"].strip(), r["model"].strip(), r["metric"].strip(), value, r["value"].strip(),
                             std, params, conditions, r["source"].strip()))
    return out


def shown(p: Published) -> str:
    """A published figure as given (keeps '0.10'), or to 4 digits when given to many more."""
    return p.value_text if len(p.value_text) <= 8 else measured_text(p.value)


def half_unit(value_text: str) -> float:
    """Half a unit of the last digit a figure is given to (0.005 for '0.91')."""
    m = re.fullmatch(r"[+-]?\d*(?:\.(\d*))?(?:[eE]([+-]?\d+))?", value_text.strip())
    if not m:
        return 0.0
    decimals = len(m.group(1) or "") - int(m.group(2) or 0)
    return 0.5 * 10.0 ** (-decimals)


# ---------------------------------------------------------------- runs


@dataclass
class RunRecord:
    sweep: str
    index: int
    run_id: str
    status: str
    config: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
    valid: dict = field(default_factory=dict)
    parameter_count: float = math.nan
    wall_seconds: float = math.nan   # from results.h5 or the newest checkpoint
    world_size: float = math.nan
    pack: int = -1                   # packs.tsv's pack of this run (-1: none listed)


@dataclass
class SweepState:
    sweep: Sweep
    frame: object = None   # collect's table (None: the sweep could not be read)
    problems: list = field(default_factory=list)
    error: str = ""        # why the sweep is absent or unreadable
    runs: list = field(default_factory=list)


def read_sweep(s: Sweep) -> SweepState:
    state = SweepState(s)
    if not os.path.isdir(s.path):
        state.error = "not started (no sweep directory)"
        return state
    try:
        frame, problems = collect_mod.collect(s.path)
    except collect_mod.NotASweep as e:
        state.error = f"not started ({e})"
        return state
    except Exception as e:  # a damaged sweep is a finding, never a traceback
        state.error = f"unreadable sweep directory ({type(e).__name__}: {str(e)[:160]})"
        return state
    state.frame, state.problems = frame, problems
    packs = read_packs(s.path)
    run_dirs = frame.attrs.get("run_dirs", [])
    for position, (_, row) in enumerate(frame.iterrows()):
        run_dir = run_dirs[position] if position < len(run_dirs) else None
        state.runs.append(read_run(s.name, row, run_dir, packs))
    return state


def read_packs(sweep_dir: str) -> dict:
    """manifest index -> pack, for packs of more than one run (packs.tsv)."""
    out = {}
    try:
        with open(os.path.join(sweep_dir, "packs.tsv"), encoding="utf-8", errors="replace") as f:
            next(f, None)
            for line in f:
                cells = line.rstrip("\n").split("\t")
                if len(cells) != 2 or not cells[0].isdigit():
                    continue
                members = [int(i) for i in cells[1].split() if i.isdigit()]
                if len(members) > 1:
                    out.update({i: int(cells[0]) for i in members})
    except OSError:
        pass
    return out


def read_run(sweep_name: str, row, run_dir, packs: dict) -> RunRecord:
    r = RunRecord(sweep_name, int(row["index"]), str(row["run_id"]), str(row["status"]))
    r.pack = packs.get(r.index, -1)
    if not run_dir:
        return r
    try:
        r.config = sweep_io.read_config_json(os.path.join(run_dir, "config.json"))
    except ValueError:
        r.config = {}
    try:
        results = sweep_io.read_results(os.path.join(run_dir, "results.h5"))
    except sweep_io.UnreadableResults:
        results = None
    if results is not None:
        r.config = results.config or r.config
        r.wall_seconds = number(results.attrs.get("wall_seconds"))
        r.world_size = number(results.attrs.get("world_size"))
        if r.status == "done":  # only finished runs give results (collect's rule)
            r.test, r.valid = dict(results.test), dict(results.last_valid)
            r.parameter_count = number(results.attrs.get("parameter_count"))
    else:
        r.wall_seconds, r.world_size = checkpoint_record(run_dir)
    return r


def checkpoint_record(run_dir: str):
    """(wall_seconds, world_size) of the newest complete checkpoint, NaNs when there is none."""
    step = sweep_io.latest_checkpoint_step(run_dir)
    if step <= 0:
        return math.nan, math.nan
    import h5py

    path = os.path.join(run_dir, "checkpoints", f"step_{step:08d}", "state.h5")
    try:
        with h5py.File(path, "r") as f:
            return number(f.attrs.get("wall_seconds")), number(f.attrs.get("world_size"))
    except Exception:
        return math.nan, math.nan


# ---------------------------------------------------------------- data origin


_STORE_CACHE = {}


def synthetic_store(config: dict, sweep_dir: str) -> str:
    """The generator's name when the run's task.store was written by `elmrun prep synthetic_*`, else ''.
    A store not found here is taken as real data."""
    store = str(config.get("task.store", "")).strip()
    if not store:
        return ""
    candidates = [store] if os.path.isabs(store) else [store] + [
        os.path.join(up, store) for up in ancestors(sweep_dir)]
    for candidate in candidates:
        key = os.path.realpath(candidate)
        if key in _STORE_CACHE:
            return _STORE_CACHE[key]
        for split in ("train.h5", "test.h5", "valid.h5"):
            path = os.path.join(candidate, split)
            if os.path.isfile(path):
                _STORE_CACHE[key] = store_generator(path)
                return _STORE_CACHE[key]
    return ""


def ancestors(path: str):
    path = os.path.abspath(path)
    for _ in range(4):
        path = os.path.dirname(path)
        yield path


def store_generator(path: str) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for name in ("extra.generator", "source"):
                if name in f.attrs:
                    value = f.attrs[name]
                    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    if value.startswith("synthetic"):
                        return value.split()[0]
    except Exception:
        pass
    return ""


# ---------------------------------------------------------------- configurations


@dataclass
class Configuration:
    task: str
    synthetic: str           # generator name of a synthetic store, '' for real data
    key: str                 # the config without seed, as text
    config: dict
    runs: list               # RunRecords (done, one per seed)
    expected_seeds: set
    sweeps: list
    label: str = ""

    def values(self, split: str, metric: str):
        import numpy as np

        source = "test" if split == "test" else "valid"
        values = [getattr(r, source).get(metric, math.nan) for r in self.runs]
        return np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)

    def mean(self, split: str, metric: str) -> float:
        v = self.values(split, metric)
        return float(v.mean()) if v.size else math.nan

    def std(self, split: str, metric: str) -> float:
        v = self.values(split, metric)
        return float(v.std(ddof=1)) if v.size >= 2 else math.nan

    def seeds(self, split: str = "test", metric: str = "") -> int:
        return int(self.values(split, metric).size) if metric else len(self.runs)

    @property
    def parameter_count(self) -> float:
        counts = [r.parameter_count for r in self.runs if math.isfinite(r.parameter_count)]
        return counts[0] if counts else math.nan


def configuration_key(config: dict) -> str:
    return ";".join(f"{k}={config[k]}" for k in sorted(config) if k not in NOT_CONFIGURATION)


def build_configurations(states):
    """Configurations of finished runs, pooled over sweeps (a run in two sweeps counts once)."""
    by_key, order, seen_runs = {}, [], set()
    expected = {}
    for state in states:
        for r in state.runs:
            if not r.config:
                continue
            task = str(r.config.get("task.name", "?"))
            synthetic = synthetic_store(r.config, state.sweep.path)
            key = (task, synthetic, configuration_key(r.config))
            expected.setdefault(key, set()).add(str(r.config.get(SEED_KEY, "0")))
            if r.status != "done" or r.run_id in seen_runs:
                continue
            seen_runs.add(r.run_id)
            if key not in by_key:
                config = {k: v for k, v in r.config.items() if k not in NOT_CONFIGURATION}
                by_key[key] = Configuration(task, synthetic, key[2], config, [], set(), [])
                order.append(key)
            c = by_key[key]
            c.runs.append(r)
            if r.sweep not in c.sweeps:
                c.sweeps.append(r.sweep)
    configurations = [by_key[k] for k in order]
    for key, c in zip(order, configurations):
        c.expected_seeds = expected.get(key, set())
    label_configurations(configurations)
    return configurations


def label_configurations(configurations):
    """Each configuration named by the keys whose values differ among its task's configurations."""
    tasks = {}
    for c in configurations:
        tasks.setdefault((c.task, c.synthetic), []).append(c)
    for group in tasks.values():
        keys = sorted({k for c in group for k in c.config})
        varying = [k for k in keys if len({str(c.config.get(k, "")) for c in group}) > 1]
        # Keys that follow another (mlp_hidden_size follows num_memory, delta_t follows bin_ms)
        # would only repeat it; the names people vary win.
        configs = [c.config for c in group]
        kept = []
        for key in sorted(varying, key=lambda k: (k not in LABEL_KEYS, LABEL_KEYS.index(k) if k in LABEL_KEYS else 0)):
            if not any(collect_mod.determines(other, key, configs) for other in kept):
                kept.append(key)
        varying = kept
        for c in group:
            c.label = ", ".join(f"{sweep_io.short_key(k)}={c.config.get(k, '-')}" for k in varying) or "recipe"


def main_metric(task: str, configurations) -> str:
    """spike AUC for NeuronIO, accuracy for classification, else the first test metric of the runs."""
    if task == "neuronio":
        return "spike_auc"
    names = [m for c in configurations for r in c.runs for m in r.test]
    if "accuracy" in names or not names:
        return "accuracy"
    return next((m for m in names if m not in ("samples", "simulations_kept")), "accuracy")


def higher_is_better(metric: str) -> bool:
    return not any(metric.endswith(x) for x in LOWER_IS_BETTER)


def meets(config: dict, conditions: dict) -> bool:
    return all(k in config and sweep_io.same_value(config[k], v) for k, v in conditions.items())


# ---------------------------------------------------------------- selection and verdicts


@dataclass
class Comparison:
    task: str
    synthetic: str
    metric: str
    configuration: Configuration
    published: Published | None
    candidates: int  # configurations it was chosen from

    @property
    def ours(self) -> float:
        return self.configuration.mean("test", self.metric)

    @property
    def ours_std(self) -> float:
        return self.configuration.std("test", self.metric)

    @property
    def seeds(self) -> int:
        return self.configuration.seeds("test", self.metric)


def select(candidates, metric):
    """The candidate with the best mean validation value (first on ties); None when none has one."""
    better = higher_is_better(metric)
    best, best_value = None, None
    for c in candidates:
        value = c.mean("valid", metric)
        if not math.isfinite(value):
            continue
        if best is None or (value > best_value if better else value < best_value):
            best, best_value = c, value
    return best


def compare(configurations, published):
    """Comparisons per task: one per published row that some configuration meets, else the best."""
    comparisons, unmatched = [], []
    tasks = []
    for c in configurations:
        if (c.task, c.synthetic) not in tasks:
            tasks.append((c.task, c.synthetic))
    for task, synthetic in tasks:
        group = [c for c in configurations if (c.task, c.synthetic) == (task, synthetic)]
        metric = main_metric(task, group)
        targets = [p for p in published if p.task == task and p.metric == metric and p.conditions]
        found = False
        for p in targets:
            candidates = [c for c in group if meets(c.config, p.conditions)]
            chosen = select(candidates, metric)
            if chosen is not None:
                comparisons.append(Comparison(task, synthetic, metric, chosen, p, len(candidates)))
                found = True
        if not found:
            chosen = select(group, metric)
            if chosen is not None:
                comparisons.append(Comparison(task, synthetic, metric, chosen, None, len(group)))
    real = {(c.task, c.published.model) for c in comparisons if c.published and not c.synthetic}
    for p in published:
        if p.conditions and p.metric == main_metric(p.task, []) and (p.task, p.model) not in real:
            unmatched.append(p)
    return comparisons, unmatched


def verdict(cmp: Comparison):
    """(difference, band, verdict text)."""
    if cmp.published is None:
        return math.nan, math.nan, "no published number"
    if cmp.synthetic:
        return math.nan, math.nan, f"not compared: synthetic data ({cmp.synthetic})"
    ours, p = cmp.ours, cmp.published
    if not math.isfinite(ours):
        return math.nan, math.nan, "no test value"
    diff = ours - p.value
    if math.isfinite(p.std):
        band, basis = 2 * p.std, "2 x the paper's std"
    elif cmp.seeds >= 2 and math.isfinite(cmp.ours_std):
        band, basis = 2 * cmp.ours_std, f"2 x our std over {cmp.seeds} seeds"
    else:
        band, basis = 0.0, "one seed, no published std"
    rounding = half_unit(p.value_text)
    if rounding > band:
        band, basis = rounding, basis + "; the figure's rounding"
    # A band from the paper's figures is as exact as they are; one from our seeds is measured.
    from_ours = basis.startswith("2 x our std") and not basis.endswith("the figure's rounding")
    band_text = measured_text(band) if from_ours else grid_text(round(band, 12))
    if abs(diff) <= band:
        return diff, band, f"within ±{band_text} ({basis})"
    side = "better" if (diff > 0) == higher_is_better(cmp.metric) else "worse"
    return diff, band, f"{side} than the paper, outside ±{band_text} ({basis})"


# ---------------------------------------------------------------- tables


def task_title(task: str, synthetic: str = "") -> str:
    title = TASK_TITLES.get(task, task)
    return f"{title} (synthetic: {synthetic})" if synthetic else title


def mean_std_text(mean: float, std: float, n: int) -> str:
    if not math.isfinite(mean):
        return "-"
    spread = f" ± {measured_text(std)}" if math.isfinite(std) else ""
    return f"{measured_text(mean)}{spread} (n={n})"


def selection_table(comparisons) -> Table:
    headers = ["task", "compared with", "selected configuration", "chosen from", "sweeps", "seeds", "parameters",
               "metric", "valid mean", "test mean", "test std", "paper", "paper std", "paper parameters",
               "difference", "verdict", "source"]
    rows = []
    for cmp in comparisons:
        c, p = cmp.configuration, cmp.published
        diff, _, text = verdict(cmp)
        expected = len(c.expected_seeds)
        seeds = f"{cmp.seeds}" + (f" of {expected}" if expected > cmp.seeds else "")
        rows.append([task_title(cmp.task, cmp.synthetic), p.model if p else "-", c.label,
                     f"{cmp.candidates} configuration(s)", ", ".join(c.sweeps), seeds, count_text(c.parameter_count),
                     cmp.metric, measured_text(c.mean("valid", cmp.metric)), measured_text(cmp.ours),
                     measured_text(cmp.ours_std), shown(p) if p else "-", measured_text(p.std) if p else "-",
                     count_text(p.parameter_count) if p else "-", measured_text(diff), text, p.source if p else "-"])
    return Table(headers, rows)


def configurations_table(configurations, metrics_of) -> Table:
    headers = ["task", "configuration", "sweeps", "seeds done", "seeds", "parameters", "metric", "valid mean",
               "valid std", "test mean", "test std"]
    rows = []
    for c in configurations:
        metric = metrics_of[(c.task, c.synthetic)]
        rows.append([task_title(c.task, c.synthetic), c.label, ", ".join(c.sweeps), str(len(c.runs)),
                     " ".join(sorted((str(r.config.get(SEED_KEY, "0")) for r in c.runs), key=seed_order)),
                     count_text(c.parameter_count), metric,
                     measured_text(c.mean("valid", metric)), measured_text(c.std("valid", metric)),
                     measured_text(c.mean("test", metric)), measured_text(c.std("test", metric))])
    return Table(headers, rows)


def seed_order(text):
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def best_of(comparisons, task, model):
    """Our comparison with the published row (task, model) on real data, or None."""
    for cmp in comparisons:
        if cmp.task == task and not cmp.synthetic and cmp.published and cmp.published.model == model:
            return cmp
    return None


def paper_layout_table(tasks, published, comparisons, ours_model: str) -> Table:
    """Rows = models (the paper's, then ours), columns = tasks, as the paper lays out LRA and SHD."""
    models = []
    for p in published:
        if p.task in tasks and p.metric == "accuracy" and p.model not in models:
            models.append(p.model)
    headers = ["model"] + [TASK_TITLES.get(t, t) for t in tasks]
    rows = []
    for model in models:
        cells = []
        for t in tasks:
            p = next((q for q in published if q.task == t and q.model == model and q.metric == "accuracy"), None)
            cells.append(shown(p) if p else "-")
        rows.append([f"{model} (paper)"] + cells)
    ours_rows = {}
    for t in tasks:
        for p in published:
            if p.task == t and p.metric == "accuracy" and p.conditions:
                cmp = best_of(comparisons, t, p.model)
                if cmp:
                    ours_rows.setdefault(p.model, {})[t] = mean_std_text(cmp.ours, cmp.ours_std, cmp.seeds)
    for model in models:
        if model in ours_rows or model == ours_model:
            rows.append([f"{model} (this benchmark)"] + [ours_rows.get(model, {}).get(t, "not run") for t in tasks])
    return Table(headers, rows)


def neuronio_table(published, comparisons) -> Table:
    """Rows = models (released or paper, then ours after each), columns = the released metrics."""
    headers = ["model", "parameters"] + [h for h, _ in NEURONIO_METRICS] + ["selected configuration", "source"]
    rows = []
    models = []
    for p in published:
        if p.task == "neuronio" and p.model not in models:
            models.append(p.model)
    ours = [c for c in comparisons if c.task == "neuronio"]
    for model in models:
        values = {p.metric: p for p in published if p.task == "neuronio" and p.model == model}
        first = next(iter(values.values()))
        rows.append([model, count_text(first.parameter_count)] + [shown(values[m]) if m in values else "-"
                                                           for _, m in NEURONIO_METRICS] + ["-", first.source])
        for cmp in [c for c in ours if c.published and c.published.model == model]:
            rows.append(ours_neuronio_row(cmp))
    for cmp in [c for c in ours if not c.published]:
        rows.append(ours_neuronio_row(cmp))
    return Table(headers, rows)


def ours_neuronio_row(cmp) -> list:
    c = cmp.configuration
    name = "this benchmark" + (f" (synthetic: {cmp.synthetic})" if cmp.synthetic else "")
    cells = [mean_std_text(c.mean("test", m), c.std("test", m), c.seeds("test", m)) for _, m in NEURONIO_METRICS]
    return [name, count_text(c.parameter_count)] + cells + [c.label, ", ".join(c.sweeps)]


# ---------------------------------------------------------------- plots


def guarded(plot, *args):
    """A plot, or the note saying why it could not be drawn: odd values in a run never end the report."""
    try:
        return plot(*args)
    except Exception as e:
        report.pyplot().close("all")
        return None, f"{plot.__name__} failed ({type(e).__name__}: {str(e)[:200]}): plot left out."


def plot_neuronio(configurations, published, out_dir):
    ours = [c for c in configurations if c.task == "neuronio" and math.isfinite(c.parameter_count)
            and math.isfinite(c.mean("test", "spike_auc"))]
    released = [p for p in published if p.task == "neuronio" and p.metric == "spike_auc"
                and math.isfinite(p.parameter_count)]
    if not ours:
        return None, "No finished NeuronIO run: no spike AUC against parameters plot."
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    series = {}
    for c in ours:
        series.setdefault((c.sweeps[0], c.synthetic), []).append(c)
    for (sweep, synthetic), group in series.items():
        group.sort(key=lambda c: c.parameter_count)
        stds = [c.std("test", "spike_auc") for c in group]
        ax.errorbar([c.parameter_count for c in group], [c.mean("test", "spike_auc") for c in group],
                    yerr=[s if math.isfinite(s) else 0.0 for s in stds], marker="o", capsize=3,
                    label=f"this benchmark: {sweep}" + (f" (synthetic: {synthetic})" if synthetic else ""))
    if released:
        by_activation = {}
        for p in released:
            if p.conditions:
                by_activation.setdefault(p.conditions.get("model.mlp_activation", "relu"), []).append(p)
        for k, (activation, elm) in enumerate(sorted(by_activation.items(), key=lambda kv: kv[0] != "relu")):
            elm.sort(key=lambda p: p.parameter_count)
            ax.plot([p.parameter_count for p in elm], [p.value for p in elm], "kx--" if k == 0 else "k^",
                    lw=0.8, label=f"released models ({activation} MLP)")
        for p in [p for p in released if not p.conditions]:
            ax.plot([p.parameter_count], [p.value], "s", color="tab:red", label=f"{p.model} (paper)")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("test spike AUC")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("NeuronIO: spike AUC against parameters (mean ± std over seeds)", fontsize="medium")
    return report.save(fig, out_dir, "neuronio_auc_vs_params.png"), ""


def plot_shd_adding(configurations, published, out_dir):
    group = [c for c in configurations if c.task == "shd_adding" and math.isfinite(c.mean("test", "accuracy"))]
    taus = {c.config.get("model.memory_tau_max") for c in group}
    bins = {c.config.get("task.bin_ms") for c in group}
    if not group or (len(taus) < 2 and len(bins) < 2):
        return None, "No SHD-Adding runs over several tau_max or bin sizes: no accuracy against tau_max plot."
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    by_bin = {}
    for c in group:
        by_bin.setdefault((number(c.config.get("task.bin_ms")), c.synthetic), []).append(c)
    for (bin_ms, synthetic), cs in sorted(by_bin.items(), key=lambda kv: (str(kv[0][1]), kv[0][0])):
        cs.sort(key=lambda c: number(c.config.get("model.memory_tau_max")))
        stds = [c.std("test", "accuracy") for c in cs]
        ax.errorbar([number(c.config.get("model.memory_tau_max")) for c in cs],
                    [c.mean("test", "accuracy") for c in cs], yerr=[s if math.isfinite(s) else 0.0 for s in stds],
                    marker="o", capsize=3, label=f"bin {grid_text(bin_ms)} ms" + (" (synthetic)" if synthetic else ""))
    for p in published:
        if p.task == "shd_adding" and p.metric == "accuracy" and p.conditions.get("model.variant") == "v1":
            ax.axhline(p.value, color="k", ls="--", lw=0.8, label=f"paper {p.model} ({shown(p)}, bin 2 ms)")
    ax.set_xscale("log")
    ax.set_xlabel("memory_tau_max (ms)")
    ax.set_ylabel("test accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("SHD-Adding: accuracy against tau_max and bin size (mean ± std over seeds)", fontsize="medium")
    return report.save(fig, out_dir, "shd_adding_tau_bin.png"), ""


def plot_against_paper(comparisons, out_dir):
    shown = [c for c in comparisons if math.isfinite(c.ours)]
    if not shown:
        return None, "No selected configuration with a test value: no bars."
    import numpy as np

    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(max(6.5, 0.9 * len(shown) + 2), 4.8))
    x = np.arange(len(shown))
    ours = [c.ours for c in shown]
    stds = [c.ours_std if math.isfinite(c.ours_std) else 0.0 for c in shown]
    ax.bar(x - 0.2, ours, 0.4, yerr=stds, capsize=3, color="tab:blue", label="this benchmark (test, mean ± std)")
    paper = [c.published.value if c.published and not c.synthetic else math.nan for c in shown]
    ax.bar(x + 0.2, paper, 0.4, color="tab:gray", label="paper / released")
    labels = [f"{TASK_TITLES.get(c.task, c.task)}{' (synth.)' if c.synthetic else ''}\n"
              f"{c.published.model if c.published else c.configuration.label}" for c in shown]
    ax.set_xticks(x, labels, fontsize="x-small", rotation=90 if len(shown) > 8 else 0)
    ax.set_ylabel("main test metric (accuracy or spike AUC)")
    values = [v for v in ours + paper if math.isfinite(v)]
    if values and min(values) >= 0 and max(values) <= 1:
        ax.set_ylim(0, 1.05)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return report.save(fig, out_dir, "tasks_vs_paper.png"), ""


# ---------------------------------------------------------------- compute


def compute_table(states):
    """Per task and in total: runs with a record, wall hours, CPU-core hours, GPU hours."""
    # (task, wall s, ranks, threads, on a GPU) per process: a run alone, or a pack's longest run.
    processes = {}
    counts = {}
    for state in states:
        for r in state.runs:
            if not math.isfinite(r.wall_seconds) or not r.config:
                continue
            ranks = r.world_size if math.isfinite(r.world_size) and r.world_size > 0 else 1.0
            try:
                threads = max(1, int(float(r.config.get("train.threads", "1"))))
            except ValueError:
                threads = 1
            gpu = str(r.config.get("train.backend", "cpu")) == "cuda"
            task = task_title(str(r.config.get("task.name", "?")), synthetic_store(r.config, state.sweep.path))
            counts[task] = counts.get(task, 0) + 1
            key = (state.sweep.path, "pack", r.pack) if r.pack >= 0 else (state.sweep.path, "run", r.run_id)
            previous = processes.get(key)
            if previous is None or r.wall_seconds > previous[1]:
                processes[key] = (task, r.wall_seconds, ranks, threads, gpu)
    totals = {task: {"wall": 0.0, "cpu": 0.0, "gpu": 0.0} for task in counts}
    for task, wall, ranks, threads, gpu in processes.values():
        t = totals[task]
        t["wall"] += wall / 3600
        t["gpu" if gpu else "cpu"] += wall * ranks * (1 if gpu else threads) / 3600
    rows = [[task, str(counts[task])] + [measured_text(v[k]) for k in ("wall", "cpu", "gpu")]
            for task, v in totals.items()]
    if totals:
        rows.append(["total", str(sum(counts.values()))] +
                    [measured_text(sum(v[k] for v in totals.values())) for k in ("wall", "cpu", "gpu")])
    return Table(["task", "runs with a record", "wall hours", "CPU-core hours", "GPU hours"], rows)


# ---------------------------------------------------------------- what remains


def completion_commands(s: Sweep, frame) -> list:
    """The commands that complete a sweep: elmrun locally, slurm/submit.py on a cluster."""
    elmrun = relative(os.path.join(SOURCE_DIR, "build", "elmrun"))
    submit = relative(os.path.join(SOURCE_DIR, "slurm", "submit.py"))
    if s.suite and s.suite_file:
        target = [s.suite_file, "--only", s.name, "--out", s.suite]
    else:
        target = [find_job_file(s) or f"<the job file of {s.name}>", "--out", s.path]
    target = [relative(x) if os.path.isabs(x) else x for x in target]
    lines = [" ".join([elmrun, "sweep"] + [shlex.quote(x) for x in target])]
    array = ""
    if frame is not None and frame.attrs.get("from_manifest"):
        indices = collect_mod.resubmit_indices(frame)
        array = f"   # runs --array={sweep_io.array_expression(indices)}" if indices else ""
    lines.append(" ".join([submit] + [shlex.quote(x) for x in target] + ["--mode", "array", "--only-missing"]) +
                 array)
    return lines


def relative(path: str) -> str:
    """Relative to the working directory when under it, else absolute."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else os.path.abspath(path)


def find_job_file(s: Sweep) -> str:
    """A sweep given alone: its job file in jobs/ (by sweep.name), when exactly one matches."""
    if s.job_file:
        return s.job_file
    import configparser

    name = s.name
    copy = os.path.join(s.path, "job.ini")
    if os.path.isfile(copy):
        cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None, strict=False)
        try:
            cp.read(copy)
            name = cp.get("sweep", "name", fallback=name).strip()
        except configparser.Error:
            pass
    matches = []
    for root, _, files in os.walk(os.path.join(SOURCE_DIR, "jobs")):
        for f in sorted(files):
            if not f.endswith(".ini"):
                continue
            cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None, strict=False)
            try:
                cp.read(os.path.join(root, f))
            except configparser.Error:
                continue
            if cp.has_section("sweep") and cp.get("sweep", "name", fallback=f[:-4]).strip() == name:
                matches.append(os.path.join(root, f))
    return matches[0] if len(matches) == 1 else ""


def remaining_blocks(states) -> list:
    blocks = [Heading("What is missing or failed, per sweep"),
              Paragraph("Each sweep's runs in the states of `elmrun status` (as collect.py reads them), then "
                        "the commands that complete it: rerunning skips finished runs and resumes interrupted "
                        "ones. Repeat the --set options the sweep was first run with: they are part of the run "
                        "ids.")]
    complete = []
    for state in states:
        s = state.sweep
        if state.frame is None:
            blocks.append(Heading(f"{s.name}: {state.error}", 3))
            blocks.append(Code("\n".join(completion_commands(s, None))))
            continue
        counts = collect_mod.status_counts(state.frame)
        done = bool(len(state.frame)) and set(state.frame["status"]) == {"done"} and not state.problems
        if done:
            complete.append(f"{s.name}: {counts}")
            continue
        blocks.append(Heading(f"{s.name}: {counts}", 3))
        # Runs merely not started yet are one line (a large sweep has thousands); the rest one each.
        fresh = [p for p in state.problems if p.kind == "not_started" and p.index is not None
                 and p.reason.startswith("not started")]
        lines = [p.line() for p in state.problems if p not in fresh]
        if fresh:
            lines.append(f"not_started {len(fresh)} run(s) not started yet: manifest rows "
                         f"{sweep_io.array_expression(sorted(p.index for p in fresh))}")
        if lines:
            blocks.append(Bullets(lines))
        blocks.append(Code("\n".join(completion_commands(s, state.frame))))
    if complete:
        blocks.append(Paragraph("Complete: " + "; ".join(complete) + "."))
    return blocks


# ---------------------------------------------------------------- the report


def build_blocks(inputs, states, configurations, published, out_dir):
    comparisons, unmatched = compare(configurations, published)
    metrics_of = {}
    for c in configurations:
        key = (c.task, c.synthetic)
        if key not in metrics_of:
            metrics_of[key] = main_metric(c.task, [d for d in configurations if (d.task, d.synthetic) == key])
    runs = [r for s in states for r in s.runs]
    done = sum(r.status == "done" for r in runs)
    blocks = [
        Heading("Benchmark report", 1),
        Paragraph(f"Inputs: {', '.join(os.path.abspath(p) for p in inputs)}; {len(states)} sweep(s), "
                  f"{len(runs)} run(s), {done} done; {len(configurations)} configuration(s) with results. "
                  f"Generated {datetime.datetime.now().isoformat(timespec='seconds')}."),
        Paragraph("A configuration is a run's resolved config without train.seed; its seeds give the mean and "
                  "the sample standard deviation (ddof = 1). For each published number, the configuration with "
                  "the best mean validation value of the task's main metric (spike AUC for NeuronIO, else "
                  "accuracy), among those that meet the published row's conditions, is chosen; its test values "
                  "are reported. Verdict: within when |difference| <= 2 x the paper's std, else 2 x our std "
                  "over seeds, and at least half a unit of the published figure's last digit. Runs on "
                  "synthetic stores are shown, not compared."),
        Heading("Per task: selected on validation, reported on test"),
    ]
    if comparisons:
        blocks.append(selection_table(comparisons))
    else:
        blocks.append(Paragraph("No finished run with a validation value: nothing to select."))
    if unmatched:
        by_task = {}
        for p in unmatched:
            by_task.setdefault(task_title(p.task), []).append(p.model)
        blocks += [Paragraph("Published numbers that no finished configuration on real data meets yet:"),
                   Bullets([f"{task}: {', '.join(models)}" for task, models in by_task.items()])]
    blocks += [Heading("Long Range Arena (test accuracy)"),
               paper_layout_table(LRA_TASKS, published, comparisons, "ELM"),
               Heading("SHD and SHD-Adding (test accuracy)"),
               paper_layout_table(SHD_TASKS, published, comparisons, "ELM"),
               Heading("NeuronIO (test)"),
               Paragraph("The released models' eval_results.json next to ours: mean ± std (n = seeds) of the "
                         "configuration selected for each released model."),
               neuronio_table(published, comparisons)]
    report.plot_section(blocks, "NeuronIO: spike AUC against parameters",
                        guarded(plot_neuronio, configurations, published, out_dir),
                        "NeuronIO spike AUC against parameters")
    report.plot_section(blocks, "SHD-Adding: accuracy against tau_max and bin size",
                        guarded(plot_shd_adding, configurations, published, out_dir),
                        "SHD-Adding accuracy against tau_max")
    report.plot_section(blocks, "Per task against the paper", guarded(plot_against_paper, comparisons, out_dir),
                        "per-task bars against the paper")
    blocks += [Heading("All configurations"),
               configurations_table(configurations, metrics_of) if configurations
               else Paragraph("No finished run."),
               Heading("Compute"),
               Paragraph("From the runs' own records (results.h5, else the newest checkpoint's state.h5): "
                         "wall hours; CPU-core hours = wall x world_size x train.threads for runs on the CPU; "
                         "GPU hours = wall x world_size for train.backend = cuda. Runs of one pack (packs.tsv) "
                         "trained in one process and count once. Unfinished runs count what they have spent."),
               compute_table(states)]
    blocks += remaining_blocks(states)
    return blocks


def make_benchmark(inputs, out_dir, published_path=DEFAULT_PUBLISHED) -> dict:
    published = read_published(published_path)
    sweeps = resolve_inputs(inputs)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out_dir}: {e.strerror}") from None
    states = [read_sweep(s) for s in sweeps]
    configurations = build_configurations(states)
    blocks = build_blocks(inputs, states, configurations, published, out_dir)
    paths = {"md": os.path.join(out_dir, "benchmark.md"), "html": os.path.join(out_dir, "benchmark.html")}
    with open(paths["md"], "w") as f:
        f.write(report.render_markdown(blocks))
    with open(paths["html"], "w") as f:
        f.write(report.render_html(blocks, "Benchmark report", out_dir))
    paths["images"] = [os.path.join(out_dir, b.filename) for b in blocks if isinstance(b, Image)]
    return paths


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def main(argv=None) -> int:
    parser = OneLineParser(prog="benchmark.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="SUITE_OR_SWEEP_DIR")
    parser.add_argument("--out", required=True, help="output directory (benchmark.md, benchmark.html, PNGs)")
    parser.add_argument("--published", default=DEFAULT_PUBLISHED,
                        help="published numbers (CSV; default analysis/published_results.csv)")
    try:
        args = parser.parse_args(argv)
        paths = make_benchmark(args.inputs, args.out, args.published)
    except UsageError as e:
        print(f"benchmark.py: {e}", file=sys.stderr)
        return 1
    print(f"wrote {paths['md']}, {paths['html']} and {len(paths['images'])} plot(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
