// basin/landscape/coherence.hpp — how much the gradients of different mini-batches agree: the
// talk's shattered gradients ("if you try to train a network that's too deep ... the gradients
// that you'd produce from different mini batches aren't correlated, the gradients effectively
// become random and once that happens neural networks are basically untrainable").
//
//   basin::coherence_options o;                   // 16 disjoint batches of 128, train mode
//   auto c = basin::gradient_coherence(net, train_set, o);
//   std::printf("%.3f [%.3f, %.3f]\n", c.coherence, c.coherence_low, c.coherence_high);
//
// At the model's parameters, K disjoint mini-batches g_1..g_K are drawn as one epoch of SGD would
// draw them (the first K batches of epoch_order(n, seed, 0)), each batch's mean-loss gradient over
// all parameters is computed (train mode by default: batch statistics, as a training step sees
// them; the running statistics and the batch count are restored after), and from their Gram
// matrix G_ij = <g_i, g_j> (in double) two measures of agreement:
//   coherence    alpha = mean_{i != j} G_ij / mean_i G_ii, Chatterjee and Zielinski's coherence
//                of the batch gradients ("On the generalization mystery in deep learning", 2022),
//                an estimate of E<g_i, g_j> / E|g|^2. 1 when every batch gives the same gradient,
//                about 0 when they are unrelated (its scale-free form of "not correlated"). For
//                disjoint batches of size b from n examples whose per-example gradients have mean
//                gbar and total variance v (mean |g_e - gbar|^2):
//                    E<g_i, g_j> = |gbar|^2 - v / (n - 1),  E|g_i|^2 = |gbar|^2 + v (n - b) / (b (n - 1))
//                (tests/landscape checks the estimate against this on exact per-example gradients).
//   mean_cosine  the mean over pairs i < j of G_ij / sqrt(G_ii G_jj).
// Both come with a confidence interval (95% by default) from the jackknife over batches (leave one
// batch out) and Student's t with K - 1 degrees of freedom (core/statistics.hpp). The weight
// decay's gradient is not included: it is the same for every batch.
//
// Cost: K forward and backward passes, and K (K + 1) / 2 dot products over the parameters. The K
// gradients are kept (K x n_params scalars of the model's type: resnet56 with 4x the channels at
// K = 16 in float, 0.87 GB). On a GPU each new gradient's K dot products run as K segments of one
// reduction (one block each), which leaves most of a large GPU idle for small K: fine next to the
// K backward passes, not tuned.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <tuple>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/memory.hpp"
#include "basin/core/statistics.hpp"
#include "basin/train/trainer.hpp"

