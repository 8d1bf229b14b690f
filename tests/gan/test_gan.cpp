// GANs: the bilinear game against its closed form (with and without prediction), binary
// cross-entropy, a model's input gradient and the generator's gradient through the
// discriminator against central differences (double), mixtures and mode coverage, and a
// training run's reproducibility; the same for DCGAN-shaped nets on images (transposed convs,
// batch norm, tanh, leaky relu), the image source, the classifier score against its closed
// forms, DCGAN's initialization, a collapse that ends a run without losing its records, and a
// run resumed from training checkpoints.
#define BOOST_TEST_MODULE gan
#include <unistd.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>

#include "../checks.hpp"
#include "basin/gan/gan.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/optim/optimizers.hpp"

using namespace basin;

namespace {
using gen_net = network<input<3, 1, 1>, named<"fc1", dense<8>>, relu, named<"fc2", dense<2>>>;
using disc_net = network<input<2, 1, 1>, named<"fc1", dense<8>>, relu, named<"fc2", dense<1>>>;
using gen_d = model<gen_net, double>;
using disc_d = model<disc_net, double>;
using adam_f = optim::optimizer<optim::adam, float, backend::host>;
using basin::test::worse;
gan::gan_options quiet_options(index_t steps, index_t batch, bool predict) {
  gan::gan_options o;
  o.steps = steps;
  o.batch_size = batch;
  o.prediction = predict;
  o.progress = false;
  return o;
}
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
  BOOST_CHECK_THROW((gan::bilinear_game<double, backend::host>(NAN, 1, 0.2, 3, true)), basin::error);
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
    worst = worse(worst, std::fabs(dx[i] - (loss(xp) - loss(xm)) / 2e-6));
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
    worst = worse(worst, std::fabs(grad[std::size_t(i)] - (lp - lm) / 2e-6));
    scale = worse(scale, std::fabs(grad[std::size_t(i)]));
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
    worst = worse(worst, std::fabs(dgrad[std::size_t(i)] - (lp - lm) / 2e-6));
  }
  BOOST_TEST(worst < 1e-7);
  // A batch whose buffers cannot fit (train_gan sizes five of them from o.batch_size): refused
  // before any is allocated.
  gan::gan_workspace<gen_d, disc_d> big;
  BOOST_CHECK_EXCEPTION(big.reserve(index_t(1) << 44), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("gan: a batch of 17592186044416 samples needs") != std::string::npos;
  });
  BOOST_CHECK_EXCEPTION(big.reserve(index_t(1) << 62), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("gan_workspace: batch size n = ") != std::string::npos;
  });
  BOOST_TEST(big.fake.empty());
  // No samples: refused, naming the function (a negative count asked for a huge workspace).
  for (const index_t bad : {index_t(0), index_t(-3)}) {
    BOOST_CHECK_EXCEPTION(gan::generator_loss(g, d, ws, 9, 4, bad), basin::error, [](const basin::error& e) {
      return std::string(e.what()).find("generator_loss: n = ") != std::string::npos;
    });
    BOOST_CHECK_EXCEPTION(gan::discriminator_loss(g, d, ws, real.data(), 9, 5, bad), basin::error,
                          [](const basin::error& e) {
                            return std::string(e.what()).find("discriminator_loss: n = ") != std::string::npos;
                          });
  }
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
  // A mode counts once it holds min_share (0.1) of a fair share, n / 8: 7 modes of 1000 points and
  // one of m; m = 50 is under 0.1 x 7050 / 8 = 88.1 (a collapsed generator's stray points), m = 100
  // over 0.1 x 7100 / 8 = 88.75.
  for (const index_t m : {index_t(50), index_t(100)}) {
    std::vector<float> few;
    for (std::size_t j = 0; j < 8; ++j)
      for (index_t i = 0; i < (j < 7 ? 1000 : m); ++i)
        few.push_back(float(ring.means[j][0])), few.push_back(float(ring.means[j][1]));
    const auto fc = gan::mode_coverage(ring, few);
    BOOST_TEST(fc.per_mode[7] == m);
    BOOST_TEST(fc.modes == (m == 50 ? 7 : 8), "m = " << m);
    BOOST_TEST(gan::mode_coverage(ring, few, 0.0).modes == 8);  // any point counts without a share
  }
  const auto grid = gan::mixture::grid();
  BOOST_TEST(grid.means.size() == 25u);
  // Row-major over (i, j), spacing 2, centred: (-4, -4), (-4, -2), ..., the 8th (i 1, j 2) at (-2, 0).
  BOOST_TEST(grid.means[0][0] == -4.0);
  BOOST_TEST(grid.means[0][1] == -4.0);
  BOOST_TEST(grid.means[7][0] == -2.0);
  BOOST_TEST(grid.means[7][1] == 0.0);
  BOOST_TEST(grid.means[24][0] == 4.0);
  BOOST_TEST(grid.means[24][1] == 4.0);
  BOOST_CHECK_THROW(gan::mixture::ring(0), basin::error);
  BOOST_CHECK_THROW(gan::mode_coverage(ring, {1.0f}), basin::error);
  // A hand-made mixture without modes or with a sigma of 0 or NaN covered nothing, silently.
  const auto says = [](const std::string& what) {
    return [what](const basin::error& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  for (const double sigma : {0.0, -0.02, std::numeric_limits<double>::quiet_NaN()}) {
    gan::mixture bad = ring;
    bad.sigma = sigma;
    BOOST_CHECK_EXCEPTION(gan::mode_coverage(bad, pts), basin::error, says("mode_coverage: the mixture has 8 modes"));
  }
  BOOST_CHECK_EXCEPTION(gan::mode_coverage(gan::mixture{}, pts), basin::error, says("has 0 modes"));
  BOOST_CHECK_EXCEPTION(gan::mode_coverage(ring, pts, std::numeric_limits<double>::quiet_NaN()), basin::error,
                        says("min_share = nan"));
  BOOST_CHECK_EXCEPTION(gan::mixture::ring(8, std::numeric_limits<double>::infinity()), basin::error,
                        says("mixture::ring"));
  BOOST_CHECK_EXCEPTION(gan::mixture::grid(5, 2.0, std::numeric_limits<double>::infinity()), basin::error,
                        says("mixture::grid"));
}

BOOST_AUTO_TEST_CASE(training_is_reproducible_and_prediction_changes_it) {
  const auto run = [](bool predict) {
    model<gen_net, float> g(1);
    model<disc_net, float> d(2);
    adam_f og({0.5, 0.999, 1e-8, 0}, g.n_params), od({0.5, 0.999, 1e-8, 0}, d.n_params);
    const auto o = quiet_options(30, 64, predict);
    const auto lr = [](index_t) { return 1e-3; };
    const auto h = gan::train_gan(g, d, og, od, lr, lr, gan::mixture::ring(), o);
    BOOST_TEST(h.size() == 30u);
    return std::vector<float>(g.params.begin(), g.params.end());
  };
  const auto a = run(true), b = run(true), c = run(false);
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
  // A learning rate that is no function: refused before the first step.
  model<gen_net, float> g(1);
  model<disc_net, float> d(2);
  adam_f og({0.5, 0.999, 1e-8, 0}, g.n_params), od({0.5, 0.999, 1e-8, 0}, d.n_params);
  const std::function<double(index_t)> none, lr = [](index_t) { return 1e-3; };
  BOOST_CHECK_EXCEPTION(gan::train_gan(g, d, og, od, lr, none, gan::mixture::ring(), quiet_options(3, 8, true)),
                        basin::error, [](const basin::error& e) {
                          return std::string(e.what()).find(
                                     "train_gan: the learning rate of the discriminator (lr_d)") != std::string::npos;
                        });
}

// train_gan's step spelled out with the public pieces: the generator steps from G to G', the
// discriminator's gradient is taken at the predicted 2 G' - G, the discriminator steps, and the
// generator is back at G'. Three steps in double equal train_gan's; the discriminator seeing G'
// (no prediction) or G (the wrong buffer) instead gives other weights, so the check can fail.
BOOST_AUTO_TEST_CASE(train_gan_takes_the_prediction_step_as_the_paper_writes_it) {
  using sgd_d = optim::optimizer<optim::sgd, double, backend::host>;
  const auto ring = gan::mixture::ring();
  const index_t n = 16, steps = 3;
  const double lr = 0.1;
  const auto o = quiet_options(steps, n, true);
  enum class sees { predicted, stepped, previous };
  const auto by_hand = [&](sees what) {
    gen_d g(1);
    disc_d d(2);
    sgd_d og({0.9, 0, false}, gen_d::n_params), od({0.9, 0, false}, disc_d::n_params);
    gan::gan_workspace<gen_d, disc_d> ws;
    for (index_t s = 0; s < steps; ++s) {
      const auto real = ring.sample(o.seed, std::uint64_t(s), n);
      const std::vector<double> real_d(real.begin(), real.end());
      gan::generator_loss(g, d, ws, o.seed, std::uint64_t(2 * s), n);
      const std::vector<double> before(g.params.begin(), g.params.end());
      og.step(g.params.data().get(), g.grads.data().get(), lr);
      const std::vector<double> after(g.params.begin(), g.params.end());
      for (std::size_t i = 0; i < after.size(); ++i)
        g.params[i] = what == sees::predicted ? after[i] + (after[i] - before[i])
                      : what == sees::stepped ? after[i]
                                              : before[i];
      gan::discriminator_loss(g, d, ws, real_d.data(), o.seed, std::uint64_t(2 * s + 1), n);
      for (std::size_t i = 0; i < after.size(); ++i) g.params[i] = after[i];
      od.step(d.params.data().get(), d.grads.data().get(), lr);
    }
    std::vector<double> w(g.params.begin(), g.params.end());
    w.insert(w.end(), d.params.begin(), d.params.end());
    return w;
  };
  gen_d g(1);
  disc_d d(2);
  sgd_d og({0.9, 0, false}, gen_d::n_params), od({0.9, 0, false}, disc_d::n_params);
  const auto constant = [=](index_t) { return lr; };
  gan::train_gan(g, d, og, od, constant, constant, ring, o);
  std::vector<double> trained(g.params.begin(), g.params.end());
  trained.insert(trained.end(), d.params.begin(), d.params.end());
  const auto distance = [&](const std::vector<double>& w) {
    double worst = 0;
    for (std::size_t i = 0; i < w.size(); ++i) worst = worse(worst, std::fabs(w[i] - trained[i]));
    return worst;
  };
  BOOST_TEST(distance(by_hand(sees::predicted)) < 1e-12);
  BOOST_TEST(distance(by_hand(sees::stepped)) > 1e-6);
  BOOST_TEST(distance(by_hand(sees::previous)) > 1e-6);
}

// DCGAN-shaped nets in double: a generator of transposed convs with batch norm and tanh, 2
// channels (the layout conversions between the nets), and a conv discriminator with leaky relus.
namespace {
using image_gen = network<input<3, 1, 1>, transposed_conv<4, 3, 1, 0, false>, batch_norm, relu,
                          transposed_conv<2, 4, 2, 1, false>, tanh_layer>;  // 1x1 -> 3x3 -> 6x6
using image_disc = network<input<2, 6, 6>, conv<4, 4, 2, 1, true>, leaky_relu<0.2>, conv<4, 3, 1, 1>, batch_norm,
                           leaky_relu<0.2>, conv<1, 3, 1, 0, true>>;  // 6x6 -> 3x3 -> 1x1
template <class M>
double worst_difference(M& m, const std::vector<double>& grad, const std::function<double()>& loss, double& scale) {
  double worst = 0;
  scale = 0;
  for (index_t i = 0; i < M::n_params; ++i) {
    const double w = m.params[std::size_t(i)];
    m.params[std::size_t(i)] = w + 1e-6;
    const double lp = loss();
    m.params[std::size_t(i)] = w - 1e-6;
    const double lm = loss();
    m.params[std::size_t(i)] = w;
    worst = worse(worst, std::fabs(grad[std::size_t(i)] - (lp - lm) / 2e-6));
    scale = worse(scale, std::fabs(grad[std::size_t(i)]));
  }
  return worst;
}
dataset random_images(dims shape, index_t n, std::uint64_t seed) {
  dataset d;
  d.shape = shape;
  const counter_rng rng{seed, 3};
  for (index_t i = 0; i < n * shape.size(); ++i) d.images.push_back(float(rng.uniform(std::uint64_t(i))));
  d.labels.assign(std::size_t(n), 0);
  return d;
}
}  // namespace

BOOST_AUTO_TEST_CASE(image_gan_gradients_match_central_differences) {
  model<image_gen, double> g(5);
  model<image_disc, double> d(6);
  static_assert(!model<image_gen, double>::flat_output && model<image_gen, double>::out.size() == 72);
  gan::gan_workspace<model<image_gen, double>, model<image_disc, double>> ws;
  const index_t n = 5;
  gan::generator_loss(g, d, ws, 9, 4, n);
  double scale = 0;
  const double worst = worst_difference(g, std::vector<double>(g.grads.begin(), g.grads.end()),
                                        [&] { return gan::generator_loss(g, d, ws, 9, 4, n, false); }, scale);
  BOOST_TEST(scale > 1e-3);
  BOOST_TEST(worst < 1e-7 * std::max(1.0, scale));

  const auto data = random_images({2, 6, 6}, 20, 1);
  const gan::image_source source(data);
  const auto real_f = source.sample(3, 0, n);
  const std::vector<double> real(real_f.begin(), real_f.end());
  gan::discriminator_loss(g, d, ws, real.data(), 9, 5, n);
  const auto d_loss = [&] { return gan::discriminator_loss(g, d, ws, real.data(), 9, 5, n, false); };
  const double worst_d = worst_difference(d, std::vector<double>(d.grads.begin(), d.grads.end()), d_loss, scale);
  BOOST_TEST(scale > 1e-3);
  BOOST_TEST(worst_d < 1e-7 * std::max(1.0, scale));
}

// generate_samples returns (n, c, h, w) row-major: sample i, channel c, pixel p is element
// (i * c_out + c) * h * w + p, where the generator's forward gives (c, n, h, w). With 2 channels and
// 3 samples a layout left as (c, n, h, w), or a transposed plane, puts other pixels there. The
// noise is the one generate_samples draws (gan.hpp: counter_rng{seed, (noise_stream << 32) + 2^31
// + draw}, standard normals (n, c_in, 1, 1)); a change there fails this test too. Eval mode
// (running statistics) and train mode (the batch's).
BOOST_AUTO_TEST_CASE(generated_samples_are_laid_out_per_sample) {
  using G = model<image_gen, double>;
  static_assert(G::out.c == 2 && G::out.h == 6 && G::out.w == 6);
  G g(5);
  for (index_t i = 0; i < G::n_state; ++i) g.state[std::size_t(i)] += 0.3;  // running statistics off 0, 1
  const index_t n = 3, C = G::out.c, P = G::out.plane();
  const std::uint64_t seed = 11, draw = 4;
  std::vector<double> z(std::size_t(n * G::in.size()));  // (n, c_in, 1, 1)
  const counter_rng rng{seed, (gan::noise_stream << 32) + (std::uint64_t(1) << 31) + draw};
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = rng.normal(std::uint64_t(i));
  for (const mode m : {mode::eval, mode::train}) {
    const double* y = g.forward(z.data(), n, m);  // (c, n, h, w)
    const std::vector<double> ref(y, y + n * C * P);
    const auto s = gan::generate_samples(g, seed, draw, n, m);
    BOOST_TEST_REQUIRE(s.size() == std::size_t(n * C * P));
    double worst = 0, spread = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t c = 0; c < C; ++c)
        for (index_t p = 0; p < P; ++p) {
          const double want = ref[std::size_t((c * n + i) * P + p)];
          worst = worse(worst, std::fabs(double(s[std::size_t((i * C + c) * P + p)]) - want));
          spread = worse(spread, std::fabs(want - ref[std::size_t(((C - 1 - c) * n + (n - 1 - i)) * P + p)]));
        }
    BOOST_TEST(worst < 1e-6, (m == mode::eval ? "eval" : "train") << ": worst difference " << worst);
    BOOST_TEST(spread > 1e-2);  // samples and channels differ: a wrong layout cannot pass by chance
  }
}

