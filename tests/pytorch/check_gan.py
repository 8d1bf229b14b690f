#!/usr/bin/env python3
"""Replays basin's DCGAN training steps in PyTorch (float64) and compares.

usage: check_gan.py DIR

DIR holds what export_gan wrote: initial.h5 (both nets), data.h5 (the noise and real images that
train_gan drew, the learning rates), alternating.h5 and prediction.h5 (basin's losses per step
and both nets after the steps). The nets are nn.Sequential as PyTorch's DCGAN example writes
them (main.0 ConvTranspose2d, main.1 BatchNorm2d, ...), loaded with strict=True. Each step is
the algorithm of Yadav et al. 2018 written out with autograd, in train mode (batch statistics;
every forward updates the running statistics, as in PyTorch's DCGAN example):
    generator:      loss_G = BCE(D(G(z1)), 1);  G <- G - lr_g grad_G loss_G
    prediction:     G^ = G + (G - G_before)      (only with prediction)
    discriminator:  loss_D = BCE(D(x), 1) + BCE(D(G^(z2)), 0) (G^ = G without prediction);
                    D <- D - lr_d grad_D loss_D;  G keeps its stepped weights
Checks, each of which fails on a wrong sign, layout, order of forwards or prediction rule:
basin's losses at every step within 1e-10 (relative), every parameter and running statistic of
both nets after the steps within 1e-9 of max(1, |value|), and the train-mode forward counts
(num_batches_tracked). Also checks that prediction changed the result (the two runs differ).

exit status: 0 agree; 1 a mismatch; 2 a file is missing or malformed; 77 torch, h5py or numpy
cannot be imported (CTest SKIP_RETURN_CODE).
"""

import os
import sys

from check_common import BAD_INPUT, EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK, bad_input, h5py, np, torch
import torch.nn as nn
import torch.nn.functional as F


