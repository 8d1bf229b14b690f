// basin/plot/curves.hpp — 1-D pictures: loss and accuracy curves, overlaid weight histograms;
// and scatter plots of points in the plane (a GAN's samples).
//
// Curves serve the 1-D plots of Li et al. 2018 (fig. 2 and 3: loss and accuracy along a
// direction or an interpolation, on two y axes) and training curves; histograms the weight
// distributions that the filter-normalization argument compares (Li et al. 2018, fig. 3).
// Like the surface pictures (plot/surface.hpp), each function writes <stem>.dat, <stem>.gp,
// <stem>.png and, when style.svg, <stem>.svg, creating the stem's folder when it is missing,
// and throws basin::error naming the function and the argument for bad input (before writing
// anything) and from plot::render when gnuplot is missing or fails.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/plot/gnuplot.hpp"
#include "basin/plot/grid.hpp"

namespace basin::plot {

namespace detail {

// Checks one group of curves; returns whether some y is finite (positive when positive_only).
inline bool check_curves(const std::vector<curve>& cs, const char* arg, bool positive_only, const char* fn) {
  bool any = false;
  for (std::size_t k = 0; k < cs.size(); ++k) {
    const auto& c = cs[k];
    require(!c.x.empty(), fn, ": ", arg, "[", k, "] ('", c.label, "') has no points");
    require(c.x.size() == c.y.size(), fn, ": ", arg, "[", k, "] ('", c.label, "'): x has ", c.x.size(),
            " values but y has ", c.y.size());
    require(c.dash >= 0 && c.dash <= 8, fn, ": ", arg, "[", k, "] ('", c.label, "'): dash ", c.dash,
            " is not a dash type from 1 to 8 (or 0 for the default)");
    require(c.colour >= -1 && c.colour <= 9, fn, ": ", arg, "[", k, "] ('", c.label, "'): colour ", c.colour,
            " is not a line colour from 0 to 9 (or -1 for the default)");
    require(c.low.size() == c.high.size() && (c.low.empty() || c.low.size() == c.x.size()), fn, ": ", arg, "[", k,
            "] ('", c.label, "'): low has ", c.low.size(), " values and high ", c.high.size(), ", expected none or ",
            c.x.size(), " each (one interval a point)");
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      require(std::isfinite(c.x[i]), fn, ": ", arg, "[", k, "] ('", c.label, "'): x[", i, "] = ", c.x[i],
              " is not finite");
      require(c.low.empty() || !std::isfinite(c.y[i]) ||
                  (std::isfinite(c.low[i]) && std::isfinite(c.high[i]) && c.low[i] <= c.y[i] && c.y[i] <= c.high[i] &&
                   (!positive_only || c.y[i] <= 0 || c.low[i] > 0)),
              fn, ": ", arg, "[", k, "] ('", c.label, "'): the interval [", c.low.empty() ? 0.0 : c.low[i], ", ",
              c.high.empty() ? 0.0 : c.high[i], "] of point ", i, " does not hold y = ", c.y[i],
              positive_only ? " with finite, positive ends (a log axis)" : " with finite ends");
      any = any || (std::isfinite(c.y[i]) && (!positive_only || c.y[i] > 0));
    }
  }
  return any;
}

// Checks sets of points (scatter plots): as check_curves, and every y finite too.
inline void check_points(const std::vector<curve>& cs, const std::string& arg, const char* fn) {
  check_curves(cs, arg.c_str(), false, fn);
  for (std::size_t k = 0; k < cs.size(); ++k)
    for (std::size_t i = 0; i < cs[k].y.size(); ++i)
      require(std::isfinite(cs[k].y[i]), fn, ": ", arg, "[", k, "] ('", cs[k].label, "'): y[", i, "] = ", cs[k].y[i],
              " is not finite");
}

}  // namespace detail

