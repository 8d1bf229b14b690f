// Must not compile: a 5x5 kernel without padding on a 3x3 input.
#include "basin/net/model.hpp"
using namespace basin;
using net = network<input<1, 3, 3>, conv<4, 5, 1, 0>, global_avg_pool, dense<10>>;
model<net, float> m;
int main() {}
