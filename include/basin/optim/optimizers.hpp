// basin/optim/optimizers.hpp — optimizer policies over the flat parameter buffer.
//
// A policy is a small struct of hyper-parameters with `slots` (how many state buffers of the
// parameter length it keeps) and `step(...)`, one fused pass over memory. `optimizer<Policy, T, B>`
// owns the state. The formulas are PyTorch's, so the same hyper-parameters train alike:
//   sgd:  d = g + wd w;  b = mu b + d (b = d at the first step);  d = nesterov ? d + mu b : b;
//         w -= lr d                                            (Sutskever et al. 2013)
//   adam: g = g + wd w;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//         w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)   (Kingma, Ba 2015, Algorithm 1)
// Quantized-training policies (stochastic rounding, BinaryConnect) wrap these.
#pragma once

#include <cmath>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"

namespace basin::optim {

struct sgd {
  double momentum = 0.9;
  double weight_decay = 0;
  bool nesterov = false;
  static constexpr int slots = 1;

  template <class B, class T>
  void step(index_t n, T* w, const T* g, T* state, double lr, std::int64_t t) const {
    require(lr >= 0 && std::isfinite(lr), "sgd: learning rate must be finite and >= 0, got ", lr);
    require(!nesterov || momentum > 0, "sgd: nesterov needs momentum > 0");
    const T mu = T(momentum), wd = T(weight_decay), a = T(lr);
    const bool first = t == 1, nest = nesterov;
    B::for_each_index(n, [=] BASIN_HD(index_t i) {
      T d = g[i] + wd * w[i];
      if (mu != T(0)) {
        const T b = first ? d : mu * state[i] + d;
        state[i] = b;
        d = nest ? d + mu * b : b;
      }
      w[i] -= a * d;
    });
  }
};

struct adam {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;
  static constexpr int slots = 2;

  template <class B, class T>
  void step(index_t n, T* w, const T* g, T* state, double lr, std::int64_t t) const {
    require(lr >= 0 && std::isfinite(lr), "adam: learning rate must be finite and >= 0, got ", lr);
    require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "adam: betas must lie in [0, 1), got ", beta1,
            ", ", beta2);
    const T b1 = T(beta1), b2 = T(beta2), wd = T(weight_decay), e = T(eps);
    const T c1 = T(1 - std::pow(beta1, double(t))), c2 = T(1 - std::pow(beta2, double(t))), a = T(lr);
    T* m = state;
    T* v = state + n;
    B::for_each_index(n, [=] BASIN_HD(index_t i) {
      const T gi = g[i] + wd * w[i];
      m[i] = b1 * m[i] + (T(1) - b1) * gi;
      v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
      w[i] -= a * (m[i] / c1) / (std::sqrt(v[i] / c2) + e);
    });
  }
};

template <class P>
concept policy = requires { P::slots; };

// The policy plus its state buffers (slots x n), zero at the start.
template <policy P, class T, class B>
class optimizer {
 public:
  P policy;
  explicit optimizer(P p, index_t n) : policy(p), n_(n), state_(std::size_t(P::slots * n), T(0)) {}
  // One step: w -= update(g). Requires w and g of the length given at construction.
  void step(T* w, const T* g, double lr) { policy.template step<B>(n_, w, g, backend::raw(state_), lr, ++t_); }
  std::int64_t steps() const { return t_; }
  void reset() {
    B::fill(index_t(state_.size()), T(0), backend::raw(state_));
    t_ = 0;
  }

 private:
  index_t n_;
  typename B::template vector<T> state_;
  std::int64_t t_ = 0;
};

}  // namespace basin::optim
