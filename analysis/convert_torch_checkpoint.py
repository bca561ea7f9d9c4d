#!/usr/bin/python3
"""Convert a PyTorch ELM state dict (the reference's .pt) into an elmrun checkpoint.

elmrun is C++ and cannot read pickled torch files, so released models (e.g.
shared/pretrained/torch/num_memory_15/) are converted once into the HDF5 layout
that read_checkpoint() accepts: string attributes `format`
("elmrun-checkpoint-1"), `variant` (v1/v2) and `config_json` (the reference's
constructor arguments), and one dataset per state-dict tensor under
`params/<name>` with the reference's shape (float32; routing buffers as int64).

Every tensor is checked against the shape the config implies and unknown keys
are rejected, so a mismatched config/state-dict pair fails here with one clear
line instead of later inside elmrun. +inf in `_proto_tau_m` is kept: the
reference produces it when tau_max - 1e-6 rounds to tau_max, and it means
tau_m == tau_max exactly. Output is written to a temporary name in the target
directory and renamed at the end, so a failure never leaves a file behind.

Usage:
  convert_torch_checkpoint.py MODEL_DIR_OR_PT OUT.h5 [--config model_config.json] [--variant v1|v2]
  convert_torch_checkpoint.py --batch SRC1 OUT1.h5 [SRC2 OUT2.h5 ...]

A MODEL_DIR holds neuronio_best_model_state.pt (or exactly one *.pt) and
model_config.json. For a .pt path without --config, model_config.json next to
it is used. --batch converts several pairs in one interpreter (torch start-up is
slow); each failure prints its own line and the exit status is 1 if any failed.
Needs only torch, h5py and numpy (Debian: /usr/bin/python3 with python3-torch).

Loading runs no code from the file. Only the zip archive that torch.save writes
(since torch 1.6) is accepted: legacy .tar/raw-pickle files and TorchScript
archives are refused. Before torch sees it, the archive's data.pkl is
unpickled once with stand-ins for every global, which must be in
STATE_DICT_GLOBALS (OrderedDict, tensor/parameter rebuilders, storage types);
then torch.load(weights_only=True) reads it (torch >= 1.13; there is no
fallback to an unrestricted load). Older torch versions are refused.
"""
import argparse
import inspect
import io
import json
import os
import pickle
import sys
import zipfile

PROG = "convert_torch_checkpoint"
FORMAT = "elmrun-checkpoint-1"

# The reference constructors' arguments (v1 has tau_s_value, v2 tau_b_value).
CONFIG_KEYS = {
    "num_input", "num_output", "num_memory", "lambda_value", "mlp_num_layers",
    "mlp_hidden_size", "mlp_activation", "tau_s_value", "tau_b_value",
    "memory_tau_min", "memory_tau_max", "learn_memory_tau", "w_s_value",
    "num_branch", "num_synapse_per_branch", "input_to_synapse_routing", "delta_t",
    "routing_seed",
}
INT_KEYS = {"num_input", "num_output", "num_memory", "mlp_num_layers", "mlp_hidden_size",
            "num_branch", "num_synapse_per_branch", "routing_seed"}
ROUTINGS = {None, "none", "neuronio_routing", "random_routing"}


class ConvertError(Exception):
    def __init__(self, file, reason):
        super().__init__(f"{file}: {reason}")
        self.file, self.reason = file, reason


def locate(src, config_arg):
    """(pt_path, config_path) for a model directory or a .pt file."""
    if os.path.isdir(src):
        pt = os.path.join(src, "neuronio_best_model_state.pt")
        if not os.path.isfile(pt):
            pts = sorted(f for f in os.listdir(src) if f.endswith(".pt"))
            if len(pts) != 1:
                raise ConvertError(src, f"expected neuronio_best_model_state.pt or exactly one .pt file, found {len(pts)}")
            pt = os.path.join(src, pts[0])
        cfg = config_arg or os.path.join(src, "model_config.json")
    else:
        if not os.path.isfile(src):
            raise ConvertError(src, "no such file or directory")
        pt = src
        cfg = config_arg or os.path.join(os.path.dirname(os.path.abspath(src)), "model_config.json")
    if not os.path.isfile(cfg):
        raise ConvertError(cfg, "model config not found (pass --config)")
    return pt, cfg


