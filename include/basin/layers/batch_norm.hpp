// basin/layers/batch_norm.hpp — batch normalization over (n, h, w) per channel.
//
// Ioffe, Szegedy 2015. Train mode normalizes with the batch's mean and biased variance and
// updates running statistics, running = (1 - momentum) running + momentum batch, with the
// unbiased variance n/(n-1) var, as PyTorch's BatchNorm2d (momentum 0.1, eps 1e-5). Eval mode
// normalizes with the running statistics. Parameters gamma (weight), beta (bias); running mean
// and variance live in the model's state buffer.
#pragma once

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"
#include "basin/layers/common.hpp"

namespace basin {

namespace detail {
// y = x * scale[c] + shift[c] for one (channel, image) plane, scale = gamma istd, shift = beta -
// mean scale, from the statistics st = (mean (C), istd (C)) and w = (gamma (C), beta (C)).
template <class T>
struct bn_apply_fn {
  const T *w, *st, *x;
  T* y;
  index_t C, n, P;
  BASIN_HD void operator()(index_t line) const {
    const index_t c = line / n;
    const T scale = st[C + c] * w[c], shift = w[C + c] - st[c] * scale;
    const T* xi = x + line * P;
    T* yi = y + line * P;
    for (index_t p = 0; p < P; ++p) yi[p] = xi[p] * scale + shift;
  }
  BASIN_HD void element(index_t line, index_t p) const {
    const index_t c = line / n;
    const T scale = st[C + c] * w[c], shift = w[C + c] - st[c] * scale;
    y[line * P + p] = x[line * P + p] * scale + shift;
  }
};
// train: dx = g (dy - sum(dy)/M - xhat sum(dy xhat)/M); eval: dx = g dy (g = gamma istd), per
// (channel, image) plane; sm = (sum(dy xhat) (C), sum(dy) (C)), M = len.
template <class T>
struct bn_backward_fn {
  const T *w, *st, *sm, *x, *dy;
  T* dx;
  index_t C, n, P, len;
  bool train;
  BASIN_HD void operator()(index_t line) const {
    const index_t c = line / n;
    const T g = w[c] * st[C + c], mean = st[c], istd = st[C + c];
    const T a = train ? sm[C + c] / T(len) : T(0), b = train ? sm[c] / T(len) : T(0);
    const T* xi = x + line * P;
    const T* dyi = dy + line * P;
    T* dxi = dx + line * P;
    for (index_t p = 0; p < P; ++p) dxi[p] = g * (dyi[p] - a - (xi[p] - mean) * istd * b);
  }
  BASIN_HD void element(index_t line, index_t p) const {
    const index_t c = line / n, i = line * P + p;
    const T g = w[c] * st[C + c], mean = st[c], istd = st[C + c];
    const T a = train ? sm[C + c] / T(len) : T(0), b = train ? sm[c] / T(len) : T(0);
    dx[i] = g * (dy[i] - a - (x[i] - mean) * istd * b);
  }
};
}  // namespace detail

struct batch_norm {
  static constexpr double default_momentum = 0.1, eps = 1e-5;
  static constexpr dims output(dims in) { return in; }

  template <dims In, class T, class B>
  struct bind {
    static constexpr dims in = In, out = In;
    static constexpr int C = In.c;
    static constexpr bool is_batch_norm = true;
    // Weight of the newest batch in the running statistics (PyTorch's momentum). Recomputing
    // the statistics of a point sets it to 1/k for the k-th batch: a cumulative average, as
    // PyTorch's momentum=None.
    double momentum = default_momentum;
    static constexpr auto params() {
      return packed(std::array<tensor_desc, 2>{tensor_desc{param_kind::bn_weight, 1, {C, 1, 1, 1}},
                                               tensor_desc{param_kind::bn_bias, 1, {C, 1, 1, 1}}});
    }
    static constexpr auto state() {
      return packed(std::array<tensor_desc, 2>{
          tensor_desc{param_kind::bn_running_mean, 1, {C, 1, 1, 1}},
          tensor_desc{param_kind::bn_running_var, 1, {C, 1, 1, 1}}});
    }
    static constexpr index_t n_params = 2 * C, n_state = 2 * C;

    static void names(const std::string& prefix, std::vector<std::string>& p, std::vector<std::string>& s) {
      p.push_back(join(prefix, "weight"));
      p.push_back(join(prefix, "bias"));
      s.push_back(join(prefix, "running_mean"));
      s.push_back(join(prefix, "running_var"));
    }

