// basin/landscape/hessian.hpp — curvature: Hessian-vector products, the extreme eigenvalues of
// the Hessian, and their ratio over a plane.
//
// Li et al. 2018, section 6 ("Measuring the level of convexity"): at a point of the landscape,
// the Hessian of the loss has a most negative eigenvalue lambda_min and a largest lambda_max;
// |lambda_min / lambda_max| near 0 means locally convex (in all directions, not only the two
// plotted), large means non-convex. Mapped over a filter-normalized plane, it shows whether
// the convex-looking basins of the 2-D pictures are convex in full dimension (ResNet-56 near its
// minimizer: yes; the plain nets without skip connections: large non-convex regions).
//
// The loss is the mean softmax cross-entropy over a data set in eval mode (batch norm with its
// running statistics, so a point's loss is a function of the parameters alone, as the
// reference tool's hess_vec_prod.py has it), over the parameters of more than one axis (conv and
// dense weights) by default, again as the reference computes it; with ignore_bias_bn false, over
// all. The scale differs from the reference's: its eval_hess_vec_prod zeroes the gradients once
// and lets each batch's backward add up, so its H is the sum over batches of each batch's
// mean-loss Hessian, about (number of batches) x basin's (391 x on CIFAR-10's training set at its
// batch 128, its last batch of 80 weighted as a full one). Ratios |lambda_min / lambda_max|, the
// maps of the paper, are the same; to compare eigenvalues with a reference file, multiply
// basin's by the reference's batch count. Its eigsh also asks for the largest magnitude
// (which='LM') and swaps the two results when maxeig <= 0 < mineig; basin's Lanczos reports the
// largest and the smallest eigenvalue as they are.
//
// H v is the central difference of two gradients, each one pass over the data (forward and
// backward per batch, summed in double):
//     H v ~ (g(w + h v) - g(w - h v)) / (2 h),   h = step max(|w|, 1) / |v|
// with every relu's on/off pattern frozen at w (activation_patterns, layers/activation.hpp):
// the Hessian autograd computes (PyTorch's double backward takes the step function's derivative
// as 0), of a function that is smooth around w, so the error is O(h^2). Without the freeze, the
// thousands of kinks any step crosses would dominate (measured on a resnet8: an error of 14.5
// times autograd's |H v|, and lambda_min -69 instead of -17). Default step 1e-5 for double models, 1e-3 for float (the
// gradients' rounding ~1e-7 |g| over h); checked against PyTorch's double backward in tests/pytorch (check_hessian.py).
// Max pooling's winners are frozen the same way (VGG-9; checked against PyTorch too). The patterns take one byte per
// relu unit (and pooled output) per image of the data set, kept while the operator lives (a resnet20 on 1000
// Fashion-MNIST images: 144 MB).
//
// The extreme eigenvalues come from one Lanczos run (full reorthogonalization, in double) on H:
// after k products the Ritz values of the k x k tridiagonal matrix approximate both ends of the
// spectrum; it stops when both extreme Ritz pairs have a residual |H u - theta u| below
// tolerance x max(|lambda_max|, |lambda_min|) (each eigenvalue is then within that of a true
// one), or after max_iterations products. The reference tool runs scipy's eigsh twice (the
// second on H shifted by 0.51 lambda_max for the minimum) with tol 1e-2; one Lanczos run gives
// both ends.
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/random.hpp"
#include "basin/landscape/directions.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/layers/activation.hpp"
#include "basin/train/trainer.hpp"

