// Optimizers against their formulas, schedules, the epoch order, evaluation.
#define BOOST_TEST_MODULE train
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <set>

#include "basin/backend/host.hpp"
#include "basin/data/dataset.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/train/trainer.hpp"

using namespace basin;
using host = backend::host;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_CASE(sgd_nesterov_weight_decay_by_hand) {
  // Two steps on one weight, w0 = 1, g = 0.5 both times, mu 0.9, wd 0.1, lr 0.2:
  // d1 = 0.5 + 0.1 = 0.6, b1 = 0.6, step = 0.6 + 0.9*0.6 = 1.14, w1 = 1 - 0.228 = 0.772
  // d2 = 0.5 + 0.0772 = 0.5772, b2 = 0.9*0.6 + 0.5772 = 1.1172, step = 0.5772 + 0.9*1.1172, w2 = w1 - 0.2 step
  optim::optimizer<optim::sgd, double, host> opt({0.9, 0.1, true}, 1);
  std::vector<double> w{1.0}, g{0.5};
  opt.step(w.data(), g.data(), 0.2);
  BOOST_TEST(w[0] == 0.772, tt::tolerance(1e-14));
  opt.step(w.data(), g.data(), 0.2);
  BOOST_TEST(w[0] == 0.772 - 0.2 * (0.5772 + 0.9 * 1.1172), tt::tolerance(1e-14));
  // Plain momentum: w -= lr * b.
  optim::optimizer<optim::sgd, double, host> heavy({0.9, 0.0, false}, 1);
  w = {1.0};
  heavy.step(w.data(), g.data(), 0.1);
  heavy.step(w.data(), g.data(), 0.1);
  BOOST_TEST(w[0] == 1.0 - 0.1 * 0.5 - 0.1 * (0.9 * 0.5 + 0.5), tt::tolerance(1e-14));
  BOOST_CHECK_THROW(heavy.step(w.data(), g.data(), -1.0), basin::error);
}

