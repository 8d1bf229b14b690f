// Must not compile: a DenseNet layer whose branch halves the feature map cannot be concatenated.
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
using namespace basin;
using net = network<input<16, 8, 8>, concat<batch_norm, relu, conv<12, 3, 2, 1>>, global_avg_pool, dense<10>>;
model<net, float> m;
int main() {}
