// Quantized weight types in layers: packed in memory exactly as checkpoints store them; binary
// and integer kernels equal the float kernels on the dequantized weights; the straight-through
// gradient; grids shared with the quantized optimizer; a whole binary resnet.
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <limits>

#include "../checks.hpp"
#include "../layers/gradcheck.hpp"
#include "../random_data.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/layers/conv.hpp"
#include "basin/layers/dense.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/quantized.hpp"

using namespace basin;
using host = backend::host;

namespace {
using basin::test::worse;
template <class T>
std::vector<T> normal(std::size_t n, std::uint64_t seed, double scale = 1) {
  const counter_rng rng{seed, seed};
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = T(scale * rng.normal(i));
  return v;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(quantized_layers)

BOOST_AUTO_TEST_CASE(packed_tensors_hold_the_checkpoint_bytes_and_unpack_exactly) {
  // 1, 3 (levels straddle words), 4 and 8 bits; float and double.
  for (const int bits : {1, 3, 4, 8}) {
    const index_t n = 1003;
    const auto w = normal<float>(std::size_t(n), 40 + std::uint64_t(bits), 0.3);
    weights::packed_tensor<float, host> p(bits);
    p.pack(w.data(), n);
    const quant::grid g = p.grid();
    BOOST_TEST(quant::bits_of(g) == bits);
    std::vector<float> rounded(w.size()), back(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) rounded[i] = float(quant::round_nearest(double(w[i]), g));
    p.unpack(back.data());
    BOOST_TEST(back == rounded);  // exactly the rounding, every weight
    const auto bytes = quant::pack(rounded.data(), n, g, "w");
    BOOST_TEST(p.bytes() == index_t(bytes.size()));
    BOOST_TEST(std::memcmp(p.words(), bytes.data(), bytes.size()) == 0);  // the checkpoint's bit stream
    // Grid from the weights' scale, as the quantized optimizer picks it.
    double big = 0, mean = 0;
    for (const float v : w) big = std::max(big, std::fabs(double(v))), mean += std::fabs(double(v)) / double(n);
    if (bits == 1)
      BOOST_TEST(g.hi == mean, boost::test_tools::tolerance(1e-12));
    else
      BOOST_TEST(g.delta == big / (std::ldexp(1.0, bits - 1) - 1), boost::test_tools::tolerance(1e-12));
  }
  weights::packed_tensor<double, host> p(4);
  BOOST_CHECK_THROW(p.set_grid(quant::binary_grid(0.5), "conv"), basin::error);           // binary grid, 4 bits
  BOOST_CHECK_THROW(p.set_grid(quant::integer_grid(0.1, 8), "conv"), basin::error);       // 8-bit grid
  BOOST_CHECK_THROW(p.set_grid(quant::integer_grid(-0.1, 4), "conv"), basin::error);      // negative spacing
  BOOST_CHECK_NO_THROW(p.set_grid(quant::integer_grid(0.1, 4), "conv"));
  // End points that are not a whole number of steps: the packed levels would lie outside them.
  BOOST_CHECK_EXCEPTION(p.set_grid(quant::grid{0.1, -0.65, 0.65, false}, "conv"), basin::error,
                        [](const basin::error& e) { return std::string(e.what()).find("conv: ") == 0; });
  BOOST_TEST(p.grid().hi == quant::integer_grid(0.1, 4).hi);  // the grid before, unchanged
}

// A tensor that takes its grid from its weights' scale takes it from the finite ones: a NaN or
// infinite weight passes through (to the layer's output) without making the grid NaN for later
// packs; weights that give no positive scale (all zero, or none finite) fix no grid.
BOOST_AUTO_TEST_CASE(grids_from_the_weights_scale_ignore_non_finite_weights) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const int bits : {1, 4}) {
    weights::packed_tensor<float, host> p(bits);
    const std::vector<float> bad{0.3f, bits == 1 ? nan : inf, -0.2f, 0.5f}, good{0.3f, 0.1f, -0.2f, 0.5f};
    p.pack(bad.data(), 4);
    BOOST_TEST(p.has_grid());
    BOOST_TEST(std::isfinite(p.grid().delta));
    const double want = bits == 1 ? (0.3 + 0.2 + 0.5) / 3 : 0.5 / 7;  // over the three finite weights
    BOOST_TEST((bits == 1 ? double(p.grid().hi) : p.grid().delta) == want, boost::test_tools::tolerance(1e-6));
    p.pack(good.data(), 4);
    std::vector<float> back(4);
    p.unpack(back.data());
    for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(back[i] == float(quant::round_nearest(good[i], p.grid())));
    weights::packed_tensor<float, host> z(bits);  // zeros, then NaN only: no grid yet, then from real weights
    const std::vector<float> zeros(4, 0.0f), nans(4, nan);
    z.pack(zeros.data(), 4);
    BOOST_TEST(!z.has_grid());
    z.pack(nans.data(), 4);
    BOOST_TEST(!z.has_grid());
    z.pack(good.data(), 4);
    BOOST_TEST(z.has_grid());
    const double want_good = bits == 1 ? (0.3 + 0.1 + 0.2 + 0.5) / 4 : 0.5 / 7;
    BOOST_TEST((bits == 1 ? double(z.grid().hi) : z.grid().delta) == want_good, boost::test_tools::tolerance(1e-6));
  }
}

