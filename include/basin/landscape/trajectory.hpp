// basin/landscape/trajectory.hpp — training paths, seen along their principal directions.
//
// Li, Xu, Taylor, Studer, Goldstein 2018, section 7: two random directions in a space of 10^5
// or more dimensions are nearly orthogonal to any given path (two random unit vectors in n
// dimensions have |cosine| ~ sqrt(2 / (pi n))), so a training path drawn on a random plane barely
// moves. Instead, take the snapshots w_0 .. w_{n-1} of a run relative to the final weights w*:
//     d_i = w_i - w*          (biases and batch-norm parameters zero with ignore_bias_bn)
// the rows of a matrix M (n, P). The first two principal components of M (rows centered, then
// the right singular vectors of the two largest singular values) span the plane through w* that
// holds more of the path's variance than any other plane; each snapshot projects on it as
//     x_i = <d_i, pc1> / |pc1|,  y_i = <d_i, pc2> / |pc2|        ("cos", the reference tool's default)
// or as the least-squares (x_i, y_i) with d_i ~ x_i pc1 + y_i pc2 ("lstsq"; the same for
// orthogonal directions). A sweep over that plane (surface.hpp, no normalization: the components
// are unit vectors, the coordinates are distances in weight space) with the projected path drawn
// on its contour map shows where the optimizer went.
//
// Computed as the reference tool's projection.py computes it (sklearn's PCA on M), but without
// the (n, P) matrix on the host: the centered Gram matrix K = (M - 1 m^T)(M - 1 m^T)^T (n, n) is
// summed in double on the backend, its eigenpairs K u_k = s_k^2 u_k are found on the host, and
//     pc_k = (M - 1 m^T)^T u_k / s_k = M^T u_k / s_k     (u_k is orthogonal to 1 since K 1 = 0)
// explained_variance_k = s_k^2 / (n - 1), explained_variance_ratio_k = s_k^2 / trace K. Signs as
// sklearn's svd_flip with u_based_decision (its PCA until version 1.4): the largest |entry| of
// each u_k is positive, i.e. the snapshot farthest from the mean along pc_k has a positive
// centered coordinate.
//
// Files, laid out as the reference tool's (projection.py, setup_PCA_directions and
// project_trajectory), so its plot_2D.plot_contour_trajectory reads basin's and the other way:
//   the directions file   xdirection/, ydirection/ (direction_file.hpp), explained_variance_ratio_,
//                         singular_values_, explained_variance_ (float64, 2 values each)
//   the projection file   <directions file>_proj_<method>.h5: proj_xcoord, proj_ycoord (float64, n)
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/io/hdf5.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/directions.hpp"
#include "basin/landscape/surface.hpp"

namespace basin {

// What the differences d_i = w_i - w* hold (the reference tool's --ignore and --dir_type).
struct pca_options {
  bool ignore_bias_bn = true;  // one-axis tensors (biases, batch-norm gamma, beta) zero (--ignore biasbn)
  bool states = false;         // also the batch-norm running statistics (--dir_type states)
};

// The snapshots of a run, in order: copies of the parameters and running statistics in backend
// memory (one direction<Model> each: (n_params) + (n_state) scalars).
template <class Model>
class trajectory {
 public:
  // Appends a copy of m's parameters and running statistics; label says what it is ("epoch 3").
  void add(const Model& m, std::string label = {}) {
    direction<Model> d;
    d.params = m.params;
    d.state = m.state;
    points_.push_back(std::move(d));
    labels_.push_back(label.empty() ? "snapshot " + std::to_string(points_.size() - 1) : std::move(label));
  }
  // Appends the checkpoint at path (labelled by its path). Throws basin::error naming the file for
  // a missing file, another architecture or a damaged tensor (load_checkpoint).
  void add_checkpoint(const std::string& path) {
    if (!scratch_) scratch_ = std::make_unique<Model>(0);
    load_checkpoint(*scratch_, path);
    add(*scratch_, path);
  }
  index_t size() const { return index_t(points_.size()); }
  // Throws basin::error unless 0 <= i < size().
  direction<Model>& operator[](index_t i) {
    check(i);
    return points_[std::size_t(i)];
  }
  const std::string& label(index_t i) const {
    check(i);
    return labels_[std::size_t(i)];
  }

