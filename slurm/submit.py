#!/usr/bin/python3
"""Submit an elmrun sweep to Slurm (docs/cluster.md).

    slurm/submit.py JOB.ini --out DIR --mode array|mpi [options] [--dry-run]
    slurm/submit.py SUITE.ini [--out DIR] [--only JOB ...] --mode array|mpi [options] [--dry-run]

Writes the sweep's manifest (`elmrun sweep JOB --out DIR --list`), fills the
template slurm/array.sbatch or slurm/mpi_sweep.sbatch into DIR/slurm/ and
prints the exact sbatch command; without --dry-run it submits and prints the
job id. Array mode also submits a small job, started after every array task
has ended (--dependency=afterany), that rewrites DIR/summary.{h5,csv} from
all runs. --only-missing submits only the manifest rows without DONE.
Array mode reads the cluster's limits (scontrol show config: MaxArraySize,
MaxJobCount, max_array_tasks; sacctmgr: the user's MaxSubmitJobs where
accounting is on) and, when the sweep has more runs (packs) than they allow
array tasks, gives each task several of them (--runs-per-task), listed in a
task map DIR/slurm/array-<time>.tasks that the task reads.
A suite file ([suite] jobs = ..., docs/sweeps.md) submits each of its jobs
(or those --only names) as its own array or MPI job into DIR/<sweep name>/
(DIR defaults to runs/<suite name>, as for `elmrun sweep SUITE.ini`), after
one `elmrun sweep SUITE --out DIR --list` has checked every job's runs.
Errors are one line on stderr (one per problem elmrun's --list finds in the
runs' tasks and stores, before anything is written) and a non-zero exit.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import datetime
import math
import os
import pwd
import re
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "analysis"))
from array_expression import array_expression  # noqa: E402  (standard library only)

TEMPLATES = {"array": "array.sbatch", "mpi": "mpi_sweep.sbatch"}


class SubmitError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog="submit.py", description=__doc__.split("\n\n")[0])
    p.add_argument("job", help="sweep job file (INI: [sweep] [set] [grid]) or suite file ([suite] jobs = ...)")
    p.add_argument("--out", help="sweep directory (runs/, manifest.tsv, summary; slurm/ scripts and logs); "
                                 "for a suite the suite directory, one sweep directory per job [runs/<suite name>]")
    p.add_argument("--only", action="append", default=[], metavar="JOB",
                   help="suite: submit only this job (sweep name or job file name); repeatable")
    p.add_argument("--mode", required=True, choices=("array", "mpi"),
                   help="array: one array task per run (per pack when the sweep packs; several per task where "
                        "the cluster's limits require, see --runs-per-task); mpi: one job, all ranks under one "
                        "srun, groups of ranks_per_run")
    p.add_argument("--nodes", type=int, default=1, help="nodes per job (array: per task) [1]")
    p.add_argument("--gpus-per-node", type=int, default=0,
                   help="GPUs per node, one rank per GPU (the runs need train.backend=cuda) [0: CPU ranks]")
    p.add_argument("--ntasks-per-node", type=int,
                   help="ranks per node (mpi; default: --gpus-per-node, else the job's ranks_per_run)")
    p.add_argument("--cpus-per-task", type=int, default=None,
                   help="CPU cores per rank [the runs' largest train.threads]; fewer than that is refused")
    p.add_argument("--time", help="time limit per job or array task, HH:MM:SS or D-HH:MM:SS")
    p.add_argument("--partition", help="Slurm partition")
    p.add_argument("--account", help="Slurm account")
    p.add_argument("--job-name", help="Slurm job name [elm-<sweep name>]")
    p.add_argument("--throttle", type=int, help="array: at most K tasks running at once (--array=...%%K)")
    p.add_argument("--runs-per-task", type=int, metavar="N",
                   help="array: each task trains N manifest rows (N packs when the sweep packs), one after "
                        "another, listed in a task map DIR/slurm/array-<time>.tasks [1, or the fewest that fit "
                        "the cluster's MaxArraySize, MaxJobCount and MaxSubmitJobs]; an N that does not fit is refused")
    p.add_argument("--max-requeues", type=int, default=3,
                   help="requeue an interrupted job (exit 75) at most R times [3]")
    p.add_argument("--signal-lead", type=int, default=300,
                   help="seconds before the time limit at which the steps get SIGUSR2 to checkpoint [300]")
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="override one key for every run (as elmrun sweep --set); repeatable")
    p.add_argument("--pack", metavar="K",
                   help="train up to K runs of one shape together, or 'auto' (as elmrun sweep --pack; "
                        "array: one task per pack) [the job's sweep.pack]")
    p.add_argument("--only-missing", action="store_true", help="submit only the manifest rows without DONE")
    p.add_argument("--sbatch-option", action="append", default=[], metavar="OPT",
                   help="one more #SBATCH option, e.g. --sbatch-option=--qos=long; repeatable")
    p.add_argument("--no-collect-job", action="store_true", help="array: do not submit the summary job")
    p.add_argument("--elmrun", help="elmrun binary [$ELMRUN, else build/elmrun beside slurm/]")
    p.add_argument("--dry-run", action="store_true",
                   help="write the script (and task map) and print the sbatch command, submit nothing; array mode "
                        "also prints the limits read (or the defaults assumed, and why) and the runs per task")
    return p.parse_args(argv)


def positive(name, value, allow_zero=False):
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise SubmitError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def check_time(value):
    if value is not None and not re.fullmatch(r"(\d+-)?\d+(:\d{1,2}){0,2}", value):
        raise SubmitError(f"--time {value!r} is not a Slurm time (HH:MM:SS, MM, D-HH:MM:SS)")


def time_seconds(value):
    """Seconds of a Slurm time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS."""
    days, _, rest = value.rpartition("-")
    parts = [int(x) for x in rest.split(":")]
    if days:
        parts += [0] * (3 - len(parts))  # D-HH[:MM[:SS]]
        h, m, sec = parts
    elif len(parts) == 1:
        h, m, sec = 0, parts[0], 0
    elif len(parts) == 2:
        h, m, sec = 0, parts[0], parts[1]
    else:
        h, m, sec = parts
    return (int(days or 0) * 24 + h) * 3600 + m * 60 + sec


def check_signal_lead(lead, time_limit):
    # Slurm sends the signal `lead` seconds before the limit (up to ~60 s
    # earlier still): a lead as long as the limit signals at once, and every
    # attempt would checkpoint at its first step and requeue.
    if time_limit is not None and lead > 0 and lead >= time_seconds(time_limit):
        raise SubmitError(f"--signal-lead {lead} s must be shorter than --time {time_limit} "
                          f"({time_seconds(time_limit)} s)")


def no_space(name, value):
    if re.search(r"\s", value):
        raise SubmitError(f"{name} {value!r} contains white space, which #SBATCH lines cannot hold")


def check_job_name(source, value):
    """The job name goes into an #SBATCH line and, through %x, into log file names."""
    if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,200}", value) or value.startswith((".", "-")):
        raise SubmitError(f"{source} {value!r} is not a usable Slurm job name (letters, digits and . _ + - "
                          "only, not starting with . or -: it becomes an #SBATCH line and log file names)")


