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
//
// DenseNets (Huang et al. 2017) as the reference tool's cifar10/models/densenet.py builds them
// (DenseNet-BC): a 3x3 conv with 2k filters (k the growth rate); dense blocks of bottleneck
// layers (bn1-relu-conv1 1x1 to 4k-bn2-relu-conv2 3x3 to k, whose k features are concatenated in
// front of the layer's input); between blocks a transition (bn-relu-conv 1x1 to half the
// channels, rounded down-avg_pool 2); then bn, relu, global average pooling and a dense layer.
// Module names as there: conv1, dense1.0.bn1, ..., trans1.conv, bn, linear. The reference pools
// with avg_pool2d(4) after the last block, which is the global average for 32x32 inputs; basin
// pools globally, so 28x28 inputs work too.
//
// VGG-9 as the reference tool's cifar10/models/vgg.py builds it (the net of Li et al. 2018's
// batch-size and weight-decay figures): convs 64, 64, pool, 128, 128, pool, 256, 256, 256, pool
// (3x3, padding 1, with bias, each followed by batch_norm and relu; 2x2 max pooling), then
// fc = dense to 256, batch_norm (BatchNorm1d), relu, and the classifier. Module names as there:
// features.0, features.1, features.3, ..., features.21, fc.0, fc.1, classifier. Pooling rounds up
// as the reference's ceil_mode=True: 32x32 inputs pool to 4x4, and so do 28x28 ones (28 -> 14 ->
// 7 -> 4, the last window of each row and column clipped at the border).
//
// MLPs: flatten, then dense layers with relu between them, named as an nn.Sequential called
// `layers` (layers.0, layers.2, ...): mlp<Input, Classes, Hidden...>.
#pragma once

#include "basin/layers/concat.hpp"
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

// DenseNet-BC's bottleneck layer with growth rate k: 4k 1x1 filters, then k 3x3 filters, the k
// new features concatenated in front of the input (torch.cat([out, x], 1)).
template <int Growth, class W = weights::real>
using dense_layer = concat<named<"bn1", batch_norm>, relu, named<"conv1", conv<4 * Growth, 1, 1, 0, false, W>>,
                           named<"bn2", batch_norm>, relu, named<"conv2", conv<Growth, 3, 1, 1, false, W>>>;
// Layers bottleneck layers: a block's input grows by k channels per layer.
template <int Layers, int Growth, class W = weights::real>
using dense_block = sequential<repeat<Layers, dense_layer<Growth, W>>>;
// Between dense blocks: bn-relu-conv 1x1 to Out channels-avg_pool 2.
template <int Out, class W = weights::real>
using transition = sequential<named<"bn", batch_norm>, relu, named<"conv", conv<Out, 1, 1, 0, false, W>>, avg_pool<2>>;

// "dense1", "trans2": a module name with its stage number (1 to 9).
template <int K>
constexpr fixed_string<7> numbered(fixed_string<7> base) {
  static_assert(K >= 1 && K <= 9, "densenet: at most 9 dense blocks");
  base.s[5] = char('0' + K);
  return base;
}

// The dense blocks from the K-th on, with Planes channels coming in: their layers (each block but
// the last followed by its transition, which halves the channels) and the channels going out.
template <int K, int Planes, int Growth, class W, int... Blocks>
struct dense_stages;
template <int K, int Planes, int Growth, class W, int N>
struct dense_stages<K, Planes, Growth, W, N> {
  static_assert(N >= 1, "densenet: every dense block needs at least one layer");
  using type = layers<named<numbered<K>("dense0"), dense_block<N, Growth, W>>>;
  static constexpr int planes = Planes + N * Growth;
};
template <int K, int Planes, int Growth, class W, int N, int... Rest>
struct dense_stages<K, Planes, Growth, W, N, Rest...> {
  static_assert(N >= 1, "densenet: every dense block needs at least one layer");
  static constexpr int reduced = (Planes + N * Growth) / 2;  // reduction 0.5, floor as the reference
  using next = dense_stages<K + 1, reduced, Growth, W, Rest...>;
  using type = decltype(layers<named<numbered<K>("dense0"), dense_block<N, Growth, W>>,
                               named<numbered<K>("trans0"), transition<reduced, W>>>{} +
                        typename next::type{});
  static constexpr int planes = next::planes;
};

template <class Input, class List>
struct network_of;
template <class Input, class... L>
struct network_of<Input, layers<L...>> {
  using type = network<Input, L...>;
};

template <class Input, int Growth, int Classes, class W, int... Blocks>
using densenet_base = typename network_of<
    Input, decltype(layers<named<"conv1", conv<2 * Growth, 3, 1, 1, false, W>>>{} +
                    typename dense_stages<1, 2 * Growth, Growth, W, Blocks...>::type{} +
                    layers<named<"bn", batch_norm>, relu, global_avg_pool, named<"linear", dense<Classes, true, W>>>{})>::type;

// A sequential over a layers<...> list.
template <class List>
struct sequential_of;
template <class... L>
struct sequential_of<layers<L...>> {
  using type = sequential<L...>;
};

// conv 3x3 (padding 1, bias) - batch_norm - relu, as the reference VGG's features.
template <int Out, class W>
using vgg_conv = layers<conv<Out, 3, 1, 1, true, W>, batch_norm, relu>;
using vgg_pool = layers<max_pool<2, 2, pool_rounding::ceil>>;