 private:
  void check(index_t i) const {
    require(i >= 0 && i < size(), "trajectory: point ", i, " asked for, it holds ", size(), " (0 to ", size() - 1, ")");
  }
  std::vector<direction<Model>> points_;
  std::vector<std::string> labels_;
  std::unique_ptr<Model> scratch_;
};

// The first two principal components of a trajectory and how much of it they hold.
template <class Model>
struct pca_directions {
  direction<Model> x, y;  // pc1 and pc2: unit vectors, orthogonal (up to rounding)
  std::array<double, 2> explained_variance_ratio{}, singular_values{}, explained_variance{};
  double total_variance = 0;  // trace K / (n - 1): the variance of the whole path, all components
};

namespace detail {
// out = w - origin, with one-axis tensors zero when o.ignore_bias_bn and the state part zero
// unless o.states: d_i of the file comment.
template <class Model, class V>
void path_difference(direction<Model>& w, const V& origin_p, const V& origin_s, const pca_options& o,
                     direction<Model>& out) {
  using B = typename Model::backend_type;
  using T = typename Model::scalar;
  const auto part = [&](index_t n, const auto& table, const T* a, const T* origin, T* d) {
    subtract<B>(n, origin, a, d);
    if (o.ignore_bias_bn)
      for (const auto& t : table)
        if (t.rank <= 1) B::fill(t.size(), T(0), d + t.offset);
  };
  part(Model::n_params, Model::param_table, backend::raw(w.params), backend::raw(const_cast<V&>(origin_p)),
       backend::raw(out.params));
  if (o.states)
    part(Model::n_state, Model::state_table, backend::raw(w.state), backend::raw(const_cast<V&>(origin_s)),
         backend::raw(out.state));
  else
    B::fill(Model::n_state, T(0), backend::raw(out.state));
}

// to[0] = sum_i (x_i - m_i)(y_i - m_i) over n values, in double. (A function rather than a
// lambda: nvcc takes no device lambda inside another lambda.)
template <class B, class T>
void centered_dot_part(index_t n, const T* x, const T* y, const double* m, double* to) {
  if (n == 0) return;
  B::segmented_reduce(
      1, n, [=] BASIN_HD(index_t, index_t i) { return (double(x[i]) - m[i]) * (double(y[i]) - m[i]); }, to);
}
// to[i] = T(a[i]).
template <class B, class T>
void narrow(index_t n, const double* a, T* to) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { to[i] = T(a[i]); });
}

// to = from with o's mask: one-axis tensors zero when o.ignore_bias_bn, the state zero unless
// o.states (what path_difference leaves of a difference).
template <class Model>
void masked_copy(direction<Model>& from, const pca_options& o, direction<Model>& to) {
  using B = typename Model::backend_type;
  using T = typename Model::scalar;
  direction<Model> zero;
  B::fill(Model::n_params, T(0), backend::raw(zero.params));
  B::fill(Model::n_state, T(0), backend::raw(zero.state));
  path_difference(from, zero.params, zero.state, o, to);
}

// <a - m, b - m> over both parts of two directions, m a double vector per part, in double.
template <class Model>
double centered_dot(direction<Model>& a, direction<Model>& b, const double* mean_p, const double* mean_s) {
  using B = typename Model::backend_type;
  typename B::template vector<double> out(2, 0.0);
  double* o = backend::raw(out);
  centered_dot_part<B>(Model::n_params, backend::raw(a.params), backend::raw(b.params), mean_p, o);
  centered_dot_part<B>(Model::n_state, backend::raw(a.state), backend::raw(b.state), mean_s, o + 1);
  double h[2];
  B::download(o, 2, h);
  return h[0] + h[1];
}
}  // namespace detail

