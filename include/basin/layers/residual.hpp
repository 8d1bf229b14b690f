// basin/layers/residual.hpp — residual blocks: y = branch(x) + shortcut(x).
//
// He, Zhang, Ren, Sun 2016. The shortcut is
//   shortcut::automatic  identity when the branch keeps the shape, else a 1x1 convolution with
//                        the branch's stride (and the weight type of the branch's first conv)
//                        followed by batch_norm (PyTorch module names "shortcut.0",
//                        "shortcut.1", as the reference loss-landscape ResNets);
//   shortcut::identity   identity, and a compile error when the branch changes the shape;
//   shortcut::none       no shortcut at all: y = branch(x), the "plain" nets of Li et al. 2018.
// An optional activation After (e.g. relu, or void for none) is applied to the sum inside the
// block, as PyTorch's BasicBlock does, so blocks keep their positions in nn.Sequential names.
// The branch's own layers are named directly under the block (conv1, bn1, ...).
#pragma once

#include <algorithm>
#include <type_traits>

#include "basin/layers/activation.hpp"
#include "basin/layers/batch_norm.hpp"
#include "basin/layers/conv.hpp"
#include "basin/net/chain.hpp"

namespace basin {

enum class shortcut { automatic, identity, none };

namespace detail {
// z = a + b and y += a, elementwise. Kept out of residual_block: nvcc cannot spell, in its host
// stubs, a device lambda whose enclosing class has named<"..."> among its template arguments.
template <class B, class T>
void add(index_t n, const T* a, const T* b, T* z) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { z[i] = a[i] + b[i]; });
}
template <class B, class T>
void add_relu(index_t n, const T* a, const T* b, T* z) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) {
    const T v = a[i] + b[i];
    z[i] = v <= T(0) ? T(0) : v;
  });
}
template <class B, class T>
void accumulate(index_t n, const T* a, T* y) {
  B::for_each_index(n, [=] BASIN_HD(index_t i) { y[i] += a[i]; });
}

// The weight type of a layer (conv, dense; through named<>), void for others.
template <class L>
struct weights_of {
  using type = void;
};
template <class L>
  requires requires { typename L::layer; L::is_named; }
struct weights_of<L> : weights_of<typename L::layer> {};
template <class L>
  requires requires { typename L::weight_type; }
struct weights_of<L> {
  using type = typename L::weight_type;
};
// The weight type of the first of L... that has one (weights::real when none has).
template <class... L>
struct first_weights {
  using type = weights::real;
};
template <class L0, class... L>
struct first_weights<L0, L...> {
  using type = std::conditional_t<std::is_void_v<typename weights_of<L0>::type>, typename first_weights<L...>::type,
                                  typename weights_of<L0>::type>;
};
}  // namespace detail

template <shortcut S, class After, class... L>
struct residual_block {
  static constexpr dims output(dims in) { return sequential<L...>::output(in); }

  template <dims In, class T, class B>
  struct bind {
    using branch_t = chain<In, T, B, L...>;
    static constexpr dims in = In, out = branch_t::out;
    static constexpr bool same = In == out;
    static_assert(S != shortcut::identity || In.c == out.c,
                  "residual<identity>: the branch ends with a different channel count than its input "
                  "(In.c vs out.c in this message); use shortcut::automatic for a projection");
    static_assert(S != shortcut::identity || (In.h == out.h && In.w == out.w),
                  "residual<identity>: the branch changes the spatial size of its input");
    static constexpr bool project = S == shortcut::automatic && !same;
    // The 1x1 projection's stride: the smallest s with (In - 1) / s + 1 = out in height and width,
    // the size a strided branch gives (7 -> 4 at stride 2, as PyTorch's BasicBlock); 0 if none.
    static constexpr int projection_stride() {
      for (int s = 1; s <= std::max(In.h, In.w); ++s)
        if ((In.h - 1) / s + 1 == out.h && (In.w - 1) / s + 1 == out.w) return s;
      return 0;
    }
    static_assert(!project || projection_stride() > 0,
                  "residual: a projection shortcut needs one stride s that takes the input's height and width to "
                  "the branch's output's, (In - 1) / s + 1 = out");
    static constexpr int stride = project ? projection_stride() : 1;
    struct no_projection {
      static constexpr index_t n_params = 0, n_state = 0, n_leaves = 0;
      static constexpr auto params() { return std::array<tensor_desc, 0>{}; }
      static constexpr auto state() { return std::array<tensor_desc, 0>{}; }
      static void names(const std::string&, std::vector<std::string>&, std::vector<std::string>&) {}
      static void init(T*, T*, std::uint64_t, std::uint64_t) {}
      void reserve(index_t) {}
    };
    // The projection's weights are of the branch's (first conv's) weight type.
    using proj_weights = typename detail::first_weights<L...>::type;
    using proj_t = std::conditional_t<project, chain<In, T, B, conv<out.c, 1, stride, 0, false, proj_weights>, batch_norm>,
                                      no_projection>;

