// basin/landscape/directions.hpp — directions in weight space for loss-landscape slices.
//
// Li, Xu, Taylor, Studer, Goldstein 2018, "Visualizing the Loss Landscape of Neural Nets",
// section 4: a random Gaussian direction d with the shape of the parameters, normalized per
// filter so that every filter of d has the norm of the matching filter of the weights w:
//     d_{i,j} <- d_{i,j} * ||w_{i,j}|| / (||d_{i,j}|| + 1e-10)          (filter normalization)
// (filters are slices along the first axis of every tensor with more than one axis). Other
// normalizations: `layer` (whole tensor), `weight` (d <- d * w elementwise), `none`.
// One-axis tensors (biases, batch-norm gamma and beta, running statistics) are set to zero by
// default (`ignore_bias_bn`: basin's default, as `--xignore biasbn` in the reference tool), or
// copied from the weights as the reference tool does without that flag.
// `states` directions also move the batch-norm running statistics (the reference tool's
// `--dir_type states`, needed to interpolate between two trained models). The statistics are
// one-axis tensors, so a random `states` direction sets them to zero with `ignore_bias_bn` (they
// do not move) and copies them from the model without it, as the reference tool's
// normalize_directions_for_states does; a `difference` moves them by b - a.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"
#include "basin/core/random.hpp"
#include "basin/layers/common.hpp"

namespace basin {

enum class normalization { filter, layer, weight, none };

inline const char* to_string(normalization n) {
  switch (n) {
    case normalization::filter: return "filter";
    case normalization::layer: return "layer";
    case normalization::weight: return "weight";
    case normalization::none: return "none";
  }
  return "?";
}
// The normalization named s ("" is none, as the reference tool's empty --xnorm); `what` names
// where s came from (e.g. "option --norm") in the error.
inline normalization parse_normalization(const std::string& s, const std::string& what = "normalization") {
  if (s == "filter") return normalization::filter;
  if (s == "layer") return normalization::layer;
  if (s == "weight") return normalization::weight;
  if (s == "none" || s.empty()) return normalization::none;
  fail(what, ": expected filter, layer, weight or none, got '", s, "'");
}

struct direction_options {
  normalization norm = normalization::filter;
  bool ignore_bias_bn = true;  // one-axis tensors zero (true) or copied from the weights (false)
  bool states = false;         // also move batch-norm running statistics
};

// A direction: one value per parameter (and per running statistic in `states` mode, else the
// state part is zero), in backend memory, laid out as the model's buffers.
template <class Model>
struct direction {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  using vector = typename B::template vector<T>;
  vector params = vector(static_cast<std::size_t>(Model::n_params), T(0));  // (n_params)
  vector state = vector(static_cast<std::size_t>(Model::n_state), T(0));    // (n_state)
};

namespace detail {
// out = y - x
template <class B, class T>
void subtract(index_t n, const T* x, const T* y, T* out) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { out[i] = y[i] - x[i]; });
}
// out = o + a dx (+ b dy when dy is given)
template <class B, class T>
void axpby(index_t n, const T* o, T a, const T* dx, T b, const T* dy, T* out) {
  if (dy)
    B::for_each_index(n, [=] BASIN_HD(index_t i) { out[i] = o[i] + a * dx[i] + b * dy[i]; });
  else
    B::for_each_index(n, [=] BASIN_HD(index_t i) { out[i] = o[i] + a * dx[i]; });
}

// acc[i] += c x[i] (acc in double: PCA components, Lanczos vectors).
template <class B, class T>
void add_scaled(index_t n, double c, const T* x, double* acc) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { acc[i] += c * double(x[i]); });
}

// Normalizes d against w tensor by tensor, following the table.
template <class B, class T, class Table>
void normalize_against(const Table& table, const T* w, T* d, const direction_options& o) {
  for (const auto& t : table) {
    T* dt = d + t.offset;
    const T* wt = w + t.offset;
    const index_t len = t.size();
    if (t.rank <= 1) {
      if (o.ignore_bias_bn)
        B::fill(len, T(0), dt);
      else
        B::copy(len, wt, dt);
      continue;
    }
    switch (o.norm) {
      case normalization::none:
        break;
      case normalization::weight:
        B::for_each_index(len, [=] BASIN_HD(index_t i) { dt[i] *= wt[i]; });
        break;
      case normalization::filter:
      case normalization::layer: {
        const index_t groups = o.norm == normalization::filter ? t.filters() : 1, glen = len / groups;
        typename B::template vector<double> norms(std::size_t(2 * groups));
        double* nm = backend::raw(norms);
        B::segmented_reduce(groups, glen, [=] BASIN_HD(index_t g, index_t i) {
          const double v = wt[g * glen + i];
          return v * v;
        }, nm);
        B::segmented_reduce(groups, glen, [=] BASIN_HD(index_t g, index_t i) {
          const double v = dt[g * glen + i];
          return v * v;
        }, nm + groups);
        B::for_each_index(len, [=] BASIN_HD(index_t i) {
          const index_t g = i / glen;
          dt[i] = T(double(dt[i]) * std::sqrt(nm[g]) / (std::sqrt(nm[groups + g]) + 1e-10));
        });
        break;
      }
    }
  }
}
}  // namespace detail

