// Writes training checkpoints (model plus optimizer state) of resnet8 in double after three SGD
// (Nesterov, weight decay) or Adam steps, the batch and learning rate of a fourth step, and
// basin's model and optimizer state after that step, for check_resume.py: PyTorch loads the
// checkpoint and the optimizer state (momentum_buffer; exp_avg, exp_avg_sq, step) into
// torch.optim, takes the same step and must arrive at basin's values.
// Usage: export_resume <output folder>
#include <cstdio>
#include <filesystem>

#include "basin/io/checkpoint.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"

using namespace basin;

template <class Policy>
void export_one(const std::string& dir, const std::string& name, Policy policy, std::uint64_t seed) {
  using model_t = model<resnet<8, fashion_input>, double, backend::host>;
  model_t net(seed);
  optim::optimizer<Policy, double, backend::host> opt(policy, model_t::n_params);
  softmax_cross_entropy<double, backend::host> ce;
  const index_t n = 8;
  const counter_rng rng{seed, 5};
  std::vector<double> x(std::size_t(n * model_t::in.size()));
  std::vector<std::int32_t> y(static_cast<std::size_t>(n));
  const auto batch = [&](int s) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(std::uint64_t(s) * 1000000 + i);
    for (index_t i = 0; i < n; ++i) y[i] = std::int32_t(rng.below(std::uint64_t(s) * 1000 + std::uint64_t(i), 10));
  };
  const auto step = [&](int s, double lr) {
    batch(s);
    const double* z = net.forward(x.data(), n, mode::train);
    ce(z, y.data(), model_t::classes, n, true);
    net.backward(backend::raw(ce.grad));
    opt.step(backend::raw(net.params), backend::raw(net.grads), lr);
  };
  const double lrs[] = {0.05, 0.04, 0.03, 0.02};
  for (int s = 0; s < 3; ++s) step(s, lrs[s]);
  const auto before = dir + "/" + name + ".h5", after = dir + "/" + name + "_after.h5";
  save_training_checkpoint(net, opt, before, 0, 3);
  step(3, lrs[3]);
  save_training_checkpoint(net, opt, after, 0, 4);
  auto f = h5::file::open(before, true);
  f.write<double>("check/input", x, {hsize_t(n), 1, 28, 28});
  f.write<std::int32_t>("check/labels", y, {hsize_t(n)});
  f.write_scalar<double>("check/lr", lrs[3]);
  f.close();
  std::printf("wrote %s and %s (%s, %lld steps)\n", before.c_str(), after.c_str(), Policy::name,
              (long long)opt.steps());
}

int main(int argc, char** argv) try {
  require(argc == 2, "usage: export_resume <output folder>");
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  export_one(dir, "sgd", optim::sgd{0.9, 5e-4, true}, 1);
  export_one(dir, "adam", optim::adam{0.9, 0.99, 1e-8, 1e-4}, 2);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "export_resume: %s\n", e.what());
  return 1;
}