// The principal components of the path's snapshots relative to final_model (normally its last
// snapshot, the weights the plane goes through): see the file comment.
// Requires at least 3 snapshots; throws basin::error when there are fewer, or when the
// differences span fewer than two dimensions (all snapshots on one line through w*, or equal).
template <class Model>
pca_directions<Model> principal_directions(trajectory<Model>& path, Model& final_model, const pca_options& o = {}) {
  using B = typename Model::backend_type;
  using dvec = typename B::template vector<double>;
  const index_t n = path.size();
  require(n >= 3, "principal_directions: the trajectory has ", n,
          " snapshot(s); two principal components need at least 3");
  // d_i, and their mean (per part, in double).
  std::vector<direction<Model>> d(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i)
    detail::path_difference(path[i], final_model.params, final_model.state, o, d[std::size_t(i)]);
  dvec mean_p(std::size_t(Model::n_params), 0.0), mean_s(std::size_t(Model::n_state), 0.0);
  for (auto& di : d) {
    detail::add_scaled<B>(Model::n_params, 1.0 / double(n), backend::raw(di.params), backend::raw(mean_p));
    detail::add_scaled<B>(Model::n_state, 1.0 / double(n), backend::raw(di.state), backend::raw(mean_s));
  }
  // K (n, n), summed in double.
  Eigen::MatrixXd K(n, n);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j <= i; ++j)
      K(i, j) = K(j, i) =
          detail::centered_dot(d[std::size_t(i)], d[std::size_t(j)], backend::raw(mean_p), backend::raw(mean_s));
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(K);
  require(eig.info() == Eigen::Success, "principal_directions: the eigensolver failed on the ", n, "x", n,
          " Gram matrix of the trajectory");
  const Eigen::VectorXd lambda = eig.eigenvalues();  // ascending
  const double trace = K.trace(), l1 = lambda(n - 1), l2 = lambda(n - 2);
  require(std::isfinite(trace), "principal_directions: the trajectory holds non-finite weights");
  require(l1 > 0 && l2 > 1e-12 * l1, "principal_directions: the ", n, " snapshots (relative to the final weights) ",
          "span fewer than 2 dimensions (largest eigenvalues of their centered Gram matrix ", l1, " and ", l2, ")");

  pca_directions<Model> r;
  r.total_variance = trace / double(n - 1);
  for (int k = 0; k < 2; ++k) {
    Eigen::VectorXd u = eig.eigenvectors().col(n - 1 - k);
    Eigen::Index at = 0;
    u.cwiseAbs().maxCoeff(&at);
    if (u(at) < 0) u = -u;  // svd_flip, u-based
    const double lam = lambda(n - 1 - k), s = std::sqrt(lam);
    r.singular_values[k] = s;
    r.explained_variance[k] = lam / double(n - 1);
    r.explained_variance_ratio[k] = lam / trace;
    // pc_k = sum_i u_i d_i / s, accumulated in double.
    dvec acc_p(std::size_t(Model::n_params), 0.0), acc_s(std::size_t(Model::n_state), 0.0);
    for (index_t i = 0; i < n; ++i) {
      detail::add_scaled<B>(Model::n_params, u(i) / s, backend::raw(d[std::size_t(i)].params), backend::raw(acc_p));
      detail::add_scaled<B>(Model::n_state, u(i) / s, backend::raw(d[std::size_t(i)].state), backend::raw(acc_s));
    }
    // sum_i u_i = 0 in exact arithmetic; its rounding is taken out with the mean: (M - 1 m^T)^T u / s.
    detail::add_scaled<B>(Model::n_params, -u.sum() / s, backend::raw(mean_p), backend::raw(acc_p));
    detail::add_scaled<B>(Model::n_state, -u.sum() / s, backend::raw(mean_s), backend::raw(acc_s));
    direction<Model>& out = k == 0 ? r.x : r.y;
    detail::narrow<B>(Model::n_params, backend::raw(acc_p), backend::raw(out.params));
    detail::narrow<B>(Model::n_state, backend::raw(acc_s), backend::raw(out.state));
  }
  return r;
}

enum class projection_method { cos, lstsq };

inline const char* to_string(projection_method m) {
  return m == projection_method::cos ? "cos" : "lstsq";
}
inline projection_method parse_projection_method(const std::string& s) {
  if (s == "cos") return projection_method::cos;
  if (s == "lstsq") return projection_method::lstsq;
  fail("projection method: expected cos or lstsq, got '", s, "'");
}

