// basin/layers/winograd.hpp — 3x3, stride-1, padding-1 convolutions by Winograd's minimal
// filtering F(4x4, 3x3) (Lavin, Gray 2016, "Fast Algorithms for Convolutional Neural Networks").
//
// Each 4x4 output tile is computed from a 6x6 input patch d and the 3x3 filter g as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
// so a tile needs 36 multiplications per (input, output) channel pair instead of 144: the
// convolution becomes 36 independent products M_xi (out, tiles) = U_xi (out, in) x V_xi (in, tiles),
// one per position xi of the 6x6 transformed tile, with U = G g G^T (the transformed filters) and
// V = B^T d B (the transformed input). The matrices (checked against direct correlation in
// tests/layers):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// Tiles overhanging the output (14 = 4*4 - 2) read zeros and their extra outputs are dropped.
// In float the result differs from the direct convolution by rounding only (about 1e-6
// relative to the largest output per layer), but the transforms' large entries make that
// rounding larger than im2col's, and deep nets amplify it: resnet20's float gradients differ
// from double by 3.6e-3 (train mode) instead of 3.5e-7 (measured; README.md, "Architecture").
// The backward pass (conv.hpp): on the host both gradients by Winograd too (winograd_backward:
// dx as the forward of dy with the transposed, rotated filters, dW from transformed tiles); on a
// GPU dx by the one kernel where the channels allow (fused_backward), dW by im2col + GEMM.
#pragma once

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

#include "basin/core/shape.hpp"

namespace basin::detail {
// A conv's epilogue on one value: act((v + bias) * scale + shift + res), act a relu. Every
// conv path applies it in this order, so they round alike.
template <class T>
BASIN_HD inline T epilogue_value(T v, T bias, T scale, T shift, T res, bool act) {
  const T u = (v + bias) * scale + shift + res;
  return act ? (u <= T(0) ? T(0) : u) : u;
}
}  // namespace basin::detail

