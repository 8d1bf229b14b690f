#!/usr/bin/env python3
"""Peer benchmark for 2-D loss-surface sweeps on the CPU: PyTorch's per-point loop against basin.

usage: compare_sweep.py [--nets resnet20,resnet56] [--images 2000] [--points 8] [--threads 2]
                        [--batches 64,128,500] [--data DIR] [--basin-json FILE]
                        [--basin-bench PATH --rounds R]

The PyTorch side is the straightforward loop of the reference loss-landscape tool
(plot_surface.py: set the weights to theta* + a d1 + b d2, then evaluate the whole data set in
eval mode under torch.no_grad(), loss and accuracy), with the data already in memory as one
normalized tensor (faster than the reference tool's DataLoader, so the comparison is strict):
the same nets (tests/pytorch/basin_torch.py), the same Fashion-MNIST test images (the first
--images of Debian's dataset-fashion-mnist, normalized by the training set's mean and standard
deviation), --points points per measurement, at the batch size of --batches that is fastest for
PyTorch (each is tried on two points first). oneDNN (MKLDNN) is left on, as PyTorch's default,
and its state is printed. GFLOP/s are counted as direct convolution (2 x multiply-adds of every
Conv2d and Linear), for both sides.

With --basin-json FILE (the output of
  bench_sweep --benchmark_out=FILE --benchmark_out_format=json, benchmarks sweep/<net>/blocked
  and sweep/<net>/pointwise with counter points_per_second)
it prints basin's numbers, the ratios basin / PyTorch against the target 1.5x, and both sides'
GFLOP/s next to the machine's GEMM rate that bench_sweep measured (gemm/1024).

With --basin-bench PATH (the bench_sweep program) it instead runs basin and PyTorch alternately,
--rounds times per net (basin's blocked sweep, then PyTorch's loop at its best batch), and prints
each round's ratio and the median: on a machine whose speed drifts (this one's does by 20-30%
within minutes) only ratios taken side by side in time compare. Run both on an
otherwise idle machine with the same thread count (OMP_NUM_THREADS for basin) and the same
GLIBC_TUNABLES (see compare_pytorch.py; this script re-executes itself with them when unset).
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

TARGET = 1.5
TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"
MARK = "BASIN_COMPARE_SWEEP_REEXEC"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", default="resnet20,resnet56")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--points", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="64,128,500")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--basin-json", default=None)
    p.add_argument("--basin-bench", default=None)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    a.nets = [n for n in a.nets.split(",") if n]
    for n in a.nets:
        if n not in ("resnet20", "resnet56"):
            p.error(f"--nets: unknown net {n!r} (resnet20, resnet56)")
    try:
        a.batches = [int(b) for b in a.batches.split(",") if b]
    except ValueError:
        p.error(f"--batches: expected comma-separated integers, got {a.batches!r}")
    if a.images < 1 or a.points < 1 or a.threads < 1 or not a.batches or min(a.batches) < 1 or a.rounds < 1:
        p.error("--images, --points, --threads, --batches and --rounds must be positive")
    if a.basin_bench and not os.access(a.basin_bench, os.X_OK):
        p.error(f"--basin-bench: {a.basin_bench!r} is not an executable file")
    return a


def read_idx(path, expect_magic):
    """An IDX file (gzip) as (dims, bytes); raises ValueError naming the file when malformed."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expect_magic:
        raise ValueError(f"{path}: magic {magic:#x}, expected {expect_magic:#x}")
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    body = raw[4 + 4 * nd:]
    size = 1
    for d in dims:
        size *= d
    if len(body) != size:
        raise ValueError(f"{path}: {len(body)} data bytes, expected {size}")
    return dims, body


def load_fashion(data_dir, count):
    import torch
    _, train = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"), 0x803)
    dims, test = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"), 0x803)
    _, labels = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"), 0x801)
    tr = torch.frombuffer(bytearray(train), dtype=torch.uint8).double() / 255.0
    mean, std = tr.mean().item(), tr.std(unbiased=False).item()
    n = min(count, dims[0])
    x = torch.frombuffer(bytearray(test), dtype=torch.uint8)[: n * 784].float().div(255.0)
    x = ((x - mean) / std).reshape(n, 1, 28, 28)
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8)[:n].long()
    return x, y


def torch_points_per_second(net, x, y, points, batch):
    import torch
    import torch.nn.functional as F
    params = [p for p in net.parameters()]
    origin = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(1)
    d1 = [torch.randn(p.shape, generator=gen) * 0.1 for p in params]
    d2 = [torch.randn(p.shape, generator=gen) * 0.1 for p in params]
    net.eval()

    def point(a, b):
        with torch.no_grad():
            for p, o, u, v in zip(params, origin, d1, d2):
                p.copy_(o + a * u + b * v)
            loss, correct = 0.0, 0
            for b0 in range(0, x.shape[0], batch):
                out = net(x[b0:b0 + batch])
                loss += F.cross_entropy(out, y[b0:b0 + batch], reduction="sum").item()
                correct += (out.argmax(1) == y[b0:b0 + batch]).sum().item()
        return loss / x.shape[0], 100.0 * correct / x.shape[0]

    point(0.0, 0.0)  # warm-up
    t0 = time.perf_counter()
    for i in range(points):
        point(-1.0 + 2.0 * i / max(points - 1, 1), 0.25)
    return points / (time.perf_counter() - t0)