namespace basin {

struct hessian_options {
  index_t batch_size = 500;
  bool ignore_bias_bn = true;  // the Hessian over the multi-axis tensors only (the reference's)
  double step = 0;             // h = step max(|w|, 1) / |v|; 0: 1e-5 (double models), 1e-3 (float)
  int max_iterations = 50;     // Lanczos steps (Hessian-vector products) at most
  double tolerance = 1e-2;     // residual bound for both extremes, relative to max(|lambda_max|, |lambda_min|)
  std::uint64_t seed = 0;      // Lanczos's random start vector
  bool vectors = false;        // also return the two Ritz vectors
  // A point whose loss, or whose curvature, is not finite (logits that overflow far out on a
  // landscape) gives NaN eigenvalues instead of an error: hessian_eigenvalues, a sweep's metric,
  // records such points as NaN (as loss_accuracy does their loss) rather than stopping the map.
  bool allow_not_finite = false;
};

// The extreme eigenvalues of the Hessian at one point.
template <class Model>
struct hessian_extremes_result {
  double max_eig = 0, min_eig = 0;            // the largest and the most negative (smallest) Ritz values
  double max_residual = 0, min_residual = 0;  // |H u - theta u| of each: each is that close to an eigenvalue
  int iterations = 0;                         // Hessian-vector products used
  bool converged = false;                     // both residuals <= tolerance max(|max_eig|, |min_eig|), or exact
  double loss = 0;                            // the mean loss at the point (from the first gradient pass)
  direction<Model> max_vector, min_vector;    // unit Ritz vectors, when asked for (else zero)
};

namespace detail {
// out[i] += w mask[i] g[i] (mask may be null: 1). (Free functions: nvcc takes device lambdas
// neither in private member functions nor inside other lambdas.)
template <class B, class T>
void add_masked(index_t n, double w, const T* g, const T* mask, double* out) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { out[i] += w * double(mask ? mask[i] * g[i] : g[i]); });
}
// sum_i (mask[i] w[i])^2 in double.
template <class B, class T>
double masked_norm2(index_t n, const T* w, const T* mask) {
  typename B::template vector<double> r(1, 0.0);
  B::segmented_reduce(
      1, n,
      [=] BASIN_HD(index_t, index_t i) {
        const double x = mask ? double(mask[i]) * w[i] : double(w[i]);
        return x * x;
      },
      backend::raw(r));
  double h = 0;
  B::download(backend::raw(r), 1, &h);
  return h;
}
}  // namespace detail

// The Hessian of the mean eval-mode loss of a model on a data set at the model's current
// parameters (where the constructor records the activation patterns: one forward pass), as an
// operator on vectors of the parameter length in backend memory (double). Holds the model: its
// parameters are moved during apply() and restored after; they must not change otherwise.
template <class Model>
class hessian_operator {
 public:
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  using dvec = typename B::template vector<double>;

  hessian_operator(Model& m, const dataset& data, const hessian_options& o) : m_(m), data_(data), o_(o) {
    detail::require_matches<Model>(data, "hessian");
    require(o.batch_size >= 1, "hessian: batch_size must be at least 1, got ", o.batch_size);
    require(o.step >= 0 && std::isfinite(o.step), "hessian: step must be finite and >= 0 (0: the default), got ",
            o.step);
    step_ = o.step > 0 ? o.step : std::is_same_v<T, float> ? 1e-3 : 1e-5;
    if (o.ignore_bias_bn) {
      std::vector<T> mask(static_cast<std::size_t>(Model::n_params), T(1));
      for (const auto& t : Model::param_table)
        if (t.rank <= 1) std::fill(mask.begin() + t.offset, mask.begin() + t.offset + t.size(), T(0));
      mask_.resize(mask.size());
      B::upload(mask.data(), Model::n_params, backend::raw(mask_));
    }
    ws_.ce.allow_not_finite = true;  // refused here, or left to hessian_extremes (o.allow_not_finite)
    loss_ = pass(nullptr);           // records the activation patterns of the point
    require(o.allow_not_finite || std::isfinite(loss_), "hessian: the loss at this point is ", loss_,
            " (its logits overflow)");
  }

  // The relus forget the patterns, which die with this operator (a later backward without a new
  // forward must not read them).
  ~hessian_operator() {
    m_.for_each_layer([](auto& l) {
      if constexpr (requires { l.pattern; }) l.pattern = nullptr;
    });
  }
  hessian_operator(const hessian_operator&) = delete;
  hessian_operator& operator=(const hessian_operator&) = delete;

  static constexpr index_t size() { return Model::n_params; }