// Several curves on one plot: loss curves on the left axis (log scale with style.log_z; values
// <= 0 are then left out, not an error; style.log_x puts x on a log scale), accuracy curves in percent (0 to 100, not
// fractions) on the right axis, and a legend below the plot. Loss curve k and accuracy curve k share a colour (pass
// them in matching order, e.g. {train, test}) unless a curve's `colour` names one; loss lines are solid, accuracy lines
// dashed, unless a curve's `dash` says otherwise (a dash type from 1 to 8); a curve with `low` and `high` has error
// bars (its intervals) and a marker at every point. With no loss curves the
// accuracy curves go on the left axis. style.vmin and style.vmax, where given, fix the left axis's
// range (plot_1D.py's ylim(0, loss_max)): lines beyond it leave the plot; each given end must be
// finite, positive with log_z, and vmin < vmax. The .dat holds one data set per curve
// (gnuplot `index`): the loss curves first, then the accuracy curves, each "x y" per line in the given order, data sets
// separated by two blank lines; y exactly as given, "NaN" where not finite. requires: at least one curve; each curve
// with x.size() == y.size() > 0 and finite x; in each
//   non-empty group some finite y (positive for the loss group with log_z); a curve's low and high empty or
//   as many as x, finite, with low[i] <= y[i] <= high[i] wherever y[i] is finite (and low[i] > 0 where a loss
//   curve's y[i] > 0 on log_z's axis).
// ensures: <stem>.dat, <stem>.gp, <stem>.png (and <stem>.svg) written.
// throws: basin::error naming `loss_curves[k]` / `acc_curves[k]` and what is wrong, style.vmin or
//   style.vmax, the stem, or gnuplot's failure.
inline void curves(const std::vector<curve>& loss_curves, const std::vector<curve>& acc_curves,
                   const std::string& stem, const style& st) {
  constexpr const char* fn = "plot::curves";
  require(!loss_curves.empty() || !acc_curves.empty(), fn, ": loss_curves and acc_curves are both empty");
  const bool loss_ok = detail::check_curves(loss_curves, "loss_curves", st.log_z, fn);
  const bool acc_ok = detail::check_curves(acc_curves, "acc_curves", false, fn);
  require(loss_curves.empty() || loss_ok, fn, ": loss_curves have no finite", st.log_z ? " positive" : "",
          " y value");
  require(acc_curves.empty() || acc_ok, fn, ": acc_curves have no finite y value");
  detail::check_value_range(st, fn);
  if (st.log_x)
    for (const auto* group : {&loss_curves, &acc_curves})
      for (std::size_t k = 0; k < group->size(); ++k)
        for (std::size_t i = 0; i < (*group)[k].x.size(); ++i)
          require((*group)[k].x[i] > 0, fn, ": ", group == &loss_curves ? "loss_curves[" : "acc_curves[", k, "] ('",
                  (*group)[k].label, "'): x[", i, "] = ", (*group)[k].x[i], " is not positive, as style.log_x needs");
  const auto f = detail::files_for(stem, fn);

  std::string dat = "# basin curves: " + std::to_string(loss_curves.size()) + " loss curve(s), then " +
                    std::to_string(acc_curves.size()) +
                    " accuracy curve(s) in percent, one data set (gnuplot index) each; columns: x y (and low "
                    "high for a curve with intervals); NaN = missing\n";
  std::size_t index = 0;
  auto add = [&](const curve& c, const char* kind) {
    if (index > 0) dat += "\n\n";
    dat += "# index " + std::to_string(index++) + ": " + kind + " '" + detail::one_line(c.label) + "'\n";
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      dat += detail::number(c.x[i]) + ' ' + detail::number(std::isfinite(c.y[i]) ? c.y[i] : std::nan(""));
      if (!c.low.empty()) dat += ' ' + detail::number(c.low[i]) + ' ' + detail::number(c.high[i]);
      dat += '\n';
    }
  };
  for (const auto& c : loss_curves) add(c, "loss");
  for (const auto& c : acc_curves) add(c, "accuracy");

  const bool two_axes = !loss_curves.empty() && !acc_curves.empty();
  std::string s = detail::preamble(f, st, "curves", st.title.empty() ? std::string("loss and accuracy") : st.title);
  s += "\nset xlabel " + detail::gp_string(st.xlabel) + "\n";
  s += "set ylabel " + detail::gp_string(loss_curves.empty() ? st.y2label : st.zlabel) + "\n";
  s += "set tics out\nset xtics nomirror\n";
  if (two_axes) s += "set ytics nomirror\nset y2tics\nset y2label " + detail::gp_string(st.y2label) + "\n";
  else s += "set ytics mirror\n";
  // Log axes label their ticks 1e-06, not 0.0000010 (gnuplot's default pads to the smallest tick).
  if (st.log_z && !loss_curves.empty()) s += "set logscale y\nset format y \"%g\"\n";
  if (detail::has_value_range(st)) {
    // An end not given is gnuplot's to choose, unless every value on the axis lies beyond the
    // given one (gnuplot would find no point to draw and fail): then a decade (log) or
    // max(1, |end|) beyond it, as plot::heatmap widens such a range.
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& c : loss_curves.empty() ? acc_curves : loss_curves)
      for (double y : c.y)
        if (std::isfinite(y) && (!st.log_z || loss_curves.empty() || y > 0)) lo = std::min(lo, y), hi = std::max(hi, y);
    const bool log = st.log_z && !loss_curves.empty();
    std::string a = "*", b = "*";
    if (!std::isnan(st.vmin)) a = detail::number(st.vmin);
    if (!std::isnan(st.vmax)) b = detail::number(st.vmax);
    if (std::isnan(st.vmin) && lo >= st.vmax)
      a = detail::number(log ? st.vmax / 10 : st.vmax - std::max(1.0, std::fabs(st.vmax)));
    if (std::isnan(st.vmax) && hi <= st.vmin)
      b = detail::number(log ? st.vmin * 10 : st.vmin + std::max(1.0, std::fabs(st.vmin)));
    s += "set yrange [" + a + ":" + b + "]\n";
  }
  if (st.log_x) {  // the data's own range, a little wider (gnuplot's autoscale widens it to whole decades)
    std::vector<double> xs;  // the distinct x, ascending
    for (const auto* group : {&loss_curves, &acc_curves})
      for (const auto& c : *group) xs.insert(xs.end(), c.x.begin(), c.x.end());
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    const double lo = xs.front(), hi = xs.back(), pad = lo == hi ? 2.0 : std::pow(hi / lo, 0.05);
    s += "set logscale x\nset xrange [" + detail::number(lo / pad) + ":" + detail::number(hi * pad) + "]\n";
    // A few distinct x (depths, widths, learning rates) get a tick each: decade ticks would leave
    // a range like 1 to 4 with one.
    if (xs.size() <= 12) {
      std::string tics;
      for (double x : xs) tics += (tics.empty() ? "" : ", ") + detail::number(x);
      s += "set xtics (" + tics + ")\n";
    }
  }
  s += "set grid xtics ytics lt 1 lc rgb \"#e5e5e5\" lw 0.6\n";
  // The legend below the plot, with room kept for it under the x label (gnuplot's own
  // reservation lets the two overlap); as many entries a row as the longest one leaves room for
  // in the plot's width, and no more (maxcols): gnuplot's column is about 8 px a character plus
  // 110 for the line sample at this font (measured: 350 px for 30 characters), and it fits the
  // columns into about 80% of the picture's width. More rows than counted here would run into
  // the x label.
  std::size_t longest = 0;  // characters of the longest legend entry
  for (const auto* group : {&loss_curves, &acc_curves})
    for (const auto& c : *group) longest = std::max(longest, c.label.size());
  const std::size_t per_row = std::max<std::size_t>(1, std::size_t(0.8 * st.width) / (8 * longest + 110));
  const std::size_t rows = (loss_curves.size() + acc_curves.size() + per_row - 1) / per_row;
  s += "set key outside below center horizontal maxcols " + std::to_string(per_row) +
       " reverse Left samplen 4 spacing 1.2 width 2\n";
  s += "set bmargin " + detail::number(4 + 1.25 * double(rows)) + "\n";
  s += "set style data lines\n";
  const std::string file = detail::gp_file(f.base + ".dat");
  const std::string loss_col = st.log_z ? "1:($2 > 0 ? $2 : NaN)" : "1:2";
  std::string cmd;
  index = 0;
  auto colour = [](const curve& c, std::size_t k) { return c.colour >= 0 ? std::size_t(c.colour) : k; };
  auto title = [](const curve& c) { return c.label.empty() ? std::string("notitle") : "title " + detail::gp_string(c.label); };
  // A point with no finite neighbour (a one-point curve, or one between points not computed)
  // is no line's end: such curves are drawn with a marker at every point too, as are curves
  // that ask for them (curve::points).
  auto marks = [](const curve& c) {
    if (!c.low.empty()) return std::string(" with yerrorlines pt 7 ps 0.8");
    if (c.points) return std::string(" with linespoints pt 7 ps 0.8");
    const auto ok = [&](std::size_t i) { return i < c.y.size() && std::isfinite(c.y[i]); };
    for (std::size_t i = 0; i < c.y.size(); ++i)
      if (ok(i) && !(i > 0 && ok(i - 1)) && !ok(i + 1)) return std::string(" with linespoints pt 7 ps 0.8");
    return std::string();
  };
  for (std::size_t k = 0; k < loss_curves.size(); ++k, ++index)
    cmd += (cmd.empty() ? "plot " : ", \\\n     ") + file + " index " + std::to_string(index) + " using " + loss_col +
           (loss_curves[k].low.empty() ? "" : ":3:4") + marks(loss_curves[k]) + " lw 2 dt " +
           std::to_string(loss_curves[k].dash > 0 ? loss_curves[k].dash : 1) + " lc rgb \"" +
           detail::line_colour(colour(loss_curves[k], k)) + "\" " + title(loss_curves[k]);
  for (std::size_t k = 0; k < acc_curves.size(); ++k, ++index)
    cmd += (cmd.empty() ? "plot " : ", \\\n     ") + file + " index " + std::to_string(index) + " using 1:2" +
           (acc_curves[k].low.empty() ? "" : ":3:4") + (two_axes ? " axes x1y2" : "") + marks(acc_curves[k]) +
           " lw 2 dt " + std::to_string(acc_curves[k].dash > 0 ? acc_curves[k].dash : 2) + " lc rgb \"" +
           detail::line_colour(colour(acc_curves[k], k)) + "\" " + title(acc_curves[k]);
  s += cmd + "\n" + detail::epilogue(f, st);
  detail::finish(f, st, dat, s, fn);
}