// Each snapshot's coordinates on the plane through final_model spanned by x and y (any two
// directions: principal, random, or an interpolation's), as the file comment says:
//   cos    x_i = <d_i, x> / |x|, y_i = <d_i, y> / |y|
//   lstsq  the (x_i, y_i) minimizing |d_i - x_i x - y_i y|
// with d_i = w_i - w* over the parameters, and the running statistics when o.states (biases and
// batch-norm parameters count as the directions hold them: the reference tool's projection).
// cos gives lengths in weight space: they are the coordinates a sweep over x and y puts the
// snapshot at only for unit directions (the principal ones, for which the reference tool uses
// it); for others (random filter-normalized ones have about the weights' norm, an interpolation's
// |b - a|) use lstsq, whose coordinates are always the sweep's.
// Throws basin::error for a zero or non-finite direction (its squared norm named), or (lstsq)
// two parallel ones.
template <class Model>
std::vector<std::array<double, 2>> project(trajectory<Model>& path, Model& final_model, direction<Model>& x,
                                           direction<Model>& y, projection_method method = projection_method::cos,
                                           const pca_options& o = {false, false}) {
  // The directions over what the differences hold (o's mask), so that both sides of every dot
  // product cover the same entries.
  direction<Model> mx, my;
  detail::masked_copy(x, o, mx);
  detail::masked_copy(y, o, my);
  const double xx = dot(mx, mx), yy = dot(my, my), xy = dot(mx, my);
  const bool x_ok = xx > 0 && std::isfinite(xx);
  require(x_ok && yy > 0 && std::isfinite(yy), "project: the ", x_ok ? "y" : "x", " direction's squared norm is ",
          x_ok ? yy : xx, ", expected a positive finite number");
  const double det = xx * yy - xy * xy;
  require(method == projection_method::cos || det > 1e-12 * xx * yy,
          "project (lstsq): the two directions are parallel (cosine ", xy / std::sqrt(xx * yy), ")");
  std::vector<std::array<double, 2>> out;
  direction<Model> d;
  for (index_t i = 0; i < path.size(); ++i) {
    detail::path_difference(path[i], final_model.params, final_model.state, o, d);
    const double dx = dot(d, mx), dy = dot(d, my);
    if (method == projection_method::cos)
      out.push_back({dx / std::sqrt(xx), dy / std::sqrt(yy)});
    else  // the 2x2 normal equations [xx xy; xy yy] c = [dx; dy]
      out.push_back({(yy * dx - xy * dy) / det, (xx * dy - xy * dx) / det});
  }
  return out;
}

// The fraction of the path's variance (the centered snapshots d_i - mean, as PCA sees them) that
// lies in the plane spanned by x and y: explained_variance_ratio[0] + [1] for the principal
// directions, about 2/P for two random ones. Throws basin::error for parallel or zero directions
// and for a path without variance.
template <class Model>
double variance_in_plane(trajectory<Model>& path, Model& final_model, direction<Model>& x, direction<Model>& y,
                         const pca_options& o = {}) {
  const index_t n = path.size();
  require(n >= 2, "variance_in_plane: the trajectory has ", n, " snapshot(s); a variance needs at least 2");
  // An orthonormal basis (e1, e2) of span{x, y} (with o's mask applied: what PCA sees).
  direction<Model> e1, e2;
  detail::masked_copy(x, o, e1);
  detail::masked_copy(y, o, e2);
  const double n1 = dot(e1, e1), y2 = dot(e2, e2);
  const bool x_ok = n1 > 0 && std::isfinite(n1);
  require(x_ok && y2 > 0 && std::isfinite(y2), "variance_in_plane: the ", x_ok ? "y" : "x",
          " direction's squared norm is ", x_ok ? y2 : n1,
          " (after leaving out what the options leave out), expected a positive finite number");
  orthogonalize(e1, e2);
  const double n2 = dot(e2, e2);
  require(n2 > 1e-12 * y2, "variance_in_plane: the directions are parallel");
  std::vector<double> c1, c2;
  double total = 0;
  std::vector<direction<Model>> d(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    detail::path_difference(path[i], final_model.params, final_model.state, o, d[std::size_t(i)]);
    c1.push_back(dot(d[std::size_t(i)], e1) / std::sqrt(n1));
    c2.push_back(dot(d[std::size_t(i)], e2) / std::sqrt(n2));
  }
  // total variance = sum_i |d_i - mean|^2, the mean taken out before the products (as
  // principal_directions does): from sum_i |d_i|^2 - n |mean|^2 the spread of snapshots far from
  // w* cancels away.
  {
    using B = typename Model::backend_type;
    typename B::template vector<double> mean_p(std::size_t(Model::n_params), 0.0),
        mean_s(std::size_t(Model::n_state), 0.0);
    for (auto& di : d) {
      detail::add_scaled<B>(Model::n_params, 1.0 / double(n), backend::raw(di.params), backend::raw(mean_p));
      detail::add_scaled<B>(Model::n_state, 1.0 / double(n), backend::raw(di.state), backend::raw(mean_s));
    }
    for (auto& di : d) total += detail::centered_dot(di, di, backend::raw(mean_p), backend::raw(mean_s));
  }
  require(total > 0 && std::isfinite(total), "variance_in_plane: the snapshots do not vary (after leaving out what ",
          "the options leave out), or hold non-finite weights (total variance ", total, ")");
  const auto centered_sq = [&](const std::vector<double>& c) {
    double m = 0, s = 0;
    for (double v : c) m += v / double(n);
    for (double v : c) s += (v - m) * (v - m);
    return s;
  };
  // (the plane's part is at most the whole up to rounding)
  return std::min(1.0, (centered_sq(c1) + centered_sq(c2)) / total);
}

