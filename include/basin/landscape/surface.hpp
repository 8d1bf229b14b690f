// basin/landscape/surface.hpp — 1-D and 2-D slices of the loss, written point by point.
//
//   theta(a)    = theta* + a d1                 (a line; interpolation when d1 = theta2 - theta1)
//   theta(a, b) = theta* + a d1 + b d2          (a plane)
// Every point's metrics (by default train/test loss and accuracy) go into an HDF5 surface file
// laid out as the reference tool's (Li et al. 2018, plot_surface.py):
//   xcoordinates (nx), ycoordinates (ny)             float64
//   train_loss, train_acc, test_loss, test_acc       float64 (ny, nx) or (nx); -1 = not yet computed;
//                                                    value[j, i] is at (xcoordinates[i], ycoordinates[j]):
//                                                    numpy.meshgrid(x, y)'s order, the reference tool's
//                                                    (its flat index j * nx + i), which its plots
//                                                    (contour(X, Y, Z)) and h52vtp read. (The reference
//                                                    declares the shape (nx, ny), the same for the
//                                                    square grids its plots can draw.)
//   computed                                         uint8, same shape: basin's explicit mask
//   attributes: format ("basin-surface-2"), axis_order, architecture, fingerprint, settings (directions, data),
//               loss_name ("crossentropy" or "mse", when the evaluator says), origin_digest and
//               directions_digest (FNV-1a of the origin's and the directions' buffers, the first
//               followed by the quantized layers' grids where the net has such layers: a resumed
//               sweep with other weights, grids or directions is refused), metrics (the names,
//               comma-joined), data_digest (when the evaluator names its data: loss_accuracy,
//               hessian_eigenvalues); dataset dir_file
// A point is written and flushed as soon as it is finished; rerunning the same sweep on the same
// file computes only the missing points, so a killed sweep loses at most the point in flight.
// A file whose coordinates or settings differ is refused, never overwritten. With loss_accuracy,
// a point where logits overflow (far out, where the loss "goes up and up ... until you just get
// NaNs") is computed and recorded, its loss NaN (as PyTorch's) and the overflowing images
// counted wrong; the pictures leave a NaN as a hole. Weights at the origin that are not finite
// are refused before anything is written.
//
// Files of format "basin-surface-1" (before 2026-12) hold a plane transposed, (nx, ny) with
// value[i, j] at (x[i], y[j]); a sweep resumes them in that layout, and surface_values reads
// either layout into the order plot::grid2d takes.
#pragma once

#include <algorithm>
#include <any>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "basin/core/digest.hpp"
#include "basin/core/files.hpp"
#include "basin/io/hdf5.hpp"
#include "basin/landscape/directions.hpp"
#include "basin/train/progress.hpp"
#include "basin/train/trainer.hpp"

