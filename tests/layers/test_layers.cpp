// Gradient checks (finite differences, double) for every layer, both batch-norm modes,
// batches larger than one; plus forward results against hand-computed values.
#define BOOST_TEST_MODULE layers
#include <boost/test/unit_test.hpp>

#include "basin/layers/activation.hpp"
#include "basin/layers/batch_norm.hpp"
#include "basin/layers/concat.hpp"
#include "basin/layers/conv.hpp"
#include "basin/layers/dense.hpp"
#include "basin/layers/loss.hpp"
#include "basin/layers/pool.hpp"
#include "basin/layers/residual.hpp"
#include "basin/layers/transposed_conv.hpp"
#include "gradcheck.hpp"

using namespace basin;
using basin::test::check_layer;
using host = backend::host;

BOOST_AUTO_TEST_SUITE(gradients)

BOOST_AUTO_TEST_CASE(dense_layer) {
  check_layer<dense<5>, dims{7, 1, 1}>(4, mode::train);
  check_layer<dense<3, false>, dims{6, 1, 1}>(3, mode::train);
}
BOOST_AUTO_TEST_CASE(conv_layer) {
  check_layer<conv<4, 3>, dims{3, 6, 5}>(3, mode::train);                 // same padding
  check_layer<conv<3, 3, 2, 1, true>, dims{2, 7, 6}>(2, mode::train);      // stride 2, bias
  check_layer<conv<2, 2, 1, 0>, dims{3, 5, 5}>(2, mode::train);            // even kernel, no pad
  check_layer<conv<5, 1, 1, 0, true>, dims{3, 4, 4}>(3, mode::train);      // direct 1x1
  check_layer<conv<4, 1, 2, 0>, dims{3, 6, 6}>(2, mode::train);            // strided 1x1 (projection)
  check_layer<conv<2, 5, 3, 2>, dims{2, 9, 8}>(2, mode::train);            // large kernel, stride 3
  check_layer<conv<3, 5>, dims{2, 3, 1}>(3, mode::train);                  // kernel past both sides of a 1-wide image
  check_layer<conv<2, 7, 2, 3>, dims{2, 1, 2}>(2, mode::train);
}
BOOST_AUTO_TEST_CASE(conv_input_gradient_by_winograd) {
  // Input channels in fours: the host's gradients by Winograd (winograd_gradients_match_im2col
  // compares them with im2col on larger shapes, where central differences lose digits).
  check_layer<conv<4, 3>, dims{4, 6, 5}>(3, mode::train);
  check_layer<conv<8, 3, 1, 1, true>, dims{8, 5, 6}>(2, mode::train);
}
BOOST_AUTO_TEST_CASE(conv_split_into_tasks) {
  // 2x24x24 input, 5x5 kernel: 50 x 576 columns per image, so tasks of 2 images; a batch of 35
  // runs as 18 tasks whose weight gradients are summed into 16 partials (so some partial sums two
  // tasks' parts), then into one. Every 401st input is checked, with a step of 1e-3: the conv is
  // linear in x and in w, so central differences are exact up to rounding at any step (at 1e-5
  // the rounding of L, a sum of 10^4 terms, reached 5e-6 of a small gradient in a like case).
  using impl = conv<2, 5, 1, 2>::bind<dims{2, 24, 24}, double, host>;
  impl probe;
  probe.reserve(35);
  BOOST_TEST(probe.group == 2);
  BOOST_TEST_REQUIRE(probe.weight_parts(35) < (35 + probe.group - 1) / probe.group);
  const auto r = basin::test::gradcheck<impl>(35, mode::train, 7, 1e-3, 401);
  BOOST_TEST(r.max_rel_dx < 1e-6);
  BOOST_TEST(r.max_rel_dw < 1e-6);
}
BOOST_AUTO_TEST_CASE(batch_norm_train_mode) { check_layer<batch_norm, dims{3, 4, 5}>(4, mode::train); }
BOOST_AUTO_TEST_CASE(batch_norm_eval_mode) { check_layer<batch_norm, dims{3, 4, 5}>(4, mode::eval); }
BOOST_AUTO_TEST_CASE(batch_norm_flat_input) { check_layer<batch_norm, dims{6, 1, 1}>(5, mode::train); }
BOOST_AUTO_TEST_CASE(relu_layer) { check_layer<relu, dims{3, 4, 4}>(3, mode::train); }
BOOST_AUTO_TEST_CASE(leaky_relu_layer) {
  // Piecewise linear, so the central differences are exact but for the rounding of the summed
  // loss (~1e-10 absolute), which an element with a small cotangent times 0.2 feels at ~2e-6.
  check_layer<leaky_relu<0.2>, dims{3, 4, 4}>(3, mode::train, 1e-5);
  check_layer<leaky_relu<>, dims{2, 3, 1}>(2, mode::train, 1e-5);
}
BOOST_AUTO_TEST_CASE(tanh_layer_gradient) { check_layer<tanh_layer, dims{3, 4, 4}>(3, mode::train); }
BOOST_AUTO_TEST_CASE(sigmoid_layer_gradient) { check_layer<sigmoid, dims{5, 1, 1}>(4, mode::train); }
BOOST_AUTO_TEST_CASE(transposed_convs) {
  // DCGAN's shapes: 1x1 -> 4x4 (K 4, stride 1, pad 0), doubling (K 4, stride 2, pad 1); odd
  // kernels, a bias, a 3x3 stride-1 one whose conv runs by Winograd (channels in fours).
  check_layer<transposed_conv<3, 4, 1, 0>, dims{4, 1, 1}>(3, mode::train);
  check_layer<transposed_conv<2, 4, 2, 1, false>, dims{3, 3, 4}>(2, mode::train);
  check_layer<transposed_conv<3, 3, 2, 0>, dims{2, 3, 3}>(2, mode::train);
  check_layer<transposed_conv<4, 3, 1, 1>, dims{4, 5, 5}>(2, mode::train);
  check_layer<transposed_conv<2, 1, 1, 0>, dims{3, 4, 4}>(3, mode::train);  // 1x1: one GEMM
}
BOOST_AUTO_TEST_CASE(pools) {
  check_layer<max_pool<2>, dims{2, 6, 6}>(3, mode::train);
  check_layer<max_pool<3, 2>, dims{2, 7, 7}>(2, mode::train);  // overlapping windows
  // ceil rounding: the last window of each row and column clipped at the border
  check_layer<max_pool<2, 2, pool_rounding::ceil>, dims{2, 7, 5}>(3, mode::train);
  check_layer<max_pool<3, 2, pool_rounding::ceil>, dims{2, 8, 6}>(2, mode::train);
  check_layer<avg_pool<2>, dims{2, 6, 4}>(3, mode::train);
  check_layer<avg_pool<3, 2>, dims{2, 7, 7}>(2, mode::train);
  check_layer<global_avg_pool, dims{3, 5, 4}>(3, mode::train);
}
BOOST_AUTO_TEST_CASE(flatten_layer) { check_layer<flatten, dims{3, 2, 4}>(3, mode::train); }
BOOST_AUTO_TEST_CASE(residual_blocks) {
  using branch_same = residual<conv<3, 3>, batch_norm, relu, conv<3, 3>>;
  check_layer<branch_same, dims{3, 5, 5}>(3, mode::train);
  check_layer<residual_identity<conv<3, 3>, relu>, dims{3, 4, 4}>(2, mode::train);
  using branch_down = residual<conv<4, 3, 2, 1>, batch_norm, relu, conv<4, 3>, batch_norm>;  // projection
  check_layer<branch_down, dims{2, 6, 6}>(3, mode::train);
  check_layer<branch_down, dims{2, 6, 6}>(3, mode::eval);
  // An odd size: 7 -> 4 at stride 2 (a 4-stage ResNet on 28 x 28 images), the 1x1 projection at stride 2 too.
  static_assert(branch_down::bind<dims{2, 7, 7}, double, backend::host>::out == dims{4, 4, 4});
  static_assert(branch_down::bind<dims{2, 7, 7}, double, backend::host>::stride == 2);
  check_layer<branch_down, dims{2, 7, 7}>(3, mode::train);
  check_layer<no_shortcut<conv<4, 3, 2, 1>, batch_norm>, dims{2, 6, 6}>(3, mode::train);
  using block = residual_block<shortcut::automatic, relu, conv<3, 3>, batch_norm>;  // relu after the sum
  check_layer<block, dims{3, 4, 4}>(3, mode::train);
  check_layer<residual_block<shortcut::none, relu, conv<3, 3>, batch_norm>, dims{3, 4, 4}>(3, mode::eval);
}
BOOST_AUTO_TEST_CASE(concat_blocks) {
  // DenseNet layers: the branch's features in front of the input, dL/dx through both paths.
  check_layer<concat<batch_norm, relu, conv<3, 3>>, dims{2, 5, 5}>(3, mode::train);
  check_layer<concat<conv<2, 1, 1, 0>>, dims{3, 4, 4}>(2, mode::eval);
  check_layer<sequential<concat<conv<2, 3>>, concat<batch_norm, relu, conv<2, 3>>, avg_pool<2>>, dims{2, 6, 6}>(
      2, mode::train);
}
BOOST_AUTO_TEST_CASE(transposed_conv_matches_direct_sum) {
  // y[o, oy, ox] = b[o] + sum over c, iy, ix, ky, kx with oy = iy S - P + ky, ox = ix S - P + kx
  // of x[c, iy, ix] w[c, o, ky, kx] (PyTorch's ConvTranspose2d, weights (in, out, K, K)).
  constexpr int C = 3, O = 2, K = 4, S = 2, P = 1;
  constexpr dims in{C, 3, 4};
  using impl = transposed_conv<O, K, S, P>::bind<in, double, host>;
  static_assert(impl::out == dims{O, 6, 8});
  impl l;
  const index_t n = 2;
  l.reserve(n);
  std::vector<double> w(impl::n_params), x(n * in.size()), y(n * impl::out.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(1.7 * double(i) + 0.3);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.9 * double(i));
  l.forward(w.data(), nullptr, x.data(), y.data(), n, mode::train);
  constexpr dims out = impl::out;
  for (int o = 0; o < O; ++o)
    for (index_t img = 0; img < n; ++img)
      for (int oy = 0; oy < out.h; ++oy)
        for (int ox = 0; ox < out.w; ++ox) {
          double v = w[C * O * K * K + o];
          for (int c = 0; c < C; ++c)
            for (int iy = 0; iy < in.h; ++iy)
              for (int ix = 0; ix < in.w; ++ix) {
                const int ky = oy - iy * S + P, kx = ox - ix * S + P;
                if (ky < 0 || ky >= K || kx < 0 || kx >= K) continue;
                v += x[((c * n + img) * in.h + iy) * in.w + ix] * w[((c * O + o) * K + ky) * K + kx];
              }
          BOOST_TEST(y[((o * n + img) * out.h + oy) * out.w + ox] == v, boost::test_tools::tolerance(1e-12));
        }
}
BOOST_AUTO_TEST_CASE(sigmoid_and_tanh_values) {
  using sg = sigmoid::bind<dims{5, 1, 1}, double, host>;
  using th = tanh_layer::bind<dims{5, 1, 1}, double, host>;
  using lr = leaky_relu<0.2>::bind<dims{5, 1, 1}, double, host>;
  const std::vector<double> x{-800, -2, 0, 3, 800};
  std::vector<double> y(5);
  sg{}.forward(nullptr, nullptr, x.data(), y.data(), 1, mode::eval);
  for (int i = 0; i < 5; ++i) BOOST_TEST(y[i] == 1 / (1 + std::exp(-x[i])), boost::test_tools::tolerance(1e-15));
  BOOST_TEST(y[0] == 0.0);  // no overflow to NaN at either end
  BOOST_TEST(y[4] == 1.0);
  th{}.forward(nullptr, nullptr, x.data(), y.data(), 1, mode::eval);
  for (int i = 0; i < 5; ++i) BOOST_TEST(y[i] == std::tanh(x[i]));
  lr{}.forward(nullptr, nullptr, x.data(), y.data(), 1, mode::eval);
  for (int i = 0; i < 5; ++i) BOOST_TEST(y[i] == (x[i] > 0 ? x[i] : 0.2 * x[i]));
}
BOOST_AUTO_TEST_CASE(concat_puts_the_branch_first) {
  // y = cat(branch(x), x) over channels, as torch.cat([out, x], 1): 2 branch channels, then x.
  using impl = concat<conv<2, 1, 1, 0, true>>::bind<dims{3, 2, 2}, double, host>;
  static_assert(impl::out == dims{5, 2, 2});
  impl l;
  const index_t n = 2;
  l.reserve(n);
  std::vector<double> w(impl::n_params), x(n * 12), y(n * 20);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.1 * double(i + 1);  // (2, 3) weights, then 2 biases
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = double(i) - 7;
  l.forward(w.data(), nullptr, x.data(), y.data(), n, mode::train);
  for (int o = 0; o < 2; ++o)
    for (index_t img = 0; img < n; ++img)
      for (int p = 0; p < 4; ++p) {
        double v = w[6 + o];
        for (int c = 0; c < 3; ++c) v += w[o * 3 + c] * x[(c * n + img) * 4 + p];
        BOOST_TEST(y[(o * n + img) * 4 + p] == v, boost::test_tools::tolerance(1e-12));
      }
  for (std::size_t i = 0; i < x.size(); ++i) BOOST_TEST(y[2 * n * 4 + i] == x[i]);
}
BOOST_AUTO_TEST_CASE(sequential_with_repeat) {
  check_layer<sequential<conv<2, 3>, batch_norm, relu, repeat<2, conv<2, 3>, relu>, global_avg_pool, dense<3>>,
              dims{2, 5, 5}>(3, mode::train);
}

