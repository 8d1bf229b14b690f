#!/usr/bin/env python3
"""Checks basin's Hessian-vector product and extreme eigenvalues with PyTorch's double backward.

usage: check_hessian.py DIR [--eigen]

DIR holds what export_hessian wrote (model.h5, data.h5, hvp.h5, and eigen.h5 where the
eigenvalues are checked too; see there); with --eigen, eigen.h5 must be there (a missing one is
a bad input, exit 2, not a pass with the eigenvalues unchecked). The net
(basin_torch.py, float64, eval mode: running statistics) gives the mean cross-entropy L over all
samples; H v is autograd.grad(<grad L, v>) over the parameters of more than one axis, as the
reference tool's hess_vec_prod.py computes it (params = those with len(p.size()) > 1).
Checks, each of which fails on a wrong sign, scale or layout:
  - basin's H v (central differences of gradients, step 1e-5 |w|) against PyTorch's, within
    1e-5 of |H v|;
  - basin's largest and most negative eigenvalue: each its Ritz vector u's Rayleigh quotient
    u^T H u (PyTorch) within 1e-6 of |lambda_max|, and |H u - lambda u| (PyTorch's H) no more than
    basin's reported residual plus 1e-5 |lambda_max| (so each is within that of a true eigenvalue);
    each reported residual at most 1e-3 max(|lambda_max|, |lambda_min|) (the tolerance
    export_hessian asks for, on hessian_extremes' scale);
  - and that they are the extremes, not interior eigenvalues: PyTorch's own Lanczos (25 products
    of its H, full reorthogonalization, its own start) finds the same largest and most negative
    eigenvalue within the two residuals;
  - lambda_min < 0 < lambda_max (a ReLU net away from a minimum is not convex).

exit status: 0 agree; 1 a mismatch; 2 a file is missing or malformed; 77 torch, h5py or numpy
cannot be imported (CTest SKIP_RETURN_CODE).
"""

import os
import sys

from check_common import BAD_INPUT, EXIT_BAD_INPUT, bad_input, h5py, model_and_data, np, torch, verdict
import torch.nn.functional as F


def read_pair(path, shapes):
    """xdirection and ydirection of a basin direction file, as lists of float64 tensors."""
    with h5py.File(path, "r") as f:
        out = []
        for g in ("xdirection", "ydirection"):
            if g not in f or len(f[g]) != len(shapes):
                raise ValueError(f"{path}: group {g} missing or not {len(shapes)} tensors")
            ts = []
            for k, s in enumerate(shapes):
                a = np.array(f[g][str(k)][()], dtype=np.float64)
                if tuple(a.shape) != tuple(s):
                    raise ValueError(f"{path}: {g}/{k} has shape {a.shape}, expected {tuple(s)}")
                ts.append(torch.from_numpy(a))
            out.append(ts)
        attrs = {k: f.attrs[k] for k in f.attrs}
    return out[0], out[1], attrs