    typename B::template vector<T> stats;  // (2, C): mean, 1/sqrt(var + eps) used by the last forward
    typename B::template vector<T> sums;   // (2, C): scratch for backward
    void reserve(index_t) {
      stats.resize(2 * C);
      sums.resize(2 * C);
    }

    static void init(T* w, T* s, std::uint64_t, std::uint64_t) {
      B::for_each_index(C, [=] BASIN_HD(index_t c) {
        w[c] = T(1);
        w[C + c] = T(0);
        s[c] = T(0);
        s[C + c] = T(1);
      });
    }

    void forward(const T* w, T* s, const T* x, T* y, index_t n, mode m) {
      const index_t len = n * In.plane();
      T* st = backend::raw(stats);
      if (m == mode::train) {
        // (one value has no variance to normalize by: PyTorch refuses it too)
        require(len > 1, "batch_norm: expected more than 1 value per channel in train mode, got a batch of ", n,
                " with ", In.h, " x ", In.w, " values per channel");
        B::segmented_reduce(C, len, [=] BASIN_HD(index_t c, index_t i) { return double(x[c * len + i]); }, st);
        B::for_each_index(C, [=] BASIN_HD(index_t c) { st[c] /= T(len); });
        B::segmented_reduce(C, len, [=] BASIN_HD(index_t c, index_t i) {
          const double d = double(x[c * len + i]) - double(st[c]);
          return d * d;
        }, st + C);
        const double unbias = double(len) / double(len - 1);
        const double momentum = this->momentum;
        B::for_each_index(C, [=] BASIN_HD(index_t c) {
          const double var = double(st[C + c]) / double(len);
          s[c] = T((1 - momentum) * double(s[c]) + momentum * double(st[c]));
          s[C + c] = T((1 - momentum) * double(s[C + c]) + momentum * var * unbias);
          st[C + c] = T(1.0 / std::sqrt(var + eps));
        });
      } else {
        B::for_each_index(C, [=] BASIN_HD(index_t c) {
          st[c] = s[c];
          st[C + c] = T(1.0 / std::sqrt(double(s[C + c]) + eps));
        });
      }
      constexpr index_t P = In.plane();
      B::for_each_line(C * n, P, detail::bn_apply_fn<T>{w, st, x, y, C, n, P});
      last_mode = m;
    }

    // The eval-mode transform as y = x * scale + shift per channel, computed exactly as forward
    // does, for folding into the preceding conv: returns (scale (C), shift (C)) in backend memory.
    // It overwrites the statistics a train forward keeps for backward: model::infer, its one
    // caller's entry point, forgets the forward before it.
    const T* affine(const T* w, const T* s) {
      T* st = backend::raw(stats);
      B::for_each_index(C, [=] BASIN_HD(index_t c) {
        const T istd = T(1.0 / std::sqrt(double(s[C + c]) + eps)), scale = istd * w[c];
        st[c] = scale;
        st[C + c] = w[C + c] - s[c] * scale;
      });
      return st;
    }

    // Train mode: dx = gamma * istd / M * (M dy - sum(dy) - xhat sum(dy xhat)), M = n*h*w.
    // Eval mode: the statistics are constants, dx = gamma * istd * dy.
    void backward(const T* w, T* gw, const T* x, const T*, const T* dy, T* dx, index_t n) {
      const index_t len = n * In.plane();
      const T* st = backend::raw(stats);
      T* sm = backend::raw(sums);
      B::segmented_reduce(C, len, [=] BASIN_HD(index_t c, index_t i) {
        return double(dy[c * len + i]) * double((x[c * len + i] - st[c]) * st[C + c]);
      }, sm);                                                                      // sum(dy xhat)
      B::segmented_reduce(C, len, [=] BASIN_HD(index_t c, index_t i) { return double(dy[c * len + i]); }, sm + C);
      B::copy(C, sm, gw);
      B::copy(C, sm + C, gw + C);
      if (!dx) return;
      constexpr index_t P = In.plane();
      const bool train = last_mode == mode::train;
      B::for_each_line(C * n, P, detail::bn_backward_fn<T>{w, st, sm, x, dy, dx, C, n, P, len, train});
    }

    mode last_mode = mode::train;
  };
};

}  // namespace basin
