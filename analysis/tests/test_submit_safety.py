"""slurm/submit.py pastes values from the job file and the command line into a generated
sbatch script: none of them can add code to it. A sweep name that would (a placeholder
pulling the script library into an #SBATCH line and closing it, $(...), quotes) is refused
with one line before anything is written; values that may hold such text (--partition, the
--out path) are pasted as they are, and the generated script, run with stand-in srun and
scontrol, executes nothing of theirs."""

import os
import re
import shlex
import subprocess

import pytest

from conftest import elmrun_path

PYTHON = "/usr/bin/python3"
SUBMIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "slurm",
                      "submit.py")
BASE = "[model]\nnum_input = 32\nnum_output = 4\n[task]\nname = synthetic_burst\n[train]\nsteps = 5\n"


def job_file(directory, name):
    (directory / "base.ini").write_text(BASE)
    path = directory / "job.ini"
    path.write_text(f"[sweep]\nname = {name}\nconfig = base.ini\n[grid]\ntrain.seed = 1,2\n")
    return str(path)


def submit(args, cwd):
    return subprocess.run([PYTHON, SUBMIT, "--elmrun", elmrun_path()] + args, capture_output=True, text=True,
                          cwd=cwd, timeout=60)


@pytest.mark.parametrize("name", [
    "x{{STEP_LIB}};touch${IFS}MARKER;#",  # pulled the script library into the #SBATCH line, then ran touch
    "$(touch${IFS}MARKER)",
    "it's",
    'a"b',
    "../../escape",
    "a%j",
])
def test_hostile_sweep_name_is_refused(tmp_path, name):
    marker = tmp_path / "marker"
    job = job_file(tmp_path, name.replace("MARKER", str(marker)))
    r = submit([job, "--out", str(tmp_path / "sweep"), "--mode", "array", "--dry-run"], str(tmp_path))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"submit.py: {job}: sweep.name gives job name "), r.stderr
    assert "is not a usable Slurm job name" in r.stderr
    assert not (tmp_path / "sweep").exists()
    assert not marker.exists()


def test_hostile_job_name_option_is_refused(tmp_path):
    job = job_file(tmp_path, "fine")
    r = submit([job, "--out", str(tmp_path / "sweep"), "--mode", "mpi", "--job-name", "a;b`c`", "--dry-run"],
               str(tmp_path))
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("submit.py: --job-name 'a;b`c`' is not a usable Slurm job name"), r.stderr
    assert not (tmp_path / "sweep").exists()


def submitted_script(stdout):
    """The script of the printed sbatch line (array mode prints it as jid=$(sbatch ... SCRIPT))."""
    for line in stdout.splitlines():
        m = re.fullmatch(r"(?:jid=\$\()?sbatch --parsable ('/.*'|/\S*)\)?", line)
        if m:
            return shlex.split(m.group(1))[0]
    raise AssertionError(f"no sbatch line in: {stdout}")


def markers_under(root):
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f == "MARK"]


@pytest.mark.parametrize("mode", ["array", "mpi"])
def test_placeholders_and_shell_text_in_values_stay_inert(tmp_path, mode):
    inject = "{{STEP_LIB}};touch${IFS}MARK;#"  # created in the working directory if run
    job = job_file(tmp_path, "fine")
    work = tmp_path / "w{{RESOURCES}}$(touch${IFS}MARK)"
    work.mkdir()
    out = str(tmp_path / "o{{STEP_LIB}}$(touch${IFS}MARK)")
    r = submit([job, "--out", out, "--mode", mode, "--partition", "p" + inject, "--account", "a" + inject,
                "--sbatch-option=--comment=" + inject, "--dry-run"], str(work))
    assert r.returncode == 0, r.stderr
    script = submitted_script(r.stdout)
    text = open(script).read()
    for line in (f"#SBATCH --partition=p{inject}", f"#SBATCH --account=a{inject}", f"#SBATCH --comment={inject}",
                 f"#SBATCH --chdir={work}"):
        assert line in text.splitlines(), line
    assert text.count("wait_step() {") == 1  # the script library pasted once, where it belongs
    assert subprocess.run(["bash", "-n", script]).returncode == 0

    # Run it as Slurm would (in --chdir), with stand-ins that only record their arguments.
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for tool in ("srun", "scontrol"):
        (stubs / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{tmp_path}/calls"\n')
        (stubs / tool).chmod(0o755)
    env = dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}", SLURM_JOB_ID="7", SLURM_ARRAY_JOB_ID="7",
               SLURM_ARRAY_TASK_ID="1", SLURM_NTASKS="1")
    run = subprocess.run(["bash", script], capture_output=True, text=True, env=env, cwd=str(work), timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("srun --mpi=pmix"), calls
    assert f"--out {out}" in calls[0]
    assert markers_under(tmp_path) == []
