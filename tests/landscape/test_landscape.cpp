// Landscapes: direction normalization, reproducibility, the closed-form surface of a linear
// model with squared loss, kill-and-resume, refusal of foreign files, direction files.
#define BOOST_TEST_MODULE landscape
#include <omp.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "../checks.hpp"
#include "../killed.hpp"
#include "../scratch.hpp"
#include "basin/landscape/convexity.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/landscape/width.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"

using namespace basin;
namespace fs = std::filesystem;

namespace {
std::string temp_path(const std::string& name) {
  return test::scratch_path(name);
}
// For BOOST_CHECK_EXCEPTION: the error names the file and says what.
auto names_file_and(const std::string& path, const char* what) {
  return [path, what](const basin::error& e) {
    BOOST_TEST_MESSAGE(e.what());
    const std::string w = e.what();
    return w.find(path) != std::string::npos && w.find(what) != std::string::npos;
  };
}
using small_net = network<input<2, 5, 5>, named<"conv", conv<3, 3>>, named<"bn", batch_norm>, relu, global_avg_pool,
                          named<"fc", dense<4>>>;
using small = model<small_net, double>;

double norm2(const double* p, index_t n) {
  double s = 0;
  for (index_t i = 0; i < n; ++i) s += p[i] * p[i];
  return std::sqrt(s);
}
using basin::test::worse;
}  // namespace