def build(z, width):
    """The generator and discriminator of export_gan.cpp (width: channels of the 7x7 stage)."""
    half = width // 2
    g = nn.Sequential(
        nn.ConvTranspose2d(z, width, 7, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
        nn.ConvTranspose2d(width, half, 4, 2, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(True),
        nn.ConvTranspose2d(half, 1, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(1, half, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(half, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(width, 1, 7, 1, 0, bias=False))
    gen, disc = nn.Module(), nn.Module()  # PyTorch's example: class Generator(nn.Module) with self.main
    gen.main, disc.main = g, d
    gen.forward, disc.forward = g.forward, d.forward
    return gen.double(), disc.double()


def read_group(f, group, tracked):
    out = {}
    for name, obj in f[group].items():
        out[name] = torch.from_numpy(np.array(obj[()], dtype=np.float64))
    for name in list(out):
        if name.endswith("running_mean"):
            out[name[: -len("running_mean")] + "num_batches_tracked"] = torch.tensor(int(tracked), dtype=torch.long)
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return EXIT_BAD_INPUT
    folder = argv[1]
    try:
        with h5py.File(os.path.join(folder, "data.h5"), "r") as f:
            noise = torch.from_numpy(np.array(f["noise"][()], dtype=np.float64))
            real = torch.from_numpy(np.array(f["real"][()], dtype=np.float64))
            lr_g, lr_d = float(f["lr_g"][()]), float(f["lr_d"][()])
        with h5py.File(os.path.join(folder, "initial.h5"), "r") as f:
            g0 = read_group(f, "generator", 0)
            d0 = read_group(f, "discriminator", 0)
        results = {}
        for method in ("alternating", "prediction"):
            with h5py.File(os.path.join(folder, method + ".h5"), "r") as f:
                gt, dt = float(f["generator_batches_tracked"][()]), float(f["discriminator_batches_tracked"][()])
                results[method] = dict(
                    d_loss=np.array(f["d_loss"][()], dtype=np.float64), g_loss=np.array(f["g_loss"][()]),
                    g=read_group(f, "generator", gt), d=read_group(f, "discriminator", dt))
    except BAD_INPUT as e:
        return bad_input(e)

    steps, z_dim, width = noise.shape[0], noise.shape[3], g0["main.0.weight"].shape[1]
    bce = F.binary_cross_entropy_with_logits
    bad = 0
    finals = {}
    for method, want in results.items():
        predict = method == "prediction"
        g, d = build(z_dim, width)
        try:
            g.load_state_dict(g0, strict=True)
            d.load_state_dict(d0, strict=True)
        except RuntimeError as e:
            print(f"bad input: the nets do not load: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        g.train(), d.train()
        gp, dp = list(g.parameters()), list(d.parameters())
        for s in range(steps):
            # The generator's step.
            out = d(g(noise[s, 0]))
            loss_g = bce(out.reshape(-1), torch.ones(out.numel(), dtype=torch.float64))
            grads = torch.autograd.grad(loss_g, gp)
            with torch.no_grad():
                before = [p.clone() for p in gp]
                for p, q in zip(gp, grads):
                    p -= lr_g * q
                stepped = [p.clone() for p in gp]
                if predict:
                    for p, b in zip(gp, before):
                        p += p - b
            # The discriminator's step against the (predicted) generator.
            out_real = d(real[s])
            out_fake = d(g(noise[s, 1]))
            loss_d = bce(out_real.reshape(-1), torch.ones(out_real.numel(), dtype=torch.float64)) + bce(
                out_fake.reshape(-1), torch.zeros(out_fake.numel(), dtype=torch.float64))
            grads = torch.autograd.grad(loss_d, dp)
            with torch.no_grad():
                for p, q in zip(dp, grads):
                    p -= lr_d * q
                for p, v in zip(gp, stepped):
                    p.copy_(v)
            for name, mine, theirs in (("g_loss", loss_g.item(), want["g_loss"][s]),
                                       ("d_loss", loss_d.item(), want["d_loss"][s])):
                err = abs(mine - theirs) / max(1.0, abs(mine))
                if not err < 1e-10:
                    print(f"MISMATCH {method} step {s + 1} {name}: basin {theirs!r}, PyTorch {mine!r}")
                    bad += 1
        worst = 0.0
        for net_name, net, basin_state in (("generator", g, want["g"]), ("discriminator", d, want["d"])):
            mine = net.state_dict()
            if set(mine) != set(basin_state):
                print(f"MISMATCH {method} {net_name}: tensors {sorted(set(mine) ^ set(basin_state))} on one side only")
                bad += 1
                continue
            for name, t in mine.items():
                b = basin_state[name]
                if name.endswith("num_batches_tracked"):
                    if int(t) != int(b):
                        print(f"MISMATCH {method} {net_name}.{name}: basin {int(b)}, PyTorch {int(t)}")
                        bad += 1
                    continue
                if tuple(t.shape) != tuple(b.shape):
                    print(f"MISMATCH {method} {net_name}.{name}: shape {tuple(b.shape)} against {tuple(t.shape)}")
                    bad += 1
                    continue
                err = ((t - b).abs() / t.abs().clamp(min=1.0)).max().item()
                worst = err if (err != err or err > worst) else worst  # (a NaN stays: max() would drop it)
                if not err < 1e-9:
                    print(f"MISMATCH {method} {net_name}.{name}: relative error {err:.3e}")
                    bad += 1
        finals[method] = torch.cat([p.detach().reshape(-1) for p in gp + dp])
        print(f"{method}: {steps} steps, losses agree; parameters and running statistics agree to {worst:.2e}")
    moved = (finals["alternating"] - finals["prediction"]).abs().max().item()
    if not moved > 1e-6:
        print(f"MISMATCH: prediction did not change the parameters (largest difference {moved:.3e})")
        bad += 1
    print("OK" if bad == 0 else f"{bad} mismatches")
    return EXIT_OK if bad == 0 else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main(sys.argv))
