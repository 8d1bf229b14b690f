// basin/layers/activation.hpp — elementwise activations (parameter-free, shape-preserving):
// relu, leaky_relu<slope>, tanh_layer and sigmoid (DCGAN's generator ends in tanh, its
// discriminator uses leaky relus with slope 0.2).
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"
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

// Activation patterns, for curvature as autograd sees it (landscape/hessian.hpp). A ReLU net's
// loss has kinks wherever a unit's input crosses 0; autograd's Hessian-vector product ignores
// them (the derivative of the step is taken as 0), which is the Hessian of the same net with every
// relu's on/off pattern frozen at the point. While a pattern store is active on the calling
// thread, each relu's forward records which of its inputs are positive (recording) or, in the
// same call order, applies the recorded pattern instead of its input's sign (replaying), and its
// backward uses that pattern: the net is then smooth in its weights around the recorded point,
// and differences of gradients converge to autograd's H v. One byte per unit per image. Leaky
// relus and max pooling (its windows' winners, layers/pool.hpp) take part the same way.
template <class B>
struct activation_patterns {
  std::deque<typename B::template vector<std::uint8_t>> masks;  // one per relu (or pool) call, in call order
  std::size_t next = 0;
  bool replaying = false;

  // The pattern buffer of the next relu (or pool) call, of len units. Throws basin::error when a replay
  // does not follow the recorded calls (another data set, batch size or network).
  std::uint8_t* claim(index_t len) {
    if (!replaying) masks.emplace_back(static_cast<std::size_t>(len));
    require(next < masks.size() && index_t(masks[next].size()) == len, "activation patterns: call ", next, " of ", len,
            " units does not match the recording (", masks.size(), " calls)");
    return backend::raw(masks[next++]);
  }
  void replay() { replaying = true, next = 0; }
};
// The calling thread's active store, or null (patterns off: the plain relu).
template <class B>
inline thread_local activation_patterns<B>* active_patterns = nullptr;

// relu: y = max(x, 0); dx = dy where y > 0 (derivative 0 at 0, as PyTorch). With activation
// patterns active: y = x where the pattern is on, dx = dy there.
struct relu {
  static constexpr dims output(dims in) { return in; }
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static constexpr dims in = In, out = In;
    static constexpr bool is_relu = true;
    const std::uint8_t* pattern = nullptr;  // of the last forward, when patterns were active

    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      const index_t len = n * In.size();
      pattern = nullptr;
      if (auto* store = active_patterns<B>) {
        std::uint8_t* p = store->claim(len);
        if (!store->replaying) B::for_each_index(len, [=] BASIN_HD(index_t i) { p[i] = !(x[i] <= T(0)); });
        B::for_each_index(len, [=] BASIN_HD(index_t i) { y[i] = p[i] ? x[i] : T(0); });
        pattern = p;
        return;
      }
      B::for_each_index(len, [=] BASIN_HD(index_t i) { y[i] = x[i] <= T(0) ? T(0) : x[i]; });
    }
    void backward(const T*, T*, const T*, const T* y, const T* dy, T* dx, index_t n) {
      if (!dx) return;
      if (const std::uint8_t* p = pattern) {
        B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) { dx[i] = p[i] ? dy[i] : T(0); });
        return;
      }
      // Both loads unconditional, so the host loop is a vector select rather than a branch on
      // the sign of every element (half of them mispredicted).
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
        const T g = dy[i];
        dx[i] = y[i] <= T(0) ? T(0) : g;
      });
    }
  };
};

// leaky_relu<Slope>: y = x for x > 0, Slope x otherwise (PyTorch's LeakyReLU; Slope >= 0). Its
// kink is frozen by activation patterns like relu's.
template <double Slope = 0.01>
struct leaky_relu {
  static_assert(Slope >= 0, "leaky_relu<Slope>: the slope must not be negative");
  static constexpr dims output(dims in) { return in; }
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static constexpr dims in = In, out = In;
    const std::uint8_t* pattern = nullptr;  // of the last forward, when patterns were active

    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      const index_t len = n * In.size();
      const T a = T(Slope);
      pattern = nullptr;
      if (auto* store = active_patterns<B>) {
        std::uint8_t* p = store->claim(len);
        if (!store->replaying) B::for_each_index(len, [=] BASIN_HD(index_t i) { p[i] = x[i] > T(0); });
        B::for_each_index(len, [=] BASIN_HD(index_t i) { y[i] = p[i] ? x[i] : a * x[i]; });
        pattern = p;
        return;
      }
      B::for_each_index(len, [=] BASIN_HD(index_t i) { y[i] = x[i] > T(0) ? x[i] : a * x[i]; });
    }
    void backward(const T*, T*, const T* x, const T*, const T* dy, T* dx, index_t n) {
      if (!dx) return;
      const T a = T(Slope);
      if (const std::uint8_t* p = pattern) {
        B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) { dx[i] = p[i] ? dy[i] : a * dy[i]; });
        return;
      }
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
        const T g = dy[i];
        dx[i] = x[i] > T(0) ? g : a * g;
      });
    }
  };
};

// tanh_layer: y = tanh(x); dx = dy (1 - y^2). (Named so that it does not hide std::tanh.)
struct tanh_layer {
  static constexpr dims output(dims in) { return in; }
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static constexpr dims in = In, out = In;
    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) { y[i] = std::tanh(x[i]); });
    }
    void backward(const T*, T*, const T*, const T* y, const T* dy, T* dx, index_t n) {
      if (dx) B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) { dx[i] = dy[i] * (T(1) - y[i] * y[i]); });
    }
  };
};

// sigmoid: y = 1 / (1 + exp(-x)), computed without overflow for either sign; dx = dy y (1 - y).
struct sigmoid {
  static constexpr dims output(dims in) { return in; }
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static constexpr dims in = In, out = In;
    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
        const T v = x[i];
        if (v >= T(0)) {
          y[i] = T(1) / (T(1) + std::exp(-v));
        } else {
          const T e = std::exp(v);
          y[i] = e / (T(1) + e);
        }
      });
    }
    void backward(const T*, T*, const T*, const T* y, const T* dy, T* dx, index_t n) {
      if (dx) B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) { dx[i] = dy[i] * y[i] * (T(1) - y[i]); });
    }
  };
};

}  // namespace basin
