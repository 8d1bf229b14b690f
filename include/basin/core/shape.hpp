// basin/core/shape.hpp — compile-time activation shapes.
//
// A layer's input and output are `dims{c, h, w}` values known at compile time (structural, so
// they serve as template arguments); the batch size is a runtime value. Inside basin
// activations are stored channel-major, (c, n, h, w): every channel is one contiguous row of
// n*h*w values, so a convolution over the whole batch is one GEMM
// (c_out, c_in*k*k) x (c_in*k*k, n*h*w) with no transposes, and batch-norm statistics are row
// reductions. Users hand in PyTorch's (n, c, h, w), and get dx back so (the model converts at
// its ends); the logits stay class-major, (classes, n), as the losses read them.
#pragma once

#include "basin/core/config.hpp"

namespace basin {

struct dims {
  int c = 0, h = 0, w = 0;
  constexpr index_t size() const { return index_t(c) * h * w; }  // per image
  constexpr index_t plane() const { return index_t(h) * w; }
  friend constexpr bool operator==(dims, dims) = default;
};

// The network's first element: `input<1, 28, 28>` for Fashion-MNIST, `input<3, 32, 32>` for CIFAR.
template <int C, int H, int W>
struct input {
  static_assert(C > 0 && H > 0 && W > 0, "input<C,H,W>: every extent must be positive");
  static constexpr dims shape{C, H, W};
};

}  // namespace basin