// Writes the principal directions to path in the reference layout (see the file comment),
// atomically; root attributes as save_directions writes them, with norm "none",
// dir_source "pca" and n_snapshots.
template <class Model>
void save_pca_directions(const std::string& path, pca_directions<Model>& pca, const pca_options& o,
                         index_t n_snapshots) {
  save_directions<Model>(path, pca.x, &pca.y, direction_options{normalization::none, o.ignore_bias_bn, o.states}, 0,
                         [&](h5::file& f) {
                           f.set_attr("/", "dir_source", "pca");
                           f.set_attr("/", "n_snapshots", std::int64_t(n_snapshots));
                           const std::vector<hsize_t> two{2};
                           f.write<double>("explained_variance_ratio_", pca.explained_variance_ratio.data(), two);
                           f.write<double>("singular_values_", pca.singular_values.data(), two);
                           f.write<double>("explained_variance_", pca.explained_variance.data(), two);
                         });
}

// The projection file's name for a directions file, as the reference tool names it.
inline std::string projection_file(const std::string& dir_file, projection_method m) {
  return dir_file + "_proj_" + to_string(m) + ".h5";
}

// Writes the projected path (proj_xcoord, proj_ycoord) to path atomically, with the method and
// the snapshots' labels. Throws basin::error for non-finite coordinates.
inline void save_projection(const std::string& path, const std::vector<std::array<double, 2>>& coords,
                            projection_method m, const std::vector<std::string>& labels = {}) {
  std::vector<double> x, y;
  for (std::size_t i = 0; i < coords.size(); ++i) {
    require(std::isfinite(coords[i][0]) && std::isfinite(coords[i][1]), "save_projection '", path, "': point ", i,
            " is (", coords[i][0], ", ", coords[i][1], "), not finite");
    x.push_back(coords[i][0]);
    y.push_back(coords[i][1]);
  }
  require(labels.empty() || labels.size() == coords.size(), "save_projection '", path, "': ", labels.size(),
          " labels for ", coords.size(), " points");
  h5::atomic_write(path, [&](h5::file& f) {
    f.set_attr("/", "format", "basin-projection-1");
    f.set_attr("/", "proj_method", to_string(m));
    f.write<double>("proj_xcoord", x, {x.size()});
    f.write<double>("proj_ycoord", y, {y.size()});
    for (std::size_t i = 0; i < labels.size(); ++i) f.set_attr("/", "label_" + std::to_string(i), labels[i]);
  });
}

// The most snapshots a projection file may hold: far above any training run's checkpoints, and
// a bound on what a malformed file's declared shape can make load_projection allocate.
inline constexpr hsize_t max_projection_points = 1000000;