namespace basin {

// The most points an axis of a sweep may have (a 100000 x 100000 grid would be 10^10 points).
inline constexpr int max_axis_points = 100000;
inline constexpr std::size_t max_grid_points = 100000000;

// Where coordinates[k] is not above coordinates[k - 1] (a sweep's axis must increase strictly),
// that k; 0 when they increase.
inline std::size_t first_not_increasing(const std::vector<double>& c) {
  for (std::size_t k = 1; k < c.size(); ++k)
    if (!(c[k] > c[k - 1])) return k;
  return 0;
}

// Coordinates lo, lo + step, ..., hi with n values (the reference tool's "lo:hi:n"), n at most
// max_axis_points. Throws basin::error for a range so narrow that neighbours coincide in double.
inline std::vector<double> linspace(double lo, double hi, int n) {
  require(n >= 1 && n <= max_axis_points, "linspace: need 1 to ", max_axis_points, " points, got ", n);
  require(std::isfinite(lo) && std::isfinite(hi) && (n == 1 || hi > lo), "linspace: need finite lo < hi, got ", lo,
          ":", hi);
  std::vector<double> v(static_cast<std::size_t>(n));
  // (lo (n-1-i) + hi i) / (n-1): symmetric ranges hit 0 exactly at their middle.
  for (int i = 0; i < n; ++i) v[i] = n == 1 ? lo : (lo * (n - 1 - i) + hi * i) / (n - 1);
  for (const double p : v)
    require(std::isfinite(p), "linspace: ", lo, ":", hi, ":", n, " overflows double precision (a point is ", p, ")");
  const std::size_t k = first_not_increasing(v);
  require(k == 0 || !std::isfinite(v[k]), "linspace: ", lo, ":", hi, ":", n, " is too narrow for ", n,
          " distinct points in double precision (points ", k - 1, " and ", k, " are both ", v[k], ")");
  return v;
}
// The two layouts of a plane's values in a surface file (see the header comment).
enum class surface_layout {
  meshgrid,  // "basin-surface-2" and the reference tool: flat index j * nx + i for (x[i], y[j])
  xy         // "basin-surface-1": (nx, ny), value[i, j] at (x[i], y[j])
};
inline constexpr const char* surface_format = "basin-surface-2";

// The layout of an open surface file, by its format attribute: basin's old one for
// "basin-surface-1", else the reference tool's (basin's files since, and the reference's own).
inline surface_layout layout_of(const h5::file& f) {
  return f.has_attr("/", "format") && f.attr_string("/", "format") == "basin-surface-1" ? surface_layout::xy
                                                                                        : surface_layout::meshgrid;
}

// A surface file's coordinates `name` ("xcoordinates" or "ycoordinates"), their shape checked
// before they are read: one axis of 1 to max_axis_points values (a file that declares more is
// refused by name instead of allocated).
inline std::vector<double> read_axis(const h5::file& f, const char* name) {
  require(f.is_dataset(name), "surface file '", f.path(), "': no dataset '", name, "'");
  const auto shape = f.shape(name);
  require(shape.size() == 1 && shape[0] >= 1 && shape[0] <= hsize_t(max_axis_points), "surface file '", f.path(),
          "': dataset '", name, "' has shape ", h5::detail::dims_string(shape), ", expected one axis of 1 to ",
          max_axis_points, " values");
  return f.read<double>(name);
}

// A surface file's dataset `name` in the order plot::grid2d takes, z[i * ny + j] at (x[i], y[j])
// (a line's values as they are), whichever layout the file has. Throws basin::error naming the
// file and the dataset when its shape is not (ny, nx) (basin's; (nx, ny) in its old layout, and
// either in a file without basin's format, the reference tool's own; (nx) for a line) for the
// file's coordinates. A point the file's `computed` mask marks as not computed (an interrupted
// sweep's; the file holds -1 there, as the reference tool writes) comes back as NaN, which the
// pictures, exporters and analyses take for "not computed".
inline std::vector<double> surface_values(const h5::file& f, const std::string& name) {
  const auto x = read_axis(f, "xcoordinates");
  const bool plane = f.is_dataset("ycoordinates");
  const std::size_t nx = x.size(), ny = plane ? read_axis(f, "ycoordinates").size() : 1;
  const auto layout = layout_of(f);
  const std::vector<hsize_t> expect = !plane                         ? std::vector<hsize_t>{nx}
                                      : layout == surface_layout::xy ? std::vector<hsize_t>{nx, ny}
                                                                     : std::vector<hsize_t>{ny, nx};
  require(f.is_dataset(name), "surface file '", f.path(), "': no dataset '", name, "'");
  const auto found = f.shape(name);
  const bool reference_shape = plane && !f.has_attr("/", "format") && found == std::vector<hsize_t>{nx, ny};
  require(found == expect || reference_shape, "surface file '", f.path(), "': dataset '", name, "' has shape ",
          h5::detail::dims_string(found), ", expected ", h5::detail::dims_string(expect), " for ", nx, " x and ",
          plane ? ny : 0, " y coordinates");
  auto v = f.read<double>(name);
  if (name != "computed" && f.is_dataset("computed") && f.shape("computed") == found) {
    const auto mask = f.read<std::uint8_t>("computed");
    for (std::size_t k = 0; k < v.size(); ++k)
      if (!mask[k]) v[k] = std::numeric_limits<double>::quiet_NaN();
  }
  if (!plane || layout == surface_layout::xy) return v;
  std::vector<double> z(v.size());
  for (std::size_t j = 0; j < ny; ++j)
    for (std::size_t i = 0; i < nx; ++i) z[i * ny + j] = v[j * nx + i];
  return z;
}
inline std::vector<double> surface_values(const std::string& path, const std::string& name) {
  return surface_values(h5::file::open(path), name);
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
  require(n >= 1 && n <= max_axis_points, "option ", option, ": expected 1 to ", max_axis_points,
          " points on the axis, got ", n, " in '", text, "'");
  require(std::isfinite(lo) && std::isfinite(hi) && (n == 1 || hi > lo), "option ", option,
          ": expected finite lo < hi, got '", text, "'");
  std::vector<double> v;
  try {
    v = linspace(lo, hi, n);
  } catch (const error& e) {  // a range too narrow for its points
    fail("option ", option, ": '", text, "': ", e.what());
  }
  // (text cannot spell NaN or infinity for the stream, but end points near the double range
  // overflow linspace's lo (n - 1 - i) + hi i)
  require(std::all_of(v.begin(), v.end(), [](double c) { return std::isfinite(c); }), "option ", option, ": '", text,
          "' lies too close to the double range: its grid cannot be computed (lo (n - 1) and hi (n - 1) overflow)");
  return v;
}

// Processes that share one sweep, the reference tool's MPI mode (distributed/mpi.hpp gives one
// over an MPI communicator; the sweep itself needs no MPI). Rank 0 owns the surface file: it
// creates or checks it and writes every point; the other ranks only compute. Every rank calls
// sweep() with the same arguments; the grid's blocks of points are dealt out in turn, and after
// each round rank 0 gathers and writes the round's points, so a killed run loses at most one
// round. The origin and the directions are rank 0's: they are broadcast before the sweep.
struct sweep_team {
  virtual ~sweep_team() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // bytes from rank 0 to every rank (resized on the others).
  virtual void broadcast(std::vector<std::uint8_t>& bytes) = 0;
  // At rank 0, all[r * mine.size() + k] = rank r's mine[k]; every rank gives the same count.
  virtual void gather(const std::vector<double>& mine, std::vector<double>& all) = 0;
  virtual void barrier() = 0;
};

namespace detail {
// FNV-1a over the bytes of backend buffers, as 16 hex digits: what a surface file records of its
// origin and directions, so that a resumed sweep cannot mix points of other weights.
// finite: whether every value is.
template <class B, class... V>
std::string buffers_digest(bool& finite, const V&... vs) {
  fnv1a h;
  finite = true;
  const auto add = [&](const auto& v) {
    using T = typename std::remove_cvref_t<decltype(v)>::value_type;
    std::vector<T> host(v.size());
    if (!host.empty()) B::download(backend::raw(v), index_t(v.size()), host.data());
    for (const T& x : host) finite = finite && std::isfinite(double(x));
    h.add(host.data(), host.size() * sizeof(T));
    h.mix(host.size());  // where one buffer ends and the next begins
  };
  (add(vs), ...);
  return h.hex();
}

// A backend buffer from rank 0 to every rank of the team.
template <class B, class V>
void broadcast_buffer(sweep_team& team, V& v) {
  using T = typename V::value_type;
  std::vector<T> h(v.size());
  if (team.rank() == 0) B::download(backend::raw(v), index_t(v.size()), h.data());
  std::vector<std::uint8_t> bytes(h.size() * sizeof(T));
  if (!bytes.empty()) std::memcpy(bytes.data(), h.data(), bytes.size());
  team.broadcast(bytes);
  require(bytes.size() == h.size() * sizeof(T), "sweep: rank ", team.rank(), " holds a buffer of ", h.size(),
          " values, rank 0 one of ", bytes.size() / sizeof(T));
  if (!bytes.empty()) std::memcpy(h.data(), bytes.data(), bytes.size());
  if (team.rank() != 0) B::upload(h.data(), index_t(h.size()), backend::raw(v));
}
}  // namespace detail

struct surface_options {
  std::vector<double> x, y;  // coordinates; y empty for a 1-D slice
  bool progress = true;
  std::string dir_file;      // recorded in the file
  std::string settings;      // what the values depend on besides coordinates (directions, data); must match on resume
  // Runs once the surface file is created or accepted, before the first point (on rank 0 of a
  // team only): write the directions file here, so that a refused sweep leaves it as it was.
  std::function<void()> on_ready;
  index_t points_per_pass = 16;  // grid points evaluated per pass over the data (loss_accuracy)
  sweep_team* team = nullptr;    // several processes share the sweep (see sweep_team); null: this one alone
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
// Throws basin::error for a file of another sweep, a non-HDF5 file or non-finite coordinates
// (with o.team: on every rank, with rank 0's message). The returned stats count the points of
// the whole team.
template <class Model, class Eval>
sweep_stats sweep(Model& m, direction<Model>& dx, std::type_identity_t<direction<Model>>* dy, const std::string& path,
                  const surface_options& o, const std::vector<std::string>& names, Eval&& eval) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  require(!o.x.empty(), "sweep: no x coordinates");
  require((dy != nullptr) == !o.y.empty(), "sweep: give y coordinates exactly when a second direction is given");
  for (double v : o.x) require(std::isfinite(v), "sweep: x coordinate ", v, " is not finite");
  for (double v : o.y) require(std::isfinite(v), "sweep: y coordinate ", v, " is not finite");
  for (const auto* axis : {&o.x, &o.y}) {
    const std::size_t k = first_not_increasing(*axis);
    require(k == 0, "sweep: ", axis == &o.x ? "x" : "y", " coordinates must increase strictly, but [", k,
            "] = ", k ? (*axis)[k] : 0.0, " follows [", k - 1, "] = ", k ? (*axis)[k - 1] : 0.0);
  }
  // An evaluator that names its metrics (loss_accuracy, hessian_eigenvalues) must be given its
  // names in its order: others would file its values under other names (test as train).
  if constexpr (requires { eval.names(); }) {
    const std::vector<std::string> own = eval.names();
    const auto joined = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
      return "{" + s + "}";
    };
    require(names == own, "sweep: names = ", joined(names), ", expected the evaluator's ", joined(own),
            " in its order (pass eval.names())");
  }
  const bool plane = dy != nullptr;
  const std::size_t nx = o.x.size(), ny = plane ? o.y.size() : 1, points = nx * ny;
  require(nx <= std::size_t(max_axis_points) && ny <= std::size_t(max_axis_points) && points <= max_grid_points,
          "sweep: ", nx, " x ", ny, " grid points, more than ", max_axis_points, " on an axis or ", max_grid_points,
          " in all");
  // A new file's layout; an existing file keeps its own (set by prepare).
  surface_layout layout = surface_layout::meshgrid;
  const auto shape_of = [&](surface_layout l) {
    return !plane                    ? std::vector<hsize_t>{nx}
           : l == surface_layout::xy ? std::vector<hsize_t>{nx, ny}
                                     : std::vector<hsize_t>{ny, nx};
  };
  const std::string axis_order = plane
                                     ? "value[j, i] is at (xcoordinates[i], ycoordinates[j]); shape (len(y), len(x)), "
                                       "as numpy.meshgrid(x, y)"
                                     : "value[i] is at xcoordinates[i]";

