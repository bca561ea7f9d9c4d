"""report.py: numbers in the report equal the HDF5 files; the HTML is self-contained and renders."""

import base64
import io
import json
import os
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import report
from conftest import ANALYSIS_DIR, manifest_rows
from test_collect import damage, run_dir

PYTHON = "/usr/bin/python3"
# The report shows measured values to 4 significant digits (number_text.py):
# within half a unit of the 4th digit of the file's value.
SHOWN = 5e-4
REPORT = os.path.join(ANALYSIS_DIR, "report.py")
CHROMIUM = "/usr/bin/chromium"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def good_report(good_sweep, tmp_path_factory):
    """The report of the complete sweep, made through the command line once."""
    out = str(tmp_path_factory.mktemp("report"))
    result = subprocess.run([PYTHON, REPORT, good_sweep, "--out", out], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return out


def markdown_table(markdown: str, heading: str) -> list:
    """Rows (dicts) of the first table after '## heading'."""
    section = markdown.split(f"## {heading}\n", 1)[1]
    lines = [l for l in section.split("\n## ", 1)[0].splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in l.strip("|").split("|")))) for l in lines[2:]]


def embedded_images(html_text: str) -> list:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", html_text)


# ---------------------------------------------------------------- content


def test_report_files(good_report):
    names = set(os.listdir(good_report))
    assert {"report.md", "report.html", "metric_vs_params.png", "heatmap.png", "learning_curves.png",
            "throughput.png"} <= names
    markdown = open(os.path.join(good_report, "report.md")).read()
    for png in ("metric_vs_params.png", "heatmap.png", "learning_curves.png", "throughput.png"):
        assert f"]({png})" in markdown


def test_accuracy_table_equals_hdf5(good_sweep, good_report):
    markdown = open(os.path.join(good_report, "report.md")).read()
    rows = markdown_table(markdown, "Test results")
    assert len(rows) == len(manifest_rows(good_sweep))
    for row in rows:
        with h5py.File(os.path.join(good_sweep, "runs", row["run_id"], "results.h5"), "r") as f:
            assert float(row["test accuracy"]) == pytest.approx(f["test/accuracy"][()], rel=SHOWN)
            assert float(row["test loss"]) == pytest.approx(f["test/loss"][()], rel=SHOWN)
            assert int(row["parameters"]) == f.attrs["parameter_count"]
    runs = markdown_table(markdown, "Runs")
    assert [r["status"] for r in runs] == ["done"] * len(rows)
    for run in runs:
        with h5py.File(os.path.join(good_sweep, "runs", run["run_id"], "results.h5"), "r") as f:
            rates = f["train/sample_steps_per_s"][()]
            throughput = rates.size / np.sum(1.0 / rates)  # total sample-steps / total time
            assert float(run["sample-steps/s"]) == pytest.approx(throughput, rel=SHOWN)


def test_numbers_follow_one_rule(good_sweep, good_report):
    """Counts whole, grid values as the job file writes them, measured values to 4 digits."""
    markdown = open(os.path.join(good_report, "report.md")).read()
    axes = [k for k in manifest_rows(good_sweep)[0] if k not in ("index", "run_id")]
    four_digits = re.compile(r"^-?(\d\.\d{3}|\d{2}\.\d{2}|\d{3}\.\d|\d{4}|\d\.\d{3}e[+-]\d+|0\.0*[1-9]\d{3})$")
    for run in markdown_table(markdown, "Runs"):
        assert re.fullmatch(r"\d+", run["parameters"]) and re.fullmatch(r"\d+", run["steps"]), run
        for axis in axes:
            assert not run[axis].endswith(".0"), (axis, run[axis])
        for column in ("wall s", "sample-steps/s"):
            assert four_digits.match(run[column]), (column, run[column])
    for row in markdown_table(markdown, "Test results"):
        assert four_digits.match(row["test accuracy"]) and four_digits.match(row["test loss"]), row


def test_html_is_self_contained_with_valid_pngs(good_report):
    from PIL import Image

    html_text = open(os.path.join(good_report, "report.html")).read()
    sources = embedded_images(html_text)
    assert len(sources) == 4
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        data = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            assert image.size[0] > 100 and image.size[1] > 100
    assert "<script" not in html_text.lower()
    assert not re.search(r"(src|href)=\"(?!data:)", html_text)
    assert "http://" not in html_text and "https://" not in html_text


