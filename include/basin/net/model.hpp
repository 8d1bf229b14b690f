// basin/net/model.hpp — a network bound to a scalar and a backend, with its buffers.
//
//   basin::model<basin::resnet20<basin::fashion_input>, float, basin::backend::host> m(seed);
//
// All parameters live in one flat buffer `params` described by the compile-time table
// `param_table` (offset, shape, kind, owning layer of every tensor, in PyTorch state_dict order);
// the gradient `grads` and every direction, optimizer state or Hessian vector are buffers of
// the same length. Batch-norm running statistics live in `state`, described by `state_table`.
#pragma once

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "basin/backend/host.hpp"
#include "basin/core/error.hpp"
#include "basin/core/memory.hpp"
#include "basin/net/network.hpp"

namespace basin {

namespace detail {
// t (c, n, p) <- x (n, c, p). (Outside model: see detail::add in layers/residual.hpp.)
template <class B, class T>
void nchw_to_cnhw(const T* x, T* t, index_t n, index_t C, index_t P) {
  B::for_each_index(n * C * P, [=] BASIN_HD(index_t i) {
    const index_t p = i % P, img = i / P % n, c = i / (P * n);
    t[i] = x[(img * C + c) * P + p];
  });
}
// x (n, c, p) <- t (c, n, p).
template <class B, class T>
void cnhw_to_nchw(const T* t, T* x, index_t n, index_t C, index_t P) {
  B::for_each_index(n * C * P, [=] BASIN_HD(index_t i) {
    const index_t p = i % P, c = i / P % C, img = i / (P * C);
    x[i] = t[(c * n + img) * P + p];
  });
}
}  // namespace detail

template <class Net, class T = float, class B = backend::host>
class model {
 public:
  using network_type = Net;
  using scalar = T;
  using backend_type = B;
  using body_type = typename Net::template bind<T, B>;
  template <class U>
  using vector = typename B::template vector<U>;

  static constexpr dims in = Net::in, out = body_type::out;
  // A classifier ends with flat logits (out.h == out.w == 1): `classes` of them per image, which
  // train, evaluate, sweep and the Hessian require (they static_assert flat_output). A GAN's
  // generator ends with an image instead (transposed convs, tanh): its output is (c, n, h, w).
  static constexpr bool flat_output = out.h == 1 && out.w == 1;
  static constexpr int classes = out.c;
  static constexpr auto param_table = body_type::params();
  static constexpr auto state_table = body_type::state();
  static constexpr index_t n_params = body_type::n_params, n_state = body_type::n_state;

  vector<T> params, grads, state;  // (n_params), (n_params), (n_state)

  // Ensures parameters initialized from seed (Kaiming-normal convs, PyTorch-default dense,
  // batch-norm gamma 1, beta 0, running mean 0, var 1).
  explicit model(std::uint64_t seed = 0)
      : params(std::size_t(n_params)), grads(std::size_t(n_params)), state(std::size_t(n_state)) {
    initialize(seed);
  }
  model(const model&) = delete;
  model& operator=(const model&) = delete;

  void initialize(std::uint64_t seed) {
    body_type::init(backend::raw(params), backend::raw(state), seed, stream::init << 32);
    batches_tracked = 0;
  }

  static std::string architecture() { return Net::name(); }

  // Allocates activations for batches of up to n images; forward calls it as needed. Buffers
  // that grow move, so a forward before it is forgotten (backward then needs a new forward).
  void reserve(index_t n) {
    if (n > reserved || n > body.reserved) {  // growing: checked, and the buffers move
      check_batch(n, "model::reserve", false);
      last_x = nullptr;
    }
    body.reserve(n);
    reserve_io(n);
  }
  // Allocates only what infer and stage_basis / infer_staged use for batches of up to n images
  // (chain_impl::reserve_infer): no gradient buffers, no activations that fusion skips. infer
  // calls it as needed. Growing forgets a forward before it, as reserve does.
  void reserve_infer(index_t n) {
    if (n > reserved || n > body.reserved_infer) {  // growing: checked, and the buffers move
      check_batch(n, "model::reserve_infer", true);
      last_x = nullptr;
    }
    body.reserve_infer(n);
    reserve_io(n);
  }

