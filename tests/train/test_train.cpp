// Optimizers against their formulas, schedules, the epoch order, evaluation.
#define BOOST_TEST_MODULE train
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "../random_data.hpp"
#include "basin/backend/host.hpp"
#include "basin/data/dataset.hpp"
#include "basin/net/model.hpp"
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
  // First Adam step moves each weight by lr g / (|g| + eps) (bias correction makes m/v^(1/2) = g/|g|).
  optim::optimizer<optim::adam, double, host> opt({0.9, 0.999, 1e-8, 0.0}, 3);
  std::vector<double> w{1, 2, 3}, g{0.3, -2, 1e-3};
  opt.step(w.data(), g.data(), 0.01);
  BOOST_TEST(w[0] == 1 - 0.01 * 0.3 / (0.3 + 1e-8), tt::tolerance(1e-12));
  BOOST_TEST(w[1] == 2 + 0.01 * 2 / (2 + 1e-8), tt::tolerance(1e-12));
  // eps outside the square root: with a gradient of 1e-3, sqrt(v + eps) would step 0.5% less
  BOOST_TEST(w[2] == 3 - 0.01 * 1e-3 / (1e-3 + 1e-8), tt::tolerance(1e-12));
  // Second step with another gradient, against the formula written out.
  const double w1 = w[0];
  std::vector<double> g2{0.1, 0.1, 0.1};
  const double m = 0.9 * 0.1 * 0.3 + 0.1 * 0.1, v = 0.999 * 0.001 * 0.09 + 0.001 * 0.01;
  const double expect = w1 - 0.01 * (m / (1 - 0.81)) / (std::sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
  opt.step(w.data(), g2.data(), 0.01);
  BOOST_TEST(w[0] == expect, tt::tolerance(1e-12));
  // Weight decay enters the gradient before the moments (PyTorch's Adam, not AdamW): g + wd w =
  // -0.05 + 0.1 = +0.05, so the first step goes down by lr (without the decay: up; AdamW's
  // decoupled form: 1.01 - lr wd = 1.009).
  optim::optimizer<optim::adam, double, host> decayed({0.9, 0.999, 1e-8, 0.1}, 1);
  std::vector<double> wd{1}, gd{-0.05};
  decayed.step(wd.data(), gd.data(), 0.01);
  BOOST_TEST(wd[0] == 1 - 0.01 * 0.05 / (0.05 + 1e-8), tt::tolerance(1e-12));
  // A second step, written out: g = -0.05 + 0.1 w1.
  const double w1d = wd[0], gi = -0.05 + 0.1 * w1d;
  const double md = 0.9 * 0.1 * 0.05 + 0.1 * gi, vd = 0.999 * 0.001 * 0.0025 + 0.001 * gi * gi;
  decayed.step(wd.data(), gd.data(), 0.01);
  BOOST_TEST(wd[0] == w1d - 0.01 * (md / (1 - 0.81)) / (std::sqrt(vd / (1 - 0.999 * 0.999)) + 1e-8),
             tt::tolerance(1e-12));
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
  // A floor: min + (lr - min) (1 + cos(pi e / E)) / 2, held at min after E epochs and at lr before 0.
  const optim::cosine_lr f{0.1, 10, 0.01};
  BOOST_TEST(f(0) == 0.1, tt::tolerance(1e-15));
  BOOST_TEST(f(5) == 0.055, tt::tolerance(1e-12));
  BOOST_TEST(f(2.5) == 0.01 + 0.045 * (1 + std::cos(M_PI / 4)), tt::tolerance(1e-12));
  BOOST_TEST(f(10) == 0.01, tt::tolerance(1e-15));
  BOOST_TEST(f(15) == 0.01, tt::tolerance(1e-15));
  BOOST_TEST(f(-1) == 0.1, tt::tolerance(1e-15));
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
  BOOST_TEST(epoch_order(0, 3, 0).empty());
  BOOST_CHECK_EXCEPTION(epoch_order(-1, 3, 0), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("epoch_order: n = -1, expected 0 or more") != std::string::npos;
  });
  // Position of item 0 is uniform: over 2000 epochs, the mean position is 499.5 with sd
  // 288.7/sqrt(2000) = 6.5; allow 5 sd.
  double mean = 0;
  for (int e = 0; e < 2000; ++e) {
    const auto p = epoch_order(1000, 9, e);
    mean += double(std::find(p.begin(), p.end(), 0) - p.begin());
  }
  BOOST_TEST(std::abs(mean / 2000 - 499.5) < 5 * 6.5);
  // Neighbours are independent, which a rotation (or any fixed pattern moved about) is not: in a
  // uniform permutation of 10 items, item 1 directly follows item 0 with probability 9 / (10 * 9)
  // = 1/10 (a rotation: 9/10, a reversal: 0). Over 5000 epochs the count is Binomial(5000, 0.1):
  // mean 500, sd sqrt(5000 * 0.1 * 0.9) = 21.2; allow 4 sd. (Deterministic given the seed.)
  int follows = 0;
  for (int e = 0; e < 5000; ++e) {
    const auto p = epoch_order(10, 17, e);
    for (std::size_t k = 0; k + 1 < p.size(); ++k) follows += p[k] == 0 && p[k + 1] == 1;
  }
  BOOST_TEST(std::abs(follows - 500) < 4 * 21.2, "item 1 right after item 0 in " << follows << " of 5000 epochs");
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