def read_ini(path):
    """An INI file as elmrun reads it (';' and '#' start inline comments); SubmitError on bad syntax."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None, strict=False)
    try:
        cp.read(path)
    except configparser.Error as e:
        raise SubmitError(f"{path}: {str(e).splitlines()[0]}") from None
    return cp


def read_job(path):
    """(sweep name, ranks_per_run) from the job file's [sweep] section."""
    if not os.path.isfile(path):
        raise SubmitError(f"{path}: no such job file")
    cp = read_ini(path)
    if not cp.has_section("sweep"):
        raise SubmitError(f"{path}: no [sweep] section")
    name = cp.get("sweep", "name", fallback=os.path.splitext(os.path.basename(path))[0]).strip()
    rpr_text = cp.get("sweep", "ranks_per_run", fallback="1").strip()
    try:
        rpr = int(rpr_text)
    except ValueError:
        raise SubmitError(f"{path}: sweep.ranks_per_run = {rpr_text!r} is not an integer") from None
    if rpr < 1:
        raise SubmitError(f"{path}: sweep.ranks_per_run = {rpr} must be >= 1")
    return name, rpr


DEPENDENCY = "--dependency=afterany:<array job id>"  # stands for the id in collect_cmd


def find_elmrun(given):
    path = given or os.environ.get("ELMRUN") or os.path.join(os.path.dirname(HERE), "build", "elmrun")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SubmitError(f"{path}: no elmrun binary (build it, or pass --elmrun PATH)")
    return path


def elmrun_args(a):
    """The sweep options every elmrun call of the submission repeats."""
    args = [y for s in a.set for y in ("--set", s)]
    if a.pack:
        args += ["--pack", a.pack]
    return args


