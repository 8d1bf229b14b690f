// basin/layers/dense.hpp — fully connected layer on flat input (features, n).
//
//   y (out, n) = W (out, in) x x (in, n) + b
// Weight (out, in) and bias (out) as PyTorch's Linear, initialized as PyTorch does by default:
// U(-1/sqrt(in), 1/sqrt(in)) for both (the reference loss-landscape code keeps that default).
#pragma once

#include <cmath>

#include "basin/backend/concepts.hpp"
#include "basin/layers/common.hpp"
#include "basin/weights/packed_tensor.hpp"

namespace basin {

namespace detail {
// y (rows, n) += b[row] (a free function: device lambdas stay out of layer classes).
template <class B, class T>
void add_row_bias(T* y, const T* b, index_t rows, index_t n) {
  B::for_each_index(rows * n, [=] BASIN_HD(index_t i) { y[i] += b[i / n]; });
}
}  // namespace detail

template <int Out, bool Bias = true, class W = weights::real>
struct dense {
  static_assert(Out > 0, "dense<Out>: Out must be positive");
  using weight_type = W;
  static constexpr dims output(dims) { return {Out, 1, 1}; }

  template <dims In, class T, class B>
  struct bind {
    static_assert(In.h == 1 && In.w == 1,
                  "dense: input must be flat (c, 1, 1); put flatten or global_avg_pool before dense");
    static constexpr dims in = In, out = {Out, 1, 1};
    static constexpr int F = In.c;
    static constexpr auto params() {
      if constexpr (Bias)
        return packed(std::array<tensor_desc, 2>{tensor_desc{param_kind::weight, 2, {Out, F, 1, 1}},
                                                 tensor_desc{param_kind::bias, 1, {Out, 1, 1, 1}}});
      else
        return packed(std::array<tensor_desc, 1>{tensor_desc{param_kind::weight, 2, {Out, F, 1, 1}}});
    }
    static constexpr auto state() { return std::array<tensor_desc, 0>{}; }
    static constexpr index_t n_params = total_size(params()), n_state = 0;
    static void names(const std::string& prefix, std::vector<std::string>& p, std::vector<std::string>&) {
      p.push_back(join(prefix, "weight"));
      if constexpr (Bias) p.push_back(join(prefix, "bias"));
    }
    void reserve(index_t) {}

    // Quantized weights: as conv (layers/conv.hpp).
    using weight_type = W;
    using store_type = detail::weight_store<W, T, B>;
    static constexpr bool quantized = store_type::quantized;
    static constexpr bool binary = std::is_same_v<W, weights::binary>;
    store_type store;
    bool use_sign_select = false;  // binary: sign selection instead of the GEMM on +-s values
    void set_weight_grid(const quant::grid& g)
      requires quantized
    {
      store.packed.set_grid(g, "dense");
    }

    static void init(T* w, T*, std::uint64_t seed, std::uint64_t stream_id) {
      const counter_rng rng{seed, stream_id};
      const double bound = 1.0 / std::sqrt(double(F));
      B::for_each_index(n_params, [=] BASIN_HD(index_t i) { w[i] = T(bound * (2 * rng.uniform(std::uint64_t(i)) - 1)); });
    }

    void forward(const T* w, T*, const T* x, T* y, index_t n, mode) {
      w = store.use(w, index_t(Out) * F, n_params);
      if constexpr (binary) {
        if (use_sign_select && store.all_finite(w, index_t(Out) * F)) {  // (else the GEMM sees the NaN)
          using ss = weights::sign_select_fn<T>;
          B::for_each_line(Out * ((n + ss::block - 1) / ss::block), ss::block,
                           ss{store.packed.words(), x, y, F, n, n, n, T(store.packed.grid().hi)});
          if constexpr (Bias) detail::add_row_bias<B>(y, w + index_t(Out) * F, Out, n);
          return;
        }
      }
      if constexpr (Bias) {
        const T* b = w + index_t(Out) * F;
        B::for_each_index(index_t(Out) * n, [=] BASIN_HD(index_t i) { y[i] = b[i / n]; });
      }
      // (out, F) x (F, n) -> (out, n)
      B::gemm(backend::trans::no, backend::trans::no, Out, n, F, T(1), w, F, x, n, Bias ? T(1) : T(0), y, n);
    }
    void backward(const T* w, T* gw, const T* x, const T*, const T* dy, T* dx, index_t n) {
      w = store.last(w);
      // gW (out, F) = dy (out, n) x x^T (n, F)
      B::gemm(backend::trans::no, backend::trans::yes, Out, F, n, T(1), dy, n, x, n, T(0), gw, F);
      if constexpr (Bias)
        B::segmented_reduce(Out, n, [=] BASIN_HD(index_t o, index_t i) { return double(dy[o * n + i]); },
                            gw + index_t(Out) * F);
      // dx (F, n) = W^T (F, out) x dy (out, n)
      if (dx) B::gemm(backend::trans::yes, backend::trans::no, F, n, Out, T(1), w, F, dy, n, T(0), dx, n);
    }
  };
};

}  // namespace basin
