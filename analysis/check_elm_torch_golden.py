#!/usr/bin/python3
"""Check the PyTorch port (elm_torch.ElmTorch) against the golden vectors.

For every model case in the golden directory (a *.h5 file with the attributes
variant, config_json and loss_kind; optim_*/metrics_* files have no `variant`
and are skipped) this builds the model from params/, runs forward on `input`,
the case's loss (projection: sum(Y*G); last_step_ce; neuronio) and backward,
then compares:
  output, loss (and neuronio_eval_output when present): |a-b| <= max(1e-4*|b|, 1e-5)
  grads/<name>: max|a-b| <= 1e-3 * max|b| of that tensor (1e-5 floor for an all-zero tensor),
and the set of trainable parameters against the set of stored grads; for
neuronio_routing also the routing the port builds from the config against the stored one.

Golden directory: argv[1], else $ELM_GOLDEN_DIR, else $ELM_SHARED_DIR/golden,
else <repo>/../shared/golden. Prints one line per case; exits 1 on any mismatch
(or when no model case is found), 0 otherwise. Registered as the ctest
golden.torch_port. Needs Debian's /usr/bin/python3 (torch, h5py, numpy).
"""
import glob
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elm_torch import ElmTorch, last_step_ce_loss, neuronio_loss, projection_loss  # noqa: E402

REL, ABS_FLOOR, GRAD_REL = 1e-4, 1e-5, 1e-3


def golden_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    if os.environ.get("ELM_GOLDEN_DIR"):
        return os.environ["ELM_GOLDEN_DIR"]
    if os.environ.get("ELM_SHARED_DIR"):
        return os.path.join(os.environ["ELM_SHARED_DIR"], "golden")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(os.path.dirname(repo), "shared", "golden")


def compare_values(name, got, want):
    """Elementwise: |got-want| <= max(REL*|want|, ABS_FLOOR). Returns (ok, max_abs_err, message)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False, float("inf"), f"{name}: shape {got.shape} != golden {want.shape}"
    err = np.abs(got - want)
    tol = np.maximum(REL * np.abs(want), ABS_FLOOR)
    bad = err > tol
    if not np.all(np.isfinite(got)) or bad.any():
        i = np.unravel_index(int(np.argmax(np.where(bad, err / tol, -1.0) if bad.any() else ~np.isfinite(got))), got.shape)
        return False, float(err.max()), (f"{name}: {int(bad.sum())} of {got.size} entries out of tolerance; worst at "
                                         f"{tuple(int(k) for k in i)}: got {got[i]:.8g}, golden {want[i]:.8g}")
    return True, float(err.max()) if err.size else 0.0, ""


def compare_grad(name, got, want):
    """max|got-want| <= GRAD_REL * max|want| (floor ABS_FLOOR). Returns (ok, rel_err, message)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False, float("inf"), f"grads/{name}: shape {got.shape} != golden {want.shape}"
    scale = float(np.abs(want).max()) if want.size else 0.0
    err = float(np.abs(got - want).max()) if want.size else 0.0
    tol = max(GRAD_REL * scale, ABS_FLOOR)
    rel = err / scale if scale > 0 else err
    if not np.all(np.isfinite(got)) or err > tol:
        return False, rel, f"grads/{name}: max |diff| {err:.3g} > {tol:.3g} (1e-3 of max |golden| {scale:.3g})"
    return True, rel, ""