def list_runs(elmrun, job, out, args):
    """Runs `elmrun sweep JOB --out OUT --list` (JOB a job or a suite file): writes the manifests."""
    cmd = [elmrun, "sweep", job, "--out", out, "--list"] + args
    env = dict(os.environ)
    for var in [v for v in env if v.startswith(("PMIX_", "PMI_", "OMPI_COMM_WORLD"))]:
        del env[var]  # not a rank of the caller's job
    # elmrun checks every run's task and store first and prints one line per
    # problem: all of them are passed on, and nothing is written or queued.
    run_checked(cmd, "elmrun sweep --list", env, all_lines=True)


def write_manifest(elmrun, job, out, args):
    """Runs `elmrun sweep JOB --out OUT --list` and returns the manifest rows as (index, run_id)."""
    list_runs(elmrun, job, out, args)
    return read_manifest(out)


def read_manifest(out):
    """OUT/manifest.tsv's rows as (index, run_id)."""
    manifest = os.path.join(out, "manifest.tsv")
    rows = []
    try:
        with open(manifest) as f:
            header = f.readline().rstrip("\n").split("\t")
            if header[:2] != ["index", "run_id"]:
                raise SubmitError(f"{manifest}: unexpected header {header[:2]}")
            for line in f:
                if line.strip():
                    cols = line.rstrip("\n").split("\t")
                    if len(cols) < 2 or not cols[0].isdigit():
                        raise SubmitError(f"{manifest}: bad row {line.rstrip()!r}")
                    rows.append((int(cols[0]), cols[1]))
    except OSError as e:
        raise SubmitError(f"{manifest}: {e.strerror}") from None
    if not rows:
        raise SubmitError(f"{manifest}: no runs")
    return rows


def missing_indices(out, rows):
    return [i for i, run_id in rows if not os.path.exists(os.path.join(out, "runs", run_id, "DONE"))]


def read_packs(out, rows):
    """packs.tsv (written by --list): the manifest rows of each pack, as lists of indices."""
    path = os.path.join(out, "packs.tsv")
    if not os.path.exists(path):  # an elmrun from before packs: one run per task
        return [[i] for i, _ in rows]
    packs = []
    try:
        with open(path) as f:
            if f.readline().rstrip("\n").split("\t") != ["pack", "runs"]:
                raise SubmitError(f"{path}: unexpected header")
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) != 2 or not cols[0].isdigit() or int(cols[0]) != len(packs):
                    raise SubmitError(f"{path}: bad row {line.rstrip()!r}")
                packs.append([int(i) for i in cols[1].split()])
    except OSError as e:
        raise SubmitError(f"{path}: {e.strerror}") from None
    if sorted(i for p in packs for i in p) != [i for i, _ in rows]:
        raise SubmitError(f"{path}: does not list every manifest row once")
    return packs


# Slurm's own defaults (slurm.conf(5)), assumed where scontrol cannot be asked.
DEFAULT_MAX_ARRAY_SIZE = 1001
DEFAULT_MAX_JOB_COUNT = 10000


@dataclasses.dataclass
class ClusterLimits:
    """The limits an array submission has to fit in, and where they came from (printed)."""
    max_array_size: int          # array indices run from 0 to MaxArraySize - 1
    max_job_count: int           # jobs slurmctld holds at once; every array task counts as one
    max_array_tasks: int | None  # SchedulerParameters max_array_tasks: tasks in one array
    max_submit_jobs: int | None  # the user's association: pending and running jobs at once
    source: str                  # scontrol, or the defaults assumed and why
    submit_source: str           # where MaxSubmitJobs came from, or why it was not read

    def describe(self):
        values = f"MaxArraySize={self.max_array_size}, MaxJobCount={self.max_job_count}"
        if self.max_array_tasks is not None:
            values += f", max_array_tasks={self.max_array_tasks}"
        return f"{values} ({self.source}); {self.submit_source}"


