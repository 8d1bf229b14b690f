// basin/data/dataset.hpp — a labelled image set in memory, and what is done to it before training.
//
// Readers (idx.hpp, cifar.hpp) fill a `dataset` with pixels scaled to [0, 1] (byte / 255) in
// PyTorch's (n, c, h, w) layout; the model converts to basin's channel-major layout at its input.
// `compute_channel_stats` and `normalize` give the usual per-channel standardization, computed on
// the training set and applied to both training and test sets (`normalize_by_train` does both);
// `subset` and `first_images` cut a smaller set.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "basin/core/config.hpp"
#include "basin/core/digest.hpp"
#include "basin/core/error.hpp"
#include "basin/core/shape.hpp"

namespace basin {

struct dataset {
  dims shape{};                      // per image (c, h, w)
  int classes = 10;                  // labels lie in [0, classes)
  std::vector<float> images;         // (n, c, h, w)
  std::vector<std::int32_t> labels;  // (n)
  // Per channel, the value a raw 0 (black) pixel holds after `normalize` (empty: 0, the readers'
  // black): what augmentation pads with, as PyTorch's RandomCrop pads before Normalize.
  std::vector<float> raw_zero;

  // The number of images n. Ensures images.size() == size() * shape.size() for any dataset a
  // reader or `subset` returned.
  index_t size() const { return index_t(labels.size()); }