// Augmentation's geometry on ramp images (every image, channel and pixel a distinct value; the
// pads, each channel's raw_zero, none of them), 2 channels of 6 x 7 (not square). Which shift and
// flip batch_stager draws is not exposed, so each staged image must equal exactly one of the
// 2 x 5 x 5 candidates written out here for the image its index names: pad by 2 with the channel's
// raw_zero, crop 6 x 7 at (2 + dy, 2 + dx) for dy, dx in [-2, 2], flip left-right or not (the set is
// the same whether the flip comes before the crop or after). With sides of at least 6 the middle
// 2 x 2 pixels are inside every candidate, so two candidates never coincide. Over 2000 staged
// images (deterministic given the seed): the flip half the time, within 4 standard deviations
// (sd sqrt(2000 / 4) = 22.4); each of the 5 shifts along each axis a fifth of the time (sd
// sqrt(2000 * 0.2 * 0.8) = 17.9); all 25 offsets seen.
BOOST_AUTO_TEST_CASE(augmentation_is_a_padded_crop_and_flip_of_the_image) {
  struct fake_model {  // what batch_stager reads of a model
    using scalar = double;
    using backend_type = host;
  };
  constexpr int C = 2, H = 6, W = 7, pad = 2;
  constexpr index_t images = 3, batch = 10, rounds = 200;
  dataset d;
  d.shape = {C, H, W};
  d.classes = 3;
  for (index_t i = 0; i < images; ++i)
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) d.images.push_back(float(1000 * (i + 1) + 100 * c + 10 * y + x));
  d.labels = {2, 0, 1};
  d.raw_zero = {-7.0f, -9.0f};
  // candidates[img][k], k = (flip * 5 + dy + 2) * 5 + dx + 2: (c, h, w)
  std::vector<std::vector<std::vector<double>>> candidates(images);
  for (index_t i = 0; i < images; ++i) {
    std::vector<double> padded(std::size_t(C * (H + 2 * pad) * (W + 2 * pad)));  // (c, h + 4, w + 4)
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < H + 2 * pad; ++y)
        for (int x = 0; x < W + 2 * pad; ++x) {
          const bool inside = y >= pad && y < H + pad && x >= pad && x < W + pad;
          padded[std::size_t((c * (H + 2 * pad) + y) * (W + 2 * pad) + x)] =
              inside ? double(d.images[std::size_t(((i * C + c) * H + y - pad) * W + x - pad)]) : double(d.raw_zero[c]);
        }
    for (int flip = 0; flip < 2; ++flip)
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx) {
          std::vector<double> out(std::size_t(C * H * W));
          for (int c = 0; c < C; ++c)
            for (int y = 0; y < H; ++y)
              for (int x = 0; x < W; ++x) {
                const double v = padded[std::size_t((c * (H + 2 * pad) + pad + dy + y) * (W + 2 * pad) + pad + dx + x)];
                out[std::size_t((c * H + y) * W + (flip ? W - 1 - x : x))] = v;
              }
          candidates[std::size_t(i)].push_back(out);
        }
  }
  detail::batch_stager<fake_model> st;
  const counter_rng aug{5, (stream::augment << 32) + 3};
  index_t idx[batch];
  index_t unique = 0, flips = 0;
  std::vector<index_t> shift_y(5), shift_x(5), offsets(25);
  bool labels_follow = true;
  for (index_t r = 0; r < rounds; ++r) {
    for (index_t b = 0; b < batch; ++b) idx[b] = (r + 2 * b) % images;
    st.stage(d, idx, batch, &aug, std::uint64_t(r * batch));
    BOOST_TEST_REQUIRE(st.host_x.size() == std::size_t(batch * C * H * W));
    for (index_t b = 0; b < batch; ++b) {
      labels_follow = labels_follow && st.host_y[std::size_t(b)] == d.labels[std::size_t(idx[b])];
      const auto first = st.host_x.begin() + b * C * H * W;
      int found = 0, which = -1;
      for (int k = 0; k < 50; ++k) {
        const auto& cand = candidates[std::size_t(idx[b])][std::size_t(k)];
        if (std::equal(cand.begin(), cand.end(), first)) ++found, which = k;
      }
      if (found != 1) {
        BOOST_TEST(found == 1, "round " << r << ", image " << b << ": " << found << " candidates match");
        continue;
      }
      ++unique;
      flips += which / 25;
      ++shift_y[std::size_t(which / 5 % 5)];
      ++shift_x[std::size_t(which % 5)];
      ++offsets[std::size_t(which % 25)];
    }
  }
  const index_t total = rounds * batch;
  BOOST_TEST(unique == total);
  BOOST_TEST(labels_follow);
  BOOST_TEST(std::abs(double(flips) - 0.5 * double(total)) < 4 * 22.4, flips << " flips of " << total);
  for (int k = 0; k < 5; ++k) {
    BOOST_TEST(std::abs(double(shift_y[std::size_t(k)]) - 0.2 * double(total)) < 4 * 17.9, "dy " << k - 2);
    BOOST_TEST(std::abs(double(shift_x[std::size_t(k)]) - 0.2 * double(total)) < 4 * 17.9, "dx " << k - 2);
  }
  for (int k = 0; k < 25; ++k) BOOST_TEST(offsets[std::size_t(k)] > 0, "dy " << k / 5 - 2 << ", dx " << k % 5 - 2);
  // Without augmentation the images as they are.
  st.stage(d, idx, batch, nullptr, 0);
  bool same = true;
  for (index_t b = 0; b < batch; ++b)
    same = same && std::equal(st.host_x.begin() + b * C * H * W, st.host_x.begin() + (b + 1) * C * H * W,
                              d.images.begin() + idx[b] * C * H * W);
  BOOST_TEST(same);
}

