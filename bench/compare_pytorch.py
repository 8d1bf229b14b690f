#!/usr/bin/env python3
"""Peer benchmark: PyTorch (CPU) on basin's zoo nets, and basin's numbers beside it.

usage: compare_pytorch.py [--net resnet20|resnet56] [--threads 2] [--batches 32,64,128,256]
                          [--seconds 3] [--train-batch 128] [--basin-json FILE]

Measures, for the net with 1x28x28 input (Fashion-MNIST) and 10 classes:
  forward     eval mode, torch.no_grad(), images/s at each batch size
  train step  train mode, SGD (lr 0.01, momentum 0.9, nesterov, weight decay 5e-4), mean
              cross-entropy on random inputs and labels, images/s at --train-batch (128)
and prints them with GFLOP/s (the forward FLOPs are counted by walking the model with forward
hooks: 2 x multiply-adds of every Conv2d and Linear; a training step is counted as 3 x forward).

With --basin-json FILE (the output of basin's bench program run with
--benchmark_out=FILE --benchmark_out_format=json; benchmarks named forward/<net>/<batch> and
train_step/<net>/<batch>, counter images_per_second) it also prints basin's numbers and the
ratios basin / PyTorch: forward (basin's best batch vs PyTorch's best batch) and the training
step at the same batch, against the targets forward >= 0.8x and train >= 0.7x.

Allocator: PyTorch and basin both allocate and free large activation buffers every step. With
glibc's defaults those go through mmap/munmap and page faults every step, which costs a lot at
2 threads. Run both sides with
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824
(this script re-executes itself with that setting when GLIBC_TUNABLES is unset; --no-tunables
keeps the environment as it is). Give basin's bench the same setting, for a fair comparison:
  GLIBC_TUNABLES=... ./build/release/bench/basin_bench --benchmark_out=basin.json \
      --benchmark_out_format=json
The numbers are only meaningful on an otherwise idle machine.
"""

import argparse
import json
import math
import os
import re
import sys
import time

RECOMMENDED_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"
TARGET_FORWARD = 0.8
TARGET_TRAIN = 0.7
REEXEC_MARK = "BASIN_COMPARE_PYTORCH_REEXEC"


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch peer benchmark for basin's zoo nets",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", default="resnet20", choices=["resnet20", "resnet56"])
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--batches", default="32,64,128,256",
                   help="comma-separated forward batch sizes (default 32,64,128,256)")
    p.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement (default 3)")
    p.add_argument("--train-batch", type=int, default=128, help="training-step batch (default 128)")
    p.add_argument("--basin-json", default=None, help="Google Benchmark JSON output of basin's bench")
    p.add_argument("--no-tunables", action="store_true",
                   help="do not re-execute with the recommended GLIBC_TUNABLES")
    a = p.parse_args(argv)
    try:
        a.batches = [int(b) for b in a.batches.replace(" ", "").split(",") if b]
    except ValueError:
        p.error(f"--batches must be a comma-separated list of integers, got {a.batches!r}")
    if not a.batches or min(a.batches) < 1 or a.train_batch < 1 or a.threads < 1 or a.seconds <= 0:
        p.error("batch sizes, --threads and --seconds must be positive")
    return a


def maybe_reexec(args):
    """Re-executes this script with the recommended GLIBC_TUNABLES (before torch is imported)."""
    if args.no_tunables or os.environ.get(REEXEC_MARK) or os.environ.get("GLIBC_TUNABLES"):
        return
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = RECOMMENDED_TUNABLES
    env[REEXEC_MARK] = "1"
    sys.stdout.flush()
    try:
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    except OSError as e:  # carry on without; the advice is printed below
        print(f"note: could not re-execute with GLIBC_TUNABLES ({e})")


# ---------------------------------------------------------------------------------------------
# FLOPs


def count_forward_flops(model, input_shape):
    """FLOPs of one forward pass for one image: 2 x multiply-adds of Conv2d and Linear layers."""
    import torch
    import torch.nn as nn

    total = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += 2 * out[0].numel() * k  # per image: out[0] is one image's output
        if m.bias is not None:
            total[0] += out[0].numel()

    def linear_hook(m, inp, out):
        total[0] += 2 * m.in_features * m.out_features
        if m.bias is not None:
            total[0] += m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros((1,) + tuple(input_shape)))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total[0]


# ---------------------------------------------------------------------------------------------
# PyTorch measurements