  // The mean loss at the point (computed with the recording of the activation patterns).
  double loss() const { return loss_; }

  // out = the mean gradient at the model's current parameters (masked), with the activation
  // patterns of the point; returns the mean loss.
  double gradient(double* out) {
    patterns_.replay();
    return pass(out);
  }

  // out = H v for v (n_params, double, backend memory). v's entries outside the mask are ignored.
  void apply(const double* v, double* out) {
    if (origin_.empty()) {
      origin_.resize(std::size_t(Model::n_params));
      plus_.resize(std::size_t(Model::n_params));
    }
    B::copy(Model::n_params, backend::raw(m_.params), backend::raw(origin_));
    struct restore {
      Model& m;
      typename B::template vector<T>& o;
      ~restore() { B::copy(Model::n_params, backend::raw(o), backend::raw(m.params)); }
    } guard{m_, origin_};
    const double vn = std::sqrt(dot(v, v)), wn = std::sqrt(norm2_params());
    require(std::isfinite(vn) && vn > 0, "hessian: H v of a vector v of norm ", vn,
            ", expected a finite non-zero vector");
    const double h = step_ * std::max(wn, 1.0) / vn;
    T* w = backend::raw(m_.params);
    const T* w0 = backend::raw(origin_);
    const T* mk = mask_.empty() ? nullptr : backend::raw(mask_);
    for (int side = 0; side < 2; ++side) {
      const double s = side == 0 ? h : -h;
      B::for_each_index(Model::n_params,
                        [=] BASIN_HD(index_t i) { w[i] = T(double(w0[i]) + s * (mk ? double(mk[i]) : 1.0) * v[i]); });
      gradient(side == 0 ? backend::raw(plus_) : out);
    }
    const double* gp = backend::raw(plus_);
    const double inv = 1.0 / (2 * h);
    B::for_each_index(Model::n_params, [=] BASIN_HD(index_t i) { out[i] = (gp[i] - out[i]) * inv; });
  }

  // <a, b> over the parameter length (masked entries count as zero when a or b is masked).
  // (Lanczos takes ~2k of these per step: the result's buffer is kept, not allocated per call.)
  double dot(const double* a, const double* b) {
    const T* mk = mask_.empty() ? nullptr : backend::raw(mask_);
    B::segmented_reduce(
        1, Model::n_params, [=] BASIN_HD(index_t, index_t i) { return mk ? double(mk[i]) * a[i] * b[i] : a[i] * b[i]; },
        backend::raw(dot_out_));
    double h = 0;
    B::download(backend::raw(dot_out_), 1, &h);
    return h;
  }
  // Zeroes the entries outside the mask.
  void mask(double* v) const {
    if (mask_.empty()) return;
    const T* mk = backend::raw(const_cast<typename B::template vector<T>&>(mask_));
    B::for_each_index(Model::n_params, [=] BASIN_HD(index_t i) { v[i] *= double(mk[i]); });
  }
  double step() const { return step_; }

 private:
  // One pass over the data with the patterns as they stand (recording or replaying): returns the
  // mean loss and, when out is given, writes the mean gradient (masked) to it.
  double pass(double* out) {
    struct scope {
      activation_patterns<B>* saved = active_patterns<B>;
      explicit scope(activation_patterns<B>& p) { active_patterns<B> = &p; }
      ~scope() { active_patterns<B> = saved; }
    } active(patterns_);
    if (out) B::fill(Model::n_params, 0.0, out);
    auto& st = ws_.stager;
    const index_t n = data_.size();
    if (index_t(ws_.idx.size()) < std::min(o_.batch_size, n))
      ws_.idx.resize(static_cast<std::size_t>(std::min(o_.batch_size, n)));
    double loss = 0;
    for (index_t b0 = 0; b0 < n; b0 += o_.batch_size) {
      const index_t nb = std::min(o_.batch_size, n - b0);
      std::iota(ws_.idx.begin(), ws_.idx.begin() + nb, b0);
      st.stage(data_, ws_.idx.data(), nb, nullptr, 0);
      const T* z = m_.forward(backend::raw(st.x), nb, mode::eval);
      const auto r = ws_.ce(z, backend::raw(st.y), Model::classes, nb, out != nullptr);
      loss += r.loss * double(nb);
      if (!out) continue;
      m_.backward(backend::raw(ws_.ce.grad));
      detail::add_masked<B>(Model::n_params, double(nb) / double(n), backend::raw(m_.grads),
                            mask_.empty() ? nullptr : backend::raw(mask_), out);
    }
    return loss / double(n);
  }