def query(cmd):
    """(stdout, None) of a Slurm client command, or (None, why it gave nothing)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return None, f"{cmd[0]} not found"
    except OSError as e:
        return None, f"{cmd[0]}: {e.strerror}"
    except subprocess.TimeoutExpired:
        return None, f"{' '.join(cmd)} did not answer within 60 s"
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        return None, f"{' '.join(cmd)} failed: {last.strip()}"
    return done.stdout, None


def parse_config(text):
    """`scontrol show config` as {key: value}: its `Key = Value` lines (the first of each key)."""
    config = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key and " " not in key:
            config.setdefault(key, value.strip())
    return config


def config_int(config, key, default):
    text = config.get(key)
    if text is None:
        return default
    if not text.isdigit():
        raise SubmitError(f"scontrol show config: {key} = {text!r} is not a number")
    return int(text)


def max_array_tasks(config):
    """SchedulerParameters' max_array_tasks=N (a lower cap on one array's tasks), or None."""
    for item in config.get("SchedulerParameters", "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "max_array_tasks" and value.isdigit():
            return int(value)
    return None


def read_max_submit_jobs(account, cluster):
    """(the user's MaxSubmitJobs or None, where it came from). The smallest over the user's
    associations on this cluster (of --account where given): the one a job lands in is not
    known here."""
    user = pwd.getpwuid(os.getuid()).pw_name
    cmd = ["sacctmgr", "--noheader", "--parsable2", "show", "associations", f"users={user}"]
    if cluster:
        cmd.append(f"clusters={cluster}")  # the database may serve several clusters
    if account:
        cmd.append(f"accounts={account}")
    stdout, why = query(cmd + ["format=MaxSubmitJobs"])
    if stdout is None:
        return None, f"MaxSubmitJobs not read ({why})"
    values = [int(v) for v in stdout.split() if v.isdigit()]
    where = f"sacctmgr, user {user}" + (f", account {account}" if account else "")
    if not values:
        return None, f"MaxSubmitJobs not set ({where})"
    return min(values), f"MaxSubmitJobs={min(values)} ({where})"


def read_cluster_limits(account):
    """The cluster's limits from scontrol (and sacctmgr where accounting is configured); Slurm's
    defaults, said so, where scontrol gives no answer (a dry run away from the cluster)."""
    stdout, why = query(["scontrol", "show", "config"])
    if stdout is None:
        return ClusterLimits(DEFAULT_MAX_ARRAY_SIZE, DEFAULT_MAX_JOB_COUNT, None, None,
                             f"Slurm's defaults, assumed: {why}", "MaxSubmitJobs not read")
    config = parse_config(stdout)
    storage = config.get("AccountingStorageType", "accounting_storage/none")
    if storage == "accounting_storage/none":
        max_submit, submit_source = None, f"no MaxSubmitJobs (AccountingStorageType={storage})"
    else:
        max_submit, submit_source = read_max_submit_jobs(account, config.get("ClusterName"))
    return ClusterLimits(config_int(config, "MaxArraySize", DEFAULT_MAX_ARRAY_SIZE),
                         config_int(config, "MaxJobCount", DEFAULT_MAX_JOB_COUNT),
                         max_array_tasks(config), max_submit, "scontrol show config", submit_source)


def task_caps(limits, extra_jobs):
    """(most tasks, why) for each limit on how many tasks one array may have; extra_jobs: the
    summary job, which counts against the same job limits."""
    beside = " less the summary job" if extra_jobs else ""
    caps = [(limits.max_job_count - extra_jobs, f"MaxJobCount={limits.max_job_count}{beside}")]
    if limits.max_array_tasks is not None:
        caps.append((limits.max_array_tasks, f"max_array_tasks={limits.max_array_tasks}"))
    if limits.max_submit_jobs is not None:
        caps.append((limits.max_submit_jobs - extra_jobs, f"MaxSubmitJobs={limits.max_submit_jobs}{beside}"))
    return caps


def plan_array(units, runs_per_task, limits, extra_jobs):
    """How the units (pack indices, sorted) become array tasks: (units per task, tasks, why).
    tasks None: one task per unit with the pack index as array index (as before task maps,
    and what `elmrun status`'s --array= hint resubmits); else task t trains tasks[t]."""
    if limits.max_array_size < 1:
        raise SubmitError("this cluster disables job arrays (MaxArraySize=0): use --mode mpi")
    count_cap, count_why = min(task_caps(limits, extra_jobs))
    if count_cap < 1:
        raise SubmitError(f"no room for an array task ({count_why})")
    if runs_per_task in (None, 1) and units[-1] < limits.max_array_size and len(units) <= count_cap:
        return 1, None, "array index = pack index"
    cap, cap_why = min((limits.max_array_size, f"MaxArraySize={limits.max_array_size}"), (count_cap, count_why))
    fewest = math.ceil(len(units) / cap)
    if runs_per_task is None:
        runs_per_task, why = fewest, f"the fewest that keep the array within {cap} tasks ({cap_why})"
    elif runs_per_task < fewest:
        raise SubmitError(f"--runs-per-task {runs_per_task} makes {math.ceil(len(units) / runs_per_task)} array "
                          f"tasks, more than the {cap} this cluster allows ({cap_why}): use --runs-per-task "
                          f"{fewest} or more, or leave it out")
    else:
        why = "as --runs-per-task asks"
    tasks = [units[k:k + runs_per_task] for k in range(0, len(units), runs_per_task)]
    return runs_per_task, tasks, why


def packs_holding(packs, indices):
    """The packs (indices into packs.tsv) that hold any of the manifest indices, in order."""
    wanted = set(indices)
    return [p for p, runs in enumerate(packs) if wanted.intersection(runs)]


def summary_jobs(a):
    """Jobs besides the array that a submission queues (they count against the same job limits)."""
    return 0 if a.no_collect_job else 1


def check_suite_arrays_fit(a, out, jobs, limits):
    """Every sweep of a suite fits the cluster's limits, checked before the first array is queued."""
    for name, _ in jobs:
        sweep_dir = os.path.join(out, name)
        rows = read_manifest(sweep_dir)
        indices = missing_indices(sweep_dir, rows) if a.only_missing else [i for i, _ in rows]
        if not indices:
            continue
        try:
            plan_array(packs_holding(read_packs(sweep_dir, rows), indices), a.runs_per_task, limits, summary_jobs(a))
        except SubmitError as e:
            raise SubmitError(f"sweep {name}: {e}") from None


def write_task_map(path, tasks):
    """The task map array.sbatch reads: one line per array task, `task<TAB>pack indices`."""
    with open(path + ".tmp", "w") as f:
        f.write("task\tpacks\n")
        for t, packs in enumerate(tasks):
            f.write(f"{t}\t{' '.join(str(p) for p in packs)}\n")
    os.replace(path + ".tmp", path)


def run_values(job_path, sets, key, default):
    """The values a section.key takes among the sweep's runs, resolved as elmrun
    resolves it: the last --set, else the [grid] axis (each value), else [set],
    else the base config's section, else default."""
    for s in reversed(sets):
        k, _, value = s.partition("=")
        if k.strip() == key:
            return [value.strip()]
    job = read_ini(job_path)
    if job.has_option("grid", key):
        return [v.strip() for v in job.get("grid", key).split(",")]
    if job.has_option("set", key):
        return [job.get("set", key).strip()]
    config = job.get("sweep", "config", fallback="").strip()
    base = read_ini(os.path.join(os.path.dirname(job_path), config))
    section, _, name = key.partition(".")
    return [base.get(section, name, fallback=default).strip()]


def max_train_threads(job_path, sets):
    """The largest train.threads among the sweep's runs. Called after elmrun has validated every run."""
    return max(int(v) for v in run_values(job_path, sets, "train.threads", "1"))


def check_backend(job_path, sets, gpus_per_node):
    """GPUs asked for only where the runs train on them (train.backend, default cpu), and the
    reverse. Other values are left to elmrun's own check."""
    backends = set(run_values(job_path, sets, "train.backend", "cpu"))
    if gpus_per_node and "cpu" in backends:
        which = "the runs train" if backends == {"cpu"} else "some runs train"
        raise SubmitError(f"--gpus-per-node {gpus_per_node} but {which} on the CPU (train.backend = cpu), "
                          "so the GPUs would sit idle: add --set train.backend=cuda (or leave --gpus-per-node out)")
    if not gpus_per_node and "cuda" in backends:
        which = "the runs train" if backends == {"cuda"} else "some runs train"
        raise SubmitError(f"{which} on a GPU (train.backend = cuda) but --gpus-per-node is 0, so the ranks would "
                          "get no GPU: pass --gpus-per-node G (GPUs per node, one rank each), or "
                          "--set train.backend=cpu")


def resources(a, rpr, cpus):
    """#SBATCH lines for the allocation, and a description of the ranks."""
    lines = []
    if a.mode == "array":
        if rpr % a.nodes:
            raise SubmitError(f"ranks_per_run = {rpr} does not split evenly over --nodes {a.nodes}")
        per_node = rpr // a.nodes
        lines += [f"--nodes={a.nodes}", f"--ntasks={rpr}"]
        if a.nodes > 1:
            lines.append(f"--ntasks-per-node={per_node}")
        ranks = rpr
    else:
        per_node = a.ntasks_per_node or a.gpus_per_node or rpr
        ranks = a.nodes * per_node
        if ranks % rpr:
            raise SubmitError(f"{ranks} ranks ({a.nodes} node(s) x {per_node}) are not a multiple of "
                              f"ranks_per_run = {rpr}")
        lines.append(f"--nodes={a.nodes}")
        if a.gpus_per_node:
            lines.append(f"--ntasks={ranks}")  # --gpus-per-task needs an explicit task count
        lines.append(f"--ntasks-per-node={per_node}")
    if a.gpus_per_node and per_node != a.gpus_per_node:
        raise SubmitError(f"{per_node} rank(s) per node but --gpus-per-node {a.gpus_per_node}: "
                          "elmrun runs one rank per GPU")
    lines.append(f"--cpus-per-task={cpus}")
    if a.gpus_per_node:
        # One GPU per rank. --gpus-per-task alone would also bind each task to
        # its GPU (it implies --gpu-bind=per_task:1; sbatch(1)), and where
        # ConstrainDevices is on that puts every task in a cgroup with only its
        # own device: NCCL then cannot see its neighbours' GPUs, finds no NVLink
        # and silently falls back to copies through host memory (NVIDIA/nccl#1066:
        # "NCCL needs to see all GPUs on the same node for all NVLink detection
        # to work properly"; CUDA IPC between such tasks fails too,
        # open-mpi/ompi#11949). So the binding is turned off explicitly: every
        # rank sees the job's GPUs on its node and elmrun takes GPU = local rank.
        # (Under a per-task binding elmrun runs as well, each rank on its one
        # visible device 0.)
        lines += ["--gpus-per-task=1", "--gpu-bind=none"]
    for opt, value in (("time", a.time), ("partition", a.partition), ("account", a.account)):
        if value:
            no_space(f"--{opt}", value)
            lines.append(f"--{opt}={value}")
    for extra in a.sbatch_option:
        if not extra.startswith("-"):
            raise SubmitError(f"--sbatch-option {extra!r} is not an option (use --sbatch-option=--qos=X)")
        no_space("--sbatch-option", extra)
        lines.append(extra)
    return "\n".join("#SBATCH " + line for line in lines), ranks


def read_step_lib():
    """slurm/step_lib.sh without its header comment, pasted into every generated script."""
    with open(os.path.join(HERE, "step_lib.sh")) as f:
        lines = f.read().splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)


def fill(template_path, values):
    """The template with each {{KEY}} replaced in one pass: a value is pasted as it is, never
    searched for placeholders itself (a name holding "{{STEP_LIB}}" must not pull code in)."""
    with open(template_path) as f:
        text = f.read()
    left = sorted(set(re.findall(r"\{\{([A-Z_]+)\}\}", text)) - set(values))
    if left:
        raise SubmitError(f"{template_path}: no value for {', '.join(left)}")
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], text)


