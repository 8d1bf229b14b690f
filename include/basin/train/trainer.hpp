// basin/train/trainer.hpp — mini-batch training and evaluation on a dataset.
//
//   basin::model<basin::resnet20<basin::fashion_input>> m(seed);
//   basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 5e-4, true}, m.n_params);
//   basin::train(m, opt, basin::optim::cosine_lr{0.1, 10}, train_set, {.epochs = 10}, &test_set);
//
// Every epoch visits the training set in a fresh order drawn from the counter-based generator
// keyed by (seed, epoch), so a run is reproducible and can resume at any epoch boundary: on the
// host two runs with the same seed, data and number of threads end in the same bits (no sum's
// order depends on the threads' timing; tests/train checks it).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <type_traits>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/random.hpp"
#include "basin/data/dataset.hpp"
#include "basin/layers/batch_norm.hpp"
#include "basin/layers/common.hpp"
#include "basin/layers/loss.hpp"
#include "basin/train/progress.hpp"

namespace basin {

struct evaluation {
  double loss = 0;      // mean cross-entropy
  double accuracy = 0;  // percent correct
};

struct epoch_record {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0;  // running averages over the epoch (train mode)
  evaluation test;                            // when a test set was given
  double seconds = 0;
};

struct train_options {
  int epochs = 1;
  index_t batch_size = 128;
  std::uint64_t seed = 0;
  int first_epoch = 0;   // to resume after a checkpoint at an epoch boundary
  // Random horizontal flip and translation by up to 2 pixels (PyTorch's CIFAR recipe crops with
  // padding 4, up to 4 pixels), padding with black (dataset::raw_zero) as RandomCrop does.
  bool augment = false;
  bool progress = true;
  index_t eval_batch_size = 500;
  criterion loss = criterion::cross_entropy;  // what is minimized and reported (--loss_name)
};

// The most epochs train() and train_resumable() take (a run's loops count epochs in int; 10^9
// epochs left train_resumable looking for a billion checkpoint files first).
inline constexpr int max_epochs = 1000000;

// The order of the training set in one epoch: a Fisher-Yates shuffle keyed by (seed, epoch).
inline std::vector<index_t> epoch_order(index_t n, std::uint64_t seed, int epoch) {
  require(n >= 0, "epoch_order: n = ", n, ", expected 0 or more images");
  std::vector<index_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), index_t(0));
  const counter_rng rng{seed, (stream::shuffle << 32) + std::uint64_t(epoch)};
  for (index_t i = n - 1; i > 0; --i) std::swap(p[i], p[rng.below(std::uint64_t(i), std::uint32_t(i + 1))]);
  return p;
}

namespace detail {
// Host-side staging of a batch: images (n, c, h, w) gathered by index, then uploaded.
template <class Model>
struct batch_stager {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  std::vector<T> host_x;
  std::vector<std::int32_t> host_y;
  typename B::template vector<T> x;
  typename B::template vector<std::int32_t> y;

