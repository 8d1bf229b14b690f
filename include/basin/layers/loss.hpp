// basin/layers/loss.hpp — softmax cross-entropy and the softmax's mean squared error on logits,
// with accuracy; the GANs' binary cross-entropy on one logit per sample.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"

namespace basin {

struct loss_result {
  double loss = 0;     // mean over the batch
  index_t correct = 0;  // samples whose largest logit is the label's
};

// The classification losses on logits, as the reference tool's --loss_name picks them.
enum class criterion {
  cross_entropy,  // "crossentropy": PyTorch's CrossEntropyLoss, logsumexp(z) - z[label]
  mse,            // "mse": MSELoss(softmax(z), onehot(label)), the squared differences averaged
                  // over the classes (the reference tool's evaluation.py and main.py)
};

// "crossentropy" or "mse" (the reference tool's spellings) for what.
inline criterion criterion_from_name(const std::string& name, const char* what = "loss_name") {
  if (name == "crossentropy") return criterion::cross_entropy;
  require(name == "mse", what, ": expected 'crossentropy' or 'mse', got '", name, "'");
  return criterion::mse;
}
inline const char* criterion_name(criterion c) {
  return c == criterion::mse ? "mse" : "crossentropy";
}

// classification_loss<T, B>: the mean over the batch of a per-sample loss on the logits, by kind:
//   cross_entropy: L_i = logsumexp(z_i) - z_i[label_i]; dL/dz = (softmax(z) - onehot) / n
//   mse:           L_i = (1/K) sum_k (p_ik - y_ik)^2, p_i = softmax(z_i), y_i = onehot(label_i);
//                  dL/dz_ij = p_ij (g_ij - sum_k g_ik p_ik) / n with g_ik = 2 (p_ik - y_ik) / K
// (the means of PyTorch's CrossEntropyLoss and MSELoss with mean reduction), with accuracy.
//
// A sample whose logits hold a NaN or whose largest logit is infinite (a net that diverged, or a
// landscape point far out: the talk's "it just goes up and up ... until you just get NaNs") gets
// a NaN loss and counts as wrong. (A logit of -inf alone is a probability of 0: the loss stays
// finite unless it is the label's, whose cross-entropy is then +inf.) A batch loss that is not
// finite throws basin::error by default; with allow_not_finite it is returned, as PyTorch returns
// it: evaluate() and the sweeps record such points instead of losing the run.
template <class T, class B>
struct classification_loss {
  criterion kind = criterion::cross_entropy;
  bool allow_not_finite = false;             // return a loss that is not finite instead of throwing
  typename B::template vector<T> grad;       // (classes, n) dL/d(logits)
  typename B::template vector<T> per_sample;  // (3, n): loss, correct, label outside [0, classes)
  typename B::template vector<double> sums;   // (3)

