#!/usr/bin/python3
"""Gather a sweep's runs into one table and say what remains to be run.

    /usr/bin/python3 analysis/collect.py SWEEP_DIR [--csv OUT] [--json]

One row per manifest.tsv row (a sweep without a manifest: one per runs/*; a
single run directory: one row). The status column holds the run states of
`elmrun status` (done, running, stale, interrupted, failed, not_started), told
apart by sweep_io.read_run_state with the rules of src/train/run_status.cpp.
Prints the table, every run that is not done with its reason (and runs that
are not the manifest's: foreign), and the Slurm --array= value that resubmits
exactly the manifest indices that remain (failed, interrupted, stale, not
started). Only a run with DONE and a readable results.h5 of the manifest's
config counts as a result; a DONE run whose results.h5 is unreadable or of
another config is failed, and every run but a done one has NaN metrics. Exit
0 whatever the runs look like; exit 2 only when SWEEP_DIR is not a sweep or
run directory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sweep_io  # noqa: E402
from number_text import count_text, grid_text, measured_text  # noqa: E402
from sweep_io import Problem, UnreadableResults  # noqa: E402

RESUBMIT_STATUSES = sweep_io.REMAINING_STATES
SWEEP_MARKERS = ("manifest.tsv", "runs", "job.ini", "summary.h5", "summary.csv")
RUN_MARKERS = ("results.h5", "config.json", "DONE", "FAILED", "checkpoints", "log.txt", "status", "LOCK")


class NotASweep(Exception):
    pass


# ---------------------------------------------------------------- one run


def classify_run(run_dir: str, expected_axes: dict, check_hash: bool = False, now: float = None):
    """(status, problem kind, reason, RunResults or None) for one run directory. The status is a
    run state (sweep_io.RUN_STATES); the problem kind is the status, or "foreign" for a directory
    that is not the manifest's run (status failed: its results cannot count, it has to run again)."""
    if not os.path.isdir(run_dir):
        why = "run path is not a directory" if os.path.lexists(run_dir) else "no run directory"
        return "not_started", "not_started", f"not started ({why})", None
    foreign = identity_problem(run_dir, expected_axes, check_hash)
    if foreign:
        return "failed", "foreign", foreign, None
    info = sweep_io.read_run_state(run_dir, now)
    if info.state != "done":
        return info.state, info.state, sweep_io.describe_run_state(info), None
    try:
        results = sweep_io.read_results(os.path.join(run_dir, "results.h5"))
    except UnreadableResults as e:
        return "failed", "failed", f"DONE but {e}", None
    wrong = sweep_io.config_mismatches(results.config, expected_axes, strict=False)
    if wrong:
        return "failed", "foreign", "results.h5 config differs from manifest: " + ", ".join(wrong), None
    return "done", "done", "", results


