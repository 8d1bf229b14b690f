// Must not compile: training a network that ends with an image (a GAN generator) as a classifier.
#include "basin/net/model.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/train/trainer.hpp"
using net = basin::network<basin::input<4, 1, 1>, basin::transposed_conv<1, 4>, basin::tanh_layer>;
int main() {
  basin::model<net, float> m;
  basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 0, false}, m.n_params);
  basin::dataset d;
  basin::train(
      m, opt, [](double) { return 0.1; }, d, basin::train_options{});
}
