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
// whose shapes meet (G's output shape is D's input shape; D ends with one logit), trained with any
// optimizer policies; the losses are the non-saturating ones (sigmoid_cross_entropy,
// layers/loss.hpp).
// Data, any `sample_source`:
// - a ring of K Gaussians (8 in the papers) or a grid of them, for MLPs on points; quality as in
//   the unrolled-GAN and prediction papers: the modes that hold generated samples, and the share
//   of samples within 3 sigma of a mode (`mode_coverage`);
// - a data set's images (`image_source`, scaled to DCGAN's [-1, 1]), for DCGANs of transposed
//   convs; quality by a classifier trained on the real images (`classifier_score`: the Inception
//   score with that classifier in Inception's place, and the classes the samples cover).
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/memory.hpp"
#include "basin/core/random.hpp"
#include "basin/data/dataset.hpp"
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
    require(k >= 1 && std::isfinite(radius) && radius > 0 && std::isfinite(sigma) && sigma > 0,
            "mixture::ring: need k >= 1 and a finite radius > 0 and sigma > 0; got ", k, ", ", radius, ", ", sigma);
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
    require(side >= 1 && std::isfinite(spacing) && spacing > 0 && std::isfinite(sigma) && sigma > 0,
            "mixture::grid: need side >= 1 and a finite spacing > 0 and sigma > 0; got ", side, ", ", spacing, ", ",
            sigma);
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
    require(n >= 0, "mixture::sample: n must be at least 0, got ", n);
    const counter_rng rng{seed, (data_stream << 32) + draw};
    std::vector<float> out(static_cast<std::size_t>(2 * n));
    for (index_t i = 0; i < n; ++i) {
      const auto& mu = means[rng.below(std::uint64_t(3 * i), std::uint32_t(means.size()))];
      out[std::size_t(2 * i)] = float(mu[0] + sigma * rng.normal(std::uint64_t(3 * i + 1)));
      out[std::size_t(2 * i + 1)] = float(mu[1] + sigma * rng.normal(std::uint64_t(3 * i + 2)));
    }
    return out;
  }
  dims shape() const { return {2, 1, 1}; }
};

// Real samples for train_gan: shape() is one sample's (c, h, w); sample(seed, draw, n) gives n
// samples (n, c, h, w) row-major, the same for the same (seed, draw).
template <class S>
concept sample_source = requires(const S& s, std::uint64_t u, index_t n) {
  { s.sample(u, u, n) } -> std::same_as<std::vector<float>>;
  { s.shape() } -> std::same_as<dims>;
};

// A data set's images as a GAN's real samples, scaled from [0, 1] to [-1, 1] (a DCGAN generator
// ends with tanh): each draw takes n images uniformly at random, with replacement (counter_rng,
// stream data_stream), so that step s of a run sees the same images whatever ran before it.
// The data set must outlive the source.
class image_source {
 public:
  // Requires d non-empty with pixels in [0, 1] (as read_idx, read_cifar10 give them: before
  // normalize). Throws basin::error naming the first pixel outside [0, 1] otherwise.
  explicit image_source(const dataset& d) : data_(&d) {
    basin::detail::check_layout(d, "gan::image_source");
    for (std::size_t i = 0; i < d.images.size(); ++i)
      require(d.images[i] >= 0.0f && d.images[i] <= 1.0f, "gan::image_source: expected pixels in [0, 1] (as the "
              "readers give them, before normalize), found ", d.images[i], " in image ",
              i / std::size_t(d.shape.size()), " at value ", i % std::size_t(d.shape.size()));
  }
  dims shape() const { return data_->shape; }
  std::vector<float> sample(std::uint64_t seed, std::uint64_t draw, index_t n) const {
    require(n >= 1, "gan::image_source::sample: n must be at least 1, got ", n);
    const counter_rng rng{seed, (data_stream << 32) + draw};
    const index_t size = data_->shape.size();
    std::vector<float> out(std::size_t(n * size));
    for (index_t i = 0; i < n; ++i) {
      const float* x = data_->image(index_t(rng.below(std::uint64_t(i), std::uint32_t(data_->size()))));
      for (index_t j = 0; j < size; ++j) out[std::size_t(i * size + j)] = 2 * x[j] - 1;
    }
    return out;
  }

