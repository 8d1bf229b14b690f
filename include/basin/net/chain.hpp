// basin/net/chain.hpp — a flat list of layers bound to shapes: the body of every network,
// residual branch and named group.
//
// The items of a list may be layers, `named<"conv1", layer>` and `repeat<N, items...>`; the list
// is flattened first (a fold over `+` on type lists, no recursive nesting), then every shape is
// computed by one constexpr fold, then every layer binds to its input shape in one pack
// expansion. Parameter and state tensors of the children are concatenated in order into one
// table, and so are their flat buffers: the chain is itself a layer implementation.
#pragma once

#include <algorithm>
#include <string_view>
#include <tuple>
#include <utility>

#include "basin/backend/concepts.hpp"
#include "basin/layers/common.hpp"

namespace basin {

// ---- type lists --------------------------------------------------------------------------
template <class... L>
struct layers {};
template <class... A, class... B>
layers<A..., B...> operator+(layers<A...>, layers<B...>);  // declaration only: used in decltype

// repeat<N, items...>: the items N times over, flattened into the enclosing list.
template <std::size_t N, class... L>
struct repeat {};

// A compile-time string usable as a template argument: named<"conv1", conv<16, 3>>.
template <std::size_t N>
struct fixed_string {
  char s[N]{};
  constexpr fixed_string() = default;
  constexpr fixed_string(const char (&str)[N]) { std::copy_n(str, N, s); }
  constexpr std::string_view view() const { return {s, N - 1}; }
};

// named<"bn1", batch_norm>: the layer, with the name PyTorch's module tree gives it. Unnamed
// layers are named by their position in the (flattened) list, as nn.Sequential names them.
template <fixed_string Name, class L>
struct named {
  using layer = L;
  static constexpr bool is_named = true;
  static constexpr std::string_view name = Name.view();
  static constexpr dims output(dims in) { return L::output(in); }
};

namespace detail {
template <class X>
struct expand {
  using type = layers<X>;
};
template <std::size_t, class T>
struct pick {
  using type = T;
};
template <class T, std::size_t... I>
auto repeat_list(std::index_sequence<I...>) -> decltype((layers<>{} + ... + typename pick<I, T>::type{}));
template <std::size_t N, class... L>
struct expand<repeat<N, L...>> {
  using once = decltype((layers<>{} + ... + typename expand<L>::type{}));
  using type = decltype(repeat_list<once>(std::make_index_sequence<N>{}));
};

template <class X>
struct unwrap {
  using layer = X;
  static constexpr bool has_name = false;
  static constexpr std::string_view name{};
};
// (Detected by member rather than by a partial specialization on named<N, L>: nvcc's front end
// does not match partial specializations on class-type template arguments.)
template <class X>
  requires requires { X::is_named; }
struct unwrap<X> {
  using layer = typename X::layer;
  static constexpr bool has_name = true;
  static constexpr std::string_view name = X::name;
};

template <class Impl>
constexpr index_t leaves_of() {
  if constexpr (requires { Impl::n_leaves; })
    return Impl::n_leaves;
  else
    return Impl::n_params > 0 ? 1 : 0;
}

// Output shapes of every prefix of a flat list: shapes[0] = In, shapes[i+1] = L_i(shapes[i]).
template <dims In, class... L>
constexpr auto shapes_of() {
  std::array<dims, sizeof...(L) + 1> d{};
  d[0] = In;
  std::size_t i = 0;
  ((d[i + 1] = unwrap<L>::layer::output(d[i]), ++i), ...);
  return d;
}

}  // namespace detail

template <class... Items>
using flatten_t = decltype((layers<>{} + ... + typename detail::expand<Items>::type{}));

// chain_impl<In, T, B, Seq, L...>: the bound list (Seq is the index sequence of L).
template <dims In, class T, class B, class Seq, class... L>
struct chain_impl;

template <dims In, class T, class B, std::size_t... I, class... L>
struct chain_impl<In, T, B, std::index_sequence<I...>, L...> {
  static constexpr std::size_t size = sizeof...(L);
  static_assert(size > 0, "a chain of layers must not be empty");
  static constexpr auto shapes = detail::shapes_of<In, L...>();
  using tuple = std::tuple<typename detail::unwrap<L>::layer::template bind<shapes[I], T, B>...>;
  template <std::size_t K>
  using child = std::tuple_element_t<K, tuple>;

