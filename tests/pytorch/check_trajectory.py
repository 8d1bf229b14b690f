#!/usr/bin/env python3
"""Recomputes basin's PCA directions and projected path the reference tool's way.

usage: check_trajectory.py DIR [DIRECTIONS]

DIR holds what export_trajectory wrote:
  DIR/model_0.h5 .. model_K.h5   basin checkpoints of one run, in order; the last is the final model
  DIR/directions.h5              xdirection/, ydirection/ ("0", "1", ... in parameters() order),
                                 explained_variance_ratio_, singular_values_, explained_variance_
  DIR/directions.h5_proj_cos.h5  proj_xcoord, proj_ycoord
or, with DIRECTIONS, that file and DIRECTIONS_proj_cos.h5 (what examples/plot_trajectory wrote
from DIR's checkpoints).
As projection.py's setup_PCA_directions (with --ignore biasbn, --dir_type weights) and
project_trajectory (proj_method 'cos') do: each checkpoint is loaded into the PyTorch net
(basin_torch.py), d = w2 - w for its parameters() against the final model's, tensors of one axis
zeroed, flattened; PCA as sklearn's (rows centered, numpy SVD, signs by svd_flip with
u_based_decision: the largest |U| entry of each component positive); then each (unzeroed) d is
projected: x = <d, dx> / |dx|. All in float64 from the checkpoints' float32 values.
Compared with basin's files (float32 directions): components to 1e-6 of their largest |entry|,
the variances and singular values to a relative 1e-7, the coordinates to 1e-7 of the path's
extent (measured: 4e-8 and 1.2e-7, 5e-10, 7e-10). A last check
makes sure the comparison fails on a component with the other sign (the checker can fail).

exit status: 0 agree; 1 a mismatch; 2 a file is missing or malformed; 77 torch, h5py or numpy
cannot be imported (CTest SKIP_RETURN_CODE).
"""

import os
import sys

from check_common import BAD_INPUT, EXIT_BAD_INPUT, bad_input, h5py, np, torch, verdict
from basin_torch import load_basin_checkpoint


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors]).double().numpy()


def reference(folder):
    """(components (2, P), variance ratio, singular values, explained variance, coordinates (n, 2))."""
    files = []
    k = 0
    while os.path.exists(os.path.join(folder, f"model_{k}.h5")):
        files.append(os.path.join(folder, f"model_{k}.h5"))
        k += 1
    if len(files) < 3:
        raise ValueError(f"{folder}: expected model_0.h5, model_1.h5, ... (at least 3), found {len(files)}")
    nets = [load_basin_checkpoint(f, dtype=torch.float64)[0] for f in files]
    w = [p.data for p in nets[-1].parameters()]  # net_plotter.get_weights
    diffs, rows = [], []
    for net in nets:
        d = [p.data - q for p, q in zip(net.parameters(), w)]  # get_diff_weights(w, w2) = w2 - w
        diffs.append(flat(d))
        rows.append(flat([t * 0 if t.dim() <= 1 else t for t in d]))  # ignore_biasbn
    X = np.array(rows)
    n = X.shape[0]
    Xc = X - X.mean(axis=0)
    U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), range(U.shape[1])])  # svd_flip, u-based
    U, Vt = U * signs, Vt * signs[:, None]
    var = S ** 2 / (n - 1)
    ratio = var / var.sum()
    comps = Vt[:2]
    coords = np.array([[np.dot(d, c) / np.linalg.norm(c) for c in comps] for d in diffs])
    return comps, ratio[:2], S[:2], var[:2], coords


def basin_files(path, n_params):
    with h5py.File(path, "r") as f:
        comps = []
        for g in ("xdirection", "ydirection"):
            if g not in f or len(f[g]) != n_params:
                raise ValueError(f"{path}: group {g} missing or not {n_params} tensors")
            comps.append(np.concatenate([np.array(f[g][str(k)][()], dtype=np.float64).reshape(-1)
                                         for k in range(n_params)]))
        stats = [np.array(f[name][()], dtype=np.float64)
                 for name in ("explained_variance_ratio_", "singular_values_", "explained_variance_")]
    proj = path + "_proj_cos.h5"
    with h5py.File(proj, "r") as f:
        coords = np.stack([np.array(f["proj_xcoord"][()]), np.array(f["proj_ycoord"][()])], axis=1)
    return np.array(comps), stats, coords


def compare(ref, got):
    comps, ratio, sing, var, coords = ref
    gcomps, (gratio, gsing, gvar), gcoords = got
    bad = []
    for k in range(2):
        err = np.max(np.abs(gcomps[k] - comps[k])) / np.max(np.abs(comps[k]))
        if not err <= 1e-6:
            bad.append(f"component {k + 1}: max error {err:.3g} of its largest entry")
    for name, a, b in (("explained_variance_ratio_", gratio, ratio), ("singular_values_", gsing, sing),
                       ("explained_variance_", gvar, var)):
        err = np.max(np.abs(a - b) / np.abs(b))
        if not err <= 1e-7:
            bad.append(f"{name}: basin {a}, reference {b} (relative error {err:.3g})")
    if gcoords.shape != coords.shape:
        bad.append(f"projection: basin has {gcoords.shape[0]} points, the reference {coords.shape[0]}")
    else:
        err = np.max(np.abs(gcoords - coords)) / np.max(np.abs(coords))
        if not err <= 1e-7:
            bad.append(f"projection: max error {err:.3g} of the path's extent")
    return bad


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return EXIT_BAD_INPUT
    folder = argv[1]
    try:
        ref = reference(folder)
        n_params = len(list(load_basin_checkpoint(os.path.join(folder, "model_0.h5"))[0].parameters()))
        got = basin_files(argv[2] if len(argv) == 3 else os.path.join(folder, "directions.h5"), n_params)
    except BAD_INPUT as e:
        return bad_input(e)
    comps, ratio, sing, var, coords = ref
    print(f"{coords.shape[0]} snapshots, {comps.shape[1]} weights; reference PCA: ratios {ratio}, "
          f"singular values {sing}")
    print("projected path (reference):", " ".join(f"({x:.4f}, {y:.4f})" for x, y in coords))
    bad = compare(ref, got)
    if not bad and not compare(ref, (-got[0], got[1], got[2])):
        bad.append("the checker does not notice a component of the other sign")
    return verdict(bad, "basin's principal directions, variances and projected path agree with the reference "
                   "computation")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
