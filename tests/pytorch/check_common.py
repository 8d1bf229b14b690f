"""What the PyTorch check scripts in this folder share.

Importing this module is the check that PyTorch is there: it imports torch, h5py and numpy, and when
any of them cannot be imported (missing, or a broken installation) it prints why and exits with 77,
CTest's SKIP_RETURN_CODE for these tests, so that a machine without python3-torch shows the
comparisons as skipped rather than passed or failed. The scripts import it before anything that needs
torch, and their exit statuses are the ones below.
"""

import os
import shutil
import sys
import tempfile

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_SKIP = 0, 1, 2, 77

# What reading a missing or malformed file raises: h5py OSError (no such file, not HDF5) or KeyError
# (no such dataset), a shape or value check ValueError, torch RuntimeError (a tensor that does not fit).
BAD_INPUT = (OSError, ValueError, KeyError, RuntimeError)

try:
    import h5py
    import numpy as np
    import torch
except Exception as e:  # ImportError, or a broken installation
    print(f"skipped: cannot import torch, h5py or numpy ({type(e).__name__}: {e})")
    sys.exit(EXIT_SKIP)


def bad_input(e):
    """Says why the input could not be read; the exit status for it."""
    print(f"bad input: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT


def verdict(mismatches, agreement):
    """Prints each mismatch, or the agreement when there is none; the exit status."""
    for m in mismatches:
        print("MISMATCH", m)
    if mismatches:
        return EXIT_MISMATCH
    print(agreement)
    return EXIT_OK


def model_and_data(folder, dtype=torch.float64):
    """folder/model.h5 as a PyTorch net of dtype (basin_torch.load_basin_checkpoint) with its
    architecture name, and folder/data.h5's input (float64) and labels (int64): what the export
    programs write for a check."""
    from basin_torch import load_basin_checkpoint

    net, arch = load_basin_checkpoint(os.path.join(folder, "model.h5"), dtype=dtype)
    with h5py.File(os.path.join(folder, "data.h5"), "r") as f:
        x = torch.from_numpy(np.array(f["input"][()], dtype=np.float64))
        y = torch.from_numpy(np.array(f["labels"][()]).astype(np.int64))
    return net, arch, x, y


def selftest_folder(argv, prefix):
    """Where a checker's selftest writes its cases: the folder argv[1] when given (kept), otherwise
    a new scratch folder, removed by selftest_verdict when every case passed."""
    folder = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix=prefix)
    os.makedirs(folder, exist_ok=True)
    return folder


def selftest_verdict(failures, argv, folder):
    """Says whether the selftest passed and cleans up its scratch folder (kept when a case failed,
    to look at); the exit status."""
    print("selftest PASSED" if failures == 0 else f"selftest FAILED ({failures} cases)")
    if len(argv) <= 1 and failures == 0:
        shutil.rmtree(folder, ignore_errors=True)
    elif len(argv) <= 1:
        print(f"the cases' files are kept in {folder}")
    return EXIT_OK if failures == 0 else EXIT_MISMATCH
