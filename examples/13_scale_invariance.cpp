// examples/13_scale_invariance.cpp — why the pictures need filter normalization, in a net without
// batch norm.
//
// The talk: "if you use ReLU nonlinearities then I can pull out the weights in one layer and
// multiply them by ten and I can compensate that by multiplying the weights in another layer by
// 1/10 ... you get the exact same thing out of the network" (02_line_and_interpolation shows the
// batch-norm case). This program trains an MLP (784-100-100-10, ReLU, no batch norm) on
// Fashion-MNIST and makes its twin: the first layer's weights and biases times --factor k, the
// second layer's weights divided by k. Since relu(k z) = k relu(z), the twin computes the same
// function (its logits are compared with the original's), with other weights. Along the same
// random draw through both:
//   - without normalization the two 1-D lines differ: the same direction moves the twin's first
//     layer k times less and its second layer k times more, relative to their weights;
//   - filter-normalized (each neuron's row of the direction scaled to the norm of its row of
//     weights, biases left out) the lines coincide, up to float rounding: the direction scales
//     with the weights, so each point of the twin's line is the rescaled point of the original's.
// It prints each line's half-width (how far the test loss stays below chance, ln 10) and the
// largest difference between the twins' lines, and draws both pairs.
//
// Writes <out>/mlp.h5 (the trained net: a rerun loads it), <out>/line_original_<norm>.h5 and
// line_twin_x<factor>_<norm>.h5 (each line, resumable; another --points or range: another --out),
// <out>/lines_none.{png,svg} and <out>/lines_filter.{png,svg}.
//
//   13_scale_invariance [--factor 10] [--epochs 3] [--train-subset 10000] [--test-subset 1000]
//       [--points 41] [--range 2] [--raw-range 0.2] [--seed 1] [--data /usr/share/datasets/fashion-mnist]
//       [--out scale_invariance]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/landscape/width.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/train/resume.hpp"
#include "cli.hpp"

