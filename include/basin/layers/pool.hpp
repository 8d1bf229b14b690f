// basin/layers/pool.hpp — max, average and global average pooling (no padding).
#pragma once

#include "basin/layers/activation.hpp"

namespace basin {

// How many windows a pooling layer places along a side of n pixels. floor (PyTorch's default):
// only whole windows, (n - K) / S + 1. ceil (PyTorch's ceil_mode=True, which the reference
// tool's VGG uses): one more window where pixels are left over, clipped at the border, but
// never one that would start outside the input: 28 -> 14 -> 7 -> 4 with 2x2 windows.
enum class pool_rounding { floor, ceil };

namespace detail {
template <int K, int S, pool_rounding R = pool_rounding::floor>
struct pool_shape {
  static_assert(K > 0 && S > 0, "pool<K,S>: kernel and stride must be positive");
  static constexpr int windows(int n) {
    if constexpr (R == pool_rounding::floor) return (n - K) / S + 1;
    const int w = (n - K + S - 1) / S + 1;
    return (w - 1) * S >= n ? w - 1 : w;  // PyTorch's rule for the last window (no padding)
  }
  static constexpr dims output(dims in) { return {in.c, windows(in.h), windows(in.w)}; }
};
}  // namespace detail

// max_pool<K, S = K, R = floor>: y = max over each K x K window (with R = ceil the last window
// of a row or column may be clipped at the border); the gradient goes to the first maximum.
// Under activation patterns (layers/activation.hpp; the Hessian) the window's winner is frozen
// like a relu's on/off state: recorded at the point, then reused, so a near tie that a small step
// would flip does not put a jump into differences of gradients (autograd's H v keeps it too).
template <int K, int S = K, pool_rounding R = pool_rounding::floor>
struct max_pool : detail::pool_shape<K, S, R> {
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static_assert(In.h >= K && In.w >= K, "max_pool: the window is larger than the input");
    static_assert(K * K <= 256, "max_pool: windows of at most 16 x 16 (a winner's index is kept in a byte)");
    static constexpr dims in = In, out = detail::pool_shape<K, S, R>::output(In);
    // Index within the window of the maximum, per output element; written by forward.
    typename B::template vector<int> arg;
    void reserve(index_t n) { arg.resize(std::size_t(n * out.size())); }
    void release() { detail::free_buffer(arg); }
    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      int* a = backend::raw(arg);
      if (auto* store = active_patterns<B>) {
        std::uint8_t* p = store->claim(n * out.size());
        if (store->replaying) {  // the recorded winners
          B::for_each_index(n * out.size(), [=] BASIN_HD(index_t i) {
            const int ox = int(i % out.w), oy = int(i / out.w % out.h), where = p[i];
            const T* src = x + (i / out.plane()) * In.plane();
            y[i] = src[(oy * S + where / K) * In.w + ox * S + where % K];
            a[i] = where;
          });
          return;
        }
        forward_max(x, y, a, n);
        B::for_each_index(n * out.size(), [=] BASIN_HD(index_t i) { p[i] = std::uint8_t(a[i]); });
        return;
      }
      forward_max(x, y, a, n);
    }
    void forward_max(const T* x, T* y, int* a, index_t n) {
      B::for_each_index(n * out.size(), [=] BASIN_HD(index_t i) {
        const int ox = int(i % out.w), oy = int(i / out.w % out.h);
        const T* src = x + (i / out.plane()) * In.plane();  // (c, n) row of the input
        T best = src[(oy * S) * In.w + ox * S];
        int where = 0;
        // Clipped windows (ceil rounding) stop at the border; with floor rounding every window
        // is whole and the loops keep their constant bounds.
        const int ky_end = R == pool_rounding::floor || oy * S + K <= In.h ? K : In.h - oy * S;
        const int kx_end = R == pool_rounding::floor || ox * S + K <= In.w ? K : In.w - ox * S;
        for (int ky = 0; ky < ky_end; ++ky)
          for (int kx = 0; kx < kx_end; ++kx) {
            const T v = src[(oy * S + ky) * In.w + ox * S + kx];
            if (v > best || v != v) best = v, where = ky * K + kx;  // a NaN wins, as in PyTorch
          }
        y[i] = best;
        a[i] = where;
      });
    }
    void backward(const T*, T*, const T*, const T*, const T* dy, T* dx, index_t n) {
      if (!dx) return;
      const int* a = backend::raw(arg);
      // Gather per input pixel over the windows that cover it (overlapping windows allowed).
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
        const int ix = int(i % In.w), iy = int(i / In.w % In.h);
        const index_t row = i / In.plane();
        T acc = 0;
        for (int ky = 0; ky < K; ++ky)
          for (int kx = 0; kx < K; ++kx) {
            const int ty = iy - ky, tx = ix - kx;
            if (ty < 0 || tx < 0 || ty % S || tx % S || ty / S >= out.h || tx / S >= out.w) continue;
            const index_t o = row * out.plane() + (ty / S) * out.w + tx / S;
            if (a[o] == ky * K + kx) acc += dy[o];
          }
        dx[i] = acc;
      });
    }
  };
};

