// basin/net/zoo.hpp — ready-made networks with readable names.
//
// CIFAR-style ResNets (He et al. 2016, section 4.2) as the reference loss-landscape code builds
// them (Li, Xu, Taylor, Studer, Goldstein 2018): a 3x3 conv with 16*w filters, batch_norm and
// relu; three stages of n basic blocks with 16w, 32w, 64w filters, the first block of stages 2
// and 3 with stride 2 and a 1x1-conv + batch_norm projection shortcut; global average pooling
// and a dense layer to the classes. Depth 6n+2: resnet20 (n=3), resnet56 (n=9), resnet110
// (n=18). The plain nets are the same without shortcuts. Module names follow PyTorch's
// (conv1, bn1, layer1.0.conv1, ..., layer2.0.shortcut.0, linear), so checkpoints map onto the
// reference state_dict one to one.
#pragma once

#include "basin/net/network.hpp"

namespace basin {

namespace zoo {
// conv1-bn1-relu-conv2-bn2, plus the shortcut S, plus relu after the sum; weights of type W.
template <int Planes, int Stride, shortcut S, class W = weights::real>
using basic_block =
    residual_block<S, relu, named<"conv1", conv<Planes, 3, Stride, 1, false, W>>, named<"bn1", batch_norm>, relu,
                   named<"conv2", conv<Planes, 3, 1, 1, false, W>>, named<"bn2", batch_norm>>;

template <int Planes, int Stride, int Blocks, shortcut S, class W>
using stage = sequential<basic_block<Planes, Stride, S, W>, repeat<Blocks - 1, basic_block<Planes, 1, S, W>>>;

template <class Input, int N, int Width, shortcut S, int Classes, class W = weights::real>
using cifar_resnet_base =
    network<Input, named<"conv1", conv<16 * Width, 3, 1, 1, false, W>>, named<"bn1", batch_norm>, relu,
            named<"layer1", stage<16 * Width, 1, N, S, W>>, named<"layer2", stage<32 * Width, 2, N, S, W>>,
            named<"layer3", stage<64 * Width, 2, N, S, W>>, global_avg_pool,
            named<"linear", dense<Classes, true, W>>>;
}  // namespace zoo

// resnet<Depth, Input, Width, Classes, W>: Depth = 6n+2. W: the weight type of every conv and
// dense layer, projection shortcuts included (weights::real, weights::binary,
// weights::integer<b>).
template <int Depth, class Input = input<3, 32, 32>, int Width = 1, int Classes = 10, class W = weights::real>
struct resnet : zoo::cifar_resnet_base<Input, (Depth - 2) / 6, Width, shortcut::automatic, Classes, W> {
  static_assert(Depth >= 8 && (Depth - 2) % 6 == 0, "resnet<Depth>: Depth must be 6n+2 (20, 32, 44, 56, 110)");
  static std::string name() {
    return "resnet" + std::to_string(Depth) + (Width > 1 ? "_w" + std::to_string(Width) : std::string()) +
           weight_traits<W>::suffix();
  }
};
// plain<Depth, ...>: the same net with every shortcut removed.
template <int Depth, class Input = input<3, 32, 32>, int Width = 1, int Classes = 10, class W = weights::real>
struct plain : zoo::cifar_resnet_base<Input, (Depth - 2) / 6, Width, shortcut::none, Classes, W> {
  static_assert(Depth >= 8 && (Depth - 2) % 6 == 0, "plain<Depth>: Depth must be 6n+2 (20, 32, 44, 56, 110)");
  static std::string name() {
    return "plain" + std::to_string(Depth) + (Width > 1 ? "_w" + std::to_string(Width) : std::string()) +
           weight_traits<W>::suffix();
  }
};

using fashion_input = input<1, 28, 28>;
using cifar_input = input<3, 32, 32>;

template <class Input = cifar_input, class W = weights::real>
using resnet20 = resnet<20, Input, 1, 10, W>;
template <class Input = cifar_input, class W = weights::real>
using resnet56 = resnet<56, Input, 1, 10, W>;
template <class Input = cifar_input>
using resnet110 = resnet<110, Input>;
template <class Input = cifar_input>
using plain20 = plain<20, Input>;
template <class Input = cifar_input>
using plain56 = plain<56, Input>;
template <class Input = cifar_input>
using plain110 = plain<110, Input>;

}  // namespace basin