using net_t = basin::mlp<basin::fashion_input, 10, 100, 100>;
using model_t = basin::model<net_t, float, basin::backend::host>;

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Trains a ReLU MLP without batch norm on Fashion-MNIST, makes its twin with one layer "
                            "times k and the next divided by k (the same function), and draws the test loss of both "
                            "along the same random direction without normalization (two landscapes) and "
                            "filter-normalized (one).");
  const double k = args.get(
      "factor", 10.0, about{"k: the twin's first layer (weights and biases) times k, its second layer's weights / k"});
  const int epochs = args.get("epochs", 3, about{"epochs the MLP is trained (SGD, cosine learning rate from 0.05)"});
  const long train_n = args.get("train-subset", 10000L, about{"training images used (the first N)"});
  const long test_n =
      args.get("test-subset", 1000L, about{"test images the twins are compared and each point's loss is taken on"});
  const int points = args.get("points", 41, about{"points along each line (odd, so that the trained weights are one)"});
  const double range_f = args.get("range", 2.0, about{"the filter-normalized lines span -range to range"});
  const double raw_range =
      args.get("raw-range", 0.2, about{"the lines without normalization span -raw-range to raw-range"});
  const auto seed =
      args.get("seed", std::uint64_t(1), about{"seed of the initialization, the shuffling and the direction"});
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  const std::string out = args.get(
      "out", std::string("scale_invariance"),
      about{"folder the trained MLP, the lines' HDF5 files and the pictures are written to (a rerun reuses them)"});
  if (!args.done()) return 0;  // --help
  basin::require(std::isfinite(k) && k > 0 && k != 1 && k <= 1e6 && k >= 1e-6,
                 "option --factor: expected a positive factor other than 1 within [1e-6, 1e6], got ", k);
  basin::require(epochs >= 1, "option --epochs: expected at least 1, got ", epochs);
  basin::require(train_n >= 1, "option --train-subset: expected at least 1 image, got ", train_n);
  basin::require(test_n >= 1, "option --test-subset: expected at least 1 image, got ", test_n);
  basin::require(points >= 3 && points % 2 == 1 && points <= 1001,
                 "option --points: expected an odd number from 3 to 1001 (0 among them), got ", points);
  for (const auto& [name, v] : {std::pair{"range", range_f}, std::pair{"raw-range", raw_range}})
    basin::require(std::isfinite(v) && v > 0, "option --", name, ": expected a positive number, got ", v);

  auto [train_all, test_all, stats] =
      basin::normalize_by_train(basin::read_fashion_mnist(data_dir, true), basin::read_fashion_mnist(data_dir, false));
  const auto train_set = basin::first_images(train_all, train_n);
  const auto test_set = basin::first_images(test_all, test_n);
  basin::make_folder(out, "option --out");

  // 1. The net, trained once (SGD with momentum, cosine learning rate from 0.05).
  model_t m(seed);
  {
    basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 5e-4, true}, model_t::n_params);
    basin::train_options o;
    o.epochs = epochs;
    o.seed = seed;
    basin::load_or_train(m, opt, basin::optim::cosine_lr{0.05, double(epochs)}, train_set, o, out + "/mlp.h5",
                         "13_scale_invariance mlp, SGD lr 0.05 cosine, Nesterov, wd 0.0005");
  }

  // 2. The twin: layers.0 (weights and biases) x k, layers.2's weights / k.
  model_t twin(seed);
  twin.params = m.params;
  const auto names = model_t::parameter_names();
  const auto& table = model_t::param_table;
  const auto scale = [&](const char* name, double by) {
    const auto at = std::find(names.begin(), names.end(), name);
    basin::require(at != names.end(), "13_scale_invariance: the MLP has no tensor '", name, "'");
    const auto& t = table[std::size_t(at - names.begin())];
    for (basin::index_t i = 0; i < t.size(); ++i) twin.params[t.offset + i] = float(twin.params[t.offset + i] * by);
  };
  scale("layers.0.weight", k);
  scale("layers.0.bias", k);
  scale("layers.2.weight", 1 / k);
  const auto e0 = basin::evaluate(m, test_set), e1 = basin::evaluate(twin, test_set);
  double logit_diff = 0, logit_size = 0;
  {
    const basin::index_t n = test_set.size();
    const float* z0 = m.forward(test_set.images.data(), n, basin::mode::eval);
    const std::vector<float> a(z0, z0 + 10 * n);
    const float* z1 = twin.forward(test_set.images.data(), n, basin::mode::eval);
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double d = std::fabs(double(z1[i]) - double(a[i]));
      logit_diff = std::isnan(d) || d > logit_diff ? d : logit_diff;  // (a NaN stays NaN)
      logit_size = std::max(logit_size, std::fabs(double(a[i])));
    }
  }
  double norm0 = 0, norm1 = 0;
  for (basin::index_t i = 0; i < model_t::n_params; ++i)
    norm0 += double(m.params[i]) * m.params[i], norm1 += double(twin.params[i]) * twin.params[i];
  std::printf(
      "mlp %s: test loss %.6f, accuracy %.2f%% on %lld test images; its twin (layers.0 x %g, layers.2's weights / %g): "
      "test loss %.6f, accuracy %.2f%%; largest logit difference %.3g (of logits up to %.3g): the same function; "
      "weight norm %.3f against %.3f\n",
      net_t::name().c_str(), e0.loss, e0.accuracy, (long long)test_set.size(), k, k, e1.loss, e1.accuracy, logit_diff,
      logit_size, std::sqrt(norm0), std::sqrt(norm1));

  // 3. The same draw through both, without normalization and filter-normalized.
  const basin::loss_accuracy metrics{nullptr, &test_set, 500};
  const double chance = std::log(10.0);
  std::printf("\n%-16s %-8s %-24s %12s %12s\n", "direction", "net", "half-width (loss < ln 10)", "loss at -end",
              "loss at +end");
  for (const auto norm : {basin::normalization::none, basin::normalization::filter}) {
    const bool raw = norm == basin::normalization::none;
    const double range = raw ? raw_range : range_f;
    const auto xs = basin::linspace(-range, range, points);
    std::vector<basin::plot::curve> lines;
    for (model_t* net : {&m, &twin}) {
      const bool is_twin = net == &twin;
      auto d = basin::random_direction(*net, seed + 10, 0, {norm, true, false});  // the same draw for both
      basin::surface_options so;
      so.x = xs;
      so.progress = false;
      so.settings = basin::text("13_scale_invariance ", is_twin ? "twin" : "original", " factor ", k, " ",
                                basin::to_string(norm), " seed ", seed + 10);
      const auto file = out + "/line_" + (is_twin ? basin::text("twin_x", k) : std::string("original")) + "_" +
                        basin::to_string(norm) + ".h5";
      basin::sweep(*net, d, nullptr, file, so, metrics.names(), metrics);
      basin::plot::curve c{xs, basin::surface_values(file, "test_loss"),
                           is_twin ? basin::text("twin (layers.0 x ", k, ", layers.2 / ", k, ")") : "trained MLP"};
      if (is_twin) c.dash = 2;
      std::printf("%-16s %-8s %-24s %12.4f %12.4f\n", raw ? "no normalization" : "filter-normalized",
                  is_twin ? "twin" : "original", basin::half_width_text(xs, c.y, chance).c_str(), c.y.front(),
                  c.y.back());
      lines.push_back(c);
    }
    double worst = 0, scale_of = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double d = std::fabs(lines[1].y[i] - lines[0].y[i]);
      worst = std::isnan(d) || d > worst ? d : worst;
      scale_of = std::max(scale_of, std::fabs(lines[0].y[i]));
    }
    std::printf(
        "%-16s largest difference between the twins' test losses along the line: %.3g (%.2g of the largest "
        "loss)\n",
        raw ? "no normalization" : "filter-normalized", worst, worst / scale_of);
    basin::plot::style st;
    st.title = raw ? "One random direction, no normalization: the same function, two landscapes"
                   : "The same draw, filter-normalized: the twins' lines coincide";
    st.xlabel = raw ? "step along the direction" : "step along the direction (filter-normalized)";
    st.zlabel = "test loss";
    st.log_z = true;
    basin::plot::curves(lines, {}, out + "/lines_" + basin::to_string(norm), st);
  }
  std::printf("\nwrote %s/{mlp.h5, line_*.h5, lines_none.png, lines_filter.png} (+ .svg, .dat, .gp)\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "13_scale_invariance: %s\n", e.what());
  return 1;
}
