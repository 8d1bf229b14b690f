// basin/gan/gan.hpp — GANs on Gaussian mixtures, and the prediction step that stabilizes them.
//
// Yadav, Shah, Xu, Jacobs, Goldstein 2018, "Stabilizing Adversarial Nets With Prediction
// Methods": a GAN is a saddle-point problem min_G max_D L(G, D), and alternating gradient steps
// orbit its saddles instead of reaching them (on L(u, v) = u v they circle the origin forever).
// The prediction step extrapolates one player's step before the other's gradient is taken:
//     G_{k+1} = G_k - a grad_G L(G_k, D_k)
//     G^_{k+1} = G_{k+1} + (G_{k+1} - G_k)                  (prediction: where G is heading)
//     D_{k+1} = D_k + b grad_D L(G^_{k+1}, D_k)
// so D answers the generator it is about to face. On u v with step a = b this turns the
// iteration's eigenvalues of modulus 1 into sqrt(1 - a^2) < 1: the orbit becomes a spiral into
// the saddle (`bilinear_game`, tested against the closed form). Here G and D are any basin models
// (MLPs on 2-D points for the toys), trained with any optimizer policies; the losses are the
// non-saturating ones (sigmoid_cross_entropy, layers/loss.hpp).
// Data: a ring of K Gaussians (8 in the papers) or a grid of them; quality as in the unrolled-GAN
// and prediction papers: the modes that hold generated samples, and the share of samples within
// 3 sigma of a mode.
#pragma once

#include <array>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/random.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/train/progress.hpp"

namespace basin::gan {

inline constexpr std::uint64_t noise_stream = 6, data_stream = 7;  // counter_rng streams (after stream::augment)

// A mixture of equally likely isotropic Gaussians in the plane.
struct mixture {
  std::vector<std::array<double, 2>> means;
  double sigma = 0.02;

  // k modes on a circle of the given radius (Metz et al. 2017: 8 modes, radius 2, sigma 0.02).
  static mixture ring(int k = 8, double radius = 2.0, double sigma = 0.02) {
    require(k >= 1 && radius > 0 && sigma > 0, "mixture::ring: need k >= 1, radius > 0, sigma > 0; got ", k, ", ",
            radius, ", ", sigma);
    mixture m;
    m.sigma = sigma;
    for (int i = 0; i < k; ++i) {
      const double t = 2 * 3.14159265358979323846 * i / k;
      m.means.push_back({radius * std::cos(t), radius * std::sin(t)});
    }
    return m;
  }
  // side x side modes on a square grid with the given spacing, centred on 0 (5 x 5, spacing 2).
  static mixture grid(int side = 5, double spacing = 2.0, double sigma = 0.05) {
    require(side >= 1 && spacing > 0 && sigma > 0, "mixture::grid: need side >= 1, spacing > 0, sigma > 0");
    mixture m;
    m.sigma = sigma;
    for (int i = 0; i < side; ++i)
      for (int j = 0; j < side; ++j)
        m.means.push_back({spacing * (i - (side - 1) / 2.0), spacing * (j - (side - 1) / 2.0)});
    return m;
  }
  // n points (n, 2) row-major: draw `draw` of seed (the same (seed, draw) gives the same points).
  std::vector<float> sample(std::uint64_t seed, std::uint64_t draw, index_t n) const {
    require(!means.empty(), "mixture::sample: no modes");
    const counter_rng rng{seed, (data_stream << 32) + draw};
    std::vector<float> out(static_cast<std::size_t>(2 * n));
    for (index_t i = 0; i < n; ++i) {
      const auto& mu = means[rng.below(std::uint64_t(3 * i), std::uint32_t(means.size()))];
      out[std::size_t(2 * i)] = float(mu[0] + sigma * rng.normal(std::uint64_t(3 * i + 1)));
      out[std::size_t(2 * i + 1)] = float(mu[1] + sigma * rng.normal(std::uint64_t(3 * i + 2)));
    }
    return out;
  }
};

struct coverage {
  int modes = 0;            // modes holding at least min_share of their fair share n/K of the samples
  double high_quality = 0;  // fraction of samples within 3 sigma of some mode
  std::vector<index_t> per_mode;
};
// Mode coverage of points (n, 2) row-major: a point belongs to the nearest mode when it lies
// within 3 sigma of it; a mode counts when it holds at least min_share n / K points.
inline coverage mode_coverage(const mixture& m, const std::vector<float>& points, double min_share = 0.1) {
  require(points.size() % 2 == 0 && !points.empty(), "mode_coverage: expected (n, 2) points, got ", points.size(),
          " values");
  const index_t n = index_t(points.size() / 2), k = index_t(m.means.size());
  coverage c;
  c.per_mode.assign(std::size_t(k), 0);
  index_t good = 0;
  for (index_t i = 0; i < n; ++i) {
    double best = INFINITY;
    index_t at = 0;
    for (index_t j = 0; j < k; ++j) {
      const double dx = points[std::size_t(2 * i)] - m.means[std::size_t(j)][0],
                   dy = points[std::size_t(2 * i + 1)] - m.means[std::size_t(j)][1];
      if (dx * dx + dy * dy < best) best = dx * dx + dy * dy, at = j;
    }
    if (best <= 9 * m.sigma * m.sigma) ++good, ++c.per_mode[std::size_t(at)];
  }
  for (index_t v : c.per_mode) c.modes += double(v) >= min_share * double(n) / double(k) && v > 0;
  c.high_quality = double(good) / double(n);
  return c;
}

// The prediction step's memory: the parameters before a step, and 2 w_new - w_old after it.
template <class T, class B>
class prediction {
 public:
  explicit prediction(index_t n) : previous_(std::size_t(n)), predicted_(std::size_t(n)), n_(n) {}
  // Call with the parameters just before the player's step.
  void remember(const T* w) { B::copy(n_, w, backend::raw(previous_)); }
  // The predicted parameters 2 w - previous (w: after the step), in a buffer of this object.
  T* predict(const T* w) {
    const T* p = backend::raw(previous_);
    T* out = backend::raw(predicted_);
    B::for_each_index(n_, [=] BASIN_HD(index_t i) { out[i] = w[i] + (w[i] - p[i]); });
    return out;
  }