  double norm2_params() {
    return detail::masked_norm2<B>(Model::n_params, backend::raw(m_.params),
                                   mask_.empty() ? nullptr : backend::raw(mask_));
  }

  Model& m_;
  const dataset& data_;
  hessian_options o_;
  double step_ = 0, loss_ = 0;
  activation_patterns<B> patterns_;
  typename B::template vector<T> mask_, origin_;
  dvec plus_, dot_out_ = dvec(1, 0.0);
  evaluation_workspace<Model> ws_;
};

// The largest and the most negative eigenvalue of the Hessian of the mean eval-mode loss at the
// model's current parameters, by Lanczos (see the file comment). The model is unchanged after.
// Throws basin::error for a data set the model cannot take, or options out of range.
template <class Model>
hessian_extremes_result<Model> hessian_extremes(Model& m, const dataset& data, const hessian_options& o = {}) {
  using B = typename Model::backend_type;
  using T = typename Model::scalar;
  using dvec = typename B::template vector<double>;
  require(o.max_iterations >= 2, "hessian_extremes: max_iterations must be at least 2, got ", o.max_iterations);
  require(o.tolerance > 0 && std::isfinite(o.tolerance), "hessian_extremes: tolerance must be finite and > 0, got ",
          o.tolerance);
  hessian_operator<Model> H(m, data, o);
  const index_t P = Model::n_params;
  hessian_extremes_result<Model> r;
  r.loss = H.loss();
  // A point whose loss or curvature is not finite: NaN eigenvalues (o.allow_not_finite), else an error.
  const auto not_finite = [&](const char* what, int step) {
    require(o.allow_not_finite, "hessian_extremes: ", what, " is not finite at Lanczos step ", step,
            ": the loss is not finite near this point (loss ", r.loss, ")");
    r.max_eig = r.min_eig = r.max_residual = r.min_residual = std::nan("");
    r.converged = false;
    return r;
  };
  if (!std::isfinite(r.loss)) return not_finite("the loss", 0);
  // q_1: a random unit vector (masked).
  std::vector<dvec> q;
  q.emplace_back(std::size_t(P), 0.0);
  {
    const counter_rng rng{o.seed, (stream::direction << 32) + 1000};
    double* q0 = backend::raw(q[0]);
    B::for_each_index(P, [=] BASIN_HD(index_t i) { q0[i] = rng.normal(std::uint64_t(i)); });
    H.mask(q0);
    const double n0 = std::sqrt(H.dot(q0, q0));
    B::for_each_index(P, [=] BASIN_HD(index_t i) { q0[i] /= n0; });
  }
  std::vector<double> alpha, beta;
  dvec z(std::size_t(P), 0.0);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig;
  const int kmax = int(std::min<index_t>(o.max_iterations, P));
  for (int j = 0; j < kmax; ++j) {
    double* zp = backend::raw(z);
    H.apply(backend::raw(q[std::size_t(j)]), zp);
    H.mask(zp);
    ++r.iterations;
    const double a = H.dot(backend::raw(q[std::size_t(j)]), zp);
    alpha.push_back(a);
    // Full reorthogonalization against every q so far, twice (classical Gram-Schmidt).
    for (int pass = 0; pass < 2; ++pass)
      for (std::size_t i = 0; i < q.size(); ++i)
        detail::add_scaled<B>(P, -H.dot(backend::raw(q[i]), zp), backend::raw(q[i]), zp);
    const double b = std::sqrt(H.dot(zp, zp));
    if (!std::isfinite(a) || !std::isfinite(b)) return not_finite("a Hessian-vector product", j + 1);
    // Ritz values of the (j+1) x (j+1) tridiagonal matrix and their residuals b |s_last|.
    const int k = j + 1;
    Eigen::MatrixXd Tm = Eigen::MatrixXd::Zero(k, k);
    for (int i = 0; i < k; ++i) {
      Tm(i, i) = alpha[std::size_t(i)];
      if (i + 1 < k) Tm(i, i + 1) = Tm(i + 1, i) = beta[std::size_t(i)];
    }
    eig.compute(Tm);
    require(eig.info() == Eigen::Success, "hessian_extremes: the tridiagonal eigensolver failed at step ", k);
    r.max_eig = eig.eigenvalues()(k - 1);
    r.min_eig = eig.eigenvalues()(0);
    r.max_residual = b * std::fabs(eig.eigenvectors()(k - 1, k - 1));
    r.min_residual = b * std::fabs(eig.eigenvectors()(k - 1, 0));
    if (!std::isfinite(r.max_eig) || !std::isfinite(r.min_eig)) return not_finite("the curvature", k);
    const double scale = std::max(std::fabs(r.max_eig), std::fabs(r.min_eig));
    // An invariant subspace (b ~ 0: H is 0, or q_1 an eigenvector, ...) ends the run at any step:
    // its Ritz values are eigenvalues, and there is no next vector to normalize.
    const bool invariant = b == 0 || b <= 1e-10 * scale;
    if (invariant || (k >= 2 && r.max_residual <= o.tolerance * scale && r.min_residual <= o.tolerance * scale)) {
      r.converged = true;
      break;
    }
    if (j + 1 == kmax) break;
    beta.push_back(b);
    q.emplace_back(std::size_t(P), 0.0);
    double* qn = backend::raw(q.back());
    const double ib = 1.0 / b;
    B::for_each_index(P, [=] BASIN_HD(index_t i) { qn[i] = zp[i] * ib; });
  }
  if (o.vectors) {
    const int k = int(alpha.size());
    for (int which = 0; which < 2; ++which) {
      dvec u(std::size_t(P), 0.0);
      const int col = which == 0 ? k - 1 : 0;
      for (int i = 0; i < k; ++i)
        detail::add_scaled<B>(P, eig.eigenvectors()(i, col), backend::raw(q[std::size_t(i)]), backend::raw(u));
      direction<Model>& d = which == 0 ? r.max_vector : r.min_vector;
      const double* up = backend::raw(u);
      T* dp = backend::raw(d.params);
      B::for_each_index(P, [=] BASIN_HD(index_t i) { dp[i] = T(up[i]); });
    }
  }
  return r;
}

