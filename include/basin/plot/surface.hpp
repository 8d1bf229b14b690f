// basin/plot/surface.hpp — pictures of a loss surface: contour lines, filled contours, a heat
// map, a 3-D surface.
//
// The pictures of Li et al. 2018 ("Visualizing the Loss Landscape of Neural Nets", figs. 1, 5,
// 6) drawn with gnuplot. Each function writes, beside one another,
//   <stem>.dat  the grid: one block of ny lines "x y value" per x[i] (x outer, y inner, the
//               order of grid2d::z), blocks separated by a blank line (gnuplot's grid format);
//               the values exactly as given (shortest round-trip text), "NaN" where not computed
//               (filled_contour adds its bands' polygons as a second data set)
//   <stem>.gp   the gnuplot script that made the pictures (run `gnuplot <stem>.gp` in the folder)
//   <stem>.png  and, when style.svg, <stem>.svg
// and creates the stem's folder when it is missing.
//
// Points not computed (NaN) and, with style.log_z, values <= 0 are drawn as holes: a heat map or
// surface leaves out the cells around them (filled contours: the triangles), a contour line
// breaks. With log_z such values are not an error; the .gp script masks them
// (`$3 > 0 ? $3 : NaN`), the .dat keeps them.
//
// Each throws basin::error naming the function and the argument for a grid with fewer than
// 2x2 points, z.size() != nx*ny, coordinates not finite and strictly increasing, no finite value
// (with log_z: no positive value), a style.vmin or style.vmax that style's comment does not allow
// (heat map, 3-D surface), a stem naming no file or a folder that cannot be created, and
// from plot::render when gnuplot is missing or fails. Nothing is written when the input is bad.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/plot/gnuplot.hpp"
#include "basin/plot/grid.hpp"

namespace basin::plot {

namespace detail {

// The grid as gnuplot reads it (see the file comment).
inline std::string grid_dat(const grid2d& g) {
  const std::string col = g.name.empty() ? "value" : one_line(g.name);
  index_t missing = 0;
  for (double v : g.z) missing += std::isfinite(v) ? 0 : 1;
  std::string s;
  s += "# basin grid2d '" + one_line(g.name) + "': nx = " + std::to_string(g.nx()) + ", ny = " + std::to_string(g.ny()) +
       ", " + std::to_string(missing) + " value(s) not finite (written NaN: not computed)\n";
  s += "# one block of ny lines per x, blocks separated by a blank line; columns: x y " + col + "\n";
  for (index_t i = 0; i < g.nx(); ++i) {
    if (i > 0) s += '\n';
    for (index_t j = 0; j < g.ny(); ++j) {
      const double v = g.at(i, j);
      s += number(g.x[std::size_t(i)]) + ' ' + number(g.y[std::size_t(j)]) + ' ' +
           number(std::isfinite(v) ? v : std::nan("")) + '\n';
    }
  }
  return s;
}

// The smallest and largest finite value of the grid (positive only when positive_only).
inline std::pair<double, double> value_range(const grid2d& g, bool positive_only) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : g.z)
    if (std::isfinite(v) && (!positive_only || v > 0)) lo = std::min(lo, v), hi = std::max(hi, v);
  return {lo, hi};
}

inline std::string xy_ranges(const grid2d& g) {
  return "set xrange [" + number(g.x.front()) + ":" + number(g.x.back()) + "]\nset yrange [" +
         number(g.y.front()) + ":" + number(g.y.back()) + "]\n";
}

inline std::string axis_labels(const style& st) {
  return "set xlabel " + gp_string(st.xlabel) + "\nset ylabel " + gp_string(st.ylabel) + "\n";
}

inline std::string surface_title(const grid2d& g, const style& st) {
  return !st.title.empty() ? st.title : !g.name.empty() ? g.name : std::string("surface");
}

// The values a heat map's colours and a 3-D surface's z axis span (see style::vmin): the ends
// given, the others the data's (positive with log_z) without crossing a given one. A range of one
// value (data all beyond a given end) is widened, by 1 or |end|, or tenfold with log_z: gnuplot
// refuses an empty range.
inline std::pair<double, double> shown_range(const grid2d& g, const style& st) {
  auto [lo, hi] = value_range(g, st.log_z);
  if (!std::isnan(st.vmin)) lo = st.vmin, hi = std::max(hi, lo);
  if (!std::isnan(st.vmax)) hi = st.vmax, lo = std::min(lo, hi);
  if (!(hi > lo)) {
    if (std::isnan(st.vmax))
      hi = st.log_z ? lo * 10 : lo + std::max(1.0, std::fabs(lo));
    else
      lo = st.log_z ? hi / 10 : hi - std::max(1.0, std::fabs(hi));
  }
  return {lo, hi};
}

// The round number (1, 2 or 5 times a power of ten) nearest a positive spacing `raw`.
inline double round_step(double raw) {
  const double mag = std::pow(10.0, std::floor(std::log10(raw))), m = raw / mag;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * mag;
}

// A number as a level or tic label, rounded to `digits` significant digits: printf's %g, except
// that values from 1e-4 to 1e7 are written without an exponent (142000, not 1.42e+05), and -0 as 0.
inline std::string short_number(double v, int digits) {
  char t[48];
  v += 0.0;
  std::snprintf(t, sizeof t, "%.*g", digits, v);
  // (%g writes an exponent there only when the rounded value is 10^digits or more: a whole number)
  if (std::strchr(t, 'e') && std::fabs(v) >= 1e-4 && std::fabs(v) < 1e7)
    std::snprintf(t, sizeof t, "%.0f", std::strtod(t, nullptr));
  return t;
}

// Labels in one notation: where some label has an exponent (short_number writes one from 1e7 and
// below 1e-4) and another does not, every nonzero one is written with an exponent and the same
// significant digits (0.0001, 0.01, 1, 100 beside 1e-06 read 1e-04, 1e-02, 1e+00, 1e+02;
// 9800000 beside 1e+07 reads 9.8e+06).
inline std::vector<std::string> one_notation(std::vector<std::string> out) {
  const auto has_exponent = [](const std::string& t) { return t.find('e') != std::string::npos; };
  const bool some = std::any_of(out.begin(), out.end(), has_exponent);
  const bool all =
      std::all_of(out.begin(), out.end(), [&](const std::string& t) { return t == "0" || has_exponent(t); });
  if (!some || all) return out;
  for (std::string& t : out) {
    if (t == "0" || has_exponent(t)) continue;
    const double v = std::strtod(t.c_str(), nullptr);
    // t's significant digits: its digits without leading zeros (trailing zeros of a whole number
    // are not significant: 10000 is 1e+04)
    std::string digits;
    for (char c : t)
      if (c >= '0' && c <= '9' && !(digits.empty() && c == '0')) digits += c;
    if (t.find('.') == std::string::npos)
      while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    char e[48];
    std::snprintf(e, sizeof e, "%.*e", int(std::max<std::size_t>(digits.size(), 1) - 1), v);
    t = e;
  }
  return out;
}