// Sets of points in the plane as dots, one colour per set (curve k: x[i], y[i], legend label),
// and marks (e.g. a mixture's means) as black crosses; equal scales on both axes. The .dat holds
// one data set per curve (gnuplot `index`), then the marks.
// requires: at least one set, each with x.size() == y.size() > 0, all coordinates finite; marks
//   finite.
// ensures: <stem>.dat, <stem>.gp, <stem>.png (and <stem>.svg) written.
// throws: basin::error naming `sets[k]` or `marks[k]` and what is wrong, the stem, or gnuplot's
//   failure.
inline void scatter(const std::vector<curve>& sets, const std::string& stem, const style& st,
                    const std::vector<std::array<double, 2>>& marks = {}) {
  constexpr const char* fn = "plot::scatter";
  require(!sets.empty(), fn, ": sets is empty");
  detail::check_points(sets, "sets", fn);
  for (std::size_t k = 0; k < marks.size(); ++k)
    require(std::isfinite(marks[k][0]) && std::isfinite(marks[k][1]), fn, ": marks[", k, "] is not finite");
  const auto f = detail::files_for(stem, fn);
  std::string dat = "# basin scatter: " + std::to_string(sets.size()) + " set(s), then " +
                    std::to_string(marks.size()) + " mark(s); one data set (gnuplot index) each; columns: x y\n";
  for (std::size_t k = 0; k < sets.size(); ++k) {
    if (k > 0) dat += "\n\n";
    dat += "# index " + std::to_string(k) + ": '" + detail::one_line(sets[k].label) + "'\n";
    for (std::size_t i = 0; i < sets[k].x.size(); ++i)
      dat += detail::number(sets[k].x[i]) + ' ' + detail::number(sets[k].y[i]) + '\n';
  }
  if (!marks.empty()) {
    dat += "\n\n# index " + std::to_string(sets.size()) + ": marks\n";
    for (const auto& m : marks) dat += detail::number(m[0]) + ' ' + detail::number(m[1]) + '\n';
  }
  std::string s = detail::preamble(f, st, "scatter", st.title.empty() ? std::string("points") : st.title);
  s += "\nset xlabel " + detail::gp_string(st.xlabel) + "\nset ylabel " + detail::gp_string(st.ylabel) + "\n";
  s += "set size ratio -1\nset tics out nomirror\nset grid lt 1 lc rgb \"#e5e5e5\" lw 0.6\n";
  s += "set key outside below center horizontal samplen 1 spacing 1.2\n";
  const std::string file = detail::gp_file(f.base + ".dat");
  std::string cmd;
  for (std::size_t k = 0; k < sets.size(); ++k)
    cmd += (cmd.empty() ? "plot " : ", \\\n     ") + file + " index " + std::to_string(k) +
           " using 1:2 with points pt 7 ps 0.3 lc rgb \"" + detail::line_colour(k) + "\" " +
           (sets[k].label.empty() ? std::string("notitle") : "title " + detail::gp_string(sets[k].label));
  if (!marks.empty())
    cmd += ", \\\n     " + file + " index " + std::to_string(sets.size()) +
           " using 1:2 with points pt 2 ps 1.5 lw 2 lc rgb \"#000000\" title \"modes\"";
  s += cmd + "\n" + detail::epilogue(f, st);
  detail::finish(f, st, dat, s, fn);
}

