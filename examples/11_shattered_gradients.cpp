// examples/11_shattered_gradients.cpp — the talk's shattered gradients: "if you try to train a
// network that's too deep and isn't well-behaved ... the gradients that you'd produce from
// different mini batches aren't correlated, the gradients effectively become random and once that
// happens neural networks are basically untrainable"; and its depth series ("a nine layer VGG-like
// network ... pretty well behaved ... all the way up to about 20 layers ... if we go beyond 20 ...
// the loss surface becomes chaotic"), with skip connections that prevent it.
//
// For each kind (plain: VGG-like, conv-bn-relu without skips; resnet: the same with skip
// connections) and each depth (6n + 2 layers: 8, 14, 20, 32, 44, 56, 110), at the random
// initialization, K mini-batches of the Fashion-MNIST training set (train mode, as a training
// step sees them) give K gradients, and their agreement is measured (landscape/coherence.hpp):
//   alpha   mean_{i != j} <g_i, g_j> / mean_i |g_i|^2 (Chatterjee and Zielinski's coherence: 1 when
//           all batches agree, about 0 when their gradients are unrelated), and
//   cosine  the mean cosine between two batches' gradients,
// each with a 95% confidence interval (jackknife over batches, Student's t). Then each net is
// trained briefly with one recipe (SGD, momentum 0.9, Nesterov, weight decay 5e-4, cosine learning
// rate from 0.1, batch 128), its test accuracy measured, and the coherence measured again at the
// trained point. The picture puts alpha at the initialization (with its intervals) beside the test
// accuracy after training, against depth. `--widths 1,2,4` adds the paper's width comparison: the
// 56-layer nets with 2x and 4x the channels in every layer (the talk: "if we double the width you'll
// see that we go from a fairly chaotic landscape back to a fairly well-behaved landscape"), drawn
// against width.
//
//   11_shattered_gradients [--depths 8,20,56,110] [--kinds plain,resnet] [--widths 1] [--batches 16]
//                          [--batch 128] [--epochs 1] [--train-subset 5000] [--test-subset 2000]
//                          [--seed 1] [--data /usr/share/datasets/fashion-mnist] [--out shattered]
// --epochs 0 measures the initialization only (a few seconds a net; try --epochs 0 --depths
// 8,14,20,32,44,56,110 --widths 1,2,4). Depths: 8, 14, 20, 32, 44, 56 and 110; widths: 1, 2 and 4 (a
// width above 1 at 56 layers only; each doubling costs about 4x the time).
//
// Writes <out>/<net>.h5 (the trained checkpoint: a rerun loads it instead of training again; an
// interrupted training resumes at its last epoch), summary.csv (rewritten after every net, so a
// finished net's numbers are on disk at once), coherence.png (alpha at the initialization and test
// accuracy against depth), coherence_trained.png (alpha at the initialization and after
// training) and, with widths above 1, coherence_width.png (the 56-layer nets against width).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/landscape/coherence.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

namespace {
struct settings {
  std::vector<int> depths, widths;
  std::vector<std::string> kinds;
  int batches = 16, epochs = 1;
  long batch = 128, train_subset = 5000, test_subset = 2000;
  std::uint64_t seed = 1;
  std::string out;
};

struct row {
  std::string net, kind;
  int depth = 0, width = 1;
  long params = 0;
  basin::coherence_result initial, trained;
  double accuracy = NAN, seconds_train = 0;
};

template <class Net>
row measure(const std::string& kind, int depth, int width, const settings& s, const basin::dataset& train_set,
            const basin::dataset& test_set) {
  using model_t = basin::model<Net, float, basin::backend::host>;
  row r;
  r.kind = kind;
  r.depth = depth;
  r.width = width;
  r.net = Net::name();  // plain56, resnet56_w2, ...
  r.params = long(model_t::n_params);
  model_t model(s.seed);
  const basin::coherence_options co{.batches = s.batches, .batch_size = s.batch, .seed = s.seed};
  r.initial = basin::gradient_coherence(model, train_set, co);  // parameters and statistics unchanged after
  if (s.epochs == 0) return r;
  basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 5e-4, true}, model_t::n_params);
  basin::train_options o;
  o.epochs = s.epochs;
  o.seed = s.seed;
  o.batch_size = s.batch;
  const auto t0 = std::chrono::steady_clock::now();
  const auto run =
      basin::load_or_train(model, opt, basin::optim::cosine_lr{0.1, double(s.epochs)}, train_set, o,
                           s.out + "/" + r.net + ".h5", r.net + ", SGD lr 0.1 cosine, Nesterov, wd 0.0005");
  if (!run.history.empty())
    r.seconds_train = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.accuracy = basin::evaluate(model, test_set).accuracy;
  r.trained = basin::gradient_coherence(model, train_set, co);
  return r;
}