def run_checked(cmd, what, env=None, all_lines=False):
    """Runs cmd; its stdout, or SubmitError with the last line it printed
    (all_lines: every line of its stderr, one error line each)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    except OSError as e:
        raise SubmitError(f"{cmd[0]}: {e.strerror}") from None
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()
        lines = [line for line in lines if line.strip()] if all_lines else lines[-1:]
        raise SubmitError("\n".join(f"{what} failed: {line}" for line in lines))
    return done.stdout


def sbatch(cmd):
    stdout = run_checked(cmd, "sbatch")
    job_id = stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise SubmitError(f"sbatch printed no job id: {stdout.strip()!r}")
    return job_id


def is_suite(path):
    """Whether an INI file is a suite ([suite] section) rather than a sweep job."""
    if not os.path.isfile(path):
        raise SubmitError(f"{path}: no such job file")
    return read_ini(path).has_section("suite")


def suite_name(path):
    cp = read_ini(path)
    return cp.get("suite", "name", fallback=os.path.splitext(os.path.basename(path))[0]).strip()


def suite_jobs(path, only):
    """(sweep name, job file) of the suite's jobs that --only selects (all without it), read as
    elmrun reads the suite: suite.jobs, comma-separated, relative to the suite file."""
    cp = read_ini(path)
    entries = [e.strip() for e in cp.get("suite", "jobs", fallback="").split(",")]
    if not any(entries):
        raise SubmitError(f"{path}: key 'suite.jobs' (the job files, comma-separated) is required")
    jobs = []
    for entry in entries:
        job = os.path.join(os.path.dirname(path), entry)
        if not entry or not os.path.isfile(job):
            raise SubmitError(f"{path}: job file {entry!r} not found (looked for {job})")
        jobs.append((read_job(job)[0], os.path.normpath(job)))
    stem = lambda p: os.path.splitext(os.path.basename(p))[0]  # noqa: E731
    names = [n for n, _ in jobs]
    for o in only:
        if not any(o in (n, stem(j), os.path.basename(j)) for n, j in jobs):
            raise SubmitError(f"--only {o!r}: no such job in suite {path} (jobs: {', '.join(names)})")
    return [(n, j) for n, j in jobs if not only or any(o in (n, stem(j), os.path.basename(j)) for o in only)]


def check_before_writing(a, job, suite_member):
    """The mistakes submit_sweep would find in its options for this job, before anything is written."""
    name, rpr = read_job(job)
    job_name = (f"{a.job_name}-{name}" if a.job_name else f"elm-{name}") if suite_member else \
        (a.job_name or f"elm-{name}")
    check_job_name("--job-name" if a.job_name else f"{job}: sweep.name gives job name", job_name)
    resources(a, rpr, a.cpus_per_task or 1)
    check_backend(job, a.set, a.gpus_per_node)
    return job_name, rpr


def main(argv=None) -> int:
    a = parse_args(argv)
    positive("--nodes", a.nodes)
    positive("--gpus-per-node", a.gpus_per_node, allow_zero=True)
    positive("--ntasks-per-node", a.ntasks_per_node)
    positive("--cpus-per-task", a.cpus_per_task)
    positive("--throttle", a.throttle)
    positive("--runs-per-task", a.runs_per_task)
    positive("--max-requeues", a.max_requeues, allow_zero=True)
    positive("--signal-lead", a.signal_lead, allow_zero=True)
    check_time(a.time)
    check_signal_lead(a.signal_lead, a.time)
    if a.throttle and a.mode != "array":
        raise SubmitError("--throttle applies to --mode array only")
    if a.runs_per_task and a.mode != "array":
        raise SubmitError("--runs-per-task applies to --mode array only (an MPI job trains all its runs)")
    if a.ntasks_per_node and a.mode != "mpi":
        raise SubmitError("--ntasks-per-node applies to --mode mpi only (an array task has ranks_per_run ranks)")
    for s in a.set:
        if not re.fullmatch(r"[A-Za-z0-9_]+\.[A-Za-z0-9_.]+=.*", s):
            raise SubmitError(f"--set {s!r} is not section.key=value")

    job = os.path.abspath(a.job)
    elmrun = find_elmrun(a.elmrun)
    if not is_suite(job):
        if a.only:
            raise SubmitError(f"--only selects jobs of a suite, and {a.job} is a sweep job ([sweep]), not a suite")
        if not a.out:
            raise SubmitError("--out DIR (the sweep directory) is required for a sweep job")
        return submit_sweep(a, job, os.path.abspath(a.out), elmrun, None, None)
    out = os.path.abspath(a.out or os.path.join("runs", suite_name(job)))
    no_space("--out", out)
    jobs = suite_jobs(job, a.only)
    for name, job_file in jobs:
        check_before_writing(a, job_file, name)
    # One elmrun call checks every selected job's runs (one line per problem)
    # and writes all their manifests before anything is queued.
    list_runs(elmrun, job, out, [y for o in a.only for y in ("--only", o)] + elmrun_args(a))
    limits = array_limits(a)
    if limits:
        check_suite_arrays_fit(a, out, jobs, limits)
    for k, (name, job_file) in enumerate(jobs):
        print(f"{chr(10) if k else ''}submit.py: suite {suite_name(job)}: sweep {name} ({k + 1}/{len(jobs)})")
        submit_sweep(a, job_file, os.path.join(out, name), elmrun, name, limits)
    return 0


def array_limits(a):
    """The cluster's limits, read once per submit.py call, for array mode only (an MPI job is one job)."""
    if a.mode != "array":
        return None
    limits = read_cluster_limits(a.account)
    print(f"submit.py: limits: {limits.describe()}")
    return limits