BOOST_AUTO_TEST_CASE(reach_below_a_level_along_a_line) {
  // y = x^2 on x = -1, -0.9, ..., 1 (index 10 is x = 0): the closed form crosses 0.25 at 0.5,
  // a grid point, so the interpolation gives exactly 0.5 either way; 0.3 lies between 0.25 (0.5)
  // and 0.36 (0.6): 0.5 + 0.05 / 0.11 * 0.1 by linear interpolation.
  std::vector<double> x, y;
  for (int i = -10; i <= 10; ++i) x.push_back(i / 10.0), y.push_back(x.back() * x.back());
  auto r = reach_below(x, y, 10, 1, 0.25);
  BOOST_TEST((r.how == line_reach::crossed));
  BOOST_TEST(r.lo == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r.hi == r.lo);
  BOOST_TEST(reach_below(x, y, 10, -1, 0.25).lo == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(reach_below(x, y, 10, 1, 0.3).lo == 0.5 + 0.05 / 0.11 * 0.1, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(reach_below(x, y, 10, 1, 0.3).text() == "0.545");
  // Distances below 0.001 keep 3 significant digits (they read "0" or "< 0" before).
  BOOST_TEST(reach_below({0, 1e-4, 2e-4}, {0, 1, 2}, 0, 1, 0.5).text() == "< 0.0001");
  BOOST_TEST(reach_below({0, 4e-4, 8e-4}, {0, 0.25, 2}, 0, 1, 1.125).text() == "0.0006");
  // Above the level one step out: only [0, 0.1] is known.
  r = reach_below(x, y, 10, 1, 0.005);
  BOOST_TEST((r.how == line_reach::first_step && r.lo == 0 && std::abs(r.hi - 0.1) < 1e-12));
  BOOST_TEST(r.text() == "< 0.1");
  // Never above it: at least the grid's end, from wherever it starts.
  r = reach_below(x, y, 12, -1, 10);
  BOOST_TEST((r.how == line_reach::grid_ends && std::abs(r.lo - 1.2) < 1e-12 && std::isinf(r.hi)));
  BOOST_TEST(r.text() == "> 1.2");
  // A NaN counts as above: between the last finite point (0.2) and it (0.3).
  y[13] = NAN;
  r = reach_below(x, y, 10, 1, 0.25);
  BOOST_TEST((r.how == line_reach::not_finite && std::abs(r.lo - 0.2) < 1e-12 && std::abs(r.hi - 0.3) < 1e-12));
  BOOST_TEST(r.text() == "< 0.3 (not finite there)");
  // The start above the level, or not finite itself: 0.
  BOOST_TEST((reach_below(x, y, 20, -1, 0.25).how == line_reach::above));
  BOOST_TEST((reach_below(x, y, 13, 1, 0.25).how == line_reach::above));
  // Bad input names the argument.
  const auto says = [](const char* what) {
    return [what](const basin::error& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  BOOST_CHECK_EXCEPTION(reach_below(x, {1, 2}, 0, 1, 1), basin::error, says("x and y of the same size"));
  BOOST_CHECK_EXCEPTION(reach_below({0, 0}, {1, 2}, 0, 1, 1), basin::error, says("strictly increasing"));
  BOOST_CHECK_EXCEPTION(reach_below(x, y, 21, 1, 1), basin::error, says("from must index the grid (21 points)"));
  BOOST_CHECK_EXCEPTION(reach_below(x, y, 0, 2, 1), basin::error, says("step must be +1 or -1"));
  BOOST_CHECK_EXCEPTION(reach_below(x, y, 0, 1, NAN), basin::error, says("level must be finite"));
}

BOOST_AUTO_TEST_CASE(half_width_as_reports_print_it) {
  // y = x^2 + x / 4 crosses 0.25 at x = -0.640 and 0.390 (closed form (-1 +- sqrt 17) / 8), the
  // grid of step 0.1 interpolates them to 0.6381 and 0.3895 (from y(-0.6) = 0.21, y(-0.7) = 0.315
  // and y(0.3) = 0.165, y(0.4) = 0.26): mean 0.514. The grid need not hold 0 itself: the point nearest it
  // is the origin.
  std::vector<double> x, y;
  for (int i = -10; i <= 10; ++i) x.push_back(i / 10.0), y.push_back(x.back() * x.back() + x.back() / 4);
  const double left = 0.6 + (0.25 - 0.21) / (0.315 - 0.21) * 0.1, right = 0.3 + (0.25 - 0.165) / (0.26 - 0.165) * 0.1;
  BOOST_TEST(half_width_text(x, y, 0.25) == basin::text(std::round(500 * (left + right)) / 1000));
  BOOST_TEST(half_width_text(x, y, 0.25) == "0.514");
  std::vector<double> shifted = x;
  for (auto& v : shifted) v += 0.02;
  BOOST_TEST(half_width_text(shifted, y, 0.25) == "0.514");
  // Both sides past the grid's end alike; one side only bounded: both sides, no comma.
  BOOST_TEST(half_width_text(x, y, 10) == "> 1");
  y[14] = NAN;
  BOOST_TEST(half_width_text(x, y, 0.25) == "0.638 left; < 0.4 (not finite there) right");
  BOOST_CHECK_EXCEPTION(half_width_text({}, {}, 1), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("half_width_text: expected a grid of at least 2 points") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(filter_normalization) {
  small m(1);
  const auto d = random_direction(m, 9, 0, {normalization::filter, true, false});
  for (const auto& t : small::param_table) {
    const double* dp = d.params.data().get() + t.offset;
    const double* wp = m.params.data().get() + t.offset;
    if (t.rank <= 1) {  // biases and batch-norm parameters are zero under ignore bias_bn
      for (index_t i = 0; i < t.size(); ++i) BOOST_TEST(dp[i] == 0.0);
      continue;
    }
    const index_t len = t.size() / t.filters();
    for (int f = 0; f < t.filters(); ++f)
      BOOST_TEST(norm2(dp + f * len, len) == norm2(wp + f * len, len), boost::test_tools::tolerance(1e-9));
  }
  // Without ignore, one-axis tensors copy the weights (the reference tool's default).
  const auto c = random_direction(m, 9, 0, {normalization::filter, false, false});
  const auto& bn = small::param_table[1];
  for (index_t i = 0; i < bn.size(); ++i) BOOST_TEST(c.params[bn.offset + i] == m.params[bn.offset + i]);
  // Layer normalization: the whole tensor has the weights' norm.
  const auto l = random_direction(m, 9, 0, {normalization::layer, true, false});
  const auto& w0 = small::param_table[0];
  BOOST_TEST(norm2(l.params.data().get() + w0.offset, w0.size()) == norm2(m.params.data().get() + w0.offset, w0.size()),
             boost::test_tools::tolerance(1e-9));
}

// Weight normalization: d_i = draw_i * w_i for every element of a tensor with more than one axis,
// the draw being the un-normalized direction of the same (seed, which) (normalization none);
// one-axis tensors, and the running statistics of a states direction, zero under ignore_bias_bn
// and copied from the model without it, as for the other normalizations.
BOOST_AUTO_TEST_CASE(weight_normalization_scales_the_draw_by_the_weights) {
  small m(1);
  for (index_t i = 0; i < small::n_params; ++i) m.params[i] += 0.05 + 0.1 * double(i % 7);  // bn gamma, beta off 1, 0
  for (index_t i = 0; i < small::n_state; ++i) m.state[i] += 0.25 + 0.05 * double(i);
  const auto names = small::parameter_names();
  for (const bool ignore : {true, false}) {
    const auto draw = random_direction(m, 9, 1, {normalization::none, ignore, true});
    const auto d = random_direction(m, 9, 1, {normalization::weight, ignore, true});
    index_t multi = 0, moved = 0;
    for (std::size_t k = 0; k < small::param_table.size(); ++k) {
      const auto& t = small::param_table[k];
      for (index_t i = t.offset; i < t.offset + t.size(); ++i) {
        if (t.rank <= 1) {
          BOOST_TEST(d.params[i] == (ignore ? 0.0 : double(m.params[i])), names[k] << "[" << i - t.offset << "]");
          BOOST_TEST(draw.params[i] == d.params[i], names[k] << "[" << i - t.offset << "]");
          continue;
        }
        ++multi;
        moved += draw.params[i] != 0.0 && m.params[i] != 1.0 && m.params[i] != 0.0;
        BOOST_TEST(d.params[i] == draw.params[i] * m.params[i], names[k] << "[" << i - t.offset << "]");
      }
    }
    BOOST_TEST(multi > 0);
    BOOST_TEST(moved == multi);  // no element where d = draw * w could not tell w from 1 or the draw from 0
    for (index_t i = 0; i < small::n_state; ++i)
      BOOST_TEST(d.state[i] == (ignore ? 0.0 : double(m.state[i])), "state[" << i << "]");
  }
}

// Every normalization's name reads back as itself; "" is none (the reference tool's empty
// --xnorm); anything else is refused naming where it came from, the choices and what was given.
BOOST_AUTO_TEST_CASE(normalization_names_round_trip) {
  for (const auto n : {normalization::filter, normalization::layer, normalization::weight, normalization::none})
    BOOST_TEST((parse_normalization(to_string(n)) == n), to_string(n));
  BOOST_TEST(std::string(to_string(normalization::filter)) == "filter");
  BOOST_TEST(std::string(to_string(normalization::layer)) == "layer");
  BOOST_TEST(std::string(to_string(normalization::weight)) == "weight");
  BOOST_TEST(std::string(to_string(normalization::none)) == "none");
  BOOST_TEST((parse_normalization("") == normalization::none));
  const auto refusal = [](const std::string& s, const std::string& what) {
    try {
      (void)(what.empty() ? parse_normalization(s) : parse_normalization(s, what));
    } catch (const basin::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto has = [](const std::string& text, const std::string& part) {
    BOOST_TEST_MESSAGE(text);
    return text.find(part) != std::string::npos;
  };
  BOOST_TEST(
      has(refusal("Filter", "option --xnorm"), "option --xnorm: expected filter, layer, weight or none, got 'Filter'"));
  BOOST_TEST(has(refusal("filter ", ""), "normalization: expected filter, layer, weight or none, got 'filter '"));
  BOOST_TEST(has(refusal("biasbn", "--ynorm"), "got 'biasbn'"));
}

BOOST_AUTO_TEST_CASE(same_seed_same_direction_on_any_thread_count) {
  model<resnet20<fashion_input>, float> m(3);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto a = random_direction(m, 5, 1, {});
  omp_set_num_threads(2);
  const auto b = random_direction(m, 5, 1, {});
  omp_set_num_threads(threads);
  BOOST_TEST(std::equal(a.params.begin(), a.params.end(), b.params.begin()));
  const auto c = random_direction(m, 5, 0, {});
  BOOST_TEST(!std::equal(a.params.begin(), a.params.end(), c.params.begin()));
}

BOOST_AUTO_TEST_CASE(interpolation_direction) {
  // theta(a) = theta_1 + a (theta_2 - theta_1): a = 1 gives the second model, states included.
  small a(1), b(2);
  for (index_t i = 0; i < small::n_state; ++i) b.state[i] += 0.5;
  auto d = difference(a, b, true);
  const auto p0 = a.params, s0 = a.state;
  set_point(a, p0, s0, d, 1.0);
  const auto tol = boost::test_tools::tolerance(1e-12);
  for (index_t i = 0; i < small::n_params; ++i) BOOST_TEST(double(a.params[i]) == double(b.params[i]), tol);
  for (index_t i = 0; i < small::n_state; ++i) BOOST_TEST(double(a.state[i]) == double(b.state[i]), tol);
  set_point(a, p0, s0, d, 0.25);
  BOOST_TEST(double(a.params[3]) == 0.75 * p0[3] + 0.25 * b.params[3], tol);
}

// y <- y - (<x, y> / <x, x>) x over parameters and running statistics alike, x untouched: the
// cosine alone would also pass taking x's part out of x, or y's statistics left as they were.
BOOST_AUTO_TEST_CASE(gram_schmidt) {
  small m(2);
  auto x = random_direction(m, 1, 0, {normalization::none, false, true});
  auto y = random_direction(m, 1, 1, {normalization::none, false, true});
  for (index_t i = 0; i < small::n_params; ++i) y.params[i] += 0.5 * x.params[i];  // correlate them
  for (index_t i = 0; i < small::n_state; ++i) y.state[i] += 0.5 * x.state[i];
  BOOST_TEST(std::abs(cosine(x, y)) > 0.2);
  const std::vector<double> xp(x.params.begin(), x.params.end()), xs(x.state.begin(), x.state.end());
  const std::vector<double> yp(y.params.begin(), y.params.end()), ys(y.state.begin(), y.state.end());
  double xy = 0, xx = 0, state_xx = 0;
  for (std::size_t i = 0; i < xp.size(); ++i) xy += xp[i] * yp[i], xx += xp[i] * xp[i];
  for (std::size_t i = 0; i < xs.size(); ++i) xy += xs[i] * ys[i], xx += xs[i] * xs[i], state_xx += xs[i] * xs[i];
  BOOST_TEST_REQUIRE(state_xx > 0.0);  // the statistics move too
  orthogonalize(x, y);
  BOOST_TEST(std::abs(cosine(x, y)) < 1e-12);
  for (std::size_t i = 0; i < xp.size(); ++i) {
    BOOST_TEST(double(x.params[index_t(i)]) == xp[i]);
    BOOST_TEST(double(y.params[index_t(i)]) == yp[i] - xy / xx * xp[i], boost::test_tools::tolerance(1e-12));
  }
  for (std::size_t i = 0; i < xs.size(); ++i) {
    BOOST_TEST(double(x.state[index_t(i)]) == xs[i]);
    BOOST_TEST(double(y.state[index_t(i)]) == ys[i] - xy / xx * xs[i], boost::test_tools::tolerance(1e-12));
  }
}

// Zero, non-finite or out-of-range arguments are refused by name, with what was found.
BOOST_AUTO_TEST_CASE(directions_refuse_bad_arguments) {
  small m(2);
  const auto says = [](std::vector<std::string> words) {
    return [words](const basin::error& e) {
      BOOST_TEST_MESSAGE(e.what());
      for (const auto& w : words)
        if (std::string(e.what()).find(w) == std::string::npos) return false;
      return true;
    };
  };
  auto x = random_direction(m, 1, 0, {normalization::filter, true, false});
  auto zero = x, nan = x;
  for (index_t i = 0; i < small::n_params; ++i) zero.params[std::size_t(i)] = 0;
  nan.params[3] = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(cosine(x, zero), basin::error, says({"cosine", "second direction's squared norm is 0"}));
  BOOST_CHECK_EXCEPTION(cosine(nan, x), basin::error, says({"cosine", "first direction's squared norm is nan"}));
  BOOST_CHECK_EXCEPTION(orthogonalize(nan, x), basin::error, says({"orthogonalize", "squared norm is nan"}));
  auto y = x;
  BOOST_CHECK_EXCEPTION(orthogonalize(x, nan), basin::error, says({"orthogonalize", "second direction is not finite"}));
  BOOST_TEST(y.params == x.params);
  const auto before = m.params;
  BOOST_CHECK_EXCEPTION(set_point(m, before, m.state, x, std::numeric_limits<double>::infinity()), basin::error,
                        says({"set_point", "inf", "finite"}));
  BOOST_CHECK_EXCEPTION(set_point(m, before, m.state, x, 0.5, &y, std::nan("")), basin::error,
                        says({"set_point", "nan"}));
  BOOST_TEST(m.params == before);
  BOOST_CHECK_EXCEPTION(random_direction(m, 1, 500, {normalization::filter, true, false}), basin::error,
                        says({"random_direction", "which = 500", "0 to 499"}));
  BOOST_CHECK_EXCEPTION(random_direction(m, 1, 0, {static_cast<normalization>(9), true, false}), basin::error,
                        says({"random_direction", "normalization 9"}));
}

namespace {
// A linear model y = w.x + b with squared loss: the loss on a plane is a quadratic in (a, b)
// whose coefficients come from the residuals along w, d1 and d2.
using linear_net = network<input<4, 1, 1>, dense<1>>;
using linear = model<linear_net, double>;
struct squared_loss {
  std::vector<double> x, t;  // x (n, 4), targets (n)
  index_t n;
  point_metrics operator()(linear& m) const {
    const double* z = m.forward(x.data(), n, mode::eval);
    double s = 0;
    for (index_t i = 0; i < n; ++i) s += (z[i] - t[i]) * (z[i] - t[i]);
    return {s / double(n)};
  }
};
squared_loss make_data(index_t n) {
  squared_loss l{std::vector<double>(static_cast<std::size_t>(4 * n)), std::vector<double>(static_cast<std::size_t>(n)),
                 n};
  const counter_rng rng{4, 4};
  for (std::size_t i = 0; i < l.x.size(); ++i) l.x[i] = rng.normal(i);
  for (index_t i = 0; i < n; ++i) l.t[i] = rng.normal(std::uint64_t(1000 + i));
  return l;
}
}  // namespace

BOOST_AUTO_TEST_CASE(closed_form_quadratic_surface) {
  linear m(1);
  auto d1 = random_direction(m, 2, 0, {normalization::none, false, false});
  auto d2 = random_direction(m, 2, 1, {normalization::none, false, false});
  const auto data = make_data(50);
  // residual r(a, b) = r0 + a r1 + b r2 with r_k = X w_k + b_k (- t for k = 0)
  const auto resid = [&](const double* w, bool minus_t, std::vector<double>& r) {
    r.assign(std::size_t(data.n), 0);
    for (index_t i = 0; i < data.n; ++i) {
      double s = w[4];
      for (int k = 0; k < 4; ++k) s += w[k] * data.x[std::size_t(i * 4 + k)];
      r[std::size_t(i)] = s - (minus_t ? data.t[std::size_t(i)] : 0);
    }
  };
  std::vector<double> r0, r1, r2;
  resid(m.params.data().get(), true, r0);
  resid(d1.params.data().get(), false, r1);
  resid(d2.params.data().get(), false, r2);
  surface_options o;
  o.x = linspace(-1, 1, 7);
  o.y = linspace(-0.5, 1.5, 5);
  o.progress = false;
  const auto path = temp_path("quadratic.h5");
  sweep(m, d1, &d2, path, o, {"train_loss"}, data);
  auto f = h5::file::open(path);
  // The reference tool's layout (numpy.meshgrid(x, y)): (ny, nx), value[j, i] at (x[i], y[j]);
  // surface_values gives plot::grid2d's order, z[i * ny + j].
  const auto file_order = f.read<double>("train_loss"), z = surface_values(f, "train_loss");
  BOOST_TEST((f.shape("train_loss") == std::vector<hsize_t>{5, 7}));
  BOOST_TEST((f.shape("computed") == std::vector<hsize_t>{5, 7}));
  BOOST_TEST(f.attr_string("/", "format") == "basin-surface-2");
  for (std::size_t i = 0; i < 7; ++i)
    for (std::size_t j = 0; j < 5; ++j) {
      const double a = o.x[i], b = o.y[j];
      double s = 0;
      for (std::size_t q = 0; q < r0.size(); ++q) {
        const double r = r0[q] + a * r1[q] + b * r2[q];
        s += r * r;
      }
      BOOST_TEST(file_order[j * 7 + i] == s / double(data.n), boost::test_tools::tolerance(1e-9));
      BOOST_TEST(z[i * 5 + j] == file_order[j * 7 + i]);
    }
  // The model is back at the origin.
  std::vector<double> r_after;
  resid(m.params.data().get(), true, r_after);
  BOOST_TEST(r_after == r0);
}

namespace {
// A 6 x 4 plane of the linear model's loss: the whole sweep, and one that crashes at a point.
struct small_plane {
  linear m{1};
  direction<linear> d1 = random_direction(m, 2, 0, {normalization::none, false, false});
  direction<linear> d2 = random_direction(m, 2, 1, {normalization::none, false, false});
  squared_loss data = make_data(20);
  surface_options o;
  small_plane() {
    o.x = linspace(-1, 1, 6);
    o.y = linspace(-1, 2, 4);
    o.progress = false;
    o.settings = "test sweep";
  }
  sweep_stats whole(const std::string& path) { return sweep(m, d1, &d2, path, o, {"train_loss"}, data); }
  // Sweeps until the evaluation of point `crash` (counted from 1) throws: crash - 1 points written.
  void crashing(const std::string& path, int crash) {
    int calls = 0;
    const auto eval = [&](linear& mm) {
      if (++calls == crash) throw std::runtime_error("simulated crash");
      return data(mm);
    };
    BOOST_CHECK_THROW(sweep(m, d1, &d2, path, o, {"train_loss"}, eval), std::runtime_error);
  }
};
}  // namespace

BOOST_FIXTURE_TEST_CASE(kill_and_resume_gives_the_same_file, small_plane) {
  const auto whole_file = temp_path("whole.h5"), resumed = temp_path("resumed.h5");
  whole(whole_file);
  crashing(resumed, 10);
  {
    auto f = h5::file::open(resumed);
    const auto mask = f.read<std::uint8_t>("computed");
    BOOST_TEST(std::count(mask.begin(), mask.end(), 1) == 9);
    BOOST_TEST(f.read<double>("train_loss")[20] == -1.0);  // not yet computed: -1 as the reference tool
  }
  int calls = 0;
  const auto counting = [&](linear& mm) {
    ++calls;
    return data(mm);
  };
  const auto st = sweep(m, d1, &d2, resumed, o, {"train_loss"}, counting);
  BOOST_TEST(calls == 24 - 9);
  BOOST_TEST(st.skipped == 9);
  auto a = h5::file::open(whole_file), b = h5::file::open(resumed);
  BOOST_TEST(a.read<double>("train_loss") == b.read<double>("train_loss"));
  BOOST_TEST(a.read<std::uint8_t>("computed") == b.read<std::uint8_t>("computed"));
}

// The same with a real kill: SIGKILL at the 10th point, in a child process, unwinds nothing and
// closes no file; what the child had flushed is all the rerun finds (9 points).
BOOST_FIXTURE_TEST_CASE(a_sweep_killed_by_sigkill_resumes_from_its_file, small_plane) {
  const auto whole_file = temp_path("whole_for_kill.h5"), killed = temp_path("killed.h5");
  whole(whole_file);
  BOOST_TEST_REQUIRE(test::dies_by_sigkill([&] {
    int calls = 0;
    sweep(m, d1, &d2, killed, o, {"train_loss"}, [&](linear& mm) {
      if (++calls == 10) ::raise(SIGKILL);
      return data(mm);
    });
  }));
  {
    auto f = h5::file::open(killed);
    const auto mask = f.read<std::uint8_t>("computed");
    BOOST_TEST(std::count(mask.begin(), mask.end(), 1) == 9);
  }
  const auto st = sweep(m, d1, &d2, killed, o, {"train_loss"}, data);
  BOOST_TEST(st.skipped == 9);
  auto a = h5::file::open(whole_file), b = h5::file::open(killed);
  BOOST_TEST(a.read<double>("train_loss") == b.read<double>("train_loss"));
  BOOST_TEST(a.read<std::uint8_t>("computed") == b.read<std::uint8_t>("computed"));
}

namespace {
// The same surface file in basin's layout before 2026-12 ("basin-surface-1": a plane's arrays
// (nx, ny), value[i, j] at (x[i], y[j])).
void to_old_layout(const std::string& from, const std::string& to) {
  auto a = h5::file::open(from);
  const auto x = a.read<double>("xcoordinates"), y = a.read<double>("ycoordinates");
  const std::size_t nx = x.size(), ny = y.size();
  auto b = h5::file::create(to);
  b.set_attr("/", "format", "basin-surface-1");
  for (const char* name : {"origin_digest", "directions_digest", "architecture", "settings"})
    b.set_attr("/", name, a.attr_string("/", name));
  b.set_attr("/", "fingerprint", a.attr_u64("/", "fingerprint"));
  b.write_string("dir_file", a.read_string("dir_file"));
  b.write<double>("xcoordinates", x, {nx});
  b.write<double>("ycoordinates", y, {ny});
  const auto transpose = [&](const auto& v) {
    std::remove_cvref_t<decltype(v)> t(v.size());
    for (std::size_t j = 0; j < ny; ++j)
      for (std::size_t i = 0; i < nx; ++i) t[i * ny + j] = v[j * nx + i];
    return t;
  };
  b.write<double>("train_loss", transpose(a.read<double>("train_loss")), {nx, ny});
  b.write<std::uint8_t>("computed", transpose(a.read<std::uint8_t>("computed")), {nx, ny});
}
}  // namespace

BOOST_FIXTURE_TEST_CASE(surface_files_of_the_old_layout_resume_in_it, small_plane) {
  // A sweep stopped in a file of basin's old layout goes on in that layout (its missing points,
  // at their own places), and surface_values reads both layouts alike.
  const auto whole_file = temp_path("layout_whole.h5"), part = temp_path("layout_part.h5"),
             old = temp_path("layout_old.h5");
  whole(whole_file);
  crashing(part, 8);
  to_old_layout(part, old);
  const auto st = sweep(m, d1, &d2, old, o, {"train_loss"}, data);
  BOOST_TEST(st.skipped == 7);
  BOOST_TEST(st.computed == 24 - 7);
  auto f = h5::file::open(old);
  BOOST_TEST((f.shape("train_loss") == std::vector<hsize_t>{6, 4}));
  BOOST_TEST(f.attr_string("/", "format") == "basin-surface-1");
  const auto z_old = surface_values(f, "train_loss"), z_new = surface_values(whole_file, "train_loss");
  BOOST_TEST(z_old == z_new, boost::test_tools::per_element());
  BOOST_TEST(f.read<double>("train_loss") == z_new, boost::test_tools::per_element());  // (nx, ny) as grid2d
  const auto mask = f.read<std::uint8_t>("computed");
  BOOST_TEST(std::count(mask.begin(), mask.end(), 1) == 24);
  // A dataset of neither shape is named.
  {
    auto g = h5::file::open(whole_file, true);
    g.write<double>("odd", std::vector<double>(24, 0.0), {4, 3, 2});
  }
  BOOST_CHECK_EXCEPTION(surface_values(whole_file, "odd"), basin::error, [&](const basin::error& e) {
    const std::string w = e.what();
    return w.find(whole_file) != std::string::npos &&
           w.find("'odd' has shape (4, 3, 2), expected (4, 6)") != std::string::npos;
  });
  // The reference tool's own file (no format attribute): meshgrid order under the shape
  // (len(x), len(y)) it declares, read alike.
  {
    const auto ref = temp_path("reference_tool.h5");
    auto r = h5::file::create(ref);
    r.write<double>("xcoordinates", std::vector<double>{-1, 0, 1}, {3});
    r.write<double>("ycoordinates", std::vector<double>{0, 1}, {2});
    std::vector<double> v(6);
    for (std::size_t j = 0; j < 2; ++j)
      for (std::size_t i = 0; i < 3; ++i) v[j * 3 + i] = 10.0 * double(i) + double(j);
    r.write<double>("train_loss", v, {3, 2});
    r.close();
    BOOST_TEST(surface_values(ref, "train_loss") == (std::vector<double>{0, 1, 10, 11, 20, 21}),
               boost::test_tools::per_element());
  }
  BOOST_CHECK_EXCEPTION(surface_values(whole_file, "nothing"), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("no dataset 'nothing'") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(foreign_or_corrupted_surface_files_are_refused) {
  linear m(1);
  auto d1 = random_direction(m, 2, 0, {normalization::none, false, false});
  const auto data = make_data(10);
  surface_options o;
  o.x = linspace(-1, 1, 5);
  o.progress = false;
  o.settings = "A";
  const auto path = temp_path("line.h5");
  sweep(m, d1, nullptr, path, o, {"train_loss"}, data);
  const auto before = fs::last_write_time(path);
  const auto names_path = [&](const basin::error& e) { return std::string(e.what()).find(path) != std::string::npos; };
  auto other = o;
  other.x = linspace(-2, 2, 5);
  BOOST_CHECK_EXCEPTION(sweep(m, d1, nullptr, path, other, {"train_loss"}, data), basin::error, names_path);
  other = o;
  other.settings = "B";
  BOOST_CHECK_EXCEPTION(sweep(m, d1, nullptr, path, other, {"train_loss"}, data), basin::error, names_path);
  // Other weights at the origin (one value moved by one ulp: a checkpoint trained further under
  // the same name), or other directions: refused, naming what differs; the same again resumes.
  const double w0 = m.params[3];
  m.params[3] = std::nextafter(w0, 1e9);
  BOOST_CHECK_EXCEPTION(
      sweep(m, d1, nullptr, path, o, {"train_loss"}, data), basin::error,
      names_file_and(path, "its weights at the origin (digest of the parameters and statistics) is "));
  m.params[3] = w0;
  auto d2 = random_direction(m, 3, 0, {normalization::none, false, false});
  BOOST_CHECK_EXCEPTION(sweep(m, d2, nullptr, path, o, {"train_loss"}, data), basin::error,
                        names_file_and(path, "its directions (digest) is "));
  BOOST_TEST((fs::last_write_time(path) == before));  // never overwritten
  BOOST_TEST(sweep(m, d1, nullptr, path, o, {"train_loss"}, data).skipped == 5);
  const auto junk = temp_path("junk.h5");
  std::ofstream(junk) << "garbage";
  BOOST_CHECK_THROW(sweep(m, d1, nullptr, junk, o, {"train_loss"}, data), basin::error);
  // Coordinates of another shape, or more than an axis may have (a small file that declares
  // 2^40 of them), are refused by their shape before anything is read.
  {
    const auto hostile = temp_path("hostile.h5");
    {
      auto f = h5::file::create(hostile);
      f.set_attr("/", "format", surface_format);
      f.write<double>("xcoordinates", std::vector<double>(6, 0.0), {2, 3});
    }
    BOOST_CHECK_EXCEPTION(surface_values(h5::file::open(hostile), "train_loss"), basin::error,
                          names_file_and(hostile, "'xcoordinates' has shape (2, 3), expected one axis of 1 to 100000"));
    {
      const hid_t f = H5Fcreate(hostile.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      const hsize_t dims[1] = {hsize_t(1) << 40}, chunk[1] = {16};
      const hid_t space = H5Screate_simple(1, dims, nullptr), plist = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_chunk(plist, 1, chunk);
      const hid_t d = H5Dcreate2(f, "xcoordinates", H5T_IEEE_F64LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
      BOOST_REQUIRE(d >= 0);
      H5Dclose(d), H5Pclose(plist), H5Sclose(space), H5Fclose(f);
    }
    BOOST_CHECK_EXCEPTION(surface_values(h5::file::open(hostile), "train_loss"), basin::error,
                          names_file_and(hostile, "has shape (1099511627776,)"));
  }
  BOOST_CHECK_THROW(parse_range("-1:1", "--x"), basin::error);
  BOOST_TEST(parse_range("-1:1:5", "--x") == linspace(-1, 1, 5));
  // Ranges that parse but make no grid name the option, before anything is allocated.
  const auto names_option = [](const basin::error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return std::string(e.what()).find("option --x") != std::string::npos;
  };
  for (const char* bad : {"-1:1:0", "1:-1:5", "-1:1:2000000000", "-1:1:-3", "nan:1:5", "-1e308:1e308:5",
                          "1:1.0000000000000002:11"})  // (the last: neighbours that coincide in double)
    BOOST_CHECK_EXCEPTION(parse_range(bad, "--x"), basin::error, names_option);
  BOOST_CHECK_EXCEPTION(linspace(1, 1.0000000000000002, 11), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("too narrow for 11 distinct points") != std::string::npos;
  });
  BOOST_CHECK_THROW(linspace(-1, 1, max_axis_points + 1), basin::error);
  BOOST_CHECK_EXCEPTION(linspace(-1e308, 1e308, 3), basin::error, [](const basin::error& e) {  // -2e308 on the way
    return std::string(e.what()).find("overflows double precision") != std::string::npos;
  });
  // A sweep's axes must increase strictly (pictures and the file's grid need it).
  surface_options unordered = o;
  unordered.x = {0.0, 0.5, 0.5};
  const auto unordered_file = temp_path("unordered.h5");
  BOOST_CHECK_EXCEPTION(sweep(m, d1, nullptr, unordered_file, unordered, {"train_loss"}, data), basin::error,
                        [](const basin::error& e) {
                          return std::string(e.what()).find(
                                     "x coordinates must increase strictly, but [2] = 0.5 "
                                     "follows [1] = 0.5") != std::string::npos;
                        });
  BOOST_TEST(!fs::exists(unordered_file));
  // A metric stored as float32 (by another program): refused before a point is computed.
  const auto float_file = temp_path("float_metric.h5");
  std::filesystem::copy_file(path, float_file, std::filesystem::copy_options::overwrite_existing);
  {
    const hid_t f = H5Fopen(float_file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    BOOST_REQUIRE(H5Ldelete(f, "train_loss", H5P_DEFAULT) >= 0);
    const hsize_t n = o.x.size();
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t d = H5Dcreate2(f, "train_loss", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_REQUIRE(d >= 0);
    H5Dclose(d), H5Sclose(space), H5Fclose(f);
  }
  BOOST_CHECK_EXCEPTION(sweep(m, d1, nullptr, float_file, o, {"train_loss"}, data), basin::error,
                        [&](const basin::error& e) {
                          const std::string w = e.what();
                          BOOST_TEST_MESSAGE(w);
                          return w.find(float_file) != std::string::npos && w.find("/train_loss") != std::string::npos;
                        });
  // An evaluation with batches of no image is refused, not looped on.
  basin::loss_accuracy zero{nullptr, nullptr, 0};
  BOOST_CHECK_THROW(zero.check(), basin::error);
}

BOOST_AUTO_TEST_CASE(direction_files_in_the_reference_layout) {
  using m8 = model<resnet<8, fashion_input>, float>;
  m8 m(1);
  auto x = random_direction(m, 3, 0, {normalization::filter, true, false});
  auto y = random_direction(m, 3, 1, {normalization::filter, true, false});
  const auto path = temp_path("dirs.h5");
  save_directions(path, x, &y, {normalization::filter, true, false}, 3);
  auto f = h5::file::open(path);
  BOOST_TEST(f.children("xdirection").size() == m8::param_table.size());
  BOOST_TEST((f.shape("xdirection/0") == std::vector<hsize_t>{16, 1, 3, 3}));  // conv1.weight
  const auto y2 = load_direction<m8>(path, "ydirection");
  BOOST_TEST(std::equal(y.params.begin(), y.params.end(), y2.params.begin()));
  // States mode: state_dict order, batch-norm buffers after each batch_norm's parameters.
  auto xs = random_direction(m, 3, 0, {normalization::filter, false, true});
  const auto spath = temp_path("dirs_states.h5");
  save_directions(spath, xs, nullptr, {normalization::filter, false, true}, 3);
  auto g = h5::file::open(spath);
  // conv1.weight, bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var, bn1.num_batches_tracked, ...
  BOOST_TEST(g.children("xdirection").size() == m8::param_table.size() + m8::state_table.size() / 2 * 3);
  BOOST_TEST((g.shape("xdirection/5") == std::vector<hsize_t>{}));
  const auto xs2 = load_direction<m8>(spath, "xdirection");
  BOOST_TEST(std::equal(xs.state.begin(), xs.state.end(), xs2.state.begin()));
  using m20 = model<resnet20<fashion_input>, float>;
  BOOST_CHECK_THROW(load_direction<m20>(path, "xdirection"), basin::error);
  // A file made with other settings says which (plot_surface refuses it rather than sweeping
  // directions other than those asked for); a file that is not of directions says so.
  direction_options made{normalization::filter, true, false}, other = made;
  const std::uint64_t seed = 3, other_seed = 4;
  BOOST_TEST(direction_file_mismatch<m8>(path, &made, &seed).empty());
  BOOST_TEST(direction_file_mismatch<m8>(path, nullptr, nullptr).empty());
  other.norm = normalization::layer;
  BOOST_TEST(direction_file_mismatch<m8>(path, &other, &seed) == "its norm is 'filter', this run's 'layer'");
  other = made;
  other.ignore_bias_bn = false;
  BOOST_TEST(direction_file_mismatch<m8>(path, &other, &seed) == "its ignore is 'biasbn', this run's ''");
  BOOST_TEST(direction_file_mismatch<m8>(spath, &made, &seed) == "its ignore is '', this run's 'biasbn'");
  BOOST_TEST(direction_file_mismatch<m8>(path, &made, &other_seed) == "its seed is 3, this run's 4");
  BOOST_TEST(direction_file_mismatch<m20>(path, nullptr, nullptr).find("it holds directions of resnet8") == 0u);
  // Principal directions (dir_source "pca") are made with no norm and no seed of a run's own.
  const auto pca = temp_path("pca_dirs.h5");
  save_directions(pca, x, &y, {normalization::none, true, false}, 0,
                  [](h5::file& pf) { pf.set_attr("/", "dir_source", "pca"); });
  BOOST_TEST(direction_file_mismatch<m8>(pca, &made, &seed).empty());
  BOOST_TEST(direction_file_mismatch<m8>(pca, &other, &seed) == "its ignore is 'biasbn', this run's ''");
  // Directions between checkpoints (plot_surface --model_file2) are refused as random ones, with
  // every setting alike; a run between checkpoints compares the directions themselves.
  const auto between = temp_path("between_dirs.h5");
  save_directions(between, x, &y, made, seed, [](h5::file& pf) { pf.set_attr("/", "dir_source", "checkpoints"); });
  BOOST_TEST(direction_file_mismatch<m8>(between, &made, &seed) ==
             "it holds the directions between checkpoints (made with --model_file2), not random ones");
  BOOST_TEST(direction_file_mismatch<m8>(between, nullptr, nullptr).empty());
  const auto ckpt = temp_path("not_dirs.h5");
  save_checkpoint(m, ckpt);
  BOOST_TEST(direction_file_mismatch<m8>(ckpt, &made, &seed) ==
             "it is a file of format 'basin-checkpoint-1', not of directions");
  // ... and a directions file is no checkpoint.
  BOOST_CHECK_EXCEPTION(load_checkpoint(m, path), basin::error, [&](const basin::error& e) {
    return std::string(e.what()) ==
           "checkpoint '" + path +
               "': a file of format 'basin-directions-1', expected 'basin-checkpoint-1' (or 'torch-state-dict-1')";
  });
}

// ---- the sweep's fast path -----------------------------------------------------------------
namespace {
dataset random_dataset(dims shape, index_t n, std::uint64_t seed) {
  dataset d;
  d.shape = shape;
  d.images.resize(static_cast<std::size_t>(n * shape.size()));
  d.labels.resize(static_cast<std::size_t>(n));
  const counter_rng rng{seed, 9};
  for (std::size_t i = 0; i < d.images.size(); ++i) d.images[i] = float(rng.normal(i));
  for (index_t i = 0; i < n; ++i) d.labels[std::size_t(i)] = std::int32_t(rng.bits(std::uint64_t(1) << 40 | i)[0] % 10);
  return d;
}
// Batch-norm parameters and running statistics away from their initial 1, 0, 0, 1.
template <class Model>
void perturb_batch_norm(Model& m, std::uint64_t seed) {
  const counter_rng rng{seed, 3};
  for (const auto& t : Model::param_table)
    if (t.kind == param_kind::bn_weight || t.kind == param_kind::bn_bias)
      for (index_t i = 0; i < t.size(); ++i)
        m.params[std::size_t(t.offset + i)] += typename Model::scalar(0.3 * rng.normal(std::uint64_t(t.offset + i)));
  for (const auto& t : Model::state_table)
    for (index_t i = 0; i < t.size(); ++i) {
      const double r = rng.normal(std::uint64_t(1) << 30 | std::uint64_t(t.offset + i));
      m.state[std::size_t(t.offset + i)] =
          typename Model::scalar(t.kind == param_kind::bn_running_var ? 0.5 + 0.4 * std::fabs(r) : 0.2 * r);
    }
}
template <class T>
double max_rel(const T* a, const T* b, index_t n) {
  double worst = 0;
  for (index_t i = 0; i < n; ++i)
    worst = worse(worst, std::fabs(double(a[i]) - double(b[i])) / std::max(1.0, std::fabs(double(b[i]))));
  return worst;
}
template <class Net, class T>
double infer_vs_forward(std::uint64_t seed) {
  model<Net, T> m(seed);
  perturb_batch_norm(m, seed);
  const auto d = random_dataset(Net::in, 7, seed);
  std::vector<T> x(d.images.begin(), d.images.end());
  std::vector<T> ref(std::size_t(7 * m.classes));
  const T* z = m.forward(x.data(), 7, mode::eval);
  std::copy(z, z + ref.size(), ref.begin());
  return max_rel(m.infer(x.data(), 7), ref.data(), index_t(ref.size()));
}
using tiny_resnet = resnet<8, input<3, 8, 8>, 1, 10>;
using tiny_plain = plain<8, input<3, 8, 8>, 1, 10>;
}  // namespace

BOOST_AUTO_TEST_CASE(folded_inference_equals_eval_forward) {
  // The same arithmetic in fewer passes: conv -> bn -> relu fused, the sum and relu fused.
  BOOST_TEST((infer_vs_forward<tiny_resnet, double>(1)) < 1e-13);
  BOOST_TEST((infer_vs_forward<tiny_plain, double>(2)) < 1e-13);
  BOOST_TEST((infer_vs_forward<tiny_resnet, float>(3)) < 1e-6);
  BOOST_TEST((infer_vs_forward<small_net, float>(4)) < 1e-6);
}

// Interpolating past two nets moves each running variance in a straight line; the loss is NaN
// once one turns negative (the batch norm's square root), and running_variance_range says where.
BOOST_AUTO_TEST_CASE(running_variance_range_ends_where_a_variance_turns_negative) {
  small a(1), b(2);
  const auto var = *std::find_if(small::state_table.begin(), small::state_table.end(),
                                 [](const auto& t) { return t.kind == param_kind::bn_running_var; });
  BOOST_TEST_REQUIRE(var.size() == 3);
  // Channel 0 goes 1 -> 4 (negative for t < -1/3), channel 1 goes 2 -> 1 (negative for t > 2),
  // channel 2 stays at 0.5.
  const double va[3] = {1, 2, 0.5}, vb[3] = {4, 1, 0.5};
  for (int c = 0; c < 3; ++c)
    a.state[std::size_t(var.offset + c)] = va[c], b.state[std::size_t(var.offset + c)] = vb[c];
  auto d = difference(a, b, true);
  const auto [lo, hi] = running_variance_range(a, d);
  BOOST_TEST(lo == -1.0 / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(hi == 2.0, boost::test_tools::tolerance(1e-12));
  auto data = random_dataset(small_net::in, 6, 5);
  data.classes = 4;
  for (auto& l : data.labels) l %= 4;
  const auto p0 = a.params, s0 = a.state;
  for (const auto& [t, finite] :
       {std::pair{lo + 1e-3, true}, {lo - 1e-3, false}, {hi - 1e-3, true}, {hi + 1e-3, false}}) {
    set_point(a, p0, s0, d, t);
    BOOST_TEST(std::isfinite(evaluate(a, data, 3).loss) == finite, "t = " << t);
  }
  // The grid points past those ends: a line, and a plane whose second direction is d again
  // (the point (a, b) is m + (a + b) d).
  set_point(a, p0, s0, d, 0.0);
  const std::vector<double> xs{-1, -0.3, 0, 1, 2.5}, ys{0, 1.5};
  BOOST_TEST(points_with_negative_variance(a, d, xs) == 2);          // -1 and 2.5
  BOOST_TEST(points_with_negative_variance(a, d, xs, &d, ys) == 4);  // and a + 1.5 = 2.5, 4
  // A weights-only direction moves no variance: no end on either side.
  auto w = difference(a, b, false);
  const auto [wlo, whi] = running_variance_range(a, w);
  BOOST_TEST((std::isinf(wlo) && wlo < 0 && std::isinf(whi) && whi > 0));
}

namespace {
// Sweeps the same grid through the block path (points_per_pass points per pass over the data,
// staged first layer, folded batch norm) and point by point through evaluate(); returns the
// largest relative difference of the losses and the largest difference of the accuracies.
template <class T>
std::pair<double, double> blocks_vs_points(bool recompute, const std::string& tag, bool stage = true,
                                           criterion kind = criterion::cross_entropy) {
  using M = model<tiny_resnet, T>;
  M m(5);
  perturb_batch_norm(m, 5);
  auto dx = random_direction(m, 11, 0, {normalization::filter, true, false});
  auto dy = random_direction(m, 11, 1, {normalization::layer, false, true});  // moves the statistics too
  const auto train = random_dataset(tiny_resnet::in, 37, 6), test = random_dataset(tiny_resnet::in, 23, 7);
  loss_accuracy la{&train, &test, 16, recompute ? &train : nullptr, stage};
  la.loss = kind;
  surface_options o;
  o.x = linspace(-1, 1, 3);
  o.y = linspace(-0.5, 1, 4);
  o.progress = false;
  o.points_per_pass = 5;  // blocks of 5, 5, 2
  const auto blocked = temp_path("blocked_" + tag + ".h5"), single = temp_path("single_" + tag + ".h5");
  const auto st = sweep(m, dx, &dy, blocked, o, la.names(), la);
  BOOST_TEST(st.computed == 12);
  loss_accuracy reference{&train, &test, 16, recompute ? &train : nullptr};
  reference.loss = kind;
  sweep(m, dx, &dy, single, o, la.names(), [&](M& mm) { return reference(mm); });
  auto a = h5::file::open(blocked), b = h5::file::open(single);
  BOOST_TEST(a.attr_string("/", "loss_name") == criterion_name(kind));  // recorded by the sweep
  double loss = 0, acc = 0;
  for (const char* name : {"train_loss", "test_loss"}) {
    const auto va = a.read<double>(name), vb = b.read<double>(name);
    loss = worse(loss, max_rel(va.data(), vb.data(), index_t(va.size())));
  }
  for (const char* name : {"train_acc", "test_acc"}) {
    const auto va = a.read<double>(name), vb = b.read<double>(name);
    for (std::size_t i = 0; i < va.size(); ++i) acc = worse(acc, std::fabs(va[i] - vb[i]));
  }
  return {loss, acc};
}
}  // namespace

BOOST_AUTO_TEST_CASE(grid_batched_sweep_equals_point_by_point) {
  const auto [loss_d, acc_d] = blocks_vs_points<double>(false, "double");
  BOOST_TEST(loss_d < 1e-12);
  BOOST_TEST(acc_d == 0.0);
  const auto [loss_f, acc_f] = blocks_vs_points<float>(false, "float");
  BOOST_TEST(loss_f < 1e-5);
  BOOST_TEST(acc_f <= 100.0 / 23);  // float may flip at most one near-tie image
  const auto [loss_r, acc_r] = blocks_vs_points<double>(true, "recompute");
  BOOST_TEST(loss_r < 1e-12);
  BOOST_TEST(acc_r == 0.0);
  const auto [loss_u, acc_u] = blocks_vs_points<double>(false, "unstaged", false);  // first layer not staged
  BOOST_TEST(loss_u < 1e-12);
  BOOST_TEST(acc_u == 0.0);
  const auto [loss_m, acc_m] = blocks_vs_points<double>(false, "mse", true, criterion::mse);
  BOOST_TEST(loss_m < 1e-12);
  BOOST_TEST(acc_m == 0.0);
}

namespace {
// 9 random images of small_net's shape, labelled in [0, 4) for its four outputs.
dataset four_class_data() {
  auto d = random_dataset(small_net::in, 9, 8);
  d.classes = 4;
  for (auto& l : d.labels) l %= 4;
  return d;
}

// small_net in double with a filter-normalized direction, and a loss sweep over four_class_data().
struct small_line {
  using M = model<small_net, double>;
  M m{3};
  direction<M> dx = random_direction(m, 4, 0, {normalization::filter, true, false});
  const dataset data = four_class_data();
  loss_accuracy la{&data, nullptr, 4};
  surface_options o;
  small_line() { o.progress = false; }
};
}  // namespace

BOOST_FIXTURE_TEST_CASE(points_whose_logits_overflow_are_recorded_as_nan, small_line) {
  // Far out along a direction the logits overflow (the talk: "it just goes up and up ... until
  // you just get NaNs"): the sweep records that point as NaN loss and 0% accuracy instead of
  // losing the run, block by block and point by point alike, marks it computed, and a rerun
  // skips it; the points before it equal evaluate(). Training still refuses a NaN loss.
  o.x = {0, 0.5, 1e300};
  for (const bool blocks : {true, false}) {
    const auto path = temp_path(blocks ? "overflow_blocks.h5" : "overflow_points.h5");
    const auto st = blocks ? sweep(m, dx, nullptr, path, o, la.names(), la)
                           : sweep(m, dx, nullptr, path, o, la.names(), [&](M& mm) { return la(mm); });
    BOOST_TEST(st.computed == 3);
    auto f = h5::file::open(path);
    const auto loss = f.read<double>("train_loss"), acc = f.read<double>("train_acc");
    const auto done = f.read<std::uint8_t>("computed");
    BOOST_TEST(std::isnan(loss[2]));
    BOOST_TEST(acc[2] == 0.0);
    BOOST_TEST((done == std::vector<std::uint8_t>{1, 1, 1}));
    const typename M::vector<double> origin = m.params, origin_state = m.state;
    for (std::size_t q = 0; q < 2; ++q) {
      for (index_t i = 0; i < M::n_params; ++i) m.params[i] = origin[i] + o.x[q] * dx.params[i];
      const auto e = evaluate(m, data, 4);
      BOOST_TEST(std::isfinite(loss[q]));
      BOOST_TEST(loss[q] == e.loss, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(acc[q] == e.accuracy);
    }
    for (index_t i = 0; i < M::n_params; ++i) m.params[i] = origin[i] + 1e300 * dx.params[i];
    BOOST_TEST(std::isnan(evaluate(m, data, 4).loss));
    if (!blocks) {  // 1e300 d is absorbed by the batch statistics in train mode: NaN weights are not
      std::fill(m.params.begin(), m.params.end(), NAN);
      optim::optimizer<optim::sgd, double, backend::host> opt({}, M::n_params);
      train_options t;
      t.batch_size = 4;
      t.progress = false;
      BOOST_CHECK_EXCEPTION(train(m, opt, optim::constant_lr{0.1}, data, t), basin::error, [](const basin::error& e) {
        return std::string(e.what()).find("train: the loss is NaN at epoch 1, step 1") != std::string::npos;
      });
      // A last step that makes the weights NaN comes after the last loss: refused at the epoch's
      // end, before on_epoch (which writes the checkpoints).
      m.params = origin;
      int epochs_reported = 0;
      const index_t steps = (data.size() + t.batch_size - 1) / t.batch_size;
      BOOST_CHECK_EXCEPTION(
          train(
              m, opt, optim::constant_lr{0.1}, data, t, nullptr, [&](const epoch_record&) { ++epochs_reported; },
              [&](int, index_t s) {
                if (s + 1 == steps) m.params[5] = NAN;
              }),
          basin::error, [](const basin::error& e) {
            return std::string(e.what()).find("train: the weights are not finite at the end of epoch 1") !=
                   std::string::npos;
          });
      BOOST_TEST(epochs_reported == 0);
    }
    m.params = origin;
    m.state = origin_state;  // the failed training step moved the running statistics
    f.close();
    BOOST_TEST(sweep(m, dx, nullptr, path, o, la.names(), la).skipped == 3);
  }
}

BOOST_FIXTURE_TEST_CASE(surface_files_keep_the_weights_they_were_swept_with, small_line) {
  // A surface file records digests of the origin (parameters and batch-norm statistics) and of the
  // directions: a resume with any of them changed is refused before on_ready runs (where examples
  // write their directions file), NaN weights are refused, and a file without the digests (written
  // before basin kept them) resumes as before.
  o.x = linspace(-1, 1, 3);
  int ready = 0;
  o.on_ready = [&] { ++ready; };
  const auto path = temp_path("digests.h5");
  sweep(m, dx, nullptr, path, o, la.names(), la);
  BOOST_TEST(ready == 1);
  const auto origin_is = "its weights at the origin (digest of the parameters and statistics) is ";
  const auto keep_state = m.state;
  m.state[0] = std::nextafter(m.state[0], 1e9);  // a running mean, one ulp
  BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, path, o, la.names(), la), basin::error, names_file_and(path, origin_is));
  m.state = keep_state;
  const auto keep_dir = dx.state;
  dx.state[M::n_state - 1] += 1e-3;  // the directions' statistics count too
  BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, path, o, la.names(), la), basin::error,
                        names_file_and(path, "its directions (digest) is "));
  dx.state = keep_dir;
  BOOST_TEST(ready == 1);  // not called for a refused file
  const double w0 = m.params[1];
  m.params[1] = NAN;
  const auto nan_path = temp_path("nan_origin.h5");
  BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, nan_path, o, la.names(), la), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("sweep: the weights at the origin are not all finite") != std::string::npos;
  });
  BOOST_TEST(!fs::exists(nan_path));
  m.params[1] = w0;
  BOOST_TEST(sweep(m, dx, nullptr, path, o, la.names(), la).skipped == 3);
  BOOST_TEST(ready == 2);
  // A file of the first format without the digests (written before basin kept them; a line's
  // layout is the same in both formats): other statistics are not noticed. The current format
  // without them is refused (its writer always records them).
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    BOOST_REQUIRE(H5Adelete(f, "origin_digest") >= 0);
    BOOST_REQUIRE(H5Adelete(f, "directions_digest") >= 0);
    H5Fclose(f);
  }
  m.state[0] = std::nextafter(m.state[0], 1e9);
  BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, path, o, la.names(), la), basin::error,
                        names_file_and(path, "has format 'basin-surface-2' but no attribute 'origin_digest'"));
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    BOOST_REQUIRE(H5Adelete(f, "format") >= 0);
    H5Fclose(f);
    h5::file::open(path, true).set_attr("/", "format", "basin-surface-1");
  }
  BOOST_TEST(sweep(m, dx, nullptr, path, o, la.names(), la).skipped == 3);
}

BOOST_AUTO_TEST_CASE(mse_surface_is_the_softmax_squared_error_and_not_resumed_as_cross_entropy) {
  // A line of the MSE loss: every point equals (1/n) sum_i (1/K) sum_k (p_ik - y_ik)^2 computed
  // here from the model's logits; a cross-entropy sweep does not resume the MSE file.
  using M = model<small_net, double>;
  M m(3);
  auto dx = random_direction(m, 4, 0, {normalization::filter, true, false});
  const auto test = four_class_data();
  loss_accuracy la{nullptr, &test, 4};
  la.loss = criterion::mse;
  surface_options o;
  o.x = linspace(-1, 1, 3);
  o.progress = false;
  const auto path = temp_path("mse_line.h5");
  sweep(m, dx, nullptr, path, o, la.names(), la);
  const auto got = h5::file::open(path).read<double>("test_loss");
  const typename M::vector<double> origin = m.params;
  for (std::size_t q = 0; q < o.x.size(); ++q) {
    for (index_t i = 0; i < M::n_params; ++i) m.params[i] = origin[i] + o.x[q] * dx.params[i];
    const std::vector<double> x(test.images.begin(), test.images.end());
    const double* z = m.forward(x.data(), test.size(), mode::eval);
    double expect = 0;
    for (index_t i = 0; i < test.size(); ++i) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += std::exp(z[k * test.size() + i]);
      for (int k = 0; k < 4; ++k) {
        const double d = std::exp(z[k * test.size() + i]) / s - (k == test.labels[i] ? 1 : 0);
        expect += d * d / (4.0 * double(test.size()));
      }
    }
    BOOST_TEST(got[q] == expect, boost::test_tools::tolerance(1e-12));
  }
  m.params = origin;
  loss_accuracy ce{nullptr, &test, 4};
  BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, path, o, ce.names(), ce), basin::error, [&](const basin::error& e) {
    const std::string w = e.what();
    return w.find(path) != std::string::npos &&
           w.find("loss (loss_name) is mse, this sweep's is crossentropy") != std::string::npos;
  });
  // An evaluator's metrics under other names (test values filed as train_*, or in another
  // order) are refused before anything is written.
  const auto other = temp_path("renamed_line.h5");
  for (const std::vector<std::string>& names :
       {std::vector<std::string>{"train_loss", "train_acc"}, std::vector<std::string>{"test_acc", "test_loss"}})
    BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, other, o, names, ce), basin::error, [](const basin::error& e) {
      return std::string(e.what()).find("expected the evaluator's {test_loss, test_acc} in its order") !=
             std::string::npos;
    });
  BOOST_TEST(!std::filesystem::exists(other));
}