BOOST_AUTO_TEST_CASE(image_source_scales_and_draws_uniformly) {
  dataset d;
  d.shape = {1, 1, 2};
  d.images = {0.0f, 1.0f, 0.25f, 0.5f, 1.0f, 1.0f};
  d.labels = {0, 1, 2};
  const gan::image_source source(d);
  BOOST_TEST((source.shape() == dims{1, 1, 2}));
  const index_t n = 3000;
  const auto s = source.sample(7, 2, n);
  BOOST_TEST((s == source.sample(7, 2, n)));
  BOOST_TEST((s != source.sample(7, 3, n)));
  std::array<index_t, 3> hits{};
  for (index_t i = 0; i < n; ++i) {
    int which = -1;
    for (int k = 0; k < 3; ++k)
      if (s[std::size_t(2 * i)] == 2 * d.images[std::size_t(2 * k)] - 1 &&
          s[std::size_t(2 * i + 1)] == 2 * d.images[std::size_t(2 * k + 1)] - 1)
        which = k;
    BOOST_TEST_REQUIRE(which >= 0, "sample " << i << " is no image scaled to [-1, 1]");
    ++hits[std::size_t(which)];
  }
  // Binomial(3000, 1/3): standard deviation 25.8; within 5 of them.
  for (index_t h : hits) BOOST_TEST(std::fabs(double(h) - 1000.0) < 5 * 25.8);
  d.images[3] = 1.5f;
  try {
    gan::image_source bad(d);
    BOOST_ERROR("pixels outside [0, 1] were accepted");
  } catch (const basin::error& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("image 1 at value 1") != std::string::npos, m);
    BOOST_TEST(m.find("[0, 1]") != std::string::npos, m);
  }
  BOOST_CHECK_THROW(gan::image_source(dataset{}), basin::error);
}