def submit_sweep(a, job, out, elmrun, suite_member, limits):
    """Submits one sweep; suite_member is its sweep name in a suite (manifest already written), else None;
    limits: the cluster's as a suite read them, else None (array mode reads them once the manifest is written)."""
    workdir = os.getcwd()
    job_name, rpr = check_before_writing(a, job, suite_member)
    slurm_dir = os.path.join(out, "slurm")
    log_dir = os.path.join(slurm_dir, "logs")
    for label, path in (("--out", out), ("the working directory", workdir)):
        no_space(label, path)

    rows = read_manifest(out) if suite_member else write_manifest(elmrun, job, out, elmrun_args(a))
    packs = read_packs(out, rows)
    limits = limits or array_limits(a)
    threads = max_train_threads(job, a.set)
    if a.cpus_per_task is not None and a.cpus_per_task < threads:
        raise SubmitError(f"--cpus-per-task {a.cpus_per_task} is fewer than the runs' train.threads = {threads}: "
                          f"ask for {threads} cores per rank (or leave --cpus-per-task out), or lower train.threads")
    cpus = a.cpus_per_task or threads
    res_lines, ranks = resources(a, rpr, cpus)
    indices = [i for i, _ in rows]
    if a.only_missing:
        indices = missing_indices(out, rows)
        if not indices:
            print(f"submit.py: all {len(rows)} runs of {out} are done; nothing to submit")
            return 0
    # Array tasks take a pack each (one run per pack unless the sweep packs),
    # or several where the cluster's limits allow fewer tasks than packs.
    task_packs = packs_holding(packs, indices)
    tasks = None
    if a.mode == "array":
        per_task, tasks, per_task_why = plan_array(task_packs, a.runs_per_task, limits, summary_jobs(a))
    os.makedirs(log_dir, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    task_map = os.path.join(slurm_dir, f"array-{stamp}.tasks") if tasks else ""
    if task_map:
        # Named like its script: a resubmission writes a new map, never the one a running array reads.
        write_task_map(task_map, tasks)

    values = {
        "JOB_NAME": job_name,
        "WORKDIR": workdir,
        "LOG_DIR": log_dir,
        "SIGNAL_LEAD": str(a.signal_lead),
        "RESOURCES": res_lines,
        "ELMRUN": shlex.quote(elmrun),
        "JOB_FILE": shlex.quote(job),
        "OUT_DIR": shlex.quote(out),
        "SETS": " ".join(shlex.quote(x) for x in elmrun_args(a)),
        "MAX_REQUEUES": str(a.max_requeues),
        "STEP_LIB": read_step_lib(),
    }
    if a.mode == "array":
        values["ARRAY"] = array_expression(range(len(tasks)) if tasks else task_packs) + \
            (f"%{a.throttle}" if a.throttle else "")
        values["TASK_MAP"] = shlex.quote(task_map)
    else:
        values["RUN_INDICES"] = " ".join(str(i) for i in indices) if a.only_missing else ""
    script_text = fill(os.path.join(HERE, TEMPLATES[a.mode]), values)
    script = os.path.join(slurm_dir, f"{a.mode}-{stamp}.sbatch")
    with open(script + ".tmp", "w") as f:
        f.write(script_text)
    os.chmod(script + ".tmp", 0o755)
    os.replace(script + ".tmp", script)

    is_packed = any(len(p) > 1 for p in packs)
    packed = f" in {len(task_packs)} pack(s)" if is_packed else ""
    in_tasks = f", {len(tasks)} array task(s)" if tasks else ""
    what = (f"{len(indices)} of {len(rows)} run(s){packed}{in_tasks}"
            + (f" (--array={values['ARRAY']})" if a.mode == "array" else "")
            + f", {ranks} rank(s) per {'task' if a.mode == 'array' else 'job'} x {cpus} core(s)")
    cmd = ["sbatch", "--parsable", script]
    collect_cmd = None
    if a.mode == "array" and not a.no_collect_job:
        collect = " ".join(shlex.quote(x) for x in [elmrun, "sweep", job, "--out", out, "--collect"] + elmrun_args(a))
        collect_cmd = ["sbatch", "--parsable", DEPENDENCY, "--kill-on-invalid-dep=no",
                       f"--job-name={job_name}-collect", f"--chdir={workdir}", "--ntasks=1",
                       f"--output={log_dir}/%x_%j.out"]
        for opt, value in (("time", "00:10:00"), ("partition", a.partition), ("account", a.account)):
            if value:
                collect_cmd.append(f"--{opt}={value}")
        collect_cmd += ["--wrap", collect]

    if a.mode == "array":
        unit = "pack(s)" if is_packed else "run(s)"
        why = per_task_why if is_packed or task_map else "array index = manifest row"
        print(f"submit.py: {per_task} {unit} per array task, {why}" + (f"; task map {task_map}" if task_map else ""))
    print(f"submit.py: {what}; script {script}")
    # Lines that can be pasted into a shell as they are: the summary job waits
    # for the array through the id the first sbatch prints.
    submit_line = " ".join(shlex.quote(x) for x in cmd)
    if collect_cmd:
        print(f"jid=$({submit_line})")
        print(" ".join('--dependency=afterany:"$jid"' if x == DEPENDENCY else shlex.quote(x) for x in collect_cmd))
    else:
        print(submit_line)
    if a.dry_run:
        return 0
    job_id = sbatch(cmd)
    print(f"submitted job {job_id}")
    if collect_cmd:
        collect_id = sbatch([f"--dependency=afterany:{job_id}" if x == DEPENDENCY else x for x in collect_cmd])
        print(f"submitted summary job {collect_id} (after job {job_id})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SubmitError as e:
        for line in str(e).splitlines():
            print(f"submit.py: {line}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
