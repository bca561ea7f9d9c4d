"""neuronio_pickle_stream.py runs no code from a pickle: hostile pickles (os.system,
subprocess, eval/exec, __import__ + getattr, a gadget inside numpy; alone, nested in
containers and in valid NeuronIO dicts; protocols 0-5) are refused with one line
naming the file and the global, and nothing runs. Legitimate pickles convert to the
same stream as with plain pickle.load. (The same through elmrun: tests/e2e/hostile_pickle.sh.)
"""

import os
import pickle
import subprocess
import sys
import time

import pytest

import neuronio_pickle_stream as conv
import pickle_cases
from conftest import ANALYSIS_DIR

PYTHON = "/usr/bin/python3"
CONVERTER = os.path.join(ANALYSIS_DIR, "neuronio_pickle_stream.py")
BENCH_GENERATOR = os.path.join(os.path.dirname(ANALYSIS_DIR), "scripts", "make_neuronio_bench_pickle.py")


def write_cases(directory, markers, names=None):
    """{case: (path, globals)} of the hostile pickles, written under directory."""
    os.makedirs(markers, exist_ok=True)
    out = {}
    for name, (data, globals_) in pickle_cases.hostile_cases(str(markers), names).items():
        path = os.path.join(directory, name + ".p")
        with open(path, "wb") as f:
            f.write(data)
        out[name] = (path, globals_)
    return out


def check_refusal(line, path, globals_):
    """One line 'neuronio_pickle_stream: PATH: forbidden global G (...)' with G one of globals_."""
    prefix = f"neuronio_pickle_stream: {path}: forbidden global "
    assert line.startswith(prefix) and line.endswith("\n") and line.count("\n") == 1, repr(line)
    named = line[len(prefix):].split(" ", 1)[0]
    assert named in globals_, f"{path}: names {named}, expected one of {sorted(globals_)}"


def test_payloads_are_live(tmp_path):
    """Control: plain pickle.load of these files does run their commands."""
    names = {f"{p}-alone-p{proto}" for p in pickle_cases.PAYLOADS for proto in (0, 5)}
    names |= {"system-object_array-p2", "import_chain-spikes-p4", "os_system_text_global", "numpy_dotted_name",
              "py2_builtin_eval"}
    cases = write_cases(str(tmp_path), tmp_path / "markers", names)
    assert set(cases) == names
    script = ("import pickle, sys\nfor p in sys.argv[1:]:\n    try:\n        pickle.load(open(p, 'rb'))\n"
              "    except Exception:\n        pass\n")
    subprocess.run([PYTHON, "-c", script] + [p for p, _ in cases.values()], check=True, timeout=60,
                   capture_output=True)
    deadline = time.time() + 5  # Popen's child may still be starting
    while set(os.listdir(tmp_path / "markers")) != names and time.time() < deadline:
        time.sleep(0.05)
    assert set(os.listdir(tmp_path / "markers")) == names


def test_every_hostile_pickle_is_refused_in_process(tmp_path, capsys):
    """All payloads x contexts x protocols 0-5 through the converter's main(): exit 1, one line
    naming the file and the global, no output file, no marker."""
    markers = tmp_path / "markers"
    cases = write_cases(str(tmp_path), markers)
    assert len(cases) == len(pickle_cases.PAYLOADS) * len(pickle_cases.CONTEXTS) * 6 + 3
    capsys.readouterr()
    for name, (path, globals_) in cases.items():
        out = str(tmp_path / (name + ".stream"))
        assert conv.main(["neuronio_pickle_stream.py", out, path]) == 1, name
        captured = capsys.readouterr()
        assert captured.out == ""
        check_refusal(captured.err, path, globals_)
        assert not os.path.exists(out) and not os.path.exists(out + ".tmp"), name
        assert not os.listdir(markers), f"{name}: {os.listdir(markers)}"
    time.sleep(0.3)  # a command started in the background would have touched its marker by now
    assert not os.listdir(markers)