  void stage(const dataset& d, const index_t* idx, index_t n, const counter_rng* aug, std::uint64_t aug_base) {
    const index_t sz = d.shape.size();
    host_x.resize(std::size_t(n * sz));
    host_y.resize(std::size_t(n));
    for (index_t b = 0; b < n; ++b) {
      const float* src = d.images.data() + idx[b] * sz;
      T* dst = host_x.data() + b * sz;
      host_y[b] = d.labels[idx[b]];
      if (!aug) {
        std::copy(src, src + sz, dst);
        continue;
      }
      const auto bits = aug->bits(aug_base + std::uint64_t(b));
      const bool flip = bits[0] & 1;
      const int dy = int(bits[1] % 5) - 2, dx = int(bits[2] % 5) - 2;
      const int H = d.shape.h, W = d.shape.w;
      for (int c = 0; c < d.shape.c; ++c) {
        const T pad = d.raw_zero.size() == std::size_t(d.shape.c) ? T(d.raw_zero[c]) : T(0);
        for (int yy = 0; yy < H; ++yy)
          for (int xx = 0; xx < W; ++xx) {
            const int sy = yy + dy, sx0 = xx + dx, sx = flip ? W - 1 - sx0 : sx0;
            const bool inside = sy >= 0 && sy < H && sx0 >= 0 && sx0 < W;
            dst[(c * H + yy) * W + xx] = inside ? T(src[(c * H + sy) * W + sx]) : pad;
          }
      }
    }
    if (index_t(x.size()) < n * sz) x.resize(std::size_t(n * sz));
    if (index_t(y.size()) < n) y.resize(std::size_t(n));
    B::upload(host_x.data(), n * sz, backend::raw(x));
    B::upload(host_y.data(), n, backend::raw(y));
  }
};

// Whether every value of a backend buffer is finite: x * 0 is 0 for finite x and NaN otherwise,
// so their sum is 0 exactly when all are.
template <class B, class T>
bool all_finite(const T* p, index_t n) {
  typename B::template vector<double> sum(1);
  B::segmented_reduce(
      1, n, [=] BASIN_HD(index_t, index_t i) { return double(p[i]) * 0.0; }, backend::raw(sum));
  double h = 1;
  B::download(backend::raw(sum), 1, &h);
  return h == 0;
}

template <class Model>
void require_matches(const dataset& d, const char* what) {
  static_assert(Model::flat_output,
                "train, evaluate, sweep and hessian need a classifier: the network must end with flat logits "
                "(global_avg_pool or flatten, then dense)");
  require(d.shape == Model::in, what, ": images are ", d.shape.c, "x", d.shape.h, "x", d.shape.w,
          " but the network takes ", Model::in.c, "x", Model::in.h, "x", Model::in.w);
  check_layout(d, what);  // not empty, and the pixel buffer as long as labels x shape (a hand-built dataset)
  require(d.classes <= Model::classes, what, ": ", d.classes, " classes but the network has ",
          Model::classes, " outputs");
  // (a label out of range would otherwise stop the loss mid-epoch, or after an epoch's training
  // in the test evaluation, naming neither the set nor the image)
  for (std::size_t k = 0; k < d.labels.size(); ++k)
    require(d.labels[k] >= 0 && d.labels[k] < d.classes, what, ": image ", k, " has the label ", d.labels[k],
            ", expected 0 to ", d.classes - 1);
}
}  // namespace detail

namespace detail {
// Refuses, before any work, a pass in train mode over n images in batches of `batch` whose last
// batch holds one image while a batch norm of the model follows a 1 x 1 map (VGG-9's classifier):
// it would see one value per channel, which batch_norm refuses (as PyTorch does) at that batch.
template <class Model>
void require_batch_norm_batches(Model& model, index_t n, index_t batch, const char* who) {
  bool flat = false;
  model.for_each_layer([&](auto& l) {
    using L = std::remove_cvref_t<decltype(l)>;
    if constexpr (is_batch_norm_v<L>) flat = flat || L::in.h * L::in.w == 1;
  });
  const index_t last = n % batch == 0 ? std::min(n, batch) : n % batch;
  require(!flat || last != 1, who, ": the last batch of ", n, " images in batches of ", batch,
          " holds one image, and a batch norm after a 1 x 1 map would see one value per channel in train mode ",
          "(refused, as PyTorch refuses it); choose a batch size that leaves more, or one image more or fewer");
}
}  // namespace detail

// The buffers evaluate() needs. A caller that evaluates many times (a sweep) keeps one, so that
// after the first call no evaluation allocates.
template <class Model>
struct evaluation_workspace {
  detail::batch_stager<Model> stager;
  classification_loss<typename Model::scalar, typename Model::backend_type> ce;  // of the kind asked for
  std::vector<index_t> idx;
  typename Model::template vector<typename Model::scalar> states;  // per-point statistics (sweeps)
  const void* tuned_for = nullptr;  // the model whose one-kernel variants a sweep has tuned
};