 private:
  const dataset* data_;
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
  require(!m.means.empty() && std::isfinite(m.sigma) && m.sigma > 0, "mode_coverage: the mixture has ", m.means.size(),
          " modes and sigma = ", m.sigma, ", expected at least 1 mode and a finite sigma > 0");
  require(std::isfinite(min_share) && min_share >= 0, "mode_coverage: min_share = ", min_share,
          ", expected a finite share >= 0");
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

// PyTorch's DCGAN example's weights_init (Radford et al. 2016): every weight (conv, transposed
// conv, dense) N(0, 0.02), batch-norm weights N(1, 0.02), biases and batch-norm biases 0; the
// batch-norm running statistics are left as they are. Draws from counter_rng stream
// (stream::init << 32) + 1000 + tensor index, so the same seed gives the same nets.
template <class Model>
void dcgan_init(Model& m, std::uint64_t seed) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  std::vector<T> p(std::size_t(Model::n_params));
  B::download(backend::raw(m.params), Model::n_params, p.data());
  for (std::size_t t = 0; t < Model::param_table.size(); ++t) {
    const auto& d = Model::param_table[t];
    const counter_rng rng{seed, (stream::init << 32) + 1000 + t};
    for (index_t i = 0; i < d.size(); ++i) {
      T& v = p[std::size_t(d.offset + i)];
      if (d.kind == param_kind::weight) v = T(0.02 * rng.normal(std::uint64_t(i)));
      else if (d.kind == param_kind::bn_weight) v = T(1 + 0.02 * rng.normal(std::uint64_t(i)));
      else v = T(0);
    }
  }
  B::upload(p.data(), Model::n_params, backend::raw(m.params));
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
  require(a > 0 && a < 1 && k >= 0 && std::isfinite(u0) && std::isfinite(v0),
          "bilinear_game: need 0 < a < 1, k >= 0 and a finite start, got a = ", a, ", k = ", k, ", (u0, v0) = (", u0,
          ", ", v0, ")");
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

// The buffers of one GAN: noise, generated samples in the discriminator's (n, c, h, w) layout,
// the discriminator's input gradient back in the generator's (c, n, h, w) layout, real samples,
// and the discriminator's accumulated gradient.
template <class Gen, class Disc>
struct gan_workspace {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  static constexpr index_t sample_size = Disc::in.size();
  typename B::template vector<T> z, fake, dfake, dfake_cn, real, dgrad;
  sigmoid_cross_entropy<T, B> bce;
  // Throws basin::error for n < 1, or a batch whose buffers overflow or do not fit in host memory.
  void reserve(index_t n) {
    require(n >= 1 && n <= std::numeric_limits<index_t>::max() / 8 / (sample_size + Gen::in.size()),
            "gan_workspace: batch size n = ", n, ", expected 1 to ",
            std::numeric_limits<index_t>::max() / 8 / (sample_size + Gen::in.size()));
    if constexpr (requires { B::host_memory; })
      if (std::size_t(n * sample_size) > fake.size())
        detail::require_memory(double(n) * double(4 * sample_size + Gen::in.size()) * sizeof(T),
                               text("gan: a batch of ", n, " samples"));
    const auto m = std::size_t(n * sample_size);
    z.resize(std::size_t(n * Gen::in.size()));
    fake.resize(m), dfake.resize(m), dfake_cn.resize(m), real.resize(m);
    dgrad.resize(std::size_t(Disc::n_params));
  }
};

namespace detail {
template <class Gen, class Disc>
constexpr void check_pair() {
  static_assert(Gen::out.c == Disc::in.c && Gen::out.h == Disc::in.h && Gen::out.w == Disc::in.w,
                "gan: the generator's output shape must be the discriminator's input shape");
  static_assert(Disc::flat_output && Disc::classes == 1, "gan: the discriminator must output one logit per sample");
  static_assert(std::is_same_v<typename Gen::scalar, typename Disc::scalar> &&
                    std::is_same_v<typename Gen::backend_type, typename Disc::backend_type>,
                "gan: generator and discriminator need the same scalar type and backend");
}
// ws.fake (n, c, h, w) <- G(z) for noise draw `draw`: z ~ N(0, 1) (n, Z).
template <class Gen, class Disc>
void generate(Gen& g, gan_workspace<Gen, Disc>& ws, std::uint64_t seed, std::uint64_t draw, index_t n) {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  const counter_rng rng{seed, (noise_stream << 32) + draw};
  T* z = backend::raw(ws.z);
  B::for_each_index(n * Gen::in.size(), [=] BASIN_HD(index_t i) { z[i] = T(rng.normal(std::uint64_t(i))); });
  const T* y = g.forward(z, n, mode::train);  // (c, n, h, w)
  basin::detail::cnhw_to_nchw<B>(y, backend::raw(ws.fake), n, Gen::out.c, Gen::out.plane());
}
}  // namespace detail

// The generator's non-saturating loss BCE(D(G(z)), 1) for noise draw `draw`, and (with
// want_grad) its gradient in g.grads, through the discriminator's input gradient (d.grads is
// overwritten, d unchanged otherwise). Both nets run in train mode (batch statistics), as in
// PyTorch's DCGAN example: nets with batch norm update their running statistics here and in the
// prediction pass.
template <class Gen, class Disc>
double generator_loss(Gen& g, Disc& d, gan_workspace<Gen, Disc>& ws, std::uint64_t seed, std::uint64_t draw, index_t n,
                      bool want_grad = true) {
  using B = typename Gen::backend_type;
  detail::check_pair<Gen, Disc>();
  require(n >= 1, "generator_loss: n = ", n, ", expected at least 1 sample");
  ws.reserve(n);
  detail::generate(g, ws, seed, draw, n);
  const auto r = ws.bce(d.forward(backend::raw(ws.fake), n, mode::train), 1.0, n, want_grad);
  if (want_grad) {
    d.backward(backend::raw(ws.bce.grad), backend::raw(ws.dfake));  // dL/d(samples) (n, c, h, w)
    basin::detail::nchw_to_cnhw<B>(backend::raw(ws.dfake), backend::raw(ws.dfake_cn), n, Gen::out.c,
                                   Gen::out.plane());
    g.backward(backend::raw(ws.dfake_cn));
  }
  return r.loss;
}

// The discriminator's loss BCE(D(x), 1) + BCE(D(G(z)), 0) on real samples (n, c, h, w) (backend
// memory) and noise draw `draw`, and (with want_grad) its gradient in d.grads (g.grads untouched).
template <class Gen, class Disc>
double discriminator_loss(Gen& g, Disc& d, gan_workspace<Gen, Disc>& ws, const typename Gen::scalar* real,
                          std::uint64_t seed, std::uint64_t draw, index_t n, bool want_grad = true) {
  using B = typename Gen::backend_type;
  detail::check_pair<Gen, Disc>();
  require(n >= 1, "discriminator_loss: n = ", n, ", expected at least 1 sample");
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
  // A loss that is not finite ends training: with stop_when_not_finite the run stops there and
  // returns the records so far (the last one holds the loss that is not finite: a collapse is a
  // result), otherwise train_gan throws.
  bool stop_when_not_finite = false;
  // Resuming: steps first_step..steps-1 are taken (g, d and both optimizers as they were after
  // step first_step, e.g. from training checkpoints). Every step's noise and real samples are
  // functions of (seed, step) and the prediction keeps nothing across steps, so a resumed run
  // ends in the same bits as one that never stopped.
  index_t first_step = 0;
};

struct gan_record {
  index_t step = 0;
  double d_loss = 0, g_loss = 0;
};

// Trains g against d on real samples from `data` (a mixture, image_source): per step one generator
// step, then (o.prediction) the generator's prediction, then one discriminator step against the
// predicted generator (the generator's parameters are back at their stepped values afterwards).
// lr_g and lr_d: functions of the step. on_step(step) after every step (snapshots, samples).
// Returns the losses of every step taken; with `records`, each step's losses are also appended
// to *records as the step ends (before on_step: a checkpoint there can save the run so far).
// Throws basin::error when a loss turns non-finite, naming the step (unless
// o.stop_when_not_finite), and when data's sample shape is not the discriminator's input shape.
template <class Gen, class Disc, class OptG, class OptD, sample_source Source>
std::vector<gan_record> train_gan(Gen& g, Disc& d, OptG& og, OptD& od, const std::function<double(index_t)>& lr_g,
                                  const std::function<double(index_t)>& lr_d, const Source& data, const gan_options& o,
                                  const std::function<void(index_t)>& on_step = {},
                                  std::vector<gan_record>* records = nullptr) {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  detail::check_pair<Gen, Disc>();
  require(o.batch_size >= 1 && o.steps >= 0, "train_gan: need batch_size >= 1 and steps >= 0, got ", o.batch_size,
          " and ", o.steps);
  require(o.first_step >= 0 && o.first_step <= o.steps, "train_gan: first_step must lie in [0, steps = ", o.steps,
          "], got ", o.first_step);
  require(bool(lr_g) && bool(lr_d), "train_gan: the learning rate of the ",
          !lr_g ? "generator (lr_g)" : "discriminator (lr_d)", " is an empty function");
  require(data.shape() == Disc::in, "train_gan: the data's samples are ", data.shape().c, "x", data.shape().h, "x",
          data.shape().w, " but the discriminator takes ", Disc::in.c, "x", Disc::in.h, "x", Disc::in.w);
  if constexpr (requires { og.size(); })
    require(index_t(og.size()) == Gen::n_params, "train_gan: the generator's optimizer was made for ", og.size(),
            " parameters, the generator has ", Gen::n_params);
  if constexpr (requires { od.size(); })
    require(index_t(od.size()) == Disc::n_params, "train_gan: the discriminator's optimizer was made for ", od.size(),
            " parameters, the discriminator has ", Disc::n_params);
  gan_workspace<Gen, Disc> ws;
  ws.reserve(o.batch_size);
  ws.bce.allow_not_finite = true;  // (checked below, naming the step)
  prediction<T, B> pg(Gen::n_params);
  typename B::template vector<T> stepped(std::size_t(Gen::n_params));
  std::vector<T> real;
  std::vector<gan_record> local;
  std::vector<gan_record>& history = records ? *records : local;
  const std::size_t before = history.size();
  progress bar(o.prediction ? "GAN (prediction)" : "GAN", long(o.steps - o.first_step), "steps", o.progress);
  const index_t n = o.batch_size;
  for (index_t s = o.first_step; s < o.steps; ++s) {
    gan_record rec;
    rec.step = s + 1;
    // The real samples of this step first (a function of seed and step): a source that gives the
    // wrong count is refused before either net moves.
    const auto points = data.sample(o.seed, std::uint64_t(s), n);
    require(index_t(points.size()) == n * ws.sample_size, "train_gan: the data source gave ", points.size(),
            " values at step ", s + 1, ", expected ", n, " samples x ", ws.sample_size);
    for (std::size_t k = 0; k < points.size(); ++k)
      require(std::isfinite(points[k]), "train_gan: the data source's sample ", k / std::size_t(ws.sample_size),
              " at step ", s + 1, " holds ", points[k], ", expected finite values");
    // The generator's step.
    rec.g_loss = generator_loss(g, d, ws, o.seed, std::uint64_t(2 * s), n);
    require(std::isfinite(rec.g_loss) || o.stop_when_not_finite,
            "train_gan: the generator's loss is not finite at step ", s + 1, " (", rec.g_loss,
            "); neither net has moved at this step");
    pg.remember(backend::raw(g.params));
    og.step(backend::raw(g.params), backend::raw(g.grads), lr_g(s));
    // The discriminator's step, against the predicted generator.
    if (o.prediction) {
      B::copy(Gen::n_params, backend::raw(g.params), backend::raw(stepped));
      const T* p = pg.predict(backend::raw(g.params));
      B::copy(Gen::n_params, p, backend::raw(g.params));
    }
    real.assign(points.begin(), points.end());
    B::upload(real.data(), n * ws.sample_size, backend::raw(ws.real));
    try {  // the generator's stepped weights come back whatever happens (not its predicted ones)
      rec.d_loss = discriminator_loss(g, d, ws, backend::raw(ws.real), o.seed, std::uint64_t(2 * s + 1), n);
    } catch (...) {
      if (o.prediction) B::copy(Gen::n_params, backend::raw(stepped), backend::raw(g.params));
      throw;
    }
    if (o.prediction) B::copy(Gen::n_params, backend::raw(stepped), backend::raw(g.params));
    require(std::isfinite(rec.d_loss) || o.stop_when_not_finite,
            "train_gan: the discriminator's loss is not finite at step ", s + 1, " (", rec.d_loss,
            "); the generator has taken its step, the discriminator has not");
    od.step(backend::raw(d.params), backend::raw(d.grads), lr_d(s));
    if (!(std::isfinite(rec.d_loss) && std::isfinite(rec.g_loss)) && o.stop_when_not_finite) {
      history.push_back(rec);
      break;
    }
    require(std::isfinite(rec.d_loss) && std::isfinite(rec.g_loss), "train_gan: a loss is not finite at step ", s + 1,
            " (discriminator ", rec.d_loss, ", generator ", rec.g_loss, ")");
    history.push_back(rec);
    bar.update(long(s + 1 - o.first_step), double(s + 1 - o.first_step), "D loss", rec.d_loss);
    if (on_step) on_step(s + 1);
  }
  return std::vector<gan_record>(history.begin() + std::ptrdiff_t(before), history.end());
}

// n generated samples (n, c, h, w) row-major on the host, from noise draw `draw` (the noise of
// these draws is not any training step's). m: eval uses batch norm's running statistics; train
// uses the batch's (as PyTorch's DCGAN example draws its samples; it updates the running
// statistics).
template <class Gen>
std::vector<float> generate_samples(Gen& g, std::uint64_t seed, std::uint64_t draw, index_t n, mode m = mode::eval) {
  using T = typename Gen::scalar;
  using B = typename Gen::backend_type;
  require(n >= 1, "gan::generate_samples: n must be at least 1, got ", n);
  constexpr index_t size = Gen::out.size();
  typename B::template vector<T> z(std::size_t(n * Gen::in.size())), out(std::size_t(size * n));
  const counter_rng rng{seed, (noise_stream << 32) + (std::uint64_t(1) << 31) + draw};
  T* zp = backend::raw(z);
  B::for_each_index(n * Gen::in.size(), [=] BASIN_HD(index_t i) { zp[i] = T(rng.normal(std::uint64_t(i))); });
  const T* y = g.forward(zp, n, m);
  basin::detail::cnhw_to_nchw<B>(y, backend::raw(out), n, Gen::out.c, Gen::out.plane());
  std::vector<T> h(std::size_t(size * n));
  B::download(backend::raw(out), size * n, h.data());
  return std::vector<float>(h.begin(), h.end());
}

// n generated points (n, 2) row-major on the host (eval mode): samples for pictures and
// mode_coverage.
template <class Gen>
std::vector<float> generate_points(Gen& g, std::uint64_t seed, std::uint64_t draw, index_t n) {
  static_assert(Gen::flat_output && Gen::classes == 2,
                "generate_points: the generator must output 2 values per sample");
  return generate_samples(g, seed, draw, n, mode::eval);
}

// How well generated images fill the classes of the data, judged by a classifier trained on the
// real images (the Inception score of Salimans et al. 2016 with that classifier in Inception's
// place, as the "MNIST score" of GAN papers): score = exp(mean_x KL(p(y|x) || p(y))), p(y) the
// mean of p(y|x) over the samples. It lies in [1, classes]: 1 when every sample gets the same
// class distribution (a collapsed generator, or noise the classifier cannot place), `classes`
// when each sample is classified with certainty and the classes are chosen equally often.
namespace detail {
// Runs m.infer (eval mode) over host images of m's input shape, batch at a time; visit(b0, nb,
// out) sees each batch's flat outputs (Model::classes, nb), copied to the host.
template <class Model, class Visit>
void infer_batches(Model& m, const std::vector<float>& images, index_t batch, Visit&& visit) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  constexpr index_t size = Model::in.size();
  const index_t n = index_t(images.size()) / size;
  typename B::template vector<T> x(std::size_t(std::min(batch, n) * size));
  std::vector<T> stage(x.size()), out(std::size_t(std::min(batch, n) * Model::classes));
  for (index_t b0 = 0; b0 < n; b0 += batch) {
    const index_t nb = std::min(batch, n - b0);
    for (index_t i = 0; i < nb * size; ++i) stage[std::size_t(i)] = T(images[std::size_t(b0 * size + i)]);
    B::upload(stage.data(), nb * size, backend::raw(x));
    B::download(m.infer(backend::raw(x), nb), nb * Model::classes, out.data());
    visit(b0, nb, static_cast<const T*>(out.data()));
  }
}
}  // namespace detail

