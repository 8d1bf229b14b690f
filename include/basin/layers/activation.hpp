// basin/layers/activation.hpp — elementwise activations (parameter-free, shape-preserving).
#pragma once

#include "basin/backend/concepts.hpp"
#include "basin/layers/common.hpp"

namespace basin {

// A parameter-free layer's empty parameter description, shared by the layers below.
template <dims In>
struct stateless_impl {
  static constexpr auto params() { return std::array<tensor_desc, 0>{}; }
  static constexpr auto state() { return std::array<tensor_desc, 0>{}; }
  static constexpr index_t n_params = 0, n_state = 0;
  static void names(const std::string&, std::vector<std::string>&, std::vector<std::string>&) {}
  template <class T>
  static void init(T*, T*, std::uint64_t, std::uint64_t) {}
  void reserve(index_t) {}
};

// relu: y = max(x, 0); dx = dy where y > 0 (derivative 0 at 0, as PyTorch).
struct relu {
  static constexpr dims output(dims in) { return in; }
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static constexpr dims in = In, out = In;
    static constexpr bool is_relu = true;
    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) { y[i] = x[i] > T(0) ? x[i] : T(0); });
    }
    void backward(const T*, T*, const T*, const T* y, const T* dy, T* dx, index_t n) {
      // Both loads unconditional, so the host loop is a vector select rather than a branch on
      // the sign of every element (half of them mispredicted).
      if (dx)
        B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
          const T g = dy[i];
          dx[i] = y[i] > T(0) ? g : T(0);
        });
    }
  };
};

}  // namespace basin