// Mean loss (cross-entropy, or with loss_kind mse the softmax's squared error) and accuracy of the
// model in eval mode (or train-mode batch statistics when m == mode::train, without updating
// anything but the running statistics). Logits that are not finite (a diverged net) give a NaN
// loss (as PyTorch's) and count as wrong, instead of throwing. Eval mode runs the fused inference
// path (model::infer: forward(eval)'s logits to rounding, the buffers of that path only), as a
// sweep's points do.
template <class Model>
evaluation evaluate(Model& model, const dataset& data, index_t batch_size = 500, mode m = mode::eval,
                    bool show_progress = false, std::type_identity_t<evaluation_workspace<Model>>* workspace = nullptr,
                    criterion loss_kind = criterion::cross_entropy) {
  detail::require_matches<Model>(data, "evaluate");
  require(batch_size >= 1, "evaluate: batch_size must be at least 1, got ", batch_size);
  if (m == mode::train) detail::require_batch_norm_batches(model, data.size(), batch_size, "evaluate");
  using T = typename Model::scalar;
  evaluation_workspace<Model> local;
  auto& ws = workspace ? *workspace : local;
  auto& st = ws.stager;
  auto& ce = ws.ce;
  ce.kind = loss_kind;
  ce.allow_not_finite = true;
  const index_t n = data.size(), batches = n / batch_size + (n % batch_size != 0);  // (no overflow near 2^63)
  auto& idx = ws.idx;
  if (index_t(idx.size()) < std::min(batch_size, n)) idx.resize(static_cast<std::size_t>(std::min(batch_size, n)));
  double loss = 0;
  index_t correct = 0;
  progress bar("evaluate", long(batches), "img", show_progress);
  for (index_t b0 = 0, k = 0; b0 < n; b0 += batch_size, ++k) {
    const index_t nb = std::min(batch_size, n - b0);
    std::iota(idx.begin(), idx.begin() + nb, b0);
    st.stage(data, idx.data(), nb, nullptr, 0);
    const T* z = m == mode::eval ? model.infer(backend::raw(st.x), nb) : model.forward(backend::raw(st.x), nb, m);
    const auto r = ce(z, backend::raw(st.y), Model::classes, nb, false);
    loss += r.loss * double(nb);
    correct += r.correct;
    bar.update(long(k + 1), double(b0 + nb));
  }
  return {loss / double(n), 100.0 * double(correct) / double(n)};
}

// Recomputes every batch norm's running statistics on data: the statistics are reset (mean 0,
// variance 1), then each batch (in order, no augmentation) runs in train mode with momentum 1/k
// for the k-th batch, so the running values end as the plain average over batches of the batch
// means and unbiased variances (PyTorch's momentum=None). Parameters, each batch norm's momentum
// and the count of batches tracked are as they were.
template <class Model>
void recompute_batch_norm(Model& model, const dataset& data, index_t batch_size = 500,
                          evaluation_workspace<Model>* workspace = nullptr) {
  detail::require_matches<Model>(data, "recompute_batch_norm");
  require(batch_size >= 1, "recompute_batch_norm: batch_size must be at least 1, got ", batch_size);
  detail::require_batch_norm_batches(model, data.size(), batch_size, "recompute_batch_norm");
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  evaluation_workspace<Model> local;
  auto& ws = workspace ? *workspace : local;
  const index_t n = data.size();
  if (index_t(ws.idx.size()) < std::min(batch_size, n))
    ws.idx.resize(static_cast<std::size_t>(std::min(batch_size, n)));
  for (const auto& t : Model::state_table)
    B::fill(t.size(), T(t.kind == param_kind::bn_running_var ? 1 : 0), backend::raw(model.state) + t.offset);
  // Each batch norm's momentum and the batch count as they were, whatever happens.
  std::vector<double> momenta;
  model.for_each_layer([&](auto& l) {
    if constexpr (detail::is_batch_norm_v<std::remove_cvref_t<decltype(l)>>) momenta.push_back(l.momentum);
  });
  struct restore {
    Model& m;
    std::int64_t tracked;
    const std::vector<double>& momenta;
    ~restore() {
      std::size_t k = 0;
      m.for_each_layer([&](auto& l) {
        if constexpr (detail::is_batch_norm_v<std::remove_cvref_t<decltype(l)>>) l.momentum = momenta[k++];
      });
      m.batches_tracked = tracked;
    }
  } guard{model, model.batches_tracked, momenta};
  for (index_t b0 = 0, k = 1; b0 < n; b0 += batch_size, ++k) {
    const index_t nb = std::min(batch_size, n - b0);
    std::iota(ws.idx.begin(), ws.idx.begin() + nb, b0);
    ws.stager.stage(data, ws.idx.data(), nb, nullptr, 0);
    model.set_batch_norm_momentum(1.0 / double(k));
    model.forward(backend::raw(ws.stager.x), nb, mode::train);
  }
}