// Small multiples of scatter plots: panel p is drawn like `scatter` (one colour per set, the
// marks as black crosses) in a grid of `columns` panels per row, all on the same axis ranges
// (the extent of every point and mark, padded by 5%) so that panels compare at a glance, e.g. a
// GAN's samples at several points of training. Panel titles above each panel, style.title above
// all, each panel's legend below it. The .dat holds one data set (gnuplot `index`) per panel and
// set in order, then the marks.
// requires: at least one panel, 1 <= columns <= 16, and every panel as `scatter` requires of its
//   sets; marks finite.
// ensures: <stem>.dat, <stem>.gp, <stem>.png (and <stem>.svg) written.
// throws: basin::error naming `panels[p].sets[k]`, `marks[k]` or `columns` and what is wrong, the
//   stem, or gnuplot's failure.
struct scatter_panel {
  std::vector<curve> sets;
  std::string title;
};
inline void scatter_panels(const std::vector<scatter_panel>& panels, int columns, const std::string& stem,
                           const style& st, const std::vector<std::array<double, 2>>& marks = {}) {
  constexpr const char* fn = "plot::scatter_panels";
  require(!panels.empty(), fn, ": panels is empty");
  require(columns >= 1 && columns <= 16, fn, ": columns must lie in [1, 16], got ", columns);
  double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
  const auto extend = [&](double x, double y) {
    lo[0] = std::min(lo[0], x), hi[0] = std::max(hi[0], x), lo[1] = std::min(lo[1], y), hi[1] = std::max(hi[1], y);
  };
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const std::string arg = "panels[" + std::to_string(p) + "].sets";
    require(!panels[p].sets.empty(), fn, ": ", arg, " is empty");
    detail::check_points(panels[p].sets, arg, fn);
    for (const auto& c : panels[p].sets)
      for (std::size_t i = 0; i < c.x.size(); ++i) extend(c.x[i], c.y[i]);
  }
  for (std::size_t k = 0; k < marks.size(); ++k) {
    require(std::isfinite(marks[k][0]) && std::isfinite(marks[k][1]), fn, ": marks[", k, "] is not finite");
    extend(marks[k][0], marks[k][1]);
  }
  for (int a = 0; a < 2; ++a) {
    const double pad = hi[a] > lo[a] ? 0.05 * (hi[a] - lo[a]) : 0.5;
    lo[a] -= pad, hi[a] += pad;
  }
  const auto f = detail::files_for(stem, fn);
  std::string dat = "# basin scatter_panels: " + std::to_string(panels.size()) + " panel(s), then " +
                    std::to_string(marks.size()) + " mark(s); one data set (gnuplot index) per panel and set; x y\n";
  int index = 0;
  for (std::size_t p = 0; p < panels.size(); ++p)
    for (const auto& c : panels[p].sets) {
      if (index++ > 0) dat += "\n\n";
      dat += "# index " + std::to_string(index - 1) + ": panel " + std::to_string(p) + " '" +
             detail::one_line(panels[p].title) + "', set '" + detail::one_line(c.label) + "'\n";
      for (std::size_t i = 0; i < c.x.size(); ++i) dat += detail::number(c.x[i]) + ' ' + detail::number(c.y[i]) + '\n';
    }
  const int marks_index = index;
  if (!marks.empty()) {
    dat += "\n\n# index " + std::to_string(marks_index) + ": marks\n";
    for (const auto& m : marks) dat += detail::number(m[0]) + ' ' + detail::number(m[1]) + '\n';
  }
  const int n = int(panels.size()), cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  // The commands after the preamble, run once for the PNG and again for the SVG (a multiplot
  // cannot be replotted).
  std::string s =
      "unset title\nset xlabel " + detail::gp_string(st.xlabel) + "\nset ylabel " + detail::gp_string(st.ylabel) + "\n";
  s += "set xrange [" + detail::number(lo[0]) + ":" + detail::number(hi[0]) + "]\nset yrange [" +
       detail::number(lo[1]) + ":" + detail::number(hi[1]) + "]\n";
  s += "set size ratio -1\nset tics out nomirror font \",9\"\nset grid lt 1 lc rgb \"#e5e5e5\" lw 0.6\n";
  s += "set key outside below center horizontal samplen 1 font \",9\"\n";
  s += "set multiplot layout " + std::to_string(rows) + "," + std::to_string(cols) + " title " +
       detail::gp_string(st.title.empty() ? std::string("points") : st.title) + " font \",13\"\n";
  const std::string file = detail::gp_file(f.base + ".dat");
  index = 0;
  for (std::size_t p = 0; p < panels.size(); ++p) {
    s += "set title " + detail::gp_string(panels[p].title) + " font \",11\"\n";
    std::string cmd;
    for (std::size_t k = 0; k < panels[p].sets.size(); ++k, ++index)
      cmd += (cmd.empty() ? "plot " : ", \\\n     ") + file + " index " + std::to_string(index) +
             " using 1:2 with points pt 7 ps 0.25 lc rgb \"" + detail::line_colour(k) + "\" " +
             (panels[p].sets[k].label.empty() ? std::string("notitle")
                                              : "title " + detail::gp_string(panels[p].sets[k].label));
    if (!marks.empty())
      cmd += ", \\\n     " + file + " index " + std::to_string(marks_index) +
             " using 1:2 with points pt 2 ps 0.8 lw 1 lc rgb \"#000000\" title \"modes\"";
    s += cmd + "\n";
  }
  s += "unset multiplot\n";
  const std::string body = s;
  s = detail::preamble(f, st, "scatter_panels", st.title.empty() ? std::string("points") : st.title) + body +
      detail::epilogue_replaying(f, st, body);
  detail::finish(f, st, dat, s, fn);
}