// Reads proj_xcoord and proj_ycoord (basin's files and the reference tool's). Throws
// basin::error naming the file when either is missing or is not one axis of 1 to
// max_projection_points values, they differ in length, or a value is not finite.
inline std::vector<std::array<double, 2>> load_projection(const std::string& path) {
  auto f = h5::file::open(path);
  require(f.is_dataset("proj_xcoord") && f.is_dataset("proj_ycoord"), "projection file '", path,
          "': expected datasets proj_xcoord and proj_ycoord");
  for (const char* name : {"proj_xcoord", "proj_ycoord"}) {
    const auto shape = f.shape(name);
    require(shape.size() == 1 && shape[0] >= 1 && shape[0] <= max_projection_points, "projection file '", path,
            "': dataset '", name, "' has shape ", h5::detail::dims_string(shape), ", expected one axis of 1 to ",
            max_projection_points, " points");
  }
  require(f.shape("proj_xcoord") == f.shape("proj_ycoord"), "projection file '", path, "': proj_xcoord has ",
          f.shape("proj_xcoord")[0], " values, proj_ycoord ", f.shape("proj_ycoord")[0]);
  const auto x = f.read<double>("proj_xcoord"), y = f.read<double>("proj_ycoord");
  std::vector<std::array<double, 2>> out;
  for (std::size_t i = 0; i < x.size(); ++i) {
    require(std::isfinite(x[i]) && std::isfinite(y[i]), "projection file '", path, "': point ", i, " is (", x[i], ", ",
            y[i], "), not finite");
    out.push_back({x[i], y[i]});
  }
  return out;
}

// Grid coordinates covering v (and 0, where the plane's origin w* is) with a margin of the given
// fraction of the span on each side: n values for a sweep around a projected path.
inline std::vector<double> covering_range(const std::vector<double>& v, int n, double margin = 0.3) {
  require(n >= 2, "covering_range: need at least 2 points, got ", n);
  require(margin >= 0 && std::isfinite(margin), "covering_range: margin must be finite and >= 0, got ", margin);
  double lo = 0, hi = 0;
  for (double a : v) {
    require(std::isfinite(a), "covering_range: value ", a, " is not finite");
    lo = std::min(lo, a), hi = std::max(hi, a);
  }
  const double span = hi > lo ? hi - lo : 1.0;
  return linspace(lo - margin * span, hi + margin * span, n);
}

// How a projected path moves over the loss of its plane: the talk's "[small-batch SGD starts] with
// an exploration path that goes parallel to contours ... as soon as you drop the learning rate it
// ... falls into the center", and the "90-degree kink" between the two that a large batch lacks.
// One entry per step k, from path point k to point k + 1, all in the plane's coordinates (for a
// PCA plane the components are orthonormal, so these are lengths and angles in weight space):
struct path_step {
  double length;         // |p_{k+1} - p_k|
  double slope;          // |grad f| at p_k: how steep the map is where the step starts
  double descent_angle;  // degrees between the step and -grad f at p_k: 0 straight downhill, 90 along a
                         // contour, 180 straight uphill
  double turn;           // degrees between this step and the one before it (0 straight on, 90 a right angle)
};

namespace detail {

// The derivative at xa of the parabola through (x0, f0), (x1, f1), (x2, f2) (Lagrange form).
inline double parabola_slope(double xa, double x0, double x1, double x2, double f0, double f1, double f2) {
  return f0 * ((xa - x1) + (xa - x2)) / ((x0 - x1) * (x0 - x2)) +
         f1 * ((xa - x0) + (xa - x2)) / ((x1 - x0) * (x1 - x2)) +
         f2 * ((xa - x0) + (xa - x1)) / ((x2 - x0) * (x2 - x1));
}

// df/dv at node k of one grid line v (values f at stride `stride` from `f0`): the parabola through
// node k and its neighbours (the nearest three at an edge), a straight line when the axis has 2.
inline double node_slope(const std::vector<double>& v, const double* f, std::size_t stride, std::size_t k) {
  const std::size_t n = v.size();
  if (n == 2) return (f[stride] - f[0]) / (v[1] - v[0]);
  const std::size_t a = k == 0 ? 0 : k + 1 == n ? n - 3 : k - 1;
  return parabola_slope(v[k], v[a], v[a + 1], v[a + 2], f[a * stride], f[(a + 1) * stride], f[(a + 2) * stride]);
}

// The angle between two plane vectors in degrees (atan2: accurate near 0 and 180 too); NaN when
// either is zero or not finite.
inline double angle_degrees(double ax, double ay, double bx, double by) {
  const double na = std::hypot(ax, ay), nb = std::hypot(bx, by);
  if (!(na > 0 && nb > 0 && std::isfinite(na) && std::isfinite(nb))) return std::nan("");
  return std::atan2(std::fabs(ax * by - ay * bx), ax * bx + ay * by) * 180.0 / 3.14159265358979323846;
}

}  // namespace detail