namespace basin::detail::winograd {

inline constexpr int alpha = 6, m = 4, positions = alpha * alpha;  // 6x6 transformed tiles, 4x4 outputs
inline constexpr int tile_block = 24, out_block = 4;             // the product's register block
// V and M keep their 36 planes one cache line apart beyond a multiple of the tile block: with
// power-of-two plane sizes the 36 stores of one tile would all fall into the same few sets of
// the L1 cache.
inline constexpr index_t plane_pad = 16;

// The 1-D transforms, one 6- (or 3-) vector at a time, with strides.
// S is the scalar type, V the value type: S itself, or a vector of S (several tiles at once).
template <class S, class V>
BASIN_HD inline void input_1d(const V* d, int sd, V* r, int sr) {  // r = B^T d
  const V d0 = d[0], d1 = d[sd], d2 = d[2 * sd], d3 = d[3 * sd], d4 = d[4 * sd], d5 = d[5 * sd];
  r[0] = S(4) * d0 - S(5) * d2 + d4;
  r[sr] = S(-4) * (d1 + d2) + d3 + d4;
  r[2 * sr] = S(4) * (d1 - d2) - d3 + d4;
  r[3 * sr] = S(2) * (d3 - d1) - d2 + d4;
  r[4 * sr] = S(2) * (d1 - d3) - d2 + d4;
  r[5 * sr] = S(4) * d1 - S(5) * d3 + d5;
}
template <class T>
BASIN_HD inline void filter_1d(const T* g, int sg, T* r, int sr) {  // r = G g
  const T g0 = g[0], g1 = g[sg], g2 = g[2 * sg];
  r[0] = g0 / T(4);
  r[sr] = -(g0 + g1 + g2) / T(6);
  r[2 * sr] = -(g0 - g1 + g2) / T(6);
  r[3 * sr] = g0 / T(24) + g1 / T(12) + g2 / T(6);
  r[4 * sr] = g0 / T(24) - g1 / T(12) + g2 / T(6);
  r[5 * sr] = g2;
}
template <class S, class V>
BASIN_HD inline void output_1d(const V* s, int ss, V* r, int sr) {  // r = A^T s
  const V s0 = s[0], s1 = s[ss], s2 = s[2 * ss], s3 = s[3 * ss], s4 = s[4 * ss], s5 = s[5 * ss];
  const V a = s1 + s2, b = s1 - s2, c = s3 + s4, d = s3 - s4;
  r[0] = s0 + a + c;
  r[sr] = b + S(2) * d;
  r[2 * sr] = a + S(4) * c;
  r[3 * sr] = b + S(8) * d + s5;
}

// The weight gradient's 1-D transforms (the forward's bilinear algorithm transposed: dW = G^T
// [sum over tiles (A dy A^T) * (B^T x B)] G): dy's 4-vectors to 6 by A (output_1d's A^T
// transposed), and the 6-vectors of the summed products back to 3 by G^T (filter_1d's G
// transposed).
template <class S, class V>
BASIN_HD inline void grad_1d(const V* d, int sd, V* r, int sr) {  // r = A d
  const V d0 = d[0], d1 = d[sd], d2 = d[2 * sd], d3 = d[3 * sd];
  const V e = d0 + d2, o = d1 + d3, e4 = d0 + S(4) * d2, o2 = S(2) * d1 + S(8) * d3;
  r[0] = d0;
  r[sr] = e + o;
  r[2 * sr] = e - o;
  r[3 * sr] = e4 + o2;
  r[4 * sr] = e4 - o2;
  r[5 * sr] = d3;
}
template <class T>
BASIN_HD inline void filter_grad_1d(const T* s, int ss, T* r, int sr) {  // r = G^T s
  const T s0 = s[0], s1 = s[ss], s2 = s[2 * ss], s3 = s[3 * ss], s4 = s[4 * ss], s5 = s[5 * ss];
  r[0] = s0 / T(4) - (s1 + s2) / T(6) + (s3 + s4) / T(24);
  r[sr] = (s2 - s1) / T(6) + (s3 - s4) / T(12);
  r[2 * sr] = (s3 + s4 - s1 - s2) / T(6) + s5;
}

// Where tile g of a batch lies for activations of shape D: its image and the top-left corner of
// its 4x4 outputs (tiles run over images, then rows, then columns).
template <dims D>
struct tile_grid {
  static constexpr int tiles_h = (D.h + m - 1) / m, tiles_w = (D.w + m - 1) / m;
  static constexpr index_t per_image = index_t(tiles_h) * tiles_w;
  struct place {
    index_t img;
    int y, x;
  };
  BASIN_HD static place at(index_t g) {
    const index_t k = g % per_image;
    return {g / per_image, int(k / tiles_w) * m, int(k % tiles_w) * m};
  }
};

// d[(6 i + j) * sd] <- the 6x6 patch of plane src (In.h x In.w) at (y0 + i, x0 + j), zero outside.
template <class T, dims In>
BASIN_HD inline void load_patch(const T* src, int y0, int x0, T* d, int sd) {
  if (y0 >= 0 && x0 >= 0 && y0 + alpha <= In.h && x0 + alpha <= In.w) {  // inside: no checks
    for (int i = 0; i < alpha; ++i)
      for (int j = 0; j < alpha; ++j) d[(alpha * i + j) * sd] = src[(y0 + i) * In.w + x0 + j];
    return;
  }
  for (int i = 0; i < alpha; ++i) {
    const int yy = y0 + i;
    const bool row = yy >= 0 && yy < In.h;
    for (int j = 0; j < alpha; ++j) {
      const int xx = x0 + j;
      d[(alpha * i + j) * sd] = row && xx >= 0 && xx < In.w ? src[yy * In.w + xx] : T(0);
    }
  }
}

// U (36, out, in) <- G g G^T for every filter g = w[o, i] (out, in, 3, 3). One call per (o, i),
// call at = o * in + i; with by_input U (36, in, out) (fused_fn's layout), call at = i * out + o
// (neighbouring calls store to neighbouring addresses). With transposed, g is w[i, o] (w: (in,
// out, 3, 3)) rotated by 180 degrees: the filters whose convolution of a conv's output gradient
// is its input gradient.
template <class T>
struct filter_fn {
  const T* w;
  T* u;
  index_t out, in;
  bool by_input = false;
  bool transposed = false;
  BASIN_HD void operator()(index_t at) const {
    const index_t o = by_input ? at % out : at / in, i = by_input ? at / out : at % in;
    const T* g = w + (transposed ? i * out + o : o * in + i) * 9;
    T rotated[9];
    if (transposed) {
      for (int k = 0; k < 9; ++k) rotated[k] = g[8 - k];
      g = rotated;
    }
    T tmp[alpha * 3], r[positions];
    for (int j = 0; j < 3; ++j) filter_1d(g + j, 3, tmp + j, 3);               // columns: tmp (6, 3)
    for (int i = 0; i < alpha; ++i) filter_1d(tmp + 3 * i, 1, r + alpha * i, 1);  // rows: r (6, 6)
    for (int xi = 0; xi < positions; ++xi) u[xi * out * in + at] = r[xi];
  }
};

// V (36, in, blk) (planes padded) <- B^T d B for the tiles [t0, t0 + count) of the whole batch x (in, n, h, w);
// tile g = image * per_image + ty * tiles_w + tx; columns count..blk are zero. One call per
// (channel, column).
template <class T, dims In>
struct input_fn {
  static constexpr index_t per_image = tile_grid<In>::per_image;
  const T* x;
  T* v;
  index_t n, t0, count, blk;
  BASIN_HD void operator()(index_t at) const {
    const index_t t = at % blk, c = at / blk;
    T* dst = v + c * blk + t;
    const index_t stride = index_t(In.c) * blk + plane_pad;
    if (t >= count) {
      for (int xi = 0; xi < positions; ++xi) dst[xi * stride] = T(0);
      return;
    }
    const auto p = tile_grid<In>::at(t0 + t);
    T d[positions], tmp[positions];
    load_patch<T, In>(x + (c * n + p.img) * In.plane(), p.y - 1, p.x - 1, d, 1);
    for (int j = 0; j < alpha; ++j) input_1d<T>(d + j, alpha, tmp + j, alpha);        // columns
    for (int i = 0; i < alpha; ++i) input_1d<T>(tmp + alpha * i, 1, d + alpha * i, 1);  // rows
    for (int xi = 0; xi < positions; ++xi) dst[xi * stride] = d[xi];
  }
};

// M (36, out, tiles) = U (36, out, in) x V (36, in, tiles): one call per (xi, 4 output channels,
// 16 tiles), a register block of accumulators. With GCC or Clang it is written with vector
// extensions, 32-byte vectors (AVX) held in registers; other compilers (nvcc's translation units
// included) use the plain loops.
template <class T>
struct product_fn {
  const T* u;
  const T* v;
  T* mm;
  index_t out, in, tiles;
  BASIN_HD void operator()(index_t at) const {
    const index_t tb = at % (tiles / tile_block), rest = at / (tiles / tile_block);
    const index_t ob = rest % (out / out_block), xi = rest / (out / out_block);
    const T* ub = u + (xi * out + ob * out_block) * in;
    const T* vb = v + xi * (in * tiles + plane_pad) + tb * tile_block;
    T* mb = mm + xi * (out * tiles + plane_pad) + ob * out_block * tiles + tb * tile_block;
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
    typedef T vec __attribute__((vector_size(32), aligned(alignof(T)), may_alias));
    constexpr int lanes = int(32 / sizeof(T)), nv = tile_block / lanes;
    static_assert(tile_block % lanes == 0);
    vec acc[out_block][nv];
    for (int r = 0; r < out_block; ++r)
      for (int k = 0; k < nv; ++k) acc[r][k] = vec{};
    for (index_t c = 0; c < in; ++c) {
      const vec* vr = reinterpret_cast<const vec*>(vb + c * tiles);
      vec x[nv];
      for (int k = 0; k < nv; ++k) x[k] = vr[k];
      for (int r = 0; r < out_block; ++r) {
        const T ur = ub[r * in + c];
        for (int k = 0; k < nv; ++k) acc[r][k] += ur * x[k];
      }
    }
    for (int r = 0; r < out_block; ++r)
      for (int k = 0; k < nv; ++k) *reinterpret_cast<vec*>(mb + r * tiles + k * lanes) = acc[r][k];
#else
    T acc[out_block][tile_block] = {};
    for (index_t c = 0; c < in; ++c) {
      const T* vr = vb + c * tiles;
      for (int r = 0; r < out_block; ++r) {
        const T ur = ub[r * in + c];
        for (int j = 0; j < tile_block; ++j) acc[r][j] += ur * vr[j];
      }
    }
    for (int r = 0; r < out_block; ++r)
      for (int j = 0; j < tile_block; ++j) mb[r * tiles + j] = acc[r][j];
#endif
  }
};

// N consecutive values at p (aligned to N values, or to 4 when N is a multiple of 4): vector
// accesses on a device in float.
template <int N, class T>
BASIN_HD inline void load_n(const T* p, T (&r)[N]) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float> && N % 4 == 0) {
    BASIN_UNROLL
    for (int i = 0; i < N; i += 4) {
      const float4 q = *reinterpret_cast<const float4*>(p + i);
      r[i] = q.x, r[i + 1] = q.y, r[i + 2] = q.z, r[i + 3] = q.w;
    }
  } else if constexpr (std::is_same_v<T, float> && N == 2) {
    const float2 q = *reinterpret_cast<const float2*>(p);
    r[0] = q.x, r[1] = q.y;
  } else
#endif
  {
    BASIN_UNROLL
    for (int i = 0; i < N; ++i) r[i] = p[i];
  }
}
template <int N, class T>
BASIN_HD inline void store_n(T* p, const T (&r)[N]) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float> && N % 4 == 0) {
    BASIN_UNROLL
    for (int i = 0; i < N; i += 4) *reinterpret_cast<float4*>(p + i) = float4{r[i], r[i + 1], r[i + 2], r[i + 3]};
  } else