  static constexpr dims in = In, out = shapes[size];
  static constexpr std::array<index_t, size + 1> prefix(std::array<index_t, size> v) {
    std::array<index_t, size + 1> p{};
    for (std::size_t k = 0; k < size; ++k) p[k + 1] = p[k] + v[k];
    return p;
  }
  static constexpr auto param_off = prefix({child<I>::n_params...});
  static constexpr auto state_off = prefix({child<I>::n_state...});
  static constexpr auto leaf_off = prefix({detail::leaves_of<child<I>>()...});
  static constexpr index_t n_params = param_off[size], n_state = state_off[size];
  static constexpr index_t n_leaves = leaf_off[size];

  template <bool State>
  static constexpr auto table() {
    constexpr std::size_t count = ((State ? child<I>::state().size() : child<I>::params().size()) + ... + 0);
    std::array<tensor_desc, count> t{};
    std::size_t j = 0;
    const auto add = [&](const auto& part, index_t off, index_t leaf) {
      for (auto d : part) {
        d.offset += off;
        d.layer += int(leaf);
        t[j++] = d;
      }
    };
    if constexpr (State)
      (add(child<I>::state(), state_off[I], leaf_off[I]), ...);
    else
      (add(child<I>::params(), param_off[I], leaf_off[I]), ...);
    return t;
  }
  static constexpr auto params() { return table<false>(); }
  static constexpr auto state() { return table<true>(); }

  static void names(const std::string& prefix, std::vector<std::string>& p, std::vector<std::string>& s) {
    (child<I>::names(join(prefix, detail::unwrap<L>::has_name ? std::string(detail::unwrap<L>::name)
                                                               : std::to_string(I)),
                     p, s),
     ...);
  }

  static void init(T* w, T* s, std::uint64_t seed, std::uint64_t stream_id) {
    (child<I>::init(w + param_off[I], s + state_off[I], seed, stream_id + std::uint64_t(leaf_off[I])), ...);
  }

  tuple children;
  std::array<typename B::template vector<T>, size> acts;  // outputs of children 0..size-2
  std::array<typename B::template vector<T>, 2> grads;   // ping-pong dL/d(activation)
  // Batches the buffers are reserved for: forward's and backward's, the inference path's (>= reserved).
  index_t reserved = 0, reserved_infer = 0;

  // The inference path's groups: a conv directly followed by a batch_norm runs with it (and with a
  // relu right after) as one conv whose epilogue applies the folded batch norm (and the relu).
  // group_last(k) is the last child of the group that starts at child k (k itself when none);
  // infer_from, infer_combined and infer_writes all group by it.
  static constexpr std::array<bool, size> conv_at{detail::is_conv_v<child<I>>...},
      bn_at{detail::is_batch_norm_v<child<I>>...}, relu_at{detail::is_relu_v<child<I>>...};
  static constexpr std::size_t group_last(std::size_t k) {
    if (k + 1 < size && conv_at[k] && bn_at[k + 1]) return k + 2 < size && relu_at[k + 2] ? k + 2 : k + 1;
    return k;
  }

  // Which children's outputs the inference path writes into acts: of a group only the last one's.
  static constexpr std::array<bool, size> infer_writes_of() {
    std::array<bool, size> w{};
    for (std::size_t k = 0; k < size; k = group_last(k) + 1) w[group_last(k)] = true;
    return w;
  }
  static constexpr std::array<bool, size> infer_writes = infer_writes_of();

  // Everything forward and backward use for batches of up to n images (the inference path's
  // buffers included). Children are reserved for max(n, the inference path's batch): a layer's
  // batch never shrinks until release.
  void reserve(index_t n) {
    if (n <= reserved) return;
    n = std::max(n, reserved_infer);
    index_t biggest = 0;
    ((std::get<I>(children).reserve(n),
      I + 1 < size ? (acts[I].resize(std::size_t(n * shapes[I + 1].size())),
                      biggest = std::max(biggest, n * shapes[I + 1].size()))
                   : 0),
     ...);
    for (auto& g : grads) g.resize(std::size_t(biggest));
    reserved = reserved_infer = n;
  }

