// Curvature: H v against the closed-form Hessian of softmax regression, Lanczos's extremes against
// a dense eigensolver (convex and indefinite cases), Ritz vectors, float against double, the
// eigenvalue sweep's file, and the errors.
#include <unistd.h>

#include <Eigen/Eigenvalues>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <limits>

#include "../checks.hpp"
#include "basin/landscape/hessian.hpp"
#include "basin/net/model.hpp"

using namespace basin;
namespace fs = std::filesystem;

namespace {
// Softmax regression: 4 inputs, 3 classes; parameters W (3, 4) then b (3).
using softmax_net = network<input<1, 2, 2>, flatten, named<"fc", dense<3>>>;
// A small ReLU net, whose Hessian is indefinite.
using mlp_net = network<input<1, 2, 2>, flatten, named<"fc1", dense<4>>, relu, named<"fc2", dense<3>>>;

dataset random_points(index_t n, std::uint64_t seed) {
  dataset d;
  d.shape = {1, 2, 2};
  d.classes = 3;
  const counter_rng rng{seed, 3};
  for (index_t i = 0; i < n * 4; ++i) d.images.push_back(float(rng.normal(std::uint64_t(i))));
  for (index_t i = 0; i < n; ++i) d.labels.push_back(std::int32_t(rng.below(std::uint64_t(1000 + i), 3)));
  return d;
}

// The Hessian of the mean cross-entropy of softmax regression: mean over samples of
// (diag(p) - p p^T) (x) (x~ x~^T), x~ = (x, 1), in basin's parameter order (W row-major, then b).
Eigen::MatrixXd softmax_hessian(model<softmax_net, double>& m, const dataset& d) {
  const index_t n = d.size();
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(15, 15);
  const auto idx = [](int o, int i) { return i < 4 ? o * 4 + i : 12 + o; };
  for (index_t s = 0; s < n; ++s) {
    double xt[5] = {d.images[std::size_t(s * 4)], d.images[std::size_t(s * 4 + 1)], d.images[std::size_t(s * 4 + 2)],
                    d.images[std::size_t(s * 4 + 3)], 1.0};
    double z[3], p[3], zmax = -1e300, sum = 0;
    for (int o = 0; o < 3; ++o) {
      z[o] = m.params[std::size_t(12 + o)];
      for (int i = 0; i < 4; ++i) z[o] += m.params[std::size_t(o * 4 + i)] * xt[i];
      zmax = std::max(zmax, z[o]);
    }
    for (int o = 0; o < 3; ++o) sum += p[o] = std::exp(z[o] - zmax);
    for (double& v : p) v /= sum;
    for (int o = 0; o < 3; ++o)
      for (int o2 = 0; o2 < 3; ++o2)
        for (int i = 0; i < 5; ++i)
          for (int i2 = 0; i2 < 5; ++i2)
            H(idx(o, i), idx(o2, i2)) += ((o == o2 ? p[o] : 0.0) - p[o] * p[o2]) * xt[i] * xt[i2] / double(n);
  }
  return H;
}

using basin::test::worse;

template <class Model>
std::vector<double> apply_to(hessian_operator<Model>& H, const std::vector<double>& v) {
  std::vector<double> out(v.size());
  H.apply(v.data(), out.data());
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(hessian_vector_products_match_the_closed_form) {
  model<softmax_net, double> m(4);
  for (std::size_t i = 0; i < 15; ++i) m.params[i] = 2 * m.params[i];  // away from the uniform prediction
  const auto d = random_points(40, 1);
  const Eigen::MatrixXd Hx = softmax_hessian(m, d);
  hessian_operator<model<softmax_net, double>> H(m, d, {.batch_size = 16, .ignore_bias_bn = false});
  const std::vector<double> before(m.params.begin(), m.params.end());
  const counter_rng rng{7, 1};
  for (int t = 0; t < 3; ++t) {
    std::vector<double> v(15);
    for (int i = 0; i < 15; ++i) v[std::size_t(i)] = rng.normal(std::uint64_t(100 * t + i));
    const auto hv = apply_to(H, v);
    const Eigen::VectorXd ref = Hx * Eigen::Map<const Eigen::VectorXd>(v.data(), 15);
    double worst = 0;
    for (int i = 0; i < 15; ++i) worst = worse(worst, std::fabs(hv[std::size_t(i)] - ref(i)));
    BOOST_TEST(worst < 1e-8 * ref.norm());
  }
  BOOST_TEST((std::vector<double>(m.params.begin(), m.params.end()) == before));  // the parameters are restored
  // A vector of norm 0, NaN or inf has no H v (an infinite one made a step of 0 and NaN products).
  for (const double bad : {0.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    std::vector<double> v(15, 0.0);
    v[3] = bad;
    BOOST_CHECK_EXCEPTION(apply_to(H, v), basin::error, [](const basin::error& e) {
      return std::string(e.what()).find("expected a finite non-zero vector") != std::string::npos;
    });
  }
  BOOST_TEST((std::vector<double>(m.params.begin(), m.params.end()) == before));

  // Lanczos's extremes against the dense eigenvalues: the whole Hessian, then the weights' block.
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> all(Hx);
  auto r = hessian_extremes(
      m, d, {.batch_size = 16, .ignore_bias_bn = false, .max_iterations = 15, .tolerance = 1e-9, .vectors = true});
  BOOST_TEST(r.converged);
  BOOST_TEST(r.max_eig == all.eigenvalues()(14), boost::test_tools::tolerance(1e-8));
  BOOST_TEST(std::fabs(r.min_eig - all.eigenvalues()(0)) < 1e-8 * r.max_eig);  // 0: softmax's shift invariance
  // The Ritz vector is an eigenvector: |H u - max u| within the residual bound.
  std::vector<double> u(r.max_vector.params.begin(), r.max_vector.params.end());
  const Eigen::VectorXd Hu = Hx * Eigen::Map<const Eigen::VectorXd>(u.data(), 15);
  double res = 0;
  for (int i = 0; i < 15; ++i) res += std::pow(Hu(i) - r.max_eig * u[std::size_t(i)], 2);
  BOOST_TEST(std::sqrt(res) < 1e-7 * r.max_eig);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> block(Hx.topLeftCorner(12, 12));
  const auto w = hessian_extremes(m, d, {.batch_size = 16, .max_iterations = 12, .tolerance = 1e-9});
  BOOST_TEST(w.max_eig == block.eigenvalues()(11), boost::test_tools::tolerance(1e-8));
  BOOST_TEST(std::fabs(w.min_eig - block.eigenvalues()(0)) < 1e-8 * w.max_eig);
  BOOST_TEST(w.min_eig > -1e-8 * w.max_eig);  // softmax regression is convex

  // A float model: the same extremes to float's finite-difference accuracy.
  model<softmax_net, float> mf(4);
  for (std::size_t i = 0; i < 15; ++i) mf.params[i] = float(m.params[i]);
  const auto f = hessian_extremes(mf, d, {.batch_size = 16, .max_iterations = 12, .tolerance = 1e-6});
  BOOST_TEST(f.max_eig == block.eigenvalues()(11), boost::test_tools::tolerance(1e-3));
}

// The plane's curvature against the closed form: S = D^T H D, G = D^T D, and the generalized
// eigenvalues of (S, G) between the Hessian's extremes.
BOOST_AUTO_TEST_CASE(plane_curvature_matches_the_closed_form) {
  using sm = model<softmax_net, double>;
  sm m(4);
  for (std::size_t i = 0; i < 15; ++i) m.params[i] = 2 * m.params[i];
  const auto d = random_points(40, 1);
  const Eigen::MatrixXd Hx = softmax_hessian(m, d);
  auto dx = random_direction(m, 3, 0, {normalization::none, false, false});
  auto dy = random_direction(m, 3, 1, {normalization::none, false, false});
  const auto r = plane_curvature(m, d, dx, dy, {.batch_size = 16, .ignore_bias_bn = false});
  Eigen::MatrixXd D(15, 2);
  for (int i = 0; i < 15; ++i) D(i, 0) = dx.params[std::size_t(i)], D(i, 1) = dy.params[std::size_t(i)];
  const Eigen::Matrix2d S = D.transpose() * Hx * D, G = D.transpose() * D;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      BOOST_TEST(r.slice[i][j] == S(i, j), boost::test_tools::tolerance(1e-7));
      BOOST_TEST(r.metric[i][j] == G(i, j), boost::test_tools::tolerance(1e-12));
    }
  const Eigen::GeneralizedSelfAdjointEigenSolver<Eigen::Matrix2d> es(S, G);
  BOOST_TEST(r.curvature_min == es.eigenvalues()(0), boost::test_tools::tolerance(1e-7));
  BOOST_TEST(r.curvature_max == es.eigenvalues()(1), boost::test_tools::tolerance(1e-7));
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> all(Hx);
  BOOST_TEST(r.curvature_min >= all.eigenvalues()(0) - 1e-9);
  BOOST_TEST(r.curvature_max <= all.eigenvalues()(14) + 1e-9);
  BOOST_TEST(r.curvature_max < all.eigenvalues()(14));  // a random plane misses the top of the spectrum
  // The plane through the top eigenvector sees lambda_max itself.
  for (int i = 0; i < 15; ++i) dx.params[std::size_t(i)] = all.eigenvectors()(i, 14);
  const auto top = plane_curvature(m, d, dx, dy, {.batch_size = 16, .ignore_bias_bn = false});
  BOOST_TEST(top.curvature_max == all.eigenvalues()(14), boost::test_tools::tolerance(1e-6));
  // Parallel directions span no plane.
  BOOST_CHECK_THROW(plane_curvature(m, d, dy, dy, {.batch_size = 16, .ignore_bias_bn = false}), basin::error);
}

BOOST_AUTO_TEST_CASE(lanczos_finds_both_ends_of_an_indefinite_hessian) {
  using M = model<mlp_net, double>;
  M m(2);
  const auto d = random_points(30, 5);
  // The operator's dense matrix, column by column (P = 4*4 + 4 + 3*4 + 3 = 35).
  hessian_operator<M> H(m, d, {.ignore_bias_bn = false});
  constexpr int P = int(M::n_params);
  Eigen::MatrixXd A(P, P);
  for (int k = 0; k < P; ++k) {
    std::vector<double> e(P, 0.0);
    e[std::size_t(k)] = 1;
    const auto col = apply_to(H, e);
    for (int i = 0; i < P; ++i) A(i, k) = col[std::size_t(i)];
  }
  BOOST_TEST((A - A.transpose()).cwiseAbs().maxCoeff() < 1e-6 * A.cwiseAbs().maxCoeff());  // symmetric
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> dense(0.5 * (A + A.transpose()));
  const double lmin = dense.eigenvalues()(0), lmax = dense.eigenvalues()(P - 1);
  BOOST_TEST(lmin < -1e-3 * lmax);  // indefinite: the test means something
  const auto r = hessian_extremes(m, d, {.ignore_bias_bn = false, .max_iterations = P, .tolerance = 1e-8, .seed = 3});
  BOOST_TEST(r.converged);
  BOOST_TEST(r.max_eig == lmax, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(std::fabs(r.min_eig - lmin) < 1e-6 * lmax);
  BOOST_TEST(r.iterations <= P);
  // Fewer steps, looser tolerance: each extreme within its residual bound of the true one.
  const auto q = hessian_extremes(m, d, {.ignore_bias_bn = false, .max_iterations = 6, .tolerance = 1e-2});
  BOOST_TEST(std::fabs(q.max_eig - lmax) <= q.max_residual * (1 + 1e-9) + 1e-12);
  BOOST_TEST(q.min_eig >= lmin - 1e-9);  // Ritz values lie inside the spectrum
}

BOOST_AUTO_TEST_CASE(eigenvalue_maps_and_errors) {
  using M = model<mlp_net, double>;
  M m(2);
  const auto d = random_points(30, 5);
  auto x = random_direction(m, 1, 0, {normalization::filter, true, false});
  auto y = random_direction(m, 1, 1, {normalization::filter, true, false});
  const auto dir = fs::temp_directory_path() / ("basin_test_hessian_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto file = (dir / "eig.h5").string();
  surface_options so;
  so.x = linspace(-0.5, 0.5, 2);
  so.y = linspace(-0.5, 0.5, 3);
  so.progress = false;
  hessian_eigenvalues ev{&d, {.max_iterations = 20, .tolerance = 1e-6}};
  BOOST_TEST((ev.names() == std::vector<std::string>{"max_eig", "min_eig"}));
  sweep(m, x, &y, file, so, ev.names(), ev);
  auto f = h5::file::open(file);
  const auto mx = surface_values(f, "max_eig"), mn = surface_values(f, "min_eig");  // z[i * ny + j]
  BOOST_TEST(f.read<double>("max_eig")[1] == mx[3]);                                // the file's (ny, nx): value[j, i]
  // Each point's values are those of hessian_extremes at that point.
  set_point(m, M(2).params, M(2).state, x, 0.5, &y, -0.5);
  const auto at = hessian_extremes(m, d, ev.options);
  BOOST_TEST(mx[3] == at.max_eig, boost::test_tools::tolerance(1e-12));  // (x[1], y[0])
  BOOST_TEST(mn[3] == at.min_eig, boost::test_tools::tolerance(1e-12));
  const auto ratio = eigenvalue_ratio(mn, mx);
  BOOST_TEST(ratio[3] == std::fabs(at.min_eig / at.max_eig), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(std::isnan(eigenvalue_ratio({1.0}, {0.0})[0]));
  // Far out the logits overflow: the map records that point's eigenvalues as NaN and goes on (a
  // rerun would otherwise stop at it again); hessian_extremes itself refuses the point.
  {
    const auto far = (dir / "far.h5").string();
    surface_options line = so;
    line.x = {0.0, 1e300};
    line.y.clear();
    BOOST_TEST(sweep(m, x, nullptr, far, line, ev.names(), ev).computed == 2);
    auto ff = h5::file::open(far);
    const auto fmx = ff.read<double>("max_eig"), fmn = ff.read<double>("min_eig");
    BOOST_TEST((std::isfinite(fmx[0]) && std::isfinite(fmn[0])));
    BOOST_TEST((std::isnan(fmx[1]) && std::isnan(fmn[1])));
    const auto centre = hessian_extremes(m, d, ev.options);  // m is back at the origin after the sweep
    BOOST_TEST(fmx[0] == centre.max_eig, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(fmn[0] == centre.min_eig, boost::test_tools::tolerance(1e-12));
    set_point(m, M(2).params, M(2).state, x, 1e300, nullptr, 0.0);
    BOOST_CHECK_THROW(hessian_extremes(m, d, ev.options), basin::error);
    auto allowed = ev.options;
    allowed.allow_not_finite = true;
    const auto nan_point = hessian_extremes(m, d, allowed);
    BOOST_TEST((std::isnan(nan_point.max_eig) && std::isnan(nan_point.min_eig) && !nan_point.converged));
    BOOST_TEST(std::isnan(nan_point.loss));
    m.params = M(2).params;
    m.state = M(2).state;
  }
  fs::remove_all(dir);

  // A Hessian that is exactly 0 on the weights (all inputs 0: softmax regression's weights get
  // no curvature): the first step finds the invariant subspace and ends, no division by 0.
  model<softmax_net, double> sm(1);
  auto zero = random_points(10, 2);
  std::fill(zero.images.begin(), zero.images.end(), 0.0f);
  const auto z = hessian_extremes(sm, zero, {.max_iterations = 5});
  BOOST_TEST(z.max_eig == 0.0);
  BOOST_TEST(z.min_eig == 0.0);
  BOOST_TEST(z.converged);
  BOOST_TEST(z.iterations == 1);

  // Bad options and data name what is wrong.
  BOOST_CHECK_THROW(hessian_extremes(m, d, {.max_iterations = 1}), basin::error);
  BOOST_CHECK_THROW(hessian_extremes(m, d, {.tolerance = 0}), basin::error);
  BOOST_CHECK_THROW(hessian_extremes(m, d, {.batch_size = 0}), basin::error);
  BOOST_CHECK_THROW(hessian_extremes(m, d, {.step = -1}), basin::error);
  dataset wrong = d;
  wrong.shape = {1, 4, 1};
  BOOST_CHECK_EXCEPTION(hessian_extremes(m, wrong), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("hessian") != std::string::npos;
  });
  BOOST_CHECK_THROW(hessian_eigenvalues{}(m), basin::error);
  BOOST_CHECK_THROW(eigenvalue_ratio({1.0}, {}), basin::error);
}

BOOST_AUTO_TEST_CASE(max_pool_ties_are_frozen_as_autograd_sees_them) {
  // A 1x1 conv (weights c1 = c2 = 1) over two channels a = (t, 0, -5, -5), b = (0, t, -5, -5),
  // then one 2x2 max pool and a dense layer: pixels 0 and 1 tie at the point, and any step with
  // v_c1 != v_c2 decides the tie one way for +h and the other for -h. Frozen at the recorded
  // winner (the first maximum, as PyTorch's max_pool2d takes it), H v equals its limit as pixel
  // 0's lead goes to 0 (linear extrapolation from leads of 1e-3 and 2e-3, far beyond what the
  // step moves a pixel: ~1e-5); a gradient difference across the tie would be off by ~1/h.
  using tie_net =
      network<input<2, 2, 2>, named<"conv", conv<1, 1, 1, 0, false>>, max_pool<2>, flatten, named<"fc", dense<3>>>;
  using M = model<tie_net, double>;
  const auto points = [](double lead) {
    dataset d;
    d.shape = {2, 2, 2};
    d.classes = 3;
    for (int s = 0; s < 6; ++s) {
      const double t = 0.5 + 0.25 * s;
      for (double v : {t + lead, 0.0, -5.0, -5.0, 0.0, t, -5.0, -5.0}) d.images.push_back(float(v));
      d.labels.push_back(std::int32_t(s % 3));
    }
    return d;
  };
  M m(2);
  m.params[0] = m.params[1] = 1;  // c1 = c2 = 1
  const std::vector<double> v{0.7, -0.4, 0.3, -0.2, 0.5, 0.1, -0.3, 0.2};
  const auto hv = [&](double lead) {
    const auto d = points(lead);  // the operator keeps a reference to its data
    hessian_operator<M> H(m, d, {.batch_size = 4, .ignore_bias_bn = false});
    return apply_to(H, v);
  };
  const auto a = hv(0), b1 = hv(1e-3), b2 = hv(2e-3);
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double limit = 2 * b1[i] - b2[i];
    diff = worse(diff, std::fabs(a[i] - limit)), scale += limit * limit;
  }
  BOOST_TEST_MESSAGE("H v at the tie against the limit: max difference " << diff << ", |H v| " << std::sqrt(scale));
  BOOST_TEST(diff < 1e-4 * std::sqrt(scale));
}
