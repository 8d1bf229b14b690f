#!/usr/bin/env python3
"""PyTorch's checkpoints in basin: examples/torch_to_basin.py, then basin's load_checkpoint.

usage: check_import.py EXPORT_CHECK SCRATCH_DIR

For three nets defined in PyTorch (basin_torch.py: the reference tool's resnet20 on 1x28x28,
VGG-9 and densenet_cifar on 3x32x32) with random weights and running statistics, saved as
training scripts save them (a bare state_dict; {"state_dict": ..., "epoch": 7} from
nn.DataParallel, with "module." prefixes; {"model_state_dict": ...}), it converts
the file, has EXPORT_CHECK --import load it into basin's net of the same name and compute the
eval-mode logits of a batch, and compares them with PyTorch's (float32: 1e-4 of the largest).
Then the refusals: a state_dict without a tensor, with an unexpected one and with a wrong shape
(basin names the tensor and exits 2), and files the converter must refuse with a message naming
them (not a torch file, a dict without a state_dict, a module without --trust), and --trust.

exit status: 0 all pass; 1 a failure; 77 torch, h5py or numpy missing (CTest SKIP_RETURN_CODE).
The scratch folder is removed when every check passes and kept (and named) otherwise.
"""

import os
import shutil
import subprocess
import sys

