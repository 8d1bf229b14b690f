// basin/layers/conv.hpp — 2-D convolution as im2col + GEMM over the whole (chunked) batch.
//
// With activations stored (c, n, h, w), one GEMM computes a chunk of images at once:
//   y (c_out, nb*ho*wo) = W (c_out, c_in*k*k) x col (c_in*k*k, nb*ho*wo)
// The batch is cut into chunks whose column buffer stays near the last-level cache.
// A 1x1, stride-1, unpadded convolution skips im2col: x itself is the column matrix.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "basin/backend/concepts.hpp"
#include "basin/layers/common.hpp"
#include "basin/layers/direct_conv.hpp"
#include "basin/layers/winograd.hpp"
#include "basin/weights/packed_tensor.hpp"

namespace basin {

namespace detail {

// col (ci*k*k, nb*ho*wo) <- x (ci, n, h, w) for images [n0, n0+nb); zero outside the image.
// One call fills one (row, image) plane of the column matrix: ho runs of wo values, so the index
// arithmetic is paid per plane and the inner loops have compile-time bounds.
template <class T, dims In, dims Out, int K, int S, int P>
struct im2col_fn {
  const T* x;
  T* col;
  index_t n, n0, nb;
  BASIN_HD void operator()(index_t at) const {
    constexpr index_t plane = Out.plane();
    const index_t img = at % nb, row = at / nb;
    const int kx = int(row % K), ky = int(row / K % K), ci = int(row / (K * K));
    T* dst = col + row * (nb * plane) + img * plane;
    const T* src = x + (ci * n + n0 + img) * In.plane();
    // Output columns whose input column ox*S - P + kx lies inside the image: [lo, hi).
    const int lo = kx >= P ? 0 : std::min(Out.w, (P - kx + S - 1) / S);  // K > In.w + P + S: past the row
    const int hi = In.w - 1 + P - kx < 0 ? 0 : std::min(Out.w, (In.w - 1 + P - kx) / S + 1);
    for (int oy = 0; oy < Out.h; ++oy, dst += Out.w) {
      const int iy = oy * S - P + ky;
      if (iy < 0 || iy >= In.h) {
        for (int ox = 0; ox < Out.w; ++ox) dst[ox] = T(0);
        continue;
      }
      const T* s0 = src + iy * In.w + (kx - P);
      for (int ox = 0; ox < lo; ++ox) dst[ox] = T(0);
      if constexpr (S == 1) {
        for (int ox = lo; ox < hi; ++ox) dst[ox] = s0[ox];
      } else {
        for (int ox = lo; ox < hi; ++ox) dst[ox] = s0[ox * S];
      }
      for (int ox = std::max(lo, hi); ox < Out.w; ++ox) dst[ox] = T(0);
    }
  }
  // The same, one element (a device thread each).
  BASIN_HD void element(index_t at, index_t p) const {
    constexpr index_t plane = Out.plane();
    const index_t img = at % nb, row = at / nb;
    const int kx = int(row % K), ky = int(row / K % K), ci = int(row / (K * K));
    const int oy = int(p / Out.w), ox = int(p % Out.w);
    const int iy = oy * S - P + ky, ix = ox * S - P + kx;
    col[row * (nb * plane) + img * plane + p] =
        iy >= 0 && iy < In.h && ix >= 0 && ix < In.w ? x[(ci * n + n0 + img) * In.plane() + iy * In.w + ix] : T(0);
  }
};

// dx (ci, n, h, w) for images [n0, n0+nb) <- the sum of the column entries each pixel fed
// (a gather, so every output is written by one thread: deterministic, no atomics). One call
// writes one input line (ci, image, iy).
template <class T, dims In, dims Out, int K, int S, int P>
struct col2im_fn {
  const T* col;
  T* dx;
  index_t n, n0, nb;
  BASIN_HD void operator()(index_t line) const {
    constexpr index_t plane = Out.plane();
    const index_t cols = nb * plane;
    const int iy = int(line % In.h);
    const index_t t = line / In.h, img = t % nb;
    const int ci = int(t / nb);
    T* dst = dx + ((ci * n + n0 + img) * In.h + iy) * In.w;
    for (int ix = 0; ix < In.w; ++ix) dst[ix] = T(0);
    for (int ky = 0; ky < K; ++ky) {
      const int ty = iy + P - ky;
      if (ty < 0 || ty % S != 0 || ty / S >= Out.h) continue;
      for (int kx = 0; kx < K; ++kx) {
        const T* src = col + index_t((ci * K + ky) * K + kx) * cols + img * plane + index_t(ty / S) * Out.w;
        if constexpr (S == 1) {
          // dst[ix] += src[ix + P - kx] where 0 <= ix + P - kx < Out.w
          const int lo = std::max(0, kx - P), hi = std::min(In.w, Out.w + kx - P);
          const T* s0 = src + (P - kx);
          for (int ix = lo; ix < hi; ++ix) dst[ix] += s0[ix];
        } else {
          for (int ix = 0; ix < In.w; ++ix) {
            const int tx = ix + P - kx;
            if (tx >= 0 && tx % S == 0 && tx / S < Out.w) dst[ix] += src[tx / S];
          }
        }
      }
    }
  }
  // The same, one input pixel (a device thread each): the same terms in the same order.
  BASIN_HD void element(index_t line, index_t p) const {
    constexpr index_t plane = Out.plane();
    const index_t cols = nb * plane;
    const int iy = int(line % In.h), ix = int(p);
    const index_t t = line / In.h, img = t % nb;
    const int ci = int(t / nb);
    T acc = T(0);
    for (int ky = 0; ky < K; ++ky) {
      const int ty = iy + P - ky;
      if (ty < 0 || ty % S != 0 || ty / S >= Out.h) continue;
      for (int kx = 0; kx < K; ++kx) {
        const int tx = ix + P - kx;
        if (tx < 0 || tx % S != 0 || tx / S >= Out.w) continue;
        acc += col[index_t((ci * K + ky) * K + kx) * cols + img * plane + index_t(ty / S) * Out.w + tx / S];
      }
    }
    dx[((ci * n + n0 + img) * In.h + iy) * In.w + ix] = acc;
  }
};

// One (channel, image) plane of a conv task's output rows: v = act((v + bias[c]) * scale[c] +
// shift[c] + res), each of bias, scale, shift and res optional (null); res (a residual block's
// shortcut) has the layout of y.
template <class T>
struct conv_epilogue_fn {
  T* y;  // the task's first image in row 0
  index_t n, nb, plane;
  const T *bias, *scale, *shift;
  bool act;
  const T* res = nullptr;  // at the task's first image, as y
  BASIN_HD void operator()(index_t line) const {
    const index_t c = line / nb, img = line % nb;
    T* r = y + c * n * plane + img * plane;
    const T* a = res ? res + c * n * plane + img * plane : nullptr;
    const T b = bias ? bias[c] : T(0), s = scale ? scale[c] : T(1), t = shift ? shift[c] : T(0);
    for (index_t p = 0; p < plane; ++p) r[p] = epilogue_value(r[p], b, s, t, a ? a[p] : T(0), act);
  }
  BASIN_HD void element(index_t line, index_t p) const {
    const index_t c = line / nb, img = line % nb, at = c * n * plane + img * plane + p;
    y[at] = epilogue_value(y[at], bias ? bias[c] : T(0), scale ? scale[c] : T(1), shift ? shift[c] : T(0),
                           res ? res[at] : T(0), act);
  }
};
}  // namespace detail

// conv<Out, K, Stride, Pad, Bias, W>: Out filters of size K x K. Defaults: stride 1, "same"
// padding (K-1)/2, no bias (a conv is usually followed by batch_norm), real weights.
// Weight (out, in, k, k) as PyTorch's Conv2d; initialized Kaiming-normal, fan-in, gain sqrt(2)
// as the reference loss-landscape code does; a bias, when present, as PyTorch's default.
template <int Out, int K, int Stride = 1, int Pad = (K - 1) / 2, bool Bias = false,
          class W = weights::real>
struct conv {
  static_assert(Out > 0 && K > 0 && Stride > 0 && Pad >= 0, "conv<Out,K,Stride,Pad>: bad argument");
  using weight_type = W;
  static constexpr dims output(dims in) {
    return {Out, (in.h + 2 * Pad - K) / Stride + 1, (in.w + 2 * Pad - K) / Stride + 1};
  }