  // Frees every buffer sized by the batch: the activations and their gradients that training at
  // a large batch leaves behind, the input's copy, the staged first-layer outputs. Parameters,
  // gradients, state and settings stay; the next forward or infer allocates for its own batch
  // (train_resumable and load_or_train call it once they have trained: what follows, a sweep say,
  // holds only its own batch's buffers).
  // backward and infer_staged need a forward or stage_basis after it.
  void release_buffers() {
    body.release();
    for (auto* v : {&logits_, &x_cnhw, &dx_cnhw, &basis_out}) detail::free_buffer(*v);
    reserved = last_n = staged_n = 0;
    staged_k = 0;
    last_x = nullptr;
  }

  // Requires x (n, c, h, w) in backend memory, alive until backward; n >= 1.
  // Ensures the logits (classes, n) in backend memory are returned (an image output: (c, n, h, w));
  // train mode updates the batch-norm running statistics.
  // A forward that throws part-way (a batch norm refusing one value per channel) leaves nothing
  // for backward to go back through.
  const T* forward(const T* x, index_t n, mode m) {
    require(n >= 1, "model::forward: batch size must be at least 1, got ", n);
    require(x != nullptr, "model::forward: the input x is a null pointer");
    x = entry(x, n);
    last_x = nullptr;
    T* y = backend::raw(logits_);
    body.forward(backend::raw(params), backend::raw(state), x, y, n, m);
    last_x = x;
    last_n = n;
    if (m == mode::train) ++batches_tracked;
    return y;
  }

  // Eval-mode forward through the fused inference path (see chain_impl::infer): the same logits
  // as forward(x, n, mode::eval) with fewer passes over memory. Not followed by backward.
  const T* infer(const T* x, index_t n) {
    require(n >= 1, "model::infer: batch size must be at least 1, got ", n);
    require(x != nullptr, "model::infer: the input x is a null pointer");
    x = entry(x, n, true);
    last_x = nullptr;
    T* y = backend::raw(logits_);
    body.infer(backend::raw(params), backend::raw(state), x, y, n);
    return y;
  }

  // Points of a plane theta = c_0 basis_0 + c_1 basis_1 + c_2 basis_2 (e.g. the origin and two
  // directions) share the first layer's work: stage_basis computes its output for each basis
  // vector on batch x (n images) once, then infer_staged(coef) gives the logits at the point
  // whose buffers are in params and state now, whose parameters must equal sum_j coef_j basis_j.
  // Requires a network whose first layer is a conv; k in 1..3 params-shaped buffers.
  static constexpr bool stages_first_layer = body_type::linear_first;
  void stage_basis(const T* x, index_t n, const T* const* basis, int k) {
    require(n >= 1 && k >= 1 && k <= 3, "model::stage_basis: need n >= 1 and 1..3 basis vectors, got n = ", n,
            ", k = ", k);
    require(x != nullptr && basis != nullptr, "model::stage_basis: the input x or the basis list is a null pointer");
    for (int j = 0; j < k; ++j)
      require(basis[j] != nullptr, "model::stage_basis: basis vector ", j, " is a null pointer");
    x = entry(x, n, true);
    last_x = nullptr;  // the input's copy is this batch now: nothing to go back through
    if (index_t(basis_out.size()) < 3 * n * body_type::first_size)
      basis_out.resize(std::size_t(3 * n * body_type::first_size));
    for (int j = 0; j < k; ++j) body.first_output(basis[j], x, backend::raw(basis_out) + j * n * body_type::first_size, n);
    staged_n = n;
    staged_k = k;
  }
  // Overwrites the activations and the batch norms' statistics: a forward before it is
  // forgotten (backward then refuses).
  const T* infer_staged(const T* coef) {
    require(staged_n > 0, "model::infer_staged: call stage_basis first");
    require(coef != nullptr, "model::infer_staged: the coefficients are a null pointer");
    for (int j = 0; j < staged_k; ++j)
      require(std::isfinite(double(coef[j])), "model::infer_staged: coef[", j, "] = ", coef[j],
              ", expected a finite coefficient");
    last_x = nullptr;
    const index_t n = staged_n;
    const T* z[3] = {backend::raw(basis_out), backend::raw(basis_out) + n * body_type::first_size,
                     backend::raw(basis_out) + 2 * n * body_type::first_size};
    T* y = backend::raw(logits_);
    body.infer_combined(backend::raw(params), backend::raw(state), z, coef, staged_k, y, n);
    return y;
  }

