#!/usr/bin/env python3
"""Self-test of check_forward.py without basin: writes basin-style check files from PyTorch.

usage: selftest_check_forward.py [WORKDIR]

For a few nets (resnet8, plain8, resnet20; 1x28x28 and 3x32x32; float32 and float64; eval and
train mode) it writes a checkpoint laid out as basin writes one, with random weights and random
batch-norm statistics, plus the check group holding PyTorch's own logits, loss and (train mode)
updated running statistics, and requires check_forward.py to pass; then it perturbs one logit,
the loss, or one running statistic and requires exit status 1 (in float64 also one logit by 1e-7
of the largest, which float32's tolerance would pass), and leaves a train-mode file's running
statistics out, which must exit 2. Exit status 0 when all behave,
1 otherwise, 77 when torch, h5py or numpy cannot be imported.
"""

import copy
import os
import subprocess
import sys

from check_common import h5py, np, selftest_folder, selftest_verdict, torch
import torch.nn.functional as F
from basin_torch import CifarResNet, randomize

HERE = os.path.dirname(os.path.abspath(__file__))


def write_check_file(path, model, x, labels, mode, perturb=None):
    ref = copy.deepcopy(model)
    ref.train(mode == "train")
    with torch.no_grad():
        logits = ref(x)
        loss = F.cross_entropy(logits, labels)
    logits, loss = logits.numpy().copy(), np.array(loss.item(), dtype=logits.numpy().dtype)
    after = {k: v.numpy().copy() for k, v in ref.state_dict().items()
             if "running_" in k or "num_batches_tracked" in k}
    if perturb == "logit":
        logits[1, 3] += 1e-3 * np.abs(logits).max()
    elif perturb == "tiny":  # within float32's tolerance, far outside float64's (1e-10)
        logits[1, 3] += 1e-7 * np.abs(logits).max()
    elif perturb == "loss":
        loss = loss * (1 + 1e-3)
    elif perturb == "running":
        k = sorted(k for k in after if k.endswith("running_var"))[-1]
        after[k][0] *= 1.01
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "basin-checkpoint-1"
        f.attrs["architecture"] = model.architecture
        f.attrs["fingerprint"] = np.uint64(1234567)
        f.attrs["epoch"] = np.int64(-1)
        f.attrs["step"] = np.int64(-1)
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                f.create_dataset(k, data=np.int64(v.item()))
            else:
                f.create_dataset(k, data=v.numpy().astype(np.float32))
        g = f.create_group("check")
        g.attrs["mode"] = mode
        g.create_dataset("input", data=x.numpy())
        g.create_dataset("labels", data=labels.numpy().astype(np.int32))
        g.create_dataset("logits", data=logits)
        g.create_dataset("loss", data=loss)
        if mode == "train" and perturb != "no_running":
            for k, v in after.items():
                g.create_dataset(f"running_after/{k}", data=v)


def run_check(path):
    r = subprocess.run([sys.executable, os.path.join(HERE, "check_forward.py"), path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def main(argv):
    workdir = selftest_folder(argv, "basin_check_")
    gen = torch.Generator().manual_seed(7)
    cases = [  # depth, shortcut, in_channels, size, dtype, mode, perturbations expected to fail
        (8, True, 1, 28, torch.float32, "eval", ["logit", "loss"]),
        (8, False, 3, 32, torch.float64, "eval", ["logit", "tiny"]),
        (8, True, 1, 28, torch.float64, "train", ["logit", "running", "no_running"]),
        (20, True, 1, 28, torch.float32, "train", ["running"]),
    ]
    failures = 0
    for depth, shortcut, c, hw, dtype, mode, perturbs in cases:
        model = CifarResNet(depth, in_channels=c, shortcut=shortcut)
        randomize(model, gen)
        model = model.to(dtype)
        x = torch.randn(6, c, hw, hw, generator=gen, dtype=dtype)
        labels = torch.randint(0, 10, (6,), generator=gen)
        tag = f"{model.architecture}_{c}x{hw}_{str(dtype)[6:]}_{mode}"
        for perturb in [None] + perturbs:
            path = os.path.join(workdir, f"{tag}_{perturb or 'exact'}.h5")
            write_check_file(path, model, x, labels, mode, perturb)
            rc, out = run_check(path)
            # (train mode without the running statistics is a malformed file: exit 2)
            want = 0 if perturb is None else 2 if perturb == "no_running" else 1
            good = rc == want
            failures += not good
            print(f"{'ok  ' if good else 'FAIL'} {tag} perturb={perturb}: exit {rc} (want {want})")
            if not good or perturb is None:
                print("    " + out.strip().replace("\n", "\n    "))
    # Without torch (python -S -E: no site-packages) the checker reports a skip, CTest's 77, not a pass or a
    # mismatch; tried only where that interpreter indeed cannot import torch.
    bare = [sys.executable, "-S", "-E"]
    if subprocess.run(bare + ["-c", "import torch"], capture_output=True).returncode != 0:
        r = subprocess.run(bare + [os.path.join(HERE, "check_forward.py"), path], capture_output=True, text=True)
        good = r.returncode == 77 and r.stdout.startswith("skipped: cannot import torch")
        failures += not good
        print(f"{'ok  ' if good else 'FAIL'} without torch: exit {r.returncode} (want 77), {r.stdout.strip()!r}")
    else:
        print("note: python -S -E imports torch here: the skip without torch was not tried")
    return selftest_verdict(failures, argv, workdir)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
