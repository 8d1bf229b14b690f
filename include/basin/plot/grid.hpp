// basin/plot/grid.hpp — what the landscape code hands to the pictures and to the exporters.
//
// A loss-landscape surface is f(alpha, beta) = L(theta* + alpha delta + beta eta) sampled on a
// rectangular grid (Li, Xu, Taylor, Studer, Goldstein 2018, "Visualizing the Loss Landscape of
// Neural Nets", eq. 1 and sec. 4). grid2d holds the grid and the values, NaN where a point was
// not (yet) computed; curve holds a 1-D line such as a loss per epoch or an interpolation.
//
// Also here: the checks every picture and exporter makes on its input, and the number format
// shared by the .dat, .csv and .vtk writers (shortest text that reads back to the same double).
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "basin/core/config.hpp"
#include "basin/core/error.hpp"
#include "basin/core/files.hpp"

namespace basin::plot {

// A surface over a rectangular grid.
struct grid2d {
  std::vector<double> x, y;  // (nx), (ny): coordinates, finite and strictly increasing
  std::vector<double> z;     // (nx, ny) row-major: z[i*ny + j] is the value at (x[i], y[j]); NaN = not computed
  std::string name;          // e.g. "train_loss"; names the value column and the colour bar's data

  index_t nx() const { return index_t(x.size()); }
  index_t ny() const { return index_t(y.size()); }
  // Throws basin::error unless 0 <= i < nx(), 0 <= j < ny() and z.size() == nx()*ny().
  double at(index_t i, index_t j) const {
    require(i >= 0 && i < nx() && j >= 0 && j < ny() && z.size() == x.size() * y.size(), "grid2d::at: (i, j) = (", i,
            ", ", j, ") on a grid of ", nx(), " x ", ny(), " points with ", z.size(),
            " values, expected 0 <= i < nx, 0 <= j < ny and nx * ny values");
    return z[std::size_t(i * ny() + j)];
  }
};

// A 1-D line: y[k] at x[k], drawn in the given order. NaN in y marks a missing point.
struct curve {
  std::vector<double> x, y;  // (n), (n)
  std::string label;         // the legend entry
  int dash = 0;              // plot::curves only (scatter plots ignore it): gnuplot's dash type (1 solid, 2 dashed,
                             // 3 dotted, ...); 0 is the group's own (loss solid, accuracy dashed), e.g. 2 for a copy
                             // drawn over its original
  int colour = -1;           // plot::curves only: an index into the line colours (0 blue, 1 orange, 2 green, 3 red,
                             // ...; 0 to 9); -1 is the curve's position in its group, so that loss curve k and
                             // accuracy curve k share one; e.g. the paper's 1-D figures: loss blue and accuracy red,
                             // training solid and test dashed
  bool points = false;       // plot::curves only: a marker at every point too (e.g. a path's epochs)
  std::vector<double> low = {}, high = {};  // plot::curves only: an interval around each y (a confidence interval),
                                            // drawn as error bars with a marker at every point; empty: none; else as
                                            // many as x, with low[i] <= y[i] <= high[i] wherever y[i] is finite
};

// How a picture looks. Every field has a sensible default, so `style{}` gives a finished picture.
//   contour, heatmap, surface3d: xlabel and ylabel name the axes, zlabel the value (z axis and
//     colour bar); log_z puts the value on a log scale.
//   curves: xlabel names the x axis, zlabel the left (loss) axis, y2label the right (accuracy)
//     axis; log_z puts the loss axis on a log scale.
//   histograms: xlabel names the value axis, ylabel the count axis; log_z puts counts on a log scale.
// An empty title is replaced by the grid's name (surfaces) or a generic title (curves, histograms).
struct style {
  std::string title, xlabel = "x", ylabel = "y", zlabel = "loss";
  std::string y2label = "accuracy (%)";
  bool log_z = false;
  bool log_x = false;  // curves only: the x axis on a log scale (every x must then be positive)
  bool svg = true;  // also write <stem>.svg beside <stem>.png
  int width = 900, height = 700;  // pixels of the PNG (and of the SVG's viewport)
  // contour only: one extra contour drawn dashed in red with its own legend entry, e.g. the
  // initial loss ln 10 = 2.303 of a 10-class net that separates the basin from the "shattered"
  // region; NaN draws none.
  double highlight = std::numeric_limits<double>::quiet_NaN();
  std::string highlight_label = "initial loss";
  // contour only: a path drawn over the map as a line through its points, the first one circled
  // ("start") and the last one starred, e.g. a training trajectory projected on the plane
  // (landscape/trajectory.hpp); empty draws none. Points must be finite.
  std::vector<std::array<double, 2>> path;
  std::string path_label = "training path";
  // heat map, 3-D surface and curves: the values shown, as the reference tool's vmin/vmax (its
  // seaborn heat map), h52vtp.py's zmax and plot_1D.py's loss_max; NaN takes that end from the
  // data. Curves: the left (loss) axis's range; lines leave the plot beyond it. A heat map colours
  // a value outside [vmin, vmax] with the nearer end's colour; a 3-D surface draws it on that end
  // (a flat floor or plateau, as the paper's 3-D figures are cut), its z axis spanning the range,
  // so that the high rim of a plane does not hide its basin; the end's tic then reads "≥ vmax" or
  // "≤ vmin". A given end must be finite, positive with log_z, and vmin < vmax. The .dat files
  // keep the values as they are.
  double vmin = std::numeric_limits<double>::quiet_NaN();
  double vmax = std::numeric_limits<double>::quiet_NaN();
};

namespace detail {

// The shortest decimal text that std::strtod reads back to exactly v (std::to_chars); NaN and
// infinities as the caller asks (gnuplot wants "NaN", CSV readers "nan", "inf", "-inf").
inline std::string number(double v, std::string_view nan_text = "NaN") {
  if (std::isnan(v)) return std::string(nan_text);
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Text for one comment line of a data file: control characters (newlines) become spaces.
inline std::string one_line(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return s;
}

// requires nothing; throws basin::error naming `fn` unless style.vmin and style.vmax are each
// NaN or finite (positive with log_z), and vmin < vmax where both are given.
inline void check_value_range(const style& st, const char* fn) {
  for (const auto& [v, name] : {std::pair{st.vmin, "style.vmin"}, std::pair{st.vmax, "style.vmax"}})
    require(std::isnan(v) || (std::isfinite(v) && (!st.log_z || v > 0)), fn, ": ", name, " = ", v,
            " must be NaN (from the data) or finite", st.log_z ? " and positive (log_z)" : "");
  require(!(st.vmin >= st.vmax), fn, ": style.vmin = ", st.vmin, " must be below style.vmax = ", st.vmax);
}

inline bool has_value_range(const style& st) {
  return !std::isnan(st.vmin) || !std::isnan(st.vmax);
}

// "grid2d 'train_loss'" for messages.
inline std::string grid_id(const grid2d& g) { return "grid2d '" + g.name + "'"; }

// requires nothing; throws basin::error, naming `fn` and the offending argument, unless the
// coordinates v (called `axis`) are finite and strictly increasing.
inline void check_axis(const std::vector<double>& v, const char* axis, const grid2d& g, const char* fn) {
  for (std::size_t k = 0; k < v.size(); ++k) {
    require(std::isfinite(v[k]), fn, ": ", grid_id(g), ": ", axis, "[", k, "] = ", v[k], " is not finite");
    if (k > 0)
      require(v[k] > v[k - 1], fn, ": ", grid_id(g), ": ", axis, " must be strictly increasing, but ", axis, "[",
              k, "] = ", v[k], " <= ", axis, "[", k - 1, "] = ", v[k - 1]);
  }
  // (the picture's axis range and cell widths are differences of coordinates)
  if (!v.empty())
    require(std::isfinite(v.back() - v.front()), fn, ": ", grid_id(g), ": ", axis, " spans [", v.front(), ", ",
            v.back(), "], wider than a double holds");
}

// ensures: g has at least 2 x and 2 y coordinates, each finite and strictly increasing, and
//   nx*ny values; when need_value, at least one finite value (with log_z: one positive value).
// throws: basin::error naming `fn`, the grid and what is wrong.
inline void check_grid(const grid2d& g, const char* fn, bool need_value = true, bool log_z = false) {
  require(g.x.size() >= 2 && g.y.size() >= 2, fn, ": ", grid_id(g),
          ": needs at least 2 x and 2 y coordinates, got nx = ", g.x.size(), ", ny = ", g.y.size());
  require(g.z.size() == g.x.size() * g.y.size(), fn, ": ", grid_id(g), ": z has ", g.z.size(),
          " values, expected nx*ny = ", g.x.size(), "*", g.y.size(), " = ", g.x.size() * g.y.size());
  check_axis(g.x, "x", g, fn);
  check_axis(g.y, "y", g, fn);
  if (!need_value) return;
  bool any = false, positive = false;
  for (double v : g.z) {
    any = any || std::isfinite(v);
    positive = positive || (std::isfinite(v) && v > 0);
  }
  require(any, fn, ": ", grid_id(g), ": z has no finite value (no point was computed)");
  require(!log_z || positive, fn, ": ", grid_id(g), ": log_z needs at least one positive value, found none");
}

// ensures: the folder that will hold `path` exists (created with its parents when missing).
// throws: basin::error naming `fn`, the argument and the folder when it cannot be created or
//   when `path` names no file (empty, or ending in a separator).
inline void prepare_parent(const std::filesystem::path& path, const char* fn, const char* arg) {
  require(!path.empty() && path.has_filename() && path.filename() != "." && path.filename() != "..", fn, ": ",
          arg, " '", path.string(), "' names no file");
  const auto dir = path.parent_path();
  if (!dir.empty()) make_folder(dir, text(fn, ": the folder of ", arg, " '", path.string(), "'"));
}

// (in core/files.hpp, which the examples' own result files use too)
using basin::write_text;

}  // namespace detail
}  // namespace basin::plot