// The curvature of the loss within the plane spanned by dx and dy, at the model's point: the
// slice's Hessian S = D^T H D (D = [dx dy]; the second derivatives a 2-D picture shows at its
// centre, in the plane's coordinates) and the plane's metric G = D^T D. The eigenvalues of
// G^-1 S are the plane's curvatures per unit length in weight space: Rayleigh quotients of H, so
// within [lambda_min, lambda_max]. A random plane sees an average of the spectrum rather than its
// ends: the talk's "when [we] do these dimensionality reductions you actually compress the
// condition number" (07_hessian prints both). Over the same parameters as the Hessian (with
// ignore_bias_bn, the directions' entries outside the multi-axis tensors are left out).
struct plane_curvature_result {
  double slice[2][2] = {};                      // S: d_i^T H d_j
  double metric[2][2] = {};                     // G: d_i^T d_j
  double curvature_max = 0, curvature_min = 0;  // the eigenvalues of G^-1 S
  double loss = 0;                              // the mean loss at the point
};
namespace detail {
template <class B, class T>
void widen(index_t n, const T* from, double* to) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { to[i] = double(from[i]); });
}
}  // namespace detail
template <class Model>
plane_curvature_result plane_curvature(Model& m, const dataset& data, direction<Model>& dx,
                                       std::type_identity_t<direction<Model>>& dy, const hessian_options& o = {}) {
  using B = typename Model::backend_type;
  using dvec = typename B::template vector<double>;
  hessian_operator<Model> H(m, data, o);
  const index_t P = Model::n_params;
  dvec x(std::size_t(P), 0.0), y(std::size_t(P), 0.0), hx(std::size_t(P), 0.0), hy(std::size_t(P), 0.0);
  detail::widen<B>(P, backend::raw(dx.params), backend::raw(x));
  detail::widen<B>(P, backend::raw(dy.params), backend::raw(y));
  H.mask(backend::raw(x));
  H.mask(backend::raw(y));
  plane_curvature_result r;
  r.loss = H.loss();
  const double xx = H.dot(backend::raw(x), backend::raw(x)), yy = H.dot(backend::raw(y), backend::raw(y)),
               xy = H.dot(backend::raw(x), backend::raw(y));
  require(xx > 0 && yy > 0 &&
                  xy * xy<0.999999 * xx * yy,
                          "plane_curvature: the directions must be non-zero and not parallel over the Hessian's "
                          "parameters; their ",
                          "norms there are ", std::sqrt(xx), " and ", std::sqrt(yy), ", their cosine ", xx> 0 &&
                  yy > 0
              ? xy / std::sqrt(xx * yy)
              : NAN);
  H.apply(backend::raw(x), backend::raw(hx));
  H.apply(backend::raw(y), backend::raw(hy));
  const double sxy = 0.5 * (H.dot(backend::raw(x), backend::raw(hy)) + H.dot(backend::raw(y), backend::raw(hx)));
  r.slice[0][0] = H.dot(backend::raw(x), backend::raw(hx));
  r.slice[1][1] = H.dot(backend::raw(y), backend::raw(hy));
  r.slice[0][1] = r.slice[1][0] = sxy;
  r.metric[0][0] = xx, r.metric[1][1] = yy, r.metric[0][1] = r.metric[1][0] = xy;
  Eigen::Matrix2d S, G;
  S << r.slice[0][0], sxy, sxy, r.slice[1][1];
  G << xx, xy, xy, yy;
  const Eigen::GeneralizedSelfAdjointEigenSolver<Eigen::Matrix2d> es(S, G);
  r.curvature_min = es.eigenvalues()(0);
  r.curvature_max = es.eigenvalues()(1);
  return r;
}

