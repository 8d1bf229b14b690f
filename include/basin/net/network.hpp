// basin/net/network.hpp — a network is a type: network<input<C,H,W>, items...>.
//
//   using net = network<input<1, 28, 28>, conv<16, 3>, batch_norm, relu, global_avg_pool,
//                       dense<10>>;
// Items are layers, named<"name", layer> and repeat<N, items...>; shapes are inferred at compile
// time, and a layer that cannot follow the previous one fails to compile with a message naming
// the layer and the input shape it was given. The network binds to a scalar and a backend in
// basin::model (net/model.hpp).
#pragma once

#include <string>

#include "basin/layers/activation.hpp"
#include "basin/layers/batch_norm.hpp"
#include "basin/layers/conv.hpp"
#include "basin/layers/dense.hpp"
#include "basin/layers/pool.hpp"
#include "basin/layers/residual.hpp"
#include "basin/layers/transposed_conv.hpp"
#include "basin/net/chain.hpp"

namespace basin {

template <class Input, class... Items>
struct network {
  static constexpr dims in = Input::shape;
  static constexpr dims out = sequential<Items...>::output(in);
  template <class T, class B>
  using bind = chain<in, T, B, Items...>;
  // The architecture's name, recorded in checkpoints; zoo networks give their own.
  static std::string name() { return "network"; }
};

}  // namespace basin