// Overlaid histograms of several samples (e.g. the weights of two networks), on common bins
// that basin computes: `bins` equal bins from the smallest to the largest finite value of all
// samples (a range of width 1 around the value when all are equal), the last bin closed.
// Values that are not finite are skipped (their number is noted in the .dat). Drawn as
// translucent boxes with an outline, one colour per sample, legend from `labels`; style.log_z
// puts the counts on a log scale (empty bins are then left out).
// The .dat has one line per bin: "left right centre count_0 count_1 ...", exact counts.
// requires: samples non-empty, each with at least one finite value; labels.size() ==
//   samples.size(); 1 <= bins <= 1000000.
// ensures: <stem>.dat, <stem>.gp, <stem>.png (and <stem>.svg) written; the counts of sample k
//   sum to its number of finite values.
// throws: basin::error naming `samples[k]`, `labels` or `bins` and what is wrong, the stem, or
//   gnuplot's failure.
inline void histograms(const std::vector<std::vector<double>>& samples, const std::vector<std::string>& labels,
                       const std::string& stem, const style& st, int bins = 100) {
  constexpr const char* fn = "plot::histograms";
  require(!samples.empty(), fn, ": samples is empty");
  require(labels.size() == samples.size(), fn, ": labels has ", labels.size(), " entries but samples has ",
          samples.size());
  require(bins >= 1 && bins <= 1000000, fn, ": bins = ", bins, " must lie in [1, 1000000]");
  double lo = INFINITY, hi = -INFINITY;
  std::vector<std::size_t> skipped(samples.size(), 0);
  for (std::size_t k = 0; k < samples.size(); ++k) {
    for (double v : samples[k]) {
      if (!std::isfinite(v)) {
        ++skipped[k];
        continue;
      }
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    require(skipped[k] < samples[k].size(), fn, ": samples[", k, "] ('", labels[k], "') has ",
            samples[k].empty() ? "no values" : "no finite value");
  }
  if (!(hi > lo)) {  // all equal: a bin around the value, wide enough to show at its size
    const double pad = std::max(0.5, std::fabs(lo) * 1e-6);
    lo -= pad, hi += pad;
  }
  require(std::isfinite(hi - lo), fn, ": the samples span [", lo, ", ", hi, "], wider than a double holds");
  const auto f = detail::files_for(stem, fn);

  const std::size_t nb = std::size_t(bins), ns = samples.size();
  std::vector<index_t> count(nb * ns, 0);  // (bins, samples)
  const double width = (hi - lo) / double(bins);
  for (std::size_t k = 0; k < ns; ++k)
    for (double v : samples[k]) {
      if (!std::isfinite(v)) continue;
      auto b = std::size_t(std::clamp((v - lo) / (hi - lo) * double(bins), 0.0, double(bins - 1)));
      ++count[b * ns + k];
    }
  std::string dat = "# basin histograms: " + std::to_string(bins) + " bins over [" + detail::number(lo) + ", " +
                    detail::number(hi) + "], width " + detail::number(width) + "\n";
  for (std::size_t k = 0; k < ns; ++k)
    dat += "# column " + std::to_string(4 + k) + ": sample " + std::to_string(k) + " '" + detail::one_line(labels[k]) + "', " +
           std::to_string(samples[k].size() - skipped[k]) + " values (" + std::to_string(skipped[k]) +
           " not finite, skipped)\n";
  dat += "# columns: left right centre count_0 ... count_" + std::to_string(ns - 1) + "\n";
  for (std::size_t b = 0; b < nb; ++b) {
    const double l = lo + width * double(b), r = b + 1 == nb ? hi : lo + width * double(b + 1);
    dat += detail::number(l) + ' ' + detail::number(r) + ' ' + detail::number(0.5 * (l + r));
    for (std::size_t k = 0; k < ns; ++k) dat += ' ' + std::to_string(count[b * ns + k]);
    dat += '\n';
  }

  std::string s = detail::preamble(f, st, "histograms", st.title.empty() ? std::string("histograms") : st.title);
  s += "\nset xlabel " + detail::gp_string(st.xlabel) + "\nset ylabel " + detail::gp_string(st.ylabel) + "\n";
  s += "set tics out nomirror\n";
  s += "set xrange [" + detail::number(lo) + ":" + detail::number(hi) + "]\n";
  s += st.log_z ? "set logscale y\n" : "set yrange [0:*]\n";
  s += "set boxwidth " + detail::number(width) + " absolute\n";
  s += "set style fill transparent solid 0.35 noborder\n";
  s += "set key top right reverse Left nobox opaque samplen 2 spacing 1.2\n";
  const std::string file = detail::gp_file(f.base + ".dat");
  std::string cmd;
  for (std::size_t k = 0; k < ns; ++k) {
    const std::string c = std::to_string(4 + k);
    const std::string col = st.log_z ? "3:($" + c + " > 0 ? $" + c + " : NaN)" : "3:" + c;
    const std::string colour = "lc rgb \"" + detail::line_colour(k) + "\"";
    cmd += (cmd.empty() ? "plot " : ", \\\n     ") + file + " using " + col + " with boxes " + colour + " " +
           (labels[k].empty() ? std::string("notitle") : "title " + detail::gp_string(labels[k]));
    cmd += ", \\\n     " + file + " using " + col + " with histeps " + colour + " lw 1.2 notitle";
  }
  s += cmd + "\n" + detail::epilogue(f, st);
  detail::finish(f, st, dat, s, fn);
}

}  // namespace basin::plot