// The steps of `path` over the map f given at the nodes of a grid (x[i], y[j]) as loss[i * ny + j]
// (sweep's and plot::grid2d's layout). grad f at a point is the bilinear interpolation of its
// values at the four nodes around it, each from the parabola through the node and its two
// neighbours along each axis (the nearest three at an edge; the straight line on an axis of 2
// coordinates): exact for any quadratic f when both axes have 3 or more coordinates, on uneven
// grids too. Entries that cannot be had are NaN: descent_angle and slope where p_k is off the
// grid or a value they need is not finite;
// descent_angle where the step or grad f is zero; turn for the first step and beside a zero step.
// requires: x and y finite and strictly increasing, at least 2 values each; loss.size() == nx * ny
// (NaN allowed: points a sweep has not computed); path points finite.
// throws: basin::error naming the argument and what is wrong.
inline std::vector<path_step> path_steps(const std::vector<std::array<double, 2>>& path, const std::vector<double>& x,
                                         const std::vector<double>& y, const std::vector<double>& loss) {
  constexpr const char* fn = "path_steps";
  for (const auto* axis : {&x, &y}) {
    const char* name = axis == &x ? "x" : "y";
    require(axis->size() >= 2, fn, ": ", name, " needs at least 2 coordinates, got ", axis->size());
    for (std::size_t k = 0; k < axis->size(); ++k)
      require(std::isfinite((*axis)[k]) && (k == 0 || (*axis)[k] > (*axis)[k - 1]), fn, ": ", name, "[", k,
              "] = ", (*axis)[k], " is not finite or not above the coordinate before it");
  }
  const std::size_t nx = x.size(), ny = y.size();
  require(loss.size() == nx * ny, fn, ": loss holds ", loss.size(), " values, expected ", nx, " x ", ny, " = ",
          nx * ny);
  for (std::size_t k = 0; k < path.size(); ++k)
    require(std::isfinite(path[k][0]) && std::isfinite(path[k][1]), fn, ": path[", k, "] = (", path[k][0], ", ",
            path[k][1], ") is not finite");
  // grad f at node (i, j).
  const auto node_grad = [&](std::size_t i, std::size_t j) {
    return std::array<double, 2>{detail::node_slope(x, loss.data() + j, ny, i),
                                 detail::node_slope(y, loss.data() + i * ny, 1, j)};
  };
  // The cell [x[i], x[i+1]] holding v (the last cell for v == x.back()); npos off the grid.
  const auto cell = [](const std::vector<double>& v, double a) -> std::size_t {
    if (a < v.front() || a > v.back()) return std::size_t(-1);
    const auto it = std::upper_bound(v.begin(), v.end(), a);
    return std::min<std::size_t>(std::size_t(it - v.begin()), v.size() - 1) - 1;
  };
  const double nan = std::nan("");
  std::vector<path_step> steps;
  for (std::size_t k = 0; k + 1 < path.size(); ++k) {
    const double sx = path[k + 1][0] - path[k][0], sy = path[k + 1][1] - path[k][1];
    path_step st{std::hypot(sx, sy), nan, nan, nan};
    const std::size_t i = cell(x, path[k][0]), j = cell(y, path[k][1]);
    if (i != std::size_t(-1) && j != std::size_t(-1)) {
      const double t = (path[k][0] - x[i]) / (x[i + 1] - x[i]), u = (path[k][1] - y[j]) / (y[j + 1] - y[j]);
      const auto g00 = node_grad(i, j), g10 = node_grad(i + 1, j), g01 = node_grad(i, j + 1),
                 g11 = node_grad(i + 1, j + 1);
      double g[2];
      for (int d = 0; d < 2; ++d)
        g[d] = (1 - t) * (1 - u) * g00[d] + t * (1 - u) * g10[d] + (1 - t) * u * g01[d] + t * u * g11[d];
      if (std::isfinite(g[0]) && std::isfinite(g[1])) {
        st.slope = std::hypot(g[0], g[1]);
        st.descent_angle = detail::angle_degrees(sx, sy, -g[0], -g[1]);
      }
    }
    if (k > 0) st.turn = detail::angle_degrees(path[k][0] - path[k - 1][0], path[k][1] - path[k - 1][1], sx, sy);
    steps.push_back(st);
  }
  return steps;
}

}  // namespace basin
