// basin/layers/common.hpp — what every layer shares: modes, parameter descriptions, weight types.
//
// A layer is a small empty struct (`conv<16, 3>`, `relu`) that knows its output shape for a given
// input shape, `static constexpr dims output(dims)`, and binds to an implementation for one input
// shape, scalar and backend: `L::template bind<In, T, Backend>`. An implementation ("impl")
// provides (chain.hpp and model.hpp call these; a missing one is a compile error there):
//   in, out                      compile-time shapes
//   params(), state()            descriptions of its parameter and running-state tensors,
//                                in storage order (offsets are relative to the layer's start)
//   n_params, n_state            their total sizes
//   names(prefix, p, s)          PyTorch state_dict names of those tensors
//   reserve(n)                   scratch for a batch of n (no allocation afterwards)
//   release()                    optional: frees what reserve allocated in proportion to the
//                                batch (model::release_buffers)
//   reserve_infer(n)             optional, groups: scratch for the inference path only (the
//                                activations it writes, no gradient buffers); leaves without it
//                                get reserve(n)
//   init(w, s, seed, stream)     initialization (the layer's random stream id: see core/random.hpp)
//   forward(w, s, x, y, n, mode) y = f(x; w)       x (in.c, n, in.h, in.w), y (out.c, n, ...)
//   infer(w, s, x, y, n)         optional: eval-mode forward with fusions (sweeps use it);
//                                layers without it are inferred by forward(..., mode::eval)
//   backward(w, gw, x, y, dy, dx, n)
//                                gw = dL/dw (overwritten), dx = dL/dx (overwritten; may be null
//                                for the first layer). Backward only reads what forward saved and
//                                never overwrites x or y, so a forward-mode (R-operator) pass for
//                                Hessian-vector products can be added beside it.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "basin/core/random.hpp"
#include "basin/core/shape.hpp"

