"""Finds the code blocks of a markdown file and the doc-test markers next to them.

A block is a fenced block (```lang) or an indented one (4 spaces after a blank
line, as README.md and docs/ write commands). A marker is an HTML comment
`<!-- doc-test KIND ARGS -->` on the lines just above a block (several may
stack); it stays invisible in the rendered page. Kinds:

  skip=gpu|data|cluster|self: WHY   not run; the test prints it with WHY
  synopsis                          a usage line with placeholders: each
                                    --option must be in the command's --help
  text                              not shell although it starts like a command
  figure key=K value=V quote=Q [file=F] [full] [speed]
                                    the printed K (median over the block's
                                    output; K=@wall_seconds: the block's time)
                                    must be within 2x of V, and Q must occur
                                    in this file (or F), so the prose figure
                                    and V change together; `full`: checked
                                    only at full size; `speed`: not checked
                                    while other work keeps the cores busy
  same-as FILE                      the block, without comments, is FILE
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

SKIP_REASONS = ("gpu", "data", "cluster", "self")

# First words that make an indented block a shell block. Anything else (INI,
# C++, directory trees, output samples) is text and not run; so is a line that
# reads like a program's message ("elmrun train: error: ...").
_COMMAND_RE = re.compile(
    r"^(?:[A-Z_]+=\S*\s+)*(?:build[^/\s]*/elmrun|elmrun|mpirun|bash|/usr/bin/python3|python3|"
    r"slurm/submit\.py|scripts/\S+\.sh|cmake|ctest|module|git|sbatch|scancel|export|source|srun|echo)\b"
    r"(?!:|\s+[\w.-]+:(?:\s|$))")
_MARKER_RE = re.compile(r"^\s*<!--\s*doc-test\s+(.*?)\s*-->\s*$")
_FENCE_RE = re.compile(r"^\s*```\s*([\w+-]*)\s*$")
_SHELL_LANGS = ("sh", "bash", "shell", "console")


class DocFormatError(Exception):
    """A marker or block the test cannot make sense of (file:line in the text)."""


@dataclass
class Figure:
    key: str
    value: float
    quote: str
    file: str | None
    full_only: bool
    speed: bool


@dataclass
class Block:
    path: Path
    line: int                      # 1-based line of the block's first line
    text: str
    is_shell: bool
    skip: tuple[str, str] | None = None      # (category, why)
    synopsis: bool = False
    marked_text: bool = False
    same_as: str | None = None
    figures: list[Figure] = field(default_factory=list)

    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    def commands(self) -> list[str]:
        """The block's command lines, continuation lines joined, comments and blanks dropped."""
        out, pending = [], ""
        for raw in self.text.splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            line = strip_comment(line)
            if line:
                out.append(line)
        return out


def strip_comment(line: str) -> str:
    """Drops a trailing `# ...` comment that is outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _parse_figure(args: str, where: str) -> Figure:
    try:
        words = shlex.split(args)
    except ValueError as e:
        raise DocFormatError(f"{where}: figure marker: {e}") from e
    kv = dict(w.split("=", 1) for w in words if "=" in w)
    flags = [w for w in words if "=" not in w]
    for need in ("key", "value", "quote"):
        if need not in kv:
            raise DocFormatError(f"{where}: figure marker needs {need}=")
    if set(flags) - {"full", "speed"}:
        raise DocFormatError(f"{where}: figure marker: unknown word(s) {sorted(set(flags) - {'full', 'speed'})}")
    try:
        value = float(kv["value"])
    except ValueError as e:
        raise DocFormatError(f"{where}: figure value {kv['value']!r} is not a number") from e
    return Figure(kv["key"], value, kv["quote"], kv.get("file"), "full" in flags, "speed" in flags)


def _apply_marker(block: Block, body: str, where: str) -> None:
    kind, _, args = body.partition(" ")
    if kind.startswith("skip="):
        category, _, why = body[len("skip="):].partition(":")
        category, why = category.strip(), why.strip()
        if category not in SKIP_REASONS or not why:
            raise DocFormatError(f"{where}: skip marker must be skip=<{'|'.join(SKIP_REASONS)}>: WHY, got {body!r}")
        block.skip = (category, why)
    elif kind == "synopsis":
        block.synopsis = True
    elif kind == "text":
        block.is_shell = False
        block.marked_text = True
    elif kind == "figure":
        block.figures.append(_parse_figure(args, where))
    elif kind == "same-as":
        block.same_as = args.strip()
    else:
        raise DocFormatError(f"{where}: unknown doc-test marker {kind!r}")


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    markers: list[tuple[int, str]] = []   # pending markers above the next block
    i = 0
    prev_blank = True
    while i < len(lines):
        line = lines[i]
        m = _MARKER_RE.match(line)
        if m:
            markers.append((i + 1, m.group(1)))
            i += 1
            continue
        fence = _FENCE_RE.match(line)
        if fence:
            j = i + 1
            while j < len(lines) and not _FENCE_RE.match(lines[j]):
                j += 1
            text = "\n".join(lines[i + 1:j])
            blocks.append(Block(path, i + 2, text, fence.group(1) in _SHELL_LANGS))
            i = j + 1
        elif prev_blank and line.startswith("    ") and line.strip():
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            while not lines[j - 1].strip():
                j -= 1
            text = "\n".join(l[4:] for l in lines[i:j])
            first = text.lstrip().splitlines()[0]
            blocks.append(Block(path, i + 1, text, bool(_COMMAND_RE.match(first))))
            i = j
        else:
            if line.strip():
                # A marker belongs to the block right below it (blank lines between are fine).
                if markers:
                    where = f"{path.name}:{markers[0][0]}"
                    raise DocFormatError(f"{where}: doc-test marker is not followed by a code block")
            prev_blank = not line.strip()
            i += 1
            continue
        block = blocks[-1]
        for at, body in markers:
            _apply_marker(block, body, f"{path.name}:{at}")
        markers = []
        prev_blank = False
        _check_mixed(block)
    if markers:
        raise DocFormatError(f"{path.name}:{markers[0][0]}: doc-test marker is not followed by a code block")
    return blocks


def _check_mixed(block: Block) -> None:
    """A text block with command lines inside would hide them from the test."""
    if block.is_shell or block.same_as or block.marked_text:
        return
    for n, line in enumerate(block.text.splitlines()):
        if n > 0 and _COMMAND_RE.match(line.strip()):
            raise DocFormatError(
                f"{block.path.name}:{block.line + n}: command line inside a text block "
                f"(split the block, or mark it <!-- doc-test text -->)")