// Labels for levels or tics (increasing): each level as it is where at most 6 significant digits
// write every one exactly (0.1234, as %g); otherwise the fewest digits (at least 3) that tell every
// two apart and put each label within a twentieth of the levels' closest spacing of its level
// (100000.5 and 100001.5, not 100000 and 100002; 2.30258502 and 2.30258504); all in one notation.
inline std::vector<std::string> level_labels(const std::vector<double>& levels) {
  double gap = INFINITY;
  for (std::size_t k = 1; k < levels.size(); ++k)
    if (levels[k] > levels[k - 1]) gap = std::min(gap, levels[k] - levels[k - 1]);
  std::vector<std::string> out;
  // (a level within a billionth of the spacing of 0, such as -0.3 + 3 x 0.1, is written 0)
  const auto make = [&](int digits) {
    out.clear();
    for (double l : levels)
      out.push_back(short_number(std::isfinite(gap) && std::fabs(l) <= gap * 1e-9 ? 0.0 : l, digits));
  };
  const auto off = [&](std::size_t k) { return std::fabs(std::strtod(out[k].c_str(), nullptr) - levels[k]); };
  for (int digits = 3; digits <= 6; ++digits) {
    make(digits);
    bool exact = true;
    for (std::size_t k = 0; k < out.size(); ++k) exact = exact && off(k) == 0;
    if (exact) return one_notation(std::move(out));
  }
  for (int digits = 3; digits <= 17; ++digits) {
    make(digits);
    bool good = true;
    for (std::size_t k = 0; k < out.size(); ++k) good = good && (k == 0 || out[k] != out[k - 1]) && off(k) <= gap / 20;
    if (good) break;
  }
  return one_notation(std::move(out));
}

// The tics of a colour bar or z axis: where they are and their labels. basin writes every colour
// bar's tics itself, so that they always tell values apart (gnuplot's own labels print 6 digits:
// a map of 2.302585 +- 1e-7 got one label repeated) and so that the picture can make room for the
// widest label (gnuplot's margin beside a colour bar fits about five characters).
struct tic_marks {
  std::vector<double> at;
  std::vector<std::string> text;
};

// The tics as gnuplot's list: ("text" at, ...); empty when there are none.
inline std::string tic_list(const tic_marks& t) {
  std::string s;
  for (std::size_t k = 0; k < t.at.size(); ++k)
    s += (k > 0 ? ", " : "(") + gp_string(t.text[k]) + " " + number(t.at[k]);
  return s.empty() ? s : s + ")";
}

// The widest label's length in characters (a UTF-8 sequence counts one).
inline std::size_t widest(const tic_marks& t) {
  std::size_t w = 0;
  for (const auto& s : t.text) {
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    w = std::max(w, n);
  }
  return w;
}

// Round tics over [lo, hi] (lo < hi): 1, 2 or 5 times a power of ten about a sixth of the range
// apart (4 to 11 of them), or the range's ends where it is too narrow for two; on a log axis
// log_tic_values' 1-2-5 tics of each decade, or powers of ten (at most ten of them) past five
// decades, or the linear ones where the range holds fewer than two of those. Labelled by
// level_labels.
inline tic_marks round_tics(double lo, double hi, bool log_z) {
  std::vector<double> v;
  if (log_z) {
    v = log_tic_values(lo, hi);
    if (v.empty()) {  // more than five decades
      const int d0 = int(std::ceil(std::log10(lo))), d1 = int(std::floor(std::log10(hi)));
      for (int d = d0; d <= d1; d += std::max(1, (d1 - d0 + 9) / 10)) v.push_back(std::pow(10.0, d));
    }
  }
  if (v.size() < 2) {
    v.clear();
    const double step = round_step((hi - lo) / 6), first = std::ceil(lo / step - 1e-9);
    // Each the short decimal it reads as (0.6, not 0.6000000000000001): rounded to the step's
    // last digit (two more, for 1-2-5 steps, within 17 significant digits).
    const double size = std::max(std::fabs(lo), std::fabs(hi));
    const int digits = std::clamp(int(std::floor(std::log10(size)) - std::floor(std::log10(step))) + 2, 1, 17);
    for (int k = 0; k < 20 && (first + k) * step <= hi + 1e-9 * step; ++k) {
      const double t = std::strtod(short_number((first + k) * step, digits).c_str(), nullptr);
      if (t >= lo && t <= hi && (v.empty() || t > v.back())) v.push_back(t);
    }
    if (v.size() < 2) v = {lo, hi};  // a range a few units of the last place wide: its ends
  }
  return {v, level_labels(v)};
}

// The tics of a colour bar or z axis over [lo, hi] (shown_range's, or the data's): round_tics;
// where values lie beyond a given end (style.vmin/vmax) and are drawn on it, that end is labelled
// "≥ vmax" or "≤ vmin" and the round tics close to it (less than 0.4 of their spacing away, or a
// factor 1.4 on a log axis) are left out, whose labels would overlap it.
inline tic_marks bar_tics(const grid2d& g, const style& st, double lo, double hi) {
  tic_marks round = round_tics(lo, hi, st.log_z);
  bool above = false, below = false;
  for (double v : g.z)
    if (std::isfinite(v) && (!st.log_z || v > 0)) above |= v > st.vmax, below |= v < st.vmin;
  if (!above && !below) return round;
  const double step = round.at.size() >= 2 ? round.at[1] - round.at[0] : hi - lo;  // linear: the spacing
  const auto near = [&](double t, double end) {
    // (linear: closer than 0.4 of a step; half a step apart, 0.6 beside an end at 0.5 with tics 0.2
    // apart, the labels do not touch)
    return st.log_z ? std::fabs(std::log10(t / end)) < 0.15 : std::fabs(t - end) < 0.4 * step;
  };
  std::vector<double> at;
  for (double t : round.at)
    if (!(above && near(t, hi)) && !(below && near(t, lo))) at.push_back(t);
  if (above) at.push_back(hi);
  if (below) at.push_back(lo);
  std::sort(at.begin(), at.end());
  // (the ends labelled with the digits that tell them from the tics beside them)
  tic_marks out{at, level_labels(at)};
  if (below) out.text.front() = "≤ " + out.text.front();
  if (above) out.text.back() = "≥ " + out.text.back();
  return out;
}

