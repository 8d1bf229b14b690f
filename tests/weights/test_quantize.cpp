// Quantized training: rounding rules against their statistics, and the R / SR / BinaryConnect
// policies on a model's flat buffer.
#define BOOST_TEST_MODULE weights
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "basin/io/checkpoint.hpp"
#include "basin/net/model.hpp"
#include "basin/optim/quantized.hpp"
#include "basin/weights/packed_tensor.hpp"
#include "basin/weights/packing.hpp"

using namespace basin;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_CASE(stochastic_rounding_is_unbiased_with_the_right_variance) {
  // x = 0.37 on a grid of spacing 0.1: p = 0.7, E = x, Var = delta^2 p (1 - p) = 0.0021.
  // N = 200000: the mean's sd is sqrt(0.0021 / N) = 1.02e-4, we allow 5 sd (false alarm ~6e-7);
  // the sample variance's relative sd is about sqrt((kurtosis - 1) / N) < 0.01 here, we allow 5%.
  const auto g = quant::integer_grid(0.1, 8);
  const counter_rng rng{1, stream::rounding};
  const int n = 200000;
  const double x = 0.37;
  double s1 = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    const double q = quant::round_stochastic(x, g, rng.uniform(std::uint64_t(i)));
    BOOST_REQUIRE(std::abs(q - 0.3) < 1e-12 || std::abs(q - 0.4) < 1e-12);  // only the neighbours
    s1 += q;
    s2 += q * q;
  }
  const double mean = s1 / n, var = s2 / n - mean * mean;
  BOOST_TEST(std::abs(mean - x) < 5 * std::sqrt(0.0021 / n));
  BOOST_TEST(std::abs(var / 0.0021 - 1) < 0.05);
  // Negative values and the binary grid: E[Q_s(x)] = x too.
  double b = 0;
  const auto bg = quant::binary_grid(0.5);
  for (int i = 0; i < n; ++i) b += quant::round_stochastic(-0.2, bg, rng.uniform(std::uint64_t(n + i)));
  BOOST_TEST(std::abs(b / n + 0.2) < 5 * std::sqrt(0.25 / n));
}

BOOST_AUTO_TEST_CASE(deterministic_rounding_and_saturation) {
  const auto g = quant::integer_grid(0.25, 3);  // levels -0.75 ... 0.75
  BOOST_TEST(quant::round_nearest(0.3, g) == 0.25);
  BOOST_TEST(quant::round_nearest(0.375, g) == 0.5);   // a tie rounds away from zero
  BOOST_TEST(quant::round_nearest(-0.375, g) == -0.5);
  BOOST_TEST(quant::round_nearest(7.0, g) == 0.75);    // saturates
  BOOST_TEST(quant::round_nearest(-7.0, g) == -0.75);
  BOOST_TEST(quant::round_stochastic(9.0, g, 0.5) == 0.75);
  const auto b = quant::binary_grid(0.1);
  BOOST_TEST(quant::round_nearest(0.0, b) == 0.1);  // sign(0) = +1
  BOOST_TEST(quant::round_nearest(-1e-9, b) == -0.1);
  // Just below a tie rounds down: floor(y + 0.5) took 0.5 - 2^-54 up to 1.
  const auto one = quant::integer_grid(1, 4);
  BOOST_TEST(quant::round_nearest(std::nextafter(0.5, 0.0), one) == 0.0);
  BOOST_TEST(quant::round_nearest(-std::nextafter(0.5, 0.0), one) == 0.0);
  BOOST_TEST(quant::round_nearest(std::nextafter(2.5, 0.0), one) == 2.0);
  BOOST_TEST(quant::round_nearest(2.5, one) == 3.0);
}

namespace {
using net = network<input<3, 4, 4>, conv<4, 3>, batch_norm, relu, global_avg_pool, dense<2>>;
using m_t = model<net, double>;
bool on_grid(double v, const quant::grid& g) {
  if (g.binary) return v == g.lo || v == g.hi;
  const double k = v / g.delta;
  return std::abs(k - std::round(k)) < 1e-9 && v >= g.lo - 1e-12 && v <= g.hi + 1e-12;
}
}  // namespace

