"""convert_torch_checkpoint.py runs no code from a .pt file: hostile pickles in torch's zip
archive, a raw pickle that makes torch 1.13's weights-only loader raise TypeError (which an
earlier version answered with an unrestricted torch.load), a TorchScript archive, a legacy
file and an archive with two data.pkl differing in case are refused with one line naming
the file; a valid state dict still converts. Plus a scan of analysis/, slurm/ and scripts/
for loaders that run code (pickle.load, torch.load without weights_only, eval, exec,
shell=True, yaml.load, os.system)."""

import collections
import json
import os
import pickle
import re
import subprocess
import time
import zipfile

import pytest

import pickle_cases
from conftest import ANALYSIS_DIR

PYTHON = "/usr/bin/python3"
CONVERTER = os.path.join(ANALYSIS_DIR, "convert_torch_checkpoint.py")
SOURCE_DIR = os.path.dirname(ANALYSIS_DIR)
CONFIG = {"num_input": 4, "num_output": 1, "num_memory": 2}


def typeerror_pickle(marker):
    """OrderedDict() with BUILD state (None, {'a': 1}): plain pickle sets the attribute and goes on to
    os.system; torch 1.13's weights-only unpickler raises TypeError at the BUILD."""
    cmd = f"touch '{marker}'".encode()
    return (b"\x80\x02ccollections\nOrderedDict\n)R" + b"N}X\x01\x00\x00\x00aK\x01s\x86b0"
            + b"cposix\nsystem\nX" + len(cmd).to_bytes(4, "little") + cmd + b"\x85R.")


def torch_zip(path, data_pkl, extra=()):
    """A zip laid out as torch.save writes it, with the given data.pkl."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        for name, data in extra:
            z.writestr(name, data)
        z.writestr("archive/version", "3\n")


@pytest.fixture(scope="module")
def torch_mod():
    return pytest.importorskip("torch")


def valid_state_dict(torch):
    import convert_torch_checkpoint as conv

    shapes, _ = conv.expected_float_shapes(CONFIG, "v1")
    g = torch.Generator().manual_seed(0)
    return collections.OrderedDict((name, torch.rand(shape, generator=g) + 0.5) for name, shape in shapes.items())


def test_hostile_checkpoints_are_refused(tmp_path, torch_mod):
    torch = torch_mod
    markers = tmp_path / "markers"
    markers.mkdir()
    (tmp_path / "model_config.json").write_text(json.dumps(CONFIG))
    m = lambda name: str(markers / name)  # noqa: E731
    files = {}  # name -> expected text in the refusal

    def add(name, expect):
        files[name] = expect
        return str(tmp_path / name)

    with open(add("raw_typeerror.pt", "not the zip archive torch.save writes"), "wb") as f:
        f.write(typeerror_pickle(m("raw_typeerror.pt")))
    torch_zip(add("zip_typeerror.pt", "archive/data.pkl: UnpicklingError: OrderedDict state is tuple"),
              typeerror_pickle(m("zip_typeerror.pt")))
    torch_zip(add("zip_system.pt", "forbidden global posix.system in archive/data.pkl"),
              pickle.dumps(pickle_cases.System(m("zip_system.pt")), protocol=2))
    torch_zip(add("zip_nested_eval.pt", "forbidden global __builtin__.eval in archive/data.pkl"),
              pickle.dumps(collections.OrderedDict(w=1, x=[pickle_cases.Eval(m("zip_nested_eval.pt"))]), protocol=2))
    torch_zip(add("zip_popen_p4.pt", "forbidden global subprocess.Popen in archive/data.pkl"),
              pickle.dumps({"w": pickle_cases.Popen(m("zip_popen_p4.pt"))}, protocol=4))
    torch_zip(add("zip_case_twin.pt", "entries whose names differ only in case"), b"\x80\x02}q\x00.",
              extra=[("archive/DATA.pkl", pickle.dumps(pickle_cases.System(m("zip_case_twin.pt")), protocol=2))])
    torch.jit.script(torch.nn.Linear(2, 2)).save(add("torchscript.pt", "a TorchScript archive"))
    torch.save(valid_state_dict(torch), add("legacy.pt", "not the zip archive torch.save writes"),
               _use_new_zipfile_serialization=False)
    torch.save(valid_state_dict(torch), str(tmp_path / "valid.pt"))

    args = []
    for name in list(files) + ["valid.pt"]:
        args += [str(tmp_path / name), str(tmp_path / (name + ".h5"))]
    r = subprocess.run([PYTHON, CONVERTER, "--batch"] + args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == len(files), r.stderr
    for name, expect in files.items():
        path = str(tmp_path / name)
        line = [l for l in lines if l.startswith(f"convert_torch_checkpoint: {path}: ")]
        assert len(line) == 1 and expect in line[0], (name, r.stderr)
        assert not os.path.exists(path + ".h5")
    assert os.path.isfile(str(tmp_path / "valid.pt.h5")), r.stderr
    # Only the valid file says what it wrote.
    wrote = r.stdout.splitlines()
    assert len(wrote) == 1 and wrote[0].startswith(f"convert_torch_checkpoint: wrote {tmp_path / 'valid.pt.h5'}: "), \
        r.stdout
    assert [n for n in os.listdir(tmp_path) if ".tmp" in n] == []
    time.sleep(0.3)  # a command started in the background would have touched its marker by now
    assert os.listdir(markers) == []


def test_hostile_data_pkl_is_live(tmp_path):
    """Control: plain pickle.load of the data.pkl payloads does run their commands."""
    markers = tmp_path / "markers"
    markers.mkdir()
    payloads = [typeerror_pickle(str(markers / "a")), pickle.dumps(pickle_cases.System(str(markers / "b")), protocol=2),
                pickle.dumps(collections.OrderedDict(x=[pickle_cases.Eval(str(markers / "c"))]), protocol=2)]
    for k, data in enumerate(payloads):
        (tmp_path / f"{k}.pkl").write_bytes(data)
    script = ("import pickle, sys\nfor p in sys.argv[1:]:\n    try:\n        pickle.load(open(p, 'rb'))\n"
              "    except Exception:\n        pass\n")
    subprocess.run([PYTHON, "-c", script] + [str(tmp_path / f"{k}.pkl") for k in range(3)], check=True, timeout=60,
                   capture_output=True)
    assert sorted(os.listdir(markers)) == ["a", "b", "c"]


# Calls that run code from data, or through a shell. Allowed only where the line says why
# ("# safe:" comment) or in tests.
RISKY = re.compile(r"\bpickle\.loads?\(|\bpickle\.Unpickler\(|torch\.load\((?![^)]*weights_only=True)|"
                   r"(?<![\w.])eval\(|(?<![\w.])exec\(|shell=True|yaml\.load\(|yaml\.unsafe_load|os\.system\(|"
                   r"os\.popen\(|np\.load\([^)]*allow_pickle=True|marshal\.loads?\(|shelve\.open\(")


def test_no_loader_runs_code_from_files():
    found = []
    for folder in ("analysis", "slurm", "scripts"):
        for root, dirs, names in os.walk(os.path.join(SOURCE_DIR, folder)):
            dirs[:] = [d for d in dirs if d not in ("tests", "__pycache__")]
            for name in names:
                path = os.path.join(root, name)
                if not name.endswith((".py", ".sh", ".sbatch")):
                    continue
                with open(path, errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        if RISKY.search(line) and "# safe:" not in line:
                            found.append(f"{os.path.relpath(path, SOURCE_DIR)}:{number}: {line.strip()}")
    assert found == []