  // The first of image i's shape.size() values, (c, h, w). Requires 0 <= i < size(); throws
  // basin::error otherwise.
  const float* image(index_t i) const {
    require(i >= 0 && i < size(), "dataset::image: i = ", i, " is out of range [0, ", size(), ")");
    return images.data() + i * shape.size();
  }
};

// The contents of a dataset (shape, classes, labels and every pixel's bits) as 16 hex digits,
// FNV-1a: what a training checkpoint's recipe records of its data, so that a run resumed on
// another data set of the same size is refused. About 0.3 s for Fashion-MNIST's 60000 images.
inline std::string data_digest(const dataset& d) {
  fnv1a h;
  const std::int64_t head[5] = {d.shape.c, d.shape.h, d.shape.w, d.classes, std::int64_t(d.labels.size())};
  h.add(head, sizeof head);
  h.add(d.labels.data(), d.labels.size() * sizeof(std::int32_t));
  h.add(d.images.data(), d.images.size() * sizeof(float));
  return h.hex();
}

// Per-channel mean and population standard deviation over every image and pixel.
struct channel_stats {
  std::vector<double> mean, stddev;  // (c)
};

namespace detail {
// Throws unless d is non-empty and its buffers agree with its shape.
inline void check_layout(const dataset& d, const char* who) {
  require(d.shape.c > 0 && d.shape.h > 0 && d.shape.w > 0, who, ": dataset shape (", d.shape.c,
          ", ", d.shape.h, ", ", d.shape.w, ") has a non-positive extent");
  require(d.size() > 0, who, ": dataset is empty");
  // By division: a product of a hand-built shape's extents, or of it and the image count, can wrap.
  const index_t values = index_t(d.images.size());
  const bool fits = d.shape.h <= values / d.shape.c && d.shape.w <= values / (index_t(d.shape.c) * d.shape.h);
  require(fits && values % d.shape.size() == 0 && values / d.shape.size() == d.size(), who, ": dataset holds ", values,
          " pixel values, expected ", d.size(), " images x ", d.shape.c, "x", d.shape.h, "x", d.shape.w,
          fits ? text(" = ", double(d.size()) * double(d.shape.size())) : std::string());
}
}  // namespace detail

// Requires a non-empty dataset whose images.size() == size() * shape.size(). Ensures mean[c] and
// stddev[c] (population, divisor n*h*w) of channel c, accumulated in double over two passes so
// that the million-value sums of a real data set keep their precision. Throws basin::error when
// the requirement fails.
inline channel_stats compute_channel_stats(const dataset& d) {
  detail::check_layout(d, "compute_channel_stats");
  const index_t n = d.size(), plane = d.shape.plane();
  const int c = d.shape.c;
  const double count = double(n) * double(plane);
  channel_stats s{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
  for (index_t i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch) {
      const float* p = d.images.data() + (i * c + ch) * plane;  // (h, w) of image i, channel ch
      double sum = 0;
      for (index_t k = 0; k < plane; ++k) sum += p[k];
      s.mean[ch] += sum;
    }
  for (double& m : s.mean) m /= count;
  for (index_t i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch) {
      const float* p = d.images.data() + (i * c + ch) * plane;
      double sum = 0;
      for (index_t k = 0; k < plane; ++k) {
        const double e = p[k] - s.mean[ch];
        sum += e * e;
      }
      s.stddev[ch] += sum;
    }
  for (double& v : s.stddev) v = std::sqrt(v / count);
  return s;
}

// Standardizes in place: x <- (x - mean[c]) / stddev[c] for every value of channel c. Requires a
// dataset as for compute_channel_stats, mean.size() == stddev.size() == shape.c and every
// stddev[c] > 0 (and finite). Throws basin::error, naming the channel, when a requirement fails;
// the dataset is then unchanged.
inline void normalize(dataset& d, const channel_stats& s) {
  detail::check_layout(d, "normalize");
  const int c = d.shape.c;
  require(s.mean.size() == std::size_t(c) && s.stddev.size() == std::size_t(c),
          "normalize: channel_stats has ", s.mean.size(), " means and ", s.stddev.size(),
          " standard deviations, expected ", c, " of each (one per channel)");
  for (int ch = 0; ch < c; ++ch) {
    require(s.stddev[ch] > 0 && std::isfinite(s.stddev[ch]), "normalize: stddev[", ch,
            "] = ", s.stddev[ch], ", expected a positive finite value");
    require(std::isfinite(s.mean[ch]), "normalize: mean[", ch, "] = ", s.mean[ch],
            ", expected a finite value");
  }
  const index_t n = d.size(), plane = d.shape.plane();
  for (index_t i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch) {
      float* p = d.images.data() + (i * c + ch) * plane;  // (h, w) of image i, channel ch
      const double m = s.mean[ch], sd = s.stddev[ch];
      for (index_t k = 0; k < plane; ++k) p[k] = float((p[k] - m) / sd);
    }
  std::vector<float> zero(static_cast<std::size_t>(c));
  for (int ch = 0; ch < c; ++ch)
    zero[ch] =
        float(((d.raw_zero.size() == std::size_t(c) ? double(d.raw_zero[ch]) : 0.0) - s.mean[ch]) / s.stddev[ch]);
  d.raw_zero = std::move(zero);
}

// Images [first, first + count) of d, copied, with d's shape and classes. Requires
// 0 <= first <= d.size() and 0 <= count <= d.size() - first; throws basin::error naming `first`
// or `count` otherwise. count == 0 gives an empty dataset.
inline dataset subset(const dataset& d, index_t first, index_t count) {
  const index_t n = d.size();
  require(first >= 0 && first <= n, "subset: first = ", first, " is out of range [0, ", n,
          "] for a dataset of ", n, " images");
  require(count >= 0 && count <= n - first, "subset: count = ", count, " with first = ", first,
          " is out of range [0, ", n - first, "] for a dataset of ", n, " images");
  require(index_t(d.images.size()) == n * d.shape.size(), "subset: dataset holds ",
          d.images.size(), " pixel values, expected ", n, " images x ", d.shape.size());
  dataset out;
  out.shape = d.shape;
  out.classes = d.classes;
  const index_t per = d.shape.size();
  out.images.assign(d.images.begin() + first * per, d.images.begin() + (first + count) * per);
  out.labels.assign(d.labels.begin() + first, d.labels.begin() + first + count);
  out.raw_zero = d.raw_zero;
  return out;
}

// The first min(count, d.size()) images of d: "a subset of count images" as the examples' options
// (--train-subset, --test-subset) mean it, where asking for more images than there are takes them
// all. Requires count >= 0; throws basin::error naming count otherwise.
inline dataset first_images(const dataset& d, index_t count) {
  require(count >= 0, "first_images: count = ", count, ", expected 0 or more images");
  return subset(d, 0, std::min(count, d.size()));
}

// A training split and a test split standardized alike, the usual recipe (torchvision's Normalize
// with the training set's statistics): stats = compute_channel_stats(train), then
// normalize(train, stats) and normalize(test, stats). Requires what those require, and a test split
// with the training split's channel count; throws their basin::error otherwise.
struct normalized_splits {
  dataset train, test;
  channel_stats stats;
};
inline normalized_splits normalize_by_train(dataset train, dataset test) {
  channel_stats stats = compute_channel_stats(train);
  normalize(train, stats);
  normalize(test, stats);
  return {std::move(train), std::move(test), std::move(stats)};
}

}  // namespace basin