  template <dims In, class T, class B>
  struct bind {
    static_assert(In.h + 2 * Pad >= K && In.w + 2 * Pad >= K,
                  "conv: the kernel is larger than the padded input (see In in this message)");
    static constexpr dims in = In, out = output(In);
    static constexpr index_t k_dim = index_t(In.c) * K * K;  // GEMM inner size
    static constexpr bool direct = K == 1 && Stride == 1 && Pad == 0;
    static constexpr bool is_conv = true;
    // 3x3, stride 1, padding 1 (and filters in fours): forward by Winograd F(4x4, 3x3). On the
    // host each task transforms, multiplies (register blocks) and transforms back a cache-sized
    // block of tiles; on a device one chunk of the batch goes through three kernels and one
    // strided-batched GEMM (36 products U_xi V_xi), with about a quarter of im2col's traffic.
    static constexpr bool host_memory = requires { B::host_memory; };
    static constexpr bool winograd_shape = K == 3 && Stride == 1 && Pad == 1 &&
                                           Out % detail::winograd::out_block == 0;
    bool use_winograd = true;  // false: im2col + GEMM also there (tests compare the two)
    // On the host, both gradients of such a conv (input channels in fours) by the same Winograd:
    // dx is the convolution of dy with the filters transposed (in <-> out) and rotated by 180
    // degrees, a 3x3 stride-1 conv from out to In; dW sums the products of transformed dy and x
    // tiles (winograd_weight_gradient). use_winograd false: col2im of W^T dy and dy col^T.
    static constexpr bool winograd_backward = winograd_shape && host_memory && detail::winograd::host_vectors &&
                                              In.c % detail::winograd::out_block == 0;
    // On backends with block kernels (a GPU): the whole Winograd convolution in one kernel
    // (detail::winograd::fused_fn; channels in eights, filters in sixteens), or (false) the
    // transforms and a strided-batched GEMM as separate kernels through device memory.
    static constexpr bool fused_shape = winograd_shape && requires { B::block_kernels; } && In.c % 8 == 0 &&
                                        Out % 16 == 0;
    bool use_fused = true;
    // On backends with block kernels, the input gradient by the one kernel too, where the
    // transposed conv's channels allow (Out in eights, In.c in sixteens; use_fused false: col2im).
    static constexpr bool fused_backward = winograd_shape && requires { B::block_kernels; } && Out % 8 == 0 &&
                                           In.c % 16 == 0;
    // The one kernel's register block (detail::winograd::fused_variants; 0 is the default). One
    // that does not apply to this conv's filters or does not get its shared memory on this
    // device falls back to 0.
    int fused_variant = 0;
    // Tuning (model::tune_fused_variants, as PyTorch's cudnn.benchmark): when set, the next
    // forward through the one kernel times every variant that applies on its own input and
    // batch (one warm-up call, then the fastest of three calls, each waited for), keeps the
    // fastest in fused_variant and clears the flag. tuned_ms: each variant's time per call (a
    // negative value where the variant does not apply); empty until tuned.
    bool tune_fused = false;
    std::vector<double> tuned_ms;
    // On backends with block kernels: the other convs (other sizes or strides; not 1x1 stride 1,
    // which is one GEMM on x itself) with channels in eights and filters in sixteens, such as the
    // CIFAR resnets' stride-2 convs and projections, as one kernel (detail::direct_conv_fn:
    // im2col in shared memory, the epilogue in registers), or (false) im2col + GEMM + epilogue.
    static constexpr bool direct_kernel_shape = requires { B::block_kernels; } && !winograd_shape && !direct &&
                                                In.c % 8 == 0 && Out % 16 == 0;
    bool use_direct_kernel = true;

