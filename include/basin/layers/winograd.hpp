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
// from double by 2.6e-3 (train mode) instead of 5e-7 (measured; README.md, "Architecture").
// The backward pass keeps im2col + GEMM.
#pragma once

#include "basin/core/shape.hpp"

namespace basin::detail::winograd {

inline constexpr int alpha = 6, m = 4, positions = alpha * alpha;  // 6x6 transformed tiles, 4x4 outputs
inline constexpr int tile_block = 16, out_block = 4;             // the product's register block
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

// dst (Out.h x Out.w plane, at the tile's corner (y0, x0)) <- r[(4 i + j) * sr], cropped.
template <class T, dims Out>
BASIN_HD inline void store_tile(const T* r, int sr, T* dst, int y0, int x0) {
  for (int i = 0; i < m && y0 + i < Out.h; ++i)
    for (int j = 0; j < m && x0 + j < Out.w; ++j) dst[i * Out.w + j] = r[(m * i + j) * sr];
}

// U (36, out, in) <- G g G^T for every filter g = w[o, i] (out, in, 3, 3). One call per (o, i).
template <class T>
struct filter_fn {
  const T* w;
  T* u;
  index_t out, in;
  BASIN_HD void operator()(index_t oi) const {
    const T* g = w + oi * 9;
    T tmp[alpha * 3], r[positions];
    for (int j = 0; j < 3; ++j) filter_1d(g + j, 3, tmp + j, 3);               // columns: tmp (6, 3)
    for (int i = 0; i < alpha; ++i) filter_1d(tmp + 3 * i, 1, r + alpha * i, 1);  // rows: r (6, 6)
    for (int xi = 0; xi < positions; ++xi) u[xi * out * in + oi] = r[xi];
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

// y (out, n, h, w) <- act((A^T M A + bias) * scale + shift) for the tiles [t0, t0 + count) of
// the batch, cropped at the image's edge; bias, scale, shift optional (null). One call per
// (channel, tile).
template <class T, dims Out>
struct output_fn {
  const T* mm;
  T* y;
  index_t n, t0, count, blk;
  const T *bias, *scale, *shift;
  bool act;
  BASIN_HD void operator()(index_t at) const {
    const index_t t = at % count, c = at / count;
    const index_t stride = index_t(Out.c) * blk + plane_pad;
    const T* src = mm + c * blk + t;
    T s[positions], tmp[m * alpha], r[m * m];
    for (int xi = 0; xi < positions; ++xi) s[xi] = src[xi * stride];
    for (int j = 0; j < alpha; ++j) output_1d<T>(s + j, alpha, tmp + j, alpha);  // columns: tmp (4, 6)
    for (int i = 0; i < m; ++i) output_1d<T>(tmp + alpha * i, 1, r + m * i, 1);  // rows: r (4, 4)
    const T b = bias ? bias[c] : T(0), sc = scale ? scale[c] : T(1), sh = shift ? shift[c] : T(0);
    for (int q = 0; q < m * m; ++q) {
      const T v = (r[q] + b) * sc + sh;
      r[q] = act ? (v > T(0) ? v : T(0)) : v;
    }
    const auto p = tile_grid<Out>::at(t0 + t);
    store_tile<T, Out>(r, 1, y + (c * n + p.img) * Out.plane() + p.y * Out.w + p.x, p.y, p.x);
  }
};

#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
// The host's transforms: eight tiles at once in one vector per transformed position (GCC/Clang
// vector extensions), so the arithmetic of B^T d B and A^T M A runs in SIMD registers and V and M
// are read and written in runs of eight. The same results as input_fn and output_fn, which the
// other backends (and other compilers) use.
inline constexpr bool host_vectors = true;
inline constexpr int lanes = 8;

// As input_fn, one call per (channel, group of eight columns).
template <class T, dims In>
struct input_lanes_fn {
  const T* x;
  T* v;
  index_t n, t0, count, blk;
  void operator()(index_t at) const {
    typedef T vec __attribute__((vector_size(lanes * sizeof(T)), aligned(alignof(T)), may_alias));
    const index_t groups = blk / lanes, q = at % groups, c = at / groups;
    alignas(64) T d[positions][lanes];
    for (int k = 0; k < lanes; ++k) {
      const index_t t = q * lanes + k;
      if (t >= count) {
        for (int xi = 0; xi < positions; ++xi) d[xi][k] = T(0);
        continue;
      }
      const auto p = tile_grid<In>::at(t0 + t);
      load_patch<T, In>(x + (c * n + p.img) * In.plane(), p.y - 1, p.x - 1, &d[0][k], lanes);
    }
    vec dv[positions], tmp[positions];
    for (int xi = 0; xi < positions; ++xi) dv[xi] = *reinterpret_cast<const vec*>(d[xi]);
    for (int j = 0; j < alpha; ++j) input_1d<T>(dv + j, alpha, tmp + j, alpha);
    for (int i = 0; i < alpha; ++i) input_1d<T>(tmp + alpha * i, 1, dv + alpha * i, 1);
    T* dst = v + c * blk + q * lanes;
    const index_t stride = index_t(In.c) * blk + plane_pad;
    for (int xi = 0; xi < positions; ++xi) *reinterpret_cast<vec*>(dst + xi * stride) = dv[xi];
  }
};

// As output_fn, one call per (channel, group of eight tiles).
template <class T, dims Out>
struct output_lanes_fn {
  const T* mm;
  T* y;
  index_t n, t0, count, blk;
  const T *bias, *scale, *shift;
  bool act;
  void operator()(index_t at) const {
    typedef T vec __attribute__((vector_size(lanes * sizeof(T)), aligned(alignof(T)), may_alias));
    const index_t groups = (count + lanes - 1) / lanes, q = at % groups, c = at / groups;
    const index_t stride = index_t(Out.c) * blk + plane_pad;
    const T* src = mm + c * blk + q * lanes;
    vec s[positions], tmp[m * alpha], r[m * m];
    for (int xi = 0; xi < positions; ++xi) s[xi] = *reinterpret_cast<const vec*>(src + xi * stride);
    for (int j = 0; j < alpha; ++j) output_1d<T>(s + j, alpha, tmp + j, alpha);
    for (int i = 0; i < m; ++i) output_1d<T>(tmp + alpha * i, 1, r + m * i, 1);
    const T b = bias ? bias[c] : T(0), sc = scale ? scale[c] : T(1), sh = shift ? shift[c] : T(0);
    alignas(64) T out[m * m][lanes];
    for (int e = 0; e < m * m; ++e) {
      vec val = (r[e] + b) * sc + sh;
      if (act) val = val > T(0) ? val : T(0);
      *reinterpret_cast<vec*>(out[e]) = val;
    }
    for (int k = 0; k < lanes; ++k) {
      const index_t t = q * lanes + k;
      if (t >= count) break;
      const auto p = tile_grid<Out>::at(t0 + t);
      store_tile<T, Out>(&out[0][k], lanes, y + (c * n + p.img) * Out.plane() + p.y * Out.w + p.x, p.y, p.x);
    }
  }
};
#else
inline constexpr bool host_vectors = false;
inline constexpr int lanes = 1;
template <class T, dims In>
struct input_lanes_fn;  // not used without vector extensions
template <class T, dims Out>
struct output_lanes_fn;
#endif

}  // namespace basin::detail::winograd