// A quantized conv (and dense) equals the real one run on the dequantized weights; backward
// gives the real layer's gradients at those weights (straight through); sign selection gives the
// same outputs.
template <class Q, class R, dims In>
void quantized_equals_real_on_dequantized(index_t n) {
  using q_t = typename Q::template bind<In, double, host>;
  using r_t = typename R::template bind<In, double, host>;
  static_assert(q_t::quantized && !r_t::quantized && q_t::n_params == r_t::n_params);
  q_t q;
  r_t r;
  q.reserve(n);
  r.reserve(n);
  const index_t nw = q_t::params()[0].size();
  auto w = normal<double>(std::size_t(q_t::n_params), 5, 0.2);
  const auto x = normal<double>(std::size_t(n * In.size()), 6);
  const auto dy = normal<double>(std::size_t(n * q_t::out.size()), 7);
  std::vector<double> yq(dy.size()), yr(dy.size()), ys(dy.size()), gq(w.size()), gr(w.size()), dxq(x.size()),
      dxr(x.size());
  q.forward(w.data(), nullptr, x.data(), yq.data(), n, mode::train);
  auto wr = w;  // the dequantized weights, the bias unchanged
  for (index_t i = 0; i < nw; ++i) wr[std::size_t(i)] = quant::round_nearest(w[std::size_t(i)], q.store.packed.grid());
  BOOST_TEST(wr != w);
  r.forward(wr.data(), nullptr, x.data(), yr.data(), n, mode::train);
  BOOST_TEST(yq == yr);  // the same kernel on the same values: identical
  q.backward(w.data(), gq.data(), x.data(), yq.data(), dy.data(), dxq.data(), n);
  r.backward(wr.data(), gr.data(), x.data(), yr.data(), dy.data(), dxr.data(), n);
  BOOST_TEST(gq == gr);
  BOOST_TEST(dxq == dxr);
  if constexpr (q_t::binary) {
    q.use_sign_select = true;
    q.forward(w.data(), nullptr, x.data(), ys.data(), n, mode::train);
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < ys.size(); ++i)
      worst = worse(worst, std::fabs(ys[i] - yr[i])), scale = std::max(scale, std::fabs(yr[i]));
    BOOST_TEST(worst <= 1e-13 * scale);
  }
}