namespace {
// A tiny classifier in double: flatten, dense, batch norm (running statistics that must follow
// the same batches), relu, dense; 3 classes.
using tiny_net = network<input<2, 2, 3>, flatten, dense<5>, batch_norm, relu, dense<3>>;
using tiny = model<tiny_net, double>;

struct hand_loss {
  double sum = 0;  // cross-entropy summed over images
  index_t correct = 0;
};
// Adds a batch's cross-entropy log(sum_k exp z_k) - z_label and its count of argmax == label,
// from logits (classes, nb), written out here.
void add_batch(const double* z, const std::int32_t* labels, index_t nb, hand_loss& acc) {
  for (index_t i = 0; i < nb; ++i) {
    double top = z[i];
    int arg = 0;
    for (int k = 1; k < tiny::classes; ++k)
      if (z[k * nb + i] > top) top = z[k * nb + i], arg = k;
    double s = 0;
    for (int k = 0; k < tiny::classes; ++k) s += std::exp(z[k * nb + i] - top);
    acc.sum += std::log(s) + top - z[labels[i] * nb + i];
    acc.correct += arg == labels[i];
  }
}
// max_i |a_i - b_i| / max(1, |b_i|), NaN if any value is NaN (std::max would drop it).
template <class V, class U>
double max_rel(const V& a, const U& b) {
  double worst = 0;
  for (std::size_t i = 0; i < std::size_t(a.size()); ++i) {
    const double e = std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i])));
    worst = std::isnan(worst) || std::isnan(e) ? std::nan("") : std::max(worst, e);
  }
  return a.size() == b.size() ? worst : std::nan("");
}
}  // namespace

