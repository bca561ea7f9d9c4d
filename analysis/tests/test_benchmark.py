"""benchmark.py on a small real suite (elmrun sweep SUITE.ini: synthetic neuron, synthetic ListOps,
Fashion-MNIST, a few steps each) and on runs written in elmrun's results layout for the paper's
tasks: numbers equal the HDF5 files, selection uses validation, seeds aggregate, missing sweeps
and damaged results are reported with the command that completes them, the page renders; the
published numbers are the shared files' facts; slurm/submit.py takes the suite."""

import csv
import json
import os
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import benchmark
from conftest import ANALYSIS_DIR, elmrun_path, run_id_of
from test_report import decoded_images_title, embedded_images, markdown_table

PYTHON = "/usr/bin/python3"
BENCHMARK = os.path.join(ANALYSIS_DIR, "benchmark.py")
SUBMIT = os.path.join(os.path.dirname(ANALYSIS_DIR), "slurm", "submit.py")
CONFIGS = os.path.join(os.path.dirname(ANALYSIS_DIR), "configs")
FMNIST_RAW = "/usr/share/datasets/fashion-mnist"
SHARED = os.environ.get("ELM_SHARED_DIR", os.path.join(os.path.dirname(os.path.dirname(ANALYSIS_DIR)), "shared"))
NOT_CONFIGURATION = ("train.seed", "train.threads", "train.log_every", "train.backend")

# name: (base config, [set] lines, [grid] lines). A few steps each: the suite trains in ~3 s.
JOBS = {
    "neuron": ("neuronio.ini", ["task.store = {sn}", "train.steps = 8", "train.eval_every = 8",
                                "train.eval_simulations = 4", "train.test_samples = 4"],
               ["model.num_memory = 2,4", "train.seed = 0,1"]),
    "slistops": ("synthetic_listops.ini", ["train.steps = 10", "train.eval_every = 10"],
                 ["model.num_memory = 4,8", "train.seed = 0,1,2"]),
    "fmnist": ("sfmnist_pool2.ini", ["task.store = {fm}", "train.steps = 8", "train.batch_size = 16",
                                     "train.eval_every = 8", "train.valid_samples = 100",
                                     "train.test_samples = 100", "train.threads = 1"],
               ["train.seed = 0,1"]),
}
MAIN_METRIC = {"neuron": "AUC", "slistops": "accuracy", "fmnist": "accuracy"}