    // Quantized weights (W binary or integer<b>): each forward rounds the weights onto the
    // layer's grid into packed form and runs on those values; backward uses them too and hands
    // the gradient with respect to them to the trainable values (straight through).
    using weight_type = W;
    using store_type = detail::weight_store<W, T, B>;
    static constexpr bool quantized = store_type::quantized;
    static constexpr bool binary = std::is_same_v<W, weights::binary>;
    store_type store;
    // Binary weights: im2col, then sign selection (+x or -x by each weight's bit, no
    // multiplications) instead of the float kernels on the +-s values.
    bool use_sign_select = false;
    void set_weight_grid(const quant::grid& g)
      requires quantized
    {
      store.packed.set_grid(g, "conv");
    }

    static constexpr auto params() {
      if constexpr (Bias)
        return packed(std::array<tensor_desc, 2>{
            tensor_desc{param_kind::weight, 4, {Out, In.c, K, K}},
            tensor_desc{param_kind::bias, 1, {Out, 1, 1, 1}}});
      else
        return packed(std::array<tensor_desc, 1>{tensor_desc{param_kind::weight, 4, {Out, In.c, K, K}}});
    }
    static constexpr auto state() { return std::array<tensor_desc, 0>{}; }
    static constexpr index_t n_params = total_size(params()), n_state = 0;

    static void names(const std::string& prefix, std::vector<std::string>& p, std::vector<std::string>&) {
      p.push_back(join(prefix, "weight"));
      if constexpr (Bias) p.push_back(join(prefix, "bias"));
    }

    // Work is split into tasks of `group` images; each worker owns a column buffer
    // (k_dim, group*plane) small enough to stay in its cache. The weight gradient is summed from
    // weight_parts(n) partial sums over fixed ranges of the groups: at least min_parts of them
    // (or one per group), so that up to min_parts threads the result's bits do not depend on the
    // thread count.
    static constexpr index_t min_parts = 16;
    typename B::template vector<T> col;      // (workers, k_dim, group*plane)
    typename B::template vector<T> partial;  // (weight_parts(n), out, k_dim); Winograd's: (36, out, in)
    index_t weight_parts(index_t n) const {
      return std::min<index_t>(std::max<index_t>(workers, min_parts), (n + group - 1) / group);
    }
    index_t group = 1;
    int workers = 1;

    // Winograd: transformed filters (36, out, in); per worker transformed input and products.
    typename B::template vector<T> wu, wv, wm;
    index_t wtiles = 0;  // tile columns per task
    typename B::template vector<T> wt;  // the direct kernel's transposed filters (k_dim, out)