// classes x n logits, normal with standard deviation scale.
std::vector<double> random_logits(int classes, index_t n, std::uint64_t seed, double scale) {
  std::vector<double> z(std::size_t(classes * n));
  const counter_rng rng{seed, seed};
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = scale * rng.normal(i);
  return z;
}

// dL/dz of a classification loss against central differences of its value, every logit.
template <class Loss>
void check_loss_gradient(Loss& loss, std::vector<double> z, const std::vector<std::int32_t>& labels, int classes,
                         const std::vector<double>& g) {
  const index_t n = index_t(labels.size());
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double keep = z[i], h = 1e-6;
    z[i] = keep + h;
    const double lp = loss(z.data(), labels.data(), classes, n, false).loss;
    z[i] = keep - h;
    const double lm = loss(z.data(), labels.data(), classes, n, false).loss;
    z[i] = keep;
    BOOST_TEST(basin::test::rel_err((lp - lm) / (2 * h), g[i]) < 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_gradient) {
  const int K = 4;
  const index_t n = 3;
  const auto z = random_logits(K, n, 3, 2.0);
  const std::vector<std::int32_t> labels{2, 0, 3};
  softmax_cross_entropy<double, host> ce;
  const auto r = ce(z.data(), labels.data(), K, n, true);
  const std::vector<double> g(ce.grad.begin(), ce.grad.end());
  // closed form for the loss
  double expect = 0;
  for (index_t i = 0; i < n; ++i) {
    double s = 0;
    for (int k = 0; k < K; ++k) s += std::exp(z[k * n + i]);
    expect += std::log(s) - z[labels[i] * n + i];
  }
  BOOST_TEST(r.loss == expect / n, boost::test_tools::tolerance(1e-12));
  check_loss_gradient(ce, z, labels, K, g);
  const std::vector<std::int32_t> bad{2, 7, 0};
  BOOST_CHECK_EXCEPTION(ce(z.data(), bad.data(), K, n, false), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find(
               "softmax_cross_entropy: 1 of 3 labels lie outside [0, 4), the first is image 1 "
               "of the batch, label 7") != std::string::npos;
  });
  // Logits that are not finite: a NaN loss for that sample, counted wrong; thrown unless allowed,
  // while a bad label throws either way.
  for (const double v : {double(NAN), double(INFINITY)}) {
    auto w = z;
    w[labels[1] * n + 1] = v;  // sample 1's label logit
    BOOST_CHECK_EXCEPTION(ce(w.data(), labels.data(), K, n, false), basin::error, [](const basin::error& e) {
      return std::string(e.what()).find("softmax_cross_entropy: the loss is NaN (non-finite logits)") !=
             std::string::npos;
    });
    ce.allow_not_finite = true;
    const auto nan_loss = ce(w.data(), labels.data(), K, n, true);
    BOOST_TEST(std::isnan(nan_loss.loss));
    auto right = z;
    right[labels[1] * n + 1] = 1e3;  // the same sample, finite and right
    BOOST_TEST(nan_loss.correct == ce(right.data(), labels.data(), K, n, false).correct - 1);
    BOOST_CHECK_THROW(ce(w.data(), bad.data(), K, n, false), basin::error);
    ce.allow_not_finite = false;
  }
  auto only_label = z;  // only the label's logit at -inf: that sample's loss is +inf, not NaN
  only_label[labels[0] * n + 0] = -INFINITY;
  BOOST_CHECK_EXCEPTION(ce(only_label.data(), labels.data(), K, n, false), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("softmax_cross_entropy: the loss is infinite") != std::string::npos;
  });
  ce.allow_not_finite = true;
  BOOST_TEST(ce(only_label.data(), labels.data(), K, n, false).loss == INFINITY);
  auto other = z;  // another logit at -inf: a probability of 0, the loss finite and exact
  other[((labels[0] + 1) % K) * n + 0] = -INFINITY;
  double expect_other = 0;
  for (index_t i = 0; i < n; ++i) {
    double s = 0;
    for (int k = 0; k < K; ++k) s += std::exp(other[k * n + i]);
    expect_other += std::log(s) - other[labels[i] * n + i];
  }
  BOOST_TEST(ce(other.data(), labels.data(), K, n, false).loss == expect_other / n,
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(softmax_mse_gradient) {
  // L = mean_i (1/K) sum_k (softmax(z_i)_k - onehot_k)^2 (MSELoss of the softmax, mean over
  // n x K elements); logits large enough that some softmax entries are near 0 and 1.
  const int K = 5;
  const index_t n = 4;
  const auto z = random_logits(K, n, 4, 3.0);
  const std::vector<std::int32_t> labels{1, 4, 0, 4};
  softmax_mse<double, host> mse;
  BOOST_TEST((mse.kind == criterion::mse));
  const auto r = mse(z.data(), labels.data(), K, n, true);
  const std::vector<double> g(mse.grad.begin(), mse.grad.end());
  double expect = 0;
  index_t correct = 0;
  for (index_t i = 0; i < n; ++i) {
    double s = 0;
    int arg = 0;
    for (int k = 0; k < K; ++k) {
      s += std::exp(z[k * n + i]);
      if (z[k * n + i] > z[arg * n + i]) arg = k;
    }
    for (int k = 0; k < K; ++k) {
      const double d = std::exp(z[k * n + i]) / s - (k == labels[i] ? 1 : 0);
      expect += d * d / (K * n);
    }
    correct += arg == labels[i];
  }
  BOOST_TEST(r.loss == expect, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r.correct == correct);
  check_loss_gradient(mse, z, labels, K, g);
  const std::vector<std::int32_t> bad{2, 7, 0, 1};
  BOOST_CHECK_THROW(mse(z.data(), bad.data(), K, n, false), basin::error);
  auto w = z;  // a NaN logit: that sample's squared error is NaN, thrown unless allowed
  w[2 * n + 1] = NAN;
  BOOST_CHECK_EXCEPTION(mse(w.data(), labels.data(), K, n, false), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("softmax_mse: the loss is NaN (non-finite logits)") != std::string::npos;
  });
  mse.allow_not_finite = true;
  BOOST_TEST(std::isnan(mse(w.data(), labels.data(), K, n, false).loss));
  BOOST_TEST((criterion_from_name("mse") == criterion::mse));
  BOOST_TEST((criterion_from_name("crossentropy") == criterion::cross_entropy));
  BOOST_CHECK_EXCEPTION(criterion_from_name("l2", "--loss_name"), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("--loss_name: expected 'crossentropy' or 'mse', got 'l2'") != std::string::npos;
  });
}

