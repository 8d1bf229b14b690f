// Writes basin checkpoints plus a batch, basin's logits and loss (and, in train mode, the
// running statistics after the step) for check_forward.py, which evaluates the same weights
// and data in PyTorch. Usage: export_check <output folder>
// The other way round, for check_import.py: export_check --import <net> <weights.h5> <batch.h5>
// loads PyTorch weights converted by examples/torch_to_basin.py into <net> (resnet20_fashion,
// vgg9_cifar or densenet_cifar) and writes its eval-mode logits (n, classes) on the batch's
// "input" into <batch.h5> as "basin_logits"; a refused file prints basin's message and exits 2.
#include <cstdio>
#include <filesystem>

#include "basin/io/checkpoint.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"

using namespace basin;

template <class Net, class T>
void export_one(const std::string& path, mode m, std::uint64_t seed) {
  using model_t = model<Net, T, backend::host>;
  model_t net(seed);
  constexpr dims in = model_t::in;
  const index_t n = 6;
  std::vector<T> x(static_cast<std::size_t>(n * in.size()));
  const counter_rng rng{seed, 77};
  // Move every parameter and running statistic off its initial value: a few train-mode
  // passes on other data, and random perturbations of gamma and beta.
  for (index_t i = 0; i < model_t::n_params; ++i) net.params[i] += T(0.05 * rng.normal(std::uint64_t(i)));
  for (int pass = 0; pass < 3; ++pass) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(1.5 * rng.normal(1000000 * (pass + 1) + i) + 0.3);
    net.forward(x.data(), n, mode::train);
  }
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(rng.normal(9000000 + i));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) labels[i] = std::int32_t(i % model_t::classes);
  save_checkpoint(net, path);  // the weights PyTorch loads: before this step's statistics update

  const T* z = net.forward(x.data(), n, m);
  softmax_cross_entropy<T, backend::host> ce;
  const double loss = ce(z, labels.data(), model_t::classes, n, false).loss;
  std::vector<T> logits(static_cast<std::size_t>(n * model_t::classes));  // (n, classes)
  for (index_t i = 0; i < n; ++i)
    for (int k = 0; k < model_t::classes; ++k) logits[i * model_t::classes + k] = z[k * n + i];

  auto f = h5::file::open(path, true);
  f.write<T>("check/input", x, {hsize_t(n), hsize_t(in.c), hsize_t(in.h), hsize_t(in.w)});
  f.write<std::int32_t>("check/labels", labels, {hsize_t(n)});
  f.write<T>("check/logits", logits, {hsize_t(n), hsize_t(model_t::classes)});
  f.write_scalar<double>("check/loss", loss);
  f.set_attr("check", "mode", m == mode::train ? "train" : "eval");
  if (m == mode::train) {
    const auto names = model_t::state_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto& d = model_t::state_table[i];
      f.write<T>("check/running_after/" + names[i], net.state.data().get() + d.offset, {hsize_t(d.size())});
    }
  }
  std::printf("wrote %s (%s, %s mode, loss %.6f)\n", path.c_str(), model_t::architecture().c_str(),
              m == mode::train ? "train" : "eval", loss);
}

template <class Net>
int import_one(const std::string& weights, const std::string& batch) {
  using model_t = model<Net, float, backend::host>;
  model_t net(1);
  try {
    load_checkpoint(net, weights);
  } catch (const basin::error& e) {
    std::fprintf(stderr, "refused: %s\n", e.what());
    return 2;
  }
  auto f = h5::file::open(batch, true);
  const auto shape = f.shape("input");
  require(shape.size() == 4 && shape[1] == hsize_t(model_t::in.c) && shape[2] == hsize_t(model_t::in.h) &&
              shape[3] == hsize_t(model_t::in.w),
          "'", batch, "': input has shape ", h5::detail::dims_string(shape), ", expected (n, ", model_t::in.c, ", ",
          model_t::in.h, ", ", model_t::in.w, ")");
  const auto x = f.read<float>("input");
  const index_t n = index_t(shape[0]);
  const float* z = net.forward(x.data(), n, mode::eval);
  std::vector<float> logits(static_cast<std::size_t>(n * model_t::classes));  // (n, classes)
  for (index_t i = 0; i < n; ++i)
    for (int k = 0; k < model_t::classes; ++k) logits[i * model_t::classes + k] = z[k * n + i];
  f.write<float>("basin_logits", logits, {hsize_t(n), hsize_t(model_t::classes)});
  std::printf("loaded %s into %s, wrote the logits of %lld images\n", weights.c_str(), model_t::architecture().c_str(),
              static_cast<long long>(n));
  return 0;
}

int main(int argc, char** argv) try {
  if (argc == 5 && std::string(argv[1]) == "--import") {
    const std::string net = argv[2];
    if (net == "resnet20_fashion") return import_one<resnet20<fashion_input>>(argv[3], argv[4]);
    if (net == "vgg9_cifar") return import_one<vgg9<cifar_input>>(argv[3], argv[4]);
    if (net == "densenet_cifar") return import_one<densenet_cifar<cifar_input>>(argv[3], argv[4]);
    fail("export_check --import: unknown net '", net, "' (resnet20_fashion, vgg9_cifar or densenet_cifar)");
  }
  require(argc == 2, "usage: export_check <output folder> | export_check --import <net> <weights.h5> <batch.h5>");
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  export_one<resnet20<fashion_input>, float>(dir + "/resnet20_fashion_eval_f32.h5", mode::eval, 1);
  export_one<resnet20<fashion_input>, double>(dir + "/resnet20_fashion_train_f64.h5", mode::train, 2);
  export_one<plain20<cifar_input>, float>(dir + "/plain20_cifar_eval_f32.h5", mode::eval, 3);
  export_one<resnet<8, cifar_input, 2>, double>(dir + "/resnet8w2_cifar_train_f64.h5", mode::train, 4);
  // DenseNets: the reference tool's densenet_cifar (k = 12; 6, 12, 24, 16 layers) and a small one
  // with 28x28 inputs (7x7 after two transitions, 3x3 after a third: odd sizes pooled down).
  export_one<densenet_cifar<cifar_input>, float>(dir + "/densenet_cifar_eval_f32.h5", mode::eval, 5);
  export_one<densenet<fashion_input, 4, 10, weights::real, 2, 1, 2, 1>, double>(
      dir + "/densenet_k4_fashion_train_f64.h5", mode::train, 6);
  // The reference tool's VGG-9 (with bias, BatchNorm1d after its fc layer; 28x28 pools to 3x3)
  // and an MLP.
  export_one<vgg9<cifar_input>, float>(dir + "/vgg9_cifar_eval_f32.h5", mode::eval, 7);
  export_one<vgg9<fashion_input>, double>(dir + "/vgg9_fashion_train_f64.h5", mode::train, 8);
  export_one<mlp<fashion_input, 10, 32, 16>, double>(dir + "/mlp_fashion_train_f64.h5", mode::train, 9);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "export_check: %s\n", e.what());
  return 1;
}
