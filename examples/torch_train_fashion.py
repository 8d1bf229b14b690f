#!/usr/bin/env python3
"""A PyTorch user's training run whose model basin then sweeps: resnet20 on Fashion-MNIST.

    /usr/bin/python3 examples/torch_train_fashion.py --epochs 1 --out torch_resnet20.pt
    /usr/bin/python3 examples/torch_to_basin.py torch_resnet20.pt torch_resnet20.h5
    ./build/release/examples/plot_surface --model resnet20 --model_file torch_resnet20.h5 \\
        --x=-1:1:11 --y=-1:1:11 --subset 2000 --plot

The model is the reference tool's CIFAR ResNet-20 with one input channel (tests/pytorch/
basin_torch.py, PyTorch's default initialization), trained as its cifar10/main.py trains: SGD
with Nesterov momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.1 (constant here),
on pixels standardized by the training set's mean and deviation (as
basin's examples standardize them, so plot_surface sees the same inputs). It prints the test loss
and accuracy on the first --eval-subset test images (plot_surface's --subset: its value at the
origin must be this one) and on all 10000, and saves {"state_dict": ..., "epoch": ...}.
With --save-dir DIR it also saves DIR/model_<epoch>.pt after every epoch and DIR/model_0.pt before
the first, as the reference's cifar10/main.py saves model_<epoch>.t7: a training path, which
examples/plot_trajectory draws once the files are converted:

    /usr/bin/python3 examples/torch_train_fashion.py --epochs 3 --train-subset 6000 --save-dir torch_run
    for f in torch_run/model_*.pt; do /usr/bin/python3 examples/torch_to_basin.py $f ${f%.pt}.h5; done
    ./build/release/examples/plot_trajectory --model resnet20 --model_folder torch_run --max_epoch 3
Needs torch and numpy (Debian: python3-torch) and the IDX files of --data (Debian:
dataset-fashion-mnist).
"""

import argparse
import gzip
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path, images):
    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    header = 16 if images else 8
    magic = int.from_bytes(raw[:4], "big")
    if magic != (2051 if images else 2049):
        sys.exit(f"torch_train_fashion: '{path}': magic {magic}, expected {2051 if images else 2049}")
    n = int.from_bytes(raw[4:8], "big")
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    return data.reshape(n, 1, 28, 28) if images else data.astype(np.int64)


def load(data_dir, split):
    def find(stem):
        for name in (stem + "-ubyte.gz", stem + "-ubyte"):
            p = os.path.join(data_dir, name)
            if os.path.exists(p):
                return p
        sys.exit(f"torch_train_fashion: no {stem}-ubyte[.gz] in '{data_dir}'")

    prefix = "train" if split == "train" else "t10k"
    x = read_idx(find(f"{prefix}-images-idx3"), True)
    y = read_idx(find(f"{prefix}-labels-idx1"), False)
    return x, y


def evaluate(model, x, y, batch=500):
    import torch
    import torch.nn.functional as F

    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            z = model(x[i:i + batch])
            loss += F.cross_entropy(z, y[i:i + batch], reduction="sum").item()
            correct += (z.argmax(1) == y[i:i + batch]).sum().item()
    return loss / len(x), 100.0 * correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eval-subset", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="torch_resnet20.pt")
    p.add_argument("--train-subset", type=int, default=0, help="train on the first N images (0: all)")
    p.add_argument("--save-dir", default="", help="also save DIR/model_<epoch>.pt, epoch 0 the initialization")
    a = p.parse_args()
    if a.epochs < 1 or a.batch_size < 1 or a.eval_subset < 1 or a.train_subset < 0 or not a.lr > 0:
        sys.exit("torch_train_fashion: --epochs, --batch-size and --eval-subset must be at least 1, --lr "
                 f"positive and --train-subset at least 0; got {a.epochs}, {a.batch_size}, {a.eval_subset}, "
                 f"{a.lr} and {a.train_subset}")
    if a.save_dir:
        try:
            os.makedirs(a.save_dir, exist_ok=True)
        except OSError as e:
            sys.exit(f"torch_train_fashion: --save-dir '{a.save_dir}': {e.strerror}")

    import numpy as np
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.join(HERE, "..", "tests", "pytorch"))
    from basin_torch import CifarResNet

    torch.manual_seed(a.seed)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "test")
    # As basin's reader and normalize: pixels b / 255 in float32, their mean and population
    # deviation over every training pixel in double, (p - mean) / deviation rounded to float32.
    xtr, xte = (x.astype(np.float32) / np.float32(255) for x in (xtr, xte))
    mean, std = xtr.astype(np.float64).mean(), xtr.astype(np.float64).std()
    to_t = lambda x: torch.from_numpy(((x.astype(np.float64) - mean) / std).astype(np.float32))
    xtr, xte = to_t(xtr), to_t(xte)
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)
    if a.train_subset:  # the first N, as basin's --train-subset (after the statistics of all 60000)
        xtr, ytr = xtr[:a.train_subset], ytr[:a.train_subset]
    print(f"training set: {len(xtr)} images, mean {mean:.4f}, deviation {std:.4f}; {torch.get_num_threads()} threads")

    model = CifarResNet(20, in_channels=1)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = (len(xtr) + a.batch_size - 1) // a.batch_size

    def save_epoch(epoch):
        if a.save_dir:
            path = os.path.join(a.save_dir, f"model_{epoch}.pt")
            torch.save({"state_dict": model.state_dict(), "epoch": epoch}, path)
            print(f"saved {path}", flush=True)

    save_epoch(0)
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(xtr))
        start, seen, total = time.time(), 0, 0.0
        for s in range(steps):
            idx = order[s * a.batch_size:(s + 1) * a.batch_size]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen, total = seen + len(idx), total + loss.item() * len(idx)
            if (s + 1) % max(1, steps // 10) == 0 or s + 1 == steps:
                rate = seen / (time.time() - start)
                print(f"epoch {epoch + 1}/{a.epochs}: {seen}/{len(xtr)} images, loss {total / seen:.4f}, "
                      f"{rate:.0f} images/s, ETA {(len(xtr) - seen) / rate:.0f} s", flush=True)
        save_epoch(epoch + 1)
    sub_loss, sub_acc = evaluate(model, xte[:a.eval_subset], yte[:a.eval_subset])
    all_loss, all_acc = evaluate(model, xte, yte)
    print(f"test loss {sub_loss:.4f}, accuracy {sub_acc:.2f}% on the first {a.eval_subset} test images; "
          f"{all_loss:.4f}, {all_acc:.2f}% on all {len(xte)}")
    torch.save({"state_dict": model.state_dict(), "epoch": a.epochs}, a.out)
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()
