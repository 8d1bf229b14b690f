// basin/layers/direct_conv.hpp — a K x K convolution of any stride and padding as one block
// kernel on a device (backends with block kernels, see backend/cuda.hpp's for_each_block).
//
// The convs that Winograd does not take (in the CIFAR resnets: the two stride-2 3x3 convs and
// the two 1x1 stride-2 projections) otherwise run as im2col, a GEMM and an epilogue: three
// kernels, with a column matrix of K*K times the (strided) input written to device memory and
// read back, and the output read and written again by the epilogue. Here the column rows of a
// block's pixels are built in shared memory only, and the epilogue is applied in registers.
#pragma once

#include "basin/layers/winograd.hpp"

namespace basin::detail {

// wt (In.c*K*K, out) <- w (out, In.c*K*K): the filters transposed, so that a block copies each
// chunk's weights for its filters 16 bytes at a time. One call per element, neighbouring calls
// store to neighbouring addresses.
template <class T>
struct transpose_filters_fn {
  const T* w;
  T* wt;
  index_t out, k_dim;
  BASIN_HD void operator()(index_t at) const { wt[at] = w[(at % out) * k_dim + at / out]; }
};

// direct_conv_fn<T, In, Out, K, S, P>: each thread block takes `pix` = 64 output pixels
// (consecutive in (image, row, column) order, so whole rows or whole images where the plane
// divides into or by 64) and `outs` filters (32, or 16 where Out.c is not a multiple of 32). For
// each chunk of 8 input channels it copies into shared memory the chunk's column rows for its
// pixels ((8 K^2, 64) values, zeros outside the image: im2col, restricted to the block) and the
// matching transposed filters ((8 K^2, outs), from transpose_filters_fn), asynchronously (cp.async
// on sm_80 and later) while it multiplies the previous chunk. Each thread keeps a register block
// of 4 filters x 4 pixels (8 values read from shared memory for 16 multiply-adds) and at the end
// applies the epilogue of conv_epilogue_fn, (acc + bias) * scale + shift + res then relu, and
// stores its 4 pixels of each filter (16 bytes at a time where the layout allows).
// The steps are the kernel's phases between barriers, so the host runs them too, thread by
// thread (tests/net/test_device_paths.cpp).
template <class T, dims In, dims Out, int K, int S, int P>
struct direct_conv_fn {
  static constexpr int pix = 64, outs = Out.c % 32 == 0 ? 32 : 16, chunk = 8, kper = 4, pper = 4;
  static constexpr int taps = K * K, rows = chunk * taps, chunks = In.c / chunk;
  static constexpr int pgroups = pix / pper, threads = outs / kper * pgroups, min_blocks = 4;
  static_assert(In.c % chunk == 0 && Out.c % 16 == 0, "direct_conv_fn: channels in eights, filters in sixteens");
  static_assert(threads % pix == 0, "direct_conv_fn: every thread gathers for one pixel");
  static_assert(Out.h == (In.h + 2 * P - K) / S + 1 && Out.w == (In.w + 2 * P - K) / S + 1,
                "direct_conv_fn: Out must be the conv's output shape");
  static constexpr index_t col_floats = index_t(rows) * pix, w_floats = index_t(rows) * outs;
  static constexpr index_t buf_floats = col_floats + w_floats;  // one chunk: columns, then filters
  static constexpr std::size_t shared_bytes = sizeof(T) * std::size_t(2 * buf_floats);
  static constexpr index_t plane = Out.plane(), kblocks = Out.c / outs;
  struct state {
    T acc[kper][pper];
  };

  const T* wt;  // (In.c * K * K, Out.c): transpose_filters_fn
  const T* x;
  T* y;
  index_t n;
  const T *bias, *scale, *shift;
  bool act;
  const T* res;
  bool aligned;  // y and res 16-byte aligned: with plane % 4 == 0, a thread's 4 pixels as vectors

  index_t blocks() const { return (n * plane + pix - 1) / pix * kblocks; }
  BASIN_HD static constexpr int steps() { return chunks + 2; }
  // Step 0 zeroes the accumulators, copies chunk 0 and waits for it; step 1 + c starts the copies
  // of chunk c + 1 into the other buffer, multiplies chunk c and waits for those copies (before
  // the barrier); the last step stores.
  BASIN_HD void step(int s, index_t block, int thread, unsigned char* shared, state& st) const {
    T* sh = reinterpret_cast<T*>(shared);
    const index_t pb = block / kblocks, kb = block % kblocks;
    if (s == 0) {
      BASIN_UNROLL
      for (int k = 0; k < kper; ++k)
        BASIN_UNROLL
        for (int q = 0; q < pper; ++q) st.acc[k][q] = T(0);
      fetch(pb, kb, 0, thread, sh);
      winograd::wait_copies();
    } else if (s <= chunks) {
      const int c = s - 1;
      if (c + 1 < chunks) fetch(pb, kb, c + 1, thread, sh + ((c + 1) % 2) * buf_floats);
      multiply(thread, sh + (c % 2) * buf_floats, st);
      winograd::wait_copies();
    } else {
      store(pb, kb, thread, st);
    }
  }