BOOST_AUTO_TEST_CASE(quantized_kernels_equal_float_kernels_on_dequantized_weights) {
  using weights::binary;
  using weights::integer;
  // Winograd 3x3, strided im2col, 1x1 direct, with and without bias; dense.
  quantized_equals_real_on_dequantized<conv<8, 3, 1, 1, false, binary>, conv<8, 3>, dims{3, 9, 7}>(3);
  quantized_equals_real_on_dequantized<conv<6, 3, 2, 1, true, binary>, conv<6, 3, 2, 1, true>, dims{4, 9, 9}>(2);
  quantized_equals_real_on_dequantized<conv<5, 1, 1, 0, false, binary>, conv<5, 1, 1, 0>, dims{7, 4, 5}>(3);
  quantized_equals_real_on_dequantized<conv<8, 3, 1, 1, false, integer<4>>, conv<8, 3>, dims{3, 9, 7}>(3);
  quantized_equals_real_on_dequantized<conv<6, 3, 2, 1, true, integer<8>>, conv<6, 3, 2, 1, true>, dims{4, 9, 9}>(2);
  quantized_equals_real_on_dequantized<dense<7, true, binary>, dense<7>, dims{37, 1, 1}>(19);
  quantized_equals_real_on_dequantized<dense<7, false, integer<3>>, dense<7, false>, dims{37, 1, 1}>(19);
}

BOOST_AUTO_TEST_CASE(sign_selection_in_float_equals_a_sequential_sum) {
  // The host's vectorized form (float), a power-of-two scale: each output is exactly
  // s * (the sum of +-x in k order), which a sequential loop reproduces bit for bit.
  const index_t rows = 5, depth = 70, cols = 37;
  const auto c = normal<float>(std::size_t(depth * cols), 8);
  std::vector<float> wf(std::size_t(rows * depth));
  const auto signs = normal<float>(wf.size(), 9);
  for (std::size_t i = 0; i < wf.size(); ++i) wf[i] = signs[i] >= 0 ? 0.25f : -0.25f;
  weights::packed_tensor<float, host> p(1);
  p.set_grid(quant::binary_grid(0.25), "test");
  p.pack(wf.data(), rows * depth);
  std::vector<float> y(std::size_t(rows * cols));
  using ss = weights::sign_select_fn<float>;
  host::for_each_line(rows * ((cols + ss::block - 1) / ss::block), ss::block,
                      ss{p.words(), c.data(), y.data(), depth, cols, cols, cols, 0.25f});
  bool same = true;
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j) {
      float acc = 0;
      for (index_t k = 0; k < depth; ++k) {
        const float v = c[std::size_t(k * cols + j)];
        acc += wf[std::size_t(r * depth + k)] > 0 ? v : -v;
      }
      same = same && y[std::size_t(r * cols + j)] == 0.25f * acc;
    }
  BOOST_TEST(same);
}

BOOST_AUTO_TEST_CASE(straight_through_gradient_checks) {
  // dx of a binary and an integer conv against central differences (x is continuous); the
  // weight gradient is the real layer's at the dequantized weights (checked above), which the
  // real layer's own gradient check covers.
  using bq = conv<4, 3, 1, 1, true, weights::binary>::bind<dims{2, 6, 5}, double, host>;
  using iq = conv<4, 3, 2, 1, false, weights::integer<4>>::bind<dims{3, 7, 7}, double, host>;
  // (gradcheck's weight differences are not used: the rounding is piecewise constant in w. The
  // layers are linear in x, so a large step h = 0.01 has no truncation error and little rounding.)
  BOOST_TEST(test::gradcheck<bq>(2, mode::train, 7, 1e-2).max_rel_dx < 1e-8);
  BOOST_TEST(test::gradcheck<iq>(2, mode::train, 7, 1e-2).max_rel_dx < 1e-8);
}