struct sample_score {
  double score = 0;
  int classes_covered = 0;         // classes chosen (argmax) for at least min_share n / K samples
  std::vector<index_t> per_class;  // samples per chosen class
  double mean_confidence = 0;      // mean over samples of max_y p(y|x)
};
// Requires images (n, c, h, w) row-major on the host, n >= 1, in the classifier's input shape
// and scale; batch >= 1. The classifier runs in eval mode (infer), batch images at a time.
// Throws basin::error naming the argument when a requirement fails or a logit is not finite.
template <class Classifier>
sample_score classifier_score(Classifier& c, const std::vector<float>& images, index_t batch = 500,
                              double min_share = 0.1) {
  using T = typename Classifier::scalar;
  static_assert(Classifier::flat_output, "classifier_score: the classifier must end with flat logits");
  constexpr index_t size = Classifier::in.size();
  constexpr int K = Classifier::classes;
  require(!images.empty() && images.size() % std::size_t(size) == 0, "gan::classifier_score: images: expected ",
          "a multiple of ", Classifier::in.c, "x", Classifier::in.h, "x", Classifier::in.w, " = ", size,
          " values (one per image), got ", images.size());
  require(batch >= 1, "gan::classifier_score: batch must be at least 1, got ", batch);
  const index_t n = index_t(images.size()) / size;
  std::vector<double> p(std::size_t(n * K));  // p(y|x) (n, K)
  detail::infer_batches(c, images, batch, [&](index_t b0, index_t nb, const T* logits) {  // (K, nb)
    for (index_t i = 0; i < nb; ++i) {
      double top = -INFINITY, z = 0;
      for (int k = 0; k < K; ++k) {
        const double v = double(logits[std::size_t(k * nb + i)]);
        require(std::isfinite(v), "gan::classifier_score: the classifier's logit ", k, " of image ", b0 + i,
                " is not finite (", v, ")");
        top = std::max(top, v);
      }
      for (int k = 0; k < K; ++k) z += std::exp(double(logits[std::size_t(k * nb + i)]) - top);
      for (int k = 0; k < K; ++k)
        p[std::size_t((b0 + i) * K + k)] = std::exp(double(logits[std::size_t(k * nb + i)]) - top) / z;
    }
  });
  std::vector<double> marginal(std::size_t(K), 0.0);
  sample_score r;
  r.per_class.assign(std::size_t(K), 0);
  for (index_t i = 0; i < n; ++i) {
    int best = 0;
    for (int k = 0; k < K; ++k) {
      marginal[std::size_t(k)] += p[std::size_t(i * K + k)] / double(n);
      if (p[std::size_t(i * K + k)] > p[std::size_t(i * K + best)]) best = k;
    }
    ++r.per_class[std::size_t(best)];
    r.mean_confidence += p[std::size_t(i * K + best)] / double(n);
  }
  double kl = 0;
  for (index_t i = 0; i < n; ++i)
    for (int k = 0; k < K; ++k) {
      const double q = p[std::size_t(i * K + k)];
      if (q > 0) kl += q * (std::log(q) - std::log(marginal[std::size_t(k)]));
    }
  r.score = std::exp(kl / double(n));
  for (index_t v : r.per_class) r.classes_covered += v > 0 && double(v) >= min_share * double(n) / double(K);
  return r;
}