// A sweep evaluator (surface.hpp): at every point, the extreme Hessian eigenvalues of the loss
// on `data`, named max_eig and min_eig as the reference tool's plot_hessian_eigen.py writes them.
// |min_eig / max_eig| is the map of Li et al. 2018, fig. 7.
struct hessian_eigenvalues {
  const dataset* data = nullptr;
  hessian_options options{};

  std::vector<std::string> names() const { return {"max_eig", "min_eig"}; }
  // Recorded by sweep() (and checked when it resumes): the images the Hessian is taken on.
  std::string data_digest() const {
    require(data != nullptr, "hessian_eigenvalues: no data set given");
    return basin::data_digest(*data);
  }
  template <class Model>
  point_metrics operator()(Model& m) const {
    require(data != nullptr, "hessian_eigenvalues: no data set given");
    auto o = options;
    o.allow_not_finite = true;  // a point whose logits overflow is recorded as NaN
    const auto r = hessian_extremes(m, *data, o);
    return {r.max_eig, r.min_eig};
  }
};

// |min / max| per point, NaN where either is missing (NaN: surface_values reads a point not yet
// computed so) or max is 0.
inline std::vector<double> eigenvalue_ratio(const std::vector<double>& min_eig, const std::vector<double>& max_eig) {
  require(min_eig.size() == max_eig.size(), "eigenvalue_ratio: ", min_eig.size(), " minima but ", max_eig.size(),
          " maxima");
  std::vector<double> r(min_eig.size());
  for (std::size_t i = 0; i < r.size(); ++i)
    r[i] = max_eig[i] != 0 && std::isfinite(min_eig[i]) && std::isfinite(max_eig[i])
               ? std::fabs(min_eig[i] / max_eig[i])
               : std::nan("");
  return r;
}

}  // namespace basin
