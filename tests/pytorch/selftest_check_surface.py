#!/usr/bin/env python3
"""Self-test of check_surface.py without basin: writes basin-style surface directories from PyTorch.

usage: selftest_check_surface.py [WORKDIR]

For a few small nets (resnet8 and plain8; float32 and float64; weights and states directions; a
plane with one point not computed, and a line) it writes model.h5, directions.h5, surface.h5 and
data.h5 as basin's surface program lays them out, the surface computed here by PyTorch in its own
way (load_state_dict of w + x dx + y dy into a copy of the net), and requires check_surface.py to
pass; then it perturbs one loss or one accuracy (must fail, exit 1), a value at a point marked not
computed (must still pass), or the directions or the files, or leaves out test_acc (must be
refused, exit 2); a plane in basin's old layout passes under its own format and is refused under
the new one. A net whose
classes 0 and 1 always tie checks that an accuracy one sample apart passes as a tie while two
samples apart fail. The clean case runs check_surface.py as a script, the others call its main()
in this process (one torch import). Exit status 0 when all behave, 1 otherwise, 77 when torch,
h5py or numpy cannot be imported.
"""

import contextlib
import copy
import io
import os
import subprocess
import sys

from check_common import h5py, np, selftest_folder, selftest_verdict, torch
import torch.nn.functional as F
from basin_torch import CifarResNet, randomize

HERE = os.path.dirname(os.path.abspath(__file__))


def make_direction(model, states, gen, tie=False):
    """[(name, float64 tensor or None for num_batches_tracked)] in parameters() or state_dict()
    order, each random tensor scaled to 0.2 of the norm of the tensor it moves."""
    items = list(model.state_dict().items()) if states else list(model.named_parameters())
    out = []
    for name, t in items:
        if not t.is_floating_point():
            out.append((name, None))
            continue
        d = torch.randn(t.shape, generator=gen, dtype=torch.float64)
        d *= 0.2 * t.detach().double().norm() / d.norm().clamp_min(1e-12)
        if tie and name.startswith("linear."):
            d[1] = d[0]  # classes 0 and 1 keep tying along the direction
        out.append((name, d))
    return out


def surface_point(model, dx, dy, a, b, x, labels):
    """Loss and accuracy at w + a dx + b dy, through load_state_dict on a copy of the net."""
    net = copy.deepcopy(model)
    sd = net.state_dict()
    for k, (name, d) in enumerate(dx):
        if d is None:
            continue
        p = sd[name].double() + a * d
        if dy is not None:
            p = p + b * dy[k][1]
        sd[name] = p.to(sd[name].dtype)
    net.load_state_dict(sd)
    net.eval()
    with torch.no_grad():
        logits = net(x)
        loss = F.cross_entropy(logits, labels).item()
        correct = int((logits.argmax(1) == labels).sum())
    return loss, 100.0 * correct / x.shape[0]


def write_dir(d, model, x, labels, xs, ys, dx, dy, states, skip=(), perturb=None):
    os.makedirs(d, exist_ok=True)
    fdt = np.float64 if x.dtype == torch.float64 else np.float32
    with h5py.File(os.path.join(d, "model.h5"), "w") as f:
        f.attrs["format"] = "basin-checkpoint-1"
        f.attrs["architecture"] = model.architecture
        f.attrs["fingerprint"] = np.uint64(1234567)
        f.attrs["epoch"] = np.int64(-1)
        f.attrs["step"] = np.int64(-1)
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                f.create_dataset(k, data=np.int64(v.item()))
            else:
                f.create_dataset(k, data=v.numpy().astype(fdt))
    with h5py.File(os.path.join(d, "directions.h5"), "w") as f:
        f.attrs["format"] = "basin-directions-1"
        f.attrs["architecture"] = model.architecture
        f.attrs["norm"] = "filter"
        f.attrs["ignore"] = ""
        f.attrs["dir_type"] = "states" if states else "weights"
        f.attrs["seed"] = np.uint64(3)
        for g, dirn in (("xdirection", dx), ("ydirection", dy)):
            if dirn is None:
                continue
            for k, (name, t) in enumerate(dirn):
                if perturb == "count" and k == len(dirn) - 1:
                    continue
                if t is None:
                    f.create_dataset(f"{g}/{k}", data=np.int64(0))
                    continue
                a = t.numpy().astype(fdt)
                if perturb == "shape" and k == 0 and g == "ydirection":
                    a = a.reshape(a.shape[1], a.shape[0], *a.shape[2:])
                f.create_dataset(f"{g}/{k}", data=a)
    shape = (len(xs), len(ys) if ys is not None else 1)
    loss = np.full(shape, -1.0)
    acc = np.full(shape, -1.0)
    computed = np.zeros(shape, dtype=np.uint8)
    for i, a in enumerate(xs):
        for j, b in enumerate(ys if ys is not None else [0.0]):
            if (i, j) in skip:
                continue
            loss[i, j], acc[i, j] = surface_point(model, dx, dy, a, b, x, labels)
            computed[i, j] = 1
    n = x.shape[0]
    if perturb == "loss":
        loss[1, 0] *= 1 + 2e-4
    elif perturb == "acc":
        acc[2, 1] += 100.0 / n
    elif perturb == "acc2":
        acc[0, 0] += 200.0 / n
    elif perturb == "uncomputed":
        i, j = skip[0]
        loss[i, j], acc[i, j] = 42.0, 7.0
    with h5py.File(os.path.join(d, "surface.h5"), "w") as f:
        # basin's layout, the reference tool's order: (ny, nx) with value[j, i] at (x[i], y[j]); "old":
        # basin's layout before 2026-12, (nx, ny), named by its format; "transposed": the old
        # layout under the new format (refused: the shape is not the coordinates')
        f.attrs["format"] = "basin-surface-1" if perturb == "old" else "basin-surface-2"
        f.create_dataset("xcoordinates", data=np.asarray(xs, dtype=np.float64))
        if ys is not None:
            f.create_dataset("ycoordinates", data=np.asarray(ys, dtype=np.float64))
            if perturb not in ("old", "transposed"):
                loss, acc, computed = loss.T, acc.T, computed.T
        else:
            loss, acc, computed = loss[:, 0], acc[:, 0], computed[:, 0]
        f.create_dataset("test_loss", data=loss)
        if perturb != "noacc":
            f.create_dataset("test_acc", data=acc)
        f.create_dataset("computed", data=computed)
    if perturb == "nodata":
        if os.path.exists(os.path.join(d, "data.h5")):
            os.remove(os.path.join(d, "data.h5"))
    else:
        with h5py.File(os.path.join(d, "data.h5"), "w") as f:
            f.create_dataset("input", data=x.numpy())
            f.create_dataset("labels", data=labels.numpy().astype(np.int32))