// [lo, hi] widened around a flat map's value (lo == hi): twofold with log_z, else by 0.5 (or a
// millionth of the value, past 500000, where 0.5 would be lost to rounding).
inline std::pair<double, double> widened(double lo, double hi, bool log_z) {
  if (hi > lo) return {lo, hi};
  if (log_z) return {lo / 2, hi * 2};
  const double d = std::max(0.5, 1e-6 * std::fabs(lo));
  return {lo - d, hi + d};
}

// The range a colour bar spans: shown_range's with style.vmin/vmax, else the data's (positive with
// log_z), widened around a flat map's value.
inline std::pair<double, double> bar_range(const grid2d& g, const style& st) {
  if (has_value_range(st)) return shown_range(g, st);
  const auto [lo, hi] = value_range(g, st.log_z);
  return widened(lo, hi, st.log_z);
}

// `set rmargin` (in gnuplot's character widths, about 8.5 pixels with the house font) that fits a
// 2-D plot's colour bar, its tic labels `chars` wide and its label.
inline std::string bar_margin(std::size_t chars) {
  return "set rmargin " + std::to_string(chars + 4) + "\n";
}

// The pixels right of a heat map's plot area that its colour bar, tic labels `chars` wide and
// label take (gnuplot places the bar about 94 pixels' worth of gap, bar and tic from the frame).
inline double bar_room(std::size_t chars) {
  return 94 + 8.5 * double(chars + 4);
}

// The pixels right of a 3-D picture's colour bar that its tic labels and label take.
inline double bar_room_3d(std::size_t chars) {
  return 8.5 * double(chars + 6);
}

// The colour bar's label (style.zlabel), moved right by what gnuplot's estimate of the tic labels'
// width falls short (about a character and a half, more for long labels).
inline std::string bar_label(const style& st, const tic_marks& tics) {
  return "set cblabel " + gp_string(st.zlabel) + " offset " + number(1 + double(widest(tics)) / 20) + ",0\n";
}

// requires nothing; throws basin::error naming `fn` and levels[k] unless every level is finite
// (positive with log_z).
inline void check_levels(const std::vector<double>& levels, const style& st, const char* fn) {
  for (std::size_t k = 0; k < levels.size(); ++k)
    require(std::isfinite(levels[k]) && (!st.log_z || levels[k] > 0), fn, ": levels[", k, "] = ", levels[k],
            st.log_z ? " is not a finite positive number (log_z)" : " is not finite");
}

// gnuplot's shown(v): v cut to [lo, hi] (NaN stays NaN), for values drawn on a range's ends
// before pm3d averages a cell's corners or a surface is drawn.
inline std::string shown_function(double lo, double hi) {
  const auto lo_s = number(lo), hi_s = number(hi);
  return "shown(v) = v > " + hi_s + " ? " + hi_s + " : v < " + lo_s + " ? " + lo_s +
         " : v  # drawn on the range's ends\n";
}

// `using` columns for the value cut by shown() (masked to NaN first where a log axis cannot take it).
inline std::string shown_column(const style& st) {
  return st.log_z ? "1:2:(shown($3 > 0 ? $3 : NaN))" : "1:2:(shown($3))";
}

// `using` columns for the value: masked to NaN when it cannot go on a log axis.
inline std::string value_column(const style& st) { return st.log_z ? "1:2:($3 > 0 ? $3 : NaN)" : "1:2:3"; }

// About a dozen round levels (1, 2 or 5 times a power of ten apart) strictly inside [lo, hi]; with
// log_z ten geometrically spaced ones; {lo} for a flat range (no contour to draw).
inline std::vector<double> round_levels(double lo, double hi, bool log_z) {
  if (!(hi > lo)) return {lo};
  std::vector<double> in;
  if (log_z) {
    for (int k = 1; k <= 10; ++k) in.push_back(lo * std::pow(hi / lo, k / 11.0));
    return in;
  }
  const double gap = round_step((hi - lo) / 12);
  // Enough digits to tell levels a gap apart (6, or more for a map that spans a tiny part of its
  // values: 2.302585 +- 1e-8), at most 17; a count, not a double, runs the loop.
  const double size = std::max(std::fabs(lo), std::fabs(hi));
  const int digits = std::clamp(int(std::ceil(std::log10(size / gap))) + 2, 6, 17);
  const double first = std::floor(lo / gap) + 1;
  for (int k = 0; k < 100 && (first + k) * gap < hi; ++k) {
    char t[40];  // the level as its short decimal text reads back (0.102, not 0.10200000000000001)
    std::snprintf(t, sizeof t, "%.*g", digits, (first + k) * gap);
    const double v = std::strtod(t, nullptr);
    if (v > lo && v < hi && (in.empty() || v > in.back())) in.push_back(v);
  }
  // (values a few units of the last place apart leave no level between them: as flat)
  if (in.empty()) in.push_back(lo);
  return in;
}

// Default contour levels. Linear: 0.1, 0.6, ..., 9.6 as the reference tool's plot_2D.py
// (vmin = 0.1, vmax = 10, vlevel = 0.5, levels = arange(vmin, vmax, vlevel)). Log: 1-2-5 steps
// from 0.1 to 10. Only levels strictly inside the data's range are kept. When that leaves fewer
// than 3 linear levels (a map close to a minimizer, whose loss spans less than 1) or no log
// level, round_levels of the data's range.
inline std::vector<double> default_levels(const grid2d& g, bool log_z) {
  const auto [lo, hi] = value_range(g, log_z);
  std::vector<double> all, in;
  if (log_z)
    all = {0.1, 0.2, 0.5, 1, 2, 5, 10};
  else
    for (int k = 0; 0.1 + 0.5 * k < 10; ++k) all.push_back(0.1 + 0.5 * k);
  for (double l : all)
    if (l > lo && l < hi) in.push_back(l);
  if (log_z ? !in.empty() : in.size() >= 3) return in;
  return round_levels(lo, hi, log_z);
}

