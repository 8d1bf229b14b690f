// basin/landscape/width.hpp — how wide a basin looks along a computed 1-D line.
//
// The sharp-and-flat pictures (Keskar et al. 2017, Li et al. 2018) are read as widths: how far
// from a minimizer, along a line (an interpolation between two minimizers, or a random
// direction), the loss stays below a level, e.g. chance (ln 10 for 10 classes). From the line's
// grid alone that distance is known only as well as the grid resolves it, so line_reach returns
// an interval [lo, hi] and says why:
//   crossed     the loss passes the level between two grid points past the first; linearly
//               interpolated (lo = hi);
//   first_step  above the level already one grid step out: somewhere in [0, step] (a loss that
//               jumps by orders of magnitude within the step makes interpolation meaningless);
//   not_finite  the first point above is not finite (NaN counts as above the level): between
//               the last finite point and it;
//   grid_ends   never above it on the grid: at least the distance to the grid's end (hi = inf);
//   above       the starting point itself is above the level (or not finite): 0.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "basin/core/error.hpp"

namespace basin {

struct line_reach {
  enum kind { crossed, first_step, not_finite, grid_ends, above } how = crossed;
  double lo = 0, hi = 0;  // the distance lies in [lo, hi]
  // "0.293", "< 0.05", "< 0.05 (not finite there)", "> 0.5" or "0 (above it at the start)",
  // distances rounded to 3 decimals, or to 3 significant digits below 0.001 (a fine grid's).
  std::string text() const {
    const auto r = [](double v) {
      if (v != 0 && std::fabs(v) < 1e-3) {
        const double scale = std::pow(10.0, 2 - std::floor(std::log10(std::fabs(v))));
        return basin::text(std::round(v * scale) / scale);
      }
      return basin::text(std::round(v * 1000) / 1000);
    };
    switch (how) {
      case crossed: return r(lo);
      case first_step: return "< " + r(hi);
      case not_finite: return "< " + r(hi) + " (not finite there)";
      case grid_ends: return "> " + r(lo);
      case above: return "0 (above it at the start)";
    }
    return "";
  }
};

// How far the loss y (at grid points x) stays at or below `level` going from x[from] in the
// direction of `step` (+1: increasing index, -1: decreasing). requires: x and y of equal size,
// at least 2; x finite and strictly increasing; from < size; step = +1 or -1; level finite.
// throws: basin::error naming the argument.
inline line_reach reach_below(const std::vector<double>& x, const std::vector<double>& y, std::size_t from, int step,
                              double level) {
  constexpr const char* fn = "reach_below";
  require(x.size() == y.size() && x.size() >= 2, fn, ": expected x and y of the same size, at least 2, got ",
          x.size(), " and ", y.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    require(std::isfinite(x[i]) && (i == 0 || x[i] > x[i - 1]), fn,
            ": x must be finite and strictly increasing, x[", i, "] = ", x[i]);
  require(from < x.size(), fn, ": from must index the grid (", x.size(), " points), got ", from);
  require(step == 1 || step == -1, fn, ": step must be +1 or -1, got ", step);
  require(std::isfinite(level), fn, ": level must be finite, got ", level);
  if (!(y[from] <= level)) return {line_reach::above, 0, 0};
  for (std::ptrdiff_t i = std::ptrdiff_t(from) + step; i >= 0 && i < std::ptrdiff_t(x.size()); i += step) {
    const auto a = std::size_t(i - step), b = std::size_t(i);
    if (y[b] <= level) continue;
    const double da = std::abs(x[a] - x[from]), db = std::abs(x[b] - x[from]);
    if (!std::isfinite(y[b])) return {line_reach::not_finite, da, db};
    if (a == from) return {line_reach::first_step, 0, db};
    const double w = da + (level - y[a]) / (y[b] - y[a]) * (db - da);
    return {line_reach::crossed, w, w};
  }
  return {line_reach::grid_ends, std::abs((step > 0 ? x.back() : x.front()) - x[from]),
          std::numeric_limits<double>::infinity()};
}

// A basin's half-width along a line through a minimizer, as a report prints it: from the grid
// point nearest x = 0 outwards on each side, where y first exceeds `level` (reach_below); both
// sides crossed: their mean, rounded to 3 decimals ("0.457"); both sides alike: that side's
// text ("> 0.5"); otherwise both, "< 0.05 left; 0.61 right" (no comma: it goes into CSV fields).
// requires: as reach_below. throws: basin::error naming the argument.
inline std::string half_width_text(const std::vector<double>& x, const std::vector<double>& y, double level) {
  require(!x.empty(), "half_width_text: expected a grid of at least 2 points, got none");
  std::size_t mid = 0;
  for (std::size_t i = 1; i < x.size(); ++i)
    if (std::fabs(x[i]) < std::fabs(x[mid])) mid = i;
  const line_reach l = reach_below(x, y, mid, -1, level), r = reach_below(x, y, mid, 1, level);
  if (l.how == line_reach::crossed && r.how == line_reach::crossed)
    return basin::text(std::round(500 * (l.lo + r.lo)) / 1000);
  if (l.how == r.how && l.lo == r.lo && l.hi == r.hi) return l.text();
  return l.text() + " left; " + r.text() + " right";
}

}  // namespace basin