def run_inprocess(d):
    import check_surface

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = check_surface.main(["check_surface.py", d])
    return rc, buf.getvalue()


def run_script(d):
    r = subprocess.run([sys.executable, os.path.join(HERE, "check_surface.py"), d],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def main(argv):
    workdir = selftest_folder(argv, "basin_surface_")
    gen = torch.Generator().manual_seed(11)
    plane_x, plane_y, line_x = [-0.5, -0.1, 0.2, 0.5], [-0.4, 0.0, 0.3], [-1.0, -0.25, 0.5, 1.0]
    cases = [  # tag, depth, shortcut, in_ch, size, dtype, states, plane, tie, [(perturbation, wanted exit)]
        ("resnet8_f32_weights", 8, True, 1, 12, torch.float32, False, True, False,
         [(None, 0), ("loss", 1), ("acc", 1), ("uncomputed", 0), ("count", 2), ("shape", 2), ("nodata", 2),
          ("old", 0), ("transposed", 2), ("noacc", 2)]),
        ("plain8_f64_states", 8, False, 3, 10, torch.float64, True, True, False, [(None, 0), ("loss", 1)]),
        ("resnet8_f32_line", 8, True, 1, 12, torch.float32, False, False, False, [(None, 0), ("loss", 1)]),
        ("resnet8_f32_tie", 8, True, 1, 12, torch.float32, False, True, True, [("acc", 0), ("acc2", 1)]),
    ]
    failures = 0
    for tag, depth, shortcut, c, hw, dtype, states, plane, tie, perturbs in cases:
        model = CifarResNet(depth, in_channels=c, shortcut=shortcut)
        randomize(model, gen)
        if tie:
            with torch.no_grad():  # classes 0 and 1 tie, far above the others
                model.linear.weight[1] = model.linear.weight[0]
                model.linear.bias[0] = model.linear.bias[1] = 20.0
        model = model.to(dtype).eval()
        x = torch.randn(40, c, hw, hw, generator=gen, dtype=dtype)
        labels = torch.randint(0, 10, (40,), generator=gen)
        if tie:
            labels[::2] = 1
        dx = make_direction(model, states, gen, tie)
        dy = make_direction(model, states, gen, tie) if plane else None
        skip = [(3, 2)] if plane else []
        for perturb, want in perturbs:
            d = os.path.join(workdir, f"{tag}_{perturb or 'exact'}")
            write_dir(d, model, x, labels, plane_x if plane else line_x, plane_y if plane else None,
                      dx, dy, states, skip, perturb)
            script = perturb is None and tag == cases[0][0]
            rc, out = run_script(d) if script else run_inprocess(d)
            good = rc == want
            if good and tie and perturb == "acc" and "near-tie" not in out:
                good = False  # the tie must be reported
            failures += not good
            print(f"{'ok  ' if good else 'FAIL'} {tag} perturb={perturb}: exit {rc} (want {want})"
                  f"{' [as a script]' if script else ''}")
            if not good or perturb is None or want == 2 or tie:
                print("    " + out.strip().replace("\n", "\n    "))
    return selftest_verdict(failures, argv, workdir)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