// Where the contour plot writes its level labels: points on the contour lines (where a level
// crosses a grid line, interpolated linearly along it as gnuplot's `cntrparam linear` contours
// are), in plot coordinates. Chosen in rounds: each round gives every level, in order, the
// candidate at least `spacing` away from all labels placed so far (distances in fractions of
// the axes' spans) that lies farthest from them and from the frame, if any, so bunched contours
// (a steep wall) are not crowded with labels while isolated ones get up to `per_level`. Candidates within `margin` of
// the frame are left out (a label there would be cut). Values not finite (log_z: not positive)
// break the lines, as in the picture.
struct contour_label {
  double x, y, level;
};
inline std::vector<contour_label> contour_labels(const grid2d& g, const std::vector<double>& levels, bool log_z,
                                                 double spacing = 0.12, int per_level = 3, double margin = 0.05) {
  const double x0 = g.x.front(), xs = g.x.back() - x0, y0 = g.y.front(), ys = g.y.back() - y0;
  const auto usable = [&](double v) { return std::isfinite(v) && (!log_z || v > 0); };
  std::vector<std::vector<contour_label>> cand(levels.size());
  for (std::size_t k = 0; k < levels.size(); ++k) {
    const double l = levels[k];
    const auto edge = [&](index_t i, index_t j, index_t i2, index_t j2) {
      const double a = g.at(i, j), b = g.at(i2, j2);
      if (!usable(a) || !usable(b) || !((a < l && l < b) || (b < l && l < a))) return;
      const double t = (l - a) / (b - a);
      const double px = g.x[std::size_t(i)] + t * (g.x[std::size_t(i2)] - g.x[std::size_t(i)]);
      const double py = g.y[std::size_t(j)] + t * (g.y[std::size_t(j2)] - g.y[std::size_t(j)]);
      const double u = (px - x0) / xs, v = (py - y0) / ys;
      if (u >= margin && u <= 1 - margin && v >= margin && v <= 1 - margin) cand[k].push_back({px, py, l});
    };
    for (index_t i = 0; i < g.nx(); ++i)
      for (index_t j = 0; j < g.ny(); ++j) {
        if (i + 1 < g.nx()) edge(i, j, i + 1, j);
        if (j + 1 < g.ny()) edge(i, j, i, j + 1);
      }
  }
  std::vector<contour_label> placed;
  const auto gap = [&](const contour_label& c) {  // to the nearest label placed
    double d = INFINITY;
    for (const auto& p : placed) d = std::min(d, std::hypot((c.x - p.x) / xs, (c.y - p.y) / ys));
    return d;
  };
  for (int round = 0; round < per_level; ++round)
    for (const auto& cs : cand) {
      const contour_label* best = nullptr;
      double score = -1;
      for (const auto& c : cs) {
        const double u = (c.x - x0) / xs, v = (c.y - y0) / ys, d = gap(c);
        const double sc = std::min(d, 2 * std::min({u, 1 - u, v, 1 - v}));  // away from labels and the frame
        if (d >= spacing && sc > score) score = sc, best = &c;
      }
      if (best) placed.push_back(*best);
    }
  return placed;
}

// The level labels as datablock lines, x y "text", each with level_labels' text of its level
// (levels sorted, without repeats; every label's level one of them).
inline std::string label_lines(const std::vector<contour_label>& labels, const std::vector<double>& levels) {
  const auto text = level_labels(levels);
  std::string s;
  for (const auto& l : labels) {
    const auto k = std::size_t(std::lower_bound(levels.begin(), levels.end(), l.level) - levels.begin());
    char xy[64];
    std::snprintf(xy, sizeof xy, "%.17g %.17g ", l.x, l.y);
    s += xy + ('"' + text[std::min(k, text.size() - 1)] + "\"\n");  // (digits, sign, point, e: nothing to escape)
  }
  return s;
}

}  // namespace detail

// Contour lines of the surface, coloured by level with a colour bar, each level labelled on its
// line; style.highlight adds one dashed red contour with a legend entry (style.highlight_label),
// style.path a path over the map (its start circled, its end starred; style.path_label).
// requires: g as in the file comment; levels finite (positive with log_z), or empty for the
//   defaults (detail::default_levels: 0.1 to 9.6 step 0.5 like the reference tool, round levels
//   of the data's own range when fewer than 3 of those fall inside it; 1-2-5 steps from 0.1 to 10
//   with log_z); style.highlight NaN or finite (positive with log_z); style.path's
//   points finite (outside the grid's range they are clipped).
// ensures: <stem>.dat, <stem>.gp, <stem>.png (and <stem>.svg) written; a level that the data
//   never reaches draws nothing.
// throws: basin::error as in the file comment, and naming `levels`, `style.highlight` or `style.path`.
inline void contour(const grid2d& g, const std::string& stem, const style& st, std::vector<double> levels = {}) {
  constexpr const char* fn = "plot::contour";
  detail::check_grid(g, fn, true, st.log_z);
  detail::check_levels(levels, st, fn);
  require(std::isnan(st.highlight) || (std::isfinite(st.highlight) && (!st.log_z || st.highlight > 0)), fn,
          ": style.highlight = ", st.highlight, " must be NaN (none) or finite", st.log_z ? " and positive" : "");
  if (levels.empty()) levels = detail::default_levels(g, st.log_z);
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  for (std::size_t k = 0; k < st.path.size(); ++k)
    require(std::isfinite(st.path[k][0]) && std::isfinite(st.path[k][1]), fn, ": style.path[", k, "] = (",
            st.path[k][0], ", ", st.path[k][1], ") is not finite");
  const bool hl = std::isfinite(st.highlight), path = !st.path.empty();
  const auto f = detail::files_for(stem, fn);

  std::string list;
  for (double l : levels) list += (list.empty() ? "" : ",") + detail::number(l);
  const auto [cb_lo, cb_hi] = detail::widened(levels.front(), levels.back(), st.log_z);
  const auto labels = detail::contour_labels(g, levels, st.log_z);
  const auto tics = detail::round_tics(cb_lo, cb_hi, st.log_z);

  std::string s = detail::preamble(f, st, "contour", detail::surface_title(g, st));
  s += "\n# Contour lines into datablocks: $C the levels, $H the highlighted level.\n";
  // (the tables write each line's level as z is formatted: all its digits, so that lines of levels
  // 1e-8 apart keep their own colours)
  s += "set contour base\nunset surface\nset cntrparam linear\nset format z \"%.17g\"\n";
  s += "set cntrparam levels discrete " + list + "\n";
  // (with log_z, values <= 0 break the lines, as they break the labels' contours)
  s += "set table $C\nsplot " + detail::gp_file(f.base + ".dat") + " using " + detail::value_column(st) +
       " notitle\nunset table\n";
  if (hl) {
    s += "set cntrparam levels discrete " + detail::number(st.highlight) + "\n";
    s += "set table $H\nsplot " + detail::gp_file(f.base + ".dat") + " using " + detail::value_column(st) +
         " notitle\nunset table\n";
  }
  s += "unset contour\n";
  s += "# The level labels (detail::contour_labels: spaced apart, on the lines).\n$L << EOD\n";
  s += detail::label_lines(labels, levels) + "EOD\n";
  if (path) {
    s += "# The path: x y per point, in order.\n$P << EOD\n";
    for (const auto& q : st.path) s += detail::number(q[0]) + ' ' + detail::number(q[1]) + '\n';
    s += "EOD\n";
  }
  s += "\n" + detail::xy_ranges(g) + detail::axis_labels(st);
  s += "set tics out nomirror\n";
  s += detail::bar_label(st, tics);
  s += "set cbrange [" + detail::number(cb_lo) + ":" + detail::number(cb_hi) + "]\n";
  if (st.log_z) s += "set logscale cb\n";
  s += "set cbtics " + detail::tic_list(tics) + "\n" + detail::bar_margin(detail::widest(tics));
  s += hl || path ? "set key top right reverse Left nobox opaque samplen 3 spacing 1.2\n" : "unset key\n";
  s += "plot $C using 1:2:3 with lines lc palette lw 1.2 notitle";
  if (!labels.empty()) s += ", \\\n     $L using 1:2:3 with labels boxed font \",9\" notitle";
  if (hl) {
    char v[32];
    std::snprintf(v, sizeof v, "%.4g", st.highlight);
    s += ", \\\n     $H using 1:2 with lines lc rgb \"#d62728\" lw 2.5 dt 2 title " +
         detail::gp_string(st.highlight_label + " (" + v + ")");
  }
  if (path) {
    const std::string last = std::to_string(st.path.size() - 1);
    s += ", \\\n     $P using 1:2 with linespoints lc rgb \"#1a1a1a\" lw 1.5 pt 7 ps 0.5 title " +
         detail::gp_string(st.path_label);
    s += ", \\\n     $P every ::0::0 using 1:2 with points lc rgb \"#c51b7d\" pt 6 ps 2 lw 2 title \"start\"";
    s += ", \\\n     $P every ::" + last + "::" + last +
         " using 1:2 with points lc rgb \"#c51b7d\" pt 3 ps 2.5 lw 2 title \"end\"";
  }
  s += "\n" + detail::epilogue(f, st);
  detail::finish(f, st, detail::grid_dat(g), s, fn);
}