def run(*command, cwd=None, timeout=120):
    return subprocess.run(list(command), capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    """(root, suite file, suite directory) of a finished 3-job suite; read-only (copy to damage)."""
    elmrun = elmrun_path()
    if not os.path.isdir(FMNIST_RAW):
        pytest.skip(f"no {FMNIST_RAW} (Debian package dataset-fashion-mnist)")
    root = str(tmp_path_factory.mktemp("suite"))
    stores = {"sn": os.path.join(root, "sn"), "fm": os.path.join(root, "fm")}
    for command in ([elmrun, "prep", "synthetic_neuron", "--set", "train_simulations=8", "--set",
                     "valid_simulations=4", "--set", "test_simulations=4", "--out", stores["sn"]],
                    [elmrun, "prep", "fmnist", "--out", stores["fm"]]):
        result = run(*command, cwd=root)
        assert result.returncode == 0, result.stderr
    for name, (config, sets, grid) in JOBS.items():
        with open(os.path.join(root, f"{name}.ini"), "w") as f:
            f.write(f"[sweep]\nname = {name}\nconfig = {os.path.join(CONFIGS, config)}\n[set]\n"
                    + "".join(s.format(**stores) + "\n" for s in sets) + "[grid]\n" + "\n".join(grid) + "\n")
    suite_file = os.path.join(root, "suite.ini")
    with open(suite_file, "w") as f:
        f.write("[suite]\nname = mini\njobs = neuron.ini, slistops.ini, fmnist.ini\n")
    result = run(elmrun, "sweep", suite_file, cwd=root, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    return root, suite_file, os.path.join(root, "runs", "mini")


@pytest.fixture
def suite_copy(suite, tmp_path):
    root, suite_file, suite_dir = suite
    return suite_file, shutil.copytree(suite_dir, str(tmp_path / "mini"))


def make_report(inputs, out):
    result = run(PYTHON, BENCHMARK, *inputs, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with open(os.path.join(out, "benchmark.md")) as f:
        return f.read()


@pytest.fixture(scope="session")
def suite_report(suite, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("benchmark"))
    return make_report([suite[2]], out), out


def hdf5_runs(sweep_dir):
    """Every done run of a sweep as (config, valid metrics (last), test metrics), read with h5py."""
    runs = []
    for run_id in sorted(os.listdir(os.path.join(sweep_dir, "runs"))):
        path = os.path.join(sweep_dir, "runs", run_id)
        if not os.path.exists(os.path.join(path, "DONE")):
            continue
        try:
            with h5py.File(os.path.join(path, "results.h5"), "r") as f:
                config = json.loads(f.attrs["config_json"])
                valid = {k: float(f["valid"][k][-1]) for k in f["valid"] if k != "step"}
                test = {k: float(f["test"][k][()]) for k in f["test"]}
        except OSError:
            continue  # a damaged file: not a result
        runs.append((config, valid, test))
    return runs


def by_configuration(runs):
    groups = {}
    for config, valid, test in runs:
        key = tuple(sorted((k, v) for k, v in config.items() if k not in NOT_CONFIGURATION))
        groups.setdefault(key, []).append((config, valid, test))
    return groups


def mean_std(values):
    values = np.array(values, dtype=float)
    values = values[np.isfinite(values)]  # a NaN metric (no spike in a window) is no value
    return values.mean(), (values.std(ddof=1) if values.size > 1 else float("nan"))


def close(text, value):
    if np.isnan(value):
        return text == "-"
    # The report shows 4 significant digits (number_text.py): half a unit of the 4th.
    return float(text) == pytest.approx(value, rel=5e-4, abs=1e-12)


def label_of(name, config):
    return "recipe" if name == "fmnist" else f"num_memory={config['model.num_memory']}"


TASK_TITLE = {"neuron": "NeuronIO (synthetic: synthetic_neuron)", "slistops": "synthetic ListOps",
              "fmnist": "sequential Fashion-MNIST"}


# ---------------------------------------------------------------- numbers


def test_configuration_means_and_stds_equal_the_hdf5_files(suite, suite_report):
    markdown, _ = suite_report
    rows = markdown_table(markdown, "All configurations")
    checked = 0
    for name in JOBS:
        metric = MAIN_METRIC[name]
        for members in by_configuration(hdf5_runs(os.path.join(suite[2], name))).values():
            config = members[0][0]
            row = next(r for r in rows if r["task"] == TASK_TITLE[name] and r["configuration"] == label_of(name, config))
            assert row["sweeps"] == name
            assert int(row["seeds done"]) == len(members) == len(JOBS[name][2][-1].split(","))
            assert row["seeds"].split() == sorted(c["train.seed"] for c, _, _ in members)
            for split, index in (("valid", 1), ("test", 2)):
                mean, std = mean_std([m[index][metric] for m in members])
                assert close(row[f"{split} mean"], mean), (name, split, row)
                assert close(row[f"{split} std"], std), (name, split, row)
            checked += 1
    assert checked == len(rows) == 5


def test_selection_table_takes_the_best_validation_mean(suite, suite_report):
    markdown, _ = suite_report
    rows = markdown_table(markdown, "Per task: selected on validation, reported on test")
    groups = by_configuration(hdf5_runs(os.path.join(suite[2], "slistops")))
    best = max(groups.values(), key=lambda ms: np.mean([m[1]["accuracy"] for m in ms]))
    row = next(r for r in rows if r["task"] == "synthetic ListOps")
    assert row["selected configuration"] == label_of("slistops", best[0][0])
    assert row["chosen from"] == "2 configuration(s)"
    mean, std = mean_std([m[2]["accuracy"] for m in best])
    assert close(row["test mean"], mean) and close(row["test std"], std)
    assert row["verdict"] == "no published number"
    # The synthetic neuron is set beside the released model of its size, never compared with it.
    neuron = next(r for r in rows if r["task"] == TASK_TITLE["neuron"])
    assert neuron["compared with"] == "ELM d_m=2 (released)" and neuron["difference"] == "-"
    assert neuron["verdict"] == "not compared: synthetic data (synthetic_neuron)"


def set_accuracy(run_dir, valid, test):
    with h5py.File(os.path.join(run_dir, "results.h5"), "r+") as f:
        f["valid/accuracy"][f["valid/accuracy"].shape[0] - 1] = valid
        f["test/accuracy"][()] = test


def test_selection_uses_validation_even_when_test_disagrees(suite_copy, tmp_path):
    _, suite_dir = suite_copy
    sweep = os.path.join(suite_dir, "slistops")
    # d_m 4: best on validation, worst on test; d_m 8 the other way round.
    values = {"4": (0.9, [0.2, 0.3, 0.25]), "8": (0.5, [0.95, 0.9, 0.85])}
    for run_id in os.listdir(os.path.join(sweep, "runs")):
        with open(os.path.join(sweep, "runs", run_id, "config.json")) as f:
            config = json.load(f)
        valid, tests = values[config["model.num_memory"]]
        set_accuracy(os.path.join(sweep, "runs", run_id), valid, tests[int(config["train.seed"])])
    markdown = make_report([suite_dir], str(tmp_path / "out"))
    row = next(r for r in markdown_table(markdown, "Per task: selected on validation, reported on test")
               if r["task"] == "synthetic ListOps")
    assert row["selected configuration"] == "num_memory=4"
    assert close(row["valid mean"], 0.9)
    assert close(row["test mean"], 0.25) and close(row["test std"], 0.05)


# ---------------------------------------------------------------- partial suites


def test_missing_sweep_and_damaged_results_are_reported(suite_copy, tmp_path):
    suite_file, suite_dir = suite_copy
    shutil.rmtree(os.path.join(suite_dir, "fmnist"))
    with open(os.path.join(suite_dir, "slistops", "manifest.tsv")) as f:
        header, *rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    broken = next(r for r in rows if r[header.index("model.num_memory")] == "8" and r[header.index("train.seed")] == "1")
    with open(os.path.join(suite_dir, "slistops", "runs", broken[1], "results.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # a torn file: DONE, unreadable results
    markdown = make_report([suite_dir], str(tmp_path / "out"))
    remaining = markdown.split("## What is missing or failed, per sweep", 1)[1]
    fmnist = remaining.split("### fmnist: ", 1)[1].split("###", 1)[0]
    assert fmnist.startswith("not started (no sweep directory)")
    rel = benchmark.relative
    assert f"sweep {rel(suite_file)} --only fmnist --out {rel(suite_dir)}" in fmnist
    assert "--mode array --only-missing" in fmnist
    slistops = remaining.split("### slistops: ", 1)[1].split("###", 1)[0]
    assert slistops.startswith("5 done, 1 failed of 6 runs")
    assert f"#{broken[0]} {broken[1]}: DONE but half-written results" in slistops
    assert f"--only slistops --out {rel(suite_dir)}" in slistops
    assert f"--array={broken[0]}" in slistops
    assert "Complete: neuron: 4 done of 4 runs." in remaining
    # The damaged seed leaves its configuration with two seeds whose numbers are the files'.
    row = next(r for r in markdown_table(markdown, "All configurations")
               if r["task"] == "synthetic ListOps" and r["configuration"] == "num_memory=8")
    assert row["seeds done"] == "2" and row["seeds"] == "0 2"
    members = [m for m in hdf5_runs(os.path.join(suite_dir, "slistops")) if m[0]["model.num_memory"] == "8"]
    mean, std = mean_std([m[2]["accuracy"] for m in members])
    assert len(members) == 2 and close(row["test mean"], mean) and close(row["test std"], std)


def test_a_suite_with_no_sweep_yet_gives_a_partial_report(suite_copy, tmp_path):
    _, suite_dir = suite_copy
    for name in JOBS:
        shutil.rmtree(os.path.join(suite_dir, name))
    markdown = make_report([suite_dir], str(tmp_path / "out"))
    for name in JOBS:
        assert f"### {name}: not started (no sweep directory)" in markdown
    assert "No finished run with a validation value: nothing to select." in markdown


def test_bad_arguments_are_one_line_and_exit_1(suite, tmp_path, capsys):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    (tmp_path / "empty").mkdir()
    cases = [[], [str(tmp_path / "absent"), "--out", str(tmp_path / "o")], [str(afile), "--out", str(tmp_path / "o")],
             [str(tmp_path / "empty"), "--out", str(tmp_path / "o")], [suite[2]],
             [suite[2], "--out", str(tmp_path / "o"), "--no-such-option"],
             [suite[2], "--out", str(tmp_path / "o"), "--published", str(tmp_path / "absent.csv")],
             [suite[2], "--out", str(afile / "sub")]]
    for args in cases[:2]:  # the command line itself
        result = run(PYTHON, BENCHMARK, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert result.stderr.startswith("benchmark.py: ")
    for args in cases[2:]:  # the same main(), in this process
        assert benchmark.main(args) == 1, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("benchmark.py: "), (args, err)
    assert not os.path.exists(tmp_path / "o")  # nothing written for a bad argument


# ---------------------------------------------------------------- the page


def test_chromium_decodes_every_image(suite_report, tmp_path):
    _, out = suite_report
    page = open(os.path.join(out, "benchmark.html")).read()
    images = embedded_images(page)
    assert len(images) == 2 and all(i.startswith("data:image/png;base64,") for i in images)
    assert "<script" not in page.lower() and not re.search(r"(src|href)=\"(?!data:)", page)
    assert decoded_images_title(page, tmp_path) == "<title>decoded 2/2</title>"


# ---------------------------------------------------------------- the paper's tasks, written runs


def write_sweep(root, name, runs, packs=None):
    """A sweep directory of results.h5 files in elmrun's layout: runs = [(config, valid acc, test acc,
    wall s, world size)]; the grid axes are the keys whose values differ."""
    sweep = os.path.join(root, name)
    keys = sorted({k for c, *_ in runs for k in c})
    axes = [k for k in keys if len({c.get(k) for c, *_ in runs}) > 1]
    lines = ["\t".join(["index", "run_id"] + axes)]
    for index, (config, valid, test, wall, world) in enumerate(runs):
        run_id = run_id_of(config)
        run_dir = os.path.join(sweep, "runs", run_id)
        os.makedirs(run_dir)
        with h5py.File(os.path.join(run_dir, "results.h5"), "w") as f:
            f.attrs["format"] = "elmrun-results-1"
            f.attrs["config_json"] = json.dumps(config)
            f.attrs["parameter_count"] = 123456.0
            f.attrs["wall_seconds"] = float(wall)
            f.attrs["world_size"] = float(world)
            f.attrs["steps_completed"] = 2.0
            f["train/loss"] = np.array([1.0, 0.5])
            f["valid/step"] = np.array([1, 2], dtype=np.int64)
            f["valid/accuracy"] = np.array([0.05, valid])
            f["test/accuracy"] = float(test)
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            json.dump(config, f)
        open(os.path.join(run_dir, "DONE"), "w").close()
        lines.append("\t".join([str(index), run_id] + [config[a] for a in axes]))
    with open(os.path.join(sweep, "manifest.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if packs:
        with open(os.path.join(sweep, "packs.tsv"), "w") as f:
            f.write("pack\truns\n" + "".join(f"{k}\t{' '.join(map(str, p))}\n" for k, p in enumerate(packs)))
    return sweep


def shd_adding_config(bin_ms, tau_max, seed):
    return {"task.name": "shd_adding", "task.store": "data/shd", "task.bin_ms": str(bin_ms),
            "model.delta_t": str(bin_ms), "model.variant": "v1", "model.memory_tau_max": str(tau_max),
            "train.seed": str(seed), "train.threads": "2"}


def test_paper_tasks_compared_with_the_published_numbers(tmp_path):
    # SHD-Adding: tau_max 100 / 1000 at 2 ms bins (3 seeds) and at 5 ms (1 seed), packed by tau_max;
    # tau_max 100 wins on validation at 2 ms although 1000 is better on test.
    tests = {100: [0.80, 0.83, 0.79], 1000: [0.90, 0.91, 0.92]}
    runs, packs = [], []
    for tau in (100, 1000):
        packs.append(list(range(len(runs), len(runs) + 3)))
        for seed in range(3):
            runs.append((shd_adding_config(2, tau, seed), 0.7 if tau == 100 else 0.6, tests[tau][seed], 3600.0, 2))
    for tau in (100, 1000):
        runs.append((shd_adding_config(5, tau, 0), 0.9, 0.5, 1800.0, 1))
    write_sweep(str(tmp_path / "suite"), "shd_adding_tau", runs, packs=packs + [[6], [7]])
    # ListOps at the paper's d_m, 3 seeds on 4 ranks of a GPU.
    listops = [({"task.name": "listops", "task.store": "data/listops", "model.num_memory": "150",
                 "train.seed": str(s), "train.backend": "cuda"}, 0.45, t, 7200.0, 4)
               for s, t in enumerate((0.46, 0.47, 0.48))]
    write_sweep(str(tmp_path / "suite"), "listops", listops)
    markdown = make_report([str(tmp_path / "suite")], str(tmp_path / "out"))

    rows = markdown_table(markdown, "Per task: selected on validation, reported on test")
    adding = next(r for r in rows if r["task"] == "SHD-Adding")
    assert adding["compared with"] == "ELM" and "memory_tau_max=100" in adding["selected configuration"]
    assert adding["chosen from"] == "2 configuration(s)"  # the 5 ms bins do not meet the paper's 2 ms
    mean, std = mean_std(tests[100])
    assert close(adding["test mean"], mean) and close(adding["test std"], std) and adding["paper"] == "0.82"
    assert close(adding["difference"], mean - 0.82)
    assert adding["verdict"].startswith("within ±") and "2 x our std over 3 seeds" in adding["verdict"]
    lo = next(r for r in rows if r["task"] == "ListOps")
    mean, std = mean_std([0.46, 0.47, 0.48])
    assert lo["paper"] == "0.4677" and close(lo["difference"], mean - 0.4677)
    assert lo["verdict"].startswith("within ±")
    lra = {r["model"]: r for r in markdown_table(markdown, "Long Range Arena (test accuracy)")}
    assert lra["ELM (paper)"]["ListOps"] == "0.4677" and lra["Chrono-LSTM (paper)"]["Path-X"] == "-"
    assert lra["ELM (this benchmark)"]["ListOps"] == f"{mean:#.4g} ± {std:#.4g} (n=3)"
    assert lra["ELM (this benchmark)"]["Text"] == "not run"
    assert "shd_adding_tau_bin.png" in os.listdir(tmp_path / "out")

    compute = {r["task"]: r for r in markdown_table(markdown, "Compute")}
    # Packs of 3 at 2 ms count one hour each; the 5 ms runs alone. CPU: wall x 2 ranks x 2 threads.
    assert compute["SHD-Adding"]["runs with a record"] == "8"
    assert close(compute["SHD-Adding"]["wall hours"], 2 + 2 * 0.5)
    assert close(compute["SHD-Adding"]["CPU-core hours"], 2 * 1 * 2 * 2 + 2 * 0.5 * 1 * 2)
    assert close(compute["ListOps"]["GPU hours"], 3 * 2 * 4) and close(compute["ListOps"]["CPU-core hours"], 0)
    assert close(compute["total"]["wall hours"], 3 + 6)


def test_one_seed_without_a_published_std_is_judged_by_the_figures_rounding():
    published = benchmark.Published("shd", "ELM", "accuracy", 0.91, "0.91", float("nan"), float("nan"),
                                     {"task.bin_ms": "2"}, "test")

    class One:
        def __init__(self, value):
            self.value = value

        def mean(self, split, metric):
            return self.value

        def std(self, split, metric):
            return float("nan")

        def seeds(self, split, metric):
            return 1

    for value, expected in ((0.914, "within ±0.005"), (0.93, "better than the paper, outside ±0.005"),
                            (0.80, "worse than the paper, outside ±0.005")):
        cmp = benchmark.Comparison("shd", "", "accuracy", One(value), published, 1)
        assert benchmark.verdict(cmp)[2].startswith(expected), (value, benchmark.verdict(cmp))
    published.std = 0.02
    cmp = benchmark.Comparison("shd", "", "accuracy", One(0.95), published, 1)
    assert benchmark.verdict(cmp)[2] == "within ±0.04 (2 x the paper's std)"


# ---------------------------------------------------------------- the published numbers


def test_published_numbers_are_the_shared_files_facts():
    with open(os.path.join(ANALYSIS_DIR, "published_results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["source"] and r["task"] and r["model"] and r["metric"] for r in rows)
    docs = os.path.join(SHARED, "docs", "datasets.md")
    torch_dir = os.path.join(SHARED, "pretrained", "torch")
    if not (os.path.isfile(docs) and os.path.isdir(torch_dir)):
        pytest.skip(f"no shared reference files at {SHARED}")
    text = open(docs).read()
    released = 0
    for r in rows:
        m = re.match(r"pretrained/torch/(\w+)/eval_results.json", r["source"])
        if m:
            with open(os.path.join(torch_dir, m.group(1), "eval_results.json")) as f:
                test = json.load(f)["test_results"]
            name = {v: k for k, v in benchmark.sweep_io.CANONICAL_METRIC.items()}[r["metric"]]
            assert float(r["value"]) == test[name]
            with open(os.path.join(torch_dir, m.group(1), "model_stats.json")) as f:
                assert int(r["parameter_count"]) == json.load(f)["model_param_count"]
            released += 1
        else:
            assert r["source"].startswith("datasets.md"), r
            value = r["value"]
            shown = f"{float(value) * 100:.4g}" if "Long Range Arena" in r["source"] else value
            assert re.search(rf"(?<![\d.]){re.escape(shown)}(?!\d)", text), (r, shown)
        assert r["std"] == ""  # datasets.md gives no spread
    assert released == 15 * 8
    # The paper's headline NeuronIO figures are the released models', rounded.
    for dm, auc in (("20", "0.9922"), ("15", "0.9915")):
        row = next(r for r in rows if r["model"] == f"ELM d_m={dm} (released)" and r["metric"] == "spike_auc")
        assert f"{float(row['value']):.4f}" == auc and auc in text


# ---------------------------------------------------------------- slurm/submit.py takes the suite


def test_submit_takes_a_suite_and_only_what_is_missing(suite_copy):
    suite_file, suite_dir = suite_copy
    base = [PYTHON, SUBMIT, suite_file, "--out", suite_dir, "--mode", "array", "--elmrun", elmrun_path(), "--dry-run"]
    result = run(*base)
    assert result.returncode == 0, result.stderr
    for k, name in enumerate(JOBS):
        assert f"submit.py: suite mini: sweep {name} ({k + 1}/3)" in result.stdout
        assert len(os.listdir(os.path.join(suite_dir, name, "slurm"))) == 2  # the script and logs/
    assert re.search(r"--job-name=elm-slistops-collect", result.stdout)
    result = run(*base, "--only", "fmnist", "--only-missing")
    assert result.returncode == 0, result.stderr
    assert "sweep fmnist (1/1)" in result.stdout and "nothing to submit" in result.stdout
    assert "slistops" not in result.stdout
    result = run(*base, "--only", "nope")
    assert result.returncode == 1 and "no such job in suite" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
