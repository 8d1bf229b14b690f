// GANs: the bilinear game against its closed form (with and without prediction), binary
// cross-entropy, a model's input gradient and the generator's gradient through the
// discriminator against central differences (double), mixtures and mode coverage, and a
// training run's reproducibility.
#define BOOST_TEST_MODULE gan
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "basin/gan/gan.hpp"
#include "basin/optim/optimizers.hpp"

using namespace basin;

namespace {
using gen_net = network<input<3, 1, 1>, named<"fc1", dense<8>>, relu, named<"fc2", dense<2>>>;
using disc_net = network<input<2, 1, 1>, named<"fc1", dense<8>>, relu, named<"fc2", dense<1>>>;
using gen_d = model<gen_net, double>;
using disc_d = model<disc_net, double>;
}  // namespace

BOOST_AUTO_TEST_CASE(bilinear_game_matches_the_closed_form) {
  const double a = 0.3;
  for (bool predict : {false, true}) {
    const auto path = gan::bilinear_game<double, backend::host>(1.0, 0.5, a, 40, predict);
    // (u, v) <- M (u, v): M = [[1, -a], [a, 1 - a^2]] alternating, [[1, -a], [a, 1 - 2 a^2]] predicted.
    double u = 1.0, v = 0.5;
    const double m22 = predict ? 1 - 2 * a * a : 1 - a * a;
    for (int k = 1; k <= 40; ++k) {
      const double u2 = u - a * v, v2 = a * u + m22 * v;
      u = u2, v = v2;
      BOOST_TEST(path[std::size_t(k)][0] == u, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(path[std::size_t(k)][1] == v, boost::test_tools::tolerance(1e-12));
    }
    // The modulus of M's eigenvalues: 1 (an orbit) or sqrt(1 - a^2) (a spiral into the saddle).
    const double r0 = std::hypot(1.0, 0.5), r40 = std::hypot(path[40][0], path[40][1]);
    if (predict)
      BOOST_TEST(r40 < 0.3 * r0);  // (1 - a^2)^20 = 0.15, up to the eigenvectors' conditioning
    else
      BOOST_TEST(r40 > 0.7 * r0);
  }
  BOOST_CHECK_THROW((gan::bilinear_game<double, backend::host>(1, 1, 1.5, 3, true)), basin::error);
}

BOOST_AUTO_TEST_CASE(binary_cross_entropy_and_its_gradient) {
  sigmoid_cross_entropy<double, backend::host> bce;
  const std::vector<double> z{-3.0, -0.2, 0.0, 0.7, 40.0};
  for (double t : {0.0, 1.0, 0.25}) {
    const auto r = bce(z.data(), t, 5, true);
    double want = 0;
    for (double v : z) want += std::log1p(std::exp(v)) - t * v;
    BOOST_TEST(r.loss == want / 5, boost::test_tools::tolerance(1e-12));
    for (std::size_t i = 0; i < z.size(); ++i) {
      auto zp = z, zm = z;
      zp[i] += 1e-6, zm[i] -= 1e-6;
      const double fd = (bce(zp.data(), t, 5, false).loss - bce(zm.data(), t, 5, false).loss) / 2e-6;
      BOOST_TEST(double(bce.grad[i]) == fd, boost::test_tools::tolerance(1e-6));
    }
  }
  const std::vector<double> big{1000.0, -1000.0};
  BOOST_TEST(bce(big.data(), 1.0, 2, false).loss == 500.0, boost::test_tools::tolerance(1e-12));  // no overflow
  BOOST_CHECK_THROW(bce(z.data(), 1.5, 5, false), basin::error);
  const std::vector<double> bad{NAN};
  BOOST_CHECK_THROW(bce(bad.data(), 1.0, 1, false), basin::error);
}

BOOST_AUTO_TEST_CASE(input_gradient_matches_central_differences) {
  // A conv net with 2 channels (the (n, c, h, w) <-> (c, n, h, w) conversions) and an MLP.
  using conv_net = network<input<2, 4, 4>, conv<3, 3>, relu, global_avg_pool, dense<2>>;
  model<conv_net, double> m(3);
  const index_t n = 3, size = 2 * 4 * 4;
  std::vector<double> x(std::size_t(n * size)), dx(x.size());
  const counter_rng rng{4, 1};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(i);
  std::vector<std::int32_t> labels{0, 1, 1};
  softmax_cross_entropy<double, backend::host> ce;
  const auto loss = [&](const std::vector<double>& in) {
    return ce(m.forward(in.data(), n, mode::train), labels.data(), 2, n, false).loss;
  };
  ce(m.forward(x.data(), n, mode::train), labels.data(), 2, n, true);
  m.backward(ce.grad.data().get(), dx.data());
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto xp = x, xm = x;
    xp[i] += 1e-6, xm[i] -= 1e-6;
    worst = std::max(worst, std::fabs(dx[i] - (loss(xp) - loss(xm)) / 2e-6));
  }
  BOOST_TEST(worst < 1e-7);
}