def check_case(path):
    """Returns (ok, summary line, list of failure messages)."""
    model = ElmTorch.from_hdf5(path)
    with h5py.File(path, "r") as f:
        loss_kind = f.attrs["loss_kind"]
        loss_kind = loss_kind.decode() if isinstance(loss_kind, bytes) else str(loss_kind)
        X = torch.from_numpy(np.asarray(f["input"][()], np.float32))
        want_y = np.asarray(f["output"][()])
        want_loss = np.asarray(f["loss"][()])
        want_eval = np.asarray(f["neuronio_eval_output"][()]) if "neuronio_eval_output" in f else None
        targets = {k: np.asarray(v[()]) for k, v in f["targets"].items()} if "targets" in f else {}
        grads = {k: np.asarray(v[()]) for k, v in f["grads"].items()} if "grads" in f else {}

    Y = model(X)
    if loss_kind == "projection":
        loss = projection_loss(Y, torch.from_numpy(targets["G"].astype(np.float32)))
    elif loss_kind == "last_step_ce":
        loss = last_step_ce_loss(Y, torch.from_numpy(targets["labels"].astype(np.int64)))
    elif loss_kind == "neuronio":
        loss = neuronio_loss(Y, torch.from_numpy(targets["target_spike"].astype(np.float32)),
                             torch.from_numpy(targets["target_soma"].astype(np.float32)))
    else:
        return False, f"unknown loss_kind {loss_kind!r}", [f"unknown loss_kind {loss_kind!r}"]
    loss.backward()

    fails = []
    if model.input_to_synapse_routing == "neuronio_routing":
        # the stored routing was loaded; the port must also construct the same one from the config
        fresh = ElmTorch.from_config(model.config())
        for b in ("input_to_synapse_indices", "valid_indices_mask"):
            if not torch.equal(getattr(fresh, b), getattr(model, b)):
                fails.append(f"params/{b}: neuronio_routing built from the config differs from the stored one")
    ok, y_err, msg = compare_values("output", Y.detach().numpy(), want_y)
    if not ok:
        fails.append(msg)
    ok, l_err, msg = compare_values("loss", loss.detach().numpy(), want_loss)
    if not ok:
        fails.append(msg)
    if want_eval is not None:
        with torch.no_grad():
            ok, _, msg = compare_values("neuronio_eval_output", model.neuronio_eval_forward(X).numpy(), want_eval)
        if not ok:
            fails.append(msg)

    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(trained) != set(grads):
        fails.append(f"trainable parameters {sorted(set(trained) - set(grads))} have no golden grads, "
                     f"golden grads {sorted(set(grads) - set(trained))} have no trainable parameter")
    g_worst, g_name = -1.0, "-"
    for name in sorted(set(trained) & set(grads)):
        g = trained[name].grad
        got = g.numpy() if g is not None else np.zeros_like(grads[name])
        ok, rel, msg = compare_grad(name, got, grads[name])
        if not ok:
            fails.append(msg)
        if rel > g_worst:
            g_worst, g_name = rel, name
    g_worst = max(g_worst, 0.0)
    line = (f"variant={model.variant} loss={loss_kind} output_max_abs_err={y_err:.3g} "
            f"loss_abs_err={l_err:.3g} grad_max_rel_err={g_worst:.3g} ({g_name}) grads={len(grads)}")
    return not fails, line, fails


def main():
    d = golden_dir()
    files = sorted(glob.glob(os.path.join(d, "*.h5")))
    if not files:
        print(f"check_elm_torch_golden: no *.h5 files in {d} (set ELM_GOLDEN_DIR or pass the directory)",
              file=sys.stderr)
        return 1
    torch.manual_seed(0)
    n_cases, n_fail = 0, 0
    for path in files:
        name = os.path.basename(path)
        with h5py.File(path, "r") as f:
            is_model = all(k in f.attrs for k in ("variant", "config_json", "loss_kind"))
        if not is_model:
            continue
        n_cases += 1
        try:
            ok, line, fails = check_case(path)
        except Exception as e:  # a broken file or port must fail the check, with the reason
            ok, line, fails = False, "error", [f"{type(e).__name__}: {e}"]
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {line}")
        for m in fails:
            print(f"     {name}: {m}")
        n_fail += not ok
        sys.stdout.flush()
    if n_cases == 0:
        print(f"check_elm_torch_golden: no model cases (files with attrs variant, config_json, loss_kind) in {d}",
              file=sys.stderr)
        return 1
    print(f"check_elm_torch_golden: {n_cases - n_fail}/{n_cases} cases match ({d})")
    if n_fail:
        print(f"check_elm_torch_golden: {n_fail} case(s) do not match the golden vectors", file=sys.stderr)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
