#!/usr/bin/python3
"""Plots and tables of one sweep, as Markdown and as one self-contained HTML page.

    /usr/bin/python3 analysis/report.py SWEEP_DIR [--out DIR]     # DIR defaults to SWEEP_DIR/report

Writes DIR/report.md (PNGs beside it), DIR/report.html (the same content, PNGs
embedded as data: URIs, no scripts or external resources) and the PNGs:
metric_vs_params.png (main metric against d_m on a log parameter-count axis,
mean over seeds with min/max bars, one line per value of the other axes),
heatmap.png (d_m x memory_tau_max), learning_curves.png, throughput.png.
Tables: with a seed axis (train.seed), the main metric's mean ± standard
deviation, number of seeds, min and max per point of the other axes; the
NeuronIO metrics per split in the released eval_results' terms, or
test accuracy/loss for classification; then every run that is not done, in
the run states of `elmrun status` as collect.py reads them (failed, running,
stale, interrupted, not_started; foreign directories), and the --array= of
what remains. A plot whose axis is missing is skipped with a note. The last
section points at the paper's full benchmark (jobs/paper/suite.ini and
analysis/benchmark.py).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import html
import math
import os
import re
import sys
from dataclasses import dataclass

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collect as collect_mod  # noqa: E402
import sweep_io  # noqa: E402
from number_text import count_text, grid_text, measured_text  # noqa: E402

NUM_MEMORY = "model.num_memory"
TAU_MAX = "model.memory_tau_max"
# Higher is better for both; NeuronIO's headline is the test spike AUC (paper Fig. 2).
MAIN_METRICS = ("test_spike_auc", "test_accuracy")
COUNT_METRICS = ("samples", "simulations_kept")
# (header, candidate metric names): the released eval_results.json's quantities.
NEURONIO_COLUMNS = (
    ("AUC", ("spike_auc",)),
    ("TP @ 0.0025 FP", ("spike_tp_at_fp_0025",)),
    ("TP @ 0.0100 FP", ("spike_tp_at_fp_0100",)),
    ("soma RMSE", ("soma_rmse",)),
    ("soma explained variance %", ("soma_explained_variance_percent", "soma_explained_variance")),
)
NEURONIO_SPLITS = (("valid", "valid (last eval)"), ("test", "test"))
MAX_LEGEND_ENTRIES = 16


# ---------------------------------------------------------------- document blocks


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    headers: list
    rows: list  # lists of already formatted cells


@dataclass
class Image:
    filename: str
    alt: str


@dataclass
class Bullets:
    items: list


@dataclass
class Code:
    text: str


def md_text(value) -> str:
    """Text from the sweep (paths, axis values, attributes, FAILED) for Markdown: one line,
    < > & escaped (a viewer that renders raw HTML shows it as text, never as markup) and
    \\ [ ] ` backslash-escaped (no link, image or code span made of it)."""
    text = html.escape(re.sub(r"[\r\n]+", " ", str(value)), quote=False)
    return re.sub(r"([\\\[\]`])", r"\\\1", text)


def render_markdown(blocks) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + md_text(b.text))
        elif isinstance(b, Paragraph):
            out.append(md_text(b.text))
        elif isinstance(b, Table):
            cell = lambda c: md_text(c).replace("|", "\\|")  # noqa: E731
            out.append("\n".join(["| " + " | ".join(cell(h) for h in b.headers) + " |",
                                  "|" + "|".join("---" for _ in b.headers) + "|"]
                                 + ["| " + " | ".join(cell(c) for c in r) + " |" for r in b.rows]))
        elif isinstance(b, Image):
            out.append(f"![{md_text(b.alt)}]({b.filename})")
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {md_text(item)}" for item in b.items))
        elif isinstance(b, Code):
            out.append("```\n" + b.text + "\n```")
    return "\n\n".join(out) + "\n"


HTML_STYLE = """
body { font-family: sans-serif; max-width: 72rem; margin: 1rem auto; padding: 0 1rem; color: #222; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #bbb; padding: 0.15rem 0.5rem; text-align: right; }
th { background: #eee; }
img { max-width: 100%; display: block; margin: 0.5rem 0; }
pre { background: #f4f4f4; padding: 0.5rem; }
"""


