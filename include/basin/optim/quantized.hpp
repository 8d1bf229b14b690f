// basin/optim/quantized.hpp — quantized-training policies over the flat parameter buffer.
//
// Li, De, Xu, Studer, Samet, Goldstein 2017 (section 3) and Courbariaux, Bengio, David 2015
// (BinaryConnect). With Q the rounding onto each weight tensor's grid (weights/quantize.hpp) and
// g the gradient taken at the model's current (quantized) weights:
//   rounding R:               w <- Q_d(w - lr g)                    weights stay on the grid
//   stochastic rounding SR:   w <- Q_s(w - lr g)                    no float copy kept
//   BinaryConnect BC:         w_r <- clip(w_r - lr g), w <- Q_d(w_r) float shadow weights w_r
// where "w - lr g" is the wrapped optimizer's update (SGD, or Adam for the -Adam variants).
// Only weight tensors (conv and dense weights) are quantized; biases and batch-norm parameters
// stay in full precision, as in both papers. The grid of each tensor is fixed at construction:
// integer grids with delta = max|w| / (2^(bits-1) - 1) of the initial weights (or a given
// delta), binary grids with scale s = mean|w| of the initial weights; the model's weights are
// then moved onto the grid.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/random.hpp"
#include "basin/layers/common.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/weights/quantize.hpp"

namespace basin::optim {

namespace detail {
// Kept outside the class (see basin::detail::add): device lambdas in free functions of (B, T).
template <class B, class T>
void round_tensor(index_t n, const T* a, T* b, quant::grid g, bool stochastic, counter_rng rng, index_t off) {
  // A weight already on the grid in T stays (float(k delta) is not k delta in double, so the
  // formula alone would move it a level with probability about k 2^-24).
  if (stochastic)
    B::for_each_index(n, [=] BASIN_HD(index_t i) {
      const double x = double(a[i]);
      b[i] = T(quant::round_nearest(x, g)) == a[i]
                 ? a[i]
                 : T(quant::round_stochastic(x, g, rng.uniform(std::uint64_t(off + i))));
    });
  else
    B::for_each_index(n, [=] BASIN_HD(index_t i) { b[i] = T(quant::round_nearest(double(a[i]), g)); });
}
template <class B, class T>
void clip_tensor(index_t n, T* a, T lo, T hi) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { a[i] = a[i] < lo ? lo : a[i] > hi ? hi : a[i]; });
}
}  // namespace detail

enum class rounding { nearest, stochastic, binary_connect };

struct quantization {
  rounding rule = rounding::stochastic;
  int bits = 8;         // 1 = binary weights (+-s), else integer grids with this many bits
  double delta = 0;     // > 0: this spacing for every tensor (binary: the scale s, levels +-s)
                        // instead of one from the weights' scale
  std::uint64_t seed = 0;  // stochastic rounding draws from (seed, stream::rounding, step, index)
};

template <class Model, policy Base>
class quantized_optimizer {
 public:
  using T = typename Model::scalar;
  using B = typename Model::backend_type;

  // Requires bits >= 1. Ensures m's weight tensors lie on their grids (for BC: the shadow holds
  // the float weights and m.params their rounding).
  quantized_optimizer(Model& m, Base base, quantization q) : q_(q), inner_(base, Model::n_params) {
    require(q.bits >= 1 && q.bits <= 31, "quantized_optimizer: bits must lie in [1, 31], got ", q.bits);
    require(std::isfinite(q.delta) && q.delta >= 0,
            "quantized_optimizer: delta must be finite and >= 0 (0: a spacing from each tensor's weights), got ",
            q.delta);
    std::vector<T> w(static_cast<std::size_t>(Model::n_params));
    B::download(backend::raw(m.params), Model::n_params, w.data());
    const auto names = Model::parameter_names();
    for (std::size_t k = 0; k < Model::param_table.size(); ++k) {
      const auto& t = Model::param_table[k];
      if (t.kind != param_kind::weight) continue;
      double big = 0, mean = 0;
      for (index_t i = 0; i < t.size(); ++i) {
        const double v = double(w[t.offset + i]);
        require(std::isfinite(v), "quantized_optimizer: tensor '", names[k], "' holds the weight ", v, " at index ", i,
                ", expected finite weights to put on a grid");
        big = std::max(big, std::fabs(v));
        mean += std::fabs(v) / double(t.size());
      }
      require(q.delta > 0 || big > 0, "quantized_optimizer: tensor '", names[k],
              "' is all zero: its grid takes its scale from its weights (give quantization::delta instead)");
      const quant::grid g = q.delta <= 0  ? quant::grid_from_scale(std::max(big, 1e-12), mean, q.bits)
                            : q.bits == 1 ? quant::binary_grid(q.delta)
                                          : quant::integer_grid(q.delta, q.bits);
      grids_.push_back({t.offset, t.size(), g});
      // (weights all zero or not finite, or a spacing whose end points overflow)
      const auto problem = quant::grid_problem(grids_.back().g);
      require(problem.empty(), "quantized_optimizer: the grid of tensor '", names[k], "': ", problem);
    }
    publish_grids(m);
    if (q.rule == rounding::binary_connect) {
      shadow_ = m.params;  // w_r: the float weights
      clip(backend::raw(shadow_));
      round_into(backend::raw(shadow_), backend::raw(m.params), rounding::nearest);
    } else {
      round_into(backend::raw(m.params), backend::raw(m.params), rounding::nearest);
    }
  }