# ---------------------------------------------------------------- the browser


def chromium(*args, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("no /usr/bin/chromium")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def decoded_images_title(page: str, tmp_path) -> str:
    """Renders a copy of `page` with a counting script (the pages carry no
    JavaScript) and returns '<title>decoded N/M</title>': N of its M images decoded."""
    counter = ("<script>window.addEventListener('load', function () { var n = 0;"
               " for (var i of document.images) if (i.complete && i.naturalWidth > 0) n++;"
               " document.title = 'decoded ' + n + '/' + document.images.length; });</script>")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", counter + "</body>"))
    result = chromium("--dump-dom", f"file://{probe}", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r"<title>decoded \d+/\d+</title>", result.stdout)
    return found.group(0) if found else result.stdout[-500:]


def test_chromium_decodes_every_image(good_report, tmp_path):
    page = open(os.path.join(good_report, "report.html")).read()
    assert decoded_images_title(page, tmp_path) == "<title>decoded 4/4</title>"


def test_chromium_renders_a_nonblank_page(good_report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    result = chromium("--window-size=1200,2400", f"--screenshot={shot}",
                      f"file://{os.path.join(good_report, 'report.html')}", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.shape == (2400, 1200)
    assert pixels.std() > 10  # plots and text, not an empty white page
    assert (pixels < 128).mean() > 0.01


# ---------------------------------------------------------------- problems and degraded input


def test_damaged_sweep_report_lists_problems_and_skips_broken_runs(sweep_copy, tmp_path):
    broken = damage(sweep_copy)
    paths = report.make_report(sweep_copy, str(tmp_path / "out"))
    markdown = open(paths["md"]).read()
    problems = markdown.split("## Runs not done", 1)[1]
    for text in ("half-written results", "loss NaN at step 12", "no run directory", "deadbeefdeadbeef"):
        assert text in problems
    assert "--array=1-7,9" in problems
    table_indices = {int(r["index"]) for r in markdown_table(markdown, "Test results")}
    assert table_indices == {0, 8, 10, 11} and not table_indices & set(broken)
    assert len(paths["images"]) == 4


def test_missing_axes_skip_plots_with_a_note(good_sweep, tmp_path):
    paths = report.make_report(run_dir(good_sweep, 0), str(tmp_path / "out"))
    markdown = open(paths["md"]).read()
    assert "no model.num_memory axis" in markdown
    assert "no d_m x tau_max heatmap" in markdown
    assert {os.path.basename(p) for p in paths["images"]} == {"learning_curves.png", "throughput.png"}
    assert len(embedded_images(open(paths["html"]).read())) == 2


def test_sweep_without_results_still_reports(sweep_copy, tmp_path):
    for row in manifest_rows(sweep_copy):
        with open(os.path.join(sweep_copy, "runs", row["run_id"], "FAILED"), "w") as f:
            f.write("killed by test\n")
    paths = report.make_report(sweep_copy, str(tmp_path / "out"))
    markdown = open(paths["md"]).read()
    assert paths["images"] == [] and "killed by test" in markdown and "--array=0-11" in markdown


def test_seed_axis_gives_mean_std_and_count_per_point(good_report, good_sweep):
    markdown = open(os.path.join(good_report, "report.md")).read()
    rows = markdown_table(markdown, "Over seeds")
    assert len(rows) == 6  # 3 num_memory x 2 memory_tau_max
    manifest = manifest_rows(good_sweep)
    for row in rows:
        values = []
        for m in manifest:
            if m["model.num_memory"] == row["model.num_memory"] and \
                    m["model.memory_tau_max"] == row["model.memory_tau_max"]:
                with h5py.File(os.path.join(good_sweep, "runs", m["run_id"], "results.h5"), "r") as f:
                    values.append(float(f["test/accuracy"][()]))
        assert int(row["seeds"]) == len(values) == 2
        assert float(row["test_accuracy mean"]) == pytest.approx(np.mean(values), rel=SHOWN)
        assert float(row["std"]) == pytest.approx(np.std(values, ddof=1), rel=SHOWN, abs=1e-9)
        assert float(row["min"]) == pytest.approx(min(values), rel=SHOWN)


def test_report_cli_rejects_a_non_sweep(tmp_path):
    result = subprocess.run([PYTHON, REPORT, str(tmp_path / "absent")], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_report_cli_out_that_cannot_be_made_is_one_line(good_sweep, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out in ("/proc/elm-report", str(blocker / "report")):
        result = subprocess.run([PYTHON, REPORT, good_sweep, "--out", out], capture_output=True, text=True)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("report.py: ") and "Traceback" not in result.stderr, lines


# ---------------------------------------------------------------- NeuronIO


RELEASED_NAMES = {  # metric -> (valid value, test value), named as elmrun and eval_results.json name them
    "AUC": (0.9869, 0.9878),
    "TP @ 0.0025 FP": (0.2411, 0.2595),
    "AUC @ 0.0025 FP": (0.1261, 0.1389),
    "TP @ 0.0100 FP": (0.6273, 0.6555),
    "AUC @ 0.0100 FP": (0.3765, 0.4005),
    "soma_explained_variance_percent": (97.366, 94.820),
    "soma_RMSE": (0.8361, 0.6981),
    "soma_MAE": (0.3898, 0.3820),
}


def neuronio_results(path, num_memory, scale):
    """A NeuronIO results.h5 in elmrun's layout (no NeuronIO data here to train on)."""
    config = {"task.name": "neuronio", "model.num_memory": str(num_memory), "train.loss": "neuronio"}
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "elmrun-results-1"
        f.attrs["config_json"] = json.dumps(config)
        f.attrs["parameter_count"] = 1000.0 * num_memory
        f.attrs["wall_seconds"] = 12.5
        f.attrs["steps_completed"] = 3.0
        f["train/loss"] = np.array([0.9, 0.5, 0.4])
        f["train/sample_steps_per_s"] = np.array([1e5, 2e5, 3e5])
        f["valid/step"] = np.array([2, 3], dtype=np.int64)
        for name, (valid, test) in RELEASED_NAMES.items():
            f[f"valid/{name}"] = np.array([valid * 0.9, valid * scale])
            f[f"test/{name}"] = test * scale
        f["test/simulations_kept"] = 128.0
    return config


def test_neuronio_table_in_released_terms(tmp_path):
    sweep = tmp_path / "neuronio"
    lines = ["index\trun_id\tmodel.num_memory"]
    for index, num_memory in enumerate((10, 20)):
        run_id = f"{index:016x}"
        os.makedirs(sweep / "runs" / run_id)
        config = neuronio_results(str(sweep / "runs" / run_id / "results.h5"), num_memory, 1 - 0.001 * index)
        (sweep / "runs" / run_id / "config.json").write_text(json.dumps(config))
        (sweep / "runs" / run_id / "DONE").write_text("")
        lines.append(f"{index}\t{run_id}\t{num_memory}")
    (sweep / "manifest.tsv").write_text("\n".join(lines) + "\n")
    paths = report.make_report(str(sweep))
    markdown = open(paths["md"]).read()
    assert "main metric: test_spike_auc" in markdown
    rows = markdown_table(markdown, "NeuronIO evaluation")
    assert len(rows) == 2
    for index, row in enumerate(rows):
        scale = 1 - 0.001 * index
        expected = {"test AUC": RELEASED_NAMES["AUC"][1] * scale,
                    "test TP @ 0.0025 FP": RELEASED_NAMES["TP @ 0.0025 FP"][1] * scale,
                    "test TP @ 0.0100 FP": RELEASED_NAMES["TP @ 0.0100 FP"][1] * scale,
                    "test soma RMSE": RELEASED_NAMES["soma_RMSE"][1] * scale,
                    "test soma explained variance %": RELEASED_NAMES["soma_explained_variance_percent"][1] * scale,
                    "valid (last eval) AUC": RELEASED_NAMES["AUC"][0] * scale}
        for column, value in expected.items():
            assert float(row[column]) == pytest.approx(value, rel=SHOWN), column
    assert "metric_vs_params.png" in {os.path.basename(p) for p in paths["images"]}
    assert os.path.dirname(paths["md"]) == str(sweep / "report")
    # Steps at 1e5, 2e5 and 3e5 sample-steps/s do equal work W in W/1e5 + W/2e5 +
    # W/3e5 = W * 1.8333e-5 s: 3 W over that is 163636 sample-steps/s, not the
    # per-step mean 2e5.
    for run in markdown_table(markdown, "Runs"):
        assert float(run["sample-steps/s"]) == pytest.approx(163636.36, rel=SHOWN)
