#!/usr/bin/env python3
"""Runs every shell block of the given markdown files (README.md, docs/*.md)
in a scratch copy of the source tree, in file order, and checks the figures
the docs tie to the output (markers: tests/e2e/doc_blocks.py).

Fails when a documented command fails, a figure is off by more than 2x, a
synopsis names an option its command does not know, or a `same-as` block no
longer matches its file. Prints every skipped block with its reason.

Environment: ELMRUN (the elmrun under test), ELM_SOURCE_DIR (default: this
checkout), ELM_SHARED_DIR (default: ../shared beside the source),
ELM_DOC_SIZE=small|full (small, the default, adds ELM_DOC_SMALL_SET to every
`elmrun train` and `elmrun sweep`, so that documented runs take seconds;
figures marked `full` are checked only at full size), ELM_DOC_KEEP=1 keeps the
scratch directory, ELM_DOC_BLOCK_TIMEOUT seconds per block (default 600),
ELM_DOC_CHECK_SPEED=1 checks the speed figures too (throughput, wall time:
they depend on the CPU, which differs up to 3x between the machines CI runs
on, and on its load, so the suite leaves them to a developer on a quiet
machine), ELM_DOC_BUSY_LIMIT (default 0.25) the share of busy CPU time above
which even then they are not checked.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_blocks import Block, DocFormatError, parse_blocks, strip_comment  # noqa: E402

# Small enough for seconds per run, large enough for several progress lines
# (the throughput figures are medians over them) and one evaluation.
DEFAULT_SMALL_SET = ("--set train.steps=40 --set train.eval_every=20 --set train.log_every=5 "
                     "--set train.valid_samples=64 --set train.test_samples=64")

# Speed figures are checked only when, just before their block, the cores were
# at most this busy with other work (this test itself is idle then);
# ELM_DOC_BUSY_LIMIT=1 checks them always.
BUSY_LIMIT = float(os.environ.get("ELM_DOC_BUSY_LIMIT", "0.25"))
CHECK_SPEED = os.environ.get("ELM_DOC_CHECK_SPEED", "") == "1"

_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"

_WRAPPER = """#!/usr/bin/env bash
# The doc test's elmrun: the build under test; ELM_DOC_SET shrinks training runs.
case "${1:-}" in
  train|sweep) exec "$ELMRUN" "$@" $ELM_DOC_SET ;;
  *) exec "$ELMRUN" "$@" ;;
