// tests/layers/gradcheck.hpp — the gradient checker every layer goes through.
//
// For a bound layer impl in double, with random input x, parameters w and a random cotangent r,
// the scalar L = sum(r * f(x; w)) has dL/dx and dL/dw given by backward(dy = r). Both are
// compared against central differences (L(v + h) - L(v - h)) / 2h for every input element and
// every parameter, after a first forward and backward at another input, into gw and dx full of
// NaN (backward overwrites them, and the layer's scratch starts used).
#pragma once

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "../checks.hpp"
#include "basin/backend/host.hpp"
#include "basin/core/random.hpp"
#include "basin/layers/common.hpp"

namespace basin::test {

struct gradcheck_result {
  double max_rel_dx = 0, max_rel_dw = 0;
};

// Relative error with an absolute floor, so near-zero gradients do not blow up. A NaN in a or b
// gives NaN (std::max(1e-6, NaN) is 1e-6, the numerator is NaN).
inline double rel_err(double a, double b) { return std::abs(a - b) / std::max(1e-6, std::abs(a) + std::abs(b)); }

template <class Impl>
gradcheck_result gradcheck(index_t n, mode m, std::uint64_t seed = 7, double h = 1e-5, index_t dx_stride = 1) {
  using T = double;
  Impl layer;
  layer.reserve(n);
  constexpr dims in = Impl::in, out = Impl::out;
  const index_t nx = n * in.size(), ny = n * out.size();
  const auto len = [](index_t k) { return static_cast<std::size_t>(std::max<index_t>(k, 1)); };
  std::vector<T> x(len(nx)), w(len(Impl::n_params)), s(len(Impl::n_state)), r(len(ny)), y(len(ny)),
      dx(len(nx)), gw(len(Impl::n_params));
  const counter_rng rng{seed, 99};
  for (index_t i = 0; i < nx; ++i) x[i] = rng.normal(std::uint64_t(i));
  for (index_t i = 0; i < ny; ++i) r[i] = rng.normal(std::uint64_t(1000000 + i));
  Impl::init(w.data(), s.data(), seed, 5);
  // Move the parameters off their initial values (gamma = 1, beta = 0 would hide mistakes).
  for (index_t i = 0; i < Impl::n_params; ++i) w[i] += 0.3 * rng.normal(std::uint64_t(2000000 + i));
  for (const auto& d : Impl::state()) {  // running mean anywhere, running variance positive
    for (index_t i = 0; i < d.size(); ++i) {
      const double z = rng.normal(std::uint64_t(3000000 + d.offset + i));
      s[d.offset + i] = d.kind == param_kind::bn_running_var ? 0.5 + z * z : z;
    }
  }
  const std::vector<T> s0 = s;
  const auto loss = [&]() {
    s = s0;  // train-mode forwards move running statistics; every evaluation starts alike
    layer.forward(w.data(), s.data(), x.data(), y.data(), n, m);
    double acc = 0;
    for (index_t i = 0; i < ny; ++i) acc += r[i] * y[i];
    return acc;
  };
  // A first pass at another input, so that the checked one finds the layer's scratch (partial
  // sums, masks) used; and gw, dx full of NaN, which backward must overwrite, not add to.
  {
    const std::vector<T> keep = x;
    for (index_t i = 0; i < nx; ++i) x[i] = rng.normal(std::uint64_t(4000000 + i));
    loss();
    layer.backward(w.data(), gw.data(), x.data(), y.data(), r.data(), dx.data(), n);
    x = keep;
  }
  std::fill(gw.begin(), gw.end(), std::numeric_limits<T>::quiet_NaN());
  std::fill(dx.begin(), dx.end(), std::numeric_limits<T>::quiet_NaN());
  loss();
  layer.backward(w.data(), gw.data(), x.data(), y.data(), r.data(), dx.data(), n);
  const std::vector<T> dx_a = dx, gw_a = gw;
  gradcheck_result res;
  for (index_t i = 0; i < nx; i += dx_stride) {  // every dx_stride-th input element
    const T keep = x[i];
    x[i] = keep + h;
    const double lp = loss();
    x[i] = keep - h;
    const double lm = loss();
    x[i] = keep;
    res.max_rel_dx = worse(res.max_rel_dx, rel_err((lp - lm) / (2 * h), dx_a[i]));
  }
  for (index_t i = 0; i < Impl::n_params; ++i) {
    const T keep = w[i];
    w[i] = keep + h;
    const double lp = loss();
    w[i] = keep - h;
    const double lm = loss();
    w[i] = keep;
    res.max_rel_dw = worse(res.max_rel_dw, rel_err((lp - lm) / (2 * h), gw_a[i]));
  }
  return res;
}

// Checks a layer type L bound to input shape In in double on the host backend.
template <class L, dims In>
void check_layer(index_t n, mode m, double tol = 1e-6) {
  using impl = typename L::template bind<In, double, backend::host>;
  const auto r = gradcheck<impl>(n, m);
  BOOST_TEST(r.max_rel_dx < tol);
  BOOST_TEST(r.max_rel_dw < tol);
}

}  // namespace basin::test