 private:
  typename B::template vector<T> previous_, predicted_;
  index_t n_;
};

// Alternating gradient steps on L(u, v) = u v (u descends, v ascends), step a, from (u0, v0),
// with or without predicting u before v's step; returns the k + 1 points (u, v). The closed form
// (tests/gan): each step multiplies (u, v) by [[1, -a], [a, 1 - a^2]] (modulus 1) without
// prediction, by [[1, -a], [a, 1 - 2 a^2]] (modulus sqrt(1 - a^2)) with it.
template <class T, class B>
std::vector<std::array<double, 2>> bilinear_game(double u0, double v0, double a, int k, bool predict) {
  require(a > 0 && a < 1 && k >= 0, "bilinear_game: need 0 < a < 1 and k >= 0, got a = ", a, ", k = ", k);
  typename B::template vector<T> u(1, T(u0)), v(1, T(v0));
  prediction<T, B> pu(1);
  std::vector<std::array<double, 2>> path{{u0, v0}};
  for (int s = 0; s < k; ++s) {
    T* up = backend::raw(u);
    T* vp = backend::raw(v);
    pu.remember(up);
    const T step = T(a);
    B::for_each_index(1, [=] BASIN_HD(index_t) { up[0] -= step * vp[0]; });  // grad_u (u v) = v
    const T* seen = predict ? pu.predict(up) : up;
    B::for_each_index(1, [=] BASIN_HD(index_t) { vp[0] += step * seen[0]; });  // grad_v (u v) = u
    T h[2];
    B::download(up, 1, h);
    B::download(vp, 1, h + 1);
    path.push_back({double(h[0]), double(h[1])});
  }
  return path;
}

// The buffers of one GAN: noise, generated points in the discriminator's (n, 2) layout, the
// discriminator's input gradient back in the generator's (2, n) layout, real points, and the
// discriminator's accumulated gradient.
template <class Gen, class Disc>
struct gan_workspace {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  typename B::template vector<T> z, fake, dfake, dfake_cn, real, dgrad;
  sigmoid_cross_entropy<T, B> bce;
  void reserve(index_t n) {
    z.resize(std::size_t(n * Gen::in.size()));
    fake.resize(std::size_t(2 * n)), dfake.resize(std::size_t(2 * n)), dfake_cn.resize(std::size_t(2 * n));
    real.resize(std::size_t(2 * n)), dgrad.resize(std::size_t(Disc::n_params));
  }
};

namespace detail {
template <class Gen, class Disc>
constexpr void check_pair() {
  static_assert(Gen::classes == 2, "gan: the generator must output 2 values per sample (a point in the plane)");
  static_assert(Disc::in.c == 2 && Disc::in.h == 1 && Disc::in.w == 1,
                "gan: the discriminator must take input<2, 1, 1> (a point in the plane)");
  static_assert(Disc::classes == 1, "gan: the discriminator must output one logit per sample");
  static_assert(std::is_same_v<typename Gen::scalar, typename Disc::scalar> &&
                    std::is_same_v<typename Gen::backend_type, typename Disc::backend_type>,
                "gan: generator and discriminator need the same scalar type and backend");
}
// ws.fake (n, 2) <- G(z) for noise draw `draw`: z ~ N(0, 1) (n, Z).
template <class Gen, class Disc>
void generate(Gen& g, gan_workspace<Gen, Disc>& ws, std::uint64_t seed, std::uint64_t draw, index_t n) {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  const counter_rng rng{seed, (noise_stream << 32) + draw};
  T* z = backend::raw(ws.z);
  B::for_each_index(n * Gen::in.size(), [=] BASIN_HD(index_t i) { z[i] = T(rng.normal(std::uint64_t(i))); });
  const T* y = g.forward(z, n, mode::train);  // (2, n)
  basin::detail::cnhw_to_nchw<B>(y, backend::raw(ws.fake), n, 2, 1);
}
}  // namespace detail

// The generator's non-saturating loss BCE(D(G(z)), 1) for noise draw `draw`, and (with
// want_grad) its gradient in g.grads, through the discriminator's input gradient (d.grads is
// overwritten, d unchanged otherwise). Both nets run in train mode: nets with batch norm would
// update their running statistics here and in the prediction pass (the toys have none).
template <class Gen, class Disc>
double generator_loss(Gen& g, Disc& d, gan_workspace<Gen, Disc>& ws, std::uint64_t seed, std::uint64_t draw, index_t n,
                      bool want_grad = true) {
  using B = typename Gen::backend_type;
  detail::check_pair<Gen, Disc>();
  ws.reserve(n);
  detail::generate(g, ws, seed, draw, n);
  const auto r = ws.bce(d.forward(backend::raw(ws.fake), n, mode::train), 1.0, n, want_grad);
  if (want_grad) {
    d.backward(backend::raw(ws.bce.grad), backend::raw(ws.dfake));  // dL/d(points) (n, 2)
    basin::detail::nchw_to_cnhw<B>(backend::raw(ws.dfake), backend::raw(ws.dfake_cn), n, 2, 1);
    g.backward(backend::raw(ws.dfake_cn));
  }
  return r.loss;
}

// The discriminator's loss BCE(D(x), 1) + BCE(D(G(z)), 0) on real points (n, 2) (backend
// memory) and noise draw `draw`, and (with want_grad) its gradient in d.grads (g.grads untouched).
template <class Gen, class Disc>
double discriminator_loss(Gen& g, Disc& d, gan_workspace<Gen, Disc>& ws, const typename Gen::scalar* real,
                          std::uint64_t seed, std::uint64_t draw, index_t n, bool want_grad = true) {
  using B = typename Gen::backend_type;
  detail::check_pair<Gen, Disc>();
  ws.reserve(n);
  const auto r_real = ws.bce(d.forward(real, n, mode::train), 1.0, n, want_grad);
  if (want_grad) {
    d.backward(backend::raw(ws.bce.grad));
    B::copy(Disc::n_params, backend::raw(d.grads), backend::raw(ws.dgrad));
  }
  detail::generate(g, ws, seed, draw, n);
  const auto r_fake = ws.bce(d.forward(backend::raw(ws.fake), n, mode::train), 0.0, n, want_grad);
  if (want_grad) {
    d.backward(backend::raw(ws.bce.grad));
    auto* gd = backend::raw(d.grads);
    const auto* acc = backend::raw(ws.dgrad);
    B::for_each_index(Disc::n_params, [=] BASIN_HD(index_t i) { gd[i] += acc[i]; });
  }
  return r_real.loss + r_fake.loss;
}

struct gan_options {
  index_t steps = 10000;
  index_t batch_size = 256;
  bool prediction = true;  // D's step sees the predicted generator
  std::uint64_t seed = 0;
  bool progress = true;
};

struct gan_record {
  index_t step = 0;
  double d_loss = 0, g_loss = 0;
};

// Trains g against d on the mixture: per step one generator step, then (o.prediction) the
// generator's prediction, then one discriminator step against the predicted generator (the
// generator's parameters are back at their stepped values afterwards). lr_g and lr_d: functions
// of the step. on_step(step) after every step (snapshots, samples). Returns the losses of every
// step. Throws basin::error when a loss turns non-finite, naming the step.
template <class Gen, class Disc, class OptG, class OptD>
std::vector<gan_record> train_gan(Gen& g, Disc& d, OptG& og, OptD& od, const std::function<double(index_t)>& lr_g,
                                  const std::function<double(index_t)>& lr_d, const mixture& data, const gan_options& o,
                                  const std::function<void(index_t)>& on_step = {}) {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  detail::check_pair<Gen, Disc>();
  require(o.batch_size >= 1 && o.steps >= 0, "train_gan: need batch_size >= 1 and steps >= 0");
  gan_workspace<Gen, Disc> ws;
  ws.reserve(o.batch_size);
  prediction<T, B> pg(Gen::n_params);
  typename B::template vector<T> stepped(std::size_t(Gen::n_params));
  std::vector<T> real;
  std::vector<gan_record> history;
  progress bar(o.prediction ? "GAN (prediction)" : "GAN", long(o.steps), "steps", o.progress);
  const index_t n = o.batch_size;
  for (index_t s = 0; s < o.steps; ++s) {
    gan_record rec;
    rec.step = s + 1;
    // The generator's step.
    rec.g_loss = generator_loss(g, d, ws, o.seed, std::uint64_t(2 * s), n);
    pg.remember(backend::raw(g.params));
    og.step(backend::raw(g.params), backend::raw(g.grads), lr_g(s));
    // The discriminator's step, against the predicted generator.
    if (o.prediction) {
      B::copy(Gen::n_params, backend::raw(g.params), backend::raw(stepped));
      const T* p = pg.predict(backend::raw(g.params));
      B::copy(Gen::n_params, p, backend::raw(g.params));
    }
    const auto points = data.sample(o.seed, std::uint64_t(s), n);
    real.assign(points.begin(), points.end());
    B::upload(real.data(), 2 * n, backend::raw(ws.real));
    rec.d_loss = discriminator_loss(g, d, ws, backend::raw(ws.real), o.seed, std::uint64_t(2 * s + 1), n);
    if (o.prediction) B::copy(Gen::n_params, backend::raw(stepped), backend::raw(g.params));
    od.step(backend::raw(d.params), backend::raw(d.grads), lr_d(s));
    require(std::isfinite(rec.d_loss) && std::isfinite(rec.g_loss), "train_gan: a loss is not finite at step ", s + 1,
            " (discriminator ", rec.d_loss, ", generator ", rec.g_loss, ")");
    history.push_back(rec);
    bar.update(long(s + 1), double(s + 1), "D loss", rec.d_loss);
    if (on_step) on_step(s + 1);
  }
  return history;
}

// n generated points (n, 2) row-major on the host, from noise draw `draw` (eval use: samples
// for pictures and mode coverage).
template <class Gen>
std::vector<float> generate_points(Gen& g, std::uint64_t seed, std::uint64_t draw, index_t n) {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  static_assert(Gen::classes == 2, "generate_points: the generator must output 2 values per sample");
  typename B::template vector<T> z(std::size_t(n * Gen::in.size())), pts(std::size_t(2 * n));
  const counter_rng rng{seed, (noise_stream << 32) + (std::uint64_t(1) << 31) + draw};
  T* zp = backend::raw(z);
  B::for_each_index(n * Gen::in.size(), [=] BASIN_HD(index_t i) { zp[i] = T(rng.normal(std::uint64_t(i))); });
  const T* y = g.forward(zp, n, mode::eval);
  basin::detail::cnhw_to_nchw<B>(y, backend::raw(pts), n, 2, 1);
  std::vector<T> h(std::size_t(2 * n));
  B::download(backend::raw(pts), 2 * n, h.data());
  return std::vector<float>(h.begin(), h.end());
}

}  // namespace basin::gan