def identity_problem(run_dir: str, expected_axes: dict, check_hash: bool) -> str:
    """Why config.json says this directory is not the manifest's run ('' when it agrees or is absent)."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.lexists(path):
        return ""
    try:
        config = sweep_io.read_config_json(path)
    except ValueError as e:
        return str(e)
    reasons = []
    if check_hash and os.path.basename(run_dir) not in sweep_io.identity_hashes(config):
        reasons.append("config.json does not hash to the run_id")
    wrong = sweep_io.config_mismatches(config, expected_axes, strict=True)
    if wrong:
        reasons.append("config.json differs from manifest: " + ", ".join(wrong))
    return "; ".join(reasons)


def run_ids_are_config_hashes(run_dirs: list) -> bool:
    """Whether any run's config.json hashes to its directory name.

    Only then is a hash mismatch evidence of a foreign directory; a sweep made
    with another id convention is checked by its axis values alone.
    """
    for run_dir in run_dirs:
        try:
            config = sweep_io.read_config_json(os.path.join(run_dir, "config.json"))
        except (ValueError, TypeError):
            continue
        if os.path.basename(run_dir) in sweep_io.identity_hashes(config):
            return True
    return False


def run_row(entry: dict, axes: list, run_dir, expected_axes: dict, check_hash: bool, now: float):
    if run_dir is None:
        status, kind, reason, results = ("not_started", "manifest",
                                         f"invalid run_id {entry['run_id']!r} in manifest", None)
    else:
        status, kind, reason, results = classify_run(run_dir, expected_axes, check_hash, now)
    row = {"index": entry["index"], "run_id": entry["run_id"], "status": status}
    row.update({a: entry.get(a, "") for a in axes})
    if results is not None:
        row["parameter_count"] = results.attrs.get("parameter_count", math.nan)
        row["wall_seconds"] = results.attrs.get("wall_seconds", math.nan)
        row["steps_completed"] = results.steps_completed
        row.update({f"test_{k}": v for k, v in results.test.items()})
        row.update({f"valid_{k}": v for k, v in results.last_valid.items()})
        row["mean_sample_steps_per_s"] = results.mean_sample_steps_per_s
    return row, kind, reason


# ---------------------------------------------------------------- run sets


def sweep_kind(sweep_dir: str) -> str:
    if not os.path.isdir(sweep_dir):
        raise NotASweep(f"{sweep_dir}: no such directory")
    names = set(os.listdir(sweep_dir))
    if names & set(SWEEP_MARKERS):
        return "sweep"
    if names & set(RUN_MARKERS):
        return "run"
    raise NotASweep(f"{sweep_dir}: not a sweep directory (no manifest.tsv or runs/) nor a run directory")


def manifest_entries(sweep_dir: str, problems: list):
    """(axes, entries, whether indices are the sweep's) of a sweep directory."""
    manifest_path = os.path.join(sweep_dir, "manifest.tsv")
    if os.path.lexists(manifest_path):
        manifest = sweep_io.read_manifest(manifest_path)
        problems.extend(manifest.problems)
        if manifest.rows or not manifest.problems:
            return manifest.axes, manifest.rows, True
    else:
        problems.append(Problem("manifest", "no manifest.tsv: rows are runs/* in name order, "
                                            "indices are positions, not sweep indices"))
    axes, entries = scanned_entries(os.path.join(sweep_dir, "runs"))
    return axes, entries, False


def scanned_entries(runs_dir: str):
    """Rows for every directory under runs/; axes are the config keys whose values differ."""
    try:
        names = sorted(n for n in os.listdir(runs_dir) if os.path.isdir(os.path.join(runs_dir, n)))
    except OSError:
        names = []
    configs = [run_config(os.path.join(runs_dir, n)) for n in names]
    keys = sorted({k for c in configs for k in c} - set(sweep_io.NON_RESULT_KEYS))
    varying = [k for k in keys if len({str(c.get(k, "")) for c in configs}) > 1]
    axes = independent_axes(varying, configs)
    entries = []
    for index, (name, config) in enumerate(zip(names, configs)):
        entry = {"index": index, "run_id": name}
        entry.update({a: str(config.get(a, "")) for a in axes})
        entries.append(entry)
    return axes, entries


# Without a manifest, keys that follow another axis (mlp_hidden_size defaults from
# num_memory) would look like axes of their own; these names win such ties.
PREFERRED_AXES = ("model.num_memory", "model.memory_tau_max")


def independent_axes(keys: list, configs: list) -> list:
    """Varying keys minus those whose value is fixed by an already kept key."""
    ordered = sorted(keys, key=lambda k: (k not in PREFERRED_AXES, sweep_io.short_key(k) == "seed", k))
    kept = []
    for key in ordered:
        if not any(determines(other, key, configs) for other in kept):
            kept.append(key)
    return sorted(kept, key=ordered.index)


def determines(key: str, other: str, configs: list) -> bool:
    seen = {}
    for c in configs:
        value, follower = str(c.get(key, "")), str(c.get(other, ""))
        if seen.setdefault(value, follower) != follower:
            return False
    return True


def run_config(run_dir: str) -> dict:
    """config.json, else results.h5's config_json, else {} (used to find axes without a manifest)."""
    try:
        return sweep_io.read_config_json(os.path.join(run_dir, "config.json"))
    except ValueError:
        pass
    try:
        return sweep_io.read_results(os.path.join(run_dir, "results.h5")).config
    except UnreadableResults:
        return {}


def unlisted_run_dirs(runs_dir: str, listed_ids: set) -> list:
    """Problems for entries under runs/ that are not the manifest's run directories."""
    problems = []
    try:
        names = sorted(os.listdir(runs_dir))
    except OSError:
        return problems
    for name in names:
        path = os.path.join(runs_dir, name)
        if not os.path.isdir(path):
            problems.append(Problem("layout", f"runs/{name} is not a directory (ignored)"))
        elif name not in listed_ids:
            problems.append(Problem("foreign", "run directory not in manifest.tsv (ignored)", run_id=name))
    return problems


# ---------------------------------------------------------------- the table


def collect(sweep_dir: str):
    """(DataFrame with one row per run, list of Problem). Raises NotASweep for a bad SWEEP_DIR."""
    problems = []
    if sweep_kind(sweep_dir) == "run":
        axes, entries, from_manifest = [], [{"index": 0, "run_id": os.path.basename(
            os.path.abspath(sweep_dir))}], False
        run_dirs = [sweep_dir]
    else:
        axes, entries, from_manifest = manifest_entries(sweep_dir, problems)
        runs_dir = os.path.join(sweep_dir, "runs")
        run_dirs = [os.path.join(runs_dir, e["run_id"]) if sweep_io.valid_run_id(e["run_id"]) else None
                    for e in entries]
        problems.extend(unlisted_run_dirs(runs_dir, {e["run_id"] for e in entries}))
        if not entries and os.path.isdir(runs_dir):
            problems.append(Problem("layout", "no runs listed or found"))
    check_hash = from_manifest and hash_convention_holds(run_dirs, problems)
    rows = []
    now = time.time()  # one "now" for every heartbeat
    for entry, run_dir in zip(entries, run_dirs):
        expected = {a: entry[a] for a in axes if entry.get(a, "") != ""} if from_manifest else {}
        row, kind, reason = run_row(entry, axes, run_dir, expected, check_hash, now)
        rows.append(row)
        if row["status"] != "done":
            problems.append(Problem(kind, reason, index=entry["index"], run_id=entry["run_id"]))
    frame = build_frame(rows, axes)
    frame.attrs["axes"] = list(axes)
    frame.attrs["from_manifest"] = from_manifest
    frame.attrs["run_dirs"] = run_dirs  # row i's directory, None for an unusable run_id
    return frame, problems


def hash_convention_holds(run_dirs: list, problems: list) -> bool:
    dirs = [d for d in run_dirs if d]
    if run_ids_are_config_hashes(dirs):
        return True
    if any(os.path.isfile(os.path.join(d, "config.json")) for d in dirs):
        problems.append(Problem("manifest", "no run_id is the FNV-1a hash of its config.json: "
                                            "run identity checked by grid-axis values only"))
    return False


def build_frame(rows: list, axes: list):
    import pandas as pd

    fixed = ["index", "run_id", "status"] + list(axes) + ["parameter_count", "wall_seconds", "steps_completed"]
    test_cols = unique_in_order(k for r in rows for k in r if k.startswith("test_"))
    valid_cols = unique_in_order(k for r in rows for k in r if k.startswith("valid_"))
    columns = fixed + test_cols + valid_cols + ["mean_sample_steps_per_s"]
    frame = pd.DataFrame(rows, columns=columns)
    for axis in axes:
        frame[axis] = numeric_if_possible(frame[axis])
    for column in columns[3 + len(axes):]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("parameter_count", "steps_completed"):
        frame[column] = frame[column].round().astype("Int64")
    frame["index"] = frame["index"].astype(int)
    return frame


def unique_in_order(items) -> list:
    return list(dict.fromkeys(items))


def numeric_if_possible(column):
    """Axis values as float64 when every given value is a number (as in summary.h5), else strings."""
    import pandas as pd

    text = column.fillna("").astype(str).str.strip()
    given = text[text != ""]
    numbers = pd.to_numeric(given, errors="coerce")
    if len(given) and numbers.notna().all():
        return pd.to_numeric(text.replace("", "nan"), errors="coerce").astype(float)
    return text


def resubmit_indices(frame) -> list:
    return sorted(int(i) for i in frame.loc[frame["status"].isin(RESUBMIT_STATUSES), "index"])


# ---------------------------------------------------------------- output


COUNT_COLUMNS = ("index", "parameter_count", "steps_completed")


def shown_frame(frame):
    """The table as people read it (number_text's rule): counts whole, grid values as
    written, measured values to 4 significant digits. The CSV keeps the numbers."""
    columns = list(frame.columns)
    axes = columns[3:columns.index("parameter_count")] if "parameter_count" in columns else []
    shown = frame.copy().astype(object)
    for column in columns:
        if column in ("run_id", "status"):
            continue
        if column in axes:
            text = grid_text
        elif column in COUNT_COLUMNS or column.split("_", 1)[-1] in ("samples", "simulations_kept"):
            text = count_text
        else:
            text = measured_text
        shown[column] = [text(v) for v in frame[column]]
    return shown


def print_report(frame, problems, out=sys.stdout) -> None:
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", None,
                           "display.max_colwidth", 40):
        print(shown_frame(frame).to_string(index=False) if len(frame) else "(no runs)", file=out)
    print("\n" + status_counts(frame), file=out)
    if problems:
        print("\nproblems:", file=out)
        for p in problems:
            print("  " + p.line(), file=out)
    print(resubmit_line(frame), file=out)


