"""report.py with hostile text in the sweep (results.h5 attributes, FAILED, config_json values):
it shows up as text, escaped, in report.html and report.md (no raw HTML, no Markdown links),
and never as markup."""

import json
import os
import re

import h5py

import report
from conftest import manifest_rows

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'
LINK = "[here](javascript:alert(1))"


def run_dir(sweep, index):
    return os.path.join(sweep, "runs", manifest_rows(sweep)[index]["run_id"])


def test_hostile_text_is_escaped(sweep_copy, tmp_path):
    # A string attribute where a number belongs, shown in the runs table.
    with h5py.File(os.path.join(run_dir(sweep_copy, 0), "results.h5"), "r+") as f:
        f.attrs["wall_seconds"] = SCRIPT
    # A wrong format attribute: the run is listed with the attribute's text.
    with h5py.File(os.path.join(run_dir(sweep_copy, 1), "results.h5"), "r+") as f:
        f.attrs["format"] = IMG
    # A config value that differs from the manifest: listed with its value.
    with h5py.File(os.path.join(run_dir(sweep_copy, 2), "results.h5"), "r+") as f:
        config = json.loads(f.attrs["config_json"])
        config["model.num_memory"] = SCRIPT + "|x\ny"
        f.attrs["config_json"] = json.dumps(config)
    with open(os.path.join(run_dir(sweep_copy, 3), "FAILED"), "w") as f:
        f.write(f"died {IMG} & {SCRIPT}, see {LINK}\n")

    paths = report.make_report(sweep_copy, str(tmp_path / "out"))
    html_text = open(paths["html"]).read()
    markdown = open(paths["md"]).read()
    for text in (html_text, markdown):
        assert "<script" not in text.lower()
        assert "<img src=x" not in text
        assert "&lt;script&gt;alert('x')&lt;/script&gt;" in text or "&lt;script&gt;alert(&#x27;x&#x27;)" in text
        assert "&lt;img src=x onerror=" in text
    # Markdown link syntax from the sweep stays text; in HTML it is plain text anyway.
    assert LINK not in markdown and "\\[here\\](javascript:alert(1))" in markdown
    assert 'href="javascript' not in html_text
    # The page's own markup is intact: images are data: URIs, no other tag carries an event handler.
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html_text, re.IGNORECASE)
    # Markdown tables keep one row per run (a cell's | and newline do not split it).
    runs_section = markdown.split("## Runs\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in runs_section.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(manifest_rows(sweep_copy))
