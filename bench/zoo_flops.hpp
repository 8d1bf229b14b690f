// bench/zoo_flops.hpp — the FLOPs of one forward pass of a zoo net, counted as a
// direct convolution would do them (2 x multiply-adds of every conv and dense layer), so rates
// of Winograd and im2col paths compare on the same scale.
#pragma once

#include <string>

#include "basin/net/model.hpp"

namespace basin::bench {

// From the parameter table and the zoo's stage names: a conv weight (o, i, k, k) is applied at
// every output pixel of its stage (conv1 and layer1: the input's size, e.g. 28x28; layer2 half
// of it, 14x14; layer3 a quarter, 7x7).
template <class Net>
double forward_flops() {
  using m = model<Net, float>;
  double f = 0;
  const auto names = m::parameter_names();
  for (std::size_t i = 0; i < m::param_table.size(); ++i) {
    const auto& d = m::param_table[i];
    if (d.kind != param_kind::weight) continue;
    if (d.rank == 2) {
      f += 2.0 * d.size();
      continue;
    }
    const std::string& n = names[i];
    const int h = Net::in.h;
    const int side = n.rfind("layer3", 0) == 0 ? (h + 3) / 4 : n.rfind("layer2", 0) == 0 ? (h + 1) / 2 : h;
    f += 2.0 * double(d.size()) * side * side;
  }
  return f;
}

}  // namespace basin::bench