  // One step with the gradient in m.grads (taken at m's current, quantized weights).
  // A step the wrapped optimizer refuses (its learning rate or settings) changes nothing, the
  // step count (which keys stochastic rounding's draws) included.
  void step(Model& m, double lr) {
    if (q_.rule == rounding::binary_connect) {
      inner_.step(backend::raw(shadow_), backend::raw(m.grads), lr);
      ++t_;
      clip(backend::raw(shadow_));
      B::copy(Model::n_params, backend::raw(shadow_), backend::raw(m.params));  // biases, bn: full precision
      round_into(backend::raw(shadow_), backend::raw(m.params), rounding::nearest);
    } else {
      inner_.step(backend::raw(m.params), backend::raw(m.grads), lr);
      ++t_;
      round_into(backend::raw(m.params), backend::raw(m.params), q_.rule);
    }
  }

  // The state as host values: the wrapped optimizer's slots, BinaryConnect's shadow weights
  // ("shadow"), the grids and the step count (which keys stochastic rounding's draws).
  optimizer_state<T> save_state() const {
    auto s = inner_.save_state();
    const auto own = save_state_header();
    s.kind = own.kind;
    s.settings.insert(s.settings.begin(), own.settings.begin(), own.settings.end());
    s.steps = t_;
    if (q_.rule == rounding::binary_connect) {
      std::vector<T> v(static_cast<std::size_t>(Model::n_params));
      B::download(backend::raw(const_cast<quantized_optimizer&>(*this).shadow_), Model::n_params, v.data());
      s.slots.emplace_back("shadow", std::move(v));
    }
    s.grids = grids_;
    return s;
  }
  // Restores a state saved by save_state into this optimizer and m's quantized layers (m's
  // weights are those saved with it: load them first). Requires the same rule, bits, wrapped
  // optimizer and settings, and grids for the same tensors; throws basin::error naming the
  // difference otherwise (nothing is changed then).
  void load_state(Model& m, const optimizer_state<T>& s) {
    const auto mine = save_state_header();
    require(s.kind == mine.kind, "quantized_optimizer: a state of '", s.kind, "' cannot be loaded into '", mine.kind,
            "'");
    require(s.settings.size() >= 5, "quantized_optimizer: the state has ", s.settings.size(), " settings");
    for (std::size_t i = 0; i < 5; ++i)
      require(s.settings[i] == mine.settings[i], "quantized_optimizer: the state was saved with ", s.settings[i].first,
              " = ", s.settings[i].second, ", this optimizer has ", mine.settings[i].first, " = ",
              mine.settings[i].second);
    require(s.grids.size() == grids_.size(), "quantized_optimizer: the state has ", s.grids.size(), " grids, the net ",
            grids_.size(), " quantized tensors");
    for (std::size_t k = 0; k < grids_.size(); ++k) {
      const auto& g = s.grids[k].g;
      require(s.grids[k].offset == grids_[k].offset && s.grids[k].size == grids_[k].size, "quantized_optimizer: grid ",
              k, " of the state covers offset ", s.grids[k].offset, ", ", s.grids[k].size,
              " values, but the tensor lies at offset ", grids_[k].offset, ", ", grids_[k].size, " values");
      require(grid_fits(g), "quantized_optimizer: grid ", k, " of the state (delta ", g.delta, ", [", g.lo, ", ", g.hi,
              "], ", g.binary ? "binary" : "integer", ") is not ", q_.bits == 1 ? "a binary" : "an integer",
              " grid of ", q_.bits, " bit(s)", q_.delta > 0 ? " with the optimizer's fixed spacing" : "");
    }
    const bool bc = q_.rule == rounding::binary_connect;
    require(s.slots.size() >= (bc ? 1u : 0u) &&
                (!bc || (s.slots.back().first == "shadow" && index_t(s.slots.back().second.size()) == Model::n_params)),
            "quantized_optimizer: a BinaryConnect state needs the shadow weights (", Model::n_params, " values)");
    optimizer_state<T> inner = s;
    inner.kind = s.kind.substr(std::string("quantized ").size());
    inner.settings.erase(inner.settings.begin(), inner.settings.begin() + 5);
    if (bc) inner.slots.pop_back();
    inner.grids.clear();
    inner_.load_state(inner);  // checks the wrapped optimizer's settings and slots
    grids_ = s.grids;
    publish_grids(m);
    if (bc) B::upload(s.slots.back().second.data(), Model::n_params, backend::raw(shadow_));
    t_ = s.steps;
  }