template <class Input, int Classes, class W>
using vgg9_base =
    network<Input,
            named<"features",
                  typename sequential_of<decltype(
                      vgg_conv<64, W>{} + vgg_conv<64, W>{} + vgg_pool{} + vgg_conv<128, W>{} + vgg_conv<128, W>{} +
                      vgg_pool{} + vgg_conv<256, W>{} + vgg_conv<256, W>{} + vgg_conv<256, W>{} + vgg_pool{})>::type>,
            flatten, named<"fc", sequential<dense<256, true, W>, batch_norm, relu>>,
            named<"classifier", dense<Classes, true, W>>>;

template <class Input, int Classes, class W, int... Hidden>
using mlp_base = network<
    Input, flatten,
    named<"layers", typename sequential_of<decltype((layers<>{} + ... + layers<dense<Hidden, true, W>, relu>{}) +
                                                    layers<dense<Classes, true, W>>{})>::type>>;
}  // namespace zoo

// vgg9<Input, W, Classes>: the reference tool's VGG-9 (see above), 7 convs and 2 dense layers.
template <class Input = input<3, 32, 32>, class W = weights::real, int Classes = 10>
struct vgg9 : zoo::vgg9_base<Input, Classes, W> {
  static std::string name() { return "vgg9" + weight_traits<W>::suffix(); }
};

// mlp<Input, Classes, Hidden...>: a multilayer perceptron with relu hidden layers of the given
// widths; named "mlp_<hidden>-<hidden>-..." ("mlp" with none: logistic regression).
template <class Input, int Classes, int... Hidden>
struct mlp : zoo::mlp_base<Input, Classes, weights::real, Hidden...> {
  static_assert(((Hidden >= 1) && ...), "mlp: every hidden layer needs at least one unit");
  static std::string name() {
    std::string s = "mlp";
    ((s += s.size() == 3 ? '_' : '-', s += std::to_string(Hidden)), ...);  // not "_" + ...: GCC 12's -Wrestrict
    return s;
  }
};

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

// densenet<Input, Growth, Classes, W, Blocks...>: a DenseNet-BC with growth rate Growth and
// Blocks... bottleneck layers per dense block (see above). Its depth counts the convs and the
// dense layer: 2 per bottleneck, 1 per transition, the first conv and the classifier.
template <class Input, int Growth, int Classes, class W, int... Blocks>
struct densenet : zoo::densenet_base<Input, Growth, Classes, W, Blocks...> {
  static_assert(sizeof...(Blocks) >= 1, "densenet: give the number of layers of each dense block");
  static_assert(Growth >= 1, "densenet: the growth rate must be positive");
  static constexpr int depth = 2 * (Blocks + ... + 0) + int(sizeof...(Blocks)) - 1 + 2;
  // "densenet121" (k = 32; 6, 12, 24, 16 layers), "densenet_cifar" (the same with k = 12), and
  // otherwise "densenet_k<k>_<layers>-<layers>-...", e.g. "densenet_k12_3-3-3".
  static std::string name() {
    constexpr int layers[] = {Blocks...};
    constexpr bool standard =
        sizeof...(Blocks) == 4 && layers[0] == 6 && layers[1 % sizeof...(Blocks)] == 12 &&
        layers[2 % sizeof...(Blocks)] == 24 && layers[3 % sizeof...(Blocks)] == 16;
    std::string s;
    if (standard && Growth == 32)
      s = "densenet121";
    else if (standard && Growth == 12)
      s = "densenet_cifar";
    else {
      s = "densenet_k" + std::to_string(Growth) + "_";
      ((s += std::to_string(Blocks) + "-"), ...);
      s.pop_back();
    }
    return s + weight_traits<W>::suffix();
  }
};

using fashion_input = input<1, 28, 28>;
using cifar_input = input<3, 32, 32>;

template <class Input = cifar_input, class W = weights::real>
using resnet20 = resnet<20, Input, 1, 10, W>;
template <class Input = cifar_input, class W = weights::real>
using resnet56 = resnet<56, Input, 1, 10, W>;
template <class Input = cifar_input, class W = weights::real>
using resnet110 = resnet<110, Input, 1, 10, W>;
template <class Input = cifar_input, class W = weights::real>
using plain20 = plain<20, Input, 1, 10, W>;
template <class Input = cifar_input, class W = weights::real>
using plain56 = plain<56, Input, 1, 10, W>;
template <class Input = cifar_input, class W = weights::real>
using plain110 = plain<110, Input, 1, 10, W>;
// The reference tool's DenseNet-121 for CIFAR-10 (7.0M parameters) and its densenet_cifar (k = 12).
template <class Input = cifar_input, class W = weights::real>
using densenet121 = densenet<Input, 32, 10, W, 6, 12, 24, 16>;
template <class Input = cifar_input, class W = weights::real>
using densenet_cifar = densenet<Input, 12, 10, W, 6, 12, 24, 16>;
// A DenseNet small enough to train on two CPU cores (about resnet20's cost per image): k = 12,
// three dense blocks of 3 bottleneck layers, depth 22.
template <class Input = fashion_input, class W = weights::real>
using densenet22 = densenet<Input, 12, 10, W, 3, 3, 3>;

}  // namespace basin