#endif
  {
    BASIN_UNROLL
    for (int i = 0; i < N; ++i) p[i] = r[i];
  }
}

// Tile g of channel c of y (out, n, h, w) <- act((A^T M A + bias) * scale + shift + res), M the
// tile's 36 products at src[xi * stride], cropped at the image's edge; bias, scale, shift, res
// optional (null; res, a residual block's shortcut, laid out as y). `aligned` (y and res 16-byte
// aligned, Out.w % 4 == 0): whole rows as vector accesses.
template <class T, dims Out>
BASIN_HD inline void output_tile(const T* src, index_t stride, T* y, index_t n, index_t g, index_t c, const T* bias,
                                 const T* scale, const T* shift, bool act, const T* res, bool aligned) {
  T s[positions], tmp[m * alpha], r[m * m];
  BASIN_UNROLL
  for (int xi = 0; xi < positions; ++xi) s[xi] = src[xi * stride];
  BASIN_UNROLL
  for (int j = 0; j < alpha; ++j) output_1d<T>(s + j, alpha, tmp + j, alpha);  // columns: tmp (4, 6)
  BASIN_UNROLL
  for (int i = 0; i < m; ++i) output_1d<T>(tmp + alpha * i, 1, r + m * i, 1);  // rows: r (4, 4)
  const T b = bias ? bias[c] : T(0), sc = scale ? scale[c] : T(1), sh = shift ? shift[c] : T(0);
  const auto p = tile_grid<Out>::at(g);
  const index_t corner = (c * n + p.img) * Out.plane() + p.y * Out.w + p.x;
  const bool whole = p.y + m <= Out.h && p.x + m <= Out.w;
  BASIN_UNROLL
  for (int i = 0; i < m; ++i) {
    if (!whole && p.y + i >= Out.h) break;
    const index_t o = corner + i * Out.w;
    T row[m];
    if (res && whole && aligned) {
      load_n<m>(res + o, row);
    } else {
      BASIN_UNROLL
      for (int j = 0; j < m; ++j) row[j] = res && (whole || p.x + j < Out.w) ? res[o + j] : T(0);
    }
    BASIN_UNROLL
    for (int j = 0; j < m; ++j) row[j] = epilogue_value(r[m * i + j], b, sc, sh, row[j], act);
    if (whole && aligned) {
      store_n<m>(y + o, row);
    } else {
      for (int j = 0; j < m && p.x + j < Out.w; ++j) y[o + j] = row[j];
    }
  }
}

// y (out, n, h, w) <- output_tile for the tiles [t0, t0 + count) of the batch, M (36, out, blk)
// (planes padded). One call per (channel, tile).
template <class T, dims Out>
struct output_fn {
  const T* mm;
  T* y;
  index_t n, t0, count, blk;
  const T *bias, *scale, *shift;
  bool act;
  const T* res = nullptr;
  BASIN_HD void operator()(index_t at) const {
    const index_t t = at % count, c = at / count;
    output_tile<T, Out>(mm + c * blk + t, index_t(Out.c) * blk + plane_pad, y, n, t0 + t, c, bias, scale, shift, act,
                        res, false);
  }
};

// N values (16 bytes when N > 1) from global src to shared dst, asynchronously on sm_80 and
// later (zeros when !valid; src must still be a valid address); at once elsewhere.
template <int N, class T>
BASIN_HD inline void copy_async(T* dst, const T* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const auto d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  if constexpr (N * sizeof(T) == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
  else if constexpr (N * sizeof(T) == 8)
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 8 : 0) : "memory");
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 4 : 0) : "memory");
#else
  BASIN_UNROLL
  for (int i = 0; i < N; ++i) dst[i] = valid ? src[i] : T(0);
#endif
}
BASIN_HD inline void commit_copies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
BASIN_HD inline void wait_copies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#endif
}

// How the one-kernel Winograd (fused_fn below) shares out a block's products: Outs filters a
// block; each thread KPer filters x TPer tiles at 36 / Groups positions (its accumulators:
// 36 / Groups * KPer * TPer registers); Groups * (Outs / KPer) * (32 / TPer) threads a block,
// MinBlocks blocks resident per multiprocessor (which bounds the registers a thread may use).
// A thread's multiply-adds per value it reads from shared memory grow with its register block:
// KPer * TPer / (KPer + TPer), 1.33 for 2 x 4, 2 for 4 x 4, 4 for 8 x 8.
// Rows: stage the input by rows where the shape allows (fused_fn::by_rows) instead of as raw
// patches.
template <int Outs, int KPer, int TPer, int Groups, int MinBlocks, bool Rows = false>
struct fused_config {
  static constexpr int outs = Outs, kper = KPer, tper = TPer, groups = Groups, min_blocks = MinBlocks;
  static constexpr bool rows = Rows;
};
// The register blocks a model can choose (model::set_fused_variant), in this order: 0, the
// default, 2 filters x 4 tiles at 9 positions (256 threads, 72 accumulators); 1, 4 x 4 at 4
// positions (288 threads, 64); 2, 8 x 8 at one position (288 threads, 64); 3, 8 x 8 at one
// position with 32 filters a block (576 threads, one block per multiprocessor: each staged
// patch serves twice the filters), for convs with filters in 32s; 4 and 5: 0 and 2 with the
// input staged by rows.
using fused_variants =
    std::tuple<fused_config<16, 2, 4, 4, 2>, fused_config<16, 4, 4, 9, 2>, fused_config<16, 8, 8, 36, 2>,
               fused_config<32, 8, 8, 36, 1>, fused_config<16, 2, 4, 4, 2, true>, fused_config<16, 8, 8, 36, 2, true>>;
inline constexpr int n_fused_variants = int(std::tuple_size_v<fused_variants>);