def main(argv):
    need_eigen = "--eigen" in argv[2:]
    if len(argv) not in (2, 3) or (len(argv) == 3 and not need_eigen):
        print(__doc__, file=sys.stderr)
        return EXIT_BAD_INPUT
    folder = argv[1]
    try:
        net, arch, x, y = model_and_data(folder)
        shapes = [tuple(p.shape) for p in net.parameters()]
        v, basin_hv, _ = read_pair(os.path.join(folder, "hvp.h5"), shapes)
        eigen = os.path.isfile(os.path.join(folder, "eigen.h5"))
        if need_eigen and not eigen:
            raise OSError(f"{os.path.join(folder, 'eigen.h5')} is missing (--eigen asks for the eigenvalues' check)")
        if eigen:
            umax, umin, attrs = read_pair(os.path.join(folder, "eigen.h5"), shapes)
            lmax, lmin = float(attrs["max_eig"]), float(attrs["min_eig"])
            rmax, rmin = float(attrs["max_residual"]), float(attrs["min_residual"])
    except BAD_INPUT as e:
        return bad_input(e)

    net.eval()
    params = list(net.parameters())
    weights = [i for i, p in enumerate(params) if p.dim() > 1]

    def hvp(vec):
        loss = F.cross_entropy(net(x), y)
        grads = torch.autograd.grad(loss, [params[i] for i in weights], create_graph=True)
        prod = sum((g * vec[i]).sum() for g, i in zip(grads, weights))
        hv = torch.autograd.grad(prod, [params[i] for i in weights])
        out = [torch.zeros_like(p) for p in params]
        for h, i in zip(hv, weights):
            out[i] = h.detach()
        return out

    def flat(ts):
        return torch.cat([t.reshape(-1) for t in ts])

    def unflat(vec):
        out, at = [], 0
        for p in params:
            out.append(vec[at : at + p.numel()].reshape(p.shape))
            at += p.numel()
        return out

    bad = []
    ref = flat(hvp(v))
    err = (flat(basin_hv) - ref).norm().item() / ref.norm().item()
    print(f"{arch}, {x.shape[0]} samples: |H v| = {ref.norm().item():.6g}; basin's H v off by {err:.3g} of it")
    if not err <= 1e-5:
        bad.append(f"H v: relative error {err:.3g} > 1e-5")
    if not eigen:
        return verdict(bad, "basin's H v agrees with PyTorch's double backward (no eigen.h5: eigenvalues not checked)")
    for name, lam, res, u in (("lambda_max", lmax, rmax, umax), ("lambda_min", lmin, rmin, umin)):
        uf = flat(u)
        hu = flat(hvp(u))
        rq = (uf @ hu).item() / (uf @ uf).item()
        resid = (hu - lam * uf).norm().item() / uf.norm().item()
        print(f"{name}: basin {lam:.8g} (residual {res:.3g}); "
              f"PyTorch u^T H u = {rq:.8g}, |H u - lambda u| = {resid:.3g}")
        if not abs(rq - lam) <= 1e-6 * abs(lmax):
            bad.append(f"{name}: Rayleigh quotient {rq} against basin's {lam}")
        if not resid <= res + 1e-5 * abs(lmax):
            bad.append(f"{name}: residual {resid:.3g} with PyTorch's H, basin reported {res:.3g}")
        if not res <= 1e-3 * max(abs(lmax), abs(lmin)):
            bad.append(f"{name}: basin's residual {res:.3g} > 1e-3 max(|lambda_max|, |lambda_min|) (not converged)")
    if not (lmin < 0 < lmax):
        bad.append(f"expected lambda_min < 0 < lambda_max, got {lmin}, {lmax}")
    # Independent extremes: Lanczos on PyTorch's H from a start of its own.
    steps = 25
    gen = torch.Generator().manual_seed(12345)
    q = torch.randn(sum(p.numel() for p in params), dtype=torch.float64, generator=gen)
    mask = flat([torch.ones_like(p) if p.dim() > 1 else torch.zeros_like(p) for p in params])
    q = q * mask
    basis = [q / q.norm()]
    alphas, betas = [], []
    for k in range(steps):
        w = flat(hvp(unflat(basis[k])))
        alphas.append((w @ basis[k]).item())
        for b in basis:  # full reorthogonalization
            w = w - (w @ b) * b
        beta = w.norm().item()
        if k + 1 == steps or beta < 1e-12 * abs(alphas[0]):
            break
        betas.append(beta)
        basis.append(w / beta)
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    for k, b in enumerate(betas[: len(alphas) - 1]):
        t[k, k + 1] = t[k + 1, k] = b
    theta, s_vec = torch.linalg.eigh(t)
    last = beta  # the coefficient of the next Lanczos vector: each Ritz pair's residual is |last * s[-1, j]|
    for name, lam, res, j in (("lambda_max", lmax, rmax, -1), ("lambda_min", lmin, rmin, 0)):
        ours = theta[j].item()
        ours_res = abs(last * s_vec[-1, j].item())  # |H y - theta y| of the Ritz pair
        print(f"{name}: PyTorch's Lanczos ({len(alphas)} products) {ours:.8g} (residual {ours_res:.3g})")
        if not abs(ours - lam) <= res + ours_res + 1e-6 * abs(lmax):
            bad.append(f"{name}: basin {lam} but PyTorch's Lanczos {ours} (residuals {res:.3g}, {ours_res:.3g})")
    return verdict(bad, "basin's H v and extreme eigenvalues agree with PyTorch's double backward")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
