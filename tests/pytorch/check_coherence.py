#!/usr/bin/env python3
"""Checks basin's gradient coherence (landscape/coherence.hpp) with PyTorch's gradients.

usage: check_coherence.py DIR

DIR holds what export_hessian wrote: model.h5 (a resnet8 in double), data.h5 (input, labels) and
coherence.h5 (images: the K batches' image indices, gram: basin's K x K Gram matrix of the batch
gradients, root attributes coherence and mean_cosine). For each batch the net (basin_torch.py,
float64, train mode: batch statistics, as a training step) gives the mean cross-entropy's
gradient over all parameters; from their Gram matrix
    alpha = mean_{i != j} <g_i, g_j> / mean_i |g_i|^2,  mean cosine over pairs i < j.
Checks: every Gram entry within 1e-10 of max |G_ii| (a wrong batch, batch-norm mode, loss scale or
checkpoint loading moves them by far more), alpha and the mean cosine within 1e-10.

exit status: 0 agree; 1 a mismatch; 2 a file is missing or malformed; 77 torch, h5py or numpy
cannot be imported (CTest SKIP_RETURN_CODE).
"""

import os
import sys

from check_common import BAD_INPUT, EXIT_BAD_INPUT, bad_input, h5py, model_and_data, np, torch, verdict
import torch.nn.functional as F


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return EXIT_BAD_INPUT
    folder = argv[1]
    try:
        net, arch, x, y = model_and_data(folder)
        with h5py.File(os.path.join(folder, "coherence.h5"), "r") as f:
            images = np.array(f["images"][()], dtype=np.int64)
            gram = np.array(f["gram"][()], dtype=np.float64)
            alpha, cosine = float(f.attrs["coherence"]), float(f.attrs["mean_cosine"])
        k = images.shape[0]
        if images.ndim != 2 or gram.shape != (k, k) or k < 3:
            raise ValueError(f"coherence.h5: images {images.shape} and gram {gram.shape} do not fit")
        if images.min() < 0 or images.max() >= x.shape[0]:
            raise ValueError(f"coherence.h5: image indices outside [0, {x.shape[0]})")
    except BAD_INPUT as e:
        return bad_input(e)

    net.train()
    params = list(net.parameters())
    grads = []
    for i in range(k):
        idx = torch.from_numpy(images[i])
        loss = F.cross_entropy(net(x[idx]), y[idx])
        g = torch.autograd.grad(loss, params)
        grads.append(torch.cat([t.reshape(-1) for t in g]))
    G = torch.stack(grads)
    ref = (G @ G.T).numpy()
    diag = np.diag(ref)
    ref_alpha = (ref.sum() - diag.sum()) / (k * (k - 1)) / (diag.sum() / k)
    cos = ref / np.sqrt(np.outer(diag, diag))
    ref_cosine = cos[np.triu_indices(k, 1)].mean()
    err = np.abs(gram - ref).max() / diag.max()
    print(f"{arch}, {k} batches of {images.shape[1]}: PyTorch alpha {ref_alpha:.10g}, mean cosine {ref_cosine:.10g}; "
          f"basin {alpha:.10g}, {cosine:.10g}; Gram entries off by {err:.3g} of max |g|^2")
    bad = []
    if not err <= 1e-10:
        bad.append(f"Gram matrix: relative error {err:.3g} > 1e-10")
    if not abs(alpha - ref_alpha) <= 1e-10:
        bad.append(f"alpha: basin {alpha}, PyTorch {ref_alpha}")
    if not abs(cosine - ref_cosine) <= 1e-10:
        bad.append(f"mean cosine: basin {cosine}, PyTorch {ref_cosine}")
    return verdict(bad, "basin's gradient coherence agrees with PyTorch's gradients")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
