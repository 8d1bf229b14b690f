// basin/weights/packed_tensor.hpp — a quantized layer's weights, packed in backend memory, and
// the kernels that use them.
//
// A packed_tensor holds n weights of one layer on its grid as the bit stream of
// weights/packing.hpp (weight i at bit i * bits, least significant bit first; binary 1 = +s,
// integer levels k + kmax), in 32-bit words: the same bytes a packed checkpoint stores, 1/32 of
// float for binary weights. pack() rounds the model's trainable values onto the grid (Q_d, the
// nearest level; Li et al. 2017 eq. (2)) into the words; unpack() expands the words into the
// grid's values, exactly as quant::unpack does, for the float kernels (Winograd, GEMM) that then
// run unchanged. Binary weights also have a kernel of their own, sign_select_fn, which
// accumulates +x or -x by the weight's bit, with no multiplication, and scales once by s.
//
// The grid of a layer is fixed: set_grid() (a quantized optimizer publishes its grids so), or at
// the first pack from the weights' scale as the quantized optimizer chooses it (binary: s =
// mean |w|; integer: delta = max |w| / (2^(bits-1) - 1); over the finite weights, and kept only
// when that scale is positive: weights all zero or not finite get a grid for that pack alone).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"
#include "basin/layers/common.hpp"
#include "basin/weights/packing.hpp"
#include "basin/weights/quantize.hpp"

namespace basin::weights {

namespace detail {
// words[wi] <- the 32 stream bits of word wi of Q_d(w[0..n)) on grid g: the levels of the
// weights whose bits fall in the word (the first and last may straddle its ends). One call per
// word, so no two calls write the same word.
template <class T>
struct pack_words_fn {
  const T* w;
  std::uint32_t* words;
  index_t n;
  int bits;
  quant::grid g;
  double kmax;
  BASIN_HD void operator()(index_t wi) const {
    const index_t b0 = wi * 32, i0 = b0 / bits, end = (b0 + 32 + bits - 1) / bits, i1 = end < n ? end : n;
    std::uint32_t word = 0;
    for (index_t i = i0; i < i1; ++i) {
      const double v = quant::round_nearest(double(w[i]), g);
      // (a NaN weight gets level 0 here, a defined one; weight_store::use puts the NaN back)
      const std::uint32_t code = g.binary ? (v > 0 ? 1u : 0u)
                                 : v == v ? std::uint32_t(std::round(v / g.delta) + kmax)
                                          : 0u;
      const index_t off = i * bits - b0;  // where the level's lowest bit lies, relative to the word
      word |= off >= 0 ? std::uint32_t(std::uint64_t(code) << off) : code >> -off;
    }
    words[wi] = word;
  }
};

// out[i] <- the grid value of level i in the stream (as quant::unpack computes it).
template <class T>
struct unpack_words_fn {
  const std::uint32_t* words;
  T* out;
  index_t n;
  int bits;
  quant::grid g;
  double kmax;
  BASIN_HD void operator()(index_t i) const {
    const index_t bit = i * bits, w0 = bit / 32;
    const int off = int(bit % 32);
    std::uint64_t pair = words[w0];
    if (off + bits > 32) pair |= std::uint64_t(words[w0 + 1]) << 32;
    const std::uint32_t code = std::uint32_t(pair >> off) & ((std::uint32_t(1) << bits) - 1u);
    out[i] = g.binary ? T(code ? g.hi : g.lo)
                      : T(std::copysign(std::fabs(double(code) - kmax) * g.delta, double(code) - kmax));
  }
};
}  // namespace detail

// y (rows, cols) (row stride ldy) = s * sum_k (+-) c (k, cols) (row stride ldc), the sign of
// row r's k-th term its stream bit r * depth + k: binary weights times a column matrix by
// sign selection. A host call covers 16 columns of one row (line = r * blocks + block); a
// device thread one column (element).
template <class T>
struct sign_select_fn {
  static constexpr index_t block = 16;
  const std::uint32_t* words;
  const T* c;
  T* y;
  index_t depth, cols, ldc, ldy;
  T s;
  BASIN_HD static bool bit(const std::uint32_t* words, index_t b) { return words[b / 32] >> (b % 32) & 1u; }
  BASIN_HD void operator()(index_t line) const {
    const index_t blocks = (cols + block - 1) / block, r = line / blocks, j0 = line % blocks * block;
    if (j0 + block > cols) {  // the ragged last block
      for (index_t j = j0; j < cols; ++j) element(line, j - j0);
      return;
    }
    const T* cr = c + j0;
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
    if constexpr (std::is_same_v<T, float>) {
      // The host's form: flip the sign bit of eight values at once by XOR with the weight's
      // (inverted) bit, then add: no multiplications and no branches.
      typedef float vf __attribute__((vector_size(32), aligned(4), may_alias));
      typedef std::uint32_t vu __attribute__((vector_size(32), aligned(4), may_alias));
      vf acc[block / 8] = {};
      for (index_t k = 0; k < depth; ++k, cr += ldc) {
        const std::uint32_t flip = (~words[(r * depth + k) / 32] >> ((r * depth + k) % 32) & 1u) << 31;
        const vu m = vu{} + flip;
        for (int q = 0; q < block / 8; ++q) acc[q] += (vf)(*reinterpret_cast<const vu*>(cr + 8 * q) ^ m);
      }
      for (int q = 0; q < block / 8; ++q)
        for (int j = 0; j < 8; ++j) y[r * ldy + j0 + 8 * q + j] = s * acc[q][j];
      return;
    }
#endif
    T acc[block] = {};
    for (index_t k = 0; k < depth; ++k, cr += ldc) {
      const bool plus = bit(words, r * depth + k);
      for (int j = 0; j < block; ++j) acc[j] += plus ? cr[j] : -cr[j];
    }
    for (int j = 0; j < block; ++j) y[r * ldy + j0 + j] = s * acc[j];
  }
  BASIN_HD void element(index_t line, index_t p) const {
    const index_t blocks = (cols + block - 1) / block, r = line / blocks, j = line % blocks * block + p;
    if (j >= cols) return;
    T acc = T(0);
    for (index_t k = 0; k < depth; ++k) {
      const T v = c[k * ldc + j];
      acc += bit(words, r * depth + k) ? v : -v;
    }
    y[r * ldy + j] = s * acc;
  }
};

template <class T, class B>
class packed_tensor {
 public:
  // Throws basin::error unless 1 <= bits <= 31 (a level's code and its mask fit 32 bits).
  explicit packed_tensor(int bits = 1) : bits_(bits) {
    require(bits >= 1 && bits <= 31, "packed_tensor: bits = ", bits, ", expected 1 to 31");
  }