    void reserve(index_t n) {
      group = std::clamp<index_t>(B::workspace_budget / (k_dim * out.plane()), 1, n);
      workers = B::concurrency();
      partial.resize(std::size_t(weight_parts(n) * Out * k_dim));
      if constexpr (winograd_shape) {
        // A task transforms, multiplies and transforms back `wtiles` tiles whose V and M stay in
        // the core's cache (a few hundred KiB at most): with the host's vector code one task of
        // detail::winograd::group_grid (tile rows of 8 images), else a multiple of the products'
        // register block. On a device: one chunk of at most 2^24 floats of V + M (64 MiB), or
        // the whole batch.
        if constexpr (host_memory && detail::winograd::host_vectors) {
          wtiles = detail::winograd::group_grid<In>::blk;
        } else {
          constexpr index_t budget = host_memory ? 48 * 1024 : index_t(1) << 24;  // floats of V + M
          constexpr index_t tb = detail::winograd::tile_block;
          wtiles = std::max<index_t>(budget / (detail::winograd::positions * (In.c + Out)) / tb, 1) * tb;
          if constexpr (!host_memory)
            wtiles = std::min(wtiles, (std::max<index_t>(n, 1) * detail::winograd::input_fn<T, In>::per_image + tb - 1) / tb * tb);
        }
        wu.resize(std::size_t(detail::winograd::positions * Out * In.c));
        // V and M of the separate kernels; with the one kernel, made at their first use instead.
        if constexpr (!fused_shape) separate_workspace();
      }
      if constexpr (direct_kernel_shape) wt.resize(std::size_t(Out * k_dim));
    }

    // Frees the work buffers that grow with the batch (on a device up to 2^24 floats of V + M);
    // the transformed filters stay. reserve sizes them again.
    void release() {
      for (auto* v : {&col, &partial, &wv, &wm}) detail::free_buffer(*v);
    }

    // Sizes V and M (each worker's) for tasks of wtiles tiles; allocates only when they grow.
    void separate_workspace() {
      namespace wg = detail::winograd;
      const auto v = std::size_t(workers * wg::positions * (In.c * wtiles + wg::plane_pad));
      if (wv.size() < v) wv.resize(v);
      const auto m = std::size_t(workers * wg::positions * (Out * wtiles + wg::plane_pad));
      if (wm.size() < m) wm.resize(m);
    }

    static void init(T* w, T*, std::uint64_t seed, std::uint64_t stream_id) {
      const counter_rng rng{seed, stream_id};
      const double std_w = std::sqrt(2.0 / double(k_dim));
      B::for_each_index(index_t(Out) * k_dim, [=] BASIN_HD(index_t i) { w[i] = T(std_w * rng.normal(i)); });
      if constexpr (Bias) {
        const double bound = 1.0 / std::sqrt(double(k_dim));
        const index_t off = index_t(Out) * k_dim;
        B::for_each_index(Out, [=] BASIN_HD(index_t i) {
          w[off + i] = T(bound * (2 * rng.uniform(std::uint64_t(off + i)) - 1));
        });
      }
    }

    void forward(const T* w, T*, const T* x, T* y, index_t n, mode) {
      forward_affine(w, x, y, n, nullptr, nullptr, false);
    }

    // y = act(conv(x; w) * scale[c] + shift[c] + res) (scale, shift null: 1 and 0; res null: 0;
    // act: relu): the inference path folds an eval-mode batch_norm, a residual block's sum (res:
    // its shortcut, laid out as y) and a relu into the conv's epilogue, applied to each task's
    // rows while they are still in cache.
    void forward_affine(const T* w, const T* x, T* y, index_t n, const T* scale, const T* shift, bool act,
                        const T* res = nullptr) {
      constexpr index_t plane = out.plane();
      w = store.use(w, index_t(Out) * k_dim, n_params);
      const T* bias = Bias ? w + index_t(Out) * k_dim : nullptr;
      if constexpr (binary) {
        if (use_sign_select && store.all_finite(w, index_t(Out) * k_dim))
          return sign_select_forward(x, y, n, bias, scale, shift, act, res);
      }
      if constexpr (winograd_shape) {
        if (use_winograd) return winograd_forward(w, x, y, n, bias, scale, shift, act, res);
      }
      if constexpr (direct_kernel_shape) {
        if (use_direct_kernel && direct_kernel_forward(w, x, y, n, bias, scale, shift, act, res)) return;
      }
      const bool epilogue = bias || scale || shift || act || res;
      need_columns();
      B::for_each_task((n + group - 1) / group, [&](index_t task, int worker) {
        const index_t n0 = task * group, nb = std::min(group, n - n0);
        index_t ldc;
        const T* c = columns(x, n, n0, nb, worker, ldc);
        // (out, k_dim) x (k_dim, nb*plane) -> y[:, n0*plane ...] with row stride n*plane
        B::gemm(backend::trans::no, backend::trans::no, Out, nb * plane, k_dim, T(1), w, k_dim, c, ldc, T(0),
                y + n0 * plane, n * plane);
        if (epilogue)
          B::for_each_line(index_t(Out) * nb, plane,
                           detail::conv_epilogue_fn<T>{y + n0 * plane, n, nb, plane, bias, scale, shift, act,
                                                       res ? res + n0 * plane : nullptr});
      });
    }