template <template <int, class, int, int, class> class Kind>
row measure_net(const std::string& kind, int depth, int width, const settings& s, const basin::dataset& train_set,
                const basin::dataset& test_set) {
  using basin::fashion_input;
  using W = basin::weights::real;
  const auto at = [&]<int D, int Wd>() {
    return measure<Kind<D, fashion_input, Wd, 10, W>>(kind, depth, width, s, train_set, test_set);
  };
  if (width == 1) switch (depth) {
      case 8:
        return at.template operator()<8, 1>();
      case 14:
        return at.template operator()<14, 1>();
      case 20:
        return at.template operator()<20, 1>();
      case 32:
        return at.template operator()<32, 1>();
      case 44:
        return at.template operator()<44, 1>();
      case 56:
        return at.template operator()<56, 1>();
      case 110:
        return at.template operator()<110, 1>();
    }
  if (depth == 56 && width == 2) return at.template operator()<56, 2>();
  if (depth == 56 && width == 4) return at.template operator()<56, 4>();
  basin::fail("no ", kind, " net of ", depth, " layers and width ", width, " here");
}

void write_summary(const std::string& path, const std::vector<row>& rows) {
  std::string out;
  out +=
      "net,kind,depth,width,parameters,initial_loss,alpha_init,alpha_init_low,alpha_init_high,cosine_init,"
      "cosine_init_low,cosine_init_high,test_accuracy,alpha_trained,alpha_trained_low,alpha_trained_high,"
      "cosine_trained,train_seconds\n";
  for (const auto& r : rows) {
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s,%s,%d,%d,%ld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.1f\n", r.net.c_str(),
                  r.kind.c_str(), r.depth, r.width, r.params, r.initial.loss, r.initial.coherence,
                  r.initial.coherence_low, r.initial.coherence_high, r.initial.mean_cosine, r.initial.cosine_low,
                  r.initial.cosine_high, r.accuracy, r.trained.coherence, r.trained.coherence_low,
                  r.trained.coherence_high, r.trained.mean_cosine, r.seconds_train);
    out += line;
  }
  basin::write_text(path, out, "11_shattered_gradients: its summary");
}