// A 3x3, stride-1, padding-1 conv runs by Winograd F(4x4, 3x3): it must equal the direct sum
// (double: to rounding), with tiles overhanging the image's edge, a bias, and the inference
// epilogue (scale, shift, relu); float within 1e-5 of the im2col + GEMM path.
template <int Out, dims In, bool Bias>
void winograd_case(index_t n) {
  using impl = typename conv<Out, 3, 1, 1, Bias>::template bind<In, double, host>;
  static_assert(impl::winograd_shape);
  impl c;
  c.reserve(n);
  std::vector<double> w(impl::n_params), x(std::size_t(n * In.size())), y(std::size_t(n * impl::out.size()));
  std::vector<double> scale(Out), shift(Out), z(y.size());
  const counter_rng rng{2, 2};
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = rng.normal(i);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(1000 + i);
  for (int i = 0; i < Out; ++i) scale[i] = rng.normal(50000 + i), shift[i] = rng.normal(60000 + i);
  c.forward(w.data(), nullptr, x.data(), y.data(), n, mode::eval);
  c.forward_affine(w.data(), x.data(), z.data(), n, scale.data(), shift.data(), true);
  std::vector<double> res(y.size()), zr(y.size()), zs(y.size());  // a residual sum in the epilogue
  for (std::size_t i = 0; i < res.size(); ++i) res[i] = rng.normal(90000 + i);
  c.forward_affine(w.data(), x.data(), zr.data(), n, scale.data(), shift.data(), true, res.data());
  c.forward_affine(w.data(), x.data(), zs.data(), n, nullptr, nullptr, false, res.data());
  double worst = 0, worst_affine = 0, worst_res = 0;
  for (int co = 0; co < Out; ++co)
    for (index_t b = 0; b < n; ++b)
      for (int oy = 0; oy < In.h; ++oy)
        for (int ox = 0; ox < In.w; ++ox) {
          double acc = Bias ? w[std::size_t(Out * In.c * 9 + co)] : 0.0;
          for (int ci = 0; ci < In.c; ++ci)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int iy = oy - 1 + ky, ix = ox - 1 + kx;
                if (iy < 0 || iy >= In.h || ix < 0 || ix >= In.w) continue;
                acc += w[std::size_t(((co * In.c + ci) * 3 + ky) * 3 + kx)] *
                       x[std::size_t(((ci * n + b) * In.h + iy) * In.w + ix)];
              }
          const std::size_t at = std::size_t(((co * n + b) * In.h + oy) * In.w + ox);
          worst = test::worse(worst, std::fabs(y[at] - acc) / (1 + std::fabs(acc)));
          const double expect = std::max(0.0, acc * scale[std::size_t(co)] + shift[std::size_t(co)]);
          worst_affine = test::worse(worst_affine, std::fabs(z[at] - expect) / (1 + std::fabs(expect)));
          const double with_res = std::max(0.0, acc * scale[std::size_t(co)] + shift[std::size_t(co)] + res[at]);
          worst_res = test::worse(worst_res, std::fabs(zr[at] - with_res) / (1 + std::fabs(with_res)));
          worst_res = test::worse(worst_res, std::fabs(zs[at] - (acc + res[at])) / (1 + std::fabs(acc + res[at])));
        }
  BOOST_TEST(worst < 1e-12);
  BOOST_TEST(worst_affine < 1e-12);
  BOOST_TEST(worst_res < 1e-12);
  c.use_winograd = false;  // im2col + GEMM: the same epilogue
  c.forward_affine(w.data(), x.data(), zs.data(), n, scale.data(), shift.data(), true, res.data());
  double worst_im2col = 0;
  for (std::size_t i = 0; i < zs.size(); ++i)
    worst_im2col = test::worse(worst_im2col, std::fabs(zs[i] - zr[i]) / (1 + std::fabs(zr[i])));
  BOOST_TEST(worst_im2col < 1e-12);

  using fimpl = typename conv<Out, 3, 1, 1, Bias>::template bind<In, float, host>;
  fimpl f;
  f.reserve(n);
  std::vector<float> wf(w.begin(), w.end()), xf(x.begin(), x.end()), ya(y.size()), yb(y.size());
  f.forward(wf.data(), nullptr, xf.data(), ya.data(), n, mode::eval);
  f.use_winograd = false;
  f.forward(wf.data(), nullptr, xf.data(), yb.data(), n, mode::eval);
  double worst_f = 0, scale_f = 0;
  for (std::size_t i = 0; i < ya.size(); ++i) {
    worst_f = test::worse(worst_f, std::fabs(double(ya[i]) - double(yb[i])));
    scale_f = test::worse(scale_f, std::fabs(double(yb[i])));
  }
  BOOST_TEST(worst_f < 1e-5 * scale_f);
}