  // f(impl) for every layer implementation of the network (groups and their children).
  template <class F>
  void for_each_layer(F&& f) {
    body.for_each_layer(f);
  }
  // Sets the weight of the newest batch in every batch norm's running statistics.
  // Throws basin::error unless momentum is in [0, 1] (NaN or 3 turned the running statistics NaN
  // or negative, and eval logits NaN).
  void set_batch_norm_momentum(double momentum) {
    require(std::isfinite(momentum) && momentum >= 0 && momentum <= 1,
            "model::set_batch_norm_momentum: momentum = ", momentum, ", expected a number in [0, 1]");
    for_each_layer([&](auto& l) {
      if constexpr (detail::is_batch_norm_v<std::remove_cvref_t<decltype(l)>>) l.momentum = momentum;
    });
  }

  // The scale invariance that batch norm gives (Li et al. 2018, sec. 3; Dinh et al. 2017):
  // multiplies every conv (not a transposed conv) that feeds a batch norm directly (its weights
  // and bias) by k > 0, and that batch norm's running mean by k and running variance by k^2. The
  // network computes the same function: in train mode the batch statistics scale alike, in eval
  // mode it normalizes by sqrt(var + eps / k^2) instead of sqrt(var + eps) (eps = 1e-5, a
  // relative change of the order of eps / var). Its weights, though, are k times larger: a 1-D or 2-D plot along a
  // random direction without normalization looks k times wider, a filter-normalized one is unchanged (the direction's
  // filters scale with the weights'). Other weights (a dense layer, a conv followed by anything else) are left alone.
  // Returns how many convs were rescaled. throws: basin::error for k not finite and positive, or when such a conv has
  // quantized weights
  //   (scaling them would leave their grid); the model is then unchanged.
  int rescale_before_batch_norm(double k) {
    require(std::isfinite(k) && k > 0, "model::rescale_before_batch_norm: the factor must be finite and positive, got ",
            k);
    std::vector<T> w(static_cast<std::size_t>(n_params)), s(static_cast<std::size_t>(n_state));
    B::download(backend::raw(params), n_params, w.data());
    B::download(backend::raw(state), n_state, s.data());
    int count = 0;
    auto scale = [&](index_t conv_off, index_t conv_n, index_t bn_off, index_t channels, bool quantized) {
      require(!quantized, "model::rescale_before_batch_norm: the conv at parameter offset ", conv_off,
              " has quantized weights, which scaling would move off their grid");
      // A factor past what T holds (weights or statistics that overflow, a variance that falls
      // to 0) would change the function: refused, the model unchanged (nothing is uploaded yet).
      const auto scaled = [&](T& v, double by, const char* what, index_t at) {
        const double before = double(v);
        v = T(before * by);
        require(std::isfinite(double(v)) && (before == 0 || v != T(0)), "model::rescale_before_batch_norm: the factor ",
                k, " turns ", what, " ", at, " from ", before, " into ", double(v),
                " in this scalar type (the model is unchanged)");
      };
      for (index_t i = 0; i < conv_n; ++i) scaled(w[std::size_t(conv_off + i)], k, "parameter", conv_off + i);
      for (index_t c = 0; c < channels; ++c) {
        scaled(s[std::size_t(bn_off + c)], k, "running statistic", bn_off + c);
        scaled(s[std::size_t(bn_off + channels + c)], k * k, "running statistic", bn_off + channels + c);
      }
      ++count;
    };
    body_type::for_each_conv_bn(0, 0, scale);
    B::upload(w.data(), n_params, backend::raw(params));
    B::upload(s.data(), n_state, backend::raw(state));
    return count;
  }