namespace basin {

enum class mode { train, eval };

// What a parameter tensor is: landscape directions treat weights differently from biases and
// batch-norm parameters ("ignore biasbn"), so the table records it.
enum class param_kind : unsigned char { weight, bias, bn_weight, bn_bias, bn_running_mean,
                                        bn_running_var };

inline constexpr bool is_bias_or_bn(param_kind k) { return k != param_kind::weight; }

// One tensor of a layer: its PyTorch shape (up to 4 axes), its kind and its offset.
struct tensor_desc {
  param_kind kind = param_kind::weight;
  int rank = 1;
  std::array<int, 4> extent{1, 1, 1, 1};
  index_t offset = 0;  // into the layer's (later: the model's) flat buffer
  int layer = 0;       // flat index of the owning weight-bearing layer (set by the network)
  constexpr index_t size() const {
    index_t s = 1;
    for (int i = 0; i < rank; ++i) s *= extent[i];
    return s;
  }
  // Filters: slices along the first axis (a conv's output channels, a dense layer's rows).
  constexpr int filters() const { return extent[0]; }
};

template <std::size_t N>
constexpr index_t total_size(const std::array<tensor_desc, N>& t) {
  index_t s = 0;
  for (const auto& d : t) s += d.size();
  return s;
}
// Assigns consecutive offsets in the order given.
template <std::size_t N>
constexpr std::array<tensor_desc, N> packed(std::array<tensor_desc, N> t) {
  index_t off = 0;
  for (auto& d : t) {
    d.offset = off;
    off += d.size();
  }
  return t;
}

// Weight types, the last template argument of conv and dense (and of the zoo's nets):
//   real        weights in the model's scalar type;
//   binary      +-s, one bit per weight (1 = +s; sign(0) = +1), one scale s per layer;
//   integer<b>  k delta with |k| <= 2^(b-1) - 1, b bits per weight, one spacing delta per layer,
//               saturating at the grid's ends.
// A quantized layer keeps its weights packed in memory (weights/packed_tensor.hpp), rounded
// onto its grid from the model's parameter buffer at every forward pass; that buffer holds the
// trainable values (BinaryConnect's float shadow weights, or on-grid values under R and SR), and
// the gradient with respect to the quantized weights passes straight through to it.
namespace weights {
struct real {
  static constexpr const char* name = "real";
};
struct binary {
  static constexpr const char* name = "binary";
};
template <int Bits>
struct integer {
  static_assert(Bits >= 2 && Bits <= 16, "weights::integer<Bits>: Bits must lie in [2, 16]");
  static constexpr const char* name = "integer";
};
}  // namespace weights

template <class W>
struct weight_traits;
template <>
struct weight_traits<weights::real> {
  static constexpr int bits = 0;  // the scalar's own width
  static constexpr bool quantized = false;
  static std::string suffix() { return ""; }
};
template <>
struct weight_traits<weights::binary> {
  static constexpr int bits = 1;
  static constexpr bool quantized = true;
  static std::string suffix() { return "_binary"; }
};
template <int Bits>
struct weight_traits<weights::integer<Bits>> {
  static constexpr int bits = Bits;
  static constexpr bool quantized = true;
  static std::string suffix() { return "_int" + std::to_string(Bits); }
};

namespace detail {
// Whether a layer implementation has quantized weights (see weight types above).
template <class L>
inline constexpr bool is_quantized_v = requires { requires L::quantized; };

// Eval-mode forward of one layer: its fused `infer` when it has one.
template <class L, class T>
void infer_layer(L& l, const T* w, T* s, const T* x, T* y, index_t n) {
  if constexpr (requires { l.infer(w, s, x, y, n); })
    l.infer(w, s, x, y, n);
  else
    l.forward(w, s, x, y, n, mode::eval);
}
// Scratch for the inference path of one layer (infer, a sweep's staged first layer): a group's
// reserve_infer where it has one, else its reserve. A layer's reserve and reserve_infer are called
// with batch sizes that never shrink until release.
template <class L>
void reserve_infer_layer(L& l, index_t n) {
  if constexpr (requires { l.reserve_infer(n); })
    l.reserve_infer(n);
  else
    l.reserve(n);
}
// Frees what a layer holds for its batch (activations, their gradients, indices of winners):
// its release() where it has one. The next reserve allocates again for the batch it is given.
template <class L>
void release_layer(L& l) {
  if constexpr (requires { l.release(); }) l.release();
}
// Frees a buffer's memory (resize(0) keeps it).
template <class V>
void free_buffer(V& v) {
  V().swap(v);
}
// Tags the inference path looks for to fuse conv -> batch_norm -> relu into one pass.
template <class L>
inline constexpr bool is_conv_v = requires { L::is_conv; };
template <class L>
inline constexpr bool is_batch_norm_v = requires { L::is_batch_norm; };
template <class L>
inline constexpr bool is_relu_v = requires { L::is_relu; };

// y (c, n, plane) <- act((sum_j coef_j z_j) * scale[c] + shift[c]) over one (channel, image)
// plane per call; up to three inputs z_j (null when unused), scale/shift null for 1 and 0.
// The inference path's epilogue: a conv's output, folded batch norm and relu in one pass.
template <class T>
struct combine_affine_fn {
  const T *z0, *z1, *z2;
  T c0, c1, c2;
  const T *scale, *shift;
  bool act;
  T* y;
  index_t n, plane;
  BASIN_HD void operator()(index_t line) const {
    const index_t c = line / n, at = line * plane;
    const T s = scale ? scale[c] : T(1), t = shift ? shift[c] : T(0);
    for (index_t p = 0; p < plane; ++p) {
      T v = c0 * z0[at + p];
      if (z1) v += c1 * z1[at + p];
      if (z2) v += c2 * z2[at + p];
      v = v * s + t;
      y[at + p] = act ? (v <= T(0) ? T(0) : v) : v;
    }
  }
  BASIN_HD void element(index_t line, index_t p) const {
    const index_t c = line / n, i = line * plane + p;
    T v = c0 * z0[i];
    if (z1) v += c1 * z1[i];
    if (z2) v += c2 * z2[i];
    v = v * (scale ? scale[c] : T(1)) + (shift ? shift[c] : T(0));
    y[i] = act ? (v <= T(0) ? T(0) : v) : v;
  }
};
}  // namespace detail

// Joins a PyTorch module path: join("layer1.0", "conv1") == "layer1.0.conv1".
inline std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : name.empty() ? prefix : prefix + "." + name;
}

}  // namespace basin