    void backward(const T* w, T* gw, const T* x, const T*, const T* dy, T* dx, index_t n) {
      w = store.last(w);
      if (dx) data_gradient(w, dy, dx, n);
      weight_gradient(x, dy, gw, n);
      bias_gradient(gw, dy, n);
    }

    // dx = dL/dx from dy alone: the transposed convolution of dy with w (the weights as given,
    // already on their grid for quantized layers). transposed_conv's forward pass.
    void data_gradient(const T* w, const T* dy, T* dx, index_t n) {
      constexpr index_t plane = out.plane();
      if constexpr (winograd_backward) {
        if (use_winograd) return winograd_data_gradient(w, dy, dx, n);  // by Winograd, like forward
      }
      if constexpr (fused_backward) {
        if (use_winograd && use_fused && fused_data_gradient(w, dy, dx, n)) return;
      }
      need_columns();
      B::for_each_task((n + group - 1) / group, [&](index_t task, int worker) {
        const index_t n0 = task * group, nb = std::min(group, n - n0);
        if constexpr (direct) {
          // dx (in.c, nb*plane) = W^T (in.c, out) x dy (out, nb*plane)
          B::gemm(backend::trans::yes, backend::trans::no, k_dim, nb * plane, Out, T(1), w, k_dim, dy + n0 * plane,
                  n * plane, T(0), dx + n0 * plane, n * plane);
        } else {
          T* cb = backend::raw(col) + worker * k_dim * group * plane;
          // dcol (k_dim, nb*plane) = W^T (k_dim, out) x dy (out, nb*plane)
          B::gemm(backend::trans::yes, backend::trans::no, k_dim, nb * plane, Out, T(1), w, k_dim, dy + n0 * plane,
                  n * plane, T(0), cb, nb * plane);
          B::for_each_line(index_t(In.c) * nb * In.h, In.w,
                           detail::col2im_fn<T, In, out, K, Stride, Pad>{cb, dx, n, n0, nb});
        }
      });
    }

    // gw = dL/dw (the weights only; bias_gradient adds the bias part) from x and dy.
    void weight_gradient(const T* x, const T* dy, T* gw, index_t n) {
      constexpr index_t plane = out.plane();
      constexpr index_t wsize = index_t(Out) * k_dim;
      if constexpr (winograd_backward) {
        if (use_winograd) return winograd_weight_gradient(dy, x, gw, n);
      }
      // The weight gradient in `parts` partial sums, part p adding the groups of images of its own
      // contiguous range in order, whichever worker runs it: the order of every sum, and so the
      // result's bits, does not depend on how the threads share the batch, nor (up to min_parts
      // threads) on how many there are.
      const index_t groups = (n + group - 1) / group, parts = weight_parts(n);
      if (partial.size() < std::size_t(parts * wsize)) partial.resize(std::size_t(parts * wsize));
      T* part = backend::raw(partial);
      need_columns();
      B::for_each_task(parts, [&](index_t p, int worker) {
        for (index_t task = p * groups / parts; task < (p + 1) * groups / parts; ++task) {
          const index_t n0 = task * group, nb = std::min(group, n - n0);
          index_t ldc;
          const T* c = columns(x, n, n0, nb, worker, ldc);
          // partial gw (out, k_dim) += dy (out, nb*plane) x col^T (nb*plane, k_dim); the part's
          // first group sets it (every part has one: parts <= groups)
          const T beta = task == p * groups / parts ? T(0) : T(1);
          B::gemm(backend::trans::no, backend::trans::yes, Out, k_dim, nb * plane, T(1), dy + n0 * plane, n * plane, c,
                  ldc, beta, part + p * wsize, k_dim);
        }
      });
      const index_t nw = parts;
      B::for_each_index(wsize, [=] BASIN_HD(index_t i) {
        T acc = 0;
        for (index_t k = 0; k < nw; ++k) acc += part[k * wsize + i];
        gw[i] = acc;
      });
    }

    // (Public: nvcc refuses device lambdas in private member functions.)
    void bias_gradient(T* gw, const T* dy, index_t n) {
      if constexpr (Bias) {
        T* gb = gw + index_t(Out) * k_dim;
        const index_t len = n * out.plane();
        B::segmented_reduce(Out, len, [=] BASIN_HD(index_t c, index_t i) { return double(dy[c * len + i]); }, gb);
      }
    }

