"""slurm/submit.py --gpus-per-node G: one rank per GPU. The generated script asks for
G ranks per node, one GPU per rank (--gpus-per-task=1) and writes the binding out
(--gpu-bind=none: every rank sees its node's GPUs, so NCCL finds the NVLink between
them, and elmrun takes GPU = local rank). Ranks per node other than G, GPUs for runs
that train on the CPU, and runs with train.backend = cuda without GPUs are refused with
one line before anything is written.

elmrun is a stand-in here that writes the manifest and records its arguments: these
tests are about the script submit.py writes, and need neither a CUDA build nor a GPU."""

import os
import re
import shlex
import subprocess

import pytest

PYTHON = "/usr/bin/python3"
SUBMIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "slurm",
                      "submit.py")
BASE = "[model]\nnum_input = 32\nnum_output = 4\n[task]\nname = synthetic_burst\n[train]\nsteps = 5\n"
FAKE_ELMRUN = """#!/usr/bin/python3
import os, sys
args = sys.argv[1:]
out = args[args.index("--out") + 1]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "manifest.tsv"), "w") as f:
    f.write("index\\trun_id\\n0\\t00000000000000a0\\n1\\t00000000000000a1\\n")
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls"), "a") as f:
    f.write(" ".join(args) + "\\n")
"""


@pytest.fixture
def sweep(tmp_path):
    """(directory, job file writer, submit runner) around a stand-in elmrun."""
    elmrun = tmp_path / "bin" / "elmrun"
    elmrun.parent.mkdir()
    elmrun.write_text(FAKE_ELMRUN)
    elmrun.chmod(0o755)
    (tmp_path / "base.ini").write_text(BASE)

    def job(ranks_per_run=1, extra=""):
        path = tmp_path / "job.ini"
        path.write_text(f"[sweep]\nname = g\nconfig = base.ini\nranks_per_run = {ranks_per_run}\n"
                        f"[grid]\ntrain.seed = 1,2\n{extra}")
        return str(path)

    def submit(args):
        return subprocess.run([PYTHON, SUBMIT, "--elmrun", str(elmrun), "--out", str(tmp_path / "sweep")] + args +
                              ["--dry-run"], capture_output=True, text=True, cwd=str(tmp_path), timeout=60)

    return tmp_path, job, submit


def script_of(stdout):
    for line in stdout.splitlines():
        m = re.fullmatch(r"(?:jid=\$\()?sbatch --parsable ('/.*'|/\S*\.sbatch)\)?", line)
        if m:
            return shlex.split(m.group(1))[0]
    raise AssertionError(f"no sbatch line in: {stdout}")


def resource_lines(script):
    """The #SBATCH lines after the template's fixed ones (job name, log, requeue, signal, array)."""
    fixed = ("--job-name=", "--chdir=", "--output=", "--open-mode=", "--requeue", "--signal=", "--array=")
    lines = [line for line in open(script).read().splitlines() if line.startswith("#SBATCH ")]
    return [line for line in lines if not line[len("#SBATCH "):].startswith(fixed)]


def test_mpi_two_nodes_four_gpus(sweep):
    tmp, job, submit = sweep
    r = submit([job(ranks_per_run=2), "--mode", "mpi", "--nodes", "2", "--gpus-per-node", "4",
                "--set", "train.backend=cuda"])
    assert r.returncode == 0, r.stderr
    assert "8 rank(s) per job" in r.stdout
    assert resource_lines(script_of(r.stdout)) == [
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks=8",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --gpu-bind=none",
    ]
    # --set reaches the runs: elmrun's --list and the job's srun line get it as given.
    assert (tmp / "bin" / "calls").read_text().split("\n")[0].endswith(" --list --set train.backend=cuda")
    assert "SETS=(--set train.backend=cuda)" in open(script_of(r.stdout)).read().splitlines()


def test_array_four_gpus_one_node(sweep):
    tmp, job, submit = sweep
    r = submit([job(ranks_per_run=4, extra="train.backend = cuda\n"), "--mode", "array", "--gpus-per-node", "4"])
    assert r.returncode == 0, r.stderr
    assert resource_lines(script_of(r.stdout)) == [
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=4",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --gpu-bind=none",
    ]


def test_array_ranks_spread_over_nodes_each_with_its_gpu(sweep):
    tmp, job, submit = sweep
    (tmp / "base.ini").write_text(BASE + "backend = cuda\n")  # the base config's [train]
    r = submit([job(ranks_per_run=8), "--mode", "array", "--nodes", "2", "--gpus-per-node", "4"])
    assert r.returncode == 0, r.stderr
    assert resource_lines(script_of(r.stdout)) == [
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks=8",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --gpu-bind=none",
    ]


