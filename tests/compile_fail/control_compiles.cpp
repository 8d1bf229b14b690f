// The control: the same kinds of networks, composed correctly, compile (so the failures of the
// other programs in this folder come from the shape checks, not from a broken setup).
#include "basin/net/model.hpp"
#include "basin/net/prune.hpp"
using namespace basin;
using a = network<input<1, 6, 6>, conv<4, 3>, flatten, dense<10>>;
using b = network<input<16, 8, 8>, residual<conv<32, 3>, batch_norm>, global_avg_pool, dense<10>>;
using c = network<input<1, 3, 3>, conv<4, 5, 1, 1>, global_avg_pool, dense<10>>;
model<a, float> ma;
model<b, float> mb;
model<c, float> mc;
int main() {
  model<plain<8, input<1, 8, 8>, 2>, float> wide;
  model<plain<8, input<1, 8, 8>, 1>, float> narrow;
  prune_filters(wide, narrow);  // prune_to_a_wider_net's call the right way round
}