   private:
    void sign_select_forward(const T* x, T* y, index_t n, const T* bias, const T* scale, const T* shift, bool act,
                             const T* res) {
      constexpr index_t plane = out.plane();
      using ss = weights::sign_select_fn<T>;
      const T s = T(store.packed.grid().hi);
      const bool epilogue = bias || scale || shift || act || res;
      need_columns();
      B::for_each_task((n + group - 1) / group, [&](index_t task, int worker) {
        const index_t n0 = task * group, nb = std::min(group, n - n0);
        index_t ldc;
        const T* c = columns(x, n, n0, nb, worker, ldc);
        const index_t cols = nb * plane;
        B::for_each_line(Out * ((cols + ss::block - 1) / ss::block), ss::block,
                         ss{store.packed.words(), c, y + n0 * plane, k_dim, cols, ldc, n * plane, s});
        if (epilogue)
          B::for_each_line(index_t(Out) * nb, plane,
                           detail::conv_epilogue_fn<T>{y + n0 * plane, n, nb, plane, bias, scale, shift, act,
                                                       res ? res + n0 * plane : nullptr});
      });
    }

    void winograd_forward(const T* w, const T* x, T* y, index_t n, const T* bias, const T* scale, const T* shift,
                          bool act, const T* res) {
      namespace wg = detail::winograd;
      constexpr index_t per_image = wg::input_fn<T, In>::per_image;
      T* u = backend::raw(wu);
      if constexpr (fused_shape) {
        // The one kernel where the device gives a block its shared memory (else the separate ones).
        constexpr auto variants = std::make_index_sequence<wg::n_fused_variants>{};
        if (use_fused && tune_fused && res != y) tune(variants, w, x, y, n, bias, scale, shift, act, res);
        if (use_fused && fused_forward(variants, w, x, y, n, bias, scale, shift, act, res)) return;
        separate_workspace();  // allocates at the first call without the one kernel only
      }
      B::for_each_index(index_t(Out) * In.c, wg::filter_fn<T>{w, u, Out, In.c});
      if constexpr (wg::host_vectors && host_memory) {
        // The host's vectorized transforms where the compiler has them: lanes are eight images
        // (wg::group_grid), a task is group_grid::rows tile rows of one group.
        constexpr index_t blk = wg::group_grid<In>::blk;
        B::for_each_task(wg::group_grid<In>::tasks(n), [&](index_t task, int worker) {
          T* v = backend::raw(wv) + worker * wg::positions * (In.c * blk + wg::plane_pad);
          T* mm = backend::raw(wm) + worker * wg::positions * (Out * blk + wg::plane_pad);
          wg::input_group<T, In>(x, v, n, task);
          wg::product_host<T>(u, v, mm, Out, In.c, blk);
          wg::output_group<T, out>(mm, y, n, task, bias, scale, shift, act, res);
        });
        return;
      }
      const index_t total = n * per_image, blk = wtiles;
      B::for_each_task((total + blk - 1) / blk, [&](index_t task, int worker) {
        const index_t t0 = task * blk, count = std::min(blk, total - t0);
        T* v = backend::raw(wv) + worker * wg::positions * (In.c * blk + wg::plane_pad);
        T* mm = backend::raw(wm) + worker * wg::positions * (Out * blk + wg::plane_pad);
        B::for_each_index(In.c * blk, wg::input_fn<T, In>{x, v, n, t0, count, blk});
        if constexpr (host_memory) {
          B::for_each_index(wg::positions * (Out / wg::out_block) * (blk / wg::tile_block),
                            wg::product_fn<T>{u, v, mm, Out, In.c, blk});
        } else {  // M_xi (out, blk) = U_xi (out, in) V_xi (in, blk), xi = 0..35
          B::gemm_batched(backend::trans::no, backend::trans::no, Out, blk, In.c, T(1), u, In.c, index_t(Out) * In.c, v,
                          blk, In.c * blk + wg::plane_pad, T(0), mm, blk, Out * blk + wg::plane_pad, wg::positions);
        }
        B::for_each_index(Out * count, wg::output_fn<T, out>{mm, y, n, t0, count, blk, bias, scale, shift, act, res});
      });
    }

    // dx (In) = the Winograd forward of dy (out) with the transposed, rotated filters (see
    // winograd_backward), through the forward's buffers: U in wu (the forward's filters are no
    // longer needed), dy's V in a worker's M buffer and dx's M in its V buffer.
    void winograd_data_gradient(const T* w, const T* dy, T* dx, index_t n) {
      if constexpr (winograd_backward) {
        namespace wg = detail::winograd;
        constexpr index_t blk = wg::group_grid<In>::blk;
        static_assert(wg::group_grid<out>::blk == blk);
        T* u = backend::raw(wu);
        B::for_each_index(index_t(Out) * In.c, wg::filter_fn<T>{w, u, In.c, Out, false, true});
        B::for_each_task(wg::group_grid<out>::tasks(n), [&](index_t task, int worker) {
          T* v = backend::raw(wm) + worker * wg::positions * (Out * blk + wg::plane_pad);
          T* mm = backend::raw(wv) + worker * wg::positions * (In.c * blk + wg::plane_pad);
          wg::input_group<T, out>(dy, v, n, task);
          wg::product_host<T>(u, v, mm, In.c, Out, blk);
          wg::output_group<T, In>(mm, dx, n, task, nullptr, nullptr, nullptr, false, nullptr);
        });
      }
    }