def basin_blocked(a, name):
    """basin's blocked sweep of net `name` (points/s, GFLOP/s), one run of the bench_sweep program."""
    import subprocess
    cmd = [a.basin_bench, "--images", str(a.images), "--data", a.data,
           f"--benchmark_filter=^sweep/{name}/blocked(/real_time)?$", "--benchmark_format=json"]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{a.basin_bench} failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    try:
        runs = json.loads(r.stdout)["benchmarks"]
    except (ValueError, KeyError) as e:
        raise RuntimeError(f"{a.basin_bench}: expected Google Benchmark JSON on stdout ({e}), got "
                           f"{r.stdout.strip()[:200]!r}; stderr: {r.stderr.strip()[-500:]}") from None
    for b in runs:
        if b["name"].startswith(f"sweep/{name}/blocked"):
            return b["points_per_second"], b["GFLOP_per_second"]
    raise RuntimeError(f"{a.basin_bench}: no sweep/{name}/blocked in its output")


def alternate(a, name, net, x, y, flops, best):
    """Rounds of basin then PyTorch; prints each round and the median ratio."""
    ratios = []
    for r in range(a.rounds):
        bp, bg = basin_blocked(a, name)
        pt = torch_points_per_second(net, x, y, a.points, best)
        ratios.append(bp / pt)
        print(f"{name:10} {best:5d} {pt:14.3f} {pt * x.shape[0] * flops * 1e-9:8.1f} {bp:12.3f} {bg:8.1f} "
              f"{'-':>10} {bp / pt:6.2f}x  round {r + 1}", flush=True)
    ratios.sort()
    mid = ratios[len(ratios) // 2] if len(ratios) % 2 else 0.5 * (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2])
    verdict = "met" if mid >= TARGET else "NOT met"
    print(f"{name:10} median ratio of {a.rounds} rounds {mid:.2f}x (min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x)"
          f"  >= {TARGET}x: {verdict}", flush=True)


def main(argv):
    a = parse_args(argv)
    if not os.environ.get("GLIBC_TUNABLES") and not os.environ.get(MARK):
        env = dict(os.environ, GLIBC_TUNABLES=TUNABLES, **{MARK: "1"})
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + argv, env)
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pytorch"))
    from basin_torch import CifarResNet
    torch.set_num_threads(a.threads)
    x, y = load_fashion(a.data, a.images)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from compare_pytorch import count_forward_flops
    basin, basin_gflops, gemm = {}, {}, None
    if a.basin_json:
        with open(a.basin_json) as f:
            for b in json.load(f)["benchmarks"]:
                name = b["name"].replace("/real_time", "")
                if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                    continue
                name = name.replace("_median", "")
                if name == "gemm/1024":
                    gemm = b.get("GFLOP_per_second")
                basin[name] = b.get("points_per_second")
                basin_gflops[name] = b.get("GFLOP_per_second")
    print(f"2-D sweep, {x.shape[0]} Fashion-MNIST test images per point, {a.threads} threads, "
          f"PyTorch {torch.__version__}, MKLDNN available {torch.backends.mkldnn.is_available()}, "
          f"enabled {torch.backends.mkldnn.enabled}")
    if gemm:
        print(f"machine GEMM rate (basin's host SGEMM 1024^3 on every worker): {gemm:.1f} GFLOP/s")
    print(f"{'net':10} {'batch':>5} {'PyTorch pts/s':>14} {'GFLOP/s':>8} {'basin pts/s':>12} {'GFLOP/s':>8} "
          f"{'pointwise':>10} {'ratio':>7}  target")
    for name in a.nets:
        net = CifarResNet(int(name[6:]), in_channels=1, num_classes=10)
        flops = count_forward_flops(net, (1, 28, 28))
        trial = {b: torch_points_per_second(net, x, y, 2, b) for b in a.batches}
        best = max(trial, key=trial.get)
        if a.basin_bench:
            print(f"{'':10} PyTorch points/s by batch: " + ", ".join(f"{b}: {v:.3f}" for b, v in trial.items()))
            alternate(a, name, net, x, y, flops, best)
            continue
        pt = torch_points_per_second(net, x, y, a.points, best)
        pt_gflops = pt * x.shape[0] * flops * 1e-9
        blocked = basin.get(f"sweep/{name}/blocked")
        pointwise = basin.get(f"sweep/{name}/pointwise")
        if blocked:
            ratio = blocked / pt
            verdict = "met" if ratio >= TARGET else "NOT met"
            print(f"{name:10} {best:5d} {pt:14.3f} {pt_gflops:8.1f} {blocked:12.3f} "
                  f"{basin_gflops.get(f'sweep/{name}/blocked') or float('nan'):8.1f} "
                  f"{pointwise or float('nan'):10.3f} {ratio:6.2f}x  >= {TARGET}x: {verdict}")
        else:
            print(f"{name:10} {best:5d} {pt:14.3f} {pt_gflops:8.1f} {'-':>12} {'-':>8} {'-':>10} {'-':>7}")
        print(f"{'':10} PyTorch points/s by batch: " + ", ".join(f"{b}: {v:.3f}" for b, v in trial.items()))

if __name__ == "__main__":
    main(sys.argv[1:])