BOOST_AUTO_TEST_CASE(recompute_batch_norm_averages_the_batch_statistics) {
  // batch_norm first: its batch statistics are those of the input itself.
  using net = network<input<2, 3, 3>, batch_norm, flatten, dense<10>>;
  model<net, double> m(1);
  const auto d = random_dataset(net::in, 5, 8);  // batches of 3 and 2
  m.batches_tracked = 42;
  m.set_batch_norm_momentum(0.01);  // given back as it was, not as the default
  recompute_batch_norm(m, d, 3);
  for (int c = 0; c < 2; ++c) {
    double mean_sum = 0, var_sum = 0;
    for (auto [b0, nb] : {std::pair{0, 3}, std::pair{3, 2}}) {
      std::vector<double> v;
      for (int i = b0; i < b0 + nb; ++i)
        for (int p = 0; p < 9; ++p) v.push_back(d.images[std::size_t((i * 2 + c) * 9 + p)]);
      double mean = 0, ss = 0;
      for (double e : v) mean += e / double(v.size());
      for (double e : v) ss += (e - mean) * (e - mean);
      mean_sum += mean;
      var_sum += ss / double(v.size() - 1);
    }
    BOOST_TEST(double(m.state[std::size_t(c)]) == mean_sum / 2, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(double(m.state[std::size_t(2 + c)]) == var_sum / 2, boost::test_tools::tolerance(1e-12));
  }
  BOOST_TEST(m.batches_tracked == 42);
  double momentum = 0;
  m.for_each_layer([&](auto& l) {
    if constexpr (detail::is_batch_norm_v<std::remove_cvref_t<decltype(l)>>) momentum = l.momentum;
  });
  BOOST_TEST(momentum == 0.01);
}

BOOST_AUTO_TEST_CASE(a_last_batch_of_one_image_before_a_flat_batch_norm_is_refused_before_any_work) {
  // A batch norm after a 1 x 1 map (VGG-9's classifier) sees one value per channel when the last
  // batch holds one image: train and recompute_batch_norm refuse such a split at once, naming the
  // sizes, instead of at the epoch's last step; other splits go ahead.
  using net = network<input<2, 3, 3>, flatten, dense<4>, batch_norm, relu, dense<10>>;
  model<net, double> m(1);
  const auto d = random_dataset(net::in, 5, 8);
  const std::vector<double> before(m.params.begin(), m.params.end());
  optim::optimizer<optim::sgd, double, backend::host> opt({0.9, 0.0, false}, model<net, double>::n_params);
  train_options o;
  o.epochs = 1;
  o.batch_size = 4;
  o.progress = false;
  const auto says = [](const char* who) {
    return [who](const basin::error& e) {
      const std::string w = e.what();
      return w.find(who) != std::string::npos &&
             w.find("the last batch of 5 images in batches of 4 holds one image") != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION(train(m, opt, optim::cosine_lr{0.1, 1.0}, d, o), basin::error, says("train:"));
  BOOST_TEST(std::equal(before.begin(), before.end(), m.params.begin()));
  BOOST_CHECK_EXCEPTION(recompute_batch_norm(m, d, 4), basin::error, says("recompute_batch_norm:"));
  o.batch_size = 3;  // batches of 3 and 2
  BOOST_TEST(train(m, opt, optim::cosine_lr{0.1, 1.0}, d, o).size() == 1u);
  recompute_batch_norm(m, d, 3);
  // A batch norm on 3 x 3 maps sees 9 values from one image: fine.
  using spatial = network<input<2, 3, 3>, conv<4, 3>, batch_norm, relu, flatten, dense<10>>;
  model<spatial, double> s(1);
  recompute_batch_norm(s, d, 4);
}

namespace {
// The mean loss at w + a d for each a of `alphas`, d the random direction `seed` of the given
// normalization (biases and batch norm left out); the weights are restored afterwards.
template <class Net>
std::vector<double> line_losses(Net& net, normalization norm, std::uint64_t seed, const std::vector<double>& alphas,
                                const dataset& data, index_t batch) {
  const auto d = random_direction(net, seed, 0, {norm, true, false});
  const std::vector<double> w(net.params.begin(), net.params.end());
  std::vector<double> loss;
  for (const double a : alphas) {
    for (std::size_t i = 0; i < w.size(); ++i) net.params[i] = w[i] + a * d.params[i];
    loss.push_back(evaluate(net, data, batch).loss);
  }
  for (std::size_t i = 0; i < w.size(); ++i) net.params[i] = w[i];
  return loss;
}
}  // namespace

// The talk's other scale invariance: "if you use [relu] nonlinearities then I can ... multiply
// [the weights in one layer] by ten and ... compensate ... by dividing [another] by ten ... you get
// the exact same thing out of the network". A relu MLP with its first hidden layer (weights and
// bias) x k and the next layer's weights / k is the same function; filter- and layer-normalized
// lines through the two are the same line (each filter's perturbation scales with it), the raw
// line is not. (Any normalization that scales with each tensor passes this; that filter
// normalization works row by row is test_landscape's filter_normalization.)
BOOST_AUTO_TEST_CASE(scale_invariance_across_a_relu) {
  using net_t = model<mlp<input<1, 4, 4>, 10, 6, 5>, double>;
  static_assert(net_t::param_table.size() == 6);  // (weight, bias) of 16->6, 6->5, 5->10
  net_t m(5);
  const auto data = random_dataset(net_t::in, 10, 7);
  const std::vector<double> x(data.images.begin(), data.images.end());
  const auto& t = net_t::param_table;
  for (const double k : {10.0, 0.01}) {
    net_t r(5);
    r.params = m.params;
    for (index_t i = 0; i < t[0].size(); ++i) r.params[t[0].offset + i] *= k;
    for (index_t i = 0; i < t[1].size(); ++i) r.params[t[1].offset + i] *= k;
    for (index_t i = 0; i < t[2].size(); ++i) r.params[t[2].offset + i] /= k;
    const double* za = m.forward(x.data(), 10, mode::eval);
    const std::vector<double> la(za, za + 100);
    BOOST_TEST(max_rel(r.forward(x.data(), 10, mode::eval), la.data(), 100) < 1e-12);
    const std::vector<double> alphas{-1.0, -0.4, 0.2, 0.5, 1.0};
    const auto line = [&](net_t& net, normalization norm) { return line_losses(net, norm, 13, alphas, data, 10); };
    for (const auto norm : {normalization::filter, normalization::layer}) {
      const auto l0 = line(m, norm), l1 = line(r, norm);
      for (std::size_t i = 0; i < alphas.size(); ++i) BOOST_TEST(l1[i] == l0[i], boost::test_tools::tolerance(1e-10));
    }
    const auto n0 = line(m, normalization::none), n1 = line(r, normalization::none);
    double differ = 0;
    for (std::size_t i = 0; i < alphas.size(); ++i) differ = worse(differ, std::fabs(n1[i] - n0[i]));
    BOOST_TEST_MESSAGE("k = " << k << ": largest difference along the raw lines " << differ);
    BOOST_TEST(differ > 1e-3);
  }
}

// The talk's scale invariance: multiplying every conv that feeds a batch norm by k (and its
// running statistics to match) leaves the network's function alone (up to batch norm's eps) but
// makes its weights k times larger. A line without normalization then changes, a
// filter-normalized one does not.
BOOST_AUTO_TEST_CASE(scale_invariance_under_batch_norm) {
  using m8 = model<resnet<8, fashion_input>, double>;
  m8 m(3);
  perturb_batch_norm(m, 4);
  const auto data = random_dataset(m8::in, 12, 5);
  std::vector<double> x(std::size_t(6 * m8::in.size()));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = data.images[i];
  for (const double k : {10.0, 100.0}) {
    m8 r(3);
    r.params = m.params;
    r.state = m.state;
    BOOST_TEST(r.rescale_before_batch_norm(k) == 9);  // conv1, 2 per block, 2 projections
    // Conv weights k times larger, the dense layer's and batch norms' parameters unchanged.
    for (const auto& t : m8::param_table)
      for (index_t i = 0; i < t.size(); ++i) {
        const double want = m.params[t.offset + i] * (t.kind == param_kind::weight && t.rank == 4 ? k : 1.0);
        BOOST_TEST(r.params[t.offset + i] == want, boost::test_tools::tolerance(1e-12));
      }
    // The same function in eval and in train mode (batch statistics), up to eps / (k^2 var).
    for (const mode md : {mode::eval, mode::train}) {
      m8 a(3), b(3);
      a.params = m.params, a.state = m.state, b.params = r.params, b.state = r.state;
      const double* za = a.forward(x.data(), 6, md);
      const std::vector<double> la(za, za + 60);
      const double* zb = b.forward(x.data(), 6, md);
      BOOST_TEST(max_rel(zb, la.data(), 60) < 1e-4);
    }
    // Lines through both along the same random draw (seed 11).
    const std::vector<double> alphas{-0.6, -0.3, 0.15, 0.3, 0.6};
    const auto line = [&](m8& net, normalization norm) { return line_losses(net, norm, 11, alphas, data, 6); };
    for (const auto norm : {normalization::filter, normalization::layer}) {
      const auto l0 = line(m, norm), l1 = line(r, norm);
      for (std::size_t i = 0; i < alphas.size(); ++i) BOOST_TEST(l1[i] == l0[i], boost::test_tools::tolerance(1e-4));
    }
    // Without normalization the rescaled net's line is another line: far flatter (its conv
    // weights are k times larger, the same perturbation matters k times less).
    const auto n0 = line(m, normalization::none), n1 = line(r, normalization::none);
    const double at0 = evaluate(m, data, 6).loss;
    double change0 = 0, change1 = 0;
    for (std::size_t i = 0; i < alphas.size(); ++i)
      change0 += std::fabs(n0[i] - at0), change1 += std::fabs(n1[i] - at0);
    BOOST_TEST_MESSAGE("k = " << k << ": mean |loss change| along the raw line " << change0 / 5 << " -> "
                              << change1 / 5);
    BOOST_TEST(change1 < 0.5 * change0);
  }
  // Refused: a factor that is not positive, and quantized convs (they would leave their grid).
  m8 r(3);
  BOOST_CHECK_THROW(r.rescale_before_batch_norm(0.0), basin::error);
  BOOST_CHECK_THROW(r.rescale_before_batch_norm(-2.0), basin::error);
  BOOST_CHECK_THROW(r.rescale_before_batch_norm(INFINITY), basin::error);
  using qnet =
      network<input<1, 6, 6>, conv<4, 3, 1, 1, false, weights::integer<4>>, batch_norm, relu, flatten, dense<3>>;
  model<qnet, double> q(1);
  const std::vector<double> before(q.params.begin(), q.params.end());
  BOOST_CHECK_THROW(q.rescale_before_batch_norm(10.0), basin::error);
  BOOST_TEST(std::equal(before.begin(), before.end(), q.params.begin()));
}

BOOST_AUTO_TEST_SUITE(slice_convexity_of_surfaces)

// f on the grid x (outer) by y (inner), as plot::grid2d holds it.
template <class F>
plot::grid2d tabulate(const std::vector<double>& x, const std::vector<double>& y, F f) {
  plot::grid2d g{x, y, {}, "f"};
  for (double a : x)
    for (double b : y) g.z.push_back(f(a, b));
  return g;
}
std::vector<double> axis(double lo, double hi, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(lo + (hi - lo) * i / (n - 1));
  return v;
}

BOOST_AUTO_TEST_CASE(convex_bowls_saddles_and_double_wells) {
  const auto x = axis(-1, 1, 21);
  // A tilted convex bowl: convex everywhere, one minimum (at the origin).
  const auto bowl = slice_convexity(tabulate(x, x, [](double a, double b) { return a * a + 2 * b * b + 0.3 * a * b; }), 2);
  BOOST_TEST(bowl.points == 19 * 19);
  BOOST_TEST(bowl.nonconvex == 0);
  BOOST_TEST(bowl.local_minima == 1);
  // A saddle curves down everywhere and has no minimum.
  const auto saddle = slice_convexity(tabulate(x, x, [](double a, double b) { return a * a - b * b; }), 2);
  BOOST_TEST(saddle.share == 1.0);
  BOOST_TEST(saddle.local_minima == 0);
  // Within radius 0.5 only: interior points (a/10, b/10) with a^2 + b^2 <= 25, counted in
  // integers: the points on the circle, (0.3, 0.4) among them, count whatever the rounding.
  index_t inside = 0;
  for (int a = -9; a <= 9; ++a)
    for (int b = -9; b <= 9; ++b) inside += a * a + b * b <= 25;
  BOOST_TEST(inside == 81);
  BOOST_TEST(slice_convexity(tabulate(x, x, [](double a, double b) { return a * a - b * b; }), 0.5).points == inside);

  // x^4 - x^2 + y^2: two wells at x = +-1/sqrt(2), concave in x for 12 x^2 < 2. The second
  // difference of x^4 with step h is 12 x^2 + 2 h^2 exactly, so the expected count is known.
  const auto xw = axis(-1.5, 1.5, 31);
  const auto wells = slice_convexity(tabulate(xw, x, [](double a, double b) { return a * a * a * a - a * a + b * b; }), 10);
  index_t expected = 0;
  for (int i = 1; i < 30; ++i) {
    const double fxx = 12 * xw[i] * xw[i] + 2 * 0.01 - 2;
    expected += 19 * (fxx < -0.01 * std::max(std::abs(fxx), 2.0));
  }
  BOOST_TEST(expected > 0);
  BOOST_TEST(wells.nonconvex == expected);
  BOOST_TEST(wells.points == 29 * 19);
  BOOST_TEST(wells.local_minima == 2);
}

BOOST_AUTO_TEST_CASE(uneven_spacing_and_missing_points) {
  // Three-point formulas are exact for quadratics on any spacing: a narrow convex bowl stays
  // convex, a saddle stays a saddle.
  const std::vector<double> x{-1, -0.7, -0.55, -0.1, 0, 0.05, 0.4, 0.9, 1};
  const auto bowl = [](double a, double b) { return 3 * a * a + b * b - 1.7 * a * b + a; };
  BOOST_TEST(slice_convexity(tabulate(x, x, bowl), 5, 0).nonconvex == 0);
  BOOST_TEST(slice_convexity(tabulate(x, x, [](double a, double b) { return a * b; }), 5, 0).share == 1.0);
  // A point not computed (NaN) removes itself and its interior neighbours from the count.
  auto g = tabulate(x, x, bowl);
  g.z[4 * 9 + 4] = std::nan("");
  BOOST_TEST(slice_convexity(g, 5).points == 7 * 7 - 9);
  BOOST_CHECK_THROW(slice_convexity(g, 0), basin::error);
  BOOST_CHECK_THROW(slice_convexity(g, 1, 1.0), basin::error);
  g.z.pop_back();
  BOOST_CHECK_THROW(slice_convexity(g, 1), basin::error);
}

// A sweep records the digest of its evaluator's data and its metrics' names: resumed on other
// images of the same count, or with fewer metrics than the file holds (whose points would be
// marked computed with values never written), it is refused by name; on the same data it resumes.
BOOST_FIXTURE_TEST_CASE(a_sweep_resumed_on_other_data_or_metrics_is_refused, small_line) {
  o.x = linspace(-1, 1, 3);
  const auto path = temp_path("data_digest_line.h5");
  sweep(m, dx, nullptr, path, o, la.names(), la);
  BOOST_TEST(h5::file::open(path).attr_string("/", "data_digest") == "train " + data_digest(data));
  BOOST_TEST(h5::file::open(path).attr_string("/", "metrics") == "train_loss,train_acc");
  BOOST_TEST(sweep(m, dx, nullptr, path, o, la.names(), la).skipped == 3);
  auto other = data;
  other.labels[0] = (other.labels[0] + 1) % 4;
  const loss_accuracy on_other{&other, nullptr, 4};
  BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, path, o, on_other.names(), on_other), basin::error,
                        names_file_and(path, "its data (digest of the images and labels) is train "));
  // A file of train and test metrics resumed with the test metrics alone.
  const auto both_path = temp_path("data_digest_both.h5");
  const loss_accuracy both{&data, &data, 4}, test_only{nullptr, &data, 4};
  o.x = linspace(-1, 1, 2);
  sweep(m, dx, nullptr, both_path, o, both.names(), both);
  {  // (a point left to compute, so that the resume would write)
    auto f = h5::file::open(both_path, true);
    const std::uint8_t zero = 0;
    f.write_range<std::uint8_t>("computed", 1, &zero, 1);
  }
  BOOST_CHECK_EXCEPTION(sweep(m, dx, nullptr, both_path, o, test_only.names(), test_only), basin::error,
                        names_file_and(both_path,
                                       "its metrics is 'train_loss,train_acc,test_loss,test_acc', this sweep's is "
                                       "'test_loss,test_acc'"));
}

// Refusals of another grid say what the file holds and where it differs.
BOOST_FIXTURE_TEST_CASE(another_grid_is_named_with_its_values, small_plane) {
  const auto path = temp_path("grid_named.h5");
  whole(path);
  auto other = o;
  other.x = linspace(-2, 2, 6);
  BOOST_CHECK_EXCEPTION(sweep(m, d1, &d2, path, other, {"train_loss"}, data), basin::error,
                        names_file_and(path,
                                       "its x coordinates is 6 values from -1 to 1 ([0] = -1 where this sweep "
                                       "has -2), this sweep's is 6 values from -2 to 2"));
  other = o;
  other.y = linspace(-1, 2, 5);
  BOOST_CHECK_EXCEPTION(sweep(m, d1, &d2, path, other, {"train_loss"}, data), basin::error,
                        names_file_and(path, "its y coordinates is 4 values from -1 to 2, this sweep's is 5 values"));
  // A file of the current format without the digests its writer always records: refused.
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    BOOST_REQUIRE(H5Adelete_by_name(f, "/", "directions_digest", H5P_DEFAULT) >= 0);
    H5Fclose(f);
  }
  BOOST_CHECK_EXCEPTION(sweep(m, d1, &d2, path, o, {"train_loss"}, data), basin::error,
                        names_file_and(path, "but no attribute 'directions_digest'"));
}