    // dW = G^T [sum over tiles (A dy A^T) * (B^T x B)] G (the forward's bilinear algorithm
    // transposed): a quarter of im2col's multiplications. The batch's tasks (tile rows of a group
    // of 8 images, as the forward's) go in chunks of at least 256 tile columns (more while their
    // transforms fit 2 MiB; a multiple of 4 tasks): the workers transform a chunk's x
    // (input_group) and dy (grad_group) into buffers every layer shares (weight_gradient_scratch:
    // the largest layer's size, not the sum), then each of the 36 positions' products D_xi V_xi^T
    // over the whole chunk is added to the sum (36, out, in) by one worker; last, G^T . G per
    // filter. Every sum runs in an order fixed by the shapes and the batch size, so the bits do
    // not depend on the thread count. (Transforming the next chunk into a second buffer in the
    // same parallel loop as this chunk's products, one barrier per chunk instead of two, measured
    // slower.)
    void winograd_weight_gradient(const T* dy, const T* x, T* gw, index_t n) {
      if constexpr (winograd_backward) {
        namespace wg = detail::winograd;
        constexpr index_t blk = wg::group_grid<In>::blk, psize = index_t(wg::positions) * Out * In.c;
        constexpr index_t vplanes = wg::positions * (In.c * blk + wg::plane_pad);
        constexpr index_t dplanes = wg::positions * (Out * blk + wg::plane_pad);
        constexpr index_t cols =
            std::max<index_t>(256, (index_t(2) << 20) / index_t(wg::positions * (In.c + Out) * sizeof(T)));
        constexpr index_t chunk = (cols + 4 * blk - 1) / (4 * blk) * 4;
        std::vector<T>& scratch = wg::weight_gradient_scratch<T>();
        const auto need = std::size_t(chunk * (vplanes + dplanes));
        if (scratch.size() < need) scratch.resize(need);
        if (partial.size() < std::size_t(psize)) partial.resize(std::size_t(psize));
        T *v = scratch.data(), *d = v + chunk * vplanes, *acc = backend::raw(partial);
        B::fill(psize, T(0), acc);
        const index_t tasks = wg::group_grid<In>::tasks(n);
        for (index_t t0 = 0; t0 < tasks; t0 += chunk) {
          const index_t count = std::min(chunk, tasks - t0);
          B::for_each_task(count, [&](index_t t, int) {
            wg::input_group<T, In>(x, v + t * vplanes, n, t0 + t);
            wg::grad_group<T, out>(dy, d + t * dplanes, n, t0 + t);
          });
          B::for_each_task(wg::positions, [&](index_t xi, int) {
            wg::weight_product<T>(d, v, acc, Out, In.c, blk, count, int(xi));
          });
        }
        B::for_each_index(index_t(Out) * In.c, [=](index_t at) {
          T mm[wg::positions], u[wg::alpha * 3];
          for (int xi = 0; xi < wg::positions; ++xi) mm[xi] = acc[xi * index_t(Out) * In.c + at];
          for (int a = 0; a < wg::alpha; ++a) wg::filter_grad_1d<T>(mm + a * wg::alpha, 1, u + 3 * a, 1);  // rows
          for (int l = 0; l < 3; ++l) wg::filter_grad_1d<T>(u + l, 3, gw + at * 9 + l, 3);  // columns
        });
      }
    }

    // On a device: dx by the one-kernel Winograd (its default register block) of the transposed
    // conv, out -> In, with the transposed, rotated filters in wu; false where the device does not
    // give a block its shared memory.
    bool fused_data_gradient(const T* w, const T* dy, T* dx, index_t n) {
      if constexpr (fused_backward) {
        namespace wg = detail::winograd;
        using F = wg::fused_fn<T, out, In, std::tuple_element_t<0, wg::fused_variants>>;
        static const bool fits = B::block_shared_limit() >= F::shared_bytes;
        if (!fits) return false;
        T* u = backend::raw(wu);
        B::for_each_index(index_t(Out) * In.c, wg::filter_fn<T>{w, u, In.c, Out, true, true});
        const bool aligned = In.w % 4 == 0 && reinterpret_cast<std::uintptr_t>(dx) % 16 == 0;
        const F f{u, dy, dx, n, nullptr, nullptr, nullptr, false, nullptr, aligned};
        B::for_each_block(f.blocks(), f);
        return true;
      } else {
        return false;
      }
    }