BOOST_AUTO_TEST_CASE(adam_by_hand) {
  // First Adam step moves each weight by lr * sign(g) (bias correction makes m/v^(1/2) = g/|g|).
  optim::optimizer<optim::adam, double, host> opt({0.9, 0.999, 1e-8, 0.0}, 3);
  std::vector<double> w{1, 2, 3}, g{0.3, -2, 1e-3};
  opt.step(w.data(), g.data(), 0.01);
  BOOST_TEST(w[0] == 0.99, tt::tolerance(1e-6));
  BOOST_TEST(w[1] == 2.01, tt::tolerance(1e-6));
  BOOST_TEST(w[2] == 2.99, tt::tolerance(1e-4));
  // Second step with another gradient, against the formula written out.
  const double w1 = w[0];
  std::vector<double> g2{0.1, 0.1, 0.1};
  const double m = 0.9 * 0.1 * 0.3 + 0.1 * 0.1, v = 0.999 * 0.001 * 0.09 + 0.001 * 0.01;
  const double expect = w1 - 0.01 * (m / (1 - 0.81)) / (std::sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
  opt.step(w.data(), g2.data(), 0.01);
  BOOST_TEST(w[0] == expect, tt::tolerance(1e-12));
}

// A step refused for its learning rate changes nothing, the step count (Adam's bias correction)
// included: the next step equals a fresh optimizer's.
BOOST_AUTO_TEST_CASE(a_refused_step_changes_nothing) {
  optim::optimizer<optim::adam, double, host> opt({0.9, 0.999, 1e-8, 0.0}, 1), fresh({0.9, 0.999, 1e-8, 0.0}, 1);
  std::vector<double> w{1}, v{1}, g{0.5};
  BOOST_CHECK_THROW(opt.step(w.data(), g.data(), -1), error);
  BOOST_CHECK_THROW(opt.step(w.data(), g.data(), std::nan("")), error);
  BOOST_TEST(opt.steps() == 0);
  BOOST_TEST(w[0] == 1.0);
  opt.step(w.data(), g.data(), 0.1);
  fresh.step(v.data(), g.data(), 0.1);
  BOOST_TEST(w[0] == v[0]);
  BOOST_TEST(w[0] == 1 - 0.1 * 0.5 / (0.5 + 1e-8), tt::tolerance(1e-12));  // lr sign(g), less eps's part
}

BOOST_AUTO_TEST_CASE(schedules) {
  const optim::step_lr s{0.1, {2, 4}, 0.1};
  BOOST_TEST(s(0.0) == 0.1, tt::tolerance(1e-15));
  BOOST_TEST(s(1.99) == 0.1, tt::tolerance(1e-15));
  BOOST_TEST(s(2.0) == 0.01, tt::tolerance(1e-15));
  BOOST_TEST(s(5.5) == 0.001, tt::tolerance(1e-15));
  const optim::cosine_lr c{0.1, 10, 0.0};
  BOOST_TEST(c(0) == 0.1, tt::tolerance(1e-15));
  BOOST_TEST(c(5) == 0.05, tt::tolerance(1e-12));
  BOOST_TEST(c(10) == 0.0, tt::tolerance(1e-15));
  BOOST_TEST(c(2.5) == 0.05 * (1 + std::cos(M_PI / 4)), tt::tolerance(1e-12));
  // Settings out of range are refused at the first call, naming the setting.
  const auto says = [](const char* what) {
    return [what](const error& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  BOOST_CHECK_EXCEPTION((optim::step_lr{0.1, {5}, -0.1}(0.0)), error, says("step_lr: gamma must be finite and > 0"));
  BOOST_CHECK_EXCEPTION((optim::step_lr{0.1, {5}, std::nan("")}(0.0)), error, says("gamma"));
  BOOST_CHECK_EXCEPTION((optim::step_lr{-0.1, {5}, 0.1}(0.0)), error, says("step_lr: lr must be finite and >= 0"));
  BOOST_CHECK_EXCEPTION((optim::cosine_lr{0.1, 10, -0.5}(0.0)), error, says("cosine_lr: min_lr"));
  BOOST_CHECK_EXCEPTION((optim::cosine_lr{0.1, 10, 0}(std::nan(""))), error, says("cosine_lr: the epoch"));
  BOOST_CHECK_EXCEPTION((optim::constant_lr{INFINITY}(0.0)), error, says("constant_lr: lr"));
}

BOOST_AUTO_TEST_CASE(epoch_order_is_a_seeded_permutation) {
  const auto a = epoch_order(1000, 3, 0), b = epoch_order(1000, 3, 0), c = epoch_order(1000, 3, 1);
  BOOST_TEST(a == b);
  BOOST_TEST(a != c);
  BOOST_TEST(std::set<index_t>(a.begin(), a.end()).size() == 1000u);
  // Position of item 0 is uniform: over 2000 epochs, the mean position is 499.5 with sd
  // 288.7/sqrt(2000) = 6.5; allow 5 sd.
  double mean = 0;
  for (int e = 0; e < 2000; ++e) {
    const auto p = epoch_order(1000, 9, e);
    mean += double(std::find(p.begin(), p.end(), 0) - p.begin());
  }
  BOOST_TEST(std::abs(mean / 2000 - 499.5) < 5 * 6.5);
}

// Augmentation pads with black as PyTorch's RandomCrop does before Normalize: after normalize
// a raw 0 is -mean/stddev (here -1), not 0 (the mean, a grey).
BOOST_AUTO_TEST_CASE(augmentation_pads_with_black_after_normalize) {
  struct fake_model {  // what batch_stager reads of a model
    using scalar = float;
    using backend_type = host;
  };
  dataset d;
  d.shape = {1, 4, 4};
  d.classes = 2;
  d.images.assign(16, 1.0f);  // one white image
  d.labels = {1};
  normalize(d, {{0.5}, {0.5}});  // white -> 1, black -> -1
  BOOST_TEST(d.raw_zero == std::vector<float>{-1.0f});
  BOOST_TEST(subset(d, 0, 1).raw_zero == d.raw_zero);
  detail::batch_stager<fake_model> st;
  const counter_rng aug{3, (stream::augment << 32)};
  const index_t idx[1] = {0};
  index_t padded = 0;
  for (std::uint64_t base = 0; base < 40; ++base) {
    st.stage(d, idx, 1, &aug, base);
    for (const float v : st.host_x) {
      BOOST_TEST((v == 1.0f || v == -1.0f));
      padded += v == -1.0f;
    }
  }
  BOOST_TEST(padded > 0);  // some draws shift the image
  // Without normalize the readers' black, 0.
  dataset raw = d;
  raw.raw_zero.clear();
  st.stage(raw, idx, 1, &aug, 1);
  for (const float v : st.host_x) BOOST_TEST((v == 1.0f || v == 0.0f));
}