  // f(layer, k) for every weight-bearing layer (conv, dense), k the index of its weight tensor
  // among the parameter table's weight tensors (the same depth-first order).
  template <class F>
  void for_each_weight_layer(F&& f) {
    std::size_t k = 0;
    for_each_layer([&](auto& l) {
      if constexpr (requires { typename std::remove_cvref_t<decltype(l)>::store_type; }) f(l, k++);
    });
  }
  // Every 3x3, stride-1 conv: forward by Winograd (on, the default) or im2col + GEMM (off,
  // more precise in float; see layers/winograd.hpp).
  void set_winograd(bool on) {
    for_each_layer([on](auto& l) {
      if constexpr (requires { l.use_winograd; }) l.use_winograd = on;
    });
  }
  // On a GPU: every 3x3 conv's Winograd in one kernel (on, the default, where the channels allow)
  // or as separate transform kernels around a strided-batched cuBLAS GEMM (off).
  void set_fused_winograd(bool on) {
    for_each_layer([on](auto& l) {
      if constexpr (requires { l.use_fused; }) l.use_fused = on;
    });
  }
  // On a GPU: every other conv with channels in eights and filters in sixteens (the resnets'
  // stride-2 convs and projections) as one direct kernel (on, the default) or as im2col + a cuBLAS
  // GEMM + an epilogue (off); see layers/direct_conv.hpp.
  void set_direct_kernels(bool on) {
    for_each_layer([on](auto& l) {
      if constexpr (requires { l.use_direct_kernel; }) l.use_direct_kernel = on;
    });
  }
  // On a GPU: the one-kernel Winograd's register block, an index into
  // detail::winograd::fused_variants (0, the default: 2 filters x 4 tiles a thread; 1: 4 x 4;
  // 2: 8 x 8; 3: 8 x 8 with 32 filters a block; 4 and 5: 0 and 2 with the input staged by rows
  // where the shape allows). Convs a variant does not suit keep the default.
  void set_fused_variant(int v) {
    if (v < 0 || v >= detail::winograd::n_fused_variants)
      fail("model::set_fused_variant: expected a variant in [0, ", detail::winograd::n_fused_variants, "), got ", v);
    for_each_layer([v](auto& l) {
      if constexpr (requires { l.fused_variant; }) l.fused_variant = v;
    });
  }
  // Whether layer L is a conv that runs the one-kernel Winograd on this backend.
  template <class L>
  static constexpr bool runs_fused = requires { requires std::remove_cvref_t<L>::fused_shape; };
  // On a GPU: the next forward (or infer, infer_staged) times every register block of the one
  // kernel for each 3x3 conv, on that conv's own input and batch, and keeps the fastest for it,
  // as PyTorch's cudnn.benchmark does; variants differ only in rounding. Sweeps (loss_accuracy)
  // tune at their first pass. A no-op on backends without block kernels (the host).
  void tune_fused_variants() {
    for_each_layer([](auto& l) {
      if constexpr (runs_fused<decltype(l)>) l.tune_fused = true;
    });
  }
  // Every conv that runs the one kernel: its input and output shapes, the variant it uses, and
  // each variant's time per call in milliseconds where tuned (negative: does not apply).
  struct fused_choice {
    dims in, out;
    int variant;
    std::vector<double> ms;
  };
  std::vector<fused_choice> fused_choices() {
    std::vector<fused_choice> c;
    for_each_layer([&](auto& l) {
      using L = std::remove_cvref_t<decltype(l)>;
      if constexpr (runs_fused<L>) c.push_back({L::in, L::out, l.fused_variant, l.tuned_ms});
    });
    return c;
  }
  // Every layer with binary weights: accumulation by sign selection (on) or the float kernels on
  // the +-s values (off, the default).
  void set_sign_select(bool on) {
    for_each_layer([on](auto& l) {
      if constexpr (requires { l.use_sign_select; }) l.use_sign_select = on;
    });
  }
  // Layers of quantized weight types (weights::binary, weights::integer<b>) without a grid take it
  // from their weights as they are now, as their first forward would; layers with one keep it. A
  // sweep calls this at its origin, so that every point, in whatever order, resumed or not, is
  // computed on the origin's grids. Returns the grids as text (delta, lo, hi of each quantized
  // layer, full precision; empty without one).
  std::string fix_weight_grids() {
    std::vector<index_t> offsets;
    for (const auto& d : param_table)
      if (d.kind == param_kind::weight) offsets.push_back(d.offset);
    std::string grids;
    for_each_weight_layer([&](auto& l, std::size_t k) {
      using L = std::remove_cvref_t<decltype(l)>;
      if constexpr (L::quantized) {
        if (!l.store.packed.has_grid())
          l.store.packed.pack(backend::raw(params) + offsets.at(k), L::params()[0].size());
        const auto& g = l.store.packed.grid();
        char b[96];
        std::snprintf(b, sizeof b, "%s%.17g,%.17g,%.17g", grids.empty() ? "" : ";", g.delta, g.lo, g.hi);
        grids += b;
      }
    });
    return grids;
  }

  // Requires a forward pass just before; dlogits (classes, n) in backend memory (an image output:
  // dL/dy (c, n, h, w)).
  // Ensures grads = dL/dparams and, when dx is given, dx = dL/dx (n, c, h, w): the gradient with
  // respect to the input, e.g. a GAN discriminator's, through which the generator learns.
  void backward(const T* dlogits, T* dx = nullptr) {
    require(last_x != nullptr, "model::backward: call forward first");
    require(dlogits != nullptr, "model::backward: the gradient dlogits is a null pointer");
    T* dxb = nullptr;
    if (dx) {
      if constexpr (in.c > 1) {
        if (index_t(dx_cnhw.size()) < last_n * in.size()) dx_cnhw.resize(std::size_t(last_n * in.size()));
        dxb = backend::raw(dx_cnhw);
      } else {
        dxb = dx;
      }
    }
    body.backward(backend::raw(params), backend::raw(grads), last_x, backend::raw(logits_), dlogits, dxb, last_n);
    if constexpr (in.c > 1)
      if (dx) detail::cnhw_to_nchw<B>(dxb, dx, last_n, in.c, in.plane());
  }

