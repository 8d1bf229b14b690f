// Must not compile: an identity shortcut around a branch that changes 16 channels into 32.
#include "basin/net/model.hpp"
using namespace basin;
using net = network<input<16, 8, 8>, residual_identity<conv<32, 3>, batch_norm>, global_avg_pool, dense<10>>;
model<net, float> m;
int main() {}