// Each weight tensor's grid from its own weights, as written out here: b bits, spacing
// max |w| / (2^(b - 1) - 1), ends at +-max |w|; binary, +-mean |w|; the weights start at their
// nearest grid point. (Every other test reads the grid back from the optimizer.)
BOOST_AUTO_TEST_CASE(grids_take_their_scale_from_each_weight_tensor) {
  for (const int bits : {4, 1}) {
    m_t m(5);
    const std::vector<double> w0(m.params.begin(), m.params.end());
    optim::quantized_optimizer<m_t, optim::sgd> opt(m, {0.0, 0.0, false}, {optim::rounding::nearest, bits, 0.0, 1});
    std::size_t k = 0;
    for (const auto& t : m_t::param_table) {
      if (t.kind != param_kind::weight) continue;
      BOOST_TEST_REQUIRE(k < opt.grids().size());
      const auto& tg = opt.grids()[k++];
      BOOST_TEST(tg.offset == t.offset);
      BOOST_TEST(tg.size == t.size());
      double big = 0, mean = 0;
      for (index_t i = t.offset; i < t.offset + t.size(); ++i) {
        big = std::max(big, std::fabs(w0[std::size_t(i)]));
        mean += std::fabs(w0[std::size_t(i)]) / double(t.size());
      }
      const double end = bits == 1 ? mean : big;
      BOOST_TEST(tg.g.binary == (bits == 1));
      BOOST_TEST(tg.g.hi == end, tt::tolerance(1e-12));
      BOOST_TEST(tg.g.lo == -end, tt::tolerance(1e-12));
      if (bits > 1) BOOST_TEST(tg.g.delta == big / 7, tt::tolerance(1e-12));
      for (index_t i = t.offset; i < t.offset + t.size(); ++i) {
        const double w = w0[std::size_t(i)];
        const double expect = bits == 1 ? (w >= 0 ? mean : -mean) : std::round(w / (big / 7)) * (big / 7);
        BOOST_TEST(double(m.params[i]) == expect, tt::tolerance(1e-12));
      }
    }
    BOOST_TEST(k == opt.grids().size());
    BOOST_TEST(k >= 2u);  // the conv's and the dense layer's
  }
}

BOOST_AUTO_TEST_CASE(rounding_ignores_updates_below_half_a_step) {
  m_t m(1);
  optim::quantized_optimizer<m_t, optim::sgd> opt(m, {0.0, 0.0, false}, {optim::rounding::nearest, 4, 0.0, 1});
  const std::vector<double> before(m.params.begin(), m.params.end());
  const auto& tg = opt.grids().front();
  // lr * g = 0.4 delta: every weight stays where it is.
  for (index_t i = 0; i < m_t::n_params; ++i) m.grads[i] = 0.4 * tg.g.delta;
  opt.step(m, 1.0);
  for (index_t i = tg.offset; i < tg.offset + tg.size; ++i) BOOST_TEST(double(m.params[i]) == before[i]);
  // 0.6 delta: every weight not at the lower end moves one step down.
  for (index_t i = 0; i < m_t::n_params; ++i) m.grads[i] = 0.6 * tg.g.delta;
  opt.step(m, 1.0);
  for (index_t i = tg.offset; i < tg.offset + tg.size; ++i) {
    const double expect = std::max(before[i] - tg.g.delta, tg.g.lo);
    BOOST_TEST(double(m.params[i]) == expect, tt::tolerance(1e-9));
  }
}

BOOST_AUTO_TEST_CASE(stochastic_rounding_keeps_weights_on_the_grid) {
  m_t m(2);
  optim::quantized_optimizer<m_t, optim::sgd> opt(m, {0.9, 0.0, false}, {optim::rounding::stochastic, 3, 0.0, 5});
  const counter_rng rng{3, 3};
  for (int step = 0; step < 5; ++step) {
    for (index_t i = 0; i < m_t::n_params; ++i) m.grads[i] = rng.normal(std::uint64_t(step * 1000 + i));
    opt.step(m, 0.05);
    for (const auto& tg : opt.grids())
      for (index_t i = tg.offset; i < tg.offset + tg.size; ++i) BOOST_TEST(on_grid(double(m.params[i]), tg.g));
  }
  BOOST_TEST(opt.shadow().empty());  // no float copy of the weights
}

