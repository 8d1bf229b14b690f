#!/usr/bin/env python3
"""Converts a PyTorch checkpoint into a file basin loads: one HDF5 dataset per state_dict tensor.

    /usr/bin/python3 examples/torch_to_basin.py model.pt model.h5
    plot_surface --model resnet56 --dataset cifar10 --model_file model.h5 --x=-1:1:51 --y=-1:1:51
    # the reference tool's checkpoints (a float 'acc' beside the state_dict): --trust, see below
    /usr/bin/python3 examples/torch_to_basin.py --trust model_300.t7 model_300.h5

The input is what torch.save wrote: a state_dict, a dict holding one (under "state_dict",
"model_state_dict", "state", "model" or "net", as the reference tool and most training scripts
save them), or a whole module. DataParallel's "module." prefix is removed. The output has the
tensors at its root under their state_dict names with their shapes (floating point as float32,
or float64 when stored so; integers, such as num_batches_tracked, as int64) and the root attribute format
"torch-state-dict-1"; an "epoch" entry beside the state_dict becomes the attribute "epoch".

basin's load_checkpoint (and every example that reads --model_file or --checkpoint) reads such a
file into a zoo net with the same tensor names and shapes, as PyTorch's strict load_state_dict:
the CIFAR ResNets and plain nets, VGG-9 and the DenseNets of the reference tool
(tests/pytorch/basin_torch.py defines the same nets in PyTorch). A missing or unexpected tensor
or a wrong shape is refused, naming the tensor (a missing num_batches_tracked counts 0, as in PyTorch).

By default only tensors and plain containers are unpickled (torch.load's weights_only). A file
holding a whole module (its class importable: PYTHONPATH) or other objects that loader refuses
(torch 1.13's refuses even a float beside the state_dict) needs --trust, which unpickles
everything and so runs whatever code the file holds: only for files from a trusted source.
Needs torch, h5py and numpy (Debian: python3-torch, python3-h5py).
"""

import argparse
import os
import sys

FORMAT = "torch-state-dict-1"
CONTAINER_KEYS = ("state_dict", "model_state_dict", "state", "model", "net")


class ConversionError(Exception):
    pass


def as_epoch(value, torch):
    """An epoch stored beside a state_dict (an int, or a 0-d integer tensor), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point():
        return int(value)
    return None


def find_state_dict(obj, torch, source):
    """The state_dict inside what torch.load returned, and the epoch stored beside it (or None)."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), None
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj, None
        for key in CONTAINER_KEYS:
            if key in obj:
                inner, inner_epoch = find_state_dict(obj[key], torch, f"{source}['{key}']")
                epoch = as_epoch(obj.get("epoch"), torch)
                return inner, epoch if epoch is not None else inner_epoch
        keys = ", ".join(repr(k) for k in list(obj)[:8])
        raise ConversionError(f"{source}: a dict of neither tensors nor a state_dict under one of "
                              f"{', '.join(CONTAINER_KEYS)} (its keys: {keys})")
    raise ConversionError(f"{source}: holds a {type(obj).__name__}, expected a state_dict, a dict holding one "
                          "or a module")


def load(src, trust, torch):
    """torch.load, restricted to tensors and plain containers unless trust."""
    import inspect

    if not os.path.isfile(src):
        raise ConversionError(f"'{src}': no such file")
    kwargs = {"map_location": "cpu"}
    if not trust:
        if "weights_only" not in inspect.signature(torch.load).parameters:
            raise ConversionError(f"'{src}': this torch ({torch.__version__}) cannot load a file without running its "
                                  "code (no weights_only): use --trust, for files from a trusted source only")
        kwargs["weights_only"] = True
    try:
        return torch.load(src, **kwargs)
    except Exception as e:  # pickle errors, truncated zip archives, ...
        hint = "" if trust else " (a file holding pickled modules or other objects needs --trust: trusted files only)"
        raise ConversionError(f"'{src}': torch.load failed: {e}{hint}") from e


def convert(src, dst, trust=False):
    import torch

    state, epoch = find_state_dict(load(src, trust, torch), torch, f"'{src}'")
    if not state:
        raise ConversionError(f"'{src}': the state_dict holds no tensors")
    if all(n.startswith("module.") for n in state):  # saved from nn.DataParallel
        state = {n[len("module."):]: v for n, v in state.items()}
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise ConversionError(f"'{src}': entry '{name}' is a {type(t).__name__}, not a tensor")
        if not name or "/" in name or name == ".":
            raise ConversionError(f"'{src}': tensor name {name!r} cannot name an HDF5 dataset")
        if t.is_complex() or t.is_sparse or t.is_quantized:
            raise ConversionError(f"'{src}': tensor '{name}' is {t.dtype}{' sparse' if t.is_sparse else ''}: "
                                  "basin's nets hold real dense tensors")
    tmp = dst + ".tmp"
    try:
        write(state, tmp, src, epoch, torch)
        os.replace(tmp, dst)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, (OSError, ValueError, TypeError)):
            raise ConversionError(f"'{dst}': cannot write it: {e}") from e
        raise
    return len(state), sum(int(t.numel()) for t in state.values() if t.is_floating_point())


def write(state, tmp, src, epoch, torch):
    import h5py
    import numpy as np

    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["source"] = os.path.abspath(src)
        if epoch is not None:
            f.attrs["epoch"] = np.int64(epoch)
        for name, t in state.items():
            t = t.detach().cpu()
            if t.is_floating_point():  # float64 kept, float16 and bfloat16 widened to float32
                a = t.numpy() if t.dtype == torch.float64 else t.to(torch.float32).numpy()
                if not np.isfinite(a).all():
                    print(f"torch_to_basin: warning: '{src}': tensor '{name}' holds non-finite values",
                          file=sys.stderr)
            else:  # num_batches_tracked; other integer or bool buffers (basin's nets have none)
                a = t.to(torch.int64).numpy()
            f.create_dataset(name, data=a)


def main(argv=None):
    p = argparse.ArgumentParser(description="Convert a PyTorch checkpoint into basin's HDF5 state_dict file.")
    p.add_argument("source", help="file written by torch.save")
    p.add_argument("output", help="HDF5 file to write (replaced atomically)")
    p.add_argument("--trust", action="store_true",
                   help="unpickle everything: modules and other objects (runs the file's code: trusted files only)")
    a = p.parse_args(argv)
    try:
        tensors, values = convert(a.source, a.output, a.trust)
    except ConversionError as e:
        print(f"torch_to_basin: {e}", file=sys.stderr)
        return 1
    print(f"torch_to_basin: wrote {a.output}: {tensors} tensors, {values} floating-point values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
