#!/usr/bin/env python3
"""Checks the layering of src/: every #include "<layer>/..." of a file under
src/<layer>/ must name its own layer or one it may depend on.

Dependencies point down:

    cli -> sweep, bench -> train -> data, backend -> model -> io -> core
                            train -> dist -> core

    layer    may include
    core     (nothing)
    io       core
    model    io, core
    backend  model, io, core
    data     model, io, core; from backend only backend/input_batch.hpp
             (the compact batch type that tasks produce and models consume)
    dist     core; from backend only the CUDA helpers backend/cuda/cuda_check.cuh
             and backend/cuda/device_guard.cuh (the device all-reduce needs the
             CUDA error check and the device guard, nothing of the model)
    train    data, backend, dist, model, io, core
    sweep    train, data, backend, dist, model, io, core
    bench    train, data, backend, dist, model, io, core
    cli      everything

"build_config.hpp" is generated from src/core/build_config.hpp.in: core.
Includes with <...> are not checked (system and third-party headers).

Usage: check_includes.py [SRC_DIR]   (default: src/ beside tests/)
       check_includes.py --self-test (the check fails on a bad include)
Exit 0 when clean; 1 with one "file:line: ..." line per violation.
"""
import pathlib
import re
import sys
import tempfile

BELOW_TRAIN = {"data", "backend", "dist", "model", "io", "core"}

# layer -> layers it may include whole
ALLOWED = {
    "core": set(),
    "io": {"core"},
    "model": {"io", "core"},
    "backend": {"model", "io", "core"},
    "data": {"model", "io", "core"},
    "dist": {"core"},
    "train": BELOW_TRAIN,
    "sweep": {"train"} | BELOW_TRAIN,
    "bench": {"train"} | BELOW_TRAIN,
    "cli": {"sweep", "bench", "train"} | BELOW_TRAIN,
}

# layer -> single headers of another layer it may include (see the docstring)
ALLOWED_HEADERS = {
    "data": {"backend/input_batch.hpp"},
    "dist": {"backend/cuda/cuda_check.cuh", "backend/cuda/device_guard.cuh"},
}

GENERATED = {"build_config.hpp": "core"}

SOURCE_SUFFIXES = {".hpp", ".cpp", ".cu", ".cuh", ".inc", ".in", ".h"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def violations(src: pathlib.Path):
    found = []
    for path in sorted(src.rglob("*")):
        if not path.is_file() or path.suffix not in SOURCE_SUFFIXES:
            continue
        rel = path.relative_to(src)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        where = f"src/{rel}"
        if layer not in ALLOWED:
            found.append(f"{where}: not under a known layer ({', '.join(sorted(ALLOWED))})")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            header = m.group(1)
            target = GENERATED.get(header, header.split("/")[0] if "/" in header else None)
            if target is None or target not in ALLOWED:
                found.append(f"{where}:{number}: #include \"{header}\" names no layer (write \"<layer>/...\")")
            elif target != layer and target not in ALLOWED[layer] \
                    and header not in ALLOWED_HEADERS.get(layer, set()):
                may = ", ".join(sorted(ALLOWED[layer] | ALLOWED_HEADERS.get(layer, set()))) or "nothing"
                found.append(f"{where}:{number}: {layer} includes \"{header}\" of layer {target}; "
                             f"{layer} may include: {may}")
    return found


def self_test() -> int:
    """The check must pass a clean tree and name every bad include of a bad one."""
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "src"
        files = {
            "core/a.hpp": "",
            "model/m.hpp": '#include "core/a.hpp"\n#include "io/h.hpp"\n',
            "data/task.hpp": '#include "backend/input_batch.hpp"\n#include "model/m.hpp"\n',
            "train/t.cpp": '#include "data/task.hpp"\n#include "build_config.hpp"\n',
            "cli/main.cpp": '#include "sweep/s.hpp"\n#include <vector>\n',
        }
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        clean = violations(src)
        if clean:
            print("self-test: a clean tree was reported:", *clean, sep="\n  ")
            return 1
        bad = {
            "data/bad.cpp": '#include "core/a.hpp"\n#include "train/run_config.hpp"\n',
            "data/bad2.hpp": '#include "backend/cpu/elm_cpu.hpp"\n',
            "core/bad.hpp": '  #  include "io/h.hpp"\n',
            "backend/cuda/k.cuh": '#include "train/optimizer.hpp"\n',
            "model/odd.hpp": '#include "nolayer.hpp"\n',
        }
        for name, text in bad.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        got = violations(src)
        want = ["src/backend/cuda/k.cuh:1:", "src/core/bad.hpp:1:", "src/data/bad.cpp:2:",
                "src/data/bad2.hpp:1:", "src/model/odd.hpp:1:"]
        if [g.split(" ")[0] for g in got] != want:
            print("self-test: expected violations at", want, "got:", *got, sep="\n  ")
            return 1
    print("self-test: ok (a clean tree passes; 5 bad includes are each named)")
    return 0


def main(argv) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    src = pathlib.Path(argv[1]) if len(argv) > 1 else pathlib.Path(__file__).resolve().parents[2] / "src"
    if not src.is_dir():
        print(f"{src}: no such directory")
        return 1
    found = violations(src)
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} include(s) break the layering (see tests/layering/check_includes.py)")
        return 1
    print(f"layering ok: {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