def render_html(blocks, title: str, image_dir: str) -> str:
    esc = html.escape
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{esc(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            body.append(f"<p>{esc(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{esc(str(h))}</th>" for h in b.headers)
            rows = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>'
                        f"</table></div>")
        elif isinstance(b, Image):
            with open(os.path.join(image_dir, b.filename), "rb") as f:
                data = base64.b64encode(f.read()).decode("ascii")
            body.append(f'<img alt="{esc(b.alt)}" src="data:image/png;base64,{data}">')
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{esc(str(i))}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Code):
            body.append(f"<pre>{esc(b.text)}</pre>")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{esc(title)}</title>\n'
            f"<style>{HTML_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


# ---------------------------------------------------------------- values


def metric_text(column: str, value) -> str:
    """A test_/valid_ column's value: counts whole, the rest measured."""
    return count_text(value) if column.split("_", 1)[-1] in COUNT_METRICS else measured_text(value)


def is_seed_axis(axis: str) -> bool:
    return sweep_io.short_key(axis) == "seed"


def main_metric(frame):
    """The column the plots show: spike AUC for NeuronIO, accuracy for classification, else any test metric."""
    done = frame[frame["status"] == "done"]
    candidates = list(MAIN_METRICS) + [c for c in frame.columns if c.startswith("test_")
                                       and c[5:] not in COUNT_METRICS]
    for column in candidates:
        if column in done and done[column].notna().any():
            return column
    return None


def done_runs(frame, *needed):
    done = frame[frame["status"] == "done"]
    for column in needed:
        done = done[done[column].notna()]
    return done


def run_label(row, axes) -> str:
    parts = [f"#{count_text(row['index'])}"] + [f"{sweep_io.short_key(a)}={grid_text(row[a])}" for a in axes]
    return " ".join(parts)


# ---------------------------------------------------------------- plots


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out_dir: str, filename: str) -> str:
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, filename), dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return filename


def plot_metric_vs_params(frame, metric, axes, out_dir):
    """(filename or None, note): the paper's Fig. 2 view."""
    if metric is None:
        return None, "No run has a test metric: no metric-vs-parameters plot."
    if NUM_MEMORY not in axes:
        return None, f"The sweep has no {NUM_MEMORY} axis: no metric-vs-d_m plot."
    done = done_runs(frame, metric, "parameter_count", NUM_MEMORY).copy()
    if done.empty:
        return None, "No finished run with a parameter count and a test metric: no metric-vs-d_m plot."
    done["params"] = done["parameter_count"].astype(float)
    line_axes = [a for a in axes if a != NUM_MEMORY and not is_seed_axis(a)]
    seed_axes = [a for a in axes if is_seed_axis(a)]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    # A one-element list as grouper gives scalar keys in pandas 1.5 but tuples later: pass the name.
    grouper = line_axes[0] if len(line_axes) == 1 else line_axes
    groups = done.groupby(grouper, dropna=False) if line_axes else [((), done)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        per_dm = group.groupby(NUM_MEMORY).agg(params=("params", "mean"), mean=(metric, "mean"),
                                               low=(metric, "min"), high=(metric, "max")).sort_values("params")
        label = ", ".join(f"{sweep_io.short_key(a)}={grid_text(v)}" for a, v in zip(line_axes, key)) or "all runs"
        ax.errorbar(per_dm["params"], per_dm["mean"],
                    yerr=[per_dm["mean"] - per_dm["low"], per_dm["high"] - per_dm["mean"]],
                    marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel(metric)
    ax.grid(True, which="both", alpha=0.3)
    label_dm_on_top(ax, done)
    ax.legend(fontsize="small")
    averaged = f" (mean over {', '.join(seed_axes)}; bars: min/max)" if seed_axes else ""
    ax.set_title(f"{metric} against d_m{averaged}", fontsize="medium")
    return save(fig, out_dir, "metric_vs_params.png"), ""


def label_dm_on_top(ax, done):
    """d_m values on a top axis at their (mean) parameter counts."""
    per_dm = done.groupby(NUM_MEMORY)["params"].mean()
    top = ax.twiny()
    top.set_xscale("log")
    top.set_xlim(ax.get_xlim())
    top.set_xticks(list(per_dm.values))
    top.set_xticklabels([grid_text(v) for v in per_dm.index], fontsize="small")
    top.minorticks_off()
    top.set_xlabel("d_m (model.num_memory)")


def plot_heatmap(frame, metric, axes, out_dir):
    if metric is None:
        return None, "No run has a test metric: no heatmap."
    missing = [a for a in (NUM_MEMORY, TAU_MAX) if a not in axes]
    if missing:
        return None, f"The sweep has no {' or '.join(missing)} axis: no d_m x tau_max heatmap."
    done = done_runs(frame, metric, NUM_MEMORY, TAU_MAX)
    if done.empty:
        return None, "No finished run with a test metric: no heatmap."
    table = done.pivot_table(values=metric, index=TAU_MAX, columns=NUM_MEMORY, aggfunc="mean")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(table.columns) + 3, 0.7 * len(table.index) + 2))
    image = ax.imshow(table.values, aspect="auto", origin="lower", cmap="viridis")
    ax.set_xticks(range(len(table.columns)), [grid_text(v) for v in table.columns])
    ax.set_yticks(range(len(table.index)), [grid_text(v) for v in table.index])
    ax.set_xlabel(NUM_MEMORY)
    ax.set_ylabel(TAU_MAX)
    middle = (min(table.values[~pd.isna(table.values)]) + max(table.values[~pd.isna(table.values)])) / 2
    for (i, j), value in _cells(table.values):
        # viridis is bright at the top: dark text there, light text below.
        ax.text(j, i, measured_text(value), ha="center", va="center", fontsize="small",
                color="k" if value > middle else "w")
    fig.colorbar(image, ax=ax, label=metric)
    others = [a for a in axes if a not in (NUM_MEMORY, TAU_MAX)]
    ax.set_title(f"mean {metric}" + (f" over {', '.join(others)}" if others else ""), fontsize="medium")
    return save(fig, out_dir, "heatmap.png"), ""