def timed(step, batch, seconds, warmup_seconds=0.3, min_iters=3):
    """Runs step() repeatedly for about `seconds` after a warm-up; returns images/s."""
    t0 = time.perf_counter()
    n = 0
    while n < 2 or time.perf_counter() - t0 < warmup_seconds:
        step()
        n += 1
    iters = 0
    t0 = time.perf_counter()
    while True:
        step()
        iters += 1
        elapsed = time.perf_counter() - t0
        if iters >= min_iters and elapsed >= seconds:
            break
    return iters * batch / elapsed


def measure_forward(model, batch, seconds):
    import torch

    model.eval()
    x = torch.randn(batch, 1, 28, 28)

    def step():
        with torch.no_grad():
            model(x)

    return timed(step, batch, seconds)


def measure_train(model, batch, seconds):
    import torch
    import torch.nn.functional as F

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return timed(step, batch, seconds)


# ---------------------------------------------------------------------------------------------
# basin's Google Benchmark JSON

_NAME = re.compile(r"^(forward|train_step)/([A-Za-z0-9_]+)/(\d+)(?:/|$)")
_TIME_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def _images_per_second(entry, batch):
    for key in ("images_per_second", "items_per_second"):
        v = entry.get(key)
        if v is None and isinstance(entry.get("counters"), dict):
            v = entry["counters"].get(key)
        if isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
            return float(v)
    t = entry.get("real_time")
    unit = _TIME_UNIT.get(str(entry.get("time_unit", "ns")))
    if isinstance(t, (int, float)) and t > 0 and unit:
        return batch / (t * unit)  # real_time is per iteration = one batch
    return None


def load_basin_json(path, net):
    """{('forward'|'train_step', batch): images/s} for `net` from a Google Benchmark JSON file.

    Skips entries it does not understand and error entries. With repetitions it prefers the
    'median' aggregate, then 'mean', else the median of the iterations.
    """
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        start = text.find("{")  # e.g. console output before the JSON
        doc = json.loads(text[start:]) if start >= 0 else {}
    benchmarks = doc.get("benchmarks", []) if isinstance(doc, dict) else []
    iterations, aggregates = {}, {}
    for e in benchmarks:
        if not isinstance(e, dict) or e.get("error_occurred"):
            continue
        name = str(e.get("run_name") or e.get("name") or "")
        m = _NAME.match(name)
        if not m or m.group(2) != net:
            continue
        key = (m.group(1), int(m.group(3)))
        ips = _images_per_second(e, key[1])
        if ips is None:
            continue
        if e.get("run_type") == "aggregate":
            aggregates.setdefault(key, {})[str(e.get("aggregate_name", ""))] = ips
        else:
            iterations.setdefault(key, []).append(ips)
    result = {}
    for key in set(iterations) | set(aggregates):
        agg = aggregates.get(key, {})
        if "median" in agg:
            result[key] = agg["median"]
        elif "mean" in agg:
            result[key] = agg["mean"]
        elif key in iterations:
            result[key] = _median(iterations[key])
    return result, (doc.get("context", {}) if isinstance(doc, dict) else {})


# ---------------------------------------------------------------------------------------------


def torch_build_info(torch):
    cfg = torch.__config__.show()
    lines = []
    for line in cfg.splitlines():
        s = line.strip().lstrip("- ").strip()
        if s.startswith(("Intel(R) MKL", "Intel(R) Math Kernel", "CPU capability", "OpenMP", "LAPACK")):
            lines.append(s)
    m = re.search(r"Build settings:(.*)", cfg)
    if m:
        keep = ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP", "USE_MKL", "BUILD_TYPE")
        items = [i.strip() for i in m.group(1).split(",")]
        lines.append("Build settings: " + ", ".join(i for i in items if i.startswith(keep)))
    return lines


