"""PyTorch twin of basin's zoo networks, and a reader for basin's HDF5 checkpoints.

basin's checkpoints (include/basin/io/checkpoint.hpp) store one dataset per tensor at the file
root, named and shaped exactly as this module's CifarResNet.state_dict() names and shapes them,
with the root attribute "architecture" ("resnet20", "plain56", ...). This module therefore lets a
test or a user load a basin checkpoint into PyTorch and run it there.

Network (the CIFAR ResNet of the loss-landscape reference, Li et al. 2018):
  conv1 3x3 (in_ch -> 16, pad 1, no bias), bn1, relu
  layer1, layer2, layer3: n = (depth - 2) / 6 BasicBlocks each, with 16 / 32 / 64 planes; the
    first block of layer2 and of layer3 has stride 2
  global average pool over the whole remaining spatial extent, flatten, linear(64, classes)
BasicBlock: out = relu(bn1(conv1(x))); out = bn2(conv2(out)); out = relu(out + shortcut(x)),
  with shortcut = Sequential(conv 1x1 stride s no bias, BatchNorm2d) when the stride or the width
  changes, identity otherwise. A "plain" net has no shortcut at all: out = relu(bn2(conv2(...))).

DenseNet (DenseNet-BC of the reference tool's cifar10/models/densenet.py): conv1 3x3 to 2k
  channels; dense blocks of Bottlenecks (bn1, relu, conv1 1x1 to 4k, bn2, relu, conv2 3x3 to k,
  then torch.cat([out, x], 1)), a Transition between blocks (bn, relu, conv 1x1 to half the
  channels rounded down, avg_pool2d 2); bn, relu, global average pool, linear. Architectures
  "densenet121" (k 32; 6, 12, 24, 16), "densenet_cifar" (k 12, same blocks), "densenet_k<k>_<a>-<b>-...".

VGG-9 (the reference tool's cifar10/models/vgg.py): features = convs 64, 64, M, 128, 128, M, 256,
  256, 256, M (3x3, pad 1, bias, each with BatchNorm2d and relu; M a 2x2 max pool), flatten,
  fc = Linear(256 * s * s, 256), BatchNorm1d, relu; classifier Linear(256, classes). Architecture
  "vgg9". Pooling with ceil_mode=True as the reference: 32x32 and 28x28 inputs both end at 4x4.

MLP: flatten, then layers = Sequential(Linear, ReLU, ..., Linear). Architecture "mlp_<h>-<h>-..."
  (hidden widths; "mlp" for none).

Only torch (and, for load_basin_checkpoint, h5py and numpy) are needed.
"""

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["BasicBlock", "CifarResNet", "Bottleneck", "Transition", "DenseNet", "VGG9", "MLP", "parse_architecture",
           "read_basin_tensors", "load_basin_checkpoint", "randomize"]


class BasicBlock(nn.Module):
    """Two 3x3 conv + batch-norm stages, with a residual connection unless shortcut=False."""

    def __init__(self, in_planes, planes, stride=1, shortcut=True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual = shortcut
        if shortcut:
            # Registered only for residual nets, so that a plain net's state_dict has no
            # "shortcut" entries at all; an identity shortcut is an empty Sequential (no tensors).
            if stride != 1 or in_planes != planes:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )
            else:
                self.shortcut = nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """CIFAR-style ResNet (or plain net) of the given depth (6n + 2)."""

    def __init__(self, depth, in_channels=1, num_classes=10, shortcut=True, width=1):
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.shortcut = shortcut
        self.width = width
        w = width
        self.conv1 = nn.Conv2d(in_channels, 16 * w, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16 * w)
        self._in_planes = 16 * w
        self.layer1 = self._make_layer(16 * w, n, 1, shortcut)
        self.layer2 = self._make_layer(32 * w, n, 2, shortcut)
        self.layer3 = self._make_layer(64 * w, n, 2, shortcut)
        self.linear = nn.Linear(64 * w, num_classes)
        del self._in_planes

    def _make_layer(self, planes, n, stride, shortcut):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self._in_planes, planes, s, shortcut))
            self._in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)

    @property
    def architecture(self):
        suffix = f"_w{self.width}" if self.width > 1 else ""
        return f"{'resnet' if self.shortcut else 'plain'}{self.depth}{suffix}"