 private:
  // Chunk c into buf: thread t gathers column rows t / pix, t / pix + threads / pix, ... of pixel
  // t % pix (neighbouring threads: neighbouring pixels); then the filters, 16 bytes a copy.
  BASIN_HD void fetch(index_t pb, index_t kb, int c, int thread, T* buf) const {
    const int p = thread % pix;
    const index_t g = pb * pix + p;
    const bool inside = g < n * plane;
    const index_t img = inside ? g / plane : 0;
    const int q = int(g % plane), oy = q / Out.w, ox = q % Out.w;
    const T* src = x + (index_t(c) * chunk * n + img) * In.plane();
    BASIN_NO_UNROLL
    for (int r = thread / pix; r < rows; r += threads / pix) {
      const int cl = r / taps, ky = r % taps / K, kx = r % K;
      const int iy = oy * S - P + ky, ix = ox * S - P + kx;
      const bool valid = inside && iy >= 0 && iy < In.h && ix >= 0 && ix < In.w;
      winograd::copy_async<1>(buf + r * pix + p, valid ? src + cl * n * In.plane() + iy * In.w + ix : x, valid);
    }
    constexpr int per = int(16 / sizeof(T)), vecs = outs / per;
    static_assert(outs % per == 0);
    T* ws = buf + col_floats;
    BASIN_NO_UNROLL
    for (int i = thread; i < rows * vecs; i += threads) {
      const int r = i / vecs, v = i % vecs;
      const T* from = wt + (index_t(c) * rows + r) * Out.c + kb * outs + v * per;
      winograd::copy_async<per>(ws + r * outs + v * per, from, true);
    }
    winograd::commit_copies();
  }
  // The thread's filters kper * kg.. and pixels pper * pg.. (neighbouring threads: neighbouring
  // pixels).
  BASIN_HD static void multiply(int thread, const T* buf, state& st) {
    const int kg = thread / pgroups, pg = thread % pgroups;
    const T* ws = buf + col_floats;
    BASIN_UNROLL
    for (int r = 0; r < rows; ++r) {
      T a[kper], b[pper];
      winograd::load_n<kper>(ws + r * outs + kper * kg, a);
      winograd::load_n<pper>(buf + r * pix + pper * pg, b);
      BASIN_UNROLL
      for (int k = 0; k < kper; ++k)
        BASIN_UNROLL
        for (int e = 0; e < pper; ++e) st.acc[k][e] += a[k] * b[e];
    }
  }
  BASIN_HD void store(index_t pb, index_t kb, int thread, const state& st) const {
    const int kg = thread / pgroups, pg = thread % pgroups;
    const index_t g0 = pb * pix + pper * pg, total = n * plane;
    if (g0 >= total) return;
    BASIN_UNROLL
    for (int k = 0; k < kper; ++k) {
      const index_t o = kb * outs + kper * kg + k;
      const T b = bias ? bias[o] : T(0), s = scale ? scale[o] : T(1), t = shift ? shift[o] : T(0);
      if constexpr (plane % pper == 0) {  // the 4 pixels lie side by side in one image
        const index_t at = (o * n + g0 / plane) * plane + g0 % plane;
        T v[pper], r[pper] = {};
        if (res && aligned) {
          winograd::load_n<pper>(res + at, r);
        } else if (res) {
          BASIN_UNROLL
          for (int e = 0; e < pper; ++e) r[e] = res[at + e];
        }
        BASIN_UNROLL
        for (int e = 0; e < pper; ++e) v[e] = epilogue_value(st.acc[k][e], b, s, t, r[e], act);
        if (aligned) {
          winograd::store_n<pper>(y + at, v);
        } else {
          BASIN_UNROLL
          for (int e = 0; e < pper; ++e) y[at + e] = v[e];
        }
      } else {
        BASIN_UNROLL
        for (int e = 0; e < pper; ++e) {
          const index_t g = g0 + e;
          if (g >= total) break;
          const index_t at = (o * n + g / plane) * plane + g % plane;
          y[at] = epilogue_value(st.acc[k][e], b, s, t, res ? res[at] : T(0), act);
        }
      }
    }
  }
};

}  // namespace basin::detail