// Trains for options.epochs epochs. After each epoch `on_epoch(record)` runs (checkpointing
// goes there); `on_step(epoch, step)` runs after every step when given (for trajectories at
// chosen steps). Throws basin::error when the loss turns NaN or infinite, naming the epoch and step,
// or when the weights are not all finite at the end of an epoch (before on_epoch).
template <class Model, class Optimizer, class Schedule>
std::vector<epoch_record> train(Model& model, Optimizer&& opt, const Schedule& lr, const dataset& data,
                                const train_options& o, const dataset* test = nullptr,
                                const std::function<void(const epoch_record&)>& on_epoch = {},
                                const std::function<void(int, index_t)>& on_step = {}) {
  detail::require_matches<Model>(data, "train");
  if (test) detail::require_matches<Model>(*test, "train (test set)");
  require(o.batch_size >= 1, "train: batch_size must be at least 1, got ", o.batch_size);
  require(!test || o.eval_batch_size >= 1, "train: eval_batch_size must be at least 1, got ", o.eval_batch_size);
  require(o.epochs >= 0 && o.first_epoch >= 0 && o.epochs <= max_epochs, "train: epochs and first_epoch must be 0 to ",
          max_epochs, ", got ", o.epochs, " and ", o.first_epoch);
  if constexpr (requires { opt.size(); })
    require(index_t(opt.size()) == Model::n_params, "train: the optimizer was made for ", opt.size(),
            " parameters, the model has ", Model::n_params);
  if (o.epochs > 0) {  // the split and the schedule's settings, before any batch moves the running statistics
    detail::require_batch_norm_batches(model, data.size(), o.batch_size, "train");
    const double lr0 = lr(double(o.first_epoch));
    require(std::isfinite(lr0) && lr0 >= 0, "train: the learning rate at epoch ", o.first_epoch + 1, " is ", lr0,
            ", expected finite and >= 0");
  }
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  detail::batch_stager<Model> st;
  classification_loss<T, B> ce;
  ce.kind = o.loss;
  ce.allow_not_finite = true;  // refused below, with the epoch and step named
  const index_t n = data.size(), steps = n / o.batch_size + (n % o.batch_size != 0);
  std::vector<epoch_record> history;
  for (int epoch = o.first_epoch; epoch < o.first_epoch + o.epochs; ++epoch) {
    const auto order = epoch_order(n, o.seed, epoch);
    const counter_rng aug{o.seed, (stream::augment << 32) + std::uint64_t(epoch)};
    progress bar("epoch " + std::to_string(epoch + 1), long(steps), "img", o.progress);
    double loss_sum = 0;
    index_t correct = 0;
    for (index_t s = 0; s < steps; ++s) {
      const index_t b0 = s * o.batch_size, nb = std::min(o.batch_size, n - b0);
      st.stage(data, order.data() + b0, nb, o.augment ? &aug : nullptr, std::uint64_t(b0));
      const T* z = model.forward(backend::raw(st.x), nb, mode::train);
      const auto r = ce(z, backend::raw(st.y), Model::classes, nb, true);
      require(std::isfinite(r.loss), "train: the loss is ", std::isnan(r.loss) ? "NaN" : "infinite", " at epoch ",
              epoch + 1, ", step ", s + 1, " (learning rate ", lr(epoch + double(s) / double(steps)), ")");
      model.backward(backend::raw(ce.grad));
      opt.step(backend::raw(model.params), backend::raw(model.grads), lr(epoch + double(s) / double(steps)));
      loss_sum += r.loss * double(nb);
      correct += r.correct;
      bar.update(long(s + 1), double(b0 + nb), "loss", loss_sum / double(b0 + nb));
      if (on_step) on_step(epoch, s);
    }
    epoch_record rec;
    rec.epoch = epoch + 1;
    rec.train_loss = loss_sum / double(n);
    rec.train_accuracy = 100.0 * double(correct) / double(n);
    rec.seconds = bar.seconds();
    // The last step comes after the last loss was taken: weights it made NaN or infinite would
    // otherwise reach on_epoch (a checkpoint) and the test evaluation (a NaN loss).
    require(detail::all_finite<B>(backend::raw(model.params), Model::n_params),
            "train: the weights are not finite at the end of epoch ", epoch + 1, " (a step diverged; learning rate ",
            lr(epoch + double(steps - 1) / double(steps)), ")");
    if (test) rec.test = evaluate(model, *test, o.eval_batch_size, mode::eval, false, nullptr, o.loss);
    history.push_back(rec);
    if (on_epoch) on_epoch(rec);
  }
  return history;
}

}  // namespace basin
