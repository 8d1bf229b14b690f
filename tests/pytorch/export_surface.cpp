// Writes a small resnet20 loss surface with everything PyTorch needs to recompute it:
// model.h5 (checkpoint), directions.h5 (reference layout), surface.h5, data.h5; and the same
// files in <output folder>/mse for the surface of the softmax's MSE (--loss_name mse).
// check_surface.py then evaluates the same weights, directions and data in PyTorch.
// Usage: export_surface <output folder>
#include <cstdio>
#include <filesystem>

#include "basin/io/checkpoint.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"

using namespace basin;

int main(int argc, char** argv) try {
  require(argc == 2, "usage: export_surface <output folder>");
  const std::string top = argv[1];
  for (const std::string& dir : {top, top + "/mse"}) {
    std::filesystem::create_directories(dir);
    for (const char* f : {"/model.h5", "/directions.h5", "/surface.h5", "/data.h5"}) std::filesystem::remove(dir + f);
  }
  using model_t = model<resnet20<fashion_input>, float>;
  const index_t n = 64;
  // A net with weights moved by `spread` from their initial values and running statistics of
  // three train-mode batches, the data, and a plane of the loss `loss` through it.
  const auto write = [&](const std::string& dir, std::uint64_t seed, double spread, double scale, criterion loss) {
    model_t net(seed);
    const counter_rng rng{seed, 5};
    for (index_t i = 0; i < model_t::n_params; ++i) net.params[i] += float(spread * rng.normal(std::uint64_t(i)));
    dataset data;
    data.shape = model_t::in;
    data.images.resize(static_cast<std::size_t>(n * data.shape.size()));
    data.labels.resize(static_cast<std::size_t>(n));
    for (int pass = 0; pass < 3; ++pass) {
      for (std::size_t i = 0; i < data.images.size(); ++i) data.images[i] = float(rng.normal(1000000 * (pass + 1) + i));
      net.forward(data.images.data(), n, mode::train);
    }
    for (std::size_t i = 0; i < data.images.size(); ++i) data.images[i] = float(rng.normal(9000000 + i));
    for (index_t i = 0; i < n; ++i) data.labels[i] = std::int32_t(rng.below(std::uint64_t(i), 10));
    const direction_options o{normalization::filter, true, false};
    auto dx = random_direction(net, 3, 0, o);
    auto dy = random_direction(net, 3, 1, o);
    save_checkpoint(net, dir + "/model.h5");
    h5::atomic_write(dir + "/data.h5", [&](h5::file& f) {
      f.write<float>("input", data.images, {hsize_t(n), 1, 28, 28});
      f.write<std::int32_t>("labels", data.labels, {hsize_t(n)});
    });
    save_directions(dir + "/directions.h5", dx, &dy, o, 3);
    surface_options so;
    so.x = linspace(-0.6 * scale, 0.6 * scale, 3);
    so.y = linspace(-0.4 * scale, 0.8 * scale, 4);
    so.progress = false;
    so.dir_file = dir + "/directions.h5";
    loss_accuracy metrics{nullptr, &data, 32};  // two batches per point
    metrics.loss = loss;
    sweep(net, dx, &dy, dir + "/surface.h5", so, metrics.names(), metrics);
    std::printf("wrote %s/{model,directions,surface,data}.h5 (loss %s)\n", dir.c_str(), criterion_name(loss));
  };
  write(top, 21, 0.05, 1.0, criterion::cross_entropy);
  // The MSE saturates at 2/10 once the softmax is one-hot: a net near its initialization and a
  // smaller plane keep the softmax spread, so the comparison sees the squared error's shape.
  write(top + "/mse", 22, 0.005, 0.25, criterion::mse);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "export_surface: %s\n", e.what());
  return 1;
}