    // The one kernel with register block fused_variant, or with the default where that one does
    // not apply or fit; false where not even the default gets its shared memory.
    template <std::size_t... V>
    bool fused_forward(std::index_sequence<V...>, const T* w, const T* x, T* y, index_t n, const T* bias,
                       const T* scale, const T* shift, bool act, const T* res) {
      using variants = detail::winograd::fused_variants;
      bool done = false;
      ((done = done || (int(V) == fused_variant &&
                        fused_with<std::tuple_element_t<V, variants>>(w, x, y, n, bias, scale, shift, act, res))),
       ...);
      return done || fused_with<std::tuple_element_t<0, variants>>(w, x, y, n, bias, scale, shift, act, res);
    }
    // Times each variant that applies (see tune_fused); y is written and rewritten, so it must
    // not be the residual input. Leaves fused_variant at the fastest.
    template <std::size_t... V>
    void tune(std::index_sequence<V...> all, const T* w, const T* x, T* y, index_t n, const T* bias, const T* scale,
              const T* shift, bool act, const T* res) {
      tuned_ms.assign(sizeof...(V), -1.0);
      int fastest = -1;
      const auto time = [&](int v) {
        fused_variant = v;
        fused_forward(all, w, x, y, n, bias, scale, shift, act, res);  // warm-up
        double best = 0;
        for (int rep = 0; rep < 3; ++rep) {
          B::synchronize();
          const auto t0 = std::chrono::steady_clock::now();
          fused_forward(all, w, x, y, n, bias, scale, shift, act, res);
          B::synchronize();
          const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          best = rep == 0 ? t : std::min(best, t);
        }
        tuned_ms[std::size_t(v)] = best;
        if (fastest < 0 || best < tuned_ms[std::size_t(fastest)]) fastest = v;
      };
      ((applies<std::tuple_element_t<V, detail::winograd::fused_variants>>() ? time(int(V)) : void()), ...);
      fused_variant = std::max(fastest, 0);
      tune_fused = false;
    }
    // Whether variant Cfg runs as itself here (else fused_forward falls back to the default).
    template <class Cfg>
    static bool applies() {
      if constexpr (Out % Cfg::outs != 0) {
        return false;
      } else {
        static const bool fits =
            B::block_shared_limit() >= detail::winograd::fused_fn<T, In, out, Cfg>::shared_bytes;
        return fits;
      }
    }
    template <class Cfg>
    bool fused_with(const T* w, const T* x, T* y, index_t n, const T* bias, const T* scale, const T* shift, bool act,
                    const T* res) {
      namespace wg = detail::winograd;
      if constexpr (Out % Cfg::outs != 0) {
        return false;
      } else {
        using F = wg::fused_fn<T, In, out, Cfg>;
        if (!applies<Cfg>()) return false;
        T* u = backend::raw(wu);
        B::for_each_index(index_t(Out) * In.c, wg::filter_fn<T>{w, u, Out, In.c, true});
        const bool aligned = out.w % 4 == 0 && reinterpret_cast<std::uintptr_t>(y) % 16 == 0 &&
                             reinterpret_cast<std::uintptr_t>(res) % 16 == 0;
        const F f{u, x, y, n, bias, scale, shift, act, res, aligned};
        B::for_each_block(f.blocks(), f);
        return true;
      }
    }

    // The direct kernel, where the device gives a block its shared memory (false: it does not).
    bool direct_kernel_forward(const T* w, const T* x, T* y, index_t n, const T* bias, const T* scale,
                               const T* shift, bool act, const T* res) {
      using F = detail::direct_conv_fn<T, In, out, K, Stride, Pad>;
      static const bool fits = B::block_shared_limit() >= F::shared_bytes;
      if (!fits) return false;
      if (wt.size() < std::size_t(Out * k_dim)) wt.resize(std::size_t(Out * k_dim));
      T* t = backend::raw(wt);
      B::for_each_index(index_t(Out) * k_dim, detail::transpose_filters_fn<T>{w, t, Out, k_dim});
      const bool aligned =
          reinterpret_cast<std::uintptr_t>(y) % 16 == 0 && reinterpret_cast<std::uintptr_t>(res) % 16 == 0;
      const F f{t, x, y, n, bias, scale, shift, act, res, aligned};
      B::for_each_block(f.blocks(), f);
      return true;
    }

    // The workers' column buffers, made at the first pass that uses them (before its tasks start):
    // a conv whose passes all run by Winograd or the direct kernel never holds one (on a GPU up to
    // 2^26 floats each; a resnet56 sweep at batch 2000 held 14.6 GB of them untouched).
    void need_columns() {
      if constexpr (!direct) {
        const auto size = std::size_t(workers * k_dim * group * out.plane());
        if (col.size() < size) col.resize(size);
      }
    }

    // The column matrix for images [n0, n0+nb) in the worker's buffer (x itself for a direct
    // 1x1 conv); ld receives its row stride.
    const T* columns(const T* x, index_t n, index_t n0, index_t nb, int worker, index_t& ld) {
      if constexpr (direct) {
        ld = n * out.plane();
        return x + n0 * In.plane();
      }
      ld = nb * out.plane();
      T* c = backend::raw(col) + worker * k_dim * group * out.plane();
      B::for_each_line(k_dim * nb, out.plane(), detail::im2col_fn<T, In, out, K, Stride, Pad>{x, c, n, n0, nb});
      return c;
    }
  };
};

}  // namespace basin
