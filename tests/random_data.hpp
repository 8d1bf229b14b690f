// tests/random_data.hpp — random images and labels as a dataset, for tests that compare two
// evaluations of the same data (backends, code paths).
#pragma once

#include "basin/core/random.hpp"
#include "basin/data/dataset.hpp"

namespace basin::test {

// n images of shape `shape` with standard normal pixels, labels uniform in [0, classes).
inline dataset random_dataset(dims shape, index_t n, std::uint64_t seed, int classes = 10) {
  dataset d;
  d.shape = shape;
  d.classes = classes;
  const counter_rng rng{seed, seed};
  d.images.resize(static_cast<std::size_t>(n * shape.size()));
  d.labels.resize(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < d.images.size(); ++i) d.images[i] = float(rng.normal(i));
  for (index_t i = 0; i < n; ++i)
    d.labels[static_cast<std::size_t>(i)] = std::int32_t(rng.below(std::uint64_t(i), std::uint32_t(classes)));
  return d;
}

}  // namespace basin::test