// The host's gradients of a 3x3, stride-1 conv by Winograd (the input gradient: the forward's
// transforms on dy with the transposed, rotated filters; the weight gradient: G^T [sum of
// (A dy A^T) * (B^T x B)] G) against im2col + GEMM (col2im of W^T dy; dy col^T): double to
// rounding, float within 1e-5 of the largest value (both about 3e-6; im2col's 2e-7 and 7e-7).
template <int Out, dims In>
void winograd_gradient_case(index_t n) {
  using impl = typename conv<Out, 3>::template bind<In, double, host>;
  static_assert(impl::winograd_backward);
  const counter_rng rng{5, 5};
  std::vector<double> w(impl::n_params), x(std::size_t(n * In.size())), dy(std::size_t(n * impl::out.size()));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = rng.normal(i);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(100000 + i);
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = rng.normal(200000 + i);
  const auto run = [&](auto& c, const auto& wv, const auto& xv, const auto& dyv, bool winograd) {
    using V = std::remove_cvref_t<decltype(wv)>;
    V gw(wv.size()), dx(xv.size(), typename V::value_type(7));  // dx fully overwritten
    c.use_winograd = winograd;
    c.backward(wv.data(), gw.data(), xv.data(), nullptr, dyv.data(), dx.data(), n);
    return std::pair{gw, dx};
  };
  const auto rel = [](const auto& a, const auto& b) {
    double d = 0, m = 1e-300;
    for (std::size_t i = 0; i < a.size(); ++i)
      d = test::worse(d, std::fabs(double(a[i]) - double(b[i]))), m = test::worse(m, std::fabs(double(b[i])));
    return d / m;
  };
  impl c;
  c.reserve(n);
  const auto [gw_w, dx_w] = run(c, w, x, dy, true);
  const auto [gw_i, dx_i] = run(c, w, x, dy, false);
  BOOST_TEST(rel(dx_w, dx_i) < 1e-13);
  BOOST_TEST(rel(gw_w, gw_i) < 1e-13);
  using fimpl = typename conv<Out, 3>::template bind<In, float, host>;
  fimpl f;
  f.reserve(n);
  const std::vector<float> wf(w.begin(), w.end()), xf(x.begin(), x.end()), dyf(dy.begin(), dy.end());
  const auto [fgw_w, fdx_w] = run(f, wf, xf, dyf, true);
  const auto [fgw_i, fdx_i] = run(f, wf, xf, dyf, false);
  BOOST_TEST(rel(fdx_w, fdx_i) < 1e-5);
  BOOST_TEST(rel(fdx_i, dx_i) < 1e-6);
  BOOST_TEST_MESSAGE("winograd gradients " << Out << " filters, " << In.c << "x" << In.h << "x" << In.w << ", " << n
                     << " images: float dx " << rel(fdx_w, dx_i) << ", dW " << rel(fgw_w, gw_i) << " (im2col: "
                     << rel(fdx_i, dx_i) << ", " << rel(fgw_i, gw_i) << "); double dW " << rel(gw_w, gw_i));
  BOOST_TEST(rel(fgw_w, gw_i) < 1e-5);
  BOOST_TEST(rel(fgw_i, gw_i) < 1e-5);
}

