#!/usr/bin/env python3
"""Checks a loss surface computed by basin against PyTorch, point by point.

usage: check_surface.py DIR

DIR holds what basin's surface program wrote:
  DIR/model.h5       the basin checkpoint the surface goes through (see basin_torch.py)
  DIR/directions.h5  groups xdirection and (for a plane) ydirection, datasets "0", "1", ... in
                     the order of PyTorch's parameters() (root attribute dir_type "weights") or
                     state_dict() (dir_type "states": batch-norm running statistics move too,
                     num_batches_tracked does not), PyTorch's shapes: the reference tool's layout
                     (net_plotter.write_list). Without dir_type, the tensor count decides.
  DIR/surface.h5     xcoordinates (nx), ycoordinates (ny; absent for a line), test_loss and
                     test_acc (ny, nx) float64 with value[j, i] at (x[i], y[j]) (the reference
                     tool's order, numpy.meshgrid(x, y)'s; (nx, ny) with value[i, j] there when
                     the format attribute is "basin-surface-1", basin's layout before 2026-12;
                     (nx) for a line) and -1 where not computed, computed uint8 of the same shape;
                     a file without test_acc is refused (exit 2), not checked on its loss alone
  DIR/data.h5        input (n, c, h, w) float32 or float64, labels (n,) int32: the data the
                     surface was evaluated on
At every computed point the parameters (states mode: the float state_dict entries) are set to
w + x[i] dx + y[j] dy, the net runs in eval mode (running statistics) on all n samples, and the
mean loss (cross-entropy; for "mse" the reference tool's evaluation.py: MSELoss(softmax(logits),
one-hot labels), the mean over samples and classes) and the accuracy (100 correct / n) are
compared with basin's: the loss to
|a - b| <= 1e-4 max(|b|, 1e-3) (a = basin, b = PyTorch); the accuracy exactly, except that one
sample of difference is accepted (and reported) when a sample whose label is among its top two
logits has a top-2 margin below 1e-4 of its largest |logit| (a tie that rounding may break
either way). The net runs in float64 when the input is float64, else in float32.

exit status: 0 all computed points agree; 1 a mismatch; 2 a file is missing, unreadable or
malformed (directions that do not fit the net included); 77 torch, h5py or numpy cannot be
imported (CTest SKIP_RETURN_CODE).
"""

import os
import sys

from check_common import EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK, h5py, np, torch
import torch.nn.functional as F
from basin_torch import _attr_str, load_basin_checkpoint

LOSS_RTOL = 1e-4
LOSS_FLOOR = 1e-3
TIE_RTOL = 1e-4
BATCH = 1000


def read_directions(path, group_names, targets):
    """Reads each group of group_names from the directions file as a list of float64 tensors.

    targets: (weights_targets, states_targets), each a list of (name, tensor) in PyTorch order.
    Returns (dir_type, targets used, {group: [tensor, ...]}, file attributes). Raises ValueError
    with a clear message when the file does not fit the net.
    """
    weights, states = targets
    with h5py.File(path, "r") as f:
        attrs = {k: _attr_str(v) for k, v in f.attrs.items()}
        out = {}
        dir_type = attrs.get("dir_type", "").strip().lower()
        if dir_type not in ("", "weights", "states"):
            raise ValueError(f"{path}: dir_type is {dir_type!r}, expected 'weights' or 'states'")
        for g in group_names:
            if g not in f or not isinstance(f[g], h5py.Group):
                raise ValueError(f"{path}: no group '{g}'")
            names = list(f[g].keys())
            count = len(names)
            if not dir_type:  # as basin's load_direction: the tensor count decides
                dir_type = "states" if count == len(states) and count != len(weights) else "weights"
            want = weights if dir_type == "weights" else states
            what = "parameters" if dir_type == "weights" else "state_dict entries"
            if count != len(want):
                raise ValueError(f"{path}: group '{g}' has {count} tensors, but the net has {len(want)} {what} "
                                 f"(dir_type {dir_type}; {len(weights)} parameters, {len(states)} state_dict entries)")
            tensors = []
            for k, (name, t) in enumerate(want):
                key = str(k)
                if key not in f[g] or not isinstance(f[g][key], h5py.Dataset):
                    raise ValueError(f"{path}: no dataset '{g}/{key}' (for {name}); the datasets are named "
                                     f"0 .. {len(want) - 1}")
                a = np.array(f[g][key][()])
                if tuple(a.shape) != tuple(t.shape):
                    raise ValueError(f"{path}: '{g}/{key}' has shape {tuple(a.shape)}, but {name} "
                                     f"(tensor {k} of the net's {what}) has shape {tuple(t.shape)}")
                tensors.append(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)))
            out[g] = tensors
    return dir_type, (weights if dir_type == "weights" else states), out, attrs