  // Only what the inference path (infer, infer_residual, first_output, infer_combined) uses: the
  // activations it writes, not those that fusion skips, and no gradient buffers: for resnet20 on
  // Fashion-MNIST a third of the heap forward's buffers take (85 against 256 MB at 64 images).
  void reserve_infer(index_t n) {
    if (n <= reserved_infer) return;
    ((detail::reserve_infer_layer(std::get<I>(children), n),
      I + 1 < size && infer_writes[I] ? (acts[I].resize(std::size_t(n * shapes[I + 1].size())), 0) : 0),
     ...);
    reserved_infer = n;
  }

  // Frees every buffer sized by the batch, here and in the children; reserve allocates anew.
  void release() {
    (detail::release_layer(std::get<I>(children)), ...);
    for (auto& a : acts) detail::free_buffer(a);
    for (auto& g : grads) detail::free_buffer(g);
    reserved = reserved_infer = 0;
  }

  // The activation child k reads and writes: x for k = 0, the caller's y for the last.
  const T* input_of(std::size_t k, const T* x) { return k == 0 ? x : backend::raw(acts[k - 1]); }
  T* output_of(std::size_t k, T* y) { return k + 1 == size ? y : backend::raw(acts[k]); }

  void forward(const T* w, T* s, const T* x, T* y, index_t n, mode m) {
    (std::get<I>(children).forward(w + param_off[I], s + state_off[I], input_of(I, x), output_of(I, y), n, m), ...);
  }

  void backward(const T* w, T* gw, const T* x, const T* y, const T* dy, T* dx, index_t n) {
    backward_from<size - 1>(w, gw, x, y, dy, dx, n);
  }

  // Eval-mode forward with fusions, for sweeps: conv -> batch_norm (-> relu) runs as one conv
  // whose epilogue applies the folded batch norm and the relu; other layers run their own infer
  // or forward(eval). Equal to forward(..., mode::eval) (the same arithmetic, fewer passes).
  void infer(const T* w, T* s, const T* x, T* y, index_t n) { infer_from<0>(w, s, x, y, n); }

  // Whether the chain ends in conv -> batch_norm, so that a residual block's sum (and the relu
  // after it) can join that conv's epilogue: infer_residual(..., res, act) gives
  // act(chain(x) + res) in one pass over y.
  static constexpr bool ends_in_conv_bn =
      size >= 2 && detail::is_conv_v<child<(size >= 2 ? size - 2 : 0)>> && detail::is_batch_norm_v<child<size - 1>>;
  void infer_residual(const T* w, T* s, const T* x, T* y, index_t n, const T* res, bool act)
    requires ends_in_conv_bn
  {
    infer_from<0>(w, s, x, y, n, res, act);
  }

  // The first layer is linear in its weights when it is a conv: at theta = sum_j c_j basis_j its
  // output is sum_j c_j first(basis_j). A sweep computes first(basis_j) once per batch of data
  // (first_output) and then every point of a plane from them (infer_combined).
  static constexpr bool linear_first = detail::is_conv_v<child<0>> && !detail::is_quantized_v<child<0>>;
  static constexpr index_t first_size = shapes[1].size();  // per image
  void first_output(const T* basis, const T* x, T* z, index_t n) {
    static_assert(linear_first, "first_output: the network's first layer is not a conv");
    std::get<0>(children).forward(basis + param_off[0], nullptr, x, z, n, mode::eval);
  }
  // z: k (1..3) first-layer outputs, coef: their k coefficients; w, s: the point's buffers.
  void infer_combined(const T* w, T* s, const T* const* z, const T* coef, int k, T* y, index_t n) {
    static_assert(linear_first, "infer_combined: the network's first layer is not a conv");
    constexpr std::size_t last = group_last(0);
    constexpr bool bn = last >= 1, act = last == 2;
    const T *scale = nullptr, *shift = nullptr;
    if constexpr (bn) {
      const T* st = std::get<1>(children).affine(w + param_off[1], s + state_off[1]);
      scale = st;
      shift = st + shapes[1].c;
    }
    B::for_each_line(index_t(shapes[1].c) * n, shapes[1].plane(),
                      detail::combine_affine_fn<T>{z[0], k > 1 ? z[1] : nullptr, k > 2 ? z[2] : nullptr, coef[0],
                                                   k > 1 ? coef[1] : T(0), k > 2 ? coef[2] : T(0), scale, shift, act,
                                                   output_of(last, y), n, shapes[1].plane()});
    infer_from<last + 1>(w, s, nullptr, y, n);
  }

  // f(layer) for every layer implementation inside, depth first (children of groups included).
  template <class F>
  void for_each_layer(F&& f) {
    (visit(std::get<I>(children), f), ...);
  }

