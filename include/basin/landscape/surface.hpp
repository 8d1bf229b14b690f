// basin/landscape/surface.hpp — 1-D and 2-D slices of the loss, written point by point.
//
//   theta(a)    = theta* + a d1                 (a line; interpolation when d1 = theta2 - theta1)
//   theta(a, b) = theta* + a d1 + b d2          (a plane)
// Every point's metrics (by default train/test loss and accuracy) go into an HDF5 surface file
// laid out as the reference tool's (Li et al. 2018, plot_surface.py):
//   xcoordinates (nx), ycoordinates (ny)             float64
//   train_loss, train_acc, test_loss, test_acc       float64 (nx, ny) or (nx); -1 = not yet computed;
//                                                    value[i, j] is at (xcoordinates[i], ycoordinates[j])
//   computed                                         uint8, same shape: basin's explicit mask
//   attributes: format, axis_order, architecture, fingerprint, settings (directions, data), dir_file
// A point is written and flushed as soon as it is finished; rerunning the same sweep on the same
// file computes only the missing points, so a killed sweep loses at most the point in flight.
// A file whose coordinates or settings differ is refused, never overwritten.
#pragma once

#include <any>
#include <cmath>
#include <filesystem>
#include <functional>
#include <sstream>
#include <type_traits>
#include <string>
#include <vector>

#include "basin/io/hdf5.hpp"
#include "basin/landscape/directions.hpp"
#include "basin/train/progress.hpp"
#include "basin/train/trainer.hpp"

namespace basin {

// Coordinates lo, lo + step, ..., hi with n values (the reference tool's "lo:hi:n").
inline std::vector<double> linspace(double lo, double hi, int n) {
  require(n >= 1, "linspace: need at least one point, got ", n);
  require(std::isfinite(lo) && std::isfinite(hi) && (n == 1 || hi > lo), "linspace: need finite lo < hi, got ", lo,
          ":", hi);
  std::vector<double> v(static_cast<std::size_t>(n));
  // (lo (n-1-i) + hi i) / (n-1): symmetric ranges hit 0 exactly at their middle.
  for (int i = 0; i < n; ++i) v[i] = n == 1 ? lo : (lo * (n - 1 - i) + hi * i) / (n - 1);
  return v;
}
// Parses "lo:hi:n", e.g. "-1:1:51". Throws basin::error naming the option for bad text.
inline std::vector<double> parse_range(const std::string& text, const std::string& option) {
  double lo = 0, hi = 0;
  int n = 0;
  char c1 = 0, c2 = 0;
  std::istringstream s(text);
  s >> lo >> c1 >> hi >> c2 >> n;
  require(!s.fail() && c1 == ':' && c2 == ':' && s.eof(), "option ", option, ": expected lo:hi:n such as -1:1:51, got '",
          text, "'");
  return linspace(lo, hi, n);
}

struct surface_options {
  std::vector<double> x, y;  // coordinates; y empty for a 1-D slice
  bool progress = true;
  std::string dir_file;      // recorded in the file
  std::string settings;      // what the values depend on besides coordinates (directions, data); must match on resume
};

// One point's metrics, in the order of the names given to sweep().
using point_metrics = std::vector<double>;

struct sweep_stats {
  index_t computed = 0, skipped = 0;  // points computed now, points already in the file
  double seconds = 0;
};

// Sweeps the model over the grid, writing each point at once to path (created if missing,
// resumed if it holds the same sweep). eval(model) returns the metrics named by `names`.
// Requires a model at the slice's origin (restored at the end, also after an exception).
// Throws basin::error for a file of another sweep, a non-HDF5 file or non-finite coordinates.
template <class Model, class Eval>
sweep_stats sweep(Model& m, direction<Model>& dx, std::type_identity_t<direction<Model>>* dy, const std::string& path,
                  const surface_options& o, const std::vector<std::string>& names, Eval&& eval) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  require(!o.x.empty(), "sweep: no x coordinates");
  require((dy != nullptr) == !o.y.empty(), "sweep: give y coordinates exactly when a second direction is given");
  for (double v : o.x) require(std::isfinite(v), "sweep: x coordinate ", v, " is not finite");
  for (double v : o.y) require(std::isfinite(v), "sweep: y coordinate ", v, " is not finite");
  const bool plane = dy != nullptr;
  const std::size_t nx = o.x.size(), ny = plane ? o.y.size() : 1, points = nx * ny;
  const std::vector<hsize_t> shape = plane ? std::vector<hsize_t>{nx, ny} : std::vector<hsize_t>{nx};
  const std::string axis_order =
      plane ? "value[i, j] is at (xcoordinates[i], ycoordinates[j]); shape (len(x), len(y))" : "value[i] is at xcoordinates[i]";