def status_counts(frame) -> str:
    """'5 done, 1 running, 6 not_started of 12 runs', states in elmrun status's order."""
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    order = list(sweep_io.RUN_STATES) + sorted(set(counts) - set(sweep_io.RUN_STATES))
    return ", ".join(f"{counts[s]} {s}" for s in order if s in counts) + f" of {len(frame)} runs" if counts \
        else "0 runs"


def resubmit_line(frame) -> str:
    if not frame.attrs.get("from_manifest"):
        return "no manifest.tsv indices: no --array expression"
    indices = resubmit_indices(frame)
    if not indices:
        return "nothing to resubmit"
    return f"resubmit {len(indices)} run(s): --array={sweep_io.array_expression(indices)}"


def as_json(frame, problems) -> str:
    indices = resubmit_indices(frame) if frame.attrs.get("from_manifest") else []
    return json.dumps({
        "runs": json.loads(frame.to_json(orient="records")),
        "problems": [vars(p) for p in problems],
        "array": sweep_io.array_expression(indices) if indices else None,
    }, indent=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="sweep directory (manifest.tsv, runs/) or one run directory")
    parser.add_argument("--csv", metavar="OUT", help="also write the table as CSV")
    parser.add_argument("--json", action="store_true", help="print runs, problems and array as JSON")
    args = parser.parse_args(argv)
    try:
        frame, problems = collect(args.sweep_dir)
    except NotASweep as e:
        print(f"collect.py: {e}", file=sys.stderr)
        return 2
    if args.csv:
        try:
            frame.to_csv(args.csv, index=False)
        except OSError as e:
            print(f"collect.py: cannot write {args.csv}: {e.strerror}", file=sys.stderr)
            return 1
    if args.json:
        print(as_json(frame, problems))
    else:
        print_report(frame, problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
