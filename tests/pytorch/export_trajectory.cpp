// Writes a short training path of resnet8 (Fashion-MNIST-shaped random data) with its principal
// directions and projection, for check_trajectory.py to recompute the reference tool's way:
//   model_0.h5 .. model_6.h5   checkpoints (0: the initialization, then one per epoch)
//   directions.h5              principal_directions, save_pca_directions (biases, bn left out)
//   directions.h5_proj_cos.h5  project (cos), save_projection
// Usage: export_trajectory <output folder>
#include <cstdio>
#include <filesystem>

#include "basin/io/checkpoint.hpp"
#include "basin/landscape/trajectory.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/train/trainer.hpp"

using namespace basin;

int main(int argc, char** argv) try {
  require(argc == 2, "usage: export_trajectory <output folder>");
  const std::string dir = argv[1];
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  using model_t = model<resnet<8, fashion_input>, float>;
  model_t net(5);
  // 256 images: class k is noise plus k times a fixed pattern, so that there is something to learn.
  dataset data;
  data.shape = model_t::in;
  data.classes = 10;
  const index_t n = 256;
  const counter_rng rng{5, 7};
  data.images.resize(static_cast<std::size_t>(n * data.shape.size()));
  data.labels.resize(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    data.labels[std::size_t(i)] = std::int32_t(i % 10);
    for (index_t p = 0; p < data.shape.size(); ++p)
      data.images[std::size_t(i * data.shape.size() + p)] = float(rng.normal(std::uint64_t(i * data.shape.size() + p)) +
                                                                  0.3 * (i % 10) * rng.normal(std::uint64_t(p) << 32));
  }
  const int epochs = 6;
  const auto ckpt = [&](int e) { return dir + "/model_" + std::to_string(e) + ".h5"; };
  save_checkpoint(net, ckpt(0), 0);
  optim::optimizer<optim::sgd, float, backend::host> opt({0.9, 5e-4, false}, model_t::n_params);
  train_options o;
  o.epochs = epochs;
  o.batch_size = 32;
  o.progress = false;
  train(net, opt, optim::step_lr{0.05, {3}, 0.1}, data, o, nullptr,
        [&](const epoch_record& r) { save_checkpoint(net, ckpt(r.epoch), r.epoch); });
  trajectory<model_t> path;
  for (int e = 0; e <= epochs; ++e) path.add_checkpoint(ckpt(e));
  const pca_options po{true, false};
  auto pca = principal_directions(path, net, po);
  save_pca_directions(dir + "/directions.h5", pca, po, path.size());
  const auto xy = project(path, net, pca.x, pca.y);
  save_projection(projection_file(dir + "/directions.h5", projection_method::cos), xy, projection_method::cos);
  std::printf(
      "wrote %s/{model_0..%d.h5, directions.h5, directions.h5_proj_cos.h5}: pc1 %.4f, pc2 %.4f of the variance\n",
      dir.c_str(), epochs, pca.explained_variance_ratio[0], pca.explained_variance_ratio[1]);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "export_trajectory: %s\n", e.what());
  return 1;
}
