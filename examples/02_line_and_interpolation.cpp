// examples/02_line_and_interpolation.cpp — the talk's 1-D pictures (Li et al. 2018, sec. 3-4).
//
// Trains the same net twice, with small batches and with large batches, then draws
//   1. the linear interpolation between the two minimizers, theta(a) = (1-a) theta_s + a theta_l,
//      a in [-0.5, 1.5] (Goodfellow et al. 2015; "states" mode: batch-norm statistics move too);
//   2. random 1-D lines through each minimizer WITHOUT normalization: the large-batch minimizer
//      looks sharper, but its weights are also smaller (see the histograms);
//   3. the same lines with FILTER-NORMALIZED directions, which factor the weight scale out;
//   4. the weight histograms of both minimizers.
// Each curve is a 1-D sweep written to its own HDF5 file (resumable), then drawn with gnuplot.
//
//   02_line_and_interpolation [--train-subset 12000] [--epochs 3] [--small-batch 128]
//       [--large-batch 2048] [--lr 0.1] [--wd 0] [--points 21] [--eval-subset 1000] [--out lines]
#include <cstdio>
#include <filesystem>

#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "cli.hpp"

using model_t = basin::model<basin::resnet20<basin::fashion_input>, float, basin::backend::host>;

namespace {
// Trains (or loads, when the checkpoint exists) one minimizer.
void minimizer(model_t& m, const basin::dataset& train, long batch, int epochs, double lr, double wd,
               const std::string& ckpt) {
  if (std::filesystem::exists(ckpt)) {
    basin::load_checkpoint(m, ckpt);
    std::printf("loaded %s\n", ckpt.c_str());
    return;
  }
  basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, wd, false}, model_t::n_params);
  basin::train_options o;
  o.epochs = epochs;
  o.batch_size = batch;
  o.seed = 7;
  basin::train(m, opt, basin::optim::cosine_lr{lr, double(epochs)}, train, o);
  basin::save_checkpoint(m, ckpt, epochs);
}

// A 1-D sweep along d from m's current weights into file; returns loss and accuracy curves.
std::pair<basin::plot::curve, basin::plot::curve> line(model_t& m, basin::direction<model_t>& d,
                                                      const std::vector<double>& xs, const std::string& file,
                                                      const basin::loss_accuracy& metrics, const std::string& label,
                                                      const std::string& settings) {
  basin::surface_options so;
  so.x = xs;
  so.settings = settings;
  basin::sweep(m, d, nullptr, file, so, metrics.names(), metrics);
  auto f = basin::h5::file::open(file);
  return {{xs, f.read<double>("test_loss"), label + " loss"}, {xs, f.read<double>("test_acc"), label + " accuracy"}};
}
}  // namespace

int main(int argc, char** argv) try {
  basin::examples::cli args(argc, argv);
  const long subset = args.get("train-subset", 12000L);
  const int epochs = args.get("epochs", 3);
  const long small_batch = args.get("small-batch", 128L), large_batch = args.get("large-batch", 2048L);
  const double lr = args.get("lr", 0.1), wd = args.get("wd", 0.0);
  const int points = args.get("points", 21);
  const long eval_subset = args.get("eval-subset", 1000L);
  const std::string data_dir = args.get("data", std::string("/usr/share/datasets/fashion-mnist"));
  const std::string out = args.get("out", std::string("lines"));
  args.done();

  auto train = basin::read_fashion_mnist(data_dir, true);
  auto test = basin::read_fashion_mnist(data_dir, false);
  const auto stats = basin::compute_channel_stats(train);
  basin::normalize(train, stats);
  basin::normalize(test, stats);
  train = basin::subset(train, 0, std::min<basin::index_t>(subset, train.size()));
  const auto probe = basin::subset(test, 0, std::min<basin::index_t>(eval_subset, test.size()));
  std::filesystem::create_directories(out);

  model_t small(1), large(1);  // the same initialization
  minimizer(small, train, small_batch, epochs, lr, wd, out + "/small_batch.h5");
  minimizer(large, train, large_batch, epochs, lr, wd, out + "/large_batch.h5");
  const auto es = basin::evaluate(small, probe), el = basin::evaluate(large, probe);
  std::printf("small batch (%ld): test loss %.4f, accuracy %.2f%%\nlarge batch (%ld): test loss %.4f, accuracy %.2f%%\n",
              small_batch, es.loss, es.accuracy, large_batch, el.loss, el.accuracy);

  const basin::loss_accuracy metrics{nullptr, &probe, 500};
  const std::string cfg = " subset=" + std::to_string(subset) + " epochs=" + std::to_string(epochs) +
                          " eval=" + std::to_string(probe.size());

  // 1. Interpolation (states mode: running statistics interpolate too).
  auto between = basin::difference(small, large, true);
  const auto ia = basin::linspace(-0.5, 1.5, 2 * points - 1);
  const auto [il, iacc] = line(small, between, ia, out + "/interpolation.h5", metrics, "test", "interpolation" + cfg);
  basin::plot::style s;
  s.title = "Interpolation: batch " + std::to_string(small_batch) + " (a = 0) to batch " + std::to_string(large_batch) +
            " (a = 1)";
  s.xlabel = "a";
  s.zlabel = "test loss";
  s.log_z = true;
  basin::plot::curves({il}, {iacc}, out + "/interpolation", s);

  // 2.-3. Lines through each minimizer, without and with filter normalization.
  const auto xs = basin::linspace(-1, 1, points);
  for (auto norm : {basin::normalization::none, basin::normalization::filter}) {
    std::vector<basin::plot::curve> losses, accs;
    for (auto* m : {&small, &large}) {
      const bool is_small = m == &small;
      auto d = basin::random_direction(*m, 11, 0, {norm, true, false});
      const std::string tag = std::string(is_small ? "small" : "large") + "_" + basin::to_string(norm);
      const auto [l, a] = line(*m, d, xs, out + "/line_" + tag + ".h5", metrics,
                               is_small ? "batch " + std::to_string(small_batch) : "batch " + std::to_string(large_batch),
                               std::string("line ") + tag + cfg);
      losses.push_back(l);
      accs.push_back(a);
    }
    basin::plot::style ls = s;
    ls.xlabel = "alpha";
    ls.title = norm == basin::normalization::none ? "Random direction, no normalization" : "Random direction, filter-normalized";
    basin::plot::curves(losses, accs, out + "/line_" + basin::to_string(norm), ls);
  }

  // 4. Weight histograms (weights only; biases and batch-norm parameters left out).
  std::vector<std::vector<double>> w(2);
  for (const auto& t : model_t::param_table) {
    if (t.kind != basin::param_kind::weight) continue;
    for (basin::index_t i = 0; i < t.size(); ++i) {
      w[0].push_back(small.params[t.offset + i]);
      w[1].push_back(large.params[t.offset + i]);
    }
  }
  basin::plot::style hs;
  hs.title = "Weight histograms";
  hs.xlabel = "weight value";
  hs.ylabel = "count";
  hs.zlabel = "count";
  basin::plot::histograms(w, {"batch " + std::to_string(small_batch), "batch " + std::to_string(large_batch)},
                          out + "/weights", hs);
  std::printf("wrote %s/{interpolation,line_none,line_filter,weights}.png (+ .svg, .dat, .gp) and the sweeps' .h5 files\n",
              out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "02_line_and_interpolation: %s\n", e.what());
  return 1;
}