  int bits() const { return bits_; }
  bool has_grid() const { return has_grid_; }
  const quant::grid& grid() const { return g_; }
  // Requires a grid of this tensor's bit width (binary for 1 bit).
  void set_grid(const quant::grid& g, const std::string& what) {
    require((bits_ == 1) == g.binary && quant::bits_of(g) == bits_, what, ": the layer's weights are ",
            bits_ == 1 ? std::string("binary") : std::to_string(bits_) + "-bit integers", ", the grid given is ",
            g.binary ? std::string("binary") : std::to_string(quant::bits_of(g)) + "-bit");
    const auto problem = quant::grid_problem(g);  // a positive finite spacing, end points the levels can hold
    require(problem.empty(), what, ": ", problem);
    g_ = g;
    has_grid_ = true;
  }
  // Forgets the grid: the next pack takes one from its weights' scale again.
  void reset_grid() { has_grid_ = false; }

  // The words <- Q_d(w[0..n)). The grid, if not set, from w's scale (see the file comment).
  void pack(const T* w, index_t n) {
    if (!has_grid_) grid_from_scale(w, n);
    n_ = n;
    const index_t nw = (n * bits_ + 31) / 32;
    if (index_t(words_.size()) < nw + 1) words_.resize(std::size_t(nw + 1));  // +1: unpack reads word pairs
    B::for_each_index(nw, detail::pack_words_fn<T>{w, backend::raw(words_), n, bits_, g_, kmax()});
  }
  // out[0..n) <- the grid values of the packed weights.
  void unpack(T* out) const {
    B::for_each_index(n_, detail::unpack_words_fn<T>{backend::raw(words_), out, n_, bits_, g_, kmax()});
  }
  const std::uint32_t* words() const { return backend::raw(words_); }
  index_t size() const { return n_; }
  // Bytes of the packed weights (what a packed checkpoint stores for them).
  index_t bytes() const { return (n_ * bits_ + 7) / 8; }

