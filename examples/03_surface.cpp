// examples/03_surface.cpp — the 2-D loss landscape of resnet20 trained on Fashion-MNIST.
//
// The main job of the README: load the resnet20 checkpoint written by 01_train (or, when there
// is none, train one epoch here), draw two random filter-normalized directions (Li et al. 2018),
// evaluate the test loss and accuracy on a plane through the minimizer, and write
//   <out>/directions.h5   the directions, in the reference tool's layout
//   <out>/surface.h5      the surface (xcoordinates, ycoordinates, test_loss, test_acc, computed)
//   <out>/*.png, *.svg    contour map (with the initial-loss contour marked), heat map, 3-D surface
//   <out>/surface.vtk     for ParaView; <out>/test_loss.csv
// Each point is written as soon as it is computed: interrupt it and run it again to finish.
//
//   03_surface [--checkpoint resnet20_fmnist/final.h5] [--train-epochs 1] [--x -1:1:21] [--y -1:1:21]
//              [--norm filter] [--keep-biasbn] [--test-subset 500] [--seed 1]
//              [--data /usr/share/datasets/fashion-mnist] [--out landscape]
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/io/export.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/surface.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

using model_t = basin::model<basin::resnet20<basin::fashion_input>, float, basin::backend::host>;

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Draws the 2-D loss landscape of resnet20 trained on Fashion-MNIST: the test loss and "
                            "accuracy over a plane of two random filter-normalized directions through the minimizer "
                            "(contour map, heat map, 3-D surface, HDF5 and ParaView files). Interrupted, it resumes.");
  const std::string ckpt =
      args.get("checkpoint", std::string("resnet20_fmnist/final.h5"),
               about{"the trained resnet20 (01_train's); trained here and saved there when missing"});
  const int train_epochs = args.get("train-epochs", 1, about{"epochs to train when there is no checkpoint"});
  const auto xs = basin::parse_range(
      args.get("x", std::string("-1:1:21"), about{"the plane's first axis, lo:hi:points, in units of the direction"}),
      "--x");
  const auto ys =
      basin::parse_range(args.get("y", std::string("-1:1:21"), about{"the plane's second axis, lo:hi:points"}), "--y");
  const auto norm = basin::parse_normalization(
      args.get("norm", std::string("filter"), about{"how the directions are scaled: filter, layer, weight or none"}),
      "option --norm");
  const bool keep_biasbn = args.flag(
      "keep-biasbn", about{"move biases and batch-norm parameters too, along their own values; else they stay put"});
  const long subset = args.get("test-subset", 500L, about{"test images each point's loss and accuracy are taken on"});
  const auto seed = args.get("seed", std::uint64_t(1), about{"seed of the directions (and of the training, if any)"});
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  const std::string out =
      args.get("out", std::string("landscape"), about{"folder the surface, directions and pictures are written to"});
  if (!args.done()) return 0;  // --help
  basin::require(subset >= 1, "option --test-subset: expected at least 1 image, got ", subset);
  basin::require(train_epochs >= 1, "option --train-epochs: expected at least 1, got ", train_epochs);
  basin::require(xs.size() >= 2 && ys.size() >= 2,
                 "options --x, --y: the pictures need at least 2 points on each axis, got ", xs.size(), " and ",
                 ys.size());
  basin::require(xs.size() * ys.size() <= basin::max_grid_points, "options --x, --y: ", xs.size(), " x ", ys.size(),
                 " points, expected at most ", basin::max_grid_points, " in all");
  basin::make_folder(out, "option --out");  // (refused before an epoch is trained, not after)

  auto [train_set, test_set, stats] =
      basin::normalize_by_train(basin::read_fashion_mnist(data_dir, true), basin::read_fashion_mnist(data_dir, false));
  const auto probe = basin::first_images(test_set, subset);

  // The loss of the freshly initialized net (batch statistics, as it starts training): the
  // "initial loss" contour of the talk, ~ln 10 for 10 classes.
  double initial_loss = 0;
  {
    model_t fresh(seed);
    initial_loss = basin::evaluate(fresh, probe, 500, basin::mode::train).loss;
  }
  model_t model(seed);

  if (!basin::path_exists(ckpt, "option --checkpoint"))
    std::printf("no checkpoint at %s: training resnet20 for %d epoch(s) first (01_train trains longer)\n",
                ckpt.c_str(), train_epochs);
  {
    basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 5e-4, true}, model_t::n_params);
    basin::train_options o;
    o.epochs = train_epochs;
    o.seed = seed;
    basin::load_or_train(model, opt, basin::optim::cosine_lr{0.1, double(train_epochs)}, train_set, o, ckpt,
                         "resnet20, SGD lr 0.1 cosine, Nesterov, wd 0.0005", nullptr, true,
                         basin::other_recipe::load_model);  // --checkpoint takes any resnet20 checkpoint
  }
  const auto center = basin::evaluate(model, probe);
  std::printf("minimizer: test loss %.4f, accuracy %.2f%% on %lld test images; initial loss %.4f\n", center.loss,
              center.accuracy, (long long)probe.size(), initial_loss);

  // Two random directions, normalized as asked, in the reference tool's file layout.
  const basin::direction_options dopt{norm, !keep_biasbn, false};
  auto dx = basin::random_direction(model, seed, 0, dopt);
  auto dy = basin::random_direction(model, seed, 1, dopt);
  std::printf("directions: %s-normalized, biases and batch-norm %s; cosine between them %.4f\n",
              basin::to_string(norm), keep_biasbn ? "copied" : "ignored", basin::cosine(dx, dy));
  const auto dir_file = out + "/directions.h5";

  // The plane, one point at a time, written at once.
  basin::surface_options so;
  so.x = xs;
  so.y = ys;
  so.dir_file = dir_file;
  // Written once the surface file is accepted: a file of other weights is refused and both stay.
  so.on_ready = [&] { basin::save_directions(dir_file, dx, &dy, dopt, seed); };
  so.settings = std::string("checkpoint=") + ckpt + " seed=" + std::to_string(seed) + " norm=" + basin::to_string(norm) +
                " ignore=" + (keep_biasbn ? "" : "biasbn") + " test_subset=" + std::to_string(probe.size());
  const auto surf_file = out + "/surface.h5";
  basin::loss_accuracy metrics{nullptr, &probe, 500};
  const auto st = basin::sweep(model, dx, &dy, surf_file, so, metrics.names(), metrics);
  std::printf("surface: %lld points computed now, %lld already in %s (%.1f s, %.2f points/s)\n",
              (long long)st.computed, (long long)st.skipped, surf_file.c_str(), st.seconds,
              st.computed / std::max(st.seconds, 1e-9));

  // Pictures and exports from the file.
  auto f = basin::h5::file::open(surf_file);
  basin::plot::grid2d loss{xs, ys, basin::surface_values(f, "test_loss"), "test_loss"};
  basin::plot::grid2d acc{xs, ys, basin::surface_values(f, "test_acc"), "test_acc"};
  basin::plot::style s;
  s.title = "resnet20, Fashion-MNIST test loss (" + std::string(basin::to_string(norm)) + "-normalized directions)";
  s.xlabel = "direction 1";
  s.ylabel = "direction 2";
  s.zlabel = "test loss";
  s.highlight = initial_loss;
  s.highlight_label = "initial loss";
  basin::plot::contour(loss, out + "/test_loss_contour", s);
  // The heat map's colours and the 3-D surface stop at a loss of 10 (the reference tool's --vmax):
  // the plane's corners reach losses past 1000, which would leave the basin one dark colour and,
  // in 3-D, rise in front of it.
  s.vmax = 10;
  basin::plot::heatmap(loss, out + "/test_loss_heatmap", s);
  basin::plot::surface3d(loss, out + "/test_loss_3d", s);
  auto sa = s;
  sa.title = "resnet20, Fashion-MNIST test accuracy";
  sa.zlabel = "test accuracy (%)";
  sa.highlight = NAN;
  sa.vmax = NAN;
  basin::plot::heatmap(acc, out + "/test_acc_heatmap", sa);
  basin::write_vtk(loss, out + "/surface.vtk", true);
  basin::write_csv(loss, out + "/test_loss.csv");
  std::printf("wrote %s/{surface.h5, directions.h5, test_loss_contour.png, test_loss_heatmap.png, test_loss_3d.png, "
              "test_acc_heatmap.png, surface.vtk, test_loss.csv} (+ .svg, and .dat/.gp beside each picture)\n",
              out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "03_surface: %s\n", e.what());
  return 1;
}