namespace basin {

struct coherence_options {
  int batches = 16;               // K >= 3 disjoint mini-batches
  index_t batch_size = 128;       // images per batch (K x batch_size must fit in the data)
  std::uint64_t seed = 0;         // which batches: epoch_order(n, seed, 0)
  mode batch_mode = mode::train;  // train: batch statistics (a training step's gradient); eval: running ones
  double confidence = 0.95;       // of the intervals
};

struct coherence_result {
  double coherence = 0, coherence_low = 0, coherence_high = 0;  // alpha and its interval
  double mean_cosine = 0, cosine_low = 0, cosine_high = 0;      // the mean pairwise cosine and its interval
  double loss = 0;                                              // mean loss over the batches
  double mean_norm = 0;                                         // mean over batches of |g_i|
  int batches = 0;                                              // K
  index_t batch_size = 0;
  double confidence = 0;
  std::vector<double> gram;     // K x K, row-major: <g_i, g_j>
  std::vector<index_t> images;  // K x batch_size: the images of batch i at [i * batch_size, (i + 1) * batch_size)
};

namespace detail {
// alpha and the mean cosine from a K x K Gram matrix without batch left_out (-1: with all).
inline double coherence_alpha(const std::vector<double>& g, int k, int left_out) {
  double off = 0, diag = 0;
  int m = 0;
  for (int i = 0; i < k; ++i) {
    if (i == left_out) continue;
    ++m;
    diag += g[std::size_t(i * k + i)];
    for (int j = 0; j < k; ++j)
      if (j != i && j != left_out) off += g[std::size_t(i * k + j)];
  }
  return (off / (double(m) * double(m - 1))) / (diag / double(m));
}
inline double coherence_cosine(const std::vector<double>& g, int k, int left_out) {
  double sum = 0;
  int pairs = 0;
  for (int i = 0; i < k; ++i)
    for (int j = i + 1; j < k; ++j) {
      if (i == left_out || j == left_out) continue;
      sum += g[std::size_t(i * k + j)] / std::sqrt(g[std::size_t(i * k + i)] * g[std::size_t(j * k + j)]);
      ++pairs;
    }
  return sum / double(pairs);
}
}  // namespace detail

// The agreement of K mini-batch gradients at the model's current parameters (see the file
// comment). The parameters, running statistics and batch count are as before after the call
// (grads holds the last batch's gradient). Throws basin::error for a data set the model cannot
// take, options out of range, too few images for K disjoint batches, or a batch whose loss or
// gradient is not finite (naming the batch), or a zero gradient (no direction to compare).
template <class Model>
coherence_result gradient_coherence(Model& m, const dataset& data, const coherence_options& o = {}) {
  static_assert(Model::flat_output, "gradient_coherence: the model must end with class logits");
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  detail::require_matches<Model>(data, "gradient_coherence");
  require(o.batches >= 3, "gradient_coherence: option batches: expected at least 3 batches, got ", o.batches);
  require(o.batch_size >= 1, "gradient_coherence: option batch_size: expected at least 1, got ", o.batch_size);
  require(o.confidence > 0 && o.confidence < 1,
          "gradient_coherence: option confidence: expected a value in (0, 1), got ", o.confidence);
  const index_t n = data.size(), K = o.batches, b = o.batch_size;
  require(b <= n / K, "gradient_coherence: options batches and batch_size: ", K, " disjoint batches of ", b,
          " images need ", K * b, " images, the data set has ", n);
  if (o.batch_mode == mode::train) detail::require_batch_norm_batches(m, b, b, "gradient_coherence");

  coherence_result r;
  r.batches = o.batches;
  r.batch_size = b;
  r.confidence = o.confidence;
  const auto order = epoch_order(n, o.seed, 0);
  r.images.assign(order.begin(), order.begin() + K * b);

  // The running statistics and the batch count come back whatever happens.
  typename B::template vector<T> saved_state(std::size_t(Model::n_state));
  if (Model::n_state > 0) B::copy(Model::n_state, backend::raw(m.state), backend::raw(saved_state));
  struct restore {
    Model& m;
    typename B::template vector<T>& s;
    std::int64_t tracked;
    ~restore() {
      if (Model::n_state > 0) B::copy(Model::n_state, backend::raw(s), backend::raw(m.state));
      m.batches_tracked = tracked;
    }
  } guard{m, saved_state, m.batches_tracked};

  constexpr index_t P = Model::n_params;
  // K gradients of P values and a K x K Gram matrix, refused up front when they cannot fit
  // (20000 batches of resnet110 asked for 140 GB).
  require(K <= std::numeric_limits<index_t>::max() / 8 / P, "gradient_coherence: option batches: ", K, " gradients of ",
          P, " parameters overflow");
  if constexpr (requires { B::host_memory; })
    detail::require_memory(double(K) * double(P) * sizeof(T) + 8.0 * double(K) * double(K),
                           text("gradient_coherence: option batches: ", K, " gradients of ", P, " parameters"));
  typename B::template vector<T> g(std::size_t(K * P));
  typename B::template vector<double> dots(static_cast<std::size_t>(K));
  r.gram.assign(std::size_t(K * K), 0.0);
  std::vector<double> row(static_cast<std::size_t>(K));
  evaluation_workspace<Model> ws;
  ws.ce.allow_not_finite = true;
  for (index_t k = 0; k < K; ++k) {
    ws.stager.stage(data, r.images.data() + k * b, b, nullptr, 0);
    const T* z = m.forward(backend::raw(ws.stager.x), b, o.batch_mode);
    const auto lr = ws.ce(z, backend::raw(ws.stager.y), Model::classes, b, true);
    require(std::isfinite(lr.loss), "gradient_coherence: the loss of batch ", k, " is ", lr.loss,
            " (its logits overflow)");
    r.loss += lr.loss / double(K);
    m.backward(backend::raw(ws.ce.grad));
    T* gk = backend::raw(g) + k * P;
    B::copy(P, backend::raw(m.grads), gk);
    // <g_j, g_k> for j <= k.
    const T* all = backend::raw(g);
    B::segmented_reduce(
        k + 1, P, [=] BASIN_HD(index_t j, index_t i) { return double(all[j * P + i]) * double(gk[i]); },
        backend::raw(dots));
    B::download(backend::raw(dots), k + 1, row.data());
    for (index_t j = 0; j <= k; ++j)
      r.gram[std::size_t(j * K + k)] = r.gram[std::size_t(k * K + j)] = row[std::size_t(j)];
    const double kk = r.gram[std::size_t(k * K + k)];
    require(std::isfinite(kk), "gradient_coherence: the gradient of batch ", k, " is not finite");
    require(kk > 0, "gradient_coherence: the gradient of batch ", k, " is zero (nothing to compare)");
    r.mean_norm += std::sqrt(kk) / double(K);
  }

  const int k = o.batches;
  r.coherence = detail::coherence_alpha(r.gram, k, -1);
  r.mean_cosine = detail::coherence_cosine(r.gram, k, -1);
  const double se_a = jackknife_standard_error(k, [&](int i) { return detail::coherence_alpha(r.gram, k, i); });
  const double se_c = jackknife_standard_error(k, [&](int i) { return detail::coherence_cosine(r.gram, k, i); });
  std::tie(r.coherence_low, r.coherence_high) = t_interval(r.coherence, se_a, k, o.confidence);
  std::tie(r.cosine_low, r.cosine_high) = t_interval(r.mean_cosine, se_c, k, o.confidence);
  return r;
}

}  // namespace basin