BOOST_AUTO_TEST_CASE(classifier_score_closed_forms) {
  // The classifier's logits are its input: a dense layer with weight I and bias 0.
  using identity_net = network<input<3, 1, 1>, dense<3>>;
  model<identity_net, double> c;
  std::fill(c.params.begin(), c.params.end(), 0.0);
  for (int k = 0; k < 3; ++k) c.params[std::size_t(4 * k)] = 1.0;  // weight (3, 3) row-major, then bias
  // Certain and balanced: score = K = 3; certain and one class: 1.
  std::vector<float> balanced, one;
  for (int i = 0; i < 30; ++i)
    for (int k = 0; k < 3; ++k) balanced.push_back(k == i % 3 ? 200.0f : 0.0f), one.push_back(k == 0 ? 200.0f : 0.0f);
  const auto b = gan::classifier_score(c, balanced, 7);
  BOOST_TEST(b.score == 3.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(b.classes_covered == 3);
  BOOST_TEST(b.mean_confidence == 1.0, boost::test_tools::tolerance(1e-12));
  const auto o = gan::classifier_score(c, one);
  BOOST_TEST(o.score == 1.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.classes_covered == 1);
  BOOST_TEST(o.per_class[0] == 30);
  // A class counts once chosen for min_share (0.1) of a fair share, n / 3: of 60 samples, 2.
  for (const int rare : {1, 2}) {
    std::vector<float> mix;
    for (int i = 0; i < 60; ++i) {
      const int k = i < rare ? 2 : i % 2;  // `rare` samples of class 2, the rest classes 0 and 1
      for (int j = 0; j < 3; ++j) mix.push_back(j == k ? 200.0f : 0.0f);
    }
    const auto r = gan::classifier_score(c, mix);
    BOOST_TEST(r.per_class[2] == rare);
    BOOST_TEST(r.classes_covered == (rare == 1 ? 2 : 3), "rare = " << rare);
  }
  // Random logits against the formula written out.
  std::vector<float> x;
  const counter_rng rng{1, 1};
  for (int i = 0; i < 3 * 50; ++i) x.push_back(float(2 * rng.normal(std::uint64_t(i))));
  std::vector<std::array<double, 3>> p(50);
  std::array<double, 3> marginal{};
  for (std::size_t i = 0; i < 50; ++i) {
    double z = 0;
    for (std::size_t k = 0; k < 3; ++k) z += std::exp(double(x[3 * i + k]));
    for (std::size_t k = 0; k < 3; ++k) p[i][k] = std::exp(double(x[3 * i + k])) / z, marginal[k] += p[i][k] / 50;
  }
  double kl = 0;
  for (const auto& q : p)
    for (std::size_t k = 0; k < 3; ++k) kl += q[k] * std::log(q[k] / marginal[k]);
  BOOST_TEST(gan::classifier_score(c, x, 16).score == std::exp(kl / 50), boost::test_tools::tolerance(1e-12));
  BOOST_CHECK_THROW(gan::classifier_score(c, {1.0f, 2.0f}), basin::error);
  BOOST_CHECK_THROW(gan::classifier_score(c, x, 0), basin::error);
}

BOOST_AUTO_TEST_CASE(dcgan_training_is_reproducible_and_checks_its_data) {
  using gen_f = model<image_gen, float>;
  using disc_f = model<image_disc, float>;
  const auto data = random_images({2, 6, 6}, 50, 2);
  const gan::image_source source(data);
  const auto run = [&](bool predict, bool poison) {
    gen_f g(1);
    disc_f d(2);
    if (poison) d.params[0] = NAN;
    adam_f og({0.5, 0.999, 1e-8, 0}, g.n_params), od({0.5, 0.999, 1e-8, 0}, d.n_params);
    auto o = quiet_options(6, 8, predict);
    o.stop_when_not_finite = poison;
    const auto lr = [](index_t) { return 2e-3; };
    const auto h = gan::train_gan(g, d, og, od, lr, lr, source, o);
    BOOST_TEST(h.size() == (poison ? 1u : 6u));
    if (poison) BOOST_TEST(!std::isfinite(h.back().d_loss));
    return gan::generate_samples(g, 3, 0, 4, mode::train);
  };
  const auto a = run(true, false), b = run(true, false), c = run(false, false);
  BOOST_TEST(a.size() == 4u * 72u);
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
  for (float v : a) BOOST_TEST((v >= -1 && v <= 1));  // tanh
  run(true, true);  // a collapse is a result: the records up to it come back
  // The data must have the discriminator's input shape; without stop_when_not_finite NaN throws.
  gen_f g(1);
  disc_f d(2);
  adam_f og({0.5, 0.999, 1e-8, 0}, g.n_params), od({0.5, 0.999, 1e-8, 0}, d.n_params);
  const auto other = random_images({1, 6, 6}, 5, 1);
  const auto o = quiet_options(1, 2, false);
  const auto lr = [](index_t) { return 1e-3; };
  try {
    gan::train_gan(g, d, og, od, lr, lr, gan::image_source(other), o);
    BOOST_ERROR("a data set of the wrong shape was accepted");
  } catch (const basin::error& e) {
    BOOST_TEST(std::string(e.what()).find("1x6x6 but the discriminator takes 2x6x6") != std::string::npos, e.what());
  }
  // A source of its own that gives too few values, optimizers made for the other net.
  struct short_source {
    dims shape() const { return {2, 6, 6}; }
    std::vector<float> sample(std::uint64_t, std::uint64_t, index_t n) const {
      return std::vector<float>(std::size_t(n * 72 - 1), 0.0f);
    }
  };
  const auto says = [](const std::string& part) {
    return [part](const basin::error& e) { return std::string(e.what()).find(part) != std::string::npos; };
  };
  const std::vector<float> g_before(g.params.begin(), g.params.end());
  BOOST_CHECK_EXCEPTION(gan::train_gan(g, d, og, od, lr, lr, short_source{}, o), basin::error,
                        says("train_gan: the data source gave 143 values at step 1, expected 2 samples x 72"));
  BOOST_TEST((std::vector<float>(g.params.begin(), g.params.end()) == g_before));  // refused before G's step
  BOOST_TEST(og.steps() == 0);
  BOOST_CHECK_EXCEPTION(gan::train_gan(g, d, od, og, lr, lr, source, o), basin::error,
                        says("train_gan: the generator's optimizer was made for "));
  // A NaN in the discriminator: refused naming the step, before either net moves (the
  // generator's loss goes through the discriminator).
  d.params[0] = NAN;
  BOOST_CHECK_EXCEPTION(gan::train_gan(g, d, og, od, lr, lr, source, o), basin::error,
                        says("train_gan: the generator's loss is not finite at step 1"));
  BOOST_TEST((std::vector<float>(g.params.begin(), g.params.end()) == g_before));
  // Real samples that are not finite are the data's fault: refused by sample and step, whether
  // or not a collapse would stop the run. A source that poisons only its real samples, with
  // prediction: the generator is left at its stepped weights, never at the predicted ones.
  struct nan_source {
    dims shape() const { return {2, 6, 6}; }
    std::vector<float> sample(std::uint64_t, std::uint64_t step, index_t n) const {
      std::vector<float> v(std::size_t(n * 72), 0.25f);
      if (step == 1) v[80] = NAN;
      return v;
    }
  };
  disc_f d2(2);
  adam_f og2({0.5, 0.999, 1e-8, 0}, g.n_params), od2({0.5, 0.999, 1e-8, 0}, d2.n_params);
  auto po = quiet_options(3, 2, true);
  po.stop_when_not_finite = true;
  BOOST_CHECK_EXCEPTION(gan::train_gan(g, d2, og2, od2, lr, lr, nan_source{}, po), basin::error,
                        says("train_gan: the data source's sample 1 at step 2 holds nan, expected finite values"));
  BOOST_TEST(og2.steps() == 1);  // step 1 done, step 2 refused before the generator moved
}

// A DCGAN run whose nets and Adam states are written as training checkpoints from on_step after
// step 3 of 7, resumed in fresh models (first_step), takes the same steps with the same losses and
// ends in the same bits as the run that never stopped; resuming without the optimizers' states
// ends elsewhere.
BOOST_AUTO_TEST_CASE(dcgan_training_resumes_in_the_same_bits) {
  using gen_f = model<image_gen, float>;
  using disc_f = model<image_disc, float>;
  const auto data = random_images({2, 6, 6}, 50, 3);
  const gan::image_source source(data);
  const auto lr = [](index_t) { return 2e-3; };
  const auto values = [](const auto& m) {
    std::vector<float> v(m.params.begin(), m.params.end());
    v.insert(v.end(), m.state.begin(), m.state.end());
    return v;
  };
  const auto dir = std::filesystem::temp_directory_path() / ("basin_gan_resume_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto gf = (dir / "g.h5").string(), df = (dir / "d.h5").string();
  for (const bool predict : {false, true}) {
    // The uninterrupted run, writing its state from on_step after step 3 as 10_dcgan does, with
    // the records as they come.
    gen_f g(1);
    disc_f d(2);
    adam_f og({0.5, 0.999, 1e-8, 0}, g.n_params), od({0.5, 0.999, 1e-8, 0}, d.n_params);
    std::vector<gan::gan_record> recs;
    const auto full = gan::train_gan(
        g, d, og, od, lr, lr, source, quiet_options(7, 8, predict),
        [&](index_t s) {
          BOOST_TEST(recs.size() == std::size_t(s));  // the step's record is in before on_step
          if (s != 3) return;
          save_training_checkpoint(g, og, gf, -1, 3);
          save_training_checkpoint(d, od, df, -1, 3);
        },
        &recs);
    BOOST_TEST(full.size() == 7u);
    BOOST_TEST(recs.size() == 7u);
    const auto resume = [&](bool with_optimizers) {
      gen_f g2(5);
      disc_f d2(6);
      adam_f og2({0.5, 0.999, 1e-8, 0}, g.n_params), od2({0.5, 0.999, 1e-8, 0}, d.n_params);
      if (with_optimizers) {
        load_training_checkpoint(g2, og2, gf);
        load_training_checkpoint(d2, od2, df);
      } else {
        load_checkpoint(g2, gf);
        load_checkpoint(d2, df);
      }
      auto o = quiet_options(7, 8, predict);
      o.first_step = 3;
      const auto h = gan::train_gan(g2, d2, og2, od2, lr, lr, source, o);
      BOOST_TEST_REQUIRE(h.size() == 4u);
      BOOST_TEST(h.front().step == 4);
      if (with_optimizers)
        for (std::size_t i = 0; i < 4; ++i) {  // the resumed steps' losses are the uninterrupted run's
          BOOST_TEST(h[i].d_loss == recs[3 + i].d_loss);
          BOOST_TEST(h[i].g_loss == recs[3 + i].g_loss);
        }
      auto v = values(g2), w = values(d2);
      v.insert(v.end(), w.begin(), w.end());
      return v;
    };
    auto want = values(g), w = values(d);
    want.insert(want.end(), w.begin(), w.end());
    const auto exact = resume(true), without = resume(false);
    std::size_t differ = 0, differ_without = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      differ += std::memcmp(&want[i], &exact[i], sizeof(float)) != 0;
      differ_without += std::memcmp(&want[i], &without[i], sizeof(float)) != 0;
    }
    BOOST_TEST(differ == 0u, (predict ? "prediction: " : "alternating: ") << differ << " values differ");
    BOOST_TEST(differ_without > want.size() / 2);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  gen_f g(1);
  disc_f d(2);
  adam_f og({0.5, 0.999, 1e-8, 0}, g.n_params), od({0.5, 0.999, 1e-8, 0}, d.n_params);
  auto o = quiet_options(3, 8, false);
  o.first_step = 4;
  BOOST_CHECK_THROW(gan::train_gan(g, d, og, od, lr, lr, source, o), basin::error);
}

BOOST_AUTO_TEST_CASE(dcgan_initialization) {
  model<image_gen, double> g(1);
  gan::dcgan_init(g, 3);
  std::vector<double> w, gamma;
  for (const auto& t : decltype(g)::param_table)
    for (index_t i = 0; i < t.size(); ++i) {
      const double v = g.params[std::size_t(t.offset + i)];
      if (t.kind == param_kind::weight) w.push_back(v);
      else if (t.kind == param_kind::bn_weight) gamma.push_back(v);
      else BOOST_TEST(v == 0.0);
    }
  // N(0, 0.02) over 3*4*9 + 4*2*16 = 236 weights: the mean within 4 standard errors of 0, the
  // standard deviation within 20% (its relative standard error is 1/sqrt(2 * 236) = 4.6%).
  double mean = 0, sq = 0;
  for (double v : w) mean += v / double(w.size());
  for (double v : w) sq += (v - mean) * (v - mean) / double(w.size() - 1);
  BOOST_TEST(w.size() == 236u);
  BOOST_TEST(std::fabs(mean) < 4 * 0.02 / std::sqrt(236.0));
  BOOST_TEST(std::fabs(std::sqrt(sq) / 0.02 - 1) < 0.2);
  for (double v : gamma) BOOST_TEST(std::fabs(v - 1) < 0.1);  // 5 standard deviations
  model<image_gen, double> h(2);
  gan::dcgan_init(h, 3);
  BOOST_TEST((std::vector<double>(g.params.begin(), g.params.end()) ==
              std::vector<double>(h.params.begin(), h.params.end())));
}

BOOST_AUTO_TEST_CASE(frechet_distance_closed_forms) {
  // Covariances with the same eigenvectors: tr((C1 C2)^(1/2)) = sum sqrt(a_k b_k), so the distance
  // is |m1 - m2|^2 + sum (sqrt(a_k) - sqrt(b_k))^2.
  const int d = 3;
  const double c = std::cos(0.4), s = std::sin(0.4);
  const double R[3][3] = {{c, -s, 0}, {s, c, 0}, {0, 0, 1}};
  const auto make = [&](std::array<double, 3> ev, std::array<double, 3> mean) {
    gan::gaussian_moments m{d, 100, std::vector<double>(mean.begin(), mean.end()), std::vector<double>(9)};
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j)
        for (int k = 0; k < d; ++k) m.cov[std::size_t(i * d + j)] += R[i][k] * ev[std::size_t(k)] * R[j][k];
    return m;
  };
  const auto a = make({4.0, 1.0, 0.25}, {1, 2, 3}), b = make({1.0, 9.0, 0.0}, {0, 2, 5});
  const double expect = 1 + 0 + 4 + std::pow(2.0 - 1, 2) + std::pow(1.0 - 3, 2) + std::pow(0.5 - 0, 2);
  BOOST_TEST(gan::frechet_distance(a, b) == expect, boost::test_tools::tolerance(1e-10));
  BOOST_TEST(gan::frechet_distance(b, a) == expect, boost::test_tools::tolerance(1e-10));
  BOOST_TEST(std::abs(gan::frechet_distance(a, a)) < 1e-10);
  // Covariances that do not commute: against the eigenvalues of C1 C2 (real, non-negative).
  auto e = make({2.0, 0.5, 1.0}, {0, 0, 0});
  e.cov[2] = e.cov[6] = 0.3;
  const Eigen::Map<const Eigen::Matrix3d> A(a.cov.data()), E(e.cov.data());
  const Eigen::EigenSolver<Eigen::Matrix3d> prod(A * E);
  double cross = 0;
  for (int k = 0; k < 3; ++k) cross += std::sqrt(prod.eigenvalues()(k).real());
  BOOST_TEST(gan::frechet_distance(a, e) == 14 + A.trace() + E.trace() - 2 * cross, boost::test_tools::tolerance(1e-9));
  BOOST_CHECK_THROW(gan::frechet_distance(a, gan::gaussian_moments{2, 10, {0, 0}, {1, 0, 0, 1}}), basin::error);
  // Moments that are not finite (a diverged generator's features) give NaN, never 0, the score
  // of a perfect match; malformed ones are refused.
  auto bad = a;
  bad.mean[1] = NAN;
  BOOST_TEST(std::isnan(gan::frechet_distance(a, bad)));
  BOOST_TEST(std::isnan(gan::frechet_distance(bad, bad)));
  bad = a;
  bad.cov[4] = INFINITY;
  BOOST_TEST(std::isnan(gan::frechet_distance(bad, a)));
  const auto says = [](const std::string& part) {
    return [part](const basin::error& e) { return std::string(e.what()).find(part) != std::string::npos; };
  };
  BOOST_CHECK_EXCEPTION(gan::frechet_distance(a, gan::gaussian_moments{3, 0, {0, 0, 0}, a.cov}), basin::error,
                        says("moments of 100 and 0 samples, expected at least 2 each"));
  auto neg = a;
  neg.cov[0] = -4;
  BOOST_CHECK_EXCEPTION(gan::frechet_distance(a, neg), basin::error,
                        says("the second covariance has the variance -4 at 0, expected >= 0"));
  auto skew = a;
  skew.cov[1] += 0.5;
  BOOST_CHECK_EXCEPTION(gan::frechet_distance(skew, a), basin::error, says("the first covariance is not symmetric"));
  // Moments of samples laid out as a model's output (feature k of sample i at k n + i).
  const std::vector<double> f{1, 2, 3, 6,   // feature 0 of samples 0..3
                              0, 0, 1, 3};  // feature 1
  const auto m = gan::moments_of(f, 2, 4);
  BOOST_TEST(m.mean[0] == 3.0);
  BOOST_TEST(m.mean[1] == 1.0);
  BOOST_TEST(m.cov[0] == 14.0 / 3, boost::test_tools::tolerance(1e-12));  // (4 + 1 + 0 + 9) / 3
  BOOST_TEST(m.cov[1] == 3.0, boost::test_tools::tolerance(1e-12));       // (2 + 1 + 0 + 6) / 3
  BOOST_TEST(m.cov[1] == m.cov[2]);
  BOOST_TEST(m.cov[3] == 2.0, boost::test_tools::tolerance(1e-12));  // (1 + 1 + 0 + 4) / 3
  BOOST_CHECK_THROW(gan::moments_of(f, 3, 4), basin::error);
}

BOOST_AUTO_TEST_CASE(feature_models_share_a_classifiers_first_layers) {
  using classifier = network<input<1, 6, 6>, named<"conv1", conv<4, 3>>, named<"bn1", batch_norm>, relu, max_pool<2>,
                             flatten, named<"fc", dense<3>>>;
  using features =
      network<input<1, 6, 6>, named<"conv1", conv<4, 3>>, named<"bn1", batch_norm>, relu, max_pool<2>, global_avg_pool>;
  using other = network<input<1, 6, 6>, named<"conv1", conv<5, 3>>, named<"bn1", batch_norm>, relu, global_avg_pool>;
  model<classifier, double> c(3);
  for (index_t i = 0; i < c.n_params; ++i) c.params[std::size_t(i)] += 0.1 * double(i % 7);
  for (index_t i = 0; i < c.n_state; ++i) c.state[std::size_t(i)] = 0.5 + 0.01 * double(i);
  model<features, double> f(9);
  gan::copy_prefix(f, c);
  for (index_t i = 0; i < f.n_params; ++i) BOOST_TEST(f.params[std::size_t(i)] == c.params[std::size_t(i)]);
  for (index_t i = 0; i < f.n_state; ++i) BOOST_TEST(f.state[std::size_t(i)] == c.state[std::size_t(i)]);
  model<other, double> o(1);
  BOOST_CHECK_EXCEPTION(gan::copy_prefix(o, c), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("conv1.weight") != std::string::npos;
  });
  // feature_moments: the features' mean is the mean of f's outputs image by image.
  const counter_rng rng{5, 5};
  std::vector<float> images(36 * 7);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = float(rng.normal(i));
  const auto mom = gan::feature_moments(f, images, 3);  // batches of 3, 3, 1
  BOOST_TEST(mom.count == 7);
  BOOST_TEST(mom.dim == 4);
  std::vector<double> x(images.begin(), images.end());
  const double* y = f.infer(x.data(), 7);
  for (int k = 0; k < 4; ++k) {
    double mean = 0;
    for (int i = 0; i < 7; ++i) mean += y[k * 7 + i] / 7;
    BOOST_TEST(mom.mean[std::size_t(k)] == mean, boost::test_tools::tolerance(1e-12));
  }
  BOOST_CHECK_THROW(gan::feature_moments(f, std::vector<float>(36), 3), basin::error);  // one image: no covariance
}