// A random Gaussian direction for the model's current weights, normalized as o says.
// `which` tells independent directions of one seed apart (0 for x, 1 for y, ... up to 499: the
// streams past them belong to the Hessian's start vector and to stochastic rounding).
// Ensures: the same (seed, which) gives the same direction on every backend and thread count.
// Throws basin::error for which > 499 or a normalization none of the four.
template <class Model>
direction<Model> random_direction(Model& m, std::uint64_t seed, std::uint64_t which, const direction_options& o) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  require(which < 500, "random_direction: which = ", which, ", expected 0 to 499");
  require(o.norm == normalization::none || o.norm == normalization::weight || o.norm == normalization::filter ||
              o.norm == normalization::layer,
          "random_direction: normalization ", int(o.norm), " is none of none, weight, filter and layer");
  direction<Model> d;
  const counter_rng rng{seed, (stream::direction << 32) + 2 * which};
  T* dp = backend::raw(d.params);
  B::for_each_index(Model::n_params, [=] BASIN_HD(index_t i) { dp[i] = T(rng.normal(std::uint64_t(i))); });
  detail::normalize_against<B>(Model::param_table, backend::raw(m.params), dp, o);
  if (o.states) {
    const counter_rng srng{seed, (stream::direction << 32) + 2 * which + 1};
    T* ds = backend::raw(d.state);
    B::for_each_index(Model::n_state, [=] BASIN_HD(index_t i) { ds[i] = T(srng.normal(std::uint64_t(i))); });
    detail::normalize_against<B>(Model::state_table, backend::raw(m.state), ds, o);
  }
  return d;
}

// The direction from model a to model b: b - a (parameters; running statistics in states mode),
// for linear interpolation theta(t) = a + t (b - a) (Goodfellow, Vinyals, Saxe 2015).
template <class Model>
direction<Model> difference(Model& a, Model& b, bool states = true) {
  using B = typename Model::backend_type;
  direction<Model> d;
  detail::subtract<B>(Model::n_params, backend::raw(a.params), backend::raw(b.params), backend::raw(d.params));
  if (states) detail::subtract<B>(Model::n_state, backend::raw(a.state), backend::raw(b.state), backend::raw(d.state));
  return d;
}

namespace detail {
// The running variances of m and their steps along d, in double on the host.
template <class Model>
std::pair<std::vector<double>, std::vector<double>> running_variances(Model& m, direction<Model>& d) {
  using B = typename Model::backend_type;
  using T = typename Model::scalar;
  std::vector<T> v(static_cast<std::size_t>(Model::n_state)), dv(v.size());
  B::download(backend::raw(m.state), Model::n_state, v.data());
  B::download(backend::raw(d.state), Model::n_state, dv.data());
  std::pair<std::vector<double>, std::vector<double>> out;
  for (const auto& t : Model::state_table)
    if (t.kind == param_kind::bn_running_var)
      for (index_t i = t.offset; i < t.offset + t.size(); ++i)
        out.first.push_back(double(v[std::size_t(i)])), out.second.push_back(double(dv[std::size_t(i)]));
  return out;
}
}  // namespace detail

// The steps t over which m + t d keeps every batch norm's running variance at or above zero, as
// {lo, hi} (lo <= 0 <= hi for a model whose variances are not negative; -inf / +inf on a side
// where none turns). A states direction moves the variances in a straight line, and past the
// first that turns negative the batch norm divides by the square root of a negative number: every
// loss is NaN there, in PyTorch as well. Between two trained nets (difference) the interpolation
// over [0, 1] is always inside; extrapolating beyond them (the paper's a in [-0.5, 1.5]) leaves
// it once one net's variance of a channel is more than three times the other's.
template <class Model>
std::pair<double, double> running_variance_range(Model& m, direction<Model>& d) {
  const auto [v, dv] = detail::running_variances(m, d);
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (dv[i] > 0) lo = std::max(lo, -v[i] / dv[i]);  // v + t dv >= 0 for t >= -v / dv
    if (dv[i] < 0) hi = std::min(hi, -v[i] / dv[i]);
  }
  return {lo, hi};
}

