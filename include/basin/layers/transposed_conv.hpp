// basin/layers/transposed_conv.hpp — transposed convolution (DCGAN generators).
//
// transposed_conv<Out, K, Stride, Pad, Bias> is PyTorch's ConvTranspose2d(in, Out, K, Stride,
// Pad, bias=Bias) (output_padding 0, dilation 1, one group): each input pixel scatters its
// K x K patch of weights into the output at Stride spacing, so height and width grow to
// (h - 1) Stride - 2 Pad + K. Weights (in, Out, K, K) as PyTorch stores them, then the bias (Out).
//
// It is the input gradient of a convolution: a conv<in, K, Stride, Pad> from (Out, H', W') to
// (in, h, w) has weights of the same layout (its filters are our input channels), and its
// data_gradient is our forward; our input gradient is its forward applied to dL/dy, and our
// weight gradient its weight_gradient with x and dy exchanged. So a transposed conv runs on
// the conv's kernels (im2col + GEMM + col2im, Winograd where the shapes allow) on every backend.
#pragma once

#include <cmath>

#include "basin/layers/conv.hpp"

namespace basin {

template <int Out, int K, int Stride = 1, int Pad = 0, bool Bias = true>
struct transposed_conv {
  static_assert(Out > 0 && K > 0 && Stride > 0 && Pad >= 0, "transposed_conv<Out,K,Stride,Pad>: bad argument");
  static constexpr dims output(dims in) {
    return {Out, (in.h - 1) * Stride - 2 * Pad + K, (in.w - 1) * Stride - 2 * Pad + K};
  }

  template <dims In, class T, class B>
  struct bind {
    static constexpr dims in = In, out = output(In);
    static_assert(out.h >= 1 && out.w >= 1,
                  "transposed_conv: the padding removes the whole output ((h - 1) Stride - 2 Pad + K < 1)");
    // The conv whose input gradient this layer computes: from our output shape back to In.
    using inner_t = typename conv<In.c, K, Stride, Pad, false>::template bind<out, T, B>;
    static_assert(inner_t::out == In, "transposed_conv: internal shape mismatch");
    static constexpr index_t wsize = index_t(In.c) * Out * K * K;

    static constexpr auto params() {
      if constexpr (Bias)
        return packed(std::array<tensor_desc, 2>{tensor_desc{param_kind::weight, 4, {In.c, Out, K, K}},
                                                 tensor_desc{param_kind::bias, 1, {Out, 1, 1, 1}}});
      else
        return packed(std::array<tensor_desc, 1>{tensor_desc{param_kind::weight, 4, {In.c, Out, K, K}}});
    }
    static constexpr auto state() { return std::array<tensor_desc, 0>{}; }
    static constexpr index_t n_params = total_size(params()), n_state = 0;
    static void names(const std::string& prefix, std::vector<std::string>& p, std::vector<std::string>&) {
      p.push_back(join(prefix, "weight"));
      if constexpr (Bias) p.push_back(join(prefix, "bias"));
    }

    // Kaiming-normal for the pixels each output sums over (about in K^2 / Stride^2 of them), so
    // a relu generator keeps its activations' scale; the bias uniform in +-1/sqrt(that fan-in).
    static void init(T* w, T*, std::uint64_t seed, std::uint64_t stream_id) {
      const counter_rng rng{seed, stream_id};
      const double fan = std::max(1.0, double(In.c) * K * K / (double(Stride) * Stride));
      const double std_w = std::sqrt(2.0 / fan);
      B::for_each_index(wsize, [=] BASIN_HD(index_t i) { w[i] = T(std_w * rng.normal(i)); });
      if constexpr (Bias) {
        const double bound = 1.0 / std::sqrt(fan);
        B::for_each_index(Out, [=] BASIN_HD(index_t i) {
          w[wsize + i] = T(bound * (2 * rng.uniform(std::uint64_t(wsize + i)) - 1));
        });
      }
    }

    inner_t inner;
    void reserve(index_t n) { inner.reserve(n); }
    void release() { inner.release(); }

    void forward(const T* w, T*, const T* x, T* y, index_t n, mode) {
      inner.data_gradient(w, x, y, n);
      if constexpr (Bias) {
        const T* b = w + wsize;
        const index_t line = n * out.plane();
        B::for_each_index(n * out.size(), [=] BASIN_HD(index_t i) { y[i] += b[i / line]; });
      }
    }
    void backward(const T* w, T* gw, const T* x, const T*, const T* dy, T* dx, index_t n) {
      inner.weight_gradient(dy, x, gw, n);  // the conv's input is our dL/dy, its dL/d(output) our x
      if constexpr (Bias) {
        T* gb = gw + wsize;
        const index_t len = n * out.plane();
        B::segmented_reduce(
            Out, len, [=] BASIN_HD(index_t c, index_t i) { return double(dy[c * len + i]); }, gb);
      }
      if (dx) inner.forward(w, nullptr, dy, dx, n, mode::eval);
    }
  };
};

}  // namespace basin