BOOST_AUTO_TEST_CASE(stochastic_rounding_steps_are_unbiased) {
  // lr * g = 0.3 delta: each weight above the grid's lower end moves one step down with
  // probability 0.3 and stays otherwise (rounding to nearest would never move it), so the mean
  // update is the float one. 100 steps from the same weights, fresh random numbers each step:
  // the share that moved is within 5 standard deviations of 0.3.
  m_t m(4);
  optim::quantized_optimizer<m_t, optim::sgd> opt(m, {0.0, 0.0, false}, {optim::rounding::stochastic, 4, 0.0, 9});
  const auto& tg = opt.grids().front();
  const std::vector<double> before(m.params.begin(), m.params.end());
  long moved = 0, trials = 0;
  for (int step = 0; step < 100; ++step) {
    std::copy(before.begin(), before.end(), m.params.begin());
    for (index_t i = 0; i < m_t::n_params; ++i) m.grads[i] = 0.3 * tg.g.delta;
    opt.step(m, 1.0);
    for (index_t i = tg.offset; i < tg.offset + tg.size; ++i) {
      if (before[i] <= tg.g.lo + 1e-12) continue;  // nothing below to round to
      const double down = (before[i] - double(m.params[i])) / tg.g.delta;
      BOOST_TEST((std::abs(down) < 1e-9 || std::abs(down - 1) < 1e-9), "a step of " << down << " grid steps");
      moved += down > 0.5;
      ++trials;
    }
  }
  BOOST_REQUIRE(trials > 5000);
  const double share = double(moved) / double(trials), sd = std::sqrt(0.3 * 0.7 / double(trials));
  BOOST_TEST(std::abs(share - 0.3) < 5 * sd, "moved " << share << " of " << trials << ", sd " << sd);
}

BOOST_AUTO_TEST_CASE(binary_connect_moves_shadow_weights_and_shows_only_grid_values) {
  m_t m(3);
  optim::quantized_optimizer<m_t, optim::sgd> opt(m, {0.0, 0.0, false}, {optim::rounding::binary_connect, 1, 0.0, 0});
  const auto& tg = opt.grids().front();
  BOOST_TEST(tg.g.binary);
  const std::vector<double> shadow0(opt.shadow().begin(), opt.shadow().end());
  for (index_t i = 0; i < m_t::n_params; ++i) m.grads[i] = (i % 2 ? 1.0 : -1.0) * 0.01;
  opt.step(m, 1.0);
  for (const auto& t : opt.grids())
    for (index_t i = t.offset; i < t.offset + t.size; ++i) {
      BOOST_TEST(on_grid(double(m.params[i]), t.g));  // the forward pass sees +-s only
      const double moved = std::clamp(shadow0[i] - (i % 2 ? 1.0 : -1.0) * 0.01, t.g.lo, t.g.hi);
      BOOST_TEST(double(opt.shadow()[i]) == moved, tt::tolerance(1e-9));  // the shadow moved, clipped
    }
  // Biases and batch-norm parameters take the plain SGD step in full precision, neither clipped
  // to the binary grid's +-s nor rounded (batch norm's gamma starts at 1, outside it).
  std::vector<bool> on_a_grid(std::size_t(m_t::n_params), false);
  for (const auto& t : opt.grids())
    for (index_t i = t.offset; i < t.offset + t.size; ++i) on_a_grid[std::size_t(i)] = true;
  index_t free = 0;
  for (index_t i = 0; i < m_t::n_params; ++i) {
    if (on_a_grid[std::size_t(i)]) continue;
    ++free;
    const double stepped = shadow0[std::size_t(i)] - (i % 2 ? 1.0 : -1.0) * 0.01;
    BOOST_TEST(double(m.params[i]) == stepped, tt::tolerance(1e-12));
    BOOST_TEST(double(opt.shadow()[i]) == stepped, tt::tolerance(1e-12));
  }
  BOOST_TEST(free == 10);  // batch norm's gamma and beta (4 each), the dense layer's bias (2)
  BOOST_TEST(std::abs(shadow0[std::size_t(m_t::param_table[1].offset)] - 1.0) < 1e-12);  // gamma: 1, off the grid
}