namespace detail {

// A corner of a polygon in the plane and the value there (linear over the polygon).
struct vertex {
  double x, y, z;
};

// The part of the convex polygon p where z >= a (above) or z <= a (!above): Sutherland-Hodgman
// clipping against the line where the linear z equals a. Convex, possibly empty.
inline std::vector<vertex> clip_at(const std::vector<vertex>& p, double a, bool above) {
  std::vector<vertex> out;
  const auto in = [&](const vertex& v) { return above ? v.z >= a : v.z <= a; };
  for (std::size_t i = 0; i < p.size(); ++i) {
    const vertex &c = p[i], &n = p[(i + 1) % p.size()];
    if (in(c)) out.push_back(c);
    if (in(c) != in(n)) {
      const double t = (a - c.z) / (n.z - c.z);
      out.push_back({c.x + t * (n.x - c.x), c.y + t * (n.y - c.y), a});
    }
  }
  return out;
}

// The filled bands of a grid as polygons, "x y band" per corner and a blank line after each:
// every grid cell is cut along its diagonal from (x[i], y[j]) to (x[i+1], y[j+1]) into two
// triangles over which the value is linear (as contour lines interpolate it along the cell's
// edges), and each triangle into its parts between consecutive levels; band is k + 0.5 for the
// part between levels[k] and levels[k+1] (a value on a level belongs to the band above it, one on
// the last level to the last band), which the step palette colours. Triangles with a corner not
// finite (with log_z: not positive) are left out, as are parts below the first level or above the
// last and parts without area (a triangle that only touches a band).
inline std::string band_polygons(const grid2d& g, const std::vector<double>& levels, bool log_z) {
  const auto usable = [&](double v) { return std::isfinite(v) && (!log_z || v > 0); };
  std::string s;
  char line[96];
  const auto triangle = [&](const vertex& a, const vertex& b, const vertex& c) {
    if (!usable(a.z) || !usable(b.z) || !usable(c.z)) return;
    const double lo = std::min({a.z, b.z, c.z}), hi = std::max({a.z, b.z, c.z});
    // the bands [levels[k], levels[k+1]] that meet [lo, hi]
    std::size_t k = std::size_t(std::upper_bound(levels.begin(), levels.end(), lo) - levels.begin());
    k = std::min(k > 0 ? k - 1 : 0, levels.size() - 2);
    for (; k + 1 < levels.size() && levels[k] <= hi; ++k) {
      const auto part = clip_at(clip_at({a, b, c}, levels[k], true), levels[k + 1], false);
      double area = 0;
      for (std::size_t i = 0; i < part.size(); ++i) {
        const auto &p = part[i], &q = part[(i + 1) % part.size()];
        area += p.x * q.y - q.x * p.y;
      }
      if (part.size() < 3 || area == 0) continue;
      for (const auto& v : part) {
        std::snprintf(line, sizeof line, "%.12g %.12g %zu.5\n", v.x, v.y, k);
        s += line;
      }
      s += '\n';
    }
  };
  for (index_t i = 0; i + 1 < g.nx(); ++i)
    for (index_t j = 0; j + 1 < g.ny(); ++j) {
      const auto at = [&](index_t p, index_t q) {
        return vertex{g.x[std::size_t(p)], g.y[std::size_t(q)], g.at(p, q)};
      };
      triangle(at(i, j), at(i + 1, j), at(i + 1, j + 1));
      triangle(at(i, j), at(i + 1, j + 1), at(i, j + 1));
    }
  return s;
}

}  // namespace detail

// Round levels of the grid's own range (about a dozen strictly inside it, 1, 2 or 5 times a
// power of ten apart; ten geometric ones with log_z): for maps such as accuracies in percent,
// which the loss levels of contour's defaults do not suit.
inline std::vector<double> data_levels(const grid2d& g, bool log_z) {
  detail::check_grid(g, "plot::data_levels", true, log_z);
  const auto [lo, hi] = detail::value_range(g, log_z);
  return detail::round_levels(lo, hi, log_z);
}

