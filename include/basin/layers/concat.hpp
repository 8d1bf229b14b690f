// basin/layers/concat.hpp — concatenating blocks (DenseNet): y = cat(branch(x), x) over channels.
//
// Huang, Liu, van der Maaten, Weinberger 2017. A dense layer appends the features its branch
// computes to its input, so every later layer of the block sees the features of all earlier
// ones. The branch's channels come first, then the input's, as the reference loss-landscape
// DenseNet writes it (torch.cat([out, x], 1)), so checkpoints and feature maps line up with it.
//
// basin keeps activations channel-major, (c, n, h, w): a concatenation over channels is two
// contiguous ranges of y. The branch writes straight into the first (no copy of its output), the
// input is copied into the second; backward hands the first range of dL/dy to the branch and adds
// the second to dL/dx. The branch's layers are named directly under the block (bn1, conv1, ...).
#pragma once

#include "basin/layers/residual.hpp"  // detail::accumulate
#include "basin/net/chain.hpp"

namespace basin {

// concat<items...>: y = cat(branch(x), x) along channels; the branch (a list of items) must keep
// the input's height and width.
template <class... L>
struct concat {
  static constexpr dims output(dims in) {
    const dims b = sequential<L...>::output(in);
    return {b.c + in.c, b.h, b.w};
  }

  template <dims In, class T, class B>
  struct bind {
    using branch_t = chain<In, T, B, L...>;
    static constexpr dims in = In, out = {branch_t::out.c + In.c, In.h, In.w};
    static_assert(branch_t::out.h == In.h && branch_t::out.w == In.w,
                  "concat: the branch changes the spatial size of its input; a DenseNet layer's branch must keep it");
    static constexpr index_t n_params = branch_t::n_params, n_state = branch_t::n_state;
    static constexpr index_t n_leaves = branch_t::n_leaves;
    static constexpr auto params() { return branch_t::params(); }
    static constexpr auto state() { return branch_t::state(); }
    static void names(const std::string& prefix, std::vector<std::string>& p, std::vector<std::string>& s) {
      branch_t::names(prefix, p, s);
    }
    static void init(T* w, T* s, std::uint64_t seed, std::uint64_t stream_id) { branch_t::init(w, s, seed, stream_id); }

    branch_t branch;
    void reserve(index_t n) { branch.reserve(n); }
    void reserve_infer(index_t n) { branch.reserve_infer(n); }
    void release() { branch.release(); }

    // The part of y (or dL/dy) that belongs to the branch, and the part that is the input.
    static constexpr index_t branch_size = branch_t::out.size();
    void forward(const T* w, T* s, const T* x, T* y, index_t n, mode m) {
      branch.forward(w, s, x, y, n, m);
      B::copy(n * In.size(), x, y + n * branch_size);
    }
    void infer(const T* w, T* s, const T* x, T* y, index_t n) {
      branch.infer(w, s, x, y, n);
      B::copy(n * In.size(), x, y + n * branch_size);
    }
    void backward(const T* w, T* gw, const T* x, const T* y, const T* dy, T* dx, index_t n) {
      branch.backward(w, gw, x, y, dy, dx, n);
      if (dx) detail::accumulate<B>(n * In.size(), dy + n * branch_size, dx);
    }
    template <class F>
    static void for_each_conv_bn(index_t w, index_t s, F& f) {
      branch_t::for_each_conv_bn(w, s, f);
    }
    template <class F>
    void for_each_layer(F&& f) {
      f(branch);
      branch.for_each_layer(f);
    }
  };
};

}  // namespace basin