// Float weights on a 16-bit grid with a zero update: every one of the 65535 levels stays where
// it is (float(k delta) is not k delta in double: the formula alone moved about 3.6e-4 of them a
// step, some 236 in these 10 steps).
BOOST_AUTO_TEST_CASE(stochastic_rounding_keeps_float_grid_values_in_place) {
  const auto g = quant::integer_grid(0.001, 16);
  const index_t n = 65535;
  std::vector<float> w(static_cast<std::size_t>(n)), out(w.size());
  for (index_t k = 0; k < n; ++k) w[std::size_t(k)] = float(double(k - 32767) * g.delta);
  for (std::uint64_t step = 0; step < 10; ++step) {
    const counter_rng rng{7, (stream::rounding << 32) + step};
    optim::detail::round_tensor<backend::host, float>(n, w.data(), out.data(), g, true, rng, 0);
    index_t moved = 0;
    for (std::size_t k = 0; k < w.size(); ++k) moved += out[k] != w[k];
    BOOST_TEST(moved == 0, "step " << step);
  }
}

// A tensor without a scale (all zero) or with a weight that is not finite gets no grid from its
// weights: refused by name; with a given spacing an all-zero tensor is fine.
BOOST_AUTO_TEST_CASE(quantized_grids_refuse_weights_without_a_scale) {
  const auto says = [](std::vector<std::string> words) {
    return [words](const error& e) {
      BOOST_TEST_MESSAGE(e.what());
      for (const auto& w : words)
        if (std::string(e.what()).find(w) == std::string::npos) return false;
      return true;
    };
  };
  const auto& t = m_t::param_table[0];
  BOOST_REQUIRE(t.kind == param_kind::weight);
  const auto name = m_t::parameter_names()[0];
  m_t zero(1), nan(1);
  for (index_t i = 0; i < t.size(); ++i) zero.params[t.offset + i] = 0;
  nan.params[t.offset + 2] = std::nan("");
  using q_t = optim::quantized_optimizer<m_t, optim::sgd>;
  for (int bits : {1, 4}) {
    BOOST_CHECK_EXCEPTION(q_t(zero, {0.0, 0.0, false}, {optim::rounding::stochastic, bits, 0.0, 1}), error,
                          says({name, "all zero", "quantization::delta"}));
    BOOST_CHECK_EXCEPTION(q_t(nan, {0.0, 0.0, false}, {optim::rounding::stochastic, bits, 0.0, 1}), error,
                          says({name, "nan", "index 2", "finite"}));
    BOOST_CHECK_EXCEPTION(q_t(nan, {0.0, 0.0, false}, {optim::rounding::stochastic, bits, 0.1, 1}), error,
                          says({name, "nan"}));
  }
  q_t ok(zero, {0.0, 0.0, false}, {optim::rounding::stochastic, 4, 0.1, 1});
  BOOST_TEST(ok.grids()[0].g.delta == 0.1);
  // A step the wrapped optimizer refuses changes nothing, the step count (SR's draws) included.
  m_t a(3), b(3);
  q_t qa(a, {0.0, 0.0, false}, {optim::rounding::stochastic, 4, 0.0, 1}),
      qb(b, {0.0, 0.0, false}, {optim::rounding::stochastic, 4, 0.0, 1});
  for (index_t i = 0; i < m_t::n_params; ++i) a.grads[i] = b.grads[i] = 0.37 * double(i % 5);
  const auto before = a.params;
  BOOST_CHECK_THROW(qa.step(a, -1.0), error);
  BOOST_TEST(qa.save_state().steps == 0);
  BOOST_TEST((a.params == before));
  qa.step(a, 0.01);
  qb.step(b, 0.01);
  BOOST_TEST((a.params == b.params));
}

// A quantized layer keeps weights that are NaN or infinite as they are (no grid level holds
// them): its output, the loss and the trainer's check of it see them, as with real weights.
BOOST_AUTO_TEST_CASE(quantized_layers_pass_non_finite_weights_through) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> w{0.3f, std::nanf(""), -0.2f, inf, -inf, 0.7f};
  basin::detail::weight_store<weights::integer<4>, float, backend::host> ws;
  ws.packed.set_grid(quant::integer_grid(0.1, 4), "w");
  const float* v = ws.use(w.data(), 6, 6);
  BOOST_TEST(v[0] == float(quant::round_nearest(0.3f, quant::integer_grid(0.1, 4))));
  BOOST_TEST(std::isnan(v[1]));
  BOOST_TEST(v[2] == float(quant::round_nearest(-0.2f, quant::integer_grid(0.1, 4))));
  BOOST_TEST(v[3] == inf);
  BOOST_TEST(v[4] == -inf);
  basin::detail::weight_store<weights::binary, float, backend::host> wb;
  wb.packed.set_grid(quant::binary_grid(0.5), "w");
  const float* u = wb.use(w.data(), 6, 6);
  BOOST_TEST(u[0] == 0.5f);
  BOOST_TEST(std::isnan(u[1]));
  BOOST_TEST(u[2] == -0.5f);
  BOOST_TEST(u[4] == -inf);
}