BOOST_AUTO_TEST_CASE(generator_gradient_through_the_discriminator) {
  gen_d g(1);
  disc_d d(2);
  gan::gan_workspace<gen_d, disc_d> ws;
  const index_t n = 5;
  gan::generator_loss(g, d, ws, 9, 4, n);
  const std::vector<double> grad(g.grads.begin(), g.grads.end());
  double worst = 0, scale = 0;
  for (index_t i = 0; i < gen_d::n_params; ++i) {
    const double w = g.params[std::size_t(i)];
    g.params[std::size_t(i)] = w + 1e-6;
    const double lp = gan::generator_loss(g, d, ws, 9, 4, n, false);
    g.params[std::size_t(i)] = w - 1e-6;
    const double lm = gan::generator_loss(g, d, ws, 9, 4, n, false);
    g.params[std::size_t(i)] = w;
    worst = std::max(worst, std::fabs(grad[std::size_t(i)] - (lp - lm) / 2e-6));
    scale = std::max(scale, std::fabs(grad[std::size_t(i)]));
  }
  BOOST_TEST(scale > 1e-3);  // a gradient that means something
  BOOST_TEST(worst < 1e-7 * std::max(1.0, scale));

  // The discriminator's gradient: real points and generated ones, both terms.
  const auto real_f = gan::mixture::ring().sample(3, 0, n);
  std::vector<double> real(real_f.begin(), real_f.end());
  gan::discriminator_loss(g, d, ws, real.data(), 9, 5, n);
  const std::vector<double> dgrad(d.grads.begin(), d.grads.end());
  worst = 0;
  for (index_t i = 0; i < disc_d::n_params; ++i) {
    const double w = d.params[std::size_t(i)];
    d.params[std::size_t(i)] = w + 1e-6;
    const double lp = gan::discriminator_loss(g, d, ws, real.data(), 9, 5, n, false);
    d.params[std::size_t(i)] = w - 1e-6;
    const double lm = gan::discriminator_loss(g, d, ws, real.data(), 9, 5, n, false);
    d.params[std::size_t(i)] = w;
    worst = std::max(worst, std::fabs(dgrad[std::size_t(i)] - (lp - lm) / 2e-6));
  }
  BOOST_TEST(worst < 1e-7);
}

BOOST_AUTO_TEST_CASE(mixtures_and_mode_coverage) {
  const auto ring = gan::mixture::ring(8, 2.0, 0.02);
  BOOST_TEST(ring.means.size() == 8u);
  BOOST_TEST(ring.means[2][1] == 2.0, boost::test_tools::tolerance(1e-12));
  const index_t n = 8000;
  const auto pts = ring.sample(1, 0, n);
  BOOST_TEST((pts == ring.sample(1, 0, n)));  // the same draw, the same points
  const auto c = gan::mode_coverage(ring, pts);
  BOOST_TEST(c.modes == 8);
  // A point falls within 3 sigma of its 2-D Gaussian's mean with probability 1 - exp(-9/2) = 0.98889;
  // with 8000 points the share's standard deviation is 0.0012: within 5 of them.
  BOOST_TEST(std::fabs(c.high_quality - (1 - std::exp(-4.5))) < 5 * 0.0012);
  for (index_t k : c.per_mode) BOOST_TEST(std::fabs(double(k) - 8000 * 0.98889 / 8) < 5 * std::sqrt(1000.0));
  // All points on one mode: one mode covered.
  std::vector<float> one(std::size_t(2 * 100));
  for (std::size_t i = 0; i < one.size(); i += 2) one[i] = 2.0f, one[i + 1] = 0.0f;
  BOOST_TEST(gan::mode_coverage(ring, one).modes == 1);
  BOOST_TEST(gan::mixture::grid().means.size() == 25u);
  BOOST_CHECK_THROW(gan::mixture::ring(0), basin::error);
  BOOST_CHECK_THROW(gan::mode_coverage(ring, {1.0f}), basin::error);
}

BOOST_AUTO_TEST_CASE(training_is_reproducible_and_prediction_changes_it) {
  const auto run = [](bool predict) {
    model<gen_net, float> g(1);
    model<disc_net, float> d(2);
    optim::optimizer<optim::adam, float, backend::host> og({0.5, 0.999, 1e-8, 0}, g.n_params);
    optim::optimizer<optim::adam, float, backend::host> od({0.5, 0.999, 1e-8, 0}, d.n_params);
    gan::gan_options o;
    o.steps = 30;
    o.batch_size = 64;
    o.prediction = predict;
    o.progress = false;
    const auto lr = [](index_t) { return 1e-3; };
    const auto h = gan::train_gan(g, d, og, od, lr, lr, gan::mixture::ring(), o);
    BOOST_TEST(h.size() == 30u);
    return std::vector<float>(g.params.begin(), g.params.end());
  };
  const auto a = run(true), b = run(true), c = run(false);
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
}