  sweep_team* team = o.team;
  const bool root = team == nullptr || team->rank() == 0;
  // An evaluator that names its loss (loss_accuracy) has it recorded as the attribute loss_name
  // ("crossentropy" or "mse", the reference tool's --loss_name), checked on resume.
  std::string loss_name;
  if constexpr (requires { criterion_name(eval.loss); }) loss_name = criterion_name(eval.loss);
  // An evaluator that knows its data (loss_accuracy) has its digest recorded as data_digest: a
  // sweep resumed on other images of the same count is refused, not mixed into the file.
  // (taken in prepare, which rank 0 alone runs in a team)
  std::string data;
  // The metrics' names, comma-joined: a file made with more metrics than this sweep computes
  // would otherwise get points marked computed with some of their values never written.
  std::string metric_list;
  for (const auto& n : names) metric_list += (metric_list.empty() ? "" : ",") + n;
  // An axis as the refusals print it.
  const auto axis_text = [](const std::vector<double>& v) {
    return v.empty() ? std::string("no values") : text(v.size(), " values from ", v.front(), " to ", v.back());
  };
  const auto axis_difference = [&](const std::vector<double>& want, const std::vector<double>& got) {
    std::string s = axis_text(got);
    if (got.size() == want.size())
      for (std::size_t k = 0; k < got.size(); ++k)
        if (got[k] != want[k]) {
          s += text(" ([", k, "] = ", got[k], " where this sweep has ", want[k], ")");
          break;
        }
    return s;
  };
  std::vector<std::uint8_t> done;
  std::optional<h5::file> file;
  const auto prepare = [&] {
    // The values depend on the weights and directions too: the file keeps their digests.
    bool origin_finite = true, dirs_finite = true;
    std::string origin_digest = detail::buffers_digest<B>(origin_finite, m.params, m.state);
    // Quantized layers round on the origin's grids at every point (not on those of the first
    // point evaluated), and the digest names them: a resumed sweep on other grids is refused.
    if constexpr (requires { m.fix_weight_grids(); }) {
      const std::string grids = m.fix_weight_grids();
      if (!grids.empty()) origin_digest += " grids " + grids;
    }
    const std::string dir_digest =
        dy ? detail::buffers_digest<B>(dirs_finite, dx.params, dx.state, dy->params, dy->state)
           : detail::buffers_digest<B>(dirs_finite, dx.params, dx.state);
    if constexpr (requires { eval.data_digest(); }) data = eval.data_digest();
    require(origin_finite, "sweep: the weights at the origin are not all finite (a diverged or corrupt checkpoint?)");
    require(dirs_finite, "sweep: the directions are not all finite");
    if (!path_exists(path, "sweep: surface file")) {
      h5::atomic_write(path, [&](h5::file& f) {
        const auto shape = shape_of(surface_layout::meshgrid);
        f.set_attr("/", "format", surface_format);
        f.set_attr("/", "origin_digest", origin_digest);
        f.set_attr("/", "directions_digest", dir_digest);
        f.set_attr("/", "axis_order", axis_order);
        f.set_attr("/", "architecture", Model::architecture());
        f.set_attr("/", "fingerprint", Model::fingerprint());
        f.set_attr("/", "settings", o.settings);
        f.set_attr("/", "metrics", metric_list);
        if (!data.empty()) f.set_attr("/", "data_digest", data);
        if (!loss_name.empty()) f.set_attr("/", "loss_name", loss_name);
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
    const std::string format = f.has_attr("/", "format") ? f.attr_string("/", "format") : std::string();
    require(format == surface_format || format == "basin-surface-1", "surface file '", path,
            "' is not a basin surface file (format attribute '", format, "', expected '", surface_format, "')");
    layout = layout_of(f);
    const auto shape = shape_of(layout);
    same("architecture", f.attr_string("/", "architecture") == Model::architecture() &&
                             f.attr_u64("/", "fingerprint") == Model::fingerprint(),
         Model::architecture(), f.attr_string("/", "architecture"));
    same("settings", f.attr_string("/", "settings") == o.settings, "'" + o.settings + "'",
         "'" + f.attr_string("/", "settings") + "'");
    // Files of the first format, written before basin recorded the digests, are taken as they
    // are; the current format's writer always records them, so there they are required.
    if (format == surface_format)
      for (const char* a : {"origin_digest", "directions_digest"})
        require(f.has_attr("/", a), "surface file '", path, "' has format '", format, "' but no attribute '", a,
                "' (every such file records it): a damaged or hand-made file, not resumed");
    if (f.has_attr("/", "origin_digest"))
      same("weights at the origin (digest of the parameters and statistics)",
           f.attr_string("/", "origin_digest") == origin_digest, origin_digest, f.attr_string("/", "origin_digest"));
    if (f.has_attr("/", "directions_digest"))
      same("directions (digest)", f.attr_string("/", "directions_digest") == dir_digest, dir_digest,
           f.attr_string("/", "directions_digest"));
    // Files written before basin recorded the data's digest or the metrics' names are taken as
    // they are.
    if (f.has_attr("/", "metrics"))
      same("metrics", f.attr_string("/", "metrics") == metric_list, "'" + metric_list + "'",
           "'" + f.attr_string("/", "metrics") + "'");
    if (f.has_attr("/", "data_digest"))
      same("data (digest of the images and labels)", f.attr_string("/", "data_digest") == data,
           data.empty() ? std::string("not known (its evaluator does not name its data)") : data,
           f.attr_string("/", "data_digest"));
    if (!loss_name.empty()) {  // files written before basin recorded it hold cross-entropy
      const std::string found = f.has_attr("/", "loss_name") ? f.attr_string("/", "loss_name") : "crossentropy";
      same("loss (loss_name)", found == loss_name, loss_name, found);
    }
    const auto fx = read_axis(f, "xcoordinates");
    same("x coordinates", fx == o.x, axis_text(o.x), axis_difference(o.x, fx));
    if (plane) {
      const auto fy = f.is_dataset("ycoordinates") ? read_axis(f, "ycoordinates") : std::vector<double>{};
      same("y coordinates", fy == o.y, axis_text(o.y), fy.empty() ? "missing (a line)" : axis_difference(o.y, fy));
    } else {
      same("y coordinates", !f.is_dataset("ycoordinates"), "none (a line)", "present (a plane)");
    }
    const auto shape_text = [&](const std::string& n) {
      return f.is_dataset(n) ? "of shape " + h5::detail::dims_string(f.shape(n)) : std::string("missing");
    };
    for (const auto& n : names) {
      same(("dataset '" + n + "'").c_str(), f.is_dataset(n) && f.shape(n) == shape,
           "of shape " + h5::detail::dims_string(shape), shape_text(n));
      f.require_stores<double>(n, "resume the sweep in");
    }
    require(f.is_dataset("computed") && f.shape("computed") == shape, "surface file '", path,
            "': the 'computed' mask is ", shape_text("computed"), ", expected shape ", h5::detail::dims_string(shape));
    f.require_stores<std::uint8_t>("computed", "resume the sweep in");
    done = f.read<std::uint8_t>("computed");
    f.close();
    file.emplace(h5::file::open(path, true));
  };
  // The file accepted, the caller's on_ready (in rank 0's verdict: an error there ends every rank).
  const auto ready = [&] {
    prepare();
    if (o.on_ready) o.on_ready();
  };
  if (team == nullptr) {
    ready();
  } else {
    // Rank 0 checks the file; its verdict (1, the file's layout and the mask, or 0 and the
    // message) goes to all.
    std::vector<std::uint8_t> verdict;
    if (root) {
      try {
        ready();
        verdict.push_back(1);
        verdict.push_back(std::uint8_t(layout));
        verdict.insert(verdict.end(), done.begin(), done.end());
      } catch (const std::exception& e) {
        const std::string why = e.what();
        verdict.assign(1, 0);
        verdict.insert(verdict.end(), why.begin(), why.end());
        team->broadcast(verdict);
        throw;
      }
    }
    team->broadcast(verdict);
    require(!verdict.empty() && verdict[0] == 1,
            std::string(verdict.begin() + (verdict.empty() ? 0 : 1), verdict.end()), " (rank 0's error, seen by rank ",
            team->rank(), ")");
    require(verdict.size() >= 2, "sweep: rank ", team->rank(), " got no layout from rank 0");
    layout = surface_layout(verdict[1]);
    done.assign(verdict.begin() + 2, verdict.end());
    require(done.size() == points, "sweep: rank ", team->rank(), " has ", points, " grid points, rank 0 ", done.size());
    detail::broadcast_buffer<B>(*team, m.params);
    detail::broadcast_buffer<B>(*team, m.state);
    detail::broadcast_buffer<B>(*team, dx.params);
    detail::broadcast_buffer<B>(*team, dx.state);
    if (dy) detail::broadcast_buffer<B>(*team, dy->params), detail::broadcast_buffer<B>(*team, dy->state);
  }
  // (every rank's quantized layers on the grids of the origin it now holds; rank 0's are set)
  if constexpr (requires { m.fix_weight_grids(); }) (void)m.fix_weight_grids();

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
  // The grid point of a flat index into the file's arrays: j * nx + i in the meshgrid layout.
  const auto point_at = [&](std::size_t at) -> std::array<double, 2> {
    if (!plane) return {o.x[at], 0.0};
    if (layout == surface_layout::xy) return {o.x[at / ny], o.y[at % ny]};
    return {o.x[at % nx], o.y[at / nx]};
  };
  std::vector<std::size_t> pending;  // flat indices still to compute, in file order
  for (std::size_t at = 0; at < points; ++at)
    if (done[at]) ++st.skipped;
    else pending.push_back(at);
  progress bar(plane ? "surface" : "line", long(pending.size()), "points", o.progress && root);
  // Evaluators that can (loss_accuracy) evaluate a block of points per pass over their data;
  // others are called point by point. Each point is written as soon as its block is done.
  constexpr bool blocks = requires(const std::vector<std::array<double, 2>>& pts, const std::function<void(double)>& t) {
    eval.evaluate_points(m, origin_p, origin_s, dx, dy, pts, t);
  };
  // (no larger than the points left: a block's buffers are sized by it)
  const std::size_t per_pass =
      blocks ? std::min(std::size_t(std::max<index_t>(1, o.points_per_pass)), std::max<std::size_t>(1, pending.size()))
             : 1;
  std::vector<std::array<double, 2>> coords;
  std::vector<point_metrics> values;
  // Evaluates the block of pending points [b0, b0 + g) into values.
  const auto compute = [&](std::size_t b0, std::size_t g, bool show) {
    coords.clear();
    for (std::size_t q = 0; q < g; ++q) {
      coords.push_back(point_at(pending[b0 + q]));
    }
    if constexpr (blocks) {
      values = eval.evaluate_points(m, origin_p, origin_s, dx, dy, coords, [&](double fraction) {
        if (show) bar.update(double(st.computed) + fraction * double(g), double(st.computed) + fraction * double(g));
      });
    } else {
      set_point(m, origin_p, origin_s, dx, coords[0][0], dy, coords[0][1]);
      values.assign(1, eval(m));
    }
    require(values.size() == g, "sweep: the evaluator returned ", values.size(), " points' metrics for a block of ", g,
            " points");
    for (const auto& v : values)
      require(v.size() == names.size(), "sweep: the evaluator returned ", v.size(), " metrics, expected ",
              names.size());
  };
  // Writes one point's metrics; the mask last: a point counts once its values are in.
  const auto write_point = [&](std::size_t at, const double* v) {
    for (std::size_t k = 0; k < names.size(); ++k) file->write_range<double>(names[k], index_t(at), v + k, 1);
    const std::uint8_t one = 1;
    file->write_range<std::uint8_t>("computed", index_t(at), &one, 1);
  };
  const std::size_t blocks_total = (pending.size() + per_pass - 1) / per_pass;
  const std::size_t ranks = team ? std::size_t(team->size()) : 1, me = team ? std::size_t(team->rank()) : 0;
  // A round: every rank computes block round * ranks + rank (if any); rank 0 writes them all.
  // Each rank's share is packed as [points, then per point: flat index, metrics...].
  const std::size_t record = 1 + names.size(), share = 1 + per_pass * record;
  // In a team an error on one rank must not leave the others waiting in a collective call: a
  // rank whose block throws sends a share of -1 points, rank 0 still writes the other ranks'
  // points of the round, and its verdict (which ranks failed) ends the sweep on every rank: the
  // failing ranks rethrow their own error, the others throw one that names them.
  std::vector<double> mine, all;
  for (std::size_t round = 0; round * ranks < blocks_total; ++round) {
    const std::size_t block = round * ranks + me;
    mine.assign(share, 0.0);
    std::exception_ptr failure;
    if (block < blocks_total) {
      const std::size_t b0 = block * per_pass, g = std::min(per_pass, pending.size() - b0);
      try {
        compute(b0, g, team == nullptr);
        mine[0] = double(g);
        for (std::size_t q = 0; q < g; ++q) {
          mine[1 + q * record] = double(pending[b0 + q]);
          std::copy(values[q].begin(), values[q].end(), mine.begin() + std::ptrdiff_t(2 + q * record));
        }
      } catch (...) {
        if (team == nullptr) throw;
        failure = std::current_exception();
        mine.assign(share, 0.0);
        mine[0] = -1;
      }
    }
    if (team) team->gather(mine, all);
    else all = mine;
    double last = 0;
    std::string failed;  // rank 0: the ranks whose block threw, or why writing failed
    if (root) {
      try {
        for (std::size_t r = 0; r < ranks; ++r) {
          const double* part = all.data() + r * share;
          if (part[0] < 0) {
            failed += (failed.empty() ? "" : ", ") + std::to_string(r);
            continue;
          }
          for (std::size_t q = 0; q < std::size_t(part[0]); ++q) {
            write_point(std::size_t(part[1 + q * record]), part + 2 + q * record);
            ++st.computed;
            if (!names.empty()) last = part[2 + q * record];
          }
        }
        file->flush();
        if (!failed.empty()) failed = "rank(s) " + failed + " failed";
      } catch (const std::exception& e) {
        if (team == nullptr) throw;
        failed = std::string("rank 0 could not write the round: ") + e.what();
      }
    } else {
      for (std::size_t r = round * ranks; r < std::min(blocks_total, (round + 1) * ranks); ++r)
        st.computed += index_t(std::min(per_pass, pending.size() - r * per_pass));
    }
    if (team) {
      std::vector<std::uint8_t> verdict(failed.begin(), failed.end());
      team->broadcast(verdict);
      if (!verdict.empty()) {
        if (failure) std::rethrow_exception(failure);
        const std::string why(verdict.begin(), verdict.end());
        fail("sweep: stopped in round ", round, " of the team sweep of '", path, "': ", why,
             " (their errors are reported there; the points finished so far are written, and a rerun resumes)");
      }
    }
    bar.update(long(st.computed), double(st.computed), names.empty() ? "" : names[0], last);
  }
  st.seconds = bar.seconds();
  return st;
}

// The usual metrics: mean loss and accuracy (percent) on a training and/or a test set, in eval
// mode. Names: train_loss, train_acc, test_loss, test_acc (for the sets given).
//
// Sweeps call evaluate_points with a block of grid points: every batch of data is staged once
// for the whole block (grid points as the inner batch dimension), the first layer's output is
// computed for the origin and the directions only and combined per point (it is linear in the
// weights), each eval-mode batch norm is folded into the conv before it, and all buffers persist
// across points: nothing is allocated inside the sweep loop. With recompute_bn, each point's
// batch-norm running statistics are first recomputed on that data set (a cumulative average over
// its batches in train mode, as PyTorch's momentum=None) instead of moved or kept.
struct loss_accuracy {
  const dataset* train = nullptr;
  const dataset* test = nullptr;
  index_t batch_size = 500;
  const dataset* recompute_bn = nullptr;  // recompute batch-norm statistics on this set per point
  // Whether the first layer is staged (z(w*), z(d1), z(d2) once per batch, combined per point):
  // true by default when the first layer is a conv (measured on resnet20, Fashion-MNIST, 1000
  // images, 2 threads: median 1970 images/s staged, 1442 not); false evaluates it per point.
  bool stage_first_layer = true;
  // On a GPU: the first pass times each 3x3 conv's one-kernel variants on its own input and
  // keeps the fastest (model::tune_fused_variants); false keeps the model's choice.
  bool tune_kernels = true;
  // The loss at every point: cross-entropy, or the MSE of the softmax against the one-hot label
  // (the reference tool's --loss_name mse).
  criterion loss = criterion::cross_entropy;

  mutable std::any workspace{};           // evaluation_workspace<Model>, made at the first point

  std::vector<std::string> names() const {
    std::vector<std::string> n;
    if (train) n.insert(n.end(), {"train_loss", "train_acc"});
    if (test) n.insert(n.end(), {"test_loss", "test_acc"});
    return n;
  }
  // What the sweep records of the data (data_digest of each set given), so that a sweep resumed
  // on other images is refused.
  std::string data_digest() const {
    std::string s;
    if (train) s += "train " + basin::data_digest(*train);
    if (test) s += std::string(s.empty() ? "" : " ") + "test " + basin::data_digest(*test);
    if (recompute_bn)
      s += std::string(s.empty() ? "" : " ") + "batch-norm statistics from " + basin::data_digest(*recompute_bn);
    return s;
  }
  // Refuses settings that evaluate nothing (basin::error naming the field).
  void check() const {
    require(batch_size >= 1, "loss_accuracy: batch_size must be at least 1, got ", batch_size);
    require(train || test, "loss_accuracy: neither a train nor a test set to evaluate");
  }
  // One point, the model's current parameters (point by point; the reference path).
  template <class Model>
  point_metrics operator()(Model& m) const {
    check();
    auto* ws = workspace_for<Model>();
    if (recompute_bn) recompute_batch_norm(m, *recompute_bn, batch_size, ws);
    point_metrics v;
    for (const dataset* d : {train, test}) {
      if (!d) continue;
      const auto e = evaluate(m, *d, batch_size, mode::eval, false, ws, loss);
      v.push_back(e.loss);
      v.push_back(e.accuracy);
    }
    return v;
  }

  // The points origin + a dx (+ b dy) for (a, b) in pts, one pass over the data for all of them.
  // tick(fraction of the block done) after every batch. Leaves the model at the last point.
  template <class Model, class V>
  std::vector<point_metrics> evaluate_points(Model& m, const V& origin_p, const V& origin_s, direction<Model>& dx,
                                             std::type_identity_t<direction<Model>>* dy,
                                             const std::vector<std::array<double, 2>>& pts,
                                             const std::function<void(double)>& tick) const {
    using T = typename Model::scalar;
    using B = typename Model::backend_type;
    check();
    auto* ws = workspace_for<Model>();
    const std::size_t g = pts.size();
    std::vector<point_metrics> out(g);
    if (g == 0) return out;
    if (recompute_bn) {  // each point's statistics, kept for the passes below
      if (index_t(ws->states.size()) < index_t(g) * Model::n_state) ws->states.resize(g * std::size_t(Model::n_state));
      for (std::size_t q = 0; q < g; ++q) {
        set_point(m, origin_p, origin_s, dx, pts[q][0], dy, pts[q][1]);
        recompute_batch_norm(m, *recompute_bn, batch_size, ws);
        B::copy(Model::n_state, backend::raw(m.state), backend::raw(ws->states) + index_t(q) * Model::n_state);
      }
    }
    auto& st = ws->stager;
    auto& idx = ws->idx;
    const std::array<const dataset*, 2> sets{train, test};
    index_t total = 0, seen = 0, largest = 0;
    for (const dataset* d : sets)
      if (d) total += d->size(), largest = std::max(largest, d->size());
    if (index_t(idx.size()) < std::min(batch_size, largest))
      idx.resize(static_cast<std::size_t>(std::min(batch_size, largest)));
    const bool staged = Model::stages_first_layer && stage_first_layer;
    if constexpr (requires { B::block_kernels; }) {
      if (tune_kernels && ws->tuned_for != &m) {
        m.tune_fused_variants();
        ws->tuned_for = &m;
      }
    }
    ws->ce.kind = loss;
    ws->ce.allow_not_finite = true;  // a point whose logits overflow is recorded as NaN
    std::vector<double> sums(g);
    std::vector<index_t> correct(g);
    for (const dataset* d : sets) {
      if (!d) continue;
      detail::require_matches<Model>(*d, "sweep");
      std::fill(sums.begin(), sums.end(), 0.0);
      std::fill(correct.begin(), correct.end(), 0);
      const index_t n = d->size();
      for (index_t b0 = 0; b0 < n; b0 += batch_size) {
        const index_t nb = std::min(batch_size, n - b0);
        std::iota(idx.begin(), idx.begin() + nb, b0);
        st.stage(*d, idx.data(), nb, nullptr, 0);
        if constexpr (Model::stages_first_layer) {
          if (staged) {
            const T* basis[3] = {backend::raw(const_cast<V&>(origin_p)), backend::raw(dx.params),
                                 dy ? backend::raw(dy->params) : nullptr};
            m.stage_basis(backend::raw(st.x), nb, basis, dy ? 3 : 2);
          }
        }
        for (std::size_t q = 0; q < g; ++q) {
          set_point(m, origin_p, origin_s, dx, pts[q][0], dy, pts[q][1]);
          if (recompute_bn)
            B::copy(Model::n_state, backend::raw(ws->states) + index_t(q) * Model::n_state, backend::raw(m.state));
          const T* z = nullptr;
          if constexpr (Model::stages_first_layer) {
            if (staged) {
              const T coef[3] = {T(1), T(pts[q][0]), T(pts[q][1])};
              z = m.infer_staged(coef);
            }
          }
          if (!z) z = m.infer(backend::raw(st.x), nb);
          const auto r = ws->ce(z, backend::raw(st.y), Model::classes, nb, false);
          sums[q] += r.loss * double(nb);
          correct[q] += r.correct;
        }
        seen += nb;
        if (tick) tick(double(seen) / double(total));
      }
      for (std::size_t q = 0; q < g; ++q) {
        out[q].push_back(sums[q] / double(n));
        out[q].push_back(100.0 * double(correct[q]) / double(n));
      }
    }
    return out;
  }

 private:
  template <class Model>
  evaluation_workspace<Model>* workspace_for() const {
    using W = evaluation_workspace<Model>;
    if (!std::any_cast<W>(&workspace)) workspace.emplace<W>();
    return std::any_cast<W>(&workspace);
  }
};

}  // namespace basin