// ---- packed storage -----------------------------------------------------------------------
namespace {
// n values on grid g from the rounding itself (nearest for binary, stochastic otherwise).
std::vector<float> on_grid(const quant::grid& g, index_t n, std::uint64_t seed) {
  const counter_rng rng{seed, 5};
  std::vector<float> w(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    const double x = 1.3 * g.hi * rng.normal(std::uint64_t(i));
    w[std::size_t(i)] = float(g.binary ? quant::round_nearest(x, g)
                                        : quant::round_stochastic(x, g, rng.uniform(std::uint64_t(1) << 40 | i)));
  }
  return w;
}
}  // namespace

BOOST_AUTO_TEST_CASE(packing_round_trips_exactly) {
  for (const auto& g : {quant::binary_grid(0.37), quant::integer_grid(0.05, 4), quant::integer_grid(0.01, 3),
                        quant::integer_grid(0.002, 8)}) {
    const index_t n = 1001;  // not a multiple of 8: the last byte is partly used
    const auto w = on_grid(g, n, 3);
    const auto bytes = quant::pack(w.data(), n, g, "w");
    BOOST_TEST(index_t(bytes.size()) == (n * quant::bits_of(g) + 7) / 8);
    std::vector<float> back(w.size(), 99.f);
    quant::unpack(bytes, n, g, back.data(), "w");
    BOOST_TEST(back == w, tt::per_element());
  }
  BOOST_TEST(quant::bits_of(quant::binary_grid(1)) == 1);
  BOOST_TEST(quant::bits_of(quant::integer_grid(0.1, 4)) == 4);
  // Off the grid, or a stream of the wrong length: refused, naming the tensor.
  const auto g = quant::integer_grid(0.1, 4);
  const float off[2] = {0.2f, 0.25f};
  BOOST_CHECK_EXCEPTION(quant::pack(off, 2, g, "conv1.weight"), error, [](const error& e) {
    return std::string(e.what()).find("conv1.weight[1]") != std::string::npos;
  });
  std::vector<float> out(3);
  BOOST_CHECK_THROW(quant::unpack(std::vector<std::uint8_t>(1), 3, g, out.data(), "t"), error);
}

