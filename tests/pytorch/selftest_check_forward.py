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
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write_check_file(path, model, x, labels, mode, perturb=None):
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F

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
    try:
        import numpy  # noqa: F401
        import h5py  # noqa: F401
        import torch
    except Exception as e:
        print(f"SKIP: cannot import torch/h5py/numpy ({e})")
        return 77
    sys.path.insert(0, HERE)
    from basin_torch import CifarResNet, randomize

    # A directory given is kept; a scratch one is removed when every case passed, kept to look at otherwise.
    scratch = len(argv) <= 1
    workdir = argv[1] if not scratch else tempfile.mkdtemp(prefix="basin_check_")
    os.makedirs(workdir, exist_ok=True)
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
    print("selftest PASSED" if failures == 0 else f"selftest FAILED ({failures} cases)")
    if scratch and failures == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    elif scratch:
        print(f"the cases' files are kept in {workdir}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