BOOST_AUTO_TEST_CASE(winograd_gradients_match_im2col) {
  winograd_gradient_case<8, dims{4, 9, 11}>(9);     // a partial group of 8 images, rows of 11
  winograd_gradient_case<4, dims{8, 10, 7}>(17);    // fewer filters than channels, cropped tiles
  winograd_gradient_case<16, dims{16, 14, 14}>(5);  // several tasks
  winograd_gradient_case<12, dims{4, 4, 4}>(1);     // one tile
  winograd_gradient_case<16, dims{8, 7, 7}>(20);    // two groups of 8 images and a partial one, 2x2 tiles
  winograd_gradient_case<16, dims{16, 16, 16}>(40);  // the weight gradient in 3 chunks of tasks (double), 2 (float)
}

BOOST_AUTO_TEST_CASE(winograd_matches_direct_sum) {
  winograd_case<4, dims{3, 6, 5}, false>(3);    // tiles overhang both edges
  winograd_case<8, dims{5, 7, 7}, true>(2);     // bias, 7 = 2 tiles - 1
  winograd_case<16, dims{16, 14, 14}, false>(5);  // several tasks, padded tile columns
  winograd_case<4, dims{2, 4, 4}, true>(1);     // one tile
  winograd_case<8, dims{3, 28, 28}, true>(3);   // tasks start and end inside an image
  // The host's groups of 8 images: a partial group, rows of 11 (an 8-wide block and 3 more),
  // two tile rows per task with the second task's second row past the image (10 = 3 tile rows)
  winograd_case<4, dims{3, 9, 11}, false>(9);
  winograd_case<8, dims{4, 10, 7}, true>(17);
  winograd_case<4, dims{1, 9, 13}, false>(7);   // rows and columns cropped, images per task
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(values)

BOOST_AUTO_TEST_CASE(batch_norm_running_statistics_as_pytorch) {
  // One train step from running (0, 1): mean' = 0.1 * mean, var' = 0.9 + 0.1 * unbiased var.
  using impl = batch_norm::bind<dims{1, 1, 2}, double, host>;
  impl bn;
  bn.reserve(2);
  std::vector<double> w{1, 0}, s{0, 1}, x{1, 2, 3, 6}, y(4);
  bn.forward(w.data(), s.data(), x.data(), y.data(), 2, mode::train);
  BOOST_TEST(s[0] == 0.1 * 3.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s[1] == 0.9 + 0.1 * (14.0 / 3.0), boost::test_tools::tolerance(1e-12));  // var 3.5 * 4/3
  BOOST_TEST(y[0] == (1 - 3) / std::sqrt(3.5 + 1e-5), boost::test_tools::tolerance(1e-12));
  // One value per channel has no variance: refused in train mode (as PyTorch), fine in eval.
  using flat = batch_norm::bind<dims{2, 1, 1}, double, host>;
  flat one;
  one.reserve(1);
  std::vector<double> w1{1, 1, 0, 0}, s1{0, 0, 1, 1}, x1{1, 2}, y1(2);
  BOOST_CHECK_EXCEPTION(one.forward(w1.data(), s1.data(), x1.data(), y1.data(), 1, mode::train), basin::error,
                        [](const basin::error& e) {
                          return std::string(e.what()).find(
                                     "expected more than 1 value per channel in train mode, "
                                     "got a batch of 1 with 1 x 1") != std::string::npos;
                        });
  BOOST_TEST(s1 == (std::vector<double>{0, 0, 1, 1}), boost::test_tools::per_element());
  one.forward(w1.data(), s1.data(), x1.data(), y1.data(), 1, mode::eval);
  BOOST_TEST(y1[1] == 2 / std::sqrt(1 + 1e-5), boost::test_tools::tolerance(1e-12));
  // Eval: gamma (x - running mean) / sqrt(running var + eps) + beta, every one of them used (with
  // gamma 1, beta 0 and running (0, 1) a layer ignoring any of them would pass).
  std::vector<double> w2{2, -0.5, 0.3, 1}, s2{0.5, -1, 4, 0.25};
  one.forward(w2.data(), s2.data(), x1.data(), y1.data(), 1, mode::eval);
  BOOST_TEST(y1[0] == 2 * (1 - 0.5) / std::sqrt(4 + 1e-5) + 0.3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(y1[1] == -0.5 * (2 + 1) / std::sqrt(0.25 + 1e-5) + 1, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s2 == (std::vector<double>{0.5, -1, 4, 0.25}), boost::test_tools::per_element());  // eval keeps them
}

BOOST_AUTO_TEST_CASE(max_pool_ceil_mode_as_pytorch) {
  // PyTorch's output sizes for MaxPool2d(K, S, ceil_mode=True), no padding: a last window that
  // would start outside the input is dropped (6 with K 2, S 3: windows at 0 and 3, none at 6).
  using P22 = max_pool<2, 2, pool_rounding::ceil>;
  static_assert(P22::output(dims{1, 28, 28}) == dims{1, 14, 14} && P22::output(dims{1, 7, 7}) == dims{1, 4, 4});
  static_assert(P22::output(dims{3, 32, 5}) == dims{3, 16, 3} && max_pool<2>::output(dims{1, 7, 7}) == dims{1, 3, 3});
  static_assert(max_pool<2, 3, pool_rounding::ceil>::output(dims{1, 6, 7}) == dims{1, 2, 3});
  static_assert(max_pool<3, 2, pool_rounding::ceil>::output(dims{1, 8, 7}) == dims{1, 4, 3});
  // Values: a 3x3 plane pools to 2x2; the clipped windows hold 2, 1 and 1 pixels.
  using impl = P22::bind<dims{1, 3, 3}, double, host>;
  impl p;
  p.reserve(2);
  const std::vector<double> x{1,  5,  -2, 3,  0,  7,  -4, 9,  -1,  // image 0
                              -1, -2, -3, -4, -5, -6, -7, -8, -9};
  std::vector<double> y(8);
  p.forward(nullptr, nullptr, x.data(), y.data(), 2, mode::eval);
  const std::vector<double> expect{5, 7, 9, -1, -1, -3, -7, -9};
  BOOST_TEST(y == expect, boost::test_tools::per_element());
  // The gradient goes to each window's maximum, clipped windows included.
  const std::vector<double> dy{1, 2, 3, 4, 10, 20, 30, 40};
  std::vector<double> dx(18);
  p.backward(nullptr, nullptr, x.data(), y.data(), dy.data(), dx.data(), 2);
  const std::vector<double> dx_expect{0, 1, 0, 0, 0, 2, 0, 3, 4, 10, 0, 20, 0, 0, 0, 30, 0, 40};
  BOOST_TEST(dx == dx_expect, boost::test_tools::per_element());
}

// Average pools by hand on ramps (the gradient checks above pass a forward and backward scaled
// alike but wrongly, e.g. both dividing by K instead of K * K).
BOOST_AUTO_TEST_CASE(average_pools_by_hand) {
  std::vector<double> ramp(25);
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = double(i);
  {  // 2x2 windows of a 4x4 ramp: (0 + 1 + 4 + 5) / 4, ...; each pixel gets a quarter of its window's cotangent
    avg_pool<2>::bind<dims{1, 4, 4}, double, host> p;
    p.reserve(1);
    std::vector<double> y(4), dx(16);
    p.forward(nullptr, nullptr, ramp.data(), y.data(), 1, mode::eval);
    BOOST_TEST(y == (std::vector<double>{2.5, 4.5, 10.5, 12.5}), boost::test_tools::per_element());
    const std::vector<double> dy{4, 8, 12, 16};
    p.backward(nullptr, nullptr, ramp.data(), y.data(), dy.data(), dx.data(), 1);
    const std::vector<double> expect{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    BOOST_TEST(dx == expect, boost::test_tools::per_element());
  }
  {  // overlapping 3x3 windows, stride 2, of a 5x5 ramp: each window's mean is its centre; the
     // middle row and column belong to two windows, the centre pixel to four
    avg_pool<3, 2>::bind<dims{1, 5, 5}, double, host> p;
    p.reserve(1);
    std::vector<double> y(4), dx(25);
    p.forward(nullptr, nullptr, ramp.data(), y.data(), 1, mode::eval);
    BOOST_TEST(y == (std::vector<double>{6, 8, 16, 18}), boost::test_tools::per_element());
    const std::vector<double> dy{9, 9, 9, 9};
    p.backward(nullptr, nullptr, ramp.data(), y.data(), dy.data(), dx.data(), 1);
    const std::vector<double> expect{1, 1, 2, 1, 1, 1, 1, 2, 1, 1, 2, 2, 4, 2, 2, 1, 1, 2, 1, 1, 1, 1, 2, 1, 1};
    BOOST_TEST(dx == expect, boost::test_tools::per_element());
  }
  {  // global average of 2 channels of 2x3: each channel's mean; each pixel gets 1/6 of its channel's
    global_avg_pool::bind<dims{2, 2, 3}, double, host> p;
    p.reserve(1);
    std::vector<double> y(2), dx(12);
    p.forward(nullptr, nullptr, ramp.data(), y.data(), 1, mode::eval);
    BOOST_TEST(y == (std::vector<double>{2.5, 8.5}), boost::test_tools::per_element());
    const std::vector<double> dy{6, 12};
    p.backward(nullptr, nullptr, ramp.data(), y.data(), dy.data(), dx.data(), 1);
    const std::vector<double> expect{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2};
    BOOST_TEST(dx == expect, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(max_pool_winners_frozen_by_activation_patterns) {
  // Recording keeps each window's winner; replaying on other inputs takes the recorded pixel,
  // not the new maximum, forward and backward (the Hessian's frozen kinks).
  using impl = max_pool<2, 2, pool_rounding::ceil>::bind<dims{1, 3, 3}, double, host>;
  impl p;
  p.reserve(1);
  std::vector<double> x{1, 5, -2, 3, 0, 7, -4, 9, -1}, y(4), dx(9);
  activation_patterns<host> store;
  active_patterns<host> = &store;
  p.forward(nullptr, nullptr, x.data(), y.data(), 1, mode::eval);
  BOOST_TEST(store.masks.size() == 1u);
  store.replay();
  x = {6, 5, -2, 3, 0, 7, 10, 9, -1};  // new winners in windows 0 (6) and 2 (10)
  p.forward(nullptr, nullptr, x.data(), y.data(), 1, mode::eval);
  const std::vector<double> dy{1, 2, 3, 4};
  p.backward(nullptr, nullptr, x.data(), y.data(), dy.data(), dx.data(), 1);
  active_patterns<host> = nullptr;
  const std::vector<double> frozen{5, 7, 9, -1}, dx_frozen{0, 1, 0, 0, 0, 2, 0, 3, 4};
  BOOST_TEST(y == frozen, boost::test_tools::per_element());
  BOOST_TEST(dx == dx_frozen, boost::test_tools::per_element());
  p.forward(nullptr, nullptr, x.data(), y.data(), 1, mode::eval);  // patterns off: the new maxima
  const std::vector<double> fresh{6, 7, 10, -1};
  BOOST_TEST(y == fresh, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(relu_and_max_pool_pass_nan_on_as_pytorch) {
  // torch.relu(nan) is nan and its gradient passes there; a max pool's window holding a NaN gives
  // NaN, with the gradient to the NaN's pixel. Zero and negative zero still give +0.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  relu::bind<dims{1, 1, 5}, double, host> r;
  r.reserve(1);
  const std::vector<double> x{nan, -1, -0.0, 0, 2}, dy{1, 2, 3, 4, 5};
  std::vector<double> y(5), dx(5);
  r.forward(nullptr, nullptr, x.data(), y.data(), 1, mode::train);
  BOOST_TEST(std::isnan(y[0]));
  for (int i = 1; i < 4; ++i) BOOST_TEST((y[std::size_t(i)] == 0 && !std::signbit(y[std::size_t(i)])));
  BOOST_TEST(y[4] == 2.0);
  r.backward(nullptr, nullptr, x.data(), y.data(), dy.data(), dx.data(), 1);
  const std::vector<double> dx_expect{1, 0, 0, 0, 5};
  BOOST_TEST(dx == dx_expect, boost::test_tools::per_element());
  using impl = max_pool<2>::bind<dims{1, 2, 4}, double, host>;
  impl p;
  p.reserve(1);
  const std::vector<double> px{1, nan, 7, 2, 3, 0, nan, 9};
  std::vector<double> py(2), pdx(8);
  p.forward(nullptr, nullptr, px.data(), py.data(), 1, mode::eval);
  BOOST_TEST((std::isnan(py[0]) && std::isnan(py[1])));
  const std::vector<double> pdy{1, 2};
  p.backward(nullptr, nullptr, px.data(), py.data(), pdy.data(), pdx.data(), 1);
  const std::vector<double> pdx_expect{0, 1, 0, 0, 0, 0, 2, 0};
  BOOST_TEST(pdx == pdx_expect, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(conv_matches_direct_sum) {
  using impl = conv<2, 3, 2, 1, true>::bind<dims{2, 5, 4}, double, host>;
  impl c;
  const index_t n = 2;
  c.reserve(n);
  std::vector<double> w(impl::n_params), x(n * 2 * 5 * 4), y(n * impl::out.size());
  const counter_rng rng{1, 1};
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = rng.normal(i);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(100 + i);
  c.forward(w.data(), nullptr, x.data(), y.data(), n, mode::eval);
  constexpr dims o = impl::out;
  for (int co = 0; co < 2; ++co)
    for (int b = 0; b < n; ++b)
      for (int oy = 0; oy < o.h; ++oy)
        for (int ox = 0; ox < o.w; ++ox) {
          double acc = w[2 * 2 * 9 + co];
          for (int ci = 0; ci < 2; ++ci)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                if (iy < 0 || iy >= 5 || ix < 0 || ix >= 4) continue;
                acc += w[((co * 2 + ci) * 3 + ky) * 3 + kx] * x[((ci * n + b) * 5 + iy) * 4 + ix];
              }
          BOOST_TEST(y[((co * n + b) * o.h + oy) * o.w + ox] == acc, boost::test_tools::tolerance(1e-12));
        }
}

BOOST_AUTO_TEST_SUITE_END()
