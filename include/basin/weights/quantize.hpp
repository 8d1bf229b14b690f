// basin/weights/quantize.hpp — rounding onto weight grids (Li, De, Xu, Studer, Samet, Goldstein
// 2017, "Training Quantized Nets: A Deeper Understanding", section 3).
//
// An integer grid of spacing delta with `bits` bits holds k * delta for integer k in
// [-(2^(bits-1) - 1), 2^(bits-1) - 1] (symmetric, saturating at its ends). A binary grid holds
// {-s, +s}. Two rounding rules:
//   Q_d(x) (deterministic, "R"):  the nearest grid point (ties away from zero), eq. (2);
//   Q_s(x) (stochastic, "SR"):    for x between grid points a < b, b with probability
//                                 (x - a) / (b - a) and a otherwise, so E[Q_s(x)] = x inside the
//                                 grid and Var[Q_s(x)] = delta^2 p (1 - p), eq. (3).
// Values outside the grid saturate to its ends under both rules. Functions are BASIN_HD so the
// same rounding runs on every backend; the uniform draw u in (0, 1) comes from the counter-based
// generator.
#pragma once

#include <cmath>
#include <string>

#include "basin/core/config.hpp"
#include "basin/core/error.hpp"

namespace basin::quant {

// A grid: spacing delta > 0 and largest level kmax (binary: kmax = 0.5 with delta = 2 s, so the
// levels are -s and +s; see binary_grid).
struct grid {
  double delta = 1;
  double lo = -1, hi = 1;  // the end points
  bool binary = false;
};

// One quantized weight tensor: where it lies in a model's parameter buffer, and its grid.
struct tensor_grid {
  index_t offset, size;
  grid g;
};

// The integer grid {-kmax delta, ..., kmax delta}, kmax = 2^(bits-1) - 1. Throws basin::error
// unless delta is finite and positive and 2 <= bits <= 32 (binary_grid for one bit).
inline grid integer_grid(double delta, int bits) {
  require(std::isfinite(delta) && delta > 0 && bits >= 2 && bits <= 32, "quant::integer_grid: delta = ", delta,
          ", bits = ", bits, ", expected a finite delta > 0 and 2 to 32 bits (binary_grid for 1 bit)");
  const double kmax = std::ldexp(1.0, bits - 1) - 1;
  return {delta, -kmax * delta, kmax * delta, false};  // (end points that overflow: grid_problem says so)
}
// The binary grid {-scale, scale}. Throws basin::error unless scale is finite and positive.
inline grid binary_grid(double scale) {
  require(std::isfinite(scale) && scale > 0, "quant::binary_grid: scale = ", scale, ", expected a finite scale > 0");
  return {2 * scale, -scale, scale, true};
}

// The grid a tensor of weights takes from their scale (the quantized optimizer's rule, and a
// quantized layer's without one): binary s = mean |w|, integer delta = max |w| / (2^(bits-1) - 1).
inline grid grid_from_scale(double max_abs, double mean_abs, int bits) {
  return bits == 1 ? binary_grid(mean_abs) : integer_grid(max_abs / (std::ldexp(1.0, bits - 1) - 1), bits);
}

// What is wrong with g as a grid of quantized weights; empty when nothing is: finite, a positive
// spacing, and either binary ({-s, s}, spacing 2 s, as binary_grid) or integer, symmetric, with
// 1 to 2^31 - 1 levels each side (at most 32 bits a weight; integer_grid's 2^(b-1) - 1 among
// them). A file's grid is checked with this before any weight is unpacked.
inline std::string grid_problem(const grid& g) {
  if (!(std::isfinite(g.delta) && std::isfinite(g.lo) && std::isfinite(g.hi) && g.delta > 0))
    return text("spacing ", g.delta, " and end points [", g.lo, ", ", g.hi, "] are not finite with a positive spacing");
  if (g.binary) {
    if (!(g.hi > 0 && g.lo == -g.hi && g.delta == 2 * g.hi))  // (binary_grid(g.hi)'s)
      return text("a binary grid needs end points -s and s (s > 0) and spacing 2 s, not [", g.lo, ", ", g.hi,
                  "] with spacing ", g.delta);
    return {};
  }
  const double kmax = std::round(g.hi / g.delta);
  if (!(kmax >= 1 && kmax <= 2147483647.0 && g.lo == -g.hi && g.hi == kmax * g.delta))
    return text("an integer grid needs end points -kmax delta and kmax delta with 1 <= kmax <= 2^31 - 1, not [", g.lo,
                ", ", g.hi, "] with spacing ", g.delta);
  return {};
}

// Q_d: the nearest grid point; binary: sign(x) * s with sign(0) = +1.
BASIN_HD inline double round_nearest(double x, const grid& g) {
  if (g.binary) return x >= 0 ? g.hi : g.lo;
  const double k = std::round(std::fabs(x) / g.delta);  // half away from zero; floor(y + 0.5) took 0.5 - 2^-54 up
  const double v = std::copysign(k * g.delta, x);
  return v < g.lo ? g.lo : v > g.hi ? g.hi : v;
}

// Q_s with the uniform draw u in (0, 1).
BASIN_HD inline double round_stochastic(double x, const grid& g, double u) {
  if (x <= g.lo) return g.lo;
  if (x >= g.hi) return g.hi;
  if (g.binary) return u < (x - g.lo) / (g.hi - g.lo) ? g.hi : g.lo;
  const double f = std::floor(x / g.delta);
  const double p = x / g.delta - f;
  const double v = (u < p ? f + 1 : f) * g.delta;
  return v < g.lo ? g.lo : v > g.hi ? g.hi : v;
}

}  // namespace basin::quant