esac
"""


class Failure(Exception):
    pass


def copy_source(src: Path, dst: Path) -> None:
    """Copies the files git would commit (tracked or new, not ignored): no build, data or runs."""
    listed = subprocess.run(["git", "-C", str(src), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout
    for rel in filter(None, listed.decode().split("\0")):
        source = src / rel
        if not source.is_file():
            continue   # deleted in the work tree
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def make_scratch(src: Path, shared: Path, elmrun: str) -> tuple[Path, Path]:
    root = Path(tempfile.mkdtemp(prefix="elm-doc-"))
    work = root / "src"
    copy_source(src, work)
    (root / "shared").symlink_to(shared)
    bin_dir = root / "bin"
    for wrapper in (work / "build" / "elmrun", bin_dir / "elmrun"):
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(_WRAPPER)
        wrapper.chmod(0o755)
    return root, work


def printed_values(output: str, key: str) -> list[float]:
    """Numbers printed as `KEY=N`, `KEY: N`, `KEY N` or `N KEY`."""
    k = re.escape(key)
    found = [float(m) for m in re.findall(rf"{k}[ \t]*[=:]?[ \t]*({_NUMBER})(?![\w.])", output)]
    found += [float(m) for m in re.findall(rf"(?<![\w.])({_NUMBER})[ \t]+{k}", output)]
    return found


def squeeze(text: str) -> str:
    return " ".join(text.split())


def busy_fraction(seconds: float = 1.0) -> float:
    """The share of all cores' time spent outside idle over `seconds`, from /proc/stat."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]   # idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def check_figures(block: Block, output: str, wall: float, full: bool, src: Path, busy: float) -> list[str]:
    notes = []
    for fig in block.figures:
        where = src / fig.file if fig.file else block.path
        # The markers themselves hold the quote: search the prose and blocks only.
        prose = re.sub(r"<!--\s*doc-test.*?-->", "", where.read_text(encoding="utf-8"))
        if squeeze(fig.quote) not in squeeze(prose):
            raise Failure(f"{block.where()}: figure {fig.key}: the text {fig.quote!r} is no longer in "
                          f"{fig.file or block.path.name}: update the marker with the prose")
        if fig.full_only and not full:
            notes.append(f"figure {fig.key} ~ {fig.value:g} ({fig.quote!r}): checked only at ELM_DOC_SIZE=full")
            continue
        if fig.speed and not CHECK_SPEED:
            notes.append(f"figure {fig.key} ~ {fig.value:g} ({fig.quote!r}): a speed, checked only with "
                         f"ELM_DOC_CHECK_SPEED=1")
            continue
        # A speed measured while other work held the cores says nothing about the figure.
        if fig.speed and busy > BUSY_LIMIT:
            notes.append(f"figure {fig.key} ~ {fig.value:g} ({fig.quote!r}): not checked, the cores were "
                         f"{busy:.0%} busy with other work before the block")
            continue
        values = [wall] if fig.key == "@wall_seconds" else printed_values(output, fig.key)
        if not values:
            raise Failure(f"{block.where()}: figure {fig.key}: the block printed no {fig.key!r}")
        got = statistics.median(values)
        ratio = got / fig.value if fig.value else float("inf")
        verdict = "ok" if 0.5 <= ratio <= 2.0 else "OFF BY MORE THAN 2x"
        notes.append(f"figure {fig.key}: printed {got:.3g} (median of {len(values)}), "
                     f"docs {fig.value:g} ({fig.quote!r}): {verdict}")
        if verdict != "ok":
            raise Failure(f"{block.where()}: " + notes[-1])
    return notes


def help_text(command: str, work: Path, env: dict) -> tuple[str, str]:
    """The --help output of a synopsis line's command (and what it was called)."""
    words = shlex.split(re.sub(r"\[[^\]]*\]", lambda m: m.group(0).replace(" ", "\0"), command))
    words = [w.replace("\0", " ") for w in words]
    while words and words[0] == "mpirun":           # mpirun -n K ... elmrun ...
        words = words[3:]
    if not words:
        raise Failure(f"cannot read the synopsis {command!r}")
    prog = words[0]
    if prog.endswith("elmrun"):
        argv = ["elmrun", words[1], "--help"]
    elif prog.endswith("python3"):
        argv = [prog, words[1], "--help"]
    elif prog.endswith(".py"):
        argv = [prog, "--help"]
    else:
        raise Failure(f"synopsis of an unknown command {prog!r}")
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr, " ".join(argv)


def check_synopsis(block: Block, work: Path, env: dict) -> None:
    for command in block.commands():
        text, called = help_text(command, work, env)
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", command))
        missing = sorted(o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text))
        if missing:
            raise Failure(f"{block.where()}: `{called}` knows no {', '.join(missing)} (synopsis: {command})")


def check_same_as(block: Block, src: Path) -> None:
    def semantic(text: str) -> list[str]:
        lines = []
        for line in text.splitlines():
            line = re.sub(r"\s*[;#].*$", "", line).strip()
            if line:
                lines.append(re.sub(r"\s*=\s*", " = ", line))
        return lines
    shown, real = semantic(block.text), semantic((src / block.same_as).read_text(encoding="utf-8"))
    if shown != real:
        n = next((i for i, (a, b) in enumerate(zip(shown, real)) if a != b), min(len(shown), len(real)))
        got = shown[n] if n < len(shown) else "(the block ends)"
        want = real[n] if n < len(real) else "(the file ends)"
        raise Failure(f"{block.where()}: the block no longer shows {block.same_as} (comments aside): "
                      f"its line {n + 1} of settings is {got!r}, the file's is {want!r}")