// Grids that cannot hold weights are refused where they are made, packed or given a bit width,
// naming the function and the value: a spacing of 0 (max |w| / 127 of all-zero weights) rounded
// every value to NaN, one bit of integer levels rounded everything to 0, a negative binary scale
// flipped every sign, and a 40-bit grid was packed with out-of-range shifts into a checkpoint
// that only failed to load.
BOOST_AUTO_TEST_CASE(grids_that_cannot_hold_weights_are_refused) {
  const auto refused = [](const std::string& what) {
    return [what](const error& e) {
      BOOST_TEST_INFO(e.what());
      return std::string(e.what()).find(what) != std::string::npos;
    };
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (const auto& [delta, bits] : {std::pair{0.0, 8}, std::pair{-0.1, 4}, std::pair{nan, 4}, std::pair{inf, 4},
                                    std::pair{0.1, 1}, std::pair{0.1, 0}, std::pair{0.1, -3}, std::pair{0.1, 33}})
    BOOST_CHECK_EXCEPTION(quant::integer_grid(delta, bits), error, refused("quant::integer_grid: delta = "));
  BOOST_CHECK_EXCEPTION(quant::integer_grid(0.1, 1), error, refused("bits = 1, expected"));
  for (const double scale : {0.0, -0.5, nan, inf})
    BOOST_CHECK_EXCEPTION(quant::binary_grid(scale), error, refused("quant::binary_grid: scale = "));
  BOOST_TEST(quant::integer_grid(0.1, 2).hi == 0.1);  // the smallest integer grid: -1, 0, 1
  BOOST_TEST(quant::integer_grid(0.25, 32).hi == 0.25 * 2147483647.0);
  // pack: a grid unpack would refuse is refused before anything is written
  const float w[2] = {0.5f, -0.5f};
  const quant::grid wide{0.001, -0.001 * 549755813887.0, 0.001 * 549755813887.0, false};  // 40 bits
  const quant::grid lopsided{1.0, -0.25, 0.5, true};                                      // binary, not -s, s
  BOOST_CHECK_EXCEPTION(quant::pack(w, 2, wide, "fc.weight"), error, refused("pack: fc.weight: an integer grid"));
  BOOST_CHECK_EXCEPTION(quant::pack(w, 2, lopsided, "fc.weight"), error, refused("pack: fc.weight: a binary grid"));
  BOOST_CHECK_EXCEPTION(quant::pack(w, -1, quant::binary_grid(0.5), "fc.weight"), error, refused("n = -1"));
  // a packed tensor's width: a level's code and its mask in 32 bits
  using packed = weights::packed_tensor<float, backend::host>;
  for (const int bits : {0, -1, 32, 40}) BOOST_CHECK_EXCEPTION(packed{bits}, error, refused("packed_tensor: bits = "));
  BOOST_CHECK_NO_THROW(packed{31});
}

BOOST_AUTO_TEST_CASE(packed_binary_checkpoints_are_a_32nd_and_load_exactly) {
  // 262144 + 2560 weights in two dense layers, binary; 266 biases stay float.
  using net = network<input<16, 8, 8>, flatten, named<"fc", dense<256>>, relu, named<"out", dense<10>>>;
  using M = model<net, float>;
  const auto dir = std::filesystem::temp_directory_path() / ("basin_test_packing_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const int bits : {1, 4}) {
    M m(1);
    optim::quantized_optimizer<M, optim::sgd> q(m, optim::sgd{}, {optim::rounding::nearest, bits, 0, 1});
    const auto plain = (dir / ("plain" + std::to_string(bits) + ".h5")).string();
    const auto packed = (dir / ("packed" + std::to_string(bits) + ".h5")).string();
    save_checkpoint(m, plain);
    save_packed_checkpoint(m, packed, q.grids());
    const double float_bytes = double(std::filesystem::file_size(plain));
    const double packed_bytes = double(std::filesystem::file_size(packed));
    const double weights = 262144 + 2560;
    // Weight bytes shrink 32x (binary) or 8x (4 bits); the rest (266 float biases, HDF5 headers
    // and attributes) stays under 16 KiB.
    BOOST_TEST(float_bytes >= 4 * weights);
    BOOST_TEST(packed_bytes >= weights * bits / 8);
    BOOST_TEST(packed_bytes <= weights * bits / 8 + 16384);
    BOOST_TEST((stored_bytes<M>(q.grids())) == index_t(weights) * bits / 8 + 266 * 4);
    BOOST_TEST_MESSAGE(bits << " bit(s): float checkpoint " << float_bytes << " bytes, packed " << packed_bytes
                            << " (" << float_bytes / packed_bytes << "x smaller)");
    M back(2);  // other weights; loading replaces them all
    load_checkpoint(back, packed);
    std::vector<float> a(m.params.begin(), m.params.end()), b(back.params.begin(), back.params.end());
    BOOST_TEST(a == b, tt::per_element());
  }
  // A value off its grid cannot be packed: the tensor is named.
  M m(1);
  optim::quantized_optimizer<M, optim::sgd> q(m, optim::sgd{}, {optim::rounding::nearest, 1, 0, 1});
  m.params[5] = 0.123f;
  BOOST_CHECK_EXCEPTION(save_packed_checkpoint(m, (dir / "bad.h5").string(), q.grids()), error, [](const error& e) {
    return std::string(e.what()).find("fc.weight[5]") != std::string::npos;
  });
  // A grid that starts no tensor (another model's, off by one) was skipped: its tensor stored as floats.
  auto shifted = q.grids();
  shifted[0].offset += 1;
  const std::string says = "grids[0] has offset " + std::to_string(shifted[0].offset) + ", expected the offset of one";
  BOOST_CHECK_EXCEPTION(save_packed_checkpoint(m, (dir / "shifted.h5").string(), shifted), error,
                        [&](const error& e) { return std::string(e.what()).find(says) != std::string::npos; });
  BOOST_TEST(!std::filesystem::exists(dir / "shifted.h5"));
  std::filesystem::remove_all(dir);
}