// avg_pool<K, S = K>: y = mean over each K x K window.
template <int K, int S = K>
struct avg_pool : detail::pool_shape<K, S> {
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static_assert(In.h >= K && In.w >= K, "avg_pool: the window is larger than the input");
    static constexpr dims in = In, out = detail::pool_shape<K, S>::output(In);
    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      B::for_each_index(n * out.size(), [=] BASIN_HD(index_t i) {
        const int ox = int(i % out.w), oy = int(i / out.w % out.h);
        const T* src = x + (i / out.plane()) * In.plane();
        T acc = 0;
        for (int ky = 0; ky < K; ++ky)
          for (int kx = 0; kx < K; ++kx) acc += src[(oy * S + ky) * In.w + ox * S + kx];
        y[i] = acc / T(K * K);
      });
    }
    void backward(const T*, T*, const T*, const T*, const T* dy, T* dx, index_t n) {
      if (!dx) return;
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
        const int ix = int(i % In.w), iy = int(i / In.w % In.h);
        const index_t row = i / In.plane();
        T acc = 0;
        for (int ky = 0; ky < K; ++ky)
          for (int kx = 0; kx < K; ++kx) {
            const int ty = iy - ky, tx = ix - kx;
            if (ty < 0 || tx < 0 || ty % S || tx % S || ty / S >= out.h || tx / S >= out.w) continue;
            acc += dy[row * out.plane() + (ty / S) * out.w + tx / S];
          }
        dx[i] = acc / T(K * K);
      });
    }
  };
};

// global_avg_pool: (c, n, h, w) -> (c, n, 1, 1), the mean of each channel's plane.
struct global_avg_pool {
  static constexpr dims output(dims in) { return {in.c, 1, 1}; }
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static constexpr dims in = In, out = {In.c, 1, 1};
    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      B::segmented_reduce(In.c * n, In.plane(), [=] BASIN_HD(index_t r, index_t i) {
        return double(x[r * In.plane() + i]) / double(In.plane());
      }, y);
    }
    void backward(const T*, T*, const T*, const T*, const T* dy, T* dx, index_t n) {
      if (dx)
        B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) { dx[i] = dy[i / In.plane()] / T(In.plane()); });
    }
  };
};

// flatten: (c, n, h, w) -> (c*h*w, n), feature index c*h*w + y*w + x as PyTorch's flatten.
struct flatten {
  static constexpr dims output(dims in) { return {int(in.size()), 1, 1}; }
  template <dims In, class T, class B>
  struct bind : stateless_impl<In> {
    static constexpr dims in = In, out = {int(In.size()), 1, 1};
    static constexpr index_t P = In.plane();
    void forward(const T*, T*, const T* x, T* y, index_t n, mode) {
      // y (c*P, n) <- x (c, n, P)
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
        const index_t f = i / n, img = i % n;
        y[i] = x[((f / P) * n + img) * P + f % P];
      });
    }
    void backward(const T*, T*, const T*, const T*, const T* dy, T* dx, index_t n) {
      if (!dx) return;
      B::for_each_index(n * In.size(), [=] BASIN_HD(index_t i) {
        const index_t p = i % P, img = i / P % n, c = i / (P * n);
        dx[i] = dy[(c * P + p) * n + img];
      });
    }
  };
};

}  // namespace basin