def run_shell(block: Block, work: Path, env: dict, timeout: float) -> tuple[str, float]:
    start = time.monotonic()
    try:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.text], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"{block.where()}: still running after {timeout:.0f} s: {block.commands()[0]}") from e
    wall = time.monotonic() - start
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-25:])
        raise Failure(f"{block.where()}: exit {done.returncode}:\n{block.text}\n--- last lines ---\n{tail}")
    return done.stdout, wall


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    src = Path(os.environ.get("ELM_SOURCE_DIR", here.parent.parent)).resolve()
    shared = Path(os.environ.get("ELM_SHARED_DIR", src.parent / "shared")).resolve()
    elmrun = os.environ.get("ELMRUN")
    if not elmrun or not os.access(elmrun, os.X_OK):
        print("doc test: set ELMRUN to the elmrun binary under test", file=sys.stderr)
        return 2
    size = os.environ.get("ELM_DOC_SIZE", "small")
    if size not in ("small", "full"):
        print(f"doc test: ELM_DOC_SIZE must be small or full, not {size!r}", file=sys.stderr)
        return 2
    full = size == "full"
    if not argv and not Path("/usr/share/datasets/fashion-mnist").is_dir():
        print("SKIP: the README's main job needs Debian's dataset-fashion-mnist (scripts/setup.sh)")
        return 77
    files = [Path(a) if Path(a).is_absolute() else src / a for a in argv] or \
        [src / "README.md"] + sorted((src / "docs").glob("*.md"))
    try:
        blocks = [b for f in files for b in parse_blocks(f)]
    except DocFormatError as e:
        print(f"FAIL: {e}")
        return 1

    root, work = make_scratch(src, shared, elmrun)
    env = dict(os.environ, PATH=f"{root / 'bin'}:{os.environ['PATH']}", ELMRUN=str(Path(elmrun).resolve()),
               ELM_DOC_SET="" if full else os.environ.get("ELM_DOC_SMALL_SET", DEFAULT_SMALL_SET),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", PYTHONDONTWRITEBYTECODE="1")
    timeout = float(os.environ.get("ELM_DOC_BLOCK_TIMEOUT", "600"))
    print(f"doc test: {len(blocks)} blocks in {len(files)} files, size {size}, scratch {work}")
    counts = {"ran": 0, "synopsis": 0, "same-as": 0, "skipped": 0, "text": 0}
    skipped = []
    failures = []
    try:
        for block in blocks:
            first = block.text.strip().splitlines()[0]
            try:
                if block.same_as:
                    check_same_as(block, src)
                    counts["same-as"] += 1
                    print(f"same    {block.where()}: {block.same_as}")
                elif not block.is_shell:
                    counts["text"] += 1
                elif block.skip:
                    counts["skipped"] += 1
                    skipped.append(f"SKIP    {block.where()} [{block.skip[0]}] {block.skip[1]}: {first}")
                    print(skipped[-1])
                elif block.synopsis:
                    check_synopsis(block, work, env)
                    counts["synopsis"] += 1
                    print(f"options {block.where()}: {len(block.commands())} synopsis lines match --help")
                else:
                    busy = busy_fraction() if any(f.speed for f in block.figures) else 0.0
                    output, wall = run_shell(block, work, env, timeout)
                    counts["ran"] += 1
                    print(f"ran     {block.where()} in {wall:.1f} s: {first}")
                    for note in check_figures(block, output, wall, full, src, busy):
                        print(f"        {note}")
            except Failure as e:
                failures.append(str(e))
                print(f"FAIL    {e}")
    finally:
        if os.environ.get("ELM_DOC_KEEP") == "1":
            print(f"doc test: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("doc test: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if skipped:
        print("skipped blocks:\n" + "\n".join(skipped))
    if failures:
        print(f"doc test: {len(failures)} block(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