def load_config(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError(path, f"cannot read JSON config: {e}")
    if not isinstance(cfg, dict):
        raise ConvertError(path, "config is not a JSON object")
    cfg.pop("variant", None)  # given separately, as an attribute
    for k, v in cfg.items():
        if k not in CONFIG_KEYS:
            raise ConvertError(path, f"unknown config key '{k}'")
        if isinstance(v, (dict, list)):
            raise ConvertError(path, f"config key '{k}' is not a scalar")
        if k in INT_KEYS and v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ConvertError(path, f"config key '{k}' must be an integer, got {v!r}")
    if cfg.get("input_to_synapse_routing") not in ROUTINGS:
        raise ConvertError(path, f"config key 'input_to_synapse_routing': unknown value {cfg['input_to_synapse_routing']!r}")
    for k in ("num_input", "num_output"):
        if not isinstance(cfg.get(k), int) or cfg[k] <= 0:
            raise ConvertError(path, f"config key '{k}' missing or not a positive integer")
    return cfg


def get(cfg, key, default):
    v = cfg.get(key)
    return default if v is None else v


def expected_float_shapes(cfg, variant):
    """State-dict float tensors of the reference model, name -> shape."""
    n_in = cfg["num_input"]
    d_o = cfg["num_output"]
    d_m = get(cfg, "num_memory", 100)
    d_b = get(cfg, "num_branch", n_in)
    k = get(cfg, "num_synapse_per_branch", 1)
    H = get(cfg, "mlp_hidden_size", 2 * d_m)
    L = get(cfg, "mlp_num_layers", 1)
    d_s = d_b * k
    shapes = {"_proto_w_s": (d_s,), "_proto_tau_m": (d_m,)}
    shapes["tau_s" if variant == "v1" else "tau_b"] = (d_s,) if variant == "v1" else (d_b,)
    widths = [d_b + d_m] + [H] * L + [d_m]
    for i in range(L + 1):
        shapes[f"mlp.network.{2 * i}.weight"] = (widths[i + 1], widths[i])
        shapes[f"mlp.network.{2 * i}.bias"] = (widths[i + 1],)
    shapes["w_y.weight"] = (d_o, d_m)
    shapes["w_y.bias"] = (d_o,)
    return shapes, d_s


# Every global a state-dict pickle from torch.save may name (protocol 2, as torch writes it).
STATE_DICT_GLOBALS = {"collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
                      "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"} | {
    f"torch.{kind}Storage" for kind in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char",
                                        "Byte", "Bool", "ComplexFloat", "ComplexDouble")}


