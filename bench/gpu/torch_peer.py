#!/usr/bin/env python3
"""PyTorch on the same GPU, the same nets and batch: the peer for bench_gpu.

Times a resnet20 / resnet56 (CIFAR-shaped 3x32x32 input) SGD training step at batch 128, and the
straightforward sweep loop of the reference loss-landscape tool: for each grid point, set
w = w* + a d1 + b d2 and evaluate 2000 images in eval mode under no_grad, in batches of 500 and
of 2000 (the table takes PyTorch's faster).
Prints one line per measurement; float32 with TF32 off (as basin), cudnn.benchmark on.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "pytorch"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from basin_torch import CifarResNet  # noqa: E402


def timed(fn, warmup, min_seconds):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        torch.cuda.synchronize()
        if time.perf_counter() - t0 >= min_seconds:
            return (time.perf_counter() - t0) / reps


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    for depth in (20, 56):
        net = CifarResNet(depth, in_channels=3).to(dev)
        x = torch.randn(2000, 3, 32, 32, device=dev)
        y = torch.arange(2000, device=dev) % 10
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
        net.train()

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[:128]), y[:128]).backward()
            opt.step()

        t = timed(step, 5, 2.0)
        print(f"torch resnet{depth} train step, batch 128: {t * 1e3:.2f} ms ({128 / t:.0f} images/s)")
        net.eval()
        w0 = [p.detach().clone() for p in net.parameters()]
        d1 = [torch.randn_like(p) for p in w0]
        d2 = [torch.randn_like(p) for p in w0]
        a = [-1.0]

        for batch in (500, 2000):
            def point():
                with torch.no_grad():
                    for p, w, u, v in zip(net.parameters(), w0, d1, d2):
                        p.copy_(w + a[0] * u + 0.5 * v)
                    a[0] += 0.01
                    loss = 0.0
                    for b in range(0, 2000, batch):
                        loss += F.cross_entropy(net(x[b:b + batch]), y[b:b + batch], reduction="sum")
                    return float(loss) / 2000

            t = timed(point, 2, 2.0)
            print(f"torch resnet{depth} sweep, 2000 images/point, batch {batch}: {t * 1e3:.2f} ms ({1 / t:.2f} points/s)")


if __name__ == "__main__":
    main()