// ---- Frechet distance between feature distributions (FID with other features) -------------

// Mean and covariance of `count` feature vectors of `dim` values.
struct gaussian_moments {
  int dim = 0;
  index_t count = 0;
  std::vector<double> mean;  // (dim)
  std::vector<double> cov;   // (dim, dim), row-major, with the unbiased 1 / (count - 1)
};

// The moments of n feature vectors laid out as a flat model's output: feature k of sample i at
// f[k n + i]. Requires n >= 2 and f.size() == dim * n.
// (This and frechet_distance are templates of nothing, so that only the files that call them
// instantiate Eigen's products and eigensolver: as inline functions they cost every file that
// includes gan.hpp 6-7 s of its compile, called or not.)
template <class = void>
gaussian_moments moments_of(const std::vector<double>& f, int dim, index_t n) {
  require(dim >= 1 && n >= 2 && f.size() == std::size_t(dim) * std::size_t(n), "gan::moments_of: expected ", dim,
          " x n features with n >= 2, got ", f.size(), " values for n = ", n);
  gaussian_moments m{dim, n, std::vector<double>(std::size_t(dim)), std::vector<double>(std::size_t(dim * dim))};
  const Eigen::Map<const Eigen::MatrixXd> F(f.data(), n, dim);  // column k: feature k of all samples
  const Eigen::RowVectorXd mu = F.colwise().mean();
  const Eigen::MatrixXd C = F.rowwise() - mu;
  Eigen::Map<Eigen::MatrixXd>(m.cov.data(), dim, dim) = C.transpose() * C / double(n - 1);
  Eigen::Map<Eigen::RowVectorXd>(m.mean.data(), dim) = mu;
  return m;
}