def test_hostile_pickles_are_refused_by_the_command_line(tmp_path):
    """As elmrun runs it (OUT "-", one process per pickle): exit 1, nothing on stdout, one line."""
    names = {"system-alone-p0", "popen-dict-p1", "check_call-list-p2", "eval-params-p3", "exec-spikes-p4",
             "import_chain-object_array-p5", "numpy_runstring-after_data-p2", "numpy_dotted_name",
             "os_system_text_global", "py2_builtin_eval"}
    markers = tmp_path / "markers"
    cases = write_cases(str(tmp_path), markers, names)
    for name, (path, globals_) in cases.items():
        r = subprocess.run([PYTHON, CONVERTER, "-", path], capture_output=True, timeout=60)
        assert r.returncode == 1, name
        assert r.stdout == b"", name
        check_refusal(r.stderr.decode(), path, globals_)
    time.sleep(0.3)
    assert not os.listdir(markers)


@pytest.mark.parametrize("module,name", [
    ("numpy", "load"), ("numpy", "ndarray.__reduce__"), ("numpy.core.multiarray", "_reconstruct.__globals__"),
    ("numpy.testing._private.utils", "runstring"), ("builtins", "getattr"), ("__builtin__", "__import__"),
    ("builtins", "object"), ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"),
    ("collections", "defaultdict"), ("_codecs", "decode"), ("numpy.core.multiarray", "Multi\narray"),
])
def test_allow_list_is_exact(module, name):
    with pytest.raises(conv.ForbiddenGlobal) as e:
        conv.RestrictedUnpickler(__import__("io").BytesIO(b"")).find_class(module, name)
    assert "\n" not in str(e.value)


def test_codecs_encode_only_latin1(tmp_path):
    """_codecs.encode is allowed only as pickle writes bytes: encode(text, 'latin1')."""
    data = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x04\x00\x00\x00zlib\x86R."
    path = tmp_path / "codec.p"
    path.write_bytes(data)
    with pytest.raises(pickle.UnpicklingError, match="only 'latin1'"):
        conv.load_pickle(str(path))
    path.write_bytes(data.replace(b"X\x04\x00\x00\x00zlib", b"X\x06\x00\x00\x00latin1"))
    assert conv.load_pickle(str(path)) == b"abc"


def plain_load(path):
    """The converter's loader before the allow-list: plain pickle.load."""
    with open(path, "rb") as f:
        try:
            return pickle.load(f, encoding="ASCII")
        except UnicodeDecodeError:
            f.seek(0)
            return pickle.load(f, encoding="latin1")


def stream_of(path, loader, monkeypatch):
    """The converter's stream for one pickle, without its path header."""
    import io

    with monkeypatch.context() as m:
        m.setattr(conv, "load_pickle", loader)
        out = io.BytesIO()
        conv.write_pickle(path, out)
    data = out.getvalue()
    length = int.from_bytes(data[8:16], "little")
    assert data[16:16 + length] == os.fsencode(path)
    return data[:8] + data[16 + length:]


def test_legitimate_pickles_convert_identically(tmp_path, monkeypatch):
    paths = {}
    for name, data in pickle_cases.legitimate_pickles().items():
        paths[name] = str(tmp_path / (name + ".p"))
        with open(paths[name], "wb") as f:
            f.write(data)
    restricted = {name: stream_of(p, conv.load_pickle, monkeypatch) for name, p in paths.items()}
    for name, p in paths.items():
        if name.endswith("_np2"):  # numpy 2's module names: as the same pickle with numpy 1's
            assert restricted[name] == restricted[name[:-4]], name
        else:
            assert restricted[name] == stream_of(p, plain_load, monkeypatch), name
    assert len(restricted) == 12


def test_bench_generator_pickle_converts_identically(tmp_path, monkeypatch):
    path = str(tmp_path / "sim__bench.p")
    subprocess.run([PYTHON, BENCH_GENERATOR, path, "2"], check=True, capture_output=True, timeout=60)
    assert stream_of(path, conv.load_pickle, monkeypatch) == stream_of(path, plain_load, monkeypatch)
