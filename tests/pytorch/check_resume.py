#!/usr/bin/env python3
"""Continues basin's training checkpoints in PyTorch: the optimizer state's layout and formulas.

usage: check_resume.py FOLDER

FOLDER holds, from export_resume, for each optimizer KIND in (sgd, adam):
  KIND.h5        a basin training checkpoint (model at the root, optimizer state in the group
                 "optimizer": attributes kind, steps, settings and one per setting; per parameter
                 optimizer/<slot>/<name>) plus check/input, check/labels, check/lr: one more step
  KIND_after.h5  basin's model and optimizer state after that step
PyTorch builds the net, loads the model and the optimizer state into torch.optim.SGD
(momentum_buffer) or torch.optim.Adam (exp_avg, exp_avg_sq, step), takes the step (train mode,
mean cross-entropy) and must arrive at basin's parameters, running statistics and optimizer state
to 1e-9 relative (float64). As a control, the same step from a fresh optimizer state must land
elsewhere (more than 1e-6 away), so a state that failed to load cannot pass.

exit status: 0 agree; 1 a mismatch; 2 a file is missing or malformed; 77 torch, h5py or numpy
cannot be imported (CTest SKIP_RETURN_CODE).
"""

import math
import os
import sys

from check_common import EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK, h5py, np, torch
import torch.nn.functional as F
from basin_torch import _attr_str, load_basin_checkpoint

RTOL = 1e-9


def rel_diff(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes {a.shape} and {b.shape} differ")
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def read_state(path):
    """(model tensors at the root, optimizer attributes, {slot: {name: array}}) of a basin file."""
    with h5py.File(path, "r") as f:
        if "optimizer" not in f:
            raise ValueError(f"{path}: no group 'optimizer'")
        g = f["optimizer"]
        attrs = {k: (_attr_str(v) if k in ("kind", "settings", "slots", "format") else v) for k, v in g.attrs.items()}
        for a in ("kind", "steps", "settings", "slots"):
            if a not in attrs:
                raise ValueError(f"{path}: optimizer has no attribute {a!r}")
        slots = {}
        for slot in attrs["slots"].split(","):
            if slot not in g:
                raise ValueError(f"{path}: no group optimizer/{slot}")
            slots[slot] = {name: np.array(d[()]) for name, d in g[slot].items()}
        root = {name: np.array(d[()]) for name, d in f.items() if isinstance(d, h5py.Dataset)}
        check = None
        if "check" in f:
            c = f["check"]
            check = (np.array(c["input"][()]), np.array(c["labels"][()]).astype(np.int64), float(c["lr"][()]))
    return root, attrs, slots, check


def make_optimizer(model, attrs, slots, fresh):
    params = dict(model.named_parameters())
    kind = attrs["kind"]
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=float(attrs["momentum"]),
                              weight_decay=float(attrs["weight_decay"]), nesterov=bool(attrs["nesterov"]))
        if not fresh:
            for name, p in params.items():
                opt.state[p]["momentum_buffer"] = torch.from_numpy(slots["momentum_buffer"][name]).clone()
    elif kind == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=0.0, betas=(float(attrs["beta1"]), float(attrs["beta2"])),
                               eps=float(attrs["eps"]), weight_decay=float(attrs["weight_decay"]))
        if not fresh:
            for name, p in params.items():
                opt.state[p] = {"step": torch.tensor(float(attrs["steps"]), dtype=torch.float64),
                                "exp_avg": torch.from_numpy(slots["exp_avg"][name]).clone(),
                                "exp_avg_sq": torch.from_numpy(slots["exp_avg_sq"][name]).clone()}
    else:
        raise ValueError(f"optimizer kind {kind!r} is not sgd or adam")
    return opt


def step(path, fresh):
    root, attrs, slots, check = read_state(path)
    if check is None:
        raise ValueError(f"{path}: no group 'check'")
    model, _ = load_basin_checkpoint(path, dtype=torch.float64)
    opt = make_optimizer(model, attrs, slots, fresh)
    for group in opt.param_groups:
        group["lr"] = check[2]
    model.train()
    x, y, _ = check
    loss = F.cross_entropy(model(torch.from_numpy(x).to(torch.float64)), torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return model, opt


def worse(worst, r):
    """The larger of an accumulated error and a new one, NaN for good once either is NaN.

    max(0.0, nan) is 0.0 and `if r > worst` skips a NaN: either would let a NaN tensor pass.
    A NaN worst fails the final `worst <= RTOL`."""
    return math.nan if math.isnan(worst) or math.isnan(r) else max(worst, r)


def check_kind(folder, kind):
    before, after = os.path.join(folder, kind + ".h5"), os.path.join(folder, kind + "_after.h5")
    try:
        model, opt = step(before, fresh=False)
        control, _ = step(before, fresh=True)
        want, attrs, slots, _ = read_state(after)
    except Exception as e:
        print(f"ERROR: {kind}: {type(e).__name__}: {e}")
        return None
    ok = True
    state = model.state_dict()
    worst, worst_name = 0.0, ""
    for name, value in want.items():
        if name not in state:
            print(f"  FAIL {kind}: basin's tensor {name} is not in the PyTorch model")
            ok = False
            continue
        r = rel_diff(value, state[name].numpy())
        if not math.isnan(worst) and not (r <= worst):  # a larger r or the first NaN
            worst_name = name
        worst = worse(worst, r)
    params = dict(model.named_parameters())
    slot_worst = 0.0
    for slot, tensors in slots.items():
        for name, value in tensors.items():
            r = rel_diff(value, opt.state[params[name]][slot].numpy())
            slot_worst = worse(slot_worst, r)
    if attrs["kind"] == "adam":
        counts = {float(opt.state[p]["step"]) for p in params.values()}
        if counts != {float(attrs["steps"])}:
            print(f"  FAIL {kind}: PyTorch's step counts {sorted(counts)}, basin's {attrs['steps']}")
            ok = False
    control_gap = max(rel_diff(want[n], t.detach().numpy()) for n, t in control.named_parameters())
    good = worst <= RTOL and slot_worst <= RTOL
    print(f"  {'ok  ' if good else 'FAIL'} {kind} ({attrs['steps']} steps after): model worst rel {worst:.2e}"
          f" ({worst_name}), optimizer state worst rel {slot_worst:.2e} (limit {RTOL:.0e})")
    control_ok = control_gap > 1e-6
    print(f"  {'ok  ' if control_ok else 'FAIL'} {kind} control: from a fresh optimizer state the step lands "
          f"{control_gap:.2e} (relative) away from basin's")
    return ok and good and control_ok


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return EXIT_BAD_INPUT if len(argv) != 2 else EXIT_OK
    torch.manual_seed(0)
    print(f"check_resume: {argv[1]} (PyTorch {torch.__version__}, float64)")
    results = [check_kind(argv[1], kind) for kind in ("sgd", "adam")]
    if any(r is None for r in results):
        return EXIT_BAD_INPUT
    return EXIT_OK if all(results) else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main(sys.argv))