def test_cpu_scripts_ask_for_no_gpu(sweep):
    tmp, job, submit = sweep
    r = submit([job(ranks_per_run=2), "--mode", "mpi", "--nodes", "2"])
    assert r.returncode == 0, r.stderr
    assert resource_lines(script_of(r.stdout)) == [
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=2",
        "#SBATCH --cpus-per-task=1",
    ]


def refused(r, tmp):
    """One line on stderr, exit 1, nothing written and elmrun not run."""
    assert r.returncode == 1 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert not (tmp / "sweep").exists()
    assert not (tmp / "bin" / "calls").exists()
    return r.stderr.rstrip("\n")


@pytest.mark.parametrize("args, ranks_per_run, line", [
    (["--mode", "mpi", "--nodes", "2", "--gpus-per-node", "4", "--ntasks-per-node", "2"], 2,
     "submit.py: 2 rank(s) per node but --gpus-per-node 4: elmrun runs one rank per GPU"),
    (["--mode", "array", "--gpus-per-node", "4"], 2,
     "submit.py: 2 rank(s) per node but --gpus-per-node 4: elmrun runs one rank per GPU"),
    (["--mode", "array", "--nodes", "2", "--gpus-per-node", "4"], 4,
     "submit.py: 2 rank(s) per node but --gpus-per-node 4: elmrun runs one rank per GPU"),
    (["--mode", "array", "--nodes", "2", "--gpus-per-node", "2"], 3,
     "submit.py: ranks_per_run = 3 does not split evenly over --nodes 2"),
    (["--mode", "mpi", "--nodes", "1", "--gpus-per-node", "3"], 2,
     "submit.py: 3 ranks (1 node(s) x 3) are not a multiple of ranks_per_run = 2"),
])
def test_ranks_per_node_must_match_gpus(sweep, args, ranks_per_run, line):
    tmp, job, submit = sweep
    r = submit([job(ranks_per_run=ranks_per_run)] + args + ["--set", "train.backend=cuda"])
    assert refused(r, tmp) == line


GPUS_IDLE = ("submit.py: --gpus-per-node 4 but {} on the CPU (train.backend = cpu), so the GPUs would sit idle: "
             "add --set train.backend=cuda (or leave --gpus-per-node out)")
NO_GPU = ("submit.py: {} on a GPU (train.backend = cuda) but --gpus-per-node is 0, so the ranks would get no GPU: "
          "pass --gpus-per-node G (GPUs per node, one rank each), or --set train.backend=cpu")


@pytest.mark.parametrize("extra, sets, line", [
    ("", [], GPUS_IDLE.format("the runs train")),                                   # default: cpu
    ("[set]\ntrain.backend = cpu\n", [], GPUS_IDLE.format("the runs train")),
    ("", ["--set", "train.backend=cuda", "--set", "train.backend=cpu"], GPUS_IDLE.format("the runs train")),
    ("train.backend = cpu, cuda\n", [], GPUS_IDLE.format("some runs train")),       # a [grid] axis
])
def test_gpus_for_cpu_runs_are_refused(sweep, extra, sets, line):
    tmp, job, submit = sweep
    r = submit([job(ranks_per_run=4, extra=extra), "--mode", "mpi", "--gpus-per-node", "4"] + sets)
    assert refused(r, tmp) == line


@pytest.mark.parametrize("mode, extra, sets, line", [
    ("mpi", "", ["--set", "train.backend=cuda"], NO_GPU.format("the runs train")),
    ("array", "[set]\ntrain.backend = cuda\n", [], NO_GPU.format("the runs train")),
    ("array", "train.backend = cuda,cpu\n", [], NO_GPU.format("some runs train")),
])
def test_cuda_runs_without_gpus_are_refused(sweep, mode, extra, sets, line):
    tmp, job, submit = sweep
    r = submit([job(extra=extra), "--mode", mode] + sets)
    assert refused(r, tmp) == line


def test_set_overrides_the_job_file(sweep):
    tmp, job, submit = sweep
    r = submit([job(ranks_per_run=4, extra="train.backend = cpu,cuda\n"), "--mode", "mpi", "--gpus-per-node", "4",
                "--set", "train.backend=cuda"])
    assert r.returncode == 0, r.stderr