def main(argv):
    args = parse_args(argv)
    maybe_reexec(args)
    try:
        import torch
    except Exception as e:
        print(f"cannot import torch: {e}")
        return 77
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pytorch"))
    from basin_torch import CifarResNet

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)

    print("== PyTorch peer benchmark ==")
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, "
          f"threads {torch.get_num_threads()} (cpu count {os.cpu_count()})")
    print(f"MKLDNN available: {torch.backends.mkldnn.is_available()}, "
          f"enabled: {torch.backends.mkldnn.enabled}")
    for line in torch_build_info(torch):
        print(f"  {line}")
    tun = os.environ.get("GLIBC_TUNABLES")
    print(f"GLIBC_TUNABLES: {tun if tun else '(unset)'}")
    if tun != RECOMMENDED_TUNABLES:
        print(f"  advice: run both PyTorch and basin with GLIBC_TUNABLES={RECOMMENDED_TUNABLES}")
    try:
        load = os.getloadavg()[0]
        if load > 0.5:
            print(f"  warning: load average {load:.2f}: the machine is not idle, numbers are indicative only")
    except OSError:
        pass

    depth = int(args.net.replace("resnet", ""))
    model = CifarResNet(depth, in_channels=1, num_classes=10, shortcut=True)
    flops = count_forward_flops(model, (1, 28, 28))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\nnet {args.net}: input 1x28x28, 10 classes, {n_params} parameters, "
          f"{flops / 1e6:.2f} MFLOP per image forward (2 x multiply-adds, counted by hooks); "
          f"training step counted as 3 x forward = {3 * flops / 1e6:.2f} MFLOP per image")
    print(f"{args.seconds:g} s per measurement\n")

    print(f"{'measurement':<24}{'batch':>6}{'images/s':>12}{'GFLOP/s':>10}")
    fwd = {}
    for b in args.batches:
        fwd[b] = measure_forward(model, b, args.seconds)
        print(f"{'PyTorch forward (eval)':<24}{b:>6}{fwd[b]:>12.1f}{fwd[b] * flops / 1e9:>10.2f}", flush=True)
    train_model = CifarResNet(depth, in_channels=1, num_classes=10, shortcut=True)
    train_ips = measure_train(train_model, args.train_batch, args.seconds)
    print(f"{'PyTorch train step':<24}{args.train_batch:>6}{train_ips:>12.1f}"
          f"{train_ips * 3 * flops / 1e9:>10.2f}", flush=True)
    best_b = max(fwd, key=fwd.get)
    print(f"PyTorch best forward: batch {best_b}, {fwd[best_b]:.1f} images/s")

    if not args.basin_json:
        print("\n(no --basin-json: basin's numbers not compared)")
        return 0

    print(f"\n== basin ({args.basin_json}) ==")
    try:
        basin, context = load_basin_json(args.basin_json, args.net)
    except (OSError, ValueError) as e:
        print(f"cannot read basin's benchmark JSON: {e}")
        return 2
    if isinstance(context, dict) and context:
        ctx = ", ".join(f"{k} {context[k]}" for k in ("host_name", "num_cpus", "mhz_per_cpu", "library_build_type")
                        if k in context)
        if ctx:
            print(f"context: {ctx}")
    if not basin:
        print(f"no forward/{args.net}/<batch> or train_step/{args.net}/<batch> benchmarks with a usable "
              f"images_per_second found")
        return 2
    print(f"{'measurement':<24}{'batch':>6}{'images/s':>12}{'GFLOP/s':>10}{'vs PyTorch':>12}")
    for (kind, b) in sorted(basin):
        ips = basin[(kind, b)]
        f = flops if kind == "forward" else 3 * flops
        ref = fwd.get(b) if kind == "forward" else (train_ips if b == args.train_batch else None)
        ratio = f"{ips / ref:.2f}x" if ref else "-"
        label = "basin forward" if kind == "forward" else "basin train step"
        print(f"{label:<24}{b:>6}{ips:>12.1f}{ips * f / 1e9:>10.2f}{ratio:>12}")

    print("\n== targets ==")
    all_met = True
    bf = {b: v for (k, b), v in basin.items() if k == "forward"}
    if bf:
        bb = max(bf, key=bf.get)
        r = bf[bb] / fwd[best_b]
        met = r >= TARGET_FORWARD
        all_met &= met
        print(f"forward:    basin best {bf[bb]:.1f} images/s (batch {bb}) / PyTorch best {fwd[best_b]:.1f} "
              f"(batch {best_b}) = {r:.2f}x, target >= {TARGET_FORWARD}x: {'MET' if met else 'NOT MET'}")
    else:
        all_met = False
        print(f"forward:    no basin forward/{args.net}/<batch> benchmark")
    bt = basin.get(("train_step", args.train_batch))
    if bt:
        r = bt / train_ips
        met = r >= TARGET_TRAIN
        all_met &= met
        print(f"train step: basin {bt:.1f} images/s / PyTorch {train_ips:.1f} at batch {args.train_batch} "
              f"= {r:.2f}x, target >= {TARGET_TRAIN}x: {'MET' if met else 'NOT MET'}")
    else:
        all_met = False
        print(f"train step: no basin train_step/{args.net}/{args.train_batch} benchmark")
    print(f"all targets met: {'yes' if all_met else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
