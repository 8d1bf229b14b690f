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
//
// An optimizer's state (step count and slot buffers, under PyTorch's names: momentum_buffer;
// exp_avg, exp_avg_sq) travels in training checkpoints (io/checkpoint.hpp:
// save_training_checkpoint), so a run resumed from one continues exactly as if never stopped.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"
#include "basin/weights/quantize.hpp"

namespace basin::optim {

struct sgd {
  double momentum = 0.9;
  double weight_decay = 0;
  bool nesterov = false;
  static constexpr int slots = 1;
  static constexpr const char* name = "sgd";
  static constexpr const char* slot_names[slots] = {"momentum_buffer"};
  std::vector<std::pair<std::string, double>> settings() const {
    return {{"momentum", momentum}, {"weight_decay", weight_decay}, {"nesterov", nesterov ? 1.0 : 0.0}};
  }

  // Throws basin::error naming a setting that would make the weights NaN or the step meaningless.
  void check() const {
    require(std::isfinite(momentum) && momentum >= 0 && std::isfinite(weight_decay) && weight_decay >= 0,
            "sgd: momentum and weight_decay must be finite and >= 0, got ", momentum, " and ", weight_decay);
    require(!nesterov || momentum > 0, "sgd: nesterov needs momentum > 0");
  }

  template <class B, class T>
  void step(index_t n, T* w, const T* g, T* state, double lr, std::int64_t t) const {
    require(lr >= 0 && std::isfinite(lr), "sgd: learning rate must be finite and >= 0, got ", lr);
    check();
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
  static constexpr const char* name = "adam";
  static constexpr const char* slot_names[slots] = {"exp_avg", "exp_avg_sq"};
  std::vector<std::pair<std::string, double>> settings() const {
    return {{"beta1", beta1}, {"beta2", beta2}, {"eps", eps}, {"weight_decay", weight_decay}};
  }

  void check() const {
    require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "adam: betas must lie in [0, 1), got ", beta1, ", ",
            beta2);
    // (eps 0 makes a weight whose gradient is exactly 0, a dead relu's, 0 / 0)
    require(std::isfinite(eps) && eps > 0 && std::isfinite(weight_decay) && weight_decay >= 0,
            "adam: eps must be finite and > 0 and weight_decay finite and >= 0, got ", eps, " and ", weight_decay);
  }

  template <class B, class T>
  void step(index_t n, T* w, const T* g, T* state, double lr, std::int64_t t) const {
    require(lr >= 0 && std::isfinite(lr), "adam: learning rate must be finite and >= 0, got ", lr);
    check();
    const T b1 = T(beta1), b2 = T(beta2), wd = T(weight_decay), e = T(eps);
    require(e > T(0), "adam: eps ", eps, " is 0 in this scalar type");
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

// The most steps a saved state may count: 2^53 - 1, so that its next step's count is still exact
// in a double (Adam's bias correction takes beta^t in double); far from overflowing the counter.
inline constexpr std::int64_t max_optimizer_steps = (std::int64_t(1) << 53) - 1;

// An optimizer's state as host values: what a training checkpoint stores and restores.
template <class T>
struct optimizer_state {
  std::string kind;                                           // "sgd", "adam", "quantized sgd", ...
  std::vector<std::pair<std::string, double>> settings;       // the hyper-parameters, by name
  std::int64_t steps = 0;                                     // steps taken
  std::vector<std::pair<std::string, std::vector<T>>> slots;  // per parameter, the model's order
  std::vector<quant::tensor_grid> grids;                      // quantized optimizers: each tensor's grid
};

// The policy plus its state buffers (slots x n), zero at the start.
template <policy P, class T, class B>
class optimizer {
 public:
  P policy;
  explicit optimizer(P p, index_t n) : policy(p), n_(n), state_(std::size_t(P::slots * counted(n)), T(0)) {
    if constexpr (requires { p.check(); }) p.check();  // (and at every step: policy is public)
  }
  // One step: w -= update(g). Requires w and g of the length given at construction. A step the
  // policy refuses (a learning rate not finite or < 0, settings out of range) changes nothing,
  // the step count included (Adam's bias correction and stochastic rounding's draws key on it).
  void step(T* w, const T* g, double lr) {
    policy.template step<B>(n_, w, g, backend::raw(state_), lr, t_ + 1);
    ++t_;
  }
  std::int64_t steps() const { return t_; }
  void reset() {
    B::fill(index_t(state_.size()), T(0), backend::raw(state_));
    t_ = 0;
  }
  index_t size() const { return n_; }

  // The state as host values (one slot of n values per policy slot).
  optimizer_state<T> save_state() const {
    optimizer_state<T> s{P::name, policy.settings(), t_, {}, {}};
    for (int k = 0; k < P::slots; ++k) {
      std::vector<T> v(static_cast<std::size_t>(n_));
      B::download(backend::raw(state_) + k * n_, n_, v.data());
      s.slots.emplace_back(P::slot_names[k], std::move(v));
    }
    return s;
  }
  // Restores a state saved by save_state. Requires the same kind, settings and slots of n values;
  // throws basin::error naming the difference otherwise (the optimizer is then unchanged).
  void load_state(const optimizer_state<T>& s) {
    require(s.kind == P::name, "optimizer: a state of '", s.kind, "' cannot be loaded into '", P::name, "'");
    require(s.steps >= 0 && s.steps <= max_optimizer_steps, "optimizer: a state with ", s.steps,
            " steps, expected 0 to 2^53 - 1");
    const auto mine = policy.settings();
    require(s.settings.size() == mine.size(), "optimizer '", P::name, "': the state has ", s.settings.size(),
            " settings, expected ", mine.size());
    for (std::size_t i = 0; i < mine.size(); ++i)
      require(s.settings[i].first == mine[i].first && s.settings[i].second == mine[i].second, "optimizer '", P::name,
              "': the state was saved with ", s.settings[i].first, " = ", s.settings[i].second, ", this optimizer has ",
              mine[i].first, " = ", mine[i].second);
    require(s.slots.size() == std::size_t(P::slots), "optimizer '", P::name, "': the state has ", s.slots.size(),
            " slots, expected ", P::slots);
    for (int k = 0; k < P::slots; ++k)
      require(s.slots[k].first == P::slot_names[k] && index_t(s.slots[k].second.size()) == n_, "optimizer '", P::name,
              "': slot ", k, " is '", s.slots[k].first, "' of ", s.slots[k].second.size(), " values, expected '",
              P::slot_names[k], "' of ", n_);
    for (int k = 0; k < P::slots; ++k) B::upload(s.slots[k].second.data(), n_, backend::raw(state_) + k * n_);
    t_ = s.steps;
  }

 private:
  static index_t counted(index_t n) {
    require(n >= 0, "optimizer: the parameter count n must be at least 0, got ", n);
    return n;
  }
  index_t n_;
  typename B::template vector<T> state_;
  std::int64_t t_ = 0;
};

}  // namespace basin::optim