// An interrupted sweep's file reads back NaN (not computed) where its mask is 0, the -1 that the
// file holds there (the reference tool's marker) never passing for a loss.
BOOST_FIXTURE_TEST_CASE(points_not_computed_read_back_as_nan, small_plane) {
  const auto path = temp_path("interrupted.h5");
  crashing(path, 10);
  const auto z = surface_values(path, "train_loss");
  const auto mask = h5::file::open(path).read<std::uint8_t>("computed");
  const auto raw = h5::file::open(path).read<double>("train_loss");
  BOOST_TEST_REQUIRE(z.size() == 24u);
  int finite = 0;
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t i = 0; i < 6; ++i) {
      const double v = z[i * 4 + j];  // grid2d's order; the file's is (y, x)
      BOOST_TEST(std::isfinite(v) == bool(mask[j * 6 + i]));
      if (mask[j * 6 + i]) BOOST_TEST(v == raw[j * 6 + i]);
      finite += std::isfinite(v);
    }
  BOOST_TEST(finite == 9);
}

namespace {
// A block evaluator that loses the last point of every block.
struct losing_evaluator {
  std::vector<std::string> names() const { return {"train_loss"}; }
  template <class M>
  point_metrics operator()(M&) const {
    return {0.0};
  }
  template <class M, class V, class D>
  std::vector<point_metrics> evaluate_points(M&, const V&, const V&, const D&, const D*,
                                             const std::vector<std::array<double, 2>>& pts,
                                             const std::function<void(double)>&) const {
    return std::vector<point_metrics>(pts.size() - 1, point_metrics{0.0});
  }
};
}  // namespace

BOOST_FIXTURE_TEST_CASE(an_evaluator_that_returns_too_few_points_is_refused, small_plane) {
  o.points_per_pass = 4;
  const auto path = temp_path("losing.h5");
  losing_evaluator lose;
  BOOST_CHECK_EXCEPTION(sweep(m, d1, &d2, path, o, lose.names(), lose), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("returned 3 points' metrics for a block of 4 points") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()
