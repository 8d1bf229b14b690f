// basin/landscape/convexity.hpp — how convex a computed 2-D slice of the loss looks.
//
// Li et al. 2018 read their surface plots by eye: a "convex-like" basin (ResNets with skips, wide
// nets, DenseNet) against a "chaotic" one (deep nets without skips). slice_convexity puts a number
// on what the eye sees, from the surface file alone: at every interior grid point the slice's
// 2x2 Hessian by central differences (three-point formulas, so uneven spacing is fine), and the
// share of points near the minimizer where the slice curves down in some direction. A point
// counts as non-convex when the smaller eigenvalue is negative beyond `tolerance` times the
// larger magnitude, |lambda_min / lambda_max| > tolerance as in the paper's Hessian maps (which
// look along all directions of weight space; this looks along the plane only, so it can call a
// point convex that the Hessian map would not, never the other way round for the same plane).
// It also counts strict local minima on the grid (lower than all 8 neighbours): one for a
// basin, many for a chaotic surface.
#pragma once

#include <algorithm>
#include <cmath>

#include "basin/core/error.hpp"
#include "basin/plot/grid.hpp"

namespace basin {

struct slice_convexity_result {
  index_t points = 0;        // interior points within the radius whose 8 neighbours are computed
  index_t nonconvex = 0;     // of those, the points where the slice curves down in some direction
  double share = 0;          // nonconvex / points (NaN when points is 0)
  index_t local_minima = 0;  // interior points within the radius lower than all 8 neighbours
};

// The slice g (x outer, y inner, as plot::grid2d holds it: surface_values) at points with
// x^2 + y^2 <= radius^2. requires: g as plot::grid2d requires (2x2 points or more, finite and
// strictly increasing coordinates, z of nx * ny values; NaN = not computed), radius > 0,
// tolerance in [0, 1). throws: basin::error naming the argument.
inline slice_convexity_result slice_convexity(const plot::grid2d& g, double radius, double tolerance = 0.01) {
  constexpr const char* fn = "slice_convexity";
  plot::detail::check_grid(g, fn);
  require(radius > 0, fn, ": radius must be positive, got ", radius);
  require(tolerance >= 0 && tolerance < 1, fn, ": tolerance must lie in [0, 1), got ", tolerance);
  slice_convexity_result r;
  for (index_t i = 1; i + 1 < g.nx(); ++i)
    for (index_t j = 1; j + 1 < g.ny(); ++j) {
      const double x = g.x[std::size_t(i)], y = g.y[std::size_t(j)];
      if (x * x + y * y > radius * radius * (1 + 1e-12)) continue;  // points on the circle count, whatever the rounding
      bool complete = true, lowest = true;
      const double f = g.at(i, j);
      for (int a = -1; a <= 1; ++a)
        for (int b = -1; b <= 1; ++b) {
          const double v = g.at(i + a, j + b);
          complete = complete && std::isfinite(v);
          if (a || b) lowest = lowest && f < v;
        }
      if (!complete) continue;
      const double hxm = x - g.x[std::size_t(i - 1)], hxp = g.x[std::size_t(i + 1)] - x;
      const double hym = y - g.y[std::size_t(j - 1)], hyp = g.y[std::size_t(j + 1)] - y;
      const double fxx = 2 * ((g.at(i + 1, j) - f) / hxp - (f - g.at(i - 1, j)) / hxm) / (hxp + hxm);
      const double fyy = 2 * ((g.at(i, j + 1) - f) / hyp - (f - g.at(i, j - 1)) / hym) / (hyp + hym);
      const double fxy = (g.at(i + 1, j + 1) - g.at(i + 1, j - 1) - g.at(i - 1, j + 1) + g.at(i - 1, j - 1)) /
                         ((hxp + hxm) * (hyp + hym));
      const double mean = (fxx + fyy) / 2, dev = std::hypot((fxx - fyy) / 2, fxy);
      const double lo = mean - dev, hi = mean + dev;
      ++r.points;
      if (lo < -tolerance * std::max(std::abs(lo), std::abs(hi))) ++r.nonconvex;
      if (lowest) ++r.local_minima;
    }
  r.share = r.points ? double(r.nonconvex) / double(r.points) : std::nan("");
  return r;
}

}  // namespace basin