// A whole 3x3 convolution in one kernel on a device (backends with block kernels, see
// backend/cuda.hpp's for_each_block): each thread block takes 32 tiles and Cfg::outs output
// channels. For each chunk of 8 input channels, its tiles' 6x6 patches (raw, or the image rows
// they cover: by_rows) and the chunk's transformed filters U (36, 8, outs) are copied into shared
// memory, asynchronously (cp.async on
// sm_80 and later) while the previous chunk is multiplied; each of 256 threads transforms one
// (channel, tile) patch into V (36, 8, 32); then every thread adds its part of the 36 products
// M_xi (outs, 32) += U_xi^T V_xi into registers (positions x filters x tiles: fused_config). At
// the end M goes through shared memory and each thread transforms back (channel, tile) pairs,
// applies the epilogue and stores the 4x4 outputs.
// V and M never leave the chip: the separate kernels (input_fn, a strided-batched GEMM,
// output_fn) move V and M, each 2.25x the activations, through device memory four times.
// The step functions are the kernel's phases between barriers, so a host can run them too,
// thread by thread (tests/net/test_device_paths.cpp does).
// u: the transformed filters (36, in, out) (filter_fn with by_input).
// Measured on an H100 (README.md, "GPU"), the default register block: 16-channel 32x32 convs of
// 2000 images in 0.25 ms, 3.1x the separate kernels; the async copies made it 1.11-1.37x faster
// than loading each chunk's patches when transforming them, and two blocks per multiprocessor
// (128 registers a thread) 1.07-1.19x faster than one block with all the registers it asks for.
// Nsight Compute showed it bound by the shared-memory pipe (85-92% busy, arithmetic 36-55%),
// which the larger register blocks are for.
template <class T, dims In, dims Out, class Cfg = std::tuple_element_t<0, fused_variants>>
struct fused_fn {
  static constexpr int tiles = 32, outs = Cfg::outs, chunk = 8, chunks = In.c / chunk;
  static constexpr int stagers = chunk * tiles;  // threads that transform a patch: one (channel, tile) each
  static constexpr int kper = Cfg::kper, tper = Cfg::tper, kgroups = outs / kper, tgroups = tiles / tper;
  static constexpr int groups = Cfg::groups, per_group = positions / groups;
  static constexpr int threads = groups * kgroups * tgroups, min_blocks = Cfg::min_blocks;
  static_assert(outs % kper == 0 && tiles % tper == 0 && positions % groups == 0 && stagers <= threads &&
                threads <= 1024);
  static_assert(In.c % chunk == 0 && Out.c % outs == 0, "fused_fn: channels in eights, filters in blocks of outs");
  static_assert(In.h == Out.h && In.w == Out.w, "fused_fn: 3x3, stride 1, padding 1");
  static constexpr index_t v_floats = index_t(positions) * chunk * tiles;
  static constexpr index_t u_floats = index_t(positions) * chunk * outs;
  static constexpr index_t m_floats = index_t(positions) * outs * tiles;
  // The input of a chunk in shared memory, raw patches or rows. Raw: each stager copies its own
  // (channel, tile) patch, 36 values scattered over device memory (raw[e * stagers + thread],
  // e = 6 i + j). By rows, where a block's 32 tiles are whole tile rows of one image or whole
  // images and rows are whole vectors (the CIFAR resnets' 32x32: 4 tile rows of an image;
  // 16x16: 2 images; 8x8: 8 images): for each channel and image, the 4 r + 2 rows its r tile
  // rows read (zeros above and below the image), each In.w values then 4 zeros that are also the
  // next row's left border, copied 16 bytes at a time by all the threads; a stager then reads a
  // patch row as a value, a vector and a value. Counted on paper (not yet timed), that moves 5-20x
  // fewer transactions through the L1 than the raw copies (whose 32 tiles of a warp touch 4 to 16
  // cache lines per value, the more the smaller the images), at the price of 4-way bank conflicts
  // on the two single values.
  using grid = tile_grid<In>;
  static constexpr bool by_rows =
      Cfg::rows && In.w % 4 == 0 &&
      (grid::per_image >= tiles ? grid::per_image % tiles == 0 && tiles % grid::tiles_w == 0
                                : tiles % grid::per_image == 0);
  static constexpr int r_imgs = grid::per_image >= tiles ? 1 : int(tiles / grid::per_image);
  static constexpr int r_rows = m * (grid::per_image >= tiles ? tiles / grid::tiles_w : grid::tiles_h) + 2;
  static constexpr int r_stride = In.w + 4;  // a row and its 4 zeros
  static constexpr index_t r_plane = index_t(r_rows) * r_stride;
  // Shared memory: the input (raw patches, or 4 zeros and the rows), V, two U buffers; M over
  // them at the end.
  static constexpr index_t raw_floats = by_rows ? 4 + chunk * r_imgs * r_plane : index_t(positions) * stagers;
  static constexpr index_t v_at = raw_floats, u_at = raw_floats + v_floats;
  static constexpr std::size_t shared_bytes = sizeof(T) * std::size_t(std::max(u_at + 2 * u_floats, m_floats));
  static constexpr index_t per_image = grid::per_image;
  static constexpr index_t kblocks = Out.c / outs;
  struct state {
    T acc[per_group][kper][tper];
  };

  const T* u;
  const T* x;
  T* y;
  index_t n;
  const T *bias, *scale, *shift;
  bool act;
  const T* res;
  bool aligned;  // y and res 16-byte aligned and Out.w % 4 == 0: whole rows as vectors

  index_t blocks() const { return (n * per_image + tiles - 1) / tiles * kblocks; }
  BASIN_HD static constexpr int steps() { return 2 * chunks + 3; }
  // Step s of thread `thread` of block `block`: step 0 zeroes the accumulators (and the rows'
  // borders), copies chunk 0 and waits for its copies; then for chunk c, step 1 + 2c transforms
  // it and step 2 + 2c starts the next chunk's copies, multiplies and waits for those copies
  // (before the barrier: a stager may read what other threads copied); then the products are
  // spilled and transformed back and stored.
  BASIN_HD void step(int s, index_t block, int thread, unsigned char* shared, state& st) const {
    T* sh = reinterpret_cast<T*>(shared);
    const index_t tb = block / kblocks, kb = block % kblocks;
    const int c = (s - 1) / 2;  // the chunk
    if (s == 0) {
      zero(st);
      if constexpr (by_rows) clear_borders(thread, sh);
      fetch(tb, kb, 0, thread, sh);
      wait_copies();
    } else if (s <= 2 * chunks && s % 2 == 1) {
      if (thread < stagers) stage(tb, thread, sh);
    } else if (s <= 2 * chunks) {
      if (c + 1 < chunks) fetch(tb, kb, c + 1, thread, sh);
      multiply(thread, sh + v_at, sh + u_at + (c % 2) * u_floats, st);
      wait_copies();
    } else if (s == 2 * chunks + 1) {
      spill(thread, sh, st);
    } else {
      finish(tb, kb, thread, sh);
    }
  }