 private:
  double kmax() const { return g_.binary ? 0.0 : std::round(g_.hi / g_.delta); }
  // The scale from the finite weights only (a NaN or infinite weight passes through to the layer's
  // output, see keep_non_finite_fn); the grid is kept for later packs only when that scale is
  // positive, so a tensor of zeros or of non-finite values gets a grid from its next weights.
  void grid_from_scale(const T* w, index_t n) {
    std::vector<T> h(static_cast<std::size_t>(n));
    B::download(w, n, h.data());
    double big = 0, sum = 0;
    index_t finite = 0;
    for (const T v : h) {
      const double a = std::fabs(double(v));
      if (!std::isfinite(a)) continue;
      big = std::max(big, a);
      sum += a;
      ++finite;
    }
    const double mean = finite > 0 ? sum / double(finite) : 0.0, scale = bits_ == 1 ? mean : big;
    g_ = quant::grid_from_scale(std::max(big, 1e-12), std::max(mean, 1e-12), bits_);
    has_grid_ = std::isfinite(scale) && scale > 0;
  }

  int bits_;
  quant::grid g_{};
  bool has_grid_ = false;
  index_t n_ = 0;
  mutable typename B::template vector<std::uint32_t> words_;
};

}  // namespace basin::weights

namespace basin::detail {
// v[i] <- w[i] where w[i] is not finite: no level of a grid holds NaN or infinity, and a layer
// must not turn them into a grid value (its output, the loss and the trainer's check of it
// see them, as with real weights).
template <class T>
struct keep_non_finite_fn {
  const T* w;
  T* v;
  BASIN_HD void operator()(index_t i) const {
    const T x = w[i];
    if (!(x == x) || x - x != T(0)) v[i] = x;
  }
};

// The quantized-weight part of a weight-bearing layer (conv, dense) of weight type W: nothing
// for real weights; otherwise the packed weights and the layer's parameters with its weights on
// the grid, which its kernels read.
template <class W, class T, class B>
struct weight_store {
  static constexpr bool quantized = false;
  const T* use(const T* w, index_t, index_t) { return w; }
  const T* last(const T* w) const { return w; }
};
template <class W, class T, class B>
  requires weight_traits<W>::quantized
struct weight_store<W, T, B> {
  static constexpr bool quantized = true;
  weights::packed_tensor<T, B> packed{weight_traits<W>::bits};
  typename B::template vector<T> values;
  // w: the layer's parameters, its n_weights weights first; returns them with the weights
  // rounded onto the grid (packed, then unpacked: what the packed form holds, exactly), and
  // weights that are NaN or infinite as they are.
  const T* use(const T* w, index_t n_weights, index_t n_params) {
    if (index_t(values.size()) < n_params) values.resize(static_cast<std::size_t>(n_params));
    packed.pack(w, n_weights);
    T* v = backend::raw(values);
    packed.unpack(v);
    B::for_each_index(n_weights, keep_non_finite_fn<T>{w, v});
    B::copy(n_params - n_weights, w + n_weights, v + n_weights);
    return v;
  }
  // The parameters the last forward used (backward's weights: the straight-through rule).
  const T* last(const T*) const { return backend::raw(values); }
  // Whether the n weights at w (what use() returned) are all finite: sign selection reads the
  // packed levels, in which a NaN or infinite weight became a grid value, so a layer falls back to
  // its float kernels when one is not (one pass over the weights, and a scalar to the host).
  bool all_finite(const T* w, index_t n) {
    if (index_t(count.size()) < 1) count.resize(1);
    B::segmented_reduce(
        1, n, [=] BASIN_HD(index_t, index_t i) { return w[i] == w[i] && w[i] - w[i] == T(0) ? 0.0 : 1.0; },
        backend::raw(count));
    double h = 0;
    B::download(backend::raw(count), 1, &h);
    return h == 0;
  }
  typename B::template vector<double> count;
};
}  // namespace basin::detail