// Filled contours (the reference tool's plot_2D.py `_2dcontourf`, matplotlib's contourf): the
// map painted in bands between consecutive levels, each band one colour of the palette, and where
// the value lies below the first level or above the last, or is not computed, the paper stays
// white. The colour bar gives every band the same height (matplotlib's default for contourf), its
// tics labelled with the levels (every few when there are more than 25 bands). Levels as
// `contour` takes them; empty: its default levels with the data's smallest and largest value
// added as the outer ends, so that the whole map is painted; a single level: bands from the
// data's ends to it (a flat map: one band around its value). The bands come from each grid cell
// cut into two triangles with the value linear over each, so the band edges are straight within
// a triangle. style.highlight and style.path are not drawn. The .dat holds the grid as the file
// comment says (gnuplot's index 0), then the bands' polygons (index 1), which the script fills.
// requires: g as in the file comment; levels finite (positive with log_z) or empty.
// ensures, throws: as in the file comment (and basin::error naming `levels[k]`).
inline void filled_contour(const grid2d& g, const std::string& stem, const style& st, std::vector<double> levels = {}) {
  constexpr const char* fn = "plot::filled_contour";
  detail::check_grid(g, fn, true, st.log_z);
  detail::check_levels(levels, st, fn);
  const bool given = !levels.empty();
  if (!given) levels = detail::default_levels(g, st.log_z);
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  const std::vector<double> labelled = levels;
  if (!given || levels.size() < 2) {  // the levels reach the data's ends (a flat map: around its value)
    const auto [data_lo, data_hi] = detail::value_range(g, st.log_z);
    const auto [lo, hi] = detail::widened(data_lo, data_hi, st.log_z);
    if (lo < levels.front()) levels.insert(levels.begin(), lo);
    if (hi > levels.back()) levels.push_back(hi);
  }
  const auto f = detail::files_for(stem, fn);
  const std::size_t bands = levels.size() - 1;

  std::string s = detail::preamble(f, st, "filled_contour", detail::surface_title(g, st));
  // The step palette over the bands' numbers: band k (from k to k + 1) in the colour viridis takes
  // halfway through its k-th of `bands` parts.
  s += "set palette defined (";
  for (std::size_t k = 0; k < bands; ++k) {
    const std::string c = " '" + detail::viridis_at((double(k) + 0.5) / double(bands)) + "'";
    s += (k > 0 ? ", " : "") + std::to_string(k) + c + ", " + std::to_string(k + 1) + c;
  }
  s += ")\n";
  s += "\n" + detail::xy_ranges(g) + detail::axis_labels(st);
  s += "set tics out nomirror\n";
  s += "set cbrange [0:" + std::to_string(bands) + "]\n";
  // A tic at each level the caller gave or the defaults chose (not at the data's ends added to
  // them), at most about 20 labelled (their labels written for those shown).
  const std::size_t every = (labelled.size() + 19) / 20;
  std::vector<double> shown;
  for (std::size_t k = 0; k < labelled.size(); k += every) shown.push_back(labelled[k]);
  detail::tic_marks tics{{}, detail::level_labels(shown)};
  for (double l : shown) tics.at.push_back(double(std::find(levels.begin(), levels.end(), l) - levels.begin()));
  s += "set cbtics " + detail::tic_list(tics) + "\n" + detail::bar_margin(detail::widest(tics));
  s += detail::bar_label(st, tics);
  s += "unset key\n";
  // (each polygon's border in its own colour: polygons that only touch leave antialiased seams)
  s += "set style fill solid 1.0 border lc palette\n";
  s += "plot " + detail::gp_file(f.base + ".dat") +
       " index 1 using 1:2:3 with filledcurves closed fc palette lw 0.5 notitle\n";
  s += detail::epilogue(f, st);
  const std::string polygons = detail::band_polygons(g, levels, st.log_z);
  detail::finish(f, st,
                 detail::grid_dat(g) + "\n\n# index 1: the bands' polygons, a blank line after each; columns: x y " +
                     "band (k + 0.5 between levels k and k + 1; detail::band_polygons)\n" +
                     (polygons.empty() ? "NaN NaN NaN\n" : polygons),
                 s, fn);
}