// How many grid points (a, b) of a sweep, a in xs and b in ys (y null and ys empty: a line), put
// a running variance of m + a x + b y below zero: the points with no defined loss.
template <class Model>
index_t points_with_negative_variance(Model& m, direction<Model>& x, const std::vector<double>& xs,
                                      std::type_identity_t<direction<Model>>* y = nullptr,
                                      const std::vector<double>& ys = {}) {
  require((y != nullptr) == !ys.empty(), "points_with_negative_variance: give ys exactly with a second direction");
  const auto [v, dx] = detail::running_variances(m, x);
  const auto dy = y ? detail::running_variances(m, *y).second : std::vector<double>(v.size(), 0.0);
  index_t n = 0;
  for (const double b : ys.empty() ? std::vector<double>{0.0} : ys)
    for (const double a : xs)
      for (std::size_t i = 0; i < v.size(); ++i)
        if (v[i] + a * dx[i] + b * dy[i] < 0) {
          ++n;
          break;
        }
  return n;
}

// <x, y> over parameters and states, accumulated in double.
template <class Model>
double dot(direction<Model>& x, direction<Model>& y) {
  using B = typename Model::backend_type;
  using T = typename Model::scalar;
  typename B::template vector<double> out(2);
  const T *xp = backend::raw(x.params), *yp = backend::raw(y.params), *xs = backend::raw(x.state),
          *ys = backend::raw(y.state);
  double* o = backend::raw(out);
  B::segmented_reduce(1, Model::n_params, [=] BASIN_HD(index_t, index_t i) { return double(xp[i]) * yp[i]; }, o);
  B::segmented_reduce(1, Model::n_state, [=] BASIN_HD(index_t, index_t i) { return double(xs[i]) * ys[i]; }, o + 1);
  double h[2];
  B::download(o, 2, h);
  return h[0] + h[1];
}

// The cosine of the angle between two directions. Throws basin::error when either is zero or
// not finite (its squared norm named).
template <class Model>
double cosine(direction<Model>& x, direction<Model>& y) {
  const double xx = dot(x, x), yy = dot(y, y);
  require(xx > 0 && std::isfinite(xx), "cosine: the first direction's squared norm is ", xx,
          ", expected a positive finite number");
  require(yy > 0 && std::isfinite(yy), "cosine: the second direction's squared norm is ", yy,
          ", expected a positive finite number");
  return dot(x, y) / std::sqrt(xx * yy);
}

// Gram-Schmidt: y <- y - (<x, y> / <x, x>) x, so that <x, y> = 0 afterwards. Throws basin::error
// when x is zero or not finite, or y is not finite (y left as it was).
template <class Model>
void orthogonalize(direction<Model>& x, direction<Model>& y) {
  using B = typename Model::backend_type;
  using T = typename Model::scalar;
  const double xx = dot(x, x), xy = dot(x, y);
  require(xx > 0 && std::isfinite(xx), "orthogonalize: the first direction's squared norm is ", xx,
          ", expected a positive finite number");
  require(std::isfinite(xy) && std::isfinite(dot(y, y)), "orthogonalize: the second direction is not finite");
  const T c = T(xy / xx);
  T *yp = backend::raw(y.params), *ys = backend::raw(y.state);
  const T *xp = backend::raw(x.params), *xs = backend::raw(x.state);
  B::for_each_index(Model::n_params, [=] BASIN_HD(index_t i) { yp[i] -= c * xp[i]; });
  B::for_each_index(Model::n_state, [=] BASIN_HD(index_t i) { ys[i] -= c * xs[i]; });
}

// Sets the model to origin + a x (+ b y): one fused pass over the parameter buffer (and the
// state buffer). origin_* are the buffers of the point the slice goes through. Throws
// basin::error for a or b not finite (the model left as it was).
template <class Model, class V>
void set_point(Model& m, const V& origin_params, const V& origin_state, direction<Model>& x, double a,
               std::type_identity_t<direction<Model>>* y = nullptr, double b = 0) {
  using B = typename Model::backend_type;
  using T = typename Model::scalar;
  require(std::isfinite(a) && std::isfinite(b), "set_point: the coefficients are ", a, " and ", b,
          ", expected finite numbers");
  const auto axpby = [&](index_t n, const T* o, const T* dx, const T* dy, T* out) {
    detail::axpby<B>(n, o, T(a), dx, T(b), dy, out);
  };
  axpby(Model::n_params, backend::raw(const_cast<V&>(origin_params)), backend::raw(x.params),
        y ? backend::raw(y->params) : nullptr, backend::raw(m.params));
  axpby(Model::n_state, backend::raw(const_cast<V&>(origin_state)), backend::raw(x.state),
        y ? backend::raw(y->state) : nullptr, backend::raw(m.state));
}

}  // namespace basin
