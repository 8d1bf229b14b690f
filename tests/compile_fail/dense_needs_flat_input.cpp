// Must not compile: dense directly after a convolution (input 4x6x6 is not flat).
#include "basin/net/model.hpp"
using net = basin::network<basin::input<1, 6, 6>, basin::conv<4, 3>, basin::dense<10>>;
basin::model<net, float> m;
int main() {}