    static constexpr index_t n_params = branch_t::n_params + proj_t::n_params;
    static constexpr index_t n_state = branch_t::n_state + proj_t::n_state;
    static constexpr index_t n_leaves = branch_t::n_leaves + detail::leaves_of<proj_t>();

    template <std::size_t N1, std::size_t N2>
    static constexpr auto cat(const std::array<tensor_desc, N1>& a, std::array<tensor_desc, N2> b, index_t off) {
      std::array<tensor_desc, N1 + N2> t{};
      std::size_t j = 0;
      for (const auto& d : a) t[j++] = d;
      for (auto d : b) {  // range loops: no "i < 0" comparison for an empty shortcut
        d.offset += off;
        d.layer += int(branch_t::n_leaves);
        t[j++] = d;
      }
      return t;
    }
    static constexpr auto params() { return cat(branch_t::params(), proj_t::params(), branch_t::n_params); }
    static constexpr auto state() { return cat(branch_t::state(), proj_t::state(), branch_t::n_state); }

    static void names(const std::string& prefix, std::vector<std::string>& p, std::vector<std::string>& s) {
      branch_t::names(prefix, p, s);
      proj_t::names(join(prefix, "shortcut"), p, s);
    }
    static void init(T* w, T* s, std::uint64_t seed, std::uint64_t stream_id) {
      branch_t::init(w, s, seed, stream_id);
      proj_t::init(w + branch_t::n_params, s + branch_t::n_state, seed, stream_id + branch_t::n_leaves);
    }

    static constexpr bool has_after = !std::is_void_v<After>;
    struct no_after {
      void reserve(index_t) {}
    };
    using after_t = std::conditional_t<has_after, typename std::conditional_t<has_after, After, relu>::template bind<out, T, B>, no_after>;

    branch_t branch;
    proj_t proj;
    after_t after;
    // (out.c, n, out.h, out.w) each: branch output, projected shortcut, sum before After, its gradient
    typename B::template vector<T> branch_out, side, sum, sum_grad;
    typename B::template vector<T> side_grad;  // (in.c, n, in.h, in.w)

    void reserve(index_t n) {
      branch.reserve(n);
      proj.reserve(n);
      after.reserve(n);
      const auto sz = std::size_t(n * out.size());
      if (S != shortcut::none || has_after) branch_out.resize(sz);
      if (S != shortcut::none && has_after) sum.resize(sz);
      if (has_after) sum_grad.resize(sz);
      if (project) {
        side.resize(sz);
        side_grad.resize(std::size_t(n * In.size()));
      }
    }
    // The inference path's buffers only (see infer): none of its own when the sum joins the
    // branch's last conv, else the branch's output and the sum a non-relu After reads.
    static constexpr bool fused_sum =
        S != shortcut::none && branch_t::ends_in_conv_bn && (!has_after || detail::is_relu_v<after_t>);
    void reserve_infer(index_t n) {
      branch.reserve_infer(n);
      detail::reserve_infer_layer(proj, n);
      detail::reserve_infer_layer(after, n);
      const auto sz = std::size_t(n * out.size());
      if (!fused_sum && (S != shortcut::none || has_after)) branch_out.resize(sz);
      if (!fused_sum && S != shortcut::none && has_after && !detail::is_relu_v<after_t>) sum.resize(sz);
      if (project) side.resize(sz);
    }
    void release() {
      detail::release_layer(branch);
      detail::release_layer(proj);
      detail::release_layer(after);
      for (auto* v : {&branch_out, &side, &sum, &sum_grad, &side_grad}) detail::free_buffer(*v);
    }

