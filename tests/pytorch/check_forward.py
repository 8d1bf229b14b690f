#!/usr/bin/env python3
"""Checks basin's forward pass against PyTorch on a checkpoint written by basin.

usage: check_forward.py FILE.h5

FILE holds a basin checkpoint at its root (see basin_torch.py) plus a group "check" with
  check/input    (n, c, h, w) float32 or float64: the batch basin ran
  check/labels   (n,) int32: its labels
  check/logits   (n, classes): basin's logits
  check/loss     scalar: basin's mean cross-entropy
  check/mode     attribute, "eval" or "train" (train: batch statistics in batch-norm, and the
                 running statistics update)
  check/running_after/<name>  optional, train mode: basin's running statistics after the step,
                 e.g. check/running_after/bn1.running_mean (also <bn>.num_batches_tracked)
The model runs in float64 when the input is float64, else in float32. Each tensor must agree to
rtol relative: max|a - b| / max|b| <= rtol and, elementwise, |a - b| <= rtol |b| + atol with
atol = rtol / 10 max|b| (a = basin, b = PyTorch); rtol = 1e-4 in float32 and 1e-10 in float64,
where both sides should agree to rounding (a float32 step in basin's double path would not).
In train mode check/running_after is required when the model has batch norms: the running
statistics' update is half of what a training forward does.

exit status: 0 all agree; 1 a mismatch; 2 the file cannot be read or is malformed;
77 torch, h5py or numpy cannot be imported (CTest SKIP_RETURN_CODE).
"""

import sys

from check_common import EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK, h5py, np, torch
import torch.nn.functional as F
from basin_torch import _attr_str, load_basin_checkpoint

RTOL = 1e-4  # float32; main() sets RTOL_F64 for float64 files
RTOL_F64 = 1e-10


def compare(name, basin, torch_ref, quiet=False):
    """Prints one line for tensor `name` (unless quiet and it agrees); returns (agrees, rel)."""
    a = np.asarray(basin, dtype=np.float64)
    b = np.asarray(torch_ref, dtype=np.float64)
    if a.shape != b.shape:
        # A scalar stored as shape (1,) is still a scalar.
        if a.size == b.size == 1:
            a, b = a.reshape(()), b.reshape(())
        else:
            print(f"  FAIL {name}: shape {a.shape} from basin, {b.shape} from PyTorch")
            return False, float("inf")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        ok = bool(np.array_equal(a, b, equal_nan=True))
        if not (ok and quiet):
            print(f"  {'ok  ' if ok else 'FAIL'} {name}: non-finite values "
                  f"(basin {np.sum(~np.isfinite(a))}, PyTorch {np.sum(~np.isfinite(b))})")
        return ok, (0.0 if ok else float("inf"))
    diff = np.abs(a - b)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(b).max()) if b.size else 0.0
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    atol = RTOL / 10 * scale
    bad = diff > RTOL * np.abs(b) + atol
    n_bad = int(bad.sum())
    ok = rel <= RTOL and n_bad == 0
    where = ""
    if n_bad:
        i = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), diff.shape)
        where = f"; {n_bad} of {diff.size} elements off, worst at {tuple(int(k) for k in i)}: " \
                f"basin {a[i]:.8g} vs PyTorch {b[i]:.8g}"
    if not (ok and quiet):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: max|diff| {max_abs:.3e}, max|torch| {scale:.3e}, "
              f"rel {rel:.3e} (limit {RTOL:.0e}){where}")
    return ok, rel


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return EXIT_BAD_INPUT if len(argv) != 2 else EXIT_OK
    path = argv[1]

    # Reading and building: any failure here is a malformed file, not a mismatch.
    try:
        with h5py.File(path, "r") as f:
            if "check" not in f or not isinstance(f["check"], h5py.Group):
                raise ValueError("no group 'check'")
            g = f["check"]
            for d in ("input", "labels", "logits", "loss"):
                if d not in g:
                    raise ValueError(f"no dataset check/{d}")
            x = np.array(g["input"][()])
            labels = np.array(g["labels"][()]).astype(np.int64).reshape(-1)
            basin_logits = np.array(g["logits"][()])
            basin_loss = np.array(g["loss"][()])
            mode = _attr_str(g.attrs["mode"]).strip().lower() if "mode" in g.attrs else "eval"
            running_after = {}
            if "running_after" in g:
                for name, obj in g["running_after"].items():
                    if isinstance(obj, h5py.Dataset):
                        running_after[name] = np.array(obj[()])
        if mode not in ("eval", "train"):
            raise ValueError(f"check/mode is {mode!r}, expected 'eval' or 'train'")
        if x.ndim != 4:
            raise ValueError(f"check/input has shape {x.shape}, expected (n, c, h, w)")
        if labels.shape[0] != x.shape[0]:
            raise ValueError(f"check/labels has {labels.shape[0]} entries for a batch of {x.shape[0]}")
        dtype = torch.float64 if x.dtype == np.float64 else torch.float32
        model, arch = load_basin_checkpoint(path, dtype=dtype)
        has_running = any(k.endswith("running_mean") for k in model.state_dict())
        if mode == "train" and has_running and not running_after:
            raise ValueError("train mode but no check/running_after: the running statistics would go unchecked")
    except Exception as e:
        print(f"ERROR: {path}: {type(e).__name__}: {e}")
        return EXIT_BAD_INPUT

    global RTOL
    if dtype == torch.float64:
        RTOL = RTOL_F64
    print(f"check_forward: {path}")
    print(f"  architecture {arch}, input {tuple(x.shape)} {x.dtype}, mode {mode}, "
          f"PyTorch {torch.__version__} in {str(dtype).replace('torch.', '')}")

    model.train(mode == "train")
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
    yt = torch.from_numpy(labels)
    with torch.no_grad():
        logits = model(xt)
        loss = F.cross_entropy(logits, yt)

    ok, _ = compare("logits", basin_logits, logits.numpy())
    ok = compare("loss", basin_loss, loss.numpy())[0] and ok
    if running_after:
        if mode != "train":
            print("  note: check/running_after given in eval mode; the running statistics must be unchanged")
        state = model.state_dict()
        n_ok, worst, worst_name = 0, 0.0, ""
        for name in sorted(running_after):
            if name not in state:
                print(f"  FAIL running_after/{name}: no such tensor in the model")
                ok = False
                continue
            good, rel = compare(f"running_after/{name}", running_after[name], state[name].numpy(), quiet=True)
            n_ok += good
            ok = good and ok
            if rel >= worst:
                worst, worst_name = rel, name
        print(f"  {'ok  ' if n_ok == len(running_after) else 'FAIL'} running statistics: {n_ok} of "
              f"{len(running_after)} tensors agree; worst rel {worst:.3e} ({worst_name})")
    print("PASS: basin agrees with PyTorch" if ok else "FAIL: basin and PyTorch disagree")
    return EXIT_OK if ok else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main(sys.argv))