  // PyTorch state_dict names of the parameter and state tensors, in table order.
  static std::vector<std::string> parameter_names() { return names(false); }
  static std::vector<std::string> state_names() { return names(true); }

  // A hash of the architecture: names, shapes and kinds of all tensors and the input shape.
  static std::uint64_t fingerprint() {
    std::uint64_t h = 1469598103934665603ull;
    const auto mix = [&](std::uint64_t v) {
      for (int b = 0; b < 8; ++b) h = (h ^ ((v >> (8 * b)) & 0xff)) * 1099511628211ull;
    };
    const auto mix_table = [&](const auto& table, const std::vector<std::string>& nm) {
      for (std::size_t i = 0; i < table.size(); ++i) {
        for (char c : nm[i]) mix(std::uint64_t(std::uint8_t(c)));
        mix(std::uint64_t(table[i].kind));
        for (int a = 0; a < table[i].rank; ++a) mix(std::uint64_t(table[i].extent[a]));
      }
    };
    mix(std::uint64_t(in.c)), mix(std::uint64_t(in.h)), mix(std::uint64_t(in.w));
    mix_table(param_table, parameter_names());
    mix_table(state_table, state_names());
    return h;
  }

  // The bound layers, read-only: their buffers and children (tests look at what is reserved).
  const body_type& bound() const { return body; }

  std::int64_t batches_tracked = 0;  // train-mode forward passes: PyTorch's num_batches_tracked

 private:
  static std::vector<std::string> names(bool state_names) {
    std::vector<std::string> p, s;
    body_type::names("", p, s);
    return state_names ? s : p;
  }

  // Refuses a batch whose buffers cannot exist: n times the values of every layer's output (a
  // lower bound of what reserve allocates) overflowing index_t (sizes wrapped, small buffers,
  // writes past them), or, in host memory, more bytes than the machine has left (std::bad_alloc,
  // or the kernel's OOM killer when the pages are touched).
  // (The inference path keeps only the outputs it writes: chain_impl::infer_writes.)
  static constexpr index_t values_per_image(bool inference) {
    index_t s = body_type::shapes[0].size();
    for (std::size_t i = 0; i + 1 < body_type::shapes.size(); ++i)
      if (!inference || i + 1 == body_type::shapes.size() - 1 || body_type::infer_writes[i])
        s += body_type::shapes[i + 1].size();
    return s;
  }
  static void check_batch(index_t n, const char* fn, bool inference) {
    constexpr index_t all = values_per_image(false);
    require(n <= std::numeric_limits<index_t>::max() / 64 / all, fn, ": batch size n = ", n,
            " overflows the sizes of its buffers (", all, " values an image)");
    if constexpr (requires { B::host_memory; })
      detail::require_memory(double(n) * double(values_per_image(inference)) * double(sizeof(T)),
                             text(fn, ": batch size n = ", n, ", whose layers' outputs alone"));
  }
  // The logits and the input's copy for n images.
  void reserve_io(index_t n) {
    if (n > reserved) {
      logits_.resize(std::size_t(out.size() * n));
      if constexpr (in.c > 1) x_cnhw.resize(std::size_t(n * in.size()));
      reserved = n;
    }
  }
  // The input in the layers' (c, n, h, w) order, after reserving forward's buffers (or the
  // inference path's only).
  const T* entry(const T* x, index_t n, bool inference = false) {
    if (inference)
      reserve_infer(n);
    else
      reserve(n);
    if constexpr (in.c > 1) {
      T* t = backend::raw(x_cnhw);
      detail::nchw_to_cnhw<B>(x, t, n, in.c, in.plane());
      return t;
    }
    return x;
  }

  body_type body;
  vector<T> logits_, x_cnhw, dx_cnhw;  // the output (out.c, n, out.h, out.w), (c, n, h, w), (c, n, h, w)
  vector<T> basis_out;        // (k, first layer's output for n images): stage_basis
  index_t staged_n = 0;
  int staged_k = 0;
  const T* last_x = nullptr;
  index_t last_n = 0, reserved = 0;
};

}  // namespace basin