// Frechet distance between the Gaussians of two moments (Heusel et al. 2017, the FID when the
// features are Inception's): |m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), where
// tr((C1 C2)^(1/2)) is the sum of the square roots of the eigenvalues of C1^(1/2) C2 C1^(1/2)
// (symmetric, so a symmetric eigensolver; rounding's tiny negative eigenvalues count as 0).
// NaN when either mean or covariance holds a value that is not finite (the features of a
// generator whose samples diverged: never 0, the score of a perfect match). Throws basin::error
// for moments of other dimensions or malformed ones: fewer than 2 samples, a covariance that is
// not symmetric or has a negative variance.
template <class = void>
double frechet_distance(const gaussian_moments& a, const gaussian_moments& b) {
  require(a.dim >= 1 && a.dim == b.dim && a.mean.size() == std::size_t(a.dim) && b.mean.size() == std::size_t(b.dim) &&
              a.cov.size() == std::size_t(a.dim * a.dim) && b.cov.size() == std::size_t(b.dim * b.dim),
          "gan::frechet_distance: moments of ", a.dim, " and ", b.dim, " features (or malformed)");
  require(a.count >= 2 && b.count >= 2, "gan::frechet_distance: moments of ", a.count, " and ", b.count,
          " samples, expected at least 2 each");
  const int d = a.dim;
  for (const auto* m : {&a, &b}) {
    for (const double v : m->mean)
      if (!std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
    for (const double v : m->cov)
      if (!std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
    const char* which = m == &a ? "first" : "second";
    for (int i = 0; i < d; ++i) {
      const double cii = m->cov[std::size_t(i * d + i)];
      require(cii >= 0, "gan::frechet_distance: the ", which, " covariance has the variance ", cii, " at ", i,
              ", expected >= 0");
      for (int j = 0; j < i; ++j) {
        const double cij = m->cov[std::size_t(i * d + j)], cji = m->cov[std::size_t(j * d + i)];
        require(std::fabs(cij - cji) <= 1e-9 * (std::fabs(cij) + std::fabs(cji)) + 1e-300,
                "gan::frechet_distance: the ", which, " covariance is not symmetric: (", i, ", ", j, ") is ", cij,
                ", (", j, ", ", i, ") is ", cji);
      }
    }
  }
  const Eigen::Map<const Eigen::MatrixXd> C1(a.cov.data(), d, d), C2(b.cov.data(), d, d);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> e1(C1);
  const Eigen::VectorXd r1 = e1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Eigen::MatrixXd S1 = e1.eigenvectors() * r1.asDiagonal() * e1.eigenvectors().transpose();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> e(S1 * C2 * S1, Eigen::EigenvaluesOnly);
  const double cross = e.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  const double dm =
      (Eigen::Map<const Eigen::VectorXd>(a.mean.data(), d) - Eigen::Map<const Eigen::VectorXd>(b.mean.data(), d))
          .squaredNorm();
  // Equal distributions can round to a tiny negative value: 0 then (a distance, and log plots).
  return std::max(0.0, dm + C1.trace() + C2.trace() - 2 * cross);
}

// The moments of a feature model's outputs (flat, eval mode) on images (each Features::in),
// in batches. Features that are not finite (images of a diverged generator) make the moments
// NaN, and frechet_distance of them NaN.
template <class Features>
gaussian_moments feature_moments(Features& f, const std::vector<float>& images, index_t batch = 500) {
  using T = typename Features::scalar;
  static_assert(Features::flat_output, "feature_moments: the feature model must end with flat features");
  constexpr index_t size = Features::in.size();
  constexpr int dim = Features::classes;
  require(images.size() >= 2 * std::size_t(size) && images.size() % std::size_t(size) == 0,
          "gan::feature_moments: images: expected at least two images of ", size, " values, got ", images.size(),
          " values");
  require(batch >= 1, "gan::feature_moments: batch must be at least 1, got ", batch);
  const index_t n = index_t(images.size()) / size;
  std::vector<double> feats(std::size_t(dim * n));  // (dim, n)
  detail::infer_batches(f, images, batch, [&](index_t b0, index_t nb, const T* out) {  // (dim, nb)
    for (int k = 0; k < dim; ++k)
      for (index_t i = 0; i < nb; ++i) feats[std::size_t(k * n + b0 + i)] = double(out[std::size_t(k * nb + i)]);
  });
  return moments_of(feats, dim, n);
}

// Copies into `to` the parameters and running statistics it shares with `from` as a prefix: a
// feature model made of a classifier's first layers (the same names and shapes, then its own
// ending, e.g. global average pooling where the classifier flattens into its dense layer).
// Throws basin::error naming the first tensor that differs.
template <class To, class From>
void copy_prefix(To& to, const From& from) {
  const auto tn = To::parameter_names(), fn = From::parameter_names();
  const auto ts = To::state_names(), fs = From::state_names();
  const auto same = [](const auto& a, const auto& b) {
    if (a.rank != b.rank || a.offset != b.offset) return false;
    for (int k = 0; k < a.rank; ++k)
      if (a.extent[k] != b.extent[k]) return false;
    return true;
  };
  require(To::param_table.size() <= From::param_table.size() && To::state_table.size() <= From::state_table.size(),
          "gan::copy_prefix: ", To::architecture(), " has more tensors than ", From::architecture());
  for (std::size_t i = 0; i < To::param_table.size(); ++i)
    require(tn[i] == fn[i] && same(To::param_table[i], From::param_table[i]), "gan::copy_prefix: parameter ", i,
            " is '", tn[i], "' in the feature model, '", fn[i], "' (or of another shape) in ", From::architecture());
  for (std::size_t i = 0; i < To::state_table.size(); ++i)
    require(ts[i] == fs[i] && same(To::state_table[i], From::state_table[i]), "gan::copy_prefix: state ", i, " is '",
            ts[i], "' in the feature model, '", fs[i], "' (or of another shape) in ", From::architecture());
  // One download and one upload per kind (element access would copy each value on its own: on a
  // GPU two synchronous copies per value).
  const auto copy = [](const auto& src, auto& dst, index_t n) {
    if (n <= 0) return;
    std::vector<typename From::scalar> h(static_cast<std::size_t>(n));
    From::backend_type::download(backend::raw(src), n, h.data());
    const std::vector<typename To::scalar> t(h.begin(), h.end());
    To::backend_type::upload(t.data(), n, backend::raw(dst));
    To::backend_type::synchronize();  // t goes out of scope
  };
  copy(from.params, to.params, To::n_params);
  copy(from.state, to.state, To::n_state);
}

}  // namespace basin::gan