def printable(text, limit=80):
    text = str(text)
    out = "".join(c if c.isprintable() and c.isascii() else "?" for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


class _Leaf:
    """Stand-in for a tensor, parameter or storage: nothing can be stored into it."""
    __slots__ = ()

    def __setstate__(self, state):
        raise pickle.UnpicklingError("BUILD on a tensor (not what torch.save writes for a state dict)")


class _StubDict(dict):
    """Stand-in for collections.OrderedDict; its state (torch's _metadata) is checked and dropped."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"OrderedDict state is {type(state).__name__}, not a dict")


def _leaf_call(*args, **kwargs):
    return _Leaf()


class _ScanUnpickler(pickle.Unpickler):
    """Unpickles with stand-ins: an allowed global becomes _StubDict or a function returning
    a _Leaf, so nothing outside this file is called, whatever the pickle says."""

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full not in STATE_DICT_GLOBALS:
            raise ForbiddenGlobal(full)
        return _StubDict if full == "collections.OrderedDict" else _leaf_call

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"persistent id {printable(repr(pid))} is not a storage")
        return _Leaf()


class ForbiddenGlobal(pickle.UnpicklingError):
    def __init__(self, name):
        super().__init__(f"forbidden global {printable(name)}")


def check_torch_archive(pt):
    """Refuses anything but a torch.save zip archive whose data.pkl names only STATE_DICT_GLOBALS."""
    try:
        if not zipfile.is_zipfile(pt):
            raise ConvertError(pt, "not a readable torch file (not the zip archive torch.save writes since torch "
                                   "1.6; legacy .tar and raw-pickle files are refused as torch cannot load them "
                                   "safely: re-save with torch.save)")
        with zipfile.ZipFile(pt) as z:
            names = z.namelist()
            folded = [n.lower() for n in names]  # torch's zip reader matches names ignoring case
            if not names or len(set(folded)) != len(folded):
                raise ConvertError(pt, "not a readable torch file (empty archive, or entries whose names differ "
                                       "only in case)")
            prefix = names[0].split("/", 1)[0]
            if f"{prefix}/constants.pkl".lower() in folded:
                raise ConvertError(pt, "a TorchScript archive, not a state dict (refused: torch.load would run "
                                       "torch.jit.load on it)")
            if f"{prefix}/data.pkl" not in names:
                raise ConvertError(pt, f"not a readable torch file (no {prefix}/data.pkl in the archive)")
            data = z.read(f"{prefix}/data.pkl")
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, NotImplementedError) as e:
        raise ConvertError(pt, f"not a readable torch file ({type(e).__name__}: {printable(e, 200)})")
    try:
        _ScanUnpickler(io.BytesIO(data), encoding="utf-8").load()
    except ForbiddenGlobal as e:
        raise ConvertError(pt, f"{e} in {prefix}/data.pkl (a state dict holds only tensors in an OrderedDict; "
                               "refused before running anything)")
    except Exception as e:  # a damaged or hostile pickle: many exception types
        raise ConvertError(pt, f"not a readable torch file ({prefix}/data.pkl: {type(e).__name__}: "
                               f"{printable(e, 200)})")


def load_state_dict(pt):
    import torch
    if "weights_only" not in inspect.signature(torch.load).parameters:
        raise ConvertError(pt, f"torch {torch.__version__} cannot load without running pickled code "
                               "(torch.load has no weights_only; torch >= 1.13 needed)")
    check_torch_archive(pt)
    try:
        obj = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors alike
        raise ConvertError(pt, f"not a readable torch file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    if isinstance(obj, dict):
        for wrapper in ("model_state_dict", "state_dict"):
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not obj:
        raise ConvertError(pt, f"expected a state dict, got {type(obj).__name__}")
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise ConvertError(pt, f"entry {k!r} is not a tensor")
    return obj


def convert(src, out, config_arg=None, variant_arg=None):
    pt, cfg_path = locate(src, config_arg)
    cfg = load_config(cfg_path)
    try:  # imported late: torch alone takes a second or more to load
        import h5py
        import numpy as np
        import torch
    except ImportError as e:
        raise ConvertError(sys.executable, f"missing Python module ({e}); use /usr/bin/python3 with python3-torch")
    sd = load_state_dict(pt)

    if variant_arg:
        variant = variant_arg
    elif "tau_s" in sd and "tau_b" not in sd:
        variant = "v1"
    elif "tau_b" in sd and "tau_s" not in sd:
        variant = "v2"
    else:
        raise ConvertError(pt, "cannot tell the variant: expected exactly one of 'tau_s' (v1) or 'tau_b' (v2); pass --variant")

    shapes, d_s = expected_float_shapes(cfg, variant)
    routing = cfg.get("input_to_synapse_routing")
    routed = routing not in (None, "none")
    buffers = {"input_to_synapse_indices", "valid_indices_mask"}

    unknown = sorted(set(sd) - set(shapes) - buffers)
    if unknown:
        raise ConvertError(pt, f"unknown key '{unknown[0]}' for a {variant} model" +
                           (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    required = list(shapes) + (sorted(buffers) if routed else [])
    for name in required:
        if name not in sd:
            raise ConvertError(pt, f"missing key '{name}' (config {os.path.basename(cfg_path)} needs it for {variant})")

    arrays = {}
    for name, shape in shapes.items():
        t = sd[name]
        if tuple(t.shape) != shape:
            raise ConvertError(pt, f"'{name}' has shape {list(t.shape)} but the config needs {list(shape)}")
        if not t.is_floating_point():
            raise ConvertError(pt, f"'{name}' has dtype {t.dtype}, expected a float tensor")
        a = t.detach().to(torch.float32).contiguous().numpy()
        bad = np.isnan(a) if name == "_proto_tau_m" else ~np.isfinite(a)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise ConvertError(pt, f"'{name}'[{i}] is {a.ravel()[i]}")
        arrays[name] = a

    ints = {}
    if "input_to_synapse_indices" in sd or "valid_indices_mask" in sd:
        for name in sorted(buffers):
            if name not in sd:
                raise ConvertError(pt, f"missing key '{name}' (the other routing buffer is present)")
            t = sd[name]
            if tuple(t.shape) != (d_s,):
                raise ConvertError(pt, f"'{name}' has shape {list(t.shape)} but the config needs {[d_s]}")
            if t.is_floating_point() or t.is_complex():
                raise ConvertError(pt, f"'{name}' has dtype {t.dtype}, expected an integer or bool tensor")
            ints[name] = t.detach().to(torch.int64).contiguous().numpy()
        idx, mask = ints["input_to_synapse_indices"], ints["valid_indices_mask"]
        if idx.size and (idx.min() < 0 or idx.max() >= cfg["num_input"]):
            raise ConvertError(pt, f"'input_to_synapse_indices' has values outside [0, {cfg['num_input']})")
        if not np.isin(mask, (0, 1)).all():
            raise ConvertError(pt, "'valid_indices_mask' has values other than 0/1")

    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise ConvertError(out, "output directory does not exist")
    tmp = os.path.join(out_dir, f".{os.path.basename(out)}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["variant"] = variant
            f.attrs["config_json"] = json.dumps(cfg, sort_keys=True)
            f.attrs["source"] = os.path.abspath(pt)
            for name, a in arrays.items():
                f.create_dataset(f"params/{name}", data=a, dtype="<f4")
            for name, a in ints.items():
                f.create_dataset(f"params/{name}", data=a, dtype="<i8")
        os.replace(tmp, out)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(e, (OSError, ValueError, RuntimeError)):
            raise ConvertError(out, f"cannot write: {e}")
        raise
    n_values = sum(a.size for a in arrays.values())
    print(f"{PROG}: wrote {out}: {variant} model, num_memory={cfg.get('num_memory')}, "
          f"{len(arrays)} float tensors ({n_values} values), from {pt}")


def one_line(text):
    return " ".join(str(text).split())


def main(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="MODEL_DIR_OR_PT OUT.h5 (with --batch: any number of such pairs)")
    p.add_argument("--config", help="model_config.json (default: next to the .pt / in MODEL_DIR)")
    p.add_argument("--variant", choices=("v1", "v2"), help="override the variant detected from tau_s/tau_b")
    p.add_argument("--batch", action="store_true", help="convert several SRC OUT pairs")
    a = p.parse_args(argv)
    if len(a.paths) % 2 or (not a.batch and len(a.paths) != 2):
        p.error("expected MODEL_DIR_OR_PT OUT.h5" + (" pairs" if a.batch else ""))
    status = 0
    for src, out in zip(a.paths[0::2], a.paths[1::2]):
        try:
            convert(src, out, a.config, a.variant)
        except ConvertError as e:
            print(f"{PROG}: {e.file}: {one_line(e.reason)}", file=sys.stderr)
            status = 1
        except Exception as e:  # anything unforeseen still gets one line
            print(f"{PROG}: {src}: {one_line(type(e).__name__ + ': ' + str(e))}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