class Bottleneck(nn.Module):
    """DenseNet-BC layer: k new features from bn-relu-conv1x1(4k)-bn-relu-conv3x3(k), put in front of x."""

    def __init__(self, in_planes, growth_rate):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    """Between dense blocks: bn-relu-conv1x1 then 2x2 average pooling."""

    def __init__(self, in_planes, out_planes):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(nn.Module):
    """DenseNet-BC with growth rate k and the given numbers of layers per dense block."""

    def __init__(self, blocks, growth_rate, in_channels=3, num_classes=10):
        super().__init__()
        self.blocks = list(blocks)
        self.growth_rate = growth_rate
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(in_channels, planes, kernel_size=3, padding=1, bias=False)
        for i, n in enumerate(self.blocks, start=1):
            layers = []
            for _ in range(n):
                layers.append(Bottleneck(planes, growth_rate))
                planes += growth_rate
            setattr(self, f"dense{i}", nn.Sequential(*layers))
            if i < len(self.blocks):
                out_planes = planes // 2
                setattr(self, f"trans{i}", Transition(planes, out_planes))
                planes = out_planes
        self.bn = nn.BatchNorm2d(planes)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x):
        out = self.conv1(x)
        for i in range(1, len(self.blocks) + 1):
            out = getattr(self, f"dense{i}")(out)
            if i < len(self.blocks):
                out = getattr(self, f"trans{i}")(out)
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)
        return self.linear(out)

    @property
    def architecture(self):
        if self.blocks == [6, 12, 24, 16] and self.growth_rate in (32, 12):
            return "densenet121" if self.growth_rate == 32 else "densenet_cifar"
        return f"densenet_k{self.growth_rate}_" + "-".join(str(b) for b in self.blocks)


class VGG9(nn.Module):
    """The reference tool's VGG-9 (max pooling with ceil_mode=True, as there and in basin)."""

    def __init__(self, in_channels=3, input_size=32, num_classes=10, pooled_size=None):
        """pooled_size: the side after the three poolings, when known (a checkpoint's fc.0 gives it)."""
        super().__init__()
        layers, size, ch = [], input_size, in_channels
        for x in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]:
            if x == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
                size = (size + 1) // 2
            else:
                layers += [nn.Conv2d(ch, x, kernel_size=3, padding=1), nn.BatchNorm2d(x), nn.ReLU(inplace=True)]
                ch = x
        self.features = nn.Sequential(*layers)
        size = pooled_size or size
        self.fc = nn.Sequential(nn.Linear(256 * size * size, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x):
        return self.classifier(self.fc(self.features(x).flatten(1)))

    @property
    def architecture(self):
        return "vgg9"


class MLP(nn.Module):
    """flatten, then Linear-ReLU pairs of the hidden widths and a last Linear, as nn.Sequential `layers`."""

    def __init__(self, in_features, hidden, num_classes=10):
        super().__init__()
        layers, n = [], in_features
        for h in hidden:
            layers += [nn.Linear(n, h), nn.ReLU()]
            n = h
        layers.append(nn.Linear(n, num_classes))
        self.hidden = list(hidden)
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.flatten(1))

    @property
    def architecture(self):
        return "mlp" + ("_" + "-".join(str(h) for h in self.hidden) if self.hidden else "")


_MLP = re.compile(r"^mlp(?:_(\d+(?:-\d+)*))?$")


def parse_mlp(arch):
    """'mlp_256-128' -> [256, 128]; 'mlp' -> []; None for other names."""
    m = _match(_MLP, arch)
    if not m:
        return None
    return [int(h) for h in m.group(1).split("-")] if m.group(1) else []


_DENSE = re.compile(r"^densenet(?:(121)|(_cifar)|_k(\d+)_(\d+(?:-\d+)*))$")


def _match(pattern, arch):
    """pattern's match of an architecture name (str or bytes, surrounding blanks ignored), or None."""
    return pattern.match((arch.decode("utf-8") if isinstance(arch, bytes) else str(arch)).strip())