  // This optimizer bound to m, in the form train() and train_resumable() take:
  //   basin::train(m, q.bind(m), lr, data, options);
  struct bound {
    quantized_optimizer& q;
    Model& m;
    void step(T*, const T*, double lr) { q.step(m, lr); }
    optimizer_state<T> save_state() const { return q.save_state(); }
    void load_state(const optimizer_state<T>& s) { q.load_state(m, s); }
  };
  bound bind(Model& m) { return {*this, m}; }

  // The grid of each quantized tensor: (offset, size, grid), in table order.
  using tensor_grid = quant::tensor_grid;
  const std::vector<tensor_grid>& grids() const { return grids_; }
  // BinaryConnect's float shadow weights (empty for the other rules).
  const typename B::template vector<T>& shadow() const { return shadow_; }

 private:
  // Layers with a quantized weight type (weights::binary, weights::integer<b>) round onto the
  // optimizer's grids, so their packed weights are exactly the values it keeps. Every conv and
  // dense layer holds one weight tensor, visited in the parameter table's order.
  void publish_grids(Model& m) {
    std::size_t count = 0;
    m.for_each_weight_layer([&](auto& l, std::size_t k) {
      using L = std::remove_cvref_t<decltype(l)>;
      if constexpr (L::quantized) {
        const int bits = weight_traits<typename L::weight_type>::bits;
        require(bits == q_.bits, "quantized_optimizer: the net's ", bits == 1 ? "binary" : "integer",
                " layers hold ", bits, "-bit weights, the quantization asks for ", q_.bits, " bit(s)");
        l.set_weight_grid(grids_[k].g);
      }
      count = k + 1;
    });
    require(count == grids_.size(), "quantized_optimizer: the net has ", count, " conv and dense layers but ",
            grids_.size(), " weight tensors");
  }

  // g is a grid this optimizer could have made: of its kind and bits, finite, with the fixed
  // spacing when it has one.
  bool grid_fits(const quant::grid& g) const {
    if (!quant::grid_problem(g).empty() || g.binary != (q_.bits == 1)) return false;
    if (g.binary) return q_.delta <= 0 || g.hi == q_.delta;
    const auto want = quant::integer_grid(g.delta, q_.bits);
    return g.lo == want.lo && g.hi == want.hi && (q_.delta <= 0 || g.delta == q_.delta);
  }

  // The kind and this optimizer's own settings, as save_state writes them.
  optimizer_state<T> save_state_header() const {
    optimizer_state<T> s;
    s.kind = std::string("quantized ") + Base::name;
    s.settings = {{"rule", double(int(q_.rule))},
                  {"bits", double(q_.bits)},
                  {"delta", q_.delta},
                  {"seed_high", double(q_.seed >> 32)},
                  {"seed_low", double(q_.seed & 0xffffffffu)}};
    return s;
  }

  // out = Q(in) on every quantized tensor (in and out may alias).
  void round_into(const T* in, T* out, rounding r) {
    const counter_rng rng{q_.seed, (stream::rounding << 32) + std::uint64_t(t_)};
    for (const auto& tg : grids_)
      detail::round_tensor<B>(tg.size, in + tg.offset, out + tg.offset, tg.g, r == rounding::stochastic, rng, tg.offset);
  }
  // BinaryConnect keeps its shadow weights inside the grid's range (binary: [-s, s]).
  void clip(T* w) {
    for (const auto& tg : grids_) detail::clip_tensor<B>(tg.size, w + tg.offset, T(tg.g.lo), T(tg.g.hi));
  }

  quantization q_;
  optimizer<Base, T, B> inner_;
  std::vector<tensor_grid> grids_;
  typename B::template vector<T> shadow_;
  std::int64_t t_ = 0;
};

}  // namespace basin::optim