  if (!std::filesystem::exists(path)) {
    h5::atomic_write(path, [&](h5::file& f) {
      f.set_attr("/", "format", "basin-surface-1");
      f.set_attr("/", "axis_order", axis_order);
      f.set_attr("/", "architecture", Model::architecture());
      f.set_attr("/", "fingerprint", Model::fingerprint());
      f.set_attr("/", "settings", o.settings);
      f.write_string("dir_file", o.dir_file);
      f.write<double>("xcoordinates", o.x, {nx});
      if (plane) f.write<double>("ycoordinates", o.y, {ny});
      const std::vector<double> unset(points, -1.0);
      for (const auto& n : names) f.write<double>(n, unset.data(), shape);
      const std::vector<std::uint8_t> none(points, 0);
      f.write<std::uint8_t>("computed", none.data(), shape);
    });
  }
  // Checked read-only first: a refused file is left exactly as it was.
  auto f = h5::file::open(path, false);
  // Refuse a file of another sweep: every check names what differs.
  const auto same = [&](const char* what, bool ok, const std::string& expected, const std::string& found) {
    require(ok, "surface file '", path, "' belongs to another sweep: its ", what, " is ", found, ", this sweep's is ",
            expected, " (use another file name or remove it)");
  };
  require(f.has_attr("/", "format") && f.attr_string("/", "format") == "basin-surface-1", "surface file '", path,
          "' is not a basin surface file (no format attribute 'basin-surface-1')");
  same("architecture", f.attr_string("/", "architecture") == Model::architecture() &&
                           f.attr_u64("/", "fingerprint") == Model::fingerprint(),
       Model::architecture(), f.attr_string("/", "architecture"));
  same("settings", f.attr_string("/", "settings") == o.settings, "'" + o.settings + "'",
       "'" + f.attr_string("/", "settings") + "'");
  same("x coordinates", f.read<double>("xcoordinates") == o.x, std::to_string(nx) + " values",
       std::to_string(f.read<double>("xcoordinates").size()) + " (or other) values");
  if (plane)
    same("y coordinates", f.is_dataset("ycoordinates") && f.read<double>("ycoordinates") == o.y,
         std::to_string(ny) + " values", "different values");
  for (const auto& n : names) same("metrics", f.is_dataset(n) && f.shape(n) == shape, n, "missing or of another shape");
  require(f.is_dataset("computed") && f.shape("computed") == shape, "surface file '", path,
          "': the 'computed' mask is missing or has the wrong shape");
  const auto done = f.read<std::uint8_t>("computed");
  f.close();
  f = h5::file::open(path, true);

  // The origin, restored whatever happens.
  const typename B::template vector<T> origin_p = m.params, origin_s = m.state;
  struct restore {
    Model& m;
    const typename B::template vector<T>& p;
    const typename B::template vector<T>& s;
    ~restore() {
      B::copy(index_t(p.size()), backend::raw(const_cast<typename B::template vector<T>&>(p)), backend::raw(m.params));
      B::copy(index_t(s.size()), backend::raw(const_cast<typename B::template vector<T>&>(s)), backend::raw(m.state));
    }
  } guard{m, origin_p, origin_s};

  sweep_stats st;
  for (auto v : done) st.skipped += v ? 1 : 0;
  const index_t todo = index_t(points) - st.skipped;
  progress bar(plane ? "surface" : "line", long(todo), "points", o.progress);
  index_t k = 0;
  for (std::size_t i = 0; i < nx; ++i)
    for (std::size_t j = 0; j < ny; ++j) {
      const std::size_t at = i * ny + j;
      if (done[at]) continue;
      set_point(m, origin_p, origin_s, dx, o.x[i], dy, plane ? o.y[j] : 0.0);
      const point_metrics v = eval(m);
      require(v.size() == names.size(), "sweep: the evaluator returned ", v.size(), " metrics, expected ", names.size());
      for (std::size_t q = 0; q < names.size(); ++q) f.write_range<double>(names[q], index_t(at), &v[q], 1);
      const std::uint8_t one = 1;
      f.write_range<std::uint8_t>("computed", index_t(at), &one, 1);  // last: a point counts once its values are in
      f.flush();
      ++st.computed;
      ++k;
      bar.update(long(k), double(k), names.empty() ? "" : names[0], v.empty() ? 0 : v[0]);
    }
  st.seconds = bar.seconds();
  return st;
}

// The usual metrics: mean loss and accuracy (percent) on a training and/or a test set, in eval
// mode. Names: train_loss, train_acc, test_loss, test_acc (for the sets given).
struct loss_accuracy {
  const dataset* train = nullptr;
  const dataset* test = nullptr;
  index_t batch_size = 500;
  mutable std::any workspace{};  // evaluation_workspace<Model>, made at the first point

  std::vector<std::string> names() const {
    std::vector<std::string> n;
    if (train) n.insert(n.end(), {"train_loss", "train_acc"});
    if (test) n.insert(n.end(), {"test_loss", "test_acc"});
    return n;
  }
  template <class Model>
  point_metrics operator()(Model& m) const {
    using W = evaluation_workspace<Model>;
    if (!std::any_cast<W>(&workspace)) workspace.emplace<W>();
    W* ws = std::any_cast<W>(&workspace);
    point_metrics v;
    for (const dataset* d : {train, test}) {
      if (!d) continue;
      const auto e = evaluate(m, *d, batch_size, mode::eval, false, ws);
      v.push_back(e.loss);
      v.push_back(e.accuracy);
    }
    return v;
  }
};

}  // namespace basin