def parse_densenet(arch):
    """'densenet121' -> ([6, 12, 24, 16], 32); 'densenet_k12_3-3-3' -> ([3, 3, 3], 12); None otherwise."""
    m = _match(_DENSE, arch)
    if not m:
        return None
    if m.group(1) or m.group(2):
        return [6, 12, 24, 16], 32 if m.group(1) else 12
    return [int(b) for b in m.group(4).split("-")], int(m.group(3))


_ARCH = re.compile(r"^(resnet|plain)(\d+)(?:_w(\d+))?$")


def parse_architecture(arch):
    """'resnet20' -> (20, True, 1); 'plain56_w2' -> (56, False, 2). Raises ValueError otherwise."""
    m = _match(_ARCH, arch)
    if not m:
        raise ValueError(f"unknown architecture {arch!r} (expected resnet<depth>[_w<k>] or plain<depth>[_w<k>])")
    return int(m.group(2)), m.group(1) == "resnet", int(m.group(3) or 1)


def _attr_str(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if hasattr(value, "shape") and getattr(value, "shape", None) == ():  # numpy scalar
        value = value.item()
        if isinstance(value, bytes):
            return value.decode("utf-8")
    return str(value)


def read_basin_tensors(f):
    """All datasets at the root of an open h5py.File, as {name: torch.Tensor} (groups skipped)."""
    import h5py
    import numpy as np

    tensors = {}
    for name, obj in f.items():
        if not isinstance(obj, h5py.Dataset):
            continue
        a = np.array(obj[()])
        tensors[name] = torch.from_numpy(np.ascontiguousarray(a))
    return tensors


def load_basin_checkpoint(path, dtype=None, num_classes=None):
    """Builds the net named by the checkpoint's "architecture" attribute and loads its tensors.

    in_channels and (unless given) num_classes come from conv1.weight's and linear.weight's
    shapes. Every root dataset is loaded with load_state_dict(strict=True), so a missing or an
    extra tensor, or a wrong shape, raises. dtype: the model's float dtype (default float32; the
    checkpoint's values are converted). Returns (model, architecture string); the model is in
    eval mode.
    """
    import h5py

    with h5py.File(path, "r") as f:
        if "architecture" not in f.attrs:
            raise ValueError(f"{path}: not a basin checkpoint (no 'architecture' attribute)")
        arch = _attr_str(f.attrs["architecture"])
        tensors = read_basin_tensors(f)
    hidden = parse_mlp(arch)
    if arch == "vgg9":
        first, last = "features.0.weight", "classifier.weight"
    elif hidden is not None:
        first, last = "layers.0.weight", f"layers.{2 * len(hidden)}.weight"
    else:
        first, last = "conv1.weight", "linear.weight"
    if first not in tensors:
        raise ValueError(f"{path}: no {first} dataset")
    in_channels = int(tensors[first].shape[1])
    if num_classes is None:
        num_classes = int(tensors[last].shape[0]) if last in tensors else 10
    dense = parse_densenet(arch)
    if arch == "vgg9":
        side = round((int(tensors["fc.0.weight"].shape[1]) // 256) ** 0.5)  # after three poolings
        model = VGG9(in_channels=in_channels, num_classes=num_classes, pooled_size=side)
    elif hidden is not None:
        model = MLP(in_channels, hidden, num_classes=num_classes)
    elif dense is not None:
        model = DenseNet(dense[0], dense[1], in_channels=in_channels, num_classes=num_classes)
    else:
        depth, shortcut, width = parse_architecture(arch)
        model = CifarResNet(depth, in_channels=in_channels, num_classes=num_classes, shortcut=shortcut,
                            width=width)
    model = model.to(dtype or torch.float32)
    state = {}
    for name, t in tensors.items():
        if name.endswith("num_batches_tracked"):
            state[name] = t.to(torch.long).reshape(())
        else:
            state[name] = t.to(dtype or torch.float32)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, arch


def randomize(model, gen):
    """Test helper: every state_dict tensor of a CifarResNet off its initial value (Kaiming-scaled
    convs, positive batch-norm scales and variances, num_batches_tracked 3), drawn from gen."""
    import torch

    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_var") or (name.endswith(".weight") and t.dim() == 1):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif t.dim() == 4:
                fan_in = t.shape[1] * t.shape[2] * t.shape[3]
                t.copy_(torch.randn(t.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            else:
                t.copy_(0.2 * torch.randn(t.shape, generator=gen))