from check_common import EXIT_MISMATCH as EXIT_FAIL, EXIT_OK, h5py, np, torch
import basin_torch as bt

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "..", "examples", "torch_to_basin.py")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return EXIT_FAIL
    exe, scratch = sys.argv[1], sys.argv[2]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    def convert(src, dst, *extra):  # the converter unpickles basin_torch's classes: on its path
        env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
        return subprocess.run([sys.executable, CONVERTER, src, dst, *extra], capture_output=True, text=True, env=env)

    def run_basin(net, weights, batch):
        return subprocess.run([exe, "--import", net, weights, batch], capture_output=True, text=True)

    gen = torch.Generator().manual_seed(5)
    nets = [
        ("resnet20_fashion", bt.CifarResNet(20, in_channels=1), (1, 28, 28), "data_parallel"),
        ("vgg9_cifar", bt.VGG9(in_channels=3, input_size=32), (3, 32, 32), "bare"),
        ("densenet_cifar", bt.DenseNet([6, 12, 24, 16], 12, in_channels=3), (3, 32, 32), "model_state_dict"),
    ]
    for name, model, shape, saved_as in nets:
        bt.randomize(model, gen)
        model.eval()
        x = torch.randn((5, *shape), generator=gen)
        with torch.no_grad():
            ref = model(x).numpy().astype(np.float64)
        sd = model.state_dict()
        src = os.path.join(scratch, f"{name}.pt")
        if saved_as == "data_parallel":
            torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 7}, src)
        elif saved_as == "model_state_dict":
            torch.save({"model_state_dict": sd, "optimizer_state_dict": {}}, src)
        else:
            torch.save(sd, src)
        h5 = os.path.join(scratch, f"{name}.h5")
        r = convert(src, h5)
        check(r.returncode == 0, f"{name}: converted ({saved_as}) {r.stdout.strip()} {r.stderr.strip()}")
        if r.returncode != 0:
            continue
        with h5py.File(h5, "r") as f:
            check(f.attrs["format"] == "torch-state-dict-1", f"{name}: format attribute")
            check(set(f.keys()) == set(sd.keys()), f"{name}: the state_dict's names without 'module.'")
            if saved_as == "data_parallel":
                check(int(f.attrs.get("epoch", -1)) == 7, f"{name}: the epoch beside the state_dict")
        batch = os.path.join(scratch, f"{name}_batch.h5")
        with h5py.File(batch, "w") as f:
            f.create_dataset("input", data=x.numpy().astype(np.float32))
        r = run_basin(name, h5, batch)
        check(r.returncode == 0, f"{name}: basin loaded it ({r.stdout.strip()} {r.stderr.strip()})")
        if r.returncode != 0:
            continue
        with h5py.File(batch, "r") as f:
            got = f["basin_logits"][()].astype(np.float64)
        err = np.abs(got - ref).max() / np.abs(ref).max()
        check(got.shape == ref.shape and err < 1e-4, f"{name}: logits agree with PyTorch's (max rel {err:.2e})")

    # Refusals by basin, on resnet20: each message names the tensor.
    good = bt.CifarResNet(20, in_channels=1).state_dict()
    batch = os.path.join(scratch, "resnet20_fashion_batch.h5")
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "linear.bias"}, "missing 'linear.bias'"),
        "unexpected": ({**good, "fc.weight": torch.zeros(10, 64)}, "unexpected 'fc.weight'"),
        "shape": ({**good, "conv1.weight": torch.zeros(16, 3, 3, 3)}, "tensor 'conv1.weight' has shape (16, 3, 3, 3)"),
    }
    for case, (sd, needle) in cases.items():
        src, h5 = os.path.join(scratch, f"bad_{case}.pt"), os.path.join(scratch, f"bad_{case}.h5")
        torch.save(sd, src)
        r = convert(src, h5)
        check(r.returncode == 0, f"refusal '{case}': converted")
        r = run_basin("resnet20_fashion", h5, batch)
        check(r.returncode == 2 and needle in r.stderr and h5 in r.stderr,
              f"refusal '{case}': basin exits 2 naming the file and {needle!r} ({r.stderr.strip()})")

    # Refusals by the converter: the message names the file and says what it found.
    junk = os.path.join(scratch, "junk.pt")
    with open(junk, "wb") as f:
        f.write(b"not a torch file")
    nested = os.path.join(scratch, "nested.pt")
    torch.save({"weights": {"a": 1}}, nested)
    module = os.path.join(scratch, "module.pt")
    torch.save(bt.CifarResNet(20, in_channels=1), module)
    for src, needle in ((junk, "torch.load failed"), (nested, "its keys: 'weights'"),
                        (module, "--trust"), (os.path.join(scratch, "absent.pt"), "no such file")):
        out = os.path.join(scratch, "refused.h5")
        r = convert(src, out)
        check(r.returncode == 1 and src in r.stderr and needle in r.stderr and not os.path.exists(out)
              and not os.path.exists(out + ".tmp"), f"converter refuses {os.path.basename(src)}: {r.stderr.strip()}")
    # A tensor basin cannot hold, and an output that cannot be written: refused, named.
    cplx = os.path.join(scratch, "complex.pt")
    torch.save({**good, "linear.bias": torch.zeros(10, dtype=torch.complex64)}, cplx)
    r = convert(cplx, os.path.join(scratch, "complex.h5"))
    check(r.returncode == 1 and "'linear.bias' is torch.complex64" in r.stderr, f"complex tensor: {r.stderr.strip()}")
    nowhere = os.path.join(scratch, "no_such_folder", "out.h5")
    r = convert(os.path.join(scratch, "vgg9_cifar.pt"), nowhere)
    check(r.returncode == 1 and f"'{nowhere}': cannot write it" in r.stderr, f"unwritable output: {r.stderr.strip()}")
    # With --trust: a whole module (its class importable) and objects beside the state_dict.
    with_float = os.path.join(scratch, "with_float.pt")
    torch.save({"state_dict": good, "epoch": 3, "acc": 91.5}, with_float)
    for src in (module, with_float):
        r = convert(src, os.path.join(scratch, "trusted.h5"), "--trust")
        check(r.returncode == 0, f"{os.path.basename(src)} converts with --trust ({r.stderr.strip()})")

    if failures:
        print(f"check_import: {len(failures)} failed; files kept in {scratch}")
        return EXIT_FAIL
    shutil.rmtree(scratch, ignore_errors=True)
    print("check_import: all passed")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