 private:
  BASIN_HD static void zero(state& st) {
    BASIN_UNROLL
    for (int j = 0; j < per_group; ++j)
      BASIN_UNROLL
      for (int k = 0; k < kper; ++k)
        BASIN_UNROLL
        for (int q = 0; q < tper; ++q) st.acc[j][k][q] = T(0);
  }
  // By rows: the 4 zeros before the first row and the 4 after each row (never copied over).
  BASIN_HD static void clear_borders(int thread, T* sh) {
    for (int i = thread; i < 4 * (1 + chunk * r_imgs * r_rows); i += threads)
      sh[i < 4 ? i : 4 + (i / 4 - 1) * r_stride + In.w + i % 4] = T(0);
  }
  // Start copying chunk c's input (raw patches or rows, zeros outside the images; see
  // raw_floats) and its filters into U buffer c % 2, 16 bytes a copy.
  BASIN_HD void fetch(index_t tb, index_t kb, int c, int thread, T* sh) const {
    constexpr int per = int(16 / sizeof(T));
    if constexpr (by_rows) {
      const auto p0 = grid::at(tb * tiles);  // the block's first tile: image p0.img, rows from p0.y
      constexpr int vecs = In.w / per, per_channel = r_imgs * r_rows * vecs;
      const bool vector = reinterpret_cast<std::uintptr_t>(x) % 16 == 0;
      BASIN_NO_UNROLL
      for (int i = thread; i < chunk * per_channel; i += threads) {
        const int cl = i / per_channel, k = i % per_channel;
        const int ii = k / (r_rows * vecs), q = (k / vecs) % r_rows, v = k % vecs;
        const index_t img = p0.img + ii;
        const int yy = p0.y - 1 + q;
        const bool in = img < n && yy >= 0 && yy < In.h;
        T* dst = sh + 4 + (cl * r_imgs + ii) * r_plane + q * r_stride + per * v;
        const T* src = in ? x + ((c * chunk + cl) * n + img) * In.plane() + yy * In.w + per * v : x;
        if (vector) {
          copy_async<per>(dst, src, in);
        } else {
          BASIN_UNROLL
          for (int e = 0; e < per; ++e) copy_async<1>(dst + e, in ? src + e : x, in);
        }
      }
    } else if (thread < stagers) {
      const int cl = thread / tiles, t = thread % tiles;
      const index_t g = tb * tiles + t;
      T* raw = sh + thread;
      if (g < n * per_image) {
        const auto p = grid::at(g);
        const T* src = x + ((c * chunk + cl) * n + p.img) * In.plane();
        const int y0 = p.y - 1, x0 = p.x - 1;
        BASIN_NO_UNROLL
        for (int i = 0; i < alpha; ++i)
          BASIN_UNROLL
          for (int j = 0; j < alpha; ++j) {
            const int yy = y0 + i, xx = x0 + j;
            const bool in = yy >= 0 && yy < In.h && xx >= 0 && xx < In.w;
            copy_async<1>(raw + (alpha * i + j) * stagers, in ? src + yy * In.w + xx : src, in);
          }
      } else {
        BASIN_UNROLL
        for (int e = 0; e < positions; ++e) copy_async<1>(raw + e * stagers, x, false);
      }
    }
    constexpr int rows = positions * chunk;  // rows of outs filters
    static_assert(outs % per == 0);
    T* us = sh + u_at + (c % 2) * u_floats;
    BASIN_NO_UNROLL
    for (int i = thread; i < rows * (outs / per); i += threads) {
      const int r = i / (outs / per), q = i % (outs / per);  // r = xi * chunk + cl
      const index_t from = (index_t(r / chunk) * In.c + c * chunk + r % chunk) * Out.c + kb * outs + q * per;
      copy_async<per>(us + r * outs + q * per, u + from, true);
    }
    commit_copies();
  }
  // V (36, chunk, tiles) <- B^T d B of this thread's (channel, tile) (zeros for tiles past the
  // batch): in one direction into the thread's own slots of V, then in the other in place (the
  // products' accumulators are live meanwhile: a 6x6 intermediate in registers would spill).
  // Raw patches go a column at a time, rows a row at a time.
  BASIN_HD void stage(index_t tb, int thread, T* sh) const {
    constexpr int sx = chunk * tiles;  // between positions in V
    T* vt = sh + v_at + thread;        // thread = cl * tiles + t
    (void)tb;
    if constexpr (by_rows) {
      const int cl = thread / tiles, t = thread % tiles;
      const auto p0 = grid::at(tb * tiles), p = grid::at(tb * tiles + t);
      // The patch's top-left value: the region's row p.y - p0.y (image row p.y - 1), column p.x - 1.
      const T* d = sh + 4 + (cl * r_imgs + (p.img - p0.img)) * r_plane + (p.y - p0.y) * r_stride + p.x - 1;
      BASIN_NO_UNROLL
      for (int i = 0; i < alpha; ++i) {
        T row[alpha], mid[4], r[alpha];
        row[0] = d[i * r_stride];
        load_n<4>(d + i * r_stride + 1, mid);  // 16-byte aligned: p.x is a multiple of 4
        BASIN_UNROLL
        for (int j = 0; j < 4; ++j) row[j + 1] = mid[j];
        row[5] = d[i * r_stride + 5];
        input_1d<T>(row, 1, r, 1);
        BASIN_UNROLL
        for (int j = 0; j < alpha; ++j) vt[(alpha * i + j) * sx] = r[j];
      }
      in_place(vt, 1, alpha);  // then the columns
    } else {
      BASIN_NO_UNROLL
      for (int j = 0; j < alpha; ++j) {
        T col[alpha], r[alpha];
        BASIN_UNROLL
        for (int i = 0; i < alpha; ++i) col[i] = sh[(alpha * i + j) * stagers + thread];
        input_1d<T>(col, 1, r, 1);
        BASIN_UNROLL
        for (int i = 0; i < alpha; ++i) vt[(alpha * i + j) * sx] = r[i];
      }
      in_place(vt, alpha, 1);  // then the rows
    }
  }
  // stage's second direction in the thread's slots of V: line k is the values at
  // (k * across + e * along) * sx, e = 0..5.
  BASIN_HD static void in_place(T* vt, int across, int along) {
    constexpr int sx = chunk * tiles;
    BASIN_UNROLL
    for (int k = 0; k < alpha; ++k) {
      T line[alpha], r[alpha];
      BASIN_UNROLL
      for (int e = 0; e < alpha; ++e) line[e] = vt[(k * across + e * along) * sx];
      input_1d<T>(line, 1, r, 1);
      BASIN_UNROLL
      for (int e = 0; e < alpha; ++e) vt[(k * across + e * along) * sx] = r[e];
    }
  }
  // The thread's place in the products: positions xg * per_group.., filters kper * kg.., tiles
  // tper * tg.. (neighbouring threads: neighbouring tiles, then filters, then positions).
  BASIN_HD static void place(int thread, int& xg, int& kg, int& tg) {
    xg = thread / (kgroups * tgroups), kg = (thread / tgroups) % kgroups, tg = thread % tgroups;
  }
  BASIN_HD static void multiply(int thread, const T* v, const T* us, state& st) {
    int xg, kg, tg;
    place(thread, xg, kg, tg);
    BASIN_UNROLL
    for (int cl = 0; cl < chunk; ++cl)
      BASIN_UNROLL
      for (int j = 0; j < per_group; ++j) {
        const int xi = xg * per_group + j;
        T a[kper], b[tper];
        load_n<kper>(us + (xi * chunk + cl) * outs + kper * kg, a);
        load_n<tper>(v + (xi * chunk + cl) * tiles + tper * tg, b);
        BASIN_UNROLL
        for (int k = 0; k < kper; ++k)
          BASIN_UNROLL
          for (int q = 0; q < tper; ++q) st.acc[j][k][q] += a[k] * b[q];
      }
  }
  // M (36, outs, tiles) in shared memory (over the rest, which is no longer read).
  BASIN_HD static void spill(int thread, T* sh, const state& st) {
    int xg, kg, tg;
    place(thread, xg, kg, tg);
    BASIN_UNROLL
    for (int j = 0; j < per_group; ++j)
      BASIN_UNROLL
      for (int k = 0; k < kper; ++k)
        store_n<tper>(sh + ((xg * per_group + j) * outs + kper * kg + k) * tiles + tper * tg, st.acc[j][k]);
  }
  // y <- output_tile for the (channel, tile) pairs thread, thread + threads, ...
  BASIN_HD void finish(index_t tb, index_t kb, int thread, const T* sh) const {
    for (int i = thread; i < outs * tiles; i += threads) {
      const int k = i / tiles, t = i % tiles;
      const index_t g = tb * tiles + t;
      if (g < n * per_image)
        output_tile<T, Out>(sh + k * tiles + t, outs * tiles, y, n, g, kb * outs + k, bias, scale, shift, act, res,
                            aligned);
    }
  }
};