    // The buffers forward writes: the branch's output and the sum that After reads.
    T* branch_buffer(T* y) { return S == shortcut::none && !has_after ? y : backend::raw(branch_out); }
    T* sum_buffer(T* y) {
      if (!has_after) return y;
      return S == shortcut::none ? backend::raw(branch_out) : backend::raw(sum);
    }

    void forward(const T* w, T* s, const T* x, T* y, index_t n, mode m) {
      T* b = branch_buffer(y);
      branch.forward(w, s, x, b, n, m);
      T* z = sum_buffer(y);
      if constexpr (S != shortcut::none) {
        const T* sc = x;
        if constexpr (project) {
          proj.forward(w + branch_t::n_params, s + branch_t::n_state, x, backend::raw(side), n, m);
          sc = backend::raw(side);
        }
        detail::add<B>(n * out.size(), b, sc, z);
      }
      if constexpr (has_after) after.forward(nullptr, nullptr, z, y, n, m);
    }

    // Eval-mode forward with fusions: the branch's and the projection's conv -> batch_norm
    // (-> relu) fused, and the sum with the activation after it in one pass.
    void infer(const T* w, T* s, const T* x, T* y, index_t n) {
      // A branch ending in conv -> batch_norm takes the shortcut (and the relu after the sum)
      // into that conv's epilogue: one pass over y instead of a separate sum.
      if constexpr (fused_sum) {
        const T* sc = x;
        if constexpr (project) {
          proj.infer(w + branch_t::n_params, s + branch_t::n_state, x, backend::raw(side), n);
          sc = backend::raw(side);
        }
        branch.infer_residual(w, s, x, y, n, sc, has_after);
        return;
      }
      T* b = branch_buffer(y);
      branch.infer(w, s, x, b, n);
      if constexpr (S != shortcut::none) {
        const T* sc = x;
        if constexpr (project) {
          proj.infer(w + branch_t::n_params, s + branch_t::n_state, x, backend::raw(side), n);
          sc = backend::raw(side);
        }
        if constexpr (has_after && detail::is_relu_v<after_t>) {
          detail::add_relu<B>(n * out.size(), b, sc, y);
          return;
        }
        detail::add<B>(n * out.size(), b, sc, sum_buffer(y));
      }
      if constexpr (has_after) detail::infer_layer(after, static_cast<const T*>(nullptr), static_cast<T*>(nullptr), sum_buffer(y), y, n);
    }

    template <class F>
    static void for_each_conv_bn(index_t w, index_t s, F& f) {
      branch_t::for_each_conv_bn(w, s, f);
      if constexpr (project) proj_t::for_each_conv_bn(w + branch_t::n_params, s + branch_t::n_state, f);
    }
    template <class F>
    void for_each_layer(F&& f) {
      f(branch);
      branch.for_each_layer(f);
      if constexpr (project) {
        f(proj);
        proj.for_each_layer(f);
      }
      if constexpr (has_after) f(after);
    }

    void backward(const T* w, T* gw, const T* x, const T* y, const T* dy, T* dx, index_t n) {
      const T* g = dy;  // dL/d(sum)
      if constexpr (has_after) {
        after.backward(nullptr, nullptr, sum_buffer(const_cast<T*>(y)), y, dy, backend::raw(sum_grad), n);
        g = backend::raw(sum_grad);
      }
      branch.backward(w, gw, x, branch_buffer(const_cast<T*>(y)), g, dx, n);
      if constexpr (project) {
        T* sg = dx ? backend::raw(side_grad) : nullptr;
        proj.backward(w + branch_t::n_params, gw + branch_t::n_params, x, backend::raw(side), g, sg, n);
        if (dx) detail::accumulate<B>(n * In.size(), sg, dx);
      } else if constexpr (S != shortcut::none) {
        if (dx) detail::accumulate<B>(n * In.size(), g, dx);
      }
    }
  };
};

// residual<layers...>: y = branch(x) + shortcut(x) with the automatic shortcut, no activation.
template <class... L>
using residual = residual_block<shortcut::automatic, void, L...>;
template <class... L>
using residual_identity = residual_block<shortcut::identity, void, L...>;
// The same block with its shortcut removed: y = branch(x).
template <class... L>
using no_shortcut = residual_block<shortcut::none, void, L...>;

}  // namespace basin