// Small multiples of contour maps: the talk's side-by-side landscapes (with and without skip
// connections, at growing depth or width), panel p drawn as `contour` draws one grid, in a grid of
// `columns` panels per row, every panel on the same contour levels (given, or the defaults of all
// panels' values together) and the same colours, so that a level means one loss everywhere. Each
// panel has its own axes (each grid's range) and title; a panel's `highlight` (NaN: none) adds
// one dashed red contour with a legend entry (style.highlight_label and the value), e.g. each
// net's loss at its initialization, the talk's shattering contour. style.title goes above all;
// the colour bar is left out (every level is labelled on its line). The .dat holds one grid per
// panel (gnuplot `index`), each as `contour` writes its grid.
// requires: at least one panel, 1 <= columns <= 16, each grid as `contour` requires; levels
//   finite (positive with log_z) or empty; highlights NaN or finite (positive with log_z).
// ensures: <stem>.dat, <stem>.gp, <stem>.png (and <stem>.svg) written.
// throws: basin::error naming `panels[p]` and what is wrong, `levels`, `columns`, the stem, or
//   gnuplot's failure.
struct contour_panel {
  grid2d grid;
  std::string title;
  double highlight = std::nan("");
};
inline void contour_panels(const std::vector<contour_panel>& panels, int columns, const std::string& stem,
                           const style& st, std::vector<double> levels = {}) {
  constexpr const char* fn = "plot::contour_panels";
  require(!panels.empty(), fn, ": panels is empty");
  require(columns >= 1 && columns <= 16, fn, ": columns must lie in [1, 16], got ", columns);
  grid2d all;  // every panel's values, for the shared default levels
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const std::string id = "panels[" + std::to_string(p) + "]";
    detail::check_grid(panels[p].grid, (std::string(fn) + ": " + id).c_str(), true, st.log_z);
    const double h = panels[p].highlight;
    require(std::isnan(h) || (std::isfinite(h) && (!st.log_z || h > 0)), fn, ": ", id, ".highlight = ", h,
            " must be NaN (none) or finite", st.log_z ? " and positive" : "");
    all.z.insert(all.z.end(), panels[p].grid.z.begin(), panels[p].grid.z.end());
  }
  detail::check_levels(levels, st, fn);
  if (levels.empty()) levels = detail::default_levels(all, st.log_z);
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  const auto f = detail::files_for(stem, fn);

  std::string dat = "# basin contour_panels: " + std::to_string(panels.size()) +
                    " grid(s), one per panel (gnuplot index), each as plot::contour writes its grid\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    if (p > 0) dat += "\n\n";
    dat += "# index " + std::to_string(p) + ": panel '" + detail::one_line(panels[p].title) + "'\n" +
           detail::grid_dat(panels[p].grid);
  }
  std::string list;
  for (double l : levels) list += (list.empty() ? "" : ",") + detail::number(l);
  const auto [cb_lo, cb_hi] = detail::widened(levels.front(), levels.back(), st.log_z);
  const std::string title = st.title.empty() ? std::string("contours") : st.title;
  const std::string file = detail::gp_file(f.base + ".dat");
  // Contour lines and labels of every panel into datablocks first ($C<p>, $H<p>, $L<p>): tables
  // cannot be made inside a multiplot.
  std::string head = "\n# Each panel's contour lines, its highlighted level and its level labels.\n";
  head += "set contour base\nunset surface\nset cntrparam linear\nset format z \"%.17g\"\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const std::string n = std::to_string(p);
    head += "set cntrparam levels discrete " + list + "\n";
    head += "set table $C" + n + "\nsplot " + file + " index " + n + " using " + detail::value_column(st) +
            " notitle\nunset table\n";
    if (std::isfinite(panels[p].highlight)) {
      head += "set cntrparam levels discrete " + detail::number(panels[p].highlight) + "\n";
      head += "set table $H" + n + "\nsplot " + file + " index " + n + " using " + detail::value_column(st) +
              " notitle\nunset table\n";
    }
    head += "$L" + n + " << EOD\n" +
            detail::label_lines(detail::contour_labels(panels[p].grid, levels, st.log_z), levels) + "EOD\n";
  }
  head += "unset contour\n";
  // The commands that draw, run once for the PNG and again for the SVG (a multiplot cannot be
  // replotted).
  const int n = int(panels.size()), cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  std::string body = "unset title\n" + detail::axis_labels(st);
  body += "set tics out nomirror font \",9\"\n";
  body += "set cbrange [" + detail::number(cb_lo) + ":" + detail::number(cb_hi) + "]\nunset colorbox\n";
  if (st.log_z) body += "set logscale cb\n";
  body += "set key top right reverse Left nobox opaque samplen 2 spacing 1.1 font \",9\"\n";
  body += "set multiplot layout " + std::to_string(rows) + "," + std::to_string(cols) + " title " +
          detail::gp_string(title) + " font \",13\"\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const std::string k = std::to_string(p);
    body += "set title " + detail::gp_string(panels[p].title) + " font \",11\"\n" + detail::xy_ranges(panels[p].grid);
    body += "plot $C" + k + " using 1:2:3 with lines lc palette lw 1.2 notitle, \\\n     $L" + k +
            " using 1:2:3 with labels boxed font \",8\" notitle";
    if (std::isfinite(panels[p].highlight)) {
      char v[32];
      std::snprintf(v, sizeof v, "%.4g", panels[p].highlight);
      body += ", \\\n     $H" + k + " using 1:2 with lines lc rgb \"#d62728\" lw 2 dt 2 title " +
              detail::gp_string(st.highlight_label + " (" + v + ")");
    }
    body += "\n";
  }
  body += "unset multiplot\n";
  const std::string s =
      detail::preamble(f, st, "contour_panels", title) + head + body + detail::epilogue_replaying(f, st, body);
  detail::finish(f, st, dat, s, fn);
}
namespace detail {
// Whether coordinates are evenly spaced (to rounding: linspace's), at least two of them.
inline bool evenly_spaced(const std::vector<double>& v) {
  if (v.size() < 2) return false;
  const double step = (v.back() - v.front()) / double(v.size() - 1);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::fabs(v[i] - (v.front() + double(i) * step)) > 1e-9 * std::fabs(step)) return false;
  return step > 0;
}
}  // namespace detail