#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
// The host's transforms in SIMD registers (GCC/Clang vector extensions): the same results as
// input_fn and output_fn, which the other backends (and other compilers) use; see group_grid
// below for the layout of a task.
inline constexpr bool host_vectors = true;
inline constexpr int lanes = 8;

template <class T>
struct simd {
  typedef T lane __attribute__((vector_size(lanes * sizeof(T)), aligned(alignof(T)), may_alias));  // 8 images
  typedef T row __attribute__((vector_size(m * sizeof(T)), aligned(alignof(T)), may_alias));    // 4 outputs
};
template <class T>
using lane_vec = typename simd<T>::lane;
template <class T>
using row_vec = typename simd<T>::row;

// t[j][k] = a[k][j] for 8x8 (unpack, shuffle, 128-bit permute: 24 shuffles with AVX).
template <class T>
inline void transpose8(const lane_vec<T>* a, lane_vec<T>* t) {
  lane_vec<T> u[8], w[8];
  for (int p = 0; p < 8; p += 2) {
    u[p] = __builtin_shufflevector(a[p], a[p + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    u[p + 1] = __builtin_shufflevector(a[p], a[p + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int p = 0; p < 8; p += 4)
    for (int h = 0; h < 2; ++h) {
      w[p + 2 * h] = __builtin_shufflevector(u[p + h], u[p + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      w[p + 2 * h + 1] = __builtin_shufflevector(u[p + h], u[p + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int j = 0; j < 4; ++j) {
    t[j] = __builtin_shufflevector(w[j], w[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    t[j + 4] = __builtin_shufflevector(w[j], w[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// M (36, out, blk) = U (36, out, in) x V (36, in, blk) for one task, planes padded as product_fn's,
// blk a multiple of 8 floats (32 bytes): product_fn's register block (4 output channels x 24
// tiles, 12 AVX accumulators; the last 8 or 16 tiles of a row with 4 or 8), but the loops over
// positions, filter groups and tile groups run here instead of one call per block through the
// backend (whose index arithmetic, zeroed accumulators in memory and per-call parallel region
// cost a quarter of the products' time with 16 input channels: the inner loop is 16 steps long).
template <int OB, int NV, class T>
inline void product_block(const T* ub, const T* vb, T* mb, index_t in, index_t blk) {
  typedef T vec __attribute__((vector_size(32), aligned(alignof(T)), may_alias));
  constexpr int step = int(32 / sizeof(T));
  vec acc[OB][NV], x[NV];
#pragma GCC unroll 8
  for (int k = 0; k < NV; ++k) x[k] = *reinterpret_cast<const vec*>(vb + k * step);
#pragma GCC unroll 8
  for (int r = 0; r < OB; ++r) {
    const T ur = ub[r * in];
#pragma GCC unroll 8
    for (int k = 0; k < NV; ++k) acc[r][k] = ur * x[k];
  }
  for (index_t c = 1; c < in; ++c) {
#pragma GCC unroll 8
    for (int k = 0; k < NV; ++k) x[k] = *reinterpret_cast<const vec*>(vb + c * blk + k * step);
#pragma GCC unroll 8
    for (int r = 0; r < OB; ++r) {
      const T ur = ub[r * in + c];
#pragma GCC unroll 8
      for (int k = 0; k < NV; ++k) acc[r][k] += ur * x[k];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < OB; ++r)
#pragma GCC unroll 8
    for (int k = 0; k < NV; ++k) *reinterpret_cast<vec*>(mb + r * blk + k * step) = acc[r][k];
}
template <class T>
void product_host(const T* u, const T* v, T* mm, index_t out, index_t in, index_t blk) {
  constexpr int step = int(32 / sizeof(T)), full = tile_block / step, group = lanes / step;
  static_assert(tile_block % step == 0 && lanes % step == 0);
  const index_t main = blk / tile_block * tile_block, rest = (blk - main) / lanes;  // blk: a multiple of 8
  for (int xi = 0; xi < positions; ++xi) {
    const T* ux = u + index_t(xi) * out * in;
    const T* vx = v + xi * (in * blk + plane_pad);
    T* mx = mm + xi * (out * blk + plane_pad);
    for (index_t o = 0; o < out; o += out_block)
      for (index_t t = 0; t < main; t += tile_block)
        product_block<out_block, full>(ux + o * in, vx + t, mx + o * blk + t, in, blk);
    // The last 8 or 16 tiles: 8 accumulators (8 filters x 8 tiles, or 4 x 16)
    if (rest == 1 && out % (2 * out_block) == 0) {
      for (index_t o = 0; o < out; o += 2 * out_block)
        product_block<2 * out_block, group>(ux + o * in, vx + main, mx + o * blk + main, in, blk);
    } else if (rest == 1) {
      for (index_t o = 0; o < out; o += out_block)
        product_block<out_block, group>(ux + o * in, vx + main, mx + o * blk + main, in, blk);
    } else if (rest == 2) {
      for (index_t o = 0; o < out; o += out_block)
        product_block<out_block, 2 * group>(ux + o * in, vx + main, mx + o * blk + main, in, blk);
    }
  }
}

// ---- Tiles of eight images side by side (the host's path) ----
// The host orders a batch's tiles as (group of 8 images, tile row, tile column, image in the
// group): the lanes of every vector are the eight images of a group at the same tile, so a tile's
// 2-D transforms are plain vector arithmetic (no per-tile gathers or transposes), every tile of
// a vector has the same border, and a task is `rows` tile rows of one group (blk = tiles_w *
// rows * 8 columns of V and M). Each input row is transposed into lanes once per task (the 6-row
// band its tiles read, 8x8 transposes) and each output row once back (with the residual sum, relu
// and the stores as 8-wide image rows). The earlier host path put eight consecutive tiles in a
// vector (each tile's patch gathered from a zero-bordered copy and transposed): a 16x28x28 conv of
// 500 images took 22 ms on 2 threads with it and 9.6 ms with this (README.md, Benchmarks).
template <dims D>
struct group_grid {
  static constexpr int tiles_h = tile_grid<D>::tiles_h, tiles_w = tile_grid<D>::tiles_w;
  // tile rows per task: at least the products' 24-tile register block (small images)
  static constexpr int rows = std::min(tiles_h, (tile_block / lanes + tiles_w - 1) / tiles_w);
  static constexpr index_t blk = index_t(tiles_w) * rows * lanes;  // tiles (columns of V, M) per task
  static constexpr int out_blocks = (D.w + lanes - 1) / lanes;
  static constexpr index_t row_tasks = (tiles_h + rows - 1) / rows;  // per group
  static constexpr index_t stride = index_t(D.c) * blk + plane_pad;  // between V's (or M's) planes
  static index_t tasks(index_t n) { return (n + lanes - 1) / lanes * row_tasks; }
  struct task {  // the first image of its group, the images there (1..8), its first tile row
    index_t img0;
    int imgs, ty0;
    task(index_t n, index_t t)
        : img0(t / row_tasks * lanes), imgs(int(std::min<index_t>(lanes, n - img0))), ty0(int(t % row_tasks) * rows) {}
  };
};

// Columns [S, S + 8) of an image row of W values, zero outside [0, W): loads that stay inside the
// row, the edges shifted in with zeros (S and W are constants, so are the shuffles' indices).
template <int W, int S>
constexpr int segment_lane(int j) {  // where lane j comes from: 0..7 the load, 8 a zero
  const int col = S + j;
  if (col < 0 || col >= W) return lanes;
  if constexpr (W >= lanes) {
    constexpr int at = S < 0 ? 0 : (S > W - lanes ? W - lanes : S);
    return col - at;
  } else {
    return col < 4 ? col : 4 + col - (W - 4);  // two 4-loads: columns 0..3 and W-4..W-1
  }
}
template <class T, int W, int S, std::size_t... J>
inline void row_segment(const T* row, lane_vec<T>& out, std::index_sequence<J...>) {  // out, not a return:
  using vec = lane_vec<T>;                                                             // the ABI of 64-byte values
  using rvec = row_vec<T>;
  const vec zero{};
  if constexpr (S >= W || S + lanes <= 0) {
    out = zero;
  } else if constexpr (S >= 0 && S + lanes <= W) {
    out = *reinterpret_cast<const vec*>(row + S);
  } else if constexpr (W >= lanes) {
    constexpr int at = S < 0 ? 0 : (S > W - lanes ? W - lanes : S);
    out = __builtin_shufflevector(*reinterpret_cast<const vec*>(row + at), zero, segment_lane<W, S>(int(J))...);
  } else if constexpr (W >= 4) {
    const vec both = __builtin_shufflevector(*reinterpret_cast<const rvec*>(row),
                                             *reinterpret_cast<const rvec*>(row + W - 4), 0, 1, 2, 3, 4, 5, 6, 7);
    out = __builtin_shufflevector(both, zero, segment_lane<W, S>(int(J))...);
  } else {
    out = zero;
    for (int j = 0; j < lanes; ++j)
      if (S + j >= 0 && S + j < W) out[j] = row[S + j];
  }
}

// The first R values of v (or all eight) to p; v += the first R values at p (R a constant; from
// R = 4 on whole 4-vectors, overlapping where R is not 4 or 8).
template <int R, class T>
inline void store_first(T* p, const lane_vec<T>& v) {
  if constexpr (R == lanes) {
    *reinterpret_cast<lane_vec<T>*>(p) = v;
  } else if constexpr (R >= 4) {
    *reinterpret_cast<row_vec<T>*>(p) = __builtin_shufflevector(v, v, 0, 1, 2, 3);
    if constexpr (R > 4)
      *reinterpret_cast<row_vec<T>*>(p + R - 4) = __builtin_shufflevector(v, v, R - 4, R - 3, R - 2, R - 1);
  } else {
    for (int j = 0; j < R; ++j) p[j] = v[j];
  }
}
template <int R, class T>
inline void add_first(const T* p, lane_vec<T>& v) {
  lane_vec<T> r;
  row_segment<T, R, 0>(p, r, std::make_index_sequence<lanes>{});
  v += r;
}

// The 36 transformed planes (36, D.c, blk) (padded) of task `task` (group g, tile rows ty0 ..
// ty0 + rows - 1; columns of rows past the image zero) of z (D.c, n, h, w): each tile's R x R
// patch at rows and columns 4 t + Off .. 4 t + Off + R - 1 (zero outside the image) taken to 6x6
// by a 1-D transform along its rows and then its columns. Grad false: V = B^T x B (R 6, Off -1,
// the forward's input tiles); true: D = A dy A^T (R 4, Off 0, the output gradient's tiles, for
// the weight gradient).
template <class T, dims D, bool Grad>
void transform_group(const T* z, T* v, index_t n, index_t task) {
  using vec = lane_vec<T>;
  using G = group_grid<D>;
  constexpr int R = Grad ? m : alpha, Off = Grad ? 0 : -1;
  constexpr index_t blk = G::blk, stride = G::stride;
  constexpr int nb = (G::tiles_w * m + R - m + lanes - 1) / lanes;  // 8-column blocks of a band row
  const auto tr = [](const vec* in, vec* out) {  // 6 values from R
    if constexpr (Grad)
      grad_1d<T>(in, 1, out, 1);
    else
      input_1d<T>(in, 1, out, 1);
  };
  const auto [img0, imgs, ty0] = typename G::task(n, task);
  for (index_t c = 0; c < D.c; ++c) {
    const T* src = z + (c * n + img0) * D.plane();
    for (int rr = 0; rr < G::rows; ++rr) {
      const int ty = ty0 + rr;
      T* dst = v + c * blk + index_t(rr) * G::tiles_w * lanes;
      if (ty >= G::tiles_h) {
        for (int xi = 0; xi < positions; ++xi)
          for (int j = 0; j < G::tiles_w * lanes; ++j) dst[xi * stride + j] = T(0);
        continue;
      }
      vec band[R][nb * lanes];  // [row of the tiles' patches][column - Off], lanes: the images
      for (int i = 0; i < R; ++i) {
        const int yy = ty * m + Off + i;
        if ((Off < 0 && yy < 0) || yy >= D.h) {
          for (int j = 0; j < nb * lanes; ++j) band[i][j] = vec{};
          continue;
        }
        [&]<std::size_t... B>(std::index_sequence<B...>) {
          (
              [&] {
                vec seg[lanes];
                for (int k = 0; k < lanes; ++k) {
                  if (k < imgs) {
                    row_segment<T, D.w, int(B) * lanes + Off>(src + k * D.plane() + yy * D.w, seg[k],
                                                              std::make_index_sequence<lanes>{});
                  } else {
                    seg[k] = vec{};
                  }
                }
                transpose8<T>(seg, band[i] + B * lanes);
              }(),
              ...);
        }(std::make_index_sequence<nb>{});
      }
      for (int tx = 0; tx < G::tiles_w; ++tx) {
        vec r[R][alpha];
        for (int i = 0; i < R; ++i) tr(band[i] + tx * m, r[i]);  // along the rows
        for (int j = 0; j < alpha; ++j) {
          vec col[R], out[alpha];
          for (int i = 0; i < R; ++i) col[i] = r[i][j];
          tr(col, out);  // along the columns
          for (int i = 0; i < alpha; ++i)
            *reinterpret_cast<vec*>(dst + (alpha * i + j) * stride + tx * lanes) = out[i];
        }
      }
    }
  }
}
// V (36, in, blk) (planes padded) <- B^T d B for task `task` of x (in, n, h, w).
template <class T, dims In>
void input_group(const T* x, T* v, index_t n, index_t task) {
  transform_group<T, In, false>(x, v, n, task);
}
// D (36, out, blk) (planes padded as M) <- A dy A^T for the 4x4 output tiles of task `task` of dy
// (out, n, h, w), in input_group's column order: the weight gradient's transformed output gradient.
template <class T, dims Out>
void grad_group(const T* dy, T* d, index_t n, index_t task) {
  transform_group<T, Out, true>(dy, d, n, task);
}

// y (out, n, h, w) <- act((A^T M A + bias) * scale + shift + res) for task `task`; bias, scale,
// shift, res optional (null).
template <class T, dims Out>
void output_group(const T* mm, T* y, index_t n, index_t task, const T* bias, const T* scale, const T* shift, bool act,
                  const T* res) {
  using vec = lane_vec<T>;
  using G = group_grid<Out>;
  constexpr index_t blk = G::blk, stride = G::stride;
  constexpr int nb = G::out_blocks;
  const auto [img0, imgs, ty0] = typename G::task(n, task);
  const bool early = act && !res;  // relu now, or after the residual sum
  vec band[m][nb * lanes];  // [output row][column], lanes: the images; columns from tiles_w * 4 on unused
  for (int i = 0; i < m; ++i)
    for (int j = G::tiles_w * m; j < nb * lanes; ++j) band[i][j] = vec{};
  for (index_t c = 0; c < Out.c; ++c) {
    const T b = bias ? bias[c] : T(0), sc = scale ? scale[c] : T(1), sh = shift ? shift[c] : T(0);
    T* yc = y + (c * n + img0) * Out.plane();
    const T* rc = res ? res + (c * n + img0) * Out.plane() : nullptr;
    for (int rr = 0; rr < G::rows && ty0 + rr < G::tiles_h; ++rr) {
      const int ty = ty0 + rr;
      const T* src = mm + c * blk + index_t(rr) * G::tiles_w * lanes;
      for (int tx = 0; tx < G::tiles_w; ++tx) {
        vec t[m][alpha];
        for (int j = 0; j < alpha; ++j) {
          vec col[alpha], o[m];
          for (int i = 0; i < alpha; ++i)
            col[i] = *reinterpret_cast<const vec*>(src + (alpha * i + j) * stride + tx * lanes);
          output_1d<T>(col, 1, o, 1);
          for (int i = 0; i < m; ++i) t[i][j] = o[i];
        }
        for (int i = 0; i < m; ++i) {
          vec o[m];
          output_1d<T>(t[i], 1, o, 1);
          for (int j = 0; j < m; ++j) {
            const vec val = (o[j] + b) * sc + sh;
            band[i][tx * m + j] = early ? (val <= T(0) ? T(0) : val) : val;
          }
        }
      }
      const int rows = std::min(m, Out.h - ty * m);
      for (int i = 0; i < rows; ++i) {
        const index_t at = index_t(ty * m + i) * Out.w;
        [&]<std::size_t... B>(std::index_sequence<B...>) {
          (
              [&] {
                constexpr int r = std::min<int>(lanes, Out.w - int(B) * lanes);  // columns of this block
                vec rowv[lanes];
                transpose8<T>(band[i] + B * lanes, rowv);
                for (int k = 0; k < imgs; ++k) {
                  vec val = rowv[k];
                  if (rc) {
                    add_first<r>(rc + k * Out.plane() + at + B * lanes, val);
                    if (act) val = val <= T(0) ? T(0) : val;
                  }
                  store_first<r>(yc + k * Out.plane() + at + B * lanes, val);
                }
              }(),
              ...);
        }(std::make_index_sequence<nb>{});
      }
    }
  }
}

// acc_xi (out, in) += sum over `tasks` consecutive tasks of D_xi (out, blk) V_xi (in, blk)^T, for
// one position xi (D, V: each task's 36 planes padded as M's, V's, the tasks one after another):
// register blocks of 4 output x 2 input channels, 8 accumulators over all the tasks' columns,
// whose lanes are added at the end by one 8x8 transpose, in the same order every time.
template <class T>
void weight_product(const T* d, const T* v, T* acc, index_t out, index_t in, index_t blk, index_t tasks, int xi) {
  using vec = lane_vec<T>;
  const index_t dplane = out * blk + plane_pad, vplane = in * blk + plane_pad;
  const T* dp = d + xi * dplane;  // position xi's planes of the first task
  const T* vp = v + xi * vplane;
  T* ap = acc + index_t(xi) * out * in;
  for (index_t o = 0; o < out; o += 4)
    for (index_t c = 0; c < in; c += 2) {
      vec a[8] = {};
      for (index_t t = 0; t < tasks; ++t) {
        const T* dt = dp + t * positions * dplane + o * blk;
        const T* vt = vp + t * positions * vplane + c * blk;
        for (index_t k = 0; k < blk; k += lanes) {
          const vec v0 = *reinterpret_cast<const vec*>(vt + k);
          const vec v1 = *reinterpret_cast<const vec*>(vt + blk + k);
#pragma GCC unroll 4
          for (int r = 0; r < 4; ++r) {
            const vec dr = *reinterpret_cast<const vec*>(dt + r * blk + k);
            a[2 * r] += dr * v0;
            a[2 * r + 1] += dr * v1;
          }
        }
      }
      vec tr[8];
      transpose8<T>(a, tr);
      const vec sum = ((tr[0] + tr[1]) + (tr[2] + tr[3])) + ((tr[4] + tr[5]) + (tr[6] + tr[7]));
      for (int r = 0; r < 4; ++r) {
        ap[(o + r) * in + c] += sum[2 * r];
        ap[(o + r) * in + c + 1] += sum[2 * r + 1];
      }
    }
}
// The weight gradient's chunk buffers (x's and dy's transformed tiles), one per calling thread,
// shared by every conv (layers run one after another): a net holds the largest layer's buffers
// rather than each layer its own (resnet56's training: a few MB instead of about 170).
template <class T>
std::vector<T>& weight_gradient_scratch() {
  thread_local std::vector<T> s;
  return s;
}
#else
inline constexpr bool host_vectors = false;
inline constexpr int lanes = 1;
// not used without vector extensions
template <class T>
void product_host(const T*, const T*, T*, index_t, index_t, index_t);
template <dims D>
struct group_grid {
  static constexpr index_t blk = 0;
  static index_t tasks(index_t) { return 0; }
};
template <class T, dims In>
void input_group(const T*, T*, index_t, index_t);
template <class T, dims Out>
void output_group(const T*, T*, index_t, index_t, const T*, const T*, const T*, bool, const T*);
template <class T, dims Out>
void grad_group(const T*, T*, index_t, index_t);
template <class T>
void weight_product(const T*, const T*, T*, index_t, index_t, index_t, index_t, int);
template <class T>
std::vector<T>& weight_gradient_scratch();
#endif

}  // namespace basin::detail::winograd