// One curve per kind: alpha (with its interval) at the initialization (what 0) or after training
// (1), or the test accuracy (2); against depth (the nets of width 1) or, with by_width, against
// width (the 56-layer nets).
std::vector<basin::plot::curve> by_kind(const std::vector<row>& rows, const std::vector<std::string>& kinds,
                                        const std::vector<int>& depths, int what, const std::string& suffix,
                                        bool by_width = false) {
  std::vector<basin::plot::curve> out;
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    basin::plot::curve c;
    c.label = kinds[k] + (by_width ? "56" : "") + suffix;
    c.colour = int(k);
    for (const auto& r : rows) {
      const bool listed = std::find(depths.begin(), depths.end(), r.depth) != depths.end();
      if (r.kind != kinds[k] || (by_width ? r.depth != 56 : r.width != 1 || !listed)) continue;
      c.x.push_back(by_width ? r.width : r.depth);
      if (what == 2) {
        c.y.push_back(r.accuracy);
        c.points = true;
        continue;
      }
      const auto& m = what == 0 ? r.initial : r.trained;
      c.y.push_back(m.coherence);
      c.low.push_back(m.coherence_low);
      c.high.push_back(m.coherence_high);
    }
    if (what == 1) c.dash = 2;
    out.push_back(c);
  }
  return out;
}
}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Measures how much mini-batch gradients agree (the coherence alpha and the mean cosine) at "
                            "the initialization of plain and residual nets of growing depth, then trains each briefly "
                            "and draws alpha beside the test accuracy against depth: shattered gradients.");
  settings s;
  const std::string depths = args.get("depths", std::string("8,20,56,110"),
                                      about{"depths of the nets, comma-separated, from 8, 14, 20, 32, 44, 56 and 110"});
  const std::string kinds = args.get("kinds", std::string("plain,resnet"),
                                     about{"plain (VGG-like, no skip connections), resnet (with them), or both"});
  const std::string widths =
      args.get("widths", std::string("1"),
               about{"channel multiples of the 56-layer nets, from 1, 2 and 4 (above 1: compared against width)"});
  s.batches = args.get("batches", 16, about{"disjoint mini-batches whose gradients are compared (at least 3)"});
  s.batch = args.get("batch", 128L, about{"images per mini-batch, in the gradients compared and in training"});
  s.epochs =
      args.get("epochs", 1, about{"epochs each net is trained, then measured again (0: the initialization only)"});
  s.train_subset =
      args.get("train-subset", 5000L, about{"training images used (the first N; the mini-batches come from them)"});
  s.test_subset = args.get("test-subset", 2000L, about{"test images the accuracy after training is measured on"});
  s.seed = args.get("seed", std::uint64_t(1), about{"seed of the initialization, the mini-batches and the shuffling"});
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  s.out = args.get("out", std::string("shattered"),
                   about{"folder the checkpoints, summary.csv and pictures are written to (a rerun reuses them)"});
  if (!args.done()) return 0;  // --help
  basin::require(s.epochs >= 0, "option --epochs: expected 0 (the initialization only) or more, got ", s.epochs);
  basin::require(s.batches >= 3, "option --batches: expected at least 3 mini-batches, got ", s.batches);
  basin::require(s.batch >= 2, "option --batch: expected at least 2 images (batch norm's statistics), got ", s.batch);
  basin::require(s.train_subset >= 1 && s.test_subset >= 1,
                 "options --train-subset and --test-subset must be at least 1");
  basin::require(s.batch <= s.train_subset / s.batches, "options --batches and --batch: ", s.batches,
                 " disjoint mini-batches of ", s.batch, " images need ", (long double)s.batch * (long double)s.batches,
                 " training images, --train-subset gives ", s.train_subset);
  for (const auto& d : basin::examples::split(depths)) {
    char* end = nullptr;
    const long v = std::strtol(d.c_str(), &end, 10);
    basin::require(*end == '\0' && (v == 8 || v == 14 || v == 20 || v == 32 || v == 44 || v == 56 || v == 110),
                   "option --depths: expected a comma-separated list from 8, 14, 20, 32, 44, 56 and 110, got '", d,
                   "'");
    s.depths.push_back(int(v));
  }
  basin::require(!s.depths.empty(), "option --depths: expected a comma-separated list of depths, got '", depths, "'");
  for (const auto& w : basin::examples::split(widths)) {
    basin::require(w == "1" || w == "2" || w == "4",
                   "option --widths: expected a comma-separated list from 1, 2 and 4, got '", w, "'");
    s.widths.push_back(std::stoi(w));
  }
  basin::require(!s.widths.empty(), "option --widths: expected a comma-separated list of widths, got '", widths, "'");
  s.kinds = basin::examples::split(kinds);
  basin::require(!s.kinds.empty(), "option --kinds: expected plain, resnet or both, got '", kinds, "'");
  for (const auto& k : s.kinds)
    basin::require(k == "plain" || k == "resnet", "option --kinds: expected plain or resnet, got '", k, "'");

  auto [train_all, test_all, stats] =
      basin::normalize_by_train(basin::read_fashion_mnist(data_dir, true), basin::read_fashion_mnist(data_dir, false));
  const auto train_set = basin::first_images(train_all, s.train_subset);
  const auto test_set = basin::first_images(test_all, s.test_subset);
  basin::make_folder(s.out, "option --out");

  std::printf(
      "gradient coherence of %d mini-batches of %ld Fashion-MNIST training images (train mode), 95%% "
      "intervals;%s\n",
      s.batches, s.batch,
      s.epochs > 0 ? (" then " + std::to_string(s.epochs) + " epoch(s) of SGD on " + std::to_string(train_set.size()) +
                      " images")
                         .c_str()
                   : " at the initialization only");
  // The nets: every depth at width 1, and the wider 56-layer nets (with the 56-layer net of width 1
  // to compare them with).
  std::vector<std::array<int, 2>> nets;  // (depth, width)
  for (int d : s.depths) nets.push_back({d, 1});
  const bool wide = std::any_of(s.widths.begin(), s.widths.end(), [](int w) { return w > 1; });
  if (wide) s.widths.push_back(1);  // the 56-layer net of width 1 to compare the wider ones with
  std::sort(s.widths.begin(), s.widths.end());
  s.widths.erase(std::unique(s.widths.begin(), s.widths.end()), s.widths.end());
  for (int w : s.widths)
    if (wide && std::find(nets.begin(), nets.end(), std::array<int, 2>{56, w}) == nets.end()) nets.push_back({56, w});
  std::vector<row> rows;
  for (const auto& kind : s.kinds)
    for (const auto& [depth, width] : nets) {
      rows.push_back(kind == "plain" ? measure_net<basin::plain>(kind, depth, width, s, train_set, test_set)
                                     : measure_net<basin::resnet>(kind, depth, width, s, train_set, test_set));
      const auto& r = rows.back();
      std::printf("%-11s %8ld params  init: loss %.3f, alpha %.4f [%.4f, %.4f], cosine %.4f [%.4f, %.4f]",
                  r.net.c_str(), r.params, r.initial.loss, r.initial.coherence, r.initial.coherence_low,
                  r.initial.coherence_high, r.initial.mean_cosine, r.initial.cosine_low, r.initial.cosine_high);
      if (s.epochs > 0)
        std::printf("  trained: test %.2f%%, alpha %.4f [%.4f, %.4f]", r.accuracy, r.trained.coherence,
                    r.trained.coherence_low, r.trained.coherence_high);
      std::printf("\n");
      std::fflush(stdout);
      write_summary(s.out + "/summary.csv", rows);
    }

  basin::plot::style ps;
  ps.title = "Gradient coherence at initialization (95% intervals) and test accuracy after training";
  ps.xlabel = "depth (layers)";
  ps.zlabel = "coherence alpha of mini-batch gradients";
  ps.y2label = "test accuracy after training (%)";
  ps.log_x = true;
  const auto init = by_kind(rows, s.kinds, s.depths, 0, ": alpha at initialization");
  if (s.epochs > 0) {
    basin::plot::curves(init, by_kind(rows, s.kinds, s.depths, 2, ": test accuracy"), s.out + "/coherence", ps);
    auto both = init;
    for (auto& c : by_kind(rows, s.kinds, s.depths, 1, ": alpha after training")) both.push_back(c);
    ps.title = "Gradient coherence at initialization and after training (95% intervals)";
    basin::plot::curves(both, {}, s.out + "/coherence_trained", ps);
  } else {
    ps.title = "Gradient coherence at initialization (95% intervals)";
    basin::plot::curves(init, {}, s.out + "/coherence", ps);
  }
  if (wide) {
    ps.title = "Gradient coherence of the 56-layer nets against width (95% intervals)";
    ps.xlabel = "width (channels x)";
    const auto w_init = by_kind(rows, s.kinds, s.depths, 0, ": alpha at initialization", true);
    if (s.epochs > 0)
      basin::plot::curves(w_init, by_kind(rows, s.kinds, s.depths, 2, ": test accuracy", true),
                          s.out + "/coherence_width", ps);
    else
      basin::plot::curves(w_init, {}, s.out + "/coherence_width", ps);
  }
  std::printf("wrote %s/{summary.csv, coherence.png%s%s}%s\n", s.out.c_str(),
              s.epochs > 0 ? ", coherence_trained.png" : "", wide ? ", coherence_width.png" : "",
              s.epochs > 0 ? " and a checkpoint per net" : "");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "11_shattered_gradients: %s\n", e.what());
  return 1;
}