  // f(conv offset, conv parameter count, batch norm state offset, channels, quantized) for every
  // conv directly followed by a batch_norm, in this chain and in the groups inside it (residual
  // blocks' branches and projections, DenseNet layers' branches), offsets counted from w and s:
  // the pairs whose conv's scale the batch norm takes out (model::rescale_before_batch_norm).
  template <class F>
  static void for_each_conv_bn(index_t w, index_t s, F& f) {
    (conv_bn_at<I>(w, s, f), ...);
  }

 private:
  template <std::size_t K, class F>
  static void conv_bn_at(index_t w, index_t s, F& f) {
    if constexpr (K + 1 < size) {
      using next = child<(K + 1 < size ? K + 1 : K)>;
      if constexpr (detail::is_conv_v<child<K>> && detail::is_batch_norm_v<next>)
        f(w + param_off[K], child<K>::n_params, s + state_off[K + 1], next::n_state / 2,
          detail::is_quantized_v<child<K>>);
    }
    if constexpr (requires { child<K>::for_each_conv_bn(w, s, f); })
      child<K>::for_each_conv_bn(w + param_off[K], s + state_off[K], f);
  }

  template <class C, class F>
  static void visit(C& c, F& f) {
    f(c);
    if constexpr (requires { c.for_each_layer(f); }) c.for_each_layer(f);
  }

  // res, res_act: added (then relu) in the epilogue of the chain's final conv -> batch_norm
  // (infer_residual); null elsewhere.
  template <std::size_t K>
  void infer_from(const T* w, T* s, const T* x, T* y, index_t n, const T* res = nullptr, bool res_act = false) {
    if constexpr (K < size) {
      constexpr std::size_t last = group_last(K);
      if constexpr (last != K) {  // conv -> batch_norm (-> relu)
        constexpr bool act = last == K + 2;
        constexpr bool tail = last + 1 == size && !act;  // where a residual sum joins
        const T* st = std::get<K + 1>(children).affine(w + param_off[K + 1], s + state_off[K + 1]);
        std::get<K>(children).forward_affine(w + param_off[K], input_of(K, x), output_of(last, y), n, st,
                                             st + shapes[K + 1].c, tail ? res_act : act, tail ? res : nullptr);
        infer_from<last + 1>(w, s, x, y, n, res, res_act);
      } else {
        detail::infer_layer(std::get<K>(children), w + param_off[K], s + state_off[K], input_of(K, x),
                            output_of(K, y), n);
        infer_from<K + 1>(w, s, x, y, n, res, res_act);
      }
    }
  }

  template <std::size_t K>
  void backward_from(const T* w, T* gw, const T* x, const T* y, const T* dy, T* dx, index_t n) {
    // Child K reads dL/d(its output) from grads[(K+1)%2] (or dy) and writes into grads[K%2].
    const T* dyk = K + 1 == size ? dy : backend::raw(grads[(K + 1) % 2]);
    T* dxk = K == 0 ? dx : backend::raw(grads[K % 2]);
    const T* yk = K + 1 == size ? y : backend::raw(acts[K]);
    std::get<K>(children).backward(w + param_off[K], gw + param_off[K], input_of(K, x), yk, dyk, dxk, n);
    if constexpr (K > 0) backward_from<K - 1>(w, gw, x, y, dy, dx, n);
  }
};

template <dims In, class T, class B, class Flat>
struct bind_flat;
template <dims In, class T, class B, class... L>
struct bind_flat<In, T, B, layers<L...>> {
  using type = chain_impl<In, T, B, std::index_sequence_for<L...>, L...>;
};

// chain<In, T, B, items...>: bind a list of items (possibly with repeat<>) to input shape In.
template <dims In, class T, class B, class... Items>
using chain = typename bind_flat<In, T, B, flatten_t<Items...>>::type;

// sequential<items...>: a list used as one layer (nn.Sequential): children named by position.
template <class... Items>
struct sequential {
  static constexpr dims output(dims in) {
    dims d = in;
    apply_all(d, flatten_t<Items...>{});
    return d;
  }
  template <class... L>
  static constexpr void apply_all(dims& d, layers<L...>) {
    ((d = detail::unwrap<L>::layer::output(d)), ...);
  }
  template <dims In, class T, class B>
  using bind = chain<In, T, B, Items...>;
};

}  // namespace basin