BOOST_AUTO_TEST_CASE(a_binary_resnet_is_a_real_resnet_on_binarized_weights) {
  using bnet = resnet20<fashion_input, weights::binary>;
  using rnet = resnet20<fashion_input>;
  BOOST_TEST(bnet::name() == "resnet20_binary");
  model<bnet, double> b(3);
  model<rnet, double> r(3);
  BOOST_TEST(b.n_params == r.n_params);
  static_assert(!model<bnet, double>::stages_first_layer);  // Q is not linear in the weights
  const index_t n = 4;
  const auto x = normal<double>(std::size_t(n * 784), 10);
  // The real net gets each conv and dense weight (projection shortcuts included) binarized with
  // s = mean |w| of that tensor.
  for (std::size_t t = 0; t < r.param_table.size(); ++t) {
    const auto& d = r.param_table[t];
    if (d.kind != param_kind::weight) continue;
    double mean = 0;
    for (index_t i = 0; i < d.size(); ++i) mean += std::fabs(r.params[d.offset + i]) / double(d.size());
    for (index_t i = 0; i < d.size(); ++i) r.params[d.offset + i] = r.params[d.offset + i] >= 0 ? mean : -mean;
  }
  const std::vector<std::int32_t> labels{0, 3, 9, 4};
  softmax_cross_entropy<double, host> cb, cr;
  const auto lb = cb(b.forward(x.data(), n, mode::train), labels.data(), 10, n, true);
  const auto lr = cr(r.forward(x.data(), n, mode::train), labels.data(), 10, n, true);
  BOOST_TEST(lb.loss == lr.loss, boost::test_tools::tolerance(1e-12));
  b.backward(backend::raw(cb.grad));
  r.backward(backend::raw(cr.grad));
  double worst = 0, scale = 0;
  for (index_t i = 0; i < b.n_params; ++i)
    worst = worse(worst, std::fabs(b.grads[i] - r.grads[i])), scale = std::max(scale, std::fabs(r.grads[i]));
  BOOST_TEST(worst <= 1e-11 * scale);  // straight through: the real net's gradient at the binarized weights
  // Inference (folded batch norm) agrees too.
  const double* zb = b.infer(x.data(), n);
  const double* zr = r.infer(x.data(), n);
  for (index_t i = 0; i < n * 10; ++i) BOOST_TEST(zb[i] == zr[i], boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(a_trained_binary_net_saves_packed_and_reloads_into_a_real_net) {
  using bnet = resnet20<fashion_input, weights::binary>;
  using bm = model<bnet, float>;
  bm b(4);
  BOOST_CHECK_THROW(layer_grids(b), basin::error);  // no grids before a forward or an optimizer
  optim::quantized_optimizer<bm, optim::sgd> opt(b, {0.9, 0.0, false}, {optim::rounding::binary_connect, 1, 0, 1});
  const auto grids = layer_grids(b);
  BOOST_TEST(grids.size() == opt.grids().size());
  for (std::size_t i = 0; i < grids.size(); ++i) {
    BOOST_TEST(grids[i].offset == opt.grids()[i].offset);
    BOOST_TEST(grids[i].g.hi == opt.grids()[i].g.hi);
  }
  const auto path = (std::filesystem::temp_directory_path() / ("basin_binary_" + std::to_string(::getpid()) + ".h5")).string();
  save_packed_checkpoint(b, path, grids);
  model<resnet20<fashion_input>, float> r(9);
  load_checkpoint(r, path);
  std::filesystem::remove(path);
  const auto x = normal<float>(784 * 3, 12);
  const float* zb = b.forward(x.data(), 3, mode::eval);
  const std::vector<float> lb(zb, zb + 30);
  const float* zr = r.forward(x.data(), 3, mode::eval);
  BOOST_TEST(lb == std::vector<float>(zr, zr + 30));  // the same values: the same logits, bit for bit
  BOOST_TEST(stored_bytes<bm>(grids) < (bm::n_params + bm::n_state) * 4 / 20);
}

// A packed checkpoint whose grid was tampered with: a grid of 2^40 levels (42 bits a weight,
// more than the 32 a level code holds) and an infinite end point are refused, naming the file
// and the tensor, before a weight is unpacked; so is a byte count that does not match.
BOOST_AUTO_TEST_CASE(packed_checkpoints_with_impossible_grids_are_refused) {
  using net = network<input<1, 6, 6>, conv<4, 3, 1, 1, false, weights::integer<4>>, relu, flatten,
                      dense<3, true, weights::integer<4>>>;
  using qm = model<net, float>;
  qm m(2);
  optim::quantized_optimizer<qm, optim::sgd> opt(m, {0.0, 0.0, false}, {optim::rounding::stochastic, 4, 0, 1});
  const auto path =
      (std::filesystem::temp_directory_path() / ("basin_tamper_" + std::to_string(::getpid()) + ".h5")).string();
  const std::string name = "0.weight";
  const auto refused = [&](const std::string& why) {
    qm r(3);
    const std::vector<float> before(r.params.begin(), r.params.end());
    BOOST_CHECK_EXCEPTION(load_checkpoint(r, path), basin::error, [&](const basin::error& e) {
      const std::string w = e.what();
      BOOST_TEST_MESSAGE(w);
      return w.find(path) != std::string::npos && w.find(name) != std::string::npos && w.find(why) != std::string::npos;
    });
    BOOST_TEST(std::equal(before.begin(), before.end(), r.params.begin()));
  };
  const auto tamper = [&](double lo, double hi, double delta, std::int64_t bits) {
    save_packed_checkpoint(m, path, layer_grids(m));
    auto f = h5::file::open(path, true);
    BOOST_REQUIRE(f.has_attr(name, "packed_bits"));
    f.set_attr(name, "grid_lo", lo), f.set_attr(name, "grid_hi", hi), f.set_attr(name, "grid_delta", delta);
    f.set_attr(name, "packed_bits", bits);
  };
  const double big = std::ldexp(1.0, 40);
  tamper(-big, big, 1.0, 42);
  refused("kmax <= 2^31 - 1");
  tamper(-INFINITY, INFINITY, 1.0, 1025);
  refused("not finite");
  // A good grid but the bits of another: the byte count would not match either.
  save_packed_checkpoint(m, path, layer_grids(m));
  {
    auto f = h5::file::open(path, true);
    f.set_attr(name, "packed_bits", std::int64_t(8));
  }
  refused("packed_bits 8");
  // grid_binary other than 0 or 1, and the packed bytes stored as floats (HDF5 would clamp them
  // into bytes on reading: -1 -> 0, 2.5 -> 2).
  save_packed_checkpoint(m, path, layer_grids(m));
  {
    auto f = h5::file::open(path, true);
    f.set_attr(name, "grid_binary", std::int64_t(7));
  }
  refused("grid_binary 7, expected 0");
  save_packed_checkpoint(m, path, layer_grids(m));
  {
    const hid_t raw = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(H5Lmove(raw, name.c_str(), raw, "bytes_as_written", H5P_DEFAULT, H5P_DEFAULT) >= 0);
    H5Fclose(raw);
    auto f = h5::file::open(path, true);
    f.write<float>(name, f.read<float>("bytes_as_written"), f.shape("bytes_as_written"));
    for (const char* a : {"packed_bits", "grid_binary", "numel"})
      f.set_attr(name, a, f.attr_i64("bytes_as_written", a));
    for (const char* a : {"grid_delta", "grid_lo", "grid_hi"})
      f.set_attr(name, a, f.attr_double("bytes_as_written", a));
    f.set_attr(name, "shape", f.attr_string("bytes_as_written", "shape"));
  }
  refused("stores floating-point");
  // The grid checker itself.
  BOOST_TEST(quant::grid_problem(quant::integer_grid(0.25, 4)).empty());
  BOOST_TEST(quant::grid_problem(quant::integer_grid(0.25, 32)).empty());
  BOOST_TEST(
      !quant::grid_problem(quant::grid{0.25, -0.25 * 4294967295.0, 0.25 * 4294967295.0, false}).empty());  // 33 bits
  BOOST_TEST(quant::grid_problem(quant::binary_grid(0.5)).empty());
  BOOST_TEST(!quant::grid_problem({0.5, -0.5, 0.5, true}).empty());
  BOOST_TEST(!quant::grid_problem({0.0, -1.0, 1.0, false}).empty());
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(the_quantized_optimizer_publishes_its_grids_to_the_layers) {
  using net = network<input<1, 6, 6>, conv<4, 3, 1, 1, false, weights::integer<4>>, relu, flatten,
                      dense<3, true, weights::integer<4>>>;
  model<net, double> m(2);
  optim::quantized_optimizer<model<net, double>, optim::sgd> opt(m, {0.0, 0.0, false},
                                                                 {optim::rounding::stochastic, 4, 0, 1});
  std::size_t k = 0;
  m.for_each_layer([&](auto& l) {
    if constexpr (requires { l.set_weight_grid(quant::grid{}); }) {
      BOOST_TEST(l.store.packed.has_grid());
      BOOST_TEST(l.store.packed.grid().delta == opt.grids()[k].g.delta);
      ++k;
    }
  });
  BOOST_TEST(k == 2u);
  // On-grid weights are fixed points of the layers' rounding: the quantized net computes
  // exactly what a real net computes on m.params.
  using real_net = network<input<1, 6, 6>, conv<4, 3>, relu, flatten, dense<3>>;
  model<real_net, double> r(2);
  for (index_t i = 0; i < m.n_params; ++i) r.params[i] = m.params[i];
  const auto x = normal<double>(36, 11);
  const double* zq = m.forward(x.data(), 1, mode::eval);
  const std::vector<double> z1(zq, zq + 3);
  const double* zr = r.forward(x.data(), 1, mode::eval);
  BOOST_TEST(z1 == std::vector<double>(zr, zr + 3));
  model<net, double> bad(2);
  BOOST_CHECK_THROW((optim::quantized_optimizer<model<net, double>, optim::sgd>(bad, {0.0, 0.0, false},
                                                                               {optim::rounding::nearest, 8, 0, 1})),
                    basin::error);
}

// A quantized layer keeps its grid (from a quantized optimizer, or its first pack); every
// checkpoint stores it and loading restores it. Here an optimizer's fixed spacing 0.2 holds no
// weight at its ends, so a layer taking the grid from the loaded weights (max |w| / 7) would
// round them elsewhere: the loaded net computed another loss (2.4558 against 2.4576).
BOOST_AUTO_TEST_CASE(checkpoints_keep_each_quantized_layers_grid) {
  using net4 = network<input<1, 8, 8>, conv<4, 3, 1, 1, false, weights::integer<4>>, batch_norm, relu, global_avg_pool,
                       dense<10, true, weights::integer<4>>>;
  using M = model<net4, double>;
  const auto data = test::random_dataset(M::in, 60, 4);
  M m(3);
  optim::quantized_optimizer<M, optim::sgd> q(m, {0.9, 0, false}, {optim::rounding::nearest, 4, 0.2, 0});
  const auto want = evaluate(m, data, 30);
  const auto dir = std::filesystem::temp_directory_path() / ("basin_grids_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto same_grids = [&](M& l) {
    const auto a = layer_grids(l);
    BOOST_TEST_REQUIRE(a.size() == q.grids().size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      BOOST_TEST(a[k].g.delta == q.grids()[k].g.delta);
      BOOST_TEST(a[k].g.hi == q.grids()[k].g.hi);
    }
  };
  for (const bool packed : {true, false}) {
    const std::string path = (dir / (packed ? "packed.h5" : "plain.h5")).string();
    if (packed)
      save_packed_checkpoint(m, path, q.grids());
    else
      save_checkpoint(m, path);
    M l(7);
    (void)evaluate(l, data, 30);  // a grid of its own weights first: replaced by the file's
    load_checkpoint(l, path);
    same_grids(l);
    const auto got = evaluate(l, data, 30);
    BOOST_TEST(got.loss == want.loss, (packed ? "packed" : "plain") << " checkpoint");
    BOOST_TEST(got.accuracy == want.accuracy);
  }
  // A file without the layers' grids (a real net's checkpoint): the layers forget theirs and take
  // one from the loaded weights, as a fresh model does.
  using real4 = network<input<1, 8, 8>, conv<4, 3, 1, 1, false>, batch_norm, relu, global_avg_pool, dense<10>>;
  model<real4, double> r(5);
  const std::string real_path = (dir / "real.h5").string();
  save_checkpoint(r, real_path);
  M stale(3), fresh(3);
  (void)evaluate(stale, data, 30);
  load_checkpoint(stale, real_path);
  load_checkpoint(fresh, real_path);
  BOOST_TEST(evaluate(stale, data, 30).loss == evaluate(fresh, data, 30).loss);
  std::filesystem::remove_all(dir);
}

// A sweep of a net whose quantized layers have no grid yet rounds every point on the origin's
// grids: the value at the origin is the origin's loss whichever point comes first (it took the
// grid of the first point evaluated, the line's end).
BOOST_AUTO_TEST_CASE(a_sweep_rounds_on_the_origins_grids) {
  using tiny = network<input<1, 8, 8>, conv<4, 3, 1, 1, false, weights::binary>, batch_norm, relu, global_avg_pool,
                       dense<10, true, weights::binary>>;
  using M = model<tiny, double>;
  const auto data = test::random_dataset(M::in, 60, 4);
  M origin(3);
  const double at_origin = evaluate(origin, data, 30).loss;
  const auto path =
      (std::filesystem::temp_directory_path() / ("basin_qsweep_" + std::to_string(::getpid()) + ".h5")).string();
  for (const auto& xs : {std::vector<double>{-1, 0, 1}, std::vector<double>{0, 1}}) {
    M m(3);
    auto dx = random_direction(m, 5, 0, {});
    std::filesystem::remove(path);
    surface_options so;
    so.x = xs;
    so.progress = false;
    loss_accuracy la{&data, nullptr, 30};
    sweep(m, dx, nullptr, path, so, la.names(), la);
    const auto v = surface_values(path, "train_loss");
    BOOST_TEST(v[xs[0] == 0 ? 0 : 1] == at_origin, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(evaluate(m, data, 30).loss == at_origin, boost::test_tools::tolerance(1e-12));
  }
  std::filesystem::remove(path);
}

// Sign selection reads the packed levels, where a NaN or infinite weight became +-s: the layer
// then computes on the float values, so the output shows it (it gave -3 everywhere).
BOOST_AUTO_TEST_CASE(sign_selection_keeps_non_finite_weights_visible) {
  using L = dense<2, false, weights::binary>::bind<dims{3, 1, 1}, double, host>;
  for (const bool select : {false, true}) {
    L l;
    l.reserve(3);
    l.use_sign_select = select;
    std::vector<double> w{1, std::numeric_limits<double>::quiet_NaN(), -1,
                          1, std::numeric_limits<double>::infinity(),  1};
    const std::vector<double> x{1, 1, 1, 1, 1, 1, 1, 1, 1};
    std::vector<double> y(6);
    l.forward(w.data(), nullptr, x.data(), y.data(), 3, mode::eval);
    for (std::size_t i = 0; i < y.size(); ++i)
      BOOST_TEST(!std::isfinite(y[i]), "sign select " << select << ", output " << i << " = " << y[i]);
    // and finite weights take the sign-selection path again
    w = {1, -1, -1, 1, 1, 1};
    l.forward(w.data(), nullptr, x.data(), y.data(), 3, mode::eval);
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(std::isfinite(y[i]));
  }
}

BOOST_AUTO_TEST_SUITE_END()
