// Must not compile: "pruning" a net of width 1 to one of width 2.
#include "basin/net/prune.hpp"
using namespace basin;
int main() {
  model<plain<8, input<1, 8, 8>, 1>, float> narrow;
  model<plain<8, input<1, 8, 8>, 2>, float> wide;
  prune_filters(narrow, wide);
}
