#!/usr/bin/env python3
"""Checks basin's filter pruning (net/prune.hpp) against the same rule written with PyTorch.

usage: check_prune.py DIR

DIR holds one folder per wide net (export_hessian's prune/resnet14_w2 and prune/plain14_w2), each
with wide.h5 (a net of width 2 in double) and l1_norm.h5, bn_scale.h5 (basin's net of width 1
pruned from it by that criterion). Here the wide checkpoint is loaded into basin_torch.py's
CifarResNet and pruned by walking its modules: every block's conv1 is a group of its own; in a
residual net each stage's stream (the stem conv or the stage's projection shortcut, and every
block's conv2) is one group whose score is the sum over its writers; in a plain net every conv is
a group. A group keeps the channels with the largest score (l1_norm: sum |conv.weight[c]|,
bn_scale: |bn.weight[c]|; torch.topk, then in increasing order; topk breaks ties in no stated
order where basin keeps the lower channel, but these random weights have no ties): the writers'
weights and batch norms at those channels (dim 0), the readers' weights (the next convs, the
projection, the linear layer) at those input channels (dim 1). Every tensor of basin's file must equal the one so
computed exactly (the same doubles gathered), with the same names and shapes, and the file must
load into a CifarResNet of the narrow width (strict).

exit status: 0 agree; 1 a mismatch; 2 a file is missing or malformed; 77 torch, h5py or numpy
cannot be imported (CTest SKIP_RETURN_CODE).
"""

import os
import sys

from check_common import BAD_INPUT, EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK, bad_input, h5py, torch
from basin_torch import load_basin_checkpoint, read_basin_tensors


def channel_groups(net):
    """[(writers [(conv, bn)], readers [module read on dim 1])] of a CifarResNet."""
    layers = [net.layer1, net.layer2, net.layer3]
    if not net.shortcut:
        convs = [(net.conv1, net.bn1)]
        for layer in layers:
            for b in layer:
                convs += [(b.conv1, b.bn1), (b.conv2, b.bn2)]
        readers = [c for c, _ in convs[1:]] + [net.linear]
        return [([w], [r]) for w, r in zip(convs, readers)]
    groups = []
    for s, layer in enumerate(layers):
        for b in layer:
            groups.append(([(b.conv1, b.bn1)], [b.conv2]))
        first = layer[0]
        writers = [(net.conv1, net.bn1)] if s == 0 else [(first.shortcut[0], first.shortcut[1])]
        writers += [(b.conv2, b.bn2) for b in layer]
        readers = [b.conv1 for b in (layer if s == 0 else list(layer)[1:])]
        if s < 2:
            readers += [layers[s + 1][0].conv1, layers[s + 1][0].shortcut[0]]
        else:
            readers.append(net.linear)
        groups.append((writers, readers))
    return groups


def pruned_state(net, criterion, narrow_width):
    names = {id(m): n for n, m in net.named_modules()}
    state = {k: v.clone() for k, v in net.state_dict().items()}
    for writers, readers in channel_groups(net):
        wide = writers[0][0].out_channels
        keep = wide * narrow_width // net.width
        if criterion == "l1_norm":
            score = sum(conv.weight.detach().abs().sum(dim=(1, 2, 3)) for conv, _ in writers)
        else:
            score = sum(bn.weight.detach().abs() for _, bn in writers)
        idx = torch.topk(score, keep).indices.sort().values
        for conv, bn in writers:
            c = names[id(conv)]
            state[c + ".weight"] = state[c + ".weight"].index_select(0, idx)
            for t in ("weight", "bias", "running_mean", "running_var"):
                k = names[id(bn)] + "." + t
                state[k] = state[k].index_select(0, idx)
        for r in readers:
            k = names[id(r)] + ".weight"
            state[k] = state[k].index_select(1, idx)
    return state


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return EXIT_BAD_INPUT
    root = argv[1]
    failures = 0
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))) if os.path.isdir(root) else []
    if len(folders) != 2:
        print(f"bad input: expected two folders of wide nets in {root}, found {folders}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for folder in folders:
        try:
            wide, arch = load_basin_checkpoint(os.path.join(root, folder, "wide.h5"), dtype=torch.float64)
        except BAD_INPUT as e:
            return bad_input(e)
        for criterion in ("l1_norm", "bn_scale"):
            path = os.path.join(root, folder, criterion + ".h5")
            try:
                with h5py.File(path, "r") as f:
                    got = read_basin_tensors(f)
                narrow, narrow_arch = load_basin_checkpoint(path, dtype=torch.float64)
            except BAD_INPUT as e:
                return bad_input(e)
            want = pruned_state(wide, criterion, narrow.width)
            bad = sorted(set(want) ^ set(got))
            for k in sorted(set(want) & set(got)):
                if got[k].numel() != want[k].numel():
                    bad.append(k)
                elif not torch.equal(want[k], got[k].to(want[k].dtype).reshape(want[k].shape)):
                    bad.append(k)
            failures += bool(bad)
            print(f"{arch} -> {narrow_arch} by {criterion}: {len(got)} tensors, "
                  f"{'all equal' if not bad else 'these differ: ' + ', '.join(bad[:8])}")
    return EXIT_MISMATCH if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv))