def _cells(values):
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not math.isnan(values[i, j]):
                yield (i, j), values[i, j]


def smooth(values, window: int):
    import numpy as np

    if window <= 1 or len(values) < window:
        return np.arange(len(values)) + 1, values
    kernel = np.ones(window) / window
    return np.arange(window, len(values) + 1), np.convolve(values, kernel, mode="valid")


def plot_learning_curves(frame, metric, axes, sweep_paths, out_dir):
    done = done_runs(frame)
    # Keyed by frame row, not manifest index: a damaged manifest may repeat an index.
    series = {row: sweep_io.read_series(os.path.join(sweep_paths[row], "results.h5"))
              for row in done.index if sweep_paths.get(row)}
    series = {row: s for row, s in series.items() if "train/loss" in s}
    if not series:
        return None, "No finished run with a training loss: no learning curves."
    valid_key = f"valid/{metric[len('test_'):]}" if metric else None
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    colors = plt.cm.viridis([k / max(1, len(series) - 1) for k in range(len(series))])
    labels = {row: run_label(r, axes) for row, r in done.iterrows()}
    for color, (index, s) in zip(colors, sorted(series.items())):
        loss = s["train/loss"]
        steps, smoothed = smooth(loss, max(1, min(50, len(loss) // 10)))
        left.plot(steps, smoothed, color=color, lw=1, label=labels[index])
        if valid_key in s and "valid/step" in s and len(s["valid/step"]) == len(s[valid_key]):
            right.plot(s["valid/step"], s[valid_key], color=color, lw=1, marker=".", label=labels[index])
    left.set_xlabel("step")
    left.set_ylabel("train/loss (moving mean)")
    right.set_xlabel("valid/step")
    right.set_ylabel(valid_key or "validation metric")
    if not right.lines:
        right.text(0.5, 0.5, "no validation series", ha="center", transform=right.transAxes)
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    if len(series) <= MAX_LEGEND_ENTRIES:
        # Below both panels: inside, a dozen labels would hide the curves.
        handles, labels = left.get_legend_handles_labels()
        fig.tight_layout()
        fig.legend(handles, labels, fontsize="x-small", ncol=3, loc="upper center", bbox_to_anchor=(0.5, 0.0))
    return save(fig, out_dir, "learning_curves.png"), ""


def plot_throughput(frame, axes, out_dir):
    done = done_runs(frame, "mean_sample_steps_per_s")
    if done.empty:
        return None, "No finished run with throughput data: no throughput plot."
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(done) + 2), 4.2))
    ax.bar(range(len(done)), done["mean_sample_steps_per_s"], color="tab:blue")
    ax.set_xticks(range(len(done)), [f"#{i}" for i in done["index"]], fontsize="small",
                  rotation=90 if len(done) > 20 else 0)
    ax.set_ylabel("train sample-steps/s (total / total time)")
    ax.set_xlabel("run (manifest index)")
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, out_dir, "throughput.png"), ""