  // Requires logits (classes, n) and labels (n) in backend memory, labels in [0, classes)
  // (out-of-range labels throw basin::error, whatever allow_not_finite says). Ensures grad holds
  // dL/dz when want_grad.
  loss_result operator()(const T* logits, const std::int32_t* labels, int classes, index_t n, bool want_grad) {
    {
      const char* name = kind == criterion::mse ? "softmax_mse" : "softmax_cross_entropy";
      require(n >= 1 && classes >= 1, name, ": need a batch of at least 1 and at least 1 class, got n = ", n,
              ", classes = ", classes);
      require(logits != nullptr && labels != nullptr, name, ": the logits or the labels are a null pointer");
    }
    if (index_t(per_sample.size()) < 3 * n) per_sample.resize(std::size_t(3 * n));
    if (want_grad && index_t(grad.size()) < classes * n) grad.resize(std::size_t(classes * n));
    sums.resize(3);
    T* ps = backend::raw(per_sample);
    T* g = want_grad ? backend::raw(grad) : nullptr;
    const bool mse = kind == criterion::mse;
    B::for_each_index(n, [=] BASIN_HD(index_t i) {
      const std::int32_t label = labels[i];
      ps[2 * n + i] = 0;
      if (label < 0 || label >= classes) {  // counted, reported below
        ps[i] = 0;
        ps[n + i] = 0;
        ps[2 * n + i] = 1;
        return;
      }
      T top = logits[i];
      int arg = 0;
      for (int k = 1; k < classes; ++k)
        if (logits[k * n + i] > top) top = logits[k * n + i], arg = k;
      double z = 0;
      for (int k = 0; k < classes; ++k) z += std::exp(double(logits[k * n + i] - top));
      // z lies in [1, classes] unless a logit is NaN or the largest is infinite (then NaN).
      ps[n + i] = arg == label && z >= 1 ? T(1) : T(0);
      if (!mse) {
        ps[i] = T(std::log(z) - double(logits[label * n + i] - top));
        if (g)
          for (int k = 0; k < classes; ++k)
            g[k * n + i] = T((std::exp(double(logits[k * n + i] - top)) / z - (k == label ? 1.0 : 0.0)) / double(n));
        return;
      }
      double sq = 0, gp = 0;  // sum_k (p_k - y_k)^2, sum_k g_k p_k
      for (int k = 0; k < classes; ++k) {
        const double p = std::exp(double(logits[k * n + i] - top)) / z, d = p - (k == label ? 1.0 : 0.0);
        sq += d * d;
        gp += 2 * d / classes * p;
      }
      ps[i] = T(sq / classes);
      if (g)
        for (int k = 0; k < classes; ++k) {
          const double p = std::exp(double(logits[k * n + i] - top)) / z, d = p - (k == label ? 1.0 : 0.0);
          g[k * n + i] = T(p * (2 * d / classes - gp) / double(n));
        }
    });
    double* sm = backend::raw(sums);
    B::segmented_reduce(
        3, n, [=] BASIN_HD(index_t s, index_t i) { return double(ps[s * n + i]); }, sm);
    double host[3];
    B::download(sm, 3, host);
    const char* name = mse ? "softmax_mse" : "softmax_cross_entropy";
    if (host[2] != 0) {  // name the first (the labels read back only on this error path)
      std::vector<std::int32_t> h(static_cast<std::size_t>(n));
      B::download(labels, n, h.data());
      const auto bad = std::find_if(h.begin(), h.end(), [&](std::int32_t l) { return l < 0 || l >= classes; });
      fail(name, ": ", index_t(host[2] + 0.5), " of ", n, " labels lie outside [0, ", classes, "), the first is image ",
           bad - h.begin(), " of the batch, label ", bad != h.end() ? *bad : -1);
    }
    require(allow_not_finite || std::isfinite(host[0]), name, ": the loss is ",
            std::isnan(host[0]) ? "NaN" : "infinite", " (non-finite logits)");
    return {host[0] / double(n), index_t(host[1] + 0.5)};
  }
};

// The two kinds by name: softmax_cross_entropy<T, B> and softmax_mse<T, B>.
template <class T, class B>
struct softmax_cross_entropy : classification_loss<T, B> {};
template <class T, class B>
struct softmax_mse : classification_loss<T, B> {
  softmax_mse() { this->kind = criterion::mse; }
};

// sigmoid_cross_entropy<T, B>: L = mean_i [ softplus(z_i) - t_i z_i ] with one logit z_i per
// sample and a target t_i in [0, 1] (the same for the whole batch: 1 "real", 0 "fake"), as
// PyTorch's BCEWithLogitsLoss (mean reduction); dL/dz_i = (sigmoid(z_i) - t_i) / n. The GAN
// losses: a discriminator's BCE(D(x), 1) + BCE(D(G(z)), 0), the generator's non-saturating
// BCE(D(G(z)), 1) (Goodfellow et al. 2014, section 3).
template <class T, class B>
struct sigmoid_cross_entropy {
  typename B::template vector<T> grad;        // (1, n) dL/dz
  typename B::template vector<T> per_sample;  // (2, n): loss, D(x) > 1/2 agrees with the target
  typename B::template vector<double> sums;   // (2)
  bool allow_not_finite = false;  // return a loss that is not finite instead of throwing (a GAN's collapse)

  // Requires logits (1, n) in backend memory and 0 <= target <= 1. Ensures grad holds dL/dz when
  // want_grad; `correct` counts the samples whose sigmoid lies on the target's side of 1/2.
  // Throws basin::error for a target outside [0, 1] or (unless allow_not_finite) a loss that is
  // not finite.
  loss_result operator()(const T* logits, double target, index_t n, bool want_grad) {
    require(target >= 0 && target <= 1, "sigmoid_cross_entropy: target must lie in [0, 1], got ", target);
    require(n >= 1, "sigmoid_cross_entropy: need a batch of at least 1, got n = ", n);
    require(logits != nullptr, "sigmoid_cross_entropy: the logits are a null pointer");
    if (index_t(per_sample.size()) < 2 * n) per_sample.resize(std::size_t(2 * n));
    if (want_grad && index_t(grad.size()) < n) grad.resize(std::size_t(n));
    sums.resize(2);
    T* ps = backend::raw(per_sample);
    T* g = want_grad ? backend::raw(grad) : nullptr;
    B::for_each_index(n, [=] BASIN_HD(index_t i) {
      const double z = logits[i];
      // softplus(z) = max(z, 0) + log1p(exp(-|z|)): no overflow for large |z|
      ps[i] = T((z > 0 ? z : 0.0) + std::log1p(std::exp(-std::fabs(z))) - target * z);
      ps[n + i] = (z > 0) == (target > 0.5) ? T(1) : T(0);
      if (g) g[i] = T((1 / (1 + std::exp(-z)) - target) / double(n));
    });
    double* sm = backend::raw(sums);
    B::segmented_reduce(2, n, [=] BASIN_HD(index_t s, index_t i) { return double(ps[s * n + i]); }, sm);
    double host[2];
    B::download(sm, 2, host);
    require(allow_not_finite || std::isfinite(host[0]), "sigmoid_cross_entropy: the loss is ", host[0],
            " (non-finite logits)");
    return {host[0] / double(n), index_t(host[1] + 0.5)};
  }
};

}  // namespace basin
