// Builds a small net from the installed headers and runs one forward pass; including all of the
// host library checks that every header is installed and compiles on its own terms.
#include <basin/basin.hpp>
#include <cstdio>
#include <vector>

using net = basin::network<basin::input<1, 8, 8>, basin::conv<4, 3>, basin::batch_norm, basin::relu,
                           basin::global_avg_pool, basin::dense<3>>;

int main() {
  basin::model<net, float> m(1);
  std::vector<float> x(2 * 64, 0.5f);
  const float* z = m.forward(x.data(), 2, basin::mode::eval);
  std::printf("consumer: %lld parameters, first logit %f\n", (long long)m.n_params, z[0]);
  return m.n_params == 4 * 9 + 8 + 3 * 4 + 3 ? 0 : 1;
}