// train() against the loop it should run, written out: epochs 2 and 3 (first_epoch 1) of 10
// images in batches of 4 (4, 4 and a partial 2) in epoch_order(10, seed, epoch); per step a
// train-mode forward, the cross-entropy's gradient, backward and an SGD step (Nesterov, weight
// decay) at lr(epoch + step / steps) of a cosine schedule, which changes within the epoch. The
// weights, running statistics and batch count to 1e-12; train_loss the mean over images (not
// over batches) of the cross-entropy computed here from the logits, train_accuracy exactly; the
// test set's loss and accuracy after each epoch against an eval-mode forward here; on_step and
// on_epoch called in order.
BOOST_AUTO_TEST_CASE(train_equals_a_hand_written_loop) {
  const auto data = test::random_dataset(tiny::in, 10, 21, 3), test_set = test::random_dataset(tiny::in, 5, 22, 3);
  const optim::cosine_lr lr{0.2, 4.0, 0.01};
  train_options o;
  o.epochs = 2;
  o.first_epoch = 1;
  o.batch_size = 4;
  o.seed = 13;
  o.progress = false;
  o.eval_batch_size = 3;
  tiny a(7), b(7);
  optim::optimizer<optim::sgd, double, host> oa({0.9, 5e-4, true}, tiny::n_params),
      ob({0.9, 5e-4, true}, tiny::n_params);
  std::vector<std::pair<int, index_t>> steps_seen;
  std::vector<epoch_record> seen;
  const auto history = train(
      a, oa, lr, data, o, &test_set, [&](const epoch_record& r) { seen.push_back(r); },
      [&](int e, index_t s) { steps_seen.emplace_back(e, s); });

  const index_t n = data.size(), sz = tiny::in.size(), steps = 3;
  classification_loss<double, host> ce;
  std::vector<double> rates;
  std::vector<hand_loss> train_l, test_l;
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const auto order = epoch_order(n, 13, epoch);
    hand_loss acc;
    for (index_t s = 0; s < steps; ++s) {
      const index_t b0 = 4 * s, nb = std::min<index_t>(4, n - b0);
      std::vector<double> x;  // (nb, c, h, w)
      std::vector<std::int32_t> y;
      for (index_t k = 0; k < nb; ++k) {
        const index_t img = order[std::size_t(b0 + k)];
        x.insert(x.end(), data.images.begin() + img * sz, data.images.begin() + (img + 1) * sz);
        y.push_back(data.labels[std::size_t(img)]);
      }
      const double* z = b.forward(x.data(), nb, mode::train);  // (classes, nb)
      add_batch(z, y.data(), nb, acc);
      (void)ce(z, y.data(), tiny::classes, nb, true);  // its gradient; its loss is computed above
      b.backward(backend::raw(ce.grad));
      rates.push_back(lr(epoch + double(s) / double(steps)));
      ob.step(backend::raw(b.params), backend::raw(b.grads), rates.back());
    }
    train_l.push_back(acc);
    const std::vector<double> xt(test_set.images.begin(), test_set.images.end());
    hand_loss t;
    add_batch(b.forward(xt.data(), test_set.size(), mode::eval), test_set.labels.data(), test_set.size(), t);
    test_l.push_back(t);
  }
  BOOST_TEST(rates[1] < rates[0]);  // the rate moves within an epoch: a per-epoch rate would not match
  BOOST_TEST(rates[4] < rates[3]);

  BOOST_TEST_REQUIRE(history.size() == 2u);
  BOOST_TEST_REQUIRE(seen.size() == 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    BOOST_TEST(history[k].epoch == int(k) + 2);
    BOOST_TEST(history[k].train_loss == train_l[k].sum / double(n), tt::tolerance(1e-12));
    BOOST_TEST(history[k].train_accuracy == 100.0 * double(train_l[k].correct) / double(n));
    BOOST_TEST(history[k].test.loss == test_l[k].sum / double(test_set.size()), tt::tolerance(1e-12));
    BOOST_TEST(history[k].test.accuracy == 100.0 * double(test_l[k].correct) / double(test_set.size()));
    BOOST_TEST(seen[k].epoch == history[k].epoch);
    BOOST_TEST(seen[k].train_loss == history[k].train_loss);
    BOOST_TEST(seen[k].test.loss == history[k].test.loss);
  }
  BOOST_TEST(history[0].train_loss != history[1].train_loss);
  const std::vector<std::pair<int, index_t>> want_steps{{1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 1}, {2, 2}};
  BOOST_TEST((steps_seen == want_steps));
  BOOST_TEST(max_rel(a.params, b.params) < 1e-12);
  BOOST_TEST(max_rel(a.state, b.state) < 1e-12);
  BOOST_TEST(a.batches_tracked == b.batches_tracked);
  BOOST_TEST(b.batches_tracked == 6);
  BOOST_TEST(oa.steps() == ob.steps());
  const tiny untrained(7);
  BOOST_TEST(max_rel(b.params, untrained.params) > 1e-3);  // the steps moved the weights
}
