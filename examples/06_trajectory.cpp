// examples/06_trajectory.cpp — where did the optimizer go? A training path on its PCA plane.
//
// The talk's optimization-path figures (Li et al. 2018, section 7, fig. 9): train a small ResNet
// on Fashion-MNIST with a checkpoint after every epoch, find the two principal directions of the
// path (the checkpoints relative to the final weights), project the path on them, sweep the loss
// over that plane and draw the path on its contour map. It also prints how little of the path
// two random filter-normalized directions hold: the reason random planes show no path at all.
// Writes, the reference tool's way (projection.py, plot_2D.py):
//   <out>/model_<epoch>.h5                   checkpoints (epoch 0: the initialization)
//   <out>/directions.h5                      pc1, pc2 and explained_variance_ratio_ etc.
//   <out>/directions.h5_proj_cos.h5          the projected path (proj_xcoord, proj_ycoord)
//   <out>/surface.h5                         the loss over the plane (train_loss, train_acc)
//   <out>/train_loss_contour.{png,svg}       the contour map with the path
// Training is skipped when the final checkpoint exists, and resumes exactly after the last
// checkpoint (model and optimizer state) when an earlier run stopped part-way; the sweep
// resumes point by point.
//
//   06_trajectory [--epochs 10] [--train-subset 10000] [--batch-size 128] [--optimizer sgd|adam]
//                 [--lr 0.1 (sgd) or 0.001 (adam)] [--weight-decay 5e-4] [--grid 21]
//                 [--loss-subset 1000] [--seed 1] [--out trajectory]
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/landscape/trajectory.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/surface.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

using model_t = basin::model<basin::resnet<8, basin::fashion_input>, float, basin::backend::host>;
namespace fs = std::filesystem;