# ---------------------------------------------------------------- tables


def runs_table(frame, axes, metric) -> Table:
    headers = ["index", "run_id", "status"] + list(axes) + ["parameters", "steps", "wall s"]
    headers += [metric] if metric else []
    headers += ["sample-steps/s"]
    rows = []
    for _, r in frame.iterrows():
        row = [count_text(r["index"]), r["run_id"], r["status"]] + [grid_text(r[a]) for a in axes]
        row += [count_text(r["parameter_count"]), count_text(r["steps_completed"]), measured_text(r["wall_seconds"])]
        row += [measured_text(r[metric])] if metric else []
        row += [measured_text(r["mean_sample_steps_per_s"])]
        rows.append(row)
    return Table(headers, rows)


def seeds_table(frame, axes, metric):
    """Per point of the other axes: the number of finished seeds and the main
    metric's mean ± sample standard deviation (ddof 1), min and max; None
    without a seed axis or a metric."""
    seed_axes = [a for a in axes if is_seed_axis(a)]
    if not seed_axes or metric is None:
        return None
    point_axes = [a for a in axes if not is_seed_axis(a)]
    done = done_runs(frame, metric)
    headers = point_axes + ["seeds", f"{metric} mean", "std", "min", "max"]
    rows = []
    groups = done.groupby(point_axes[0] if len(point_axes) == 1 else point_axes, dropna=False, sort=False) \
        if point_axes else [((), done)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        values = group[metric].astype(float)
        std = values.std(ddof=1) if len(values) > 1 else float("nan")
        rows.append([grid_text(k) for k in key] + [str(len(values)), measured_text(values.mean()),
                                                   measured_text(std), measured_text(values.min()),
                                                   measured_text(values.max())])
    return Table(headers, rows)


def per_run_table(frame, axes, columns) -> Table:
    """Finished runs: index, run_id, axes, parameters, then (header, frame column) columns."""
    headers = ["index", "run_id"] + list(axes) + ["parameters"] + [h for h, _ in columns]
    rows = [[count_text(r["index"]), r["run_id"]] + [grid_text(r[a]) for a in axes]
            + [count_text(r["parameter_count"])] + [metric_text(c, r[c]) for _, c in columns]
            for _, r in done_runs(frame).iterrows()]
    return Table(headers, rows)


def neuronio_table(frame, axes) -> Table:
    columns = []  # (header, frame column)
    for split, split_name in NEURONIO_SPLITS:
        for header, names in NEURONIO_COLUMNS:
            found = next((f"{split}_{n}" for n in names if f"{split}_{n}" in frame), None)
            if found:
                columns.append((f"{split_name} {header}", found))
    return per_run_table(frame, axes, columns)


def classification_table(frame, axes) -> Table:
    wanted = [("test accuracy", "test_accuracy"), ("test loss", "test_loss"),
              ("last valid accuracy", "valid_accuracy"), ("last valid loss", "valid_loss")]
    return per_run_table(frame, axes, [(h, c) for h, c in wanted if c in frame])


# ---------------------------------------------------------------- the report


def plot_section(blocks, title, result, alt):
    filename, note = result
    blocks.append(Heading(title))
    blocks.append(Image(filename, alt) if filename else Paragraph(note))


def build_blocks(sweep_dir, frame, problems, out_dir):
    axes = list(frame.attrs.get("axes", []))
    metric = main_metric(frame)
    neuronio = "test_spike_auc" in frame
    blocks = [
        Heading(f"Sweep report: {os.path.basename(os.path.abspath(sweep_dir))}", 1),
        Paragraph(f"Sweep directory {os.path.abspath(sweep_dir)}: {collect_mod.status_counts(frame)}; "
                  f"grid axes: {', '.join(axes) or 'none'}; main metric: {metric or 'none'}. "
                  f"Only runs with DONE and a readable results.h5 count as results. Generated "
                  f"{datetime.datetime.now().isoformat(timespec='seconds')}."),
        Heading("Runs"),
        runs_table(frame, axes, metric),
    ]
    over_seeds = seeds_table(frame, axes, metric)
    if over_seeds is not None:
        blocks += [Heading("Over seeds"),
                   Paragraph(f"Finished runs per point of the other axes: {metric} mean ± standard deviation "
                             "(sample, n - 1) over the seeds, with the number of seeds, min and max."),
                   over_seeds]
    plot_section(blocks, "Main metric against d_m and parameter count",
                 plot_metric_vs_params(frame, metric, axes, out_dir), f"{metric} against parameter count")
    plot_section(blocks, "Main metric over d_m and memory_tau_max",
                 plot_heatmap(frame, metric, axes, out_dir), "heatmap")
    plot_section(blocks, "Learning curves",
                 plot_learning_curves(frame, metric, axes,
                                      {i: d for i, d in enumerate(frame.attrs["run_dirs"]) if d}, out_dir),
                 "learning curves")
    plot_section(blocks, "Throughput", plot_throughput(frame, axes, out_dir), "throughput per run")
    if neuronio:
        blocks += [Heading("NeuronIO evaluation"),
                   Paragraph("Per finished run, in the released eval_results.json's terms (AUC, TP rate at "
                             "FP 0.0025 and 0.01, soma RMSE in mV, soma explained variance in %); valid is "
                             "the last evaluation during training."),
                   neuronio_table(frame, axes)]
    else:
        blocks += [Heading("Test results"), classification_table(frame, axes)]
    blocks += problem_blocks(frame, problems)
    blocks += benchmark_pointer()
    return blocks


def benchmark_pointer():
    """Where this one sweep stops: how the paper's whole benchmark is run and reported."""
    return [Heading("The full benchmark"),
            Paragraph("This report covers one sweep. The paper's experiments (NeuronIO d_m, lambda and branch "
                      "sweeps, SHD, SHD-Adding, the six Long Range Arena tasks) are one suite, "
                      "jobs/paper/suite.ini; analysis/benchmark.py reports all its sweeps at once, selected on "
                      "validation and set beside the published numbers (analysis/published_results.csv). "
                      "With the data sets converted into data/ (README, 'Data sets and task configs'), see "
                      "docs/sweeps.md, 'Suites and the benchmark report':"),
            Code("build/elmrun sweep jobs/paper/suite.ini --list            # every manifest, nothing run\n"
                 "slurm/submit.py jobs/paper/suite.ini --mode array ...     # or: mpirun -n N build/elmrun sweep "
                 "jobs/paper/suite.ini\n"
                 "/usr/bin/python3 analysis/benchmark.py runs/paper --out runs/paper/benchmark")]


def problem_blocks(frame, problems):
    blocks = [Heading("Runs not done")]
    if problems:
        blocks.append(Bullets([p.line() for p in problems]))
    else:
        blocks.append(Paragraph("None."))
    blocks.append(Code(collect_mod.resubmit_line(frame)))
    return blocks


def make_report(sweep_dir: str, out_dir: str | None = None) -> dict:
    """Writes the report; returns {'md': path, 'html': path, 'images': [paths]}."""
    frame, problems = collect_mod.collect(sweep_dir)
    out_dir = out_dir or os.path.join(sweep_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    blocks = build_blocks(sweep_dir, frame, problems, out_dir)
    title = blocks[0].text
    paths = {"md": os.path.join(out_dir, "report.md"), "html": os.path.join(out_dir, "report.html")}
    with open(paths["md"], "w") as f:
        f.write(render_markdown(blocks))
    with open(paths["html"], "w") as f:
        f.write(render_html(blocks, title, out_dir))
    paths["images"] = [os.path.join(out_dir, b.filename) for b in blocks if isinstance(b, Image)]
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir")
    parser.add_argument("--out", help="output directory (default SWEEP_DIR/report)")
    args = parser.parse_args(argv)
    try:
        paths = make_report(args.sweep_dir, args.out)
    except collect_mod.NotASweep as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an --out that cannot be made or written
        where = e.filename or args.out or args.sweep_dir
        print(f"report.py: {where}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"wrote {paths['md']}, {paths['html']} and {len(paths['images'])} plot(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