def evaluate(model, x, labels, dtype, loss_name="crossentropy"):
    """Mean loss (accumulated in float64), correct count, and the count of near ties:
    samples whose label is among the top two logits, with a top-2 margin below TIE_RTOL of the
    largest |logit|."""
    n = x.shape[0]
    loss_sum, correct, ties = 0.0, 0, 0
    with torch.no_grad():
        for s in range(0, n, BATCH):
            xb = x[s:s + BATCH].to(dtype)
            yb = labels[s:s + BATCH]
            logits = model(xb)
            if loss_name == "mse":  # per sample: the mean over the classes
                onehot = F.one_hot(yb, logits.shape[1]).to(logits.dtype)
                sq = F.mse_loss(F.softmax(logits, dim=1), onehot, reduction="sum")
                loss_sum += float(sq.double()) / logits.shape[1]
            else:
                loss_sum += float(F.cross_entropy(logits, yb, reduction="sum").double())
            correct += int((logits.argmax(1) == yb).sum())
            if logits.shape[1] >= 2:
                top, idx = logits.double().topk(2, dim=1)
                scale = logits.double().abs().amax(1).clamp_min(LOSS_FLOOR)
                near = (top[:, 0] - top[:, 1]) < TIE_RTOL * scale
                involved = (idx == yb.unsqueeze(1)).any(1)
                ties += int((near & involved).sum())
    return loss_sum / n, correct, ties


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return EXIT_BAD_INPUT if len(argv) != 2 else EXIT_OK
    d = argv[1]

    # Reading, building and matching shapes: any failure here is malformed input, not a mismatch.
    try:
        paths = {k: os.path.join(d, f"{k}.h5") for k in ("model", "directions", "surface", "data")}
        for k, p in paths.items():
            if not os.path.isfile(p):
                raise ValueError(f"missing {p}")
        with h5py.File(paths["data"], "r") as f:
            for k in ("input", "labels"):
                if k not in f:
                    raise ValueError(f"{paths['data']}: no dataset '{k}'")
            x = np.array(f["input"][()])
            labels = np.array(f["labels"][()]).astype(np.int64).reshape(-1)
        if x.ndim != 4 or x.shape[0] == 0:
            raise ValueError(f"{paths['data']}: input has shape {x.shape}, expected (n, c, h, w) with n > 0")
        if labels.shape[0] != x.shape[0]:
            raise ValueError(f"{paths['data']}: {labels.shape[0]} labels for {x.shape[0]} inputs")
        dtype = torch.float64 if x.dtype == np.float64 else torch.float32
        model, arch = load_basin_checkpoint(paths["model"], dtype=dtype)
        classes = model.linear.out_features
        if labels.min() < 0 or labels.max() >= classes:
            raise ValueError(f"{paths['data']}: labels outside 0 .. {classes - 1}")

        with h5py.File(paths["surface"], "r") as f:
            for k in ("xcoordinates", "test_loss"):
                if k not in f:
                    raise ValueError(f"{paths['surface']}: no dataset '{k}'")
            xs = np.array(f["xcoordinates"][()], dtype=np.float64).reshape(-1)
            plane = "ycoordinates" in f
            ys = np.array(f["ycoordinates"][()], dtype=np.float64).reshape(-1) if plane else np.zeros(1)
            shape = (xs.size, ys.size)
            surf_loss = np.array(f["test_loss"][()], dtype=np.float64)
            if "test_acc" not in f:  # loss_accuracy writes both; a sweep that lost one is not a pass on the other
                raise ValueError(f"{paths['surface']}: no test_acc, expected test_loss and test_acc")
            surf_acc = np.array(f["test_acc"][()], dtype=np.float64)
            computed = np.array(f["computed"][()]) if "computed" in f else None
            loss_name = _attr_str(f.attrs["loss_name"]).strip() if "loss_name" in f.attrs else "crossentropy"
            old_layout = "format" in f.attrs and _attr_str(f.attrs["format"]).strip() == "basin-surface-1"
        if loss_name not in ("crossentropy", "mse"):
            raise ValueError(f"{paths['surface']}: loss_name {loss_name!r}, expected 'crossentropy' or 'mse'")
        stored = (shape if old_layout else (ys.size, xs.size)) if plane else (xs.size,)
        for name, a in (("test_loss", surf_loss), ("test_acc", surf_acc), ("computed", computed)):
            if a is not None and a.shape != stored:
                raise ValueError(f"{paths['surface']}: {name} has shape {a.shape}, expected {stored} from the "
                                 f"coordinates{' (basin-surface-1)' if old_layout else ''}")

        def by_xy(a):  # [i, j] at (x[i], y[j])
            return None if a is None else a.reshape(shape) if old_layout or not plane else a.T

        surf_loss, surf_acc, computed = by_xy(surf_loss), by_xy(surf_acc), by_xy(computed)
        # Without a mask, the reference tool's convention: -1 marks a point not yet computed.
        computed = computed != 0 if computed is not None else surf_loss != -1
        if not computed.any():
            raise ValueError(f"{paths['surface']}: no computed point to check")

        weights = list(model.named_parameters())
        states = list(model.state_dict().items())
        groups = ["xdirection", "ydirection"] if plane else ["xdirection"]
        dir_type, targets, dirs, dattrs = read_directions(paths["directions"], groups, (weights, states))
        if "architecture" in dattrs and dattrs["architecture"].strip() != arch:
            raise ValueError(f"{paths['directions']}: directions for {dattrs['architecture']!r}, "
                             f"but the checkpoint is {arch!r}")
    except Exception as e:
        print(f"ERROR: {d}: {type(e).__name__}: {e}")
        return EXIT_BAD_INPUT

    n = x.shape[0]
    print(f"check_surface: {d}")
    print(f"  architecture {arch}, data {tuple(x.shape)} {x.dtype}, dir_type {dir_type} "
          f"({len(targets)} tensors), loss {loss_name}, grid {shape[0]} x {shape[1] if plane else '-'}, "
          f"{int(computed.sum())} of {computed.size} points computed, PyTorch {torch.__version__} in "
          f"{str(dtype).replace('torch.', '')}")

    # The tensors that move, their origin (float64), and their directions; num_batches_tracked
    # (an integer, eval mode never reads it) stays.
    moving = [(t, t.detach().to(torch.float64).clone(), k) for k, (_, t) in enumerate(targets)
              if t.is_floating_point()]
    dx = dirs["xdirection"]
    dy = dirs["ydirection"] if plane else None
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = torch.from_numpy(labels)
    model.eval()

    ok = True
    n_bad, n_ties, worst = 0, 0, 0.0
    for i in range(shape[0]):
        for j in range(shape[1]):
            if not computed[i, j]:
                continue
            a, b = float(xs[i]), float(ys[j])
            with torch.no_grad():
                for t, w, k in moving:
                    p = w + a * dx[k]
                    if dy is not None:
                        p = p + b * dy[k]
                    t.copy_(p.to(t.dtype))
            loss, correct, ties = evaluate(model, xt, yt, dtype, loss_name)
            bl = float(surf_loss[i, j])
            notes = []
            if np.isfinite(bl) and np.isfinite(loss):
                rel = abs(bl - loss) / max(abs(loss), LOSS_FLOOR)
                good = rel <= LOSS_RTOL
            else:
                good = (np.isnan(bl) and np.isnan(loss)) or bl == loss
                rel = 0.0 if good else float("inf")
                notes.append("non-finite loss")
            worst = rel if (rel != rel or rel > worst) else worst  # (a NaN stays: max() would drop it)
            ba = float(surf_acc[i, j])
            ta = 100.0 * correct / n
            acc_txt = f"  acc basin {ba:.4f} torch {ta:.4f}"
            cb = ba * n / 100.0
            if not np.isfinite(cb) or abs(cb - round(cb)) > 0.01:
                good = False
                notes.append(f"basin's accuracy is not a whole number of the {n} samples")
            else:
                diff = int(round(cb)) - correct
                if diff != 0:
                    if abs(diff) == 1 and ties > 0:
                        n_ties += 1
                        notes.append(f"1 sample apart, explained by {ties} near-tie sample(s)")
                    else:
                        good = False
                        notes.append(f"{abs(diff)} sample(s) apart, {ties} near tie(s)")
            ok = ok and good
            n_bad += not good
            print(f"  {'ok  ' if good else 'FAIL'} ({i}, {j}) x {a:+.6g} y {b:+.6g}  loss basin {bl:.9g} "
                  f"torch {loss:.9g} rel {rel:.2e}{acc_txt}" + (f"  [{'; '.join(notes)}]" if notes else ""))
    checked = int(computed.sum())
    tail = f"worst loss rel err {worst:.2e} (limit {LOSS_RTOL:.0e})"
    if n_ties:
        tail += f", {n_ties} accuracy difference(s) of one sample explained by logit ties"
    if ok:
        print(f"PASS: all {checked} computed points agree; {tail}")
    else:
        print(f"FAIL: {n_bad} of {checked} computed points disagree; {tail}")
    return EXIT_OK if ok else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main(sys.argv))