int main(int argc, char** argv) try {
  basin::examples::cli args(argc, argv);
  const int epochs = args.get("epochs", 10);
  const long train_subset = args.get("train-subset", 10000L);
  const long batch = args.get("batch-size", 128L);
  const std::string opt_name = args.get("optimizer", std::string("sgd"));
  const double lr = args.get("lr", opt_name == "adam" ? 1e-3 : 0.1);
  const double wd = args.get("weight-decay", 5e-4);
  const int grid = args.get("grid", 21);
  const long loss_subset = args.get("loss-subset", 1000L);
  const auto seed = std::uint64_t(args.get("seed", 1L));
  const std::string data_dir = args.get("data", std::string("/usr/share/datasets/fashion-mnist"));
  const std::string out = args.get("out", std::string("trajectory"));
  args.done();
  basin::require(epochs >= 2, "option --epochs: a path needs at least 2 epochs (3 snapshots), got ", epochs);
  basin::require(opt_name == "sgd" || opt_name == "adam", "option --optimizer: expected sgd or adam, got '", opt_name,
                 "'");
  basin::require(train_subset >= 1 && loss_subset >= 1 && batch >= 1,
                 "options --train-subset, --loss-subset and "
                 "--batch-size must be at least 1");
  basin::require(grid >= 2, "option --grid: expected at least 2 points per axis, got ", grid);

  auto train_all = basin::read_fashion_mnist(data_dir, true);
  const auto stats = basin::compute_channel_stats(train_all);
  basin::normalize(train_all, stats);
  const auto train_set = basin::subset(train_all, 0, std::min<basin::index_t>(train_subset, train_all.size()));
  const auto probe = basin::subset(train_set, 0, std::min<basin::index_t>(loss_subset, train_set.size()));
  basin::make_folder(out, "option --out");
  const auto ckpt = [&](int e) { return out + "/model_" + std::to_string(e) + ".h5"; };

  // 1. Train, one checkpoint per epoch (the reference tool's --save_epoch 1).
  model_t model(seed);
  // The path's first point: the initialization, written whenever training starts from scratch.
  bool started = false;
  for (int e = 1; e <= epochs; ++e) started = started || basin::path_exists(ckpt(e), "option --out");
  if (!started || !basin::path_exists(ckpt(0), "option --out")) basin::save_checkpoint(model, ckpt(0), 0);
  std::printf(
      "training resnet8 on %lld Fashion-MNIST images for %d epochs with %s (lr %g, weight decay %g, "
      "batch %ld), the learning rate / 10 at 50%% and 75%%\n",
      (long long)train_set.size(), epochs, opt_name.c_str(), lr, wd, batch);
  basin::train_options o;
  o.epochs = epochs;
  o.seed = seed;
  o.batch_size = batch;
  const basin::optim::step_lr schedule{lr, {epochs / 2, epochs * 3 / 4}, 0.1};
  // Model and optimizer state after every epoch: a rerun resumes exactly where this one stopped
  // (or trains nothing when the last epoch is on disk).
  const basin::resume_options resume{ckpt, basin::text("resnet8, ", opt_name, " lr ", lr, " / 10 at 50% and 75%")};
  if (opt_name == "adam") {
    basin::optim::optimizer<basin::optim::adam, float, basin::backend::host> opt({0.9, 0.999, 1e-8, wd},
                                                                                 model_t::n_params);
    basin::train_resumable(model, opt, schedule, train_set, o, resume);
  } else {
    basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, wd, false}, model_t::n_params);
    basin::train_resumable(model, opt, schedule, train_set, o, resume);
  }
  basin::load_checkpoint(model, ckpt(epochs));
  const auto final_eval = basin::evaluate(model, probe);
  std::printf("final weights: loss %.4f, accuracy %.2f%% on %lld training images\n", final_eval.loss,
              final_eval.accuracy, (long long)probe.size());

  // 2. The path from the checkpoint files, its principal directions and its projection.
  basin::trajectory<model_t> path;
  for (int e = 0; e <= epochs; ++e) path.add_checkpoint(ckpt(e));
  const basin::pca_options po{true, false};  // biases and batch-norm parameters left out
  auto pca = basin::principal_directions(path, model, po);
  const auto dir_file = out + "/directions.h5";
  basin::save_pca_directions(dir_file, pca, po, path.size());
  const auto xy = basin::project(path, model, pca.x, pca.y);
  basin::save_projection(basin::projection_file(dir_file, basin::projection_method::cos), xy,
                         basin::projection_method::cos);
  std::printf("principal directions of the %lld snapshots: pc1 holds %.1f%% of the path's variance, pc2 %.1f%%\n",
              (long long)path.size(), 100 * pca.explained_variance_ratio[0], 100 * pca.explained_variance_ratio[1]);
  auto r1 = basin::random_direction(model, seed, 0, {basin::normalization::filter, true, false});
  auto r2 = basin::random_direction(model, seed, 1, {basin::normalization::filter, true, false});
  std::printf("two random filter-normalized directions hold %.3f%% of it (%lld weights)\n",
              100 * basin::variance_in_plane(path, model, r1, r2, po), (long long)model_t::n_params);
  for (basin::index_t i = 0; i < path.size(); ++i)
    std::printf("  epoch %2lld  (%8.3f, %8.3f)\n", (long long)i, xy[std::size_t(i)][0], xy[std::size_t(i)][1]);

  // 3. The loss over the plane around the path, then the picture.
  std::vector<double> px, py;
  for (const auto& p : xy) px.push_back(p[0]), py.push_back(p[1]);
  basin::surface_options so;
  so.x = basin::covering_range(px, grid);
  so.y = basin::covering_range(py, grid);
  so.dir_file = dir_file;
  so.settings = "pca epochs=" + std::to_string(epochs) + " optimizer=" + opt_name + " seed=" + std::to_string(seed) +
                " train_subset=" + std::to_string(train_set.size()) + " loss_subset=" + std::to_string(probe.size());
  const auto surf_file = out + "/surface.h5";
  basin::loss_accuracy metrics{&probe, nullptr, 500};
  const auto st = basin::sweep(model, pca.x, &pca.y, surf_file, so, metrics.names(), metrics);
  std::printf("surface: %lld points computed now, %lld already in %s (%.1f s)\n", (long long)st.computed,
              (long long)st.skipped, surf_file.c_str(), st.seconds);

  auto f = basin::h5::file::open(surf_file);
  basin::plot::grid2d loss{so.x, so.y, f.read<double>("train_loss"), "train_loss"};
  basin::plot::style s;
  char label[64];
  s.title = "resnet8 on Fashion-MNIST: the " + opt_name + " path on its PCA plane (training loss)";
  std::snprintf(label, sizeof label, "1st PC: %.2f %%", 100 * pca.explained_variance_ratio[0]);
  s.xlabel = label;
  std::snprintf(label, sizeof label, "2nd PC: %.2f %%", 100 * pca.explained_variance_ratio[1]);
  s.ylabel = label;
  s.zlabel = "training loss";
  s.path = xy;
  s.path_label = opt_name + ", one point per epoch";
  basin::plot::contour(loss, out + "/train_loss_contour", s);
  std::printf(
      "wrote %s/{model_*.h5, directions.h5, directions.h5_proj_cos.h5, surface.h5, "
      "train_loss_contour.png, train_loss_contour.svg}\n",
      out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "06_trajectory: %s\n", e.what());
  return 1;
}