// A filled map of the surface seen from above, with a colour bar. On an evenly spaced grid (every
// sweep's linspace) each grid point is one cell centred on it, as the reference tool's seaborn
// heat map draws it, so a coarse map (a 5 x 5 Hessian map) shows its 25 values; a point not
// computed is a white cell. On an uneven grid (gnuplot pm3d) each cell between four grid points
// takes the mean of its corners' colours, and cells touching a point not computed are white.
// style.vmin and style.vmax, where given, bound the colour scale (the reference tool's heat map
// is drawn between its --vmin and --vmax).
// requires, ensures, throws: as in the file comment.
inline void heatmap(const grid2d& g, const std::string& stem, const style& st) {
  constexpr const char* fn = "plot::heatmap";
  detail::check_grid(g, fn, true, st.log_z);
  detail::check_value_range(st, fn);
  const bool ranged = detail::has_value_range(st);
  const auto [lo, hi] = detail::bar_range(g, st);
  const auto tics = detail::bar_tics(g, st, lo, hi);
  const auto f = detail::files_for(stem, fn);
  std::string s = detail::preamble(f, st, "heatmap", detail::surface_title(g, st));
  const bool cells = detail::evenly_spaced(g.x) && detail::evenly_spaced(g.y);
  s += cells ? "\nset style fill solid 1.0 noborder\n" : "\nset view map\nset pm3d corners2color mean\n";
  // The plot area's edges as shares of the picture (the right one leaving room for the colour
  // bar's labels); the cells' reach below counts its pixels.
  constexpr double left = 0.11, bottom = 0.11, top = 0.90;
  const double right = std::clamp(1 - detail::bar_room(detail::widest(tics)) / st.width, 0.5, 0.80);
  s += "set lmargin at screen " + detail::number(left) + "\nset rmargin at screen " + detail::number(right) +
       "\nset bmargin at screen " + detail::number(bottom) + "\nset tmargin at screen " + detail::number(top) + "\n";
  // half a cell on each side of a point
  const double hx = cells ? (g.x.back() - g.x.front()) / double(2 * (g.x.size() - 1)) : 0,
               hy = cells ? (g.y.back() - g.y.front()) / double(2 * (g.y.size() - 1)) : 0;
  if (cells) {  // (a hair wider than the boxes: gnuplot leaves a box that crosses the range out of the colour scale)
    const double mx = hx * (1 + 1e-6), my = hy * (1 + 1e-6);
    s += "set xrange [" + detail::number(g.x.front() - mx) + ":" + detail::number(g.x.back() + mx) + "]\nset yrange [" +
         detail::number(g.y.front() - my) + ":" + detail::number(g.y.back() + my) + "]\n";
  } else {
    s += detail::xy_ranges(g);
  }
  s += detail::axis_labels(st);
  s += "set tics out nomirror\n";
  s += detail::bar_label(st, tics);
  // (values beyond the colour range take its end's colour)
  s += "set cbrange [" + detail::number(lo) + ":" + detail::number(hi) + "]\n";
  if (st.log_z) s += "set logscale cb\n";
  s += "set cbtics " + detail::tic_list(tics) + "\n";
  s += "unset key\n";
  if (cells) {
    // A box per point coloured by its value (a NaN point draws none: a white cell). Each box's
    // inner sides reach one pixel (at most half a cell) into its neighbours: boxes that only
    // touch leave antialiased seams, a faint grid over the map. The outer sides stay on the
    // grid's edge, inside the range (the second box's reach stops at the first's outer side).
    const double ox = std::min(hx, (g.x.back() - g.x.front() + 2 * hx) / ((right - left) * st.width)),
                 oy = std::min(hy, (g.y.back() - g.y.front() + 2 * hy) / ((top - bottom) * st.height));
    const auto side = [](const char* col, double h, double o, double first, double last) {
      const std::string c = std::string("$") + col;
      return "(" + c + " - " + detail::number(h) + " - (" + c + " > " + detail::number(first + h) + " ? " +
             detail::number(o) + " : 0)):(" + c + " + " + detail::number(h) + " + (" + c + " < " +
             detail::number(last - h) + " ? " + detail::number(o) + " : 0))";
    };
    s += "plot " + detail::gp_file(f.base + ".dat") + " using 1:2:" + side("1", hx, ox, g.x.front(), g.x.back()) + ":" +
         side("2", hy, oy, g.y.front(), g.y.back()) + ":" + (st.log_z ? "($3 > 0 ? $3 : NaN)" : "3") +
         " with boxxyerror lc palette notitle\n";
  } else
    s += (ranged ? detail::shown_function(lo, hi) : std::string()) + "splot " + detail::gp_file(f.base + ".dat") +
         " using " + (ranged ? detail::shown_column(st) : detail::value_column(st)) + " with pm3d notitle\n";
  s += detail::epilogue(f, st);
  detail::finish(f, st, detail::grid_dat(g), s, fn);
}

// The surface in 3-D (gnuplot pm3d, depth-sorted), coloured by value with a colour bar; the grid
// lines are drawn on it when both nx and ny are at most 60 (denser meshes would turn black).
// With style.vmin or style.vmax, values beyond them are drawn on the range's ends: a plane whose
// rim rises 1000-fold over its basin (a corner in front of the basin would hide it) is cut flat.
// requires, ensures, throws: as in the file comment.
inline void surface3d(const grid2d& g, const std::string& stem, const style& st) {
  constexpr const char* fn = "plot::surface3d";
  detail::check_grid(g, fn, true, st.log_z);
  detail::check_value_range(st, fn);
  const bool ranged = detail::has_value_range(st);
  const auto [lo, hi] = detail::bar_range(g, st);
  const auto tics = detail::bar_tics(g, st, lo, hi);
  const auto f = detail::files_for(stem, fn);
  std::string s = detail::preamble(f, st, "surface3d", detail::surface_title(g, st));
  s += "\nset view 60, 35\nset xyplane 0\n";
  // The x axis' first tic label sits under the corner where the z axis starts, beside its lowest
  // tic label ("0-1"): half a character right and 0.6 of a line down, the two read apart.
  s += "set xtics offset 0.5,-0.6\n";
  s += "set pm3d corners2color mean\n";
  s += g.nx() <= 60 && g.ny() <= 60 ? "set pm3d depthorder border lc rgb \"#303030\" lw 0.4\n"
                                    : "set pm3d depthorder noborder\n";
  s += detail::xy_ranges(g) + detail::axis_labels(st);
  // The axes' names down and outward, clear of the tic labels: at gnuplot's place "direction 1"
  // ended two characters left of the x axis' "0", a line below it, and read as one of its labels.
  s += "set xlabel offset -2,-1.2\nset ylabel offset 2,-1.2\n";
  // The colour bar, 2.5% of the picture wide, at 88% of it, or further left when its labels need
  // the room. Tic labels wider than about four characters (a map that spans 1e-7 around 2.302585)
  // need room left of the z axis too: the plot (which ends near 88% of its width) is moved right
  // and narrowed to end left of the bar, and the z label, which gnuplot sets at the same place
  // whatever its tic labels' width, moved left past them.
  const double bar = std::clamp(1 - 0.025 - detail::bar_room_3d(detail::widest(tics)) / st.width, 0.5, 0.88);
  const double wide = std::max(0.0, double(detail::widest(tics)) - 4), shift = std::min(0.15, 8.5 * wide / st.width);
  const double size = std::min(1.0, (bar - shift) / 0.88);
  if (shift > 0 || size < 1)
    s += "set origin " + detail::number(shift) + ", 0\nset size " + detail::number(size) + ", 1\n";
  s += "set zlabel " + detail::gp_string(st.zlabel) + " rotate parallel offset " + detail::number(-(wide + 1)) + ",0\n";
  s += detail::bar_label(st, tics);
  s += "set colorbox vertical user origin " + detail::number(bar) + ", 0.25 size 0.025, 0.5\n";
  const auto lo_s = detail::number(lo), hi_s = detail::number(hi);
  s += "set zrange [" + lo_s + ":" + hi_s + "]\nset cbrange [" + lo_s + ":" + hi_s + "]\n";
  if (ranged) s += detail::shown_function(lo, hi);
  if (st.log_z) s += "set logscale z\nset logscale cb\n";
  s += "set cbtics " + detail::tic_list(tics) + "\nset ztics " + detail::tic_list(tics) + "\n";
  s += "unset key\n";
  s += "splot " + detail::gp_file(f.base + ".dat") + " using " +
       (ranged ? detail::shown_column(st) : detail::value_column(st)) + " with pm3d notitle\n";
  s += detail::epilogue(f, st);
  detail::finish(f, st, detail::grid_dat(g), s, fn);
}

}  // namespace basin::plot
