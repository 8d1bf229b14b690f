// examples/05_quantized_nets.cpp — quantized nets on real Fashion-MNIST ("Training Quantized Nets:
// A Deeper Understanding", Li, De, Xu, Studer, Samet, Goldstein 2017; BinaryConnect, Courbariaux
// et al. 2015).
//
// 1. A table of test errors: a small VGG-like conv net (and, with --resnet20, resnet20) trained
//    in full precision (FP) and, with
//    binary (+-s) and with 4-bit integer weights, by BinaryConnect (BC: float shadow weights,
//    forward and gradient at the rounded weights), stochastic rounding (SR: weights only ever on
//    the grid) and deterministic rounding (R), all with Adam (the paper's BC-ADAM, SR-ADAM,
//    R-ADAM) and the same schedule. The paper's finding: FP < BC < SR, and R worst.
// 2. The landscape of the binary BC net: a 2-D filter-normalized surface around its shadow
//    weights w, once in float (the loss at w + a d1 + b d2) and once quantized (the loss at
//    Q(w + a d1 + b d2), every point's weights rounded onto the net's binary grids before
//    evaluation), side by side, and the two along the x axis in one plot.
// Between the two: the binary net's size as floats and packed (1 bit per weight), and its packed
// checkpoint written, reloaded into a float model and evaluated again; and the test error after
// every epoch of every row, drawn over training per net and weight type (test_error_<net>_<w>.png:
// the talk's "dotted lines show generalization error over time"), each row's in
// <row>_test_error.csv.
// Each row's net is written to <out>/<row>.h5 (e.g. vgg-like_bc_binary.h5, with its optimizer's
// state: moments, grids, shadow weights) once trained; a rerun loads it instead of training again,
// and an interrupted training resumes at its last finished epoch.
//
//   05_quantized_nets [--epochs 3] [--train-subset 10000] [--test-subset 10000] [--resnet20]
//                     [--surface-subset 500] [--grid -1:1:21] [--data DIR] [--out quantized_nets]
// --resnet20 adds resnet20 to the table (FP, and BC/SR/R with nets of binary and 4-bit weight
// types, their weights packed in memory): about 15 minutes more on two cores with the defaults.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/quantized.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/plot/surface.hpp"
#include "basin/train/resume.hpp"
#include "cli.hpp"

namespace {
using namespace basin;
// Three conv blocks (16, 32, 64 filters) and a dense classifier: VGG-like, small enough to train
// in a few minutes on two cores.
using vgg_small = network<fashion_input, named<"conv1", conv<16, 3>>, named<"bn1", batch_norm>, relu, max_pool<2>,
                          named<"conv2", conv<32, 3>>, named<"bn2", batch_norm>, relu, max_pool<2>,
                          named<"conv3", conv<64, 3>>, named<"bn3", batch_norm>, relu, global_avg_pool,
                          named<"fc", dense<10>>>;
using model_t = model<vgg_small, float, backend::host>;
using adam_q = optim::quantized_optimizer<model_t, optim::adam>;

template <class Model>
index_t stored_weights() {
  index_t n = 0;
  for (const auto& d : Model::param_table)
    if (d.kind == param_kind::weight) n += d.size();
  return n;
}

struct result {
  std::string name;
  double test_error = 0, seconds = 0;
  std::vector<double> curve;  // the test error after each epoch (NaN: not recorded)
};

// A row's test error after each epoch, "<row>_test_error.csv" beside its checkpoint: a first
// line "# <key>" naming the training recipe and the test set, then "epoch,test_error" lines; read
// back on a rerun (a file of another key counts as none), rewritten (atomically) after each epoch
// trained. An epoch whose line a kill took between its checkpoint and its line is filled in when
// the rerun resumes from that checkpoint (the last one from the final evaluation).
std::vector<double> read_curve(const std::string& path, int epochs, const std::string& key) {
  std::vector<double> c(std::size_t(epochs), NAN);
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line != "# " + key) return c;
  while (std::getline(in, line)) {
    int e = 0;
    double v = 0;
    if (std::sscanf(line.c_str(), "%d,%lf", &e, &v) == 2 && e >= 1 && e <= epochs) c[std::size_t(e - 1)] = v;
  }
  return c;
}
void write_curve(const std::string& path, const std::vector<double>& c, const std::string& key) {
  std::string out = "# " + key + "\nepoch,test_error\n";
  for (std::size_t e = 0; e < c.size(); ++e)
    if (std::isfinite(c[e])) {
      char v[32];
      std::snprintf(v, sizeof v, "%.6g", c[e]);  // 30.16, not 30.159999999999997
      out += std::to_string(e + 1) + ',' + v + '\n';
    }
  write_text(path, out, "05_quantized_nets: its test errors");
}

// Trains one row's net (or loads it: each finished run is written to <out>/<file>.h5 with its
// optimizer's state, and a rerun loads it; an interrupted run resumes at its last epoch).
template <class Model>
result run(const std::string& name, const dataset& train_set, const dataset& test_set, int epochs, bool quantized,
           optim::quantization q, Model& m, std::unique_ptr<optim::quantized_optimizer<Model, optim::adam>>& keep,
           const std::string& file) {
  const auto t0 = std::chrono::steady_clock::now();
  train_options o;
  o.epochs = epochs;
  o.seed = 1;
  o.progress = false;
  const optim::cosine_lr lr{1e-3, double(epochs)};
  const auto recipe = text(Model::architecture(), ", ", name, ", Adam lr 0.001 cosine");
  resumed_training r;
  // The test error after each epoch, for the curves over training (the talk's "dotted lines show
  // generalization error over time").
  const auto curve_file = file.substr(0, file.rfind(".h5")) + "_test_error.csv";
  const auto key = training_recipe(recipe, o, train_set) + "; test " + std::to_string(test_set.size()) +
                   " images, data " + data_digest(test_set);
  auto curve = read_curve(curve_file, epochs, key);
  bool first = true;
  const auto record = [&](const epoch_record& e) {
    if (first)  // training (re)starts here: what the file says of later epochs is another attempt's
      std::fill(curve.begin() + (e.epoch - 1), curve.end(), NAN);
    first = false;
    curve[std::size_t(e.epoch - 1)] = 100.0 - e.test.accuracy;
    write_curve(curve_file, curve, key);
  };
  const auto fill_in = [&](int e) {  // resumed after epoch e, whose line a kill may have taken
    if (!std::isfinite(curve[std::size_t(e - 1)])) {
      curve[std::size_t(e - 1)] = 100.0 - evaluate(m, test_set).accuracy;
      write_curve(curve_file, curve, key);
    }
  };
  if (quantized) {
    keep = std::make_unique<optim::quantized_optimizer<Model, optim::adam>>(m, optim::adam{}, q);
    r = load_or_train(m, keep->bind(m), lr, train_set, o, file, recipe, &test_set, false, other_recipe::refuse, record,
                      fill_in);
  } else {
    optim::optimizer<optim::adam, float, backend::host> opt({}, Model::n_params);
    r = load_or_train(m, opt, lr, train_set, o, file, recipe, &test_set, false, other_recipe::refuse, record, fill_in);
  }
  // The final model's test evaluation: the last epoch's when it was trained now (the same
  // evaluation, load_or_train_reports_each_epoch_trained), else made here.
  const auto e = r.history.empty() ? evaluate(m, test_set) : r.history.back().test;
  if (curve.back() != 100.0 - e.accuracy) {  // the last epoch's line lost, or a file of another key
    curve.back() = 100.0 - e.accuracy;
    write_curve(curve_file, curve, key);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool loaded = r.history.empty();
  if (loaded)
    std::printf("  %-24s test error %6.2f%%  (loaded from %s)\n", name.c_str(), 100.0 - e.accuracy, file.c_str());
  else
    std::printf("  %-24s test error %6.2f%%  (%.0f s)\n", name.c_str(), 100.0 - e.accuracy, s);
  std::fflush(stdout);
  return {name, 100.0 - e.accuracy, s, curve};
}

// The file name of a row: "VGG-like BC binary" -> "vgg-like_bc_binary".
inline std::string file_name(const std::string& out, std::string name) {
  for (auto& c : name) c = c == ' ' ? '_' : char(std::tolower(static_cast<unsigned char>(c)));
  for (const char* drop : {"_(float)"})
    if (const auto at = name.find(drop); at != std::string::npos) name.erase(at, std::string(drop).size());
  return out + "/" + name + ".h5";
}

// resnet20's rows: nets whose weight type is binary or 4-bit integer (their layers keep the
// weights packed, 1 or 4 bits each, rounded onto the optimizer's grids), trained by BC, SR, R.
template <class W>
void resnet20_rows(const std::string& w, int bits, const dataset& train_set, const dataset& test_set, int epochs,
                   std::vector<result>& rows, const std::string& out) {
  using qm = model<resnet20<fashion_input, W>, float, backend::host>;
  for (const auto rule : {optim::rounding::binary_connect, optim::rounding::stochastic, optim::rounding::nearest}) {
    const std::string rn = rule == optim::rounding::binary_connect ? "BC" : rule == optim::rounding::stochastic ? "SR" : "R";
    qm m(1);
    std::unique_ptr<optim::quantized_optimizer<qm, optim::adam>> keep;
    const auto name = "resnet20 " + rn + " " + w;
    rows.push_back(run(name, train_set, test_set, epochs, true, {rule, bits, 0, 7}, m, keep, file_name(out, name)));
    if (rule == optim::rounding::binary_connect) {
      double packed = 0;
      m.for_each_layer([&](auto& l) {
        if constexpr (requires { l.store.packed; }) packed += double(l.store.packed.bytes());
      });
      std::printf("  (resnet20 %s: weights packed in memory %.0f bytes, as float %.0f)\n", w.c_str(), packed,
                  4.0 * double(stored_weights<qm>()));
    }
  }
}
}  // namespace

int main(int argc, char** argv) try {
  using examples::about;
  examples::cli args(argc, argv,
                     "Trains a small VGG-like net (with --resnet20 also resnet20) on Fashion-MNIST in float and "
                     "with binary and 4-bit weights by BinaryConnect, stochastic and deterministic rounding, tabulates "
                     "their test errors and draws the float and the quantized landscape of the binary BC net.");
  const int epochs = args.get("epochs", 3, about{"epochs of Adam for every net of the table"});
  const long train_n = args.get("train-subset", 10000L, about{"training images used (the first N)"}),
             test_n = args.get("test-subset", 10000L, about{"test images the table's test errors are measured on"});
  const long surface_n =
      args.get("surface-subset", 500L, about{"test images the loss is evaluated on at every point of the surfaces"});
  const auto grid =
      parse_range(args.get("grid", std::string("-1:1:21"),
                           about{"lo:hi:n of both axes of the filter-normalized plane (n odd, 0 in the middle)"}),
                  "--grid");
  const std::string data_dir = examples::fashion_mnist_dir(args);
  const std::string out = args.get("out", std::string("quantized_nets"),
                                   about{"folder the nets, the table, pictures and HDF5 files are written to"});
  const bool with_resnet =
      args.flag("resnet20", about{"adds resnet20's rows to the table (about 15 minutes more on two cores)"});
  if (!args.done()) return 0;  // --help
  require(epochs >= 1, "option --epochs: expected at least 1, got ", epochs);
  require(train_n >= 1, "option --train-subset: expected at least 1 image, got ", train_n);
  require(test_n >= 1, "option --test-subset: expected at least 1 image, got ", test_n);
  require(surface_n >= 1, "option --surface-subset: expected at least 1 image, got ", surface_n);
  // (checked before any training: the pictures at the end need 2 points a side, and the slice
  // through the middle of the grid is the trained net's only when the grid's middle value is 0)
  require(grid.size() >= 3 && grid.size() % 2 == 1 && grid[grid.size() / 2] == 0,
          "option --grid: expected an odd number of at least 3 points with 0 in the middle (as -1:1:21), got ",
          grid.size(), " points from ", grid.front(), " to ", grid.back(), ", the middle one ", grid[grid.size() / 2]);
  require(grid.size() <= 10000, "option --grid: expected at most 10000 points a side (10^8 in all), got ", grid.size());
  basin::make_folder(out, "option --out");

  auto [train_all, test_all, stats] =
      normalize_by_train(read_fashion_mnist(data_dir, true), read_fashion_mnist(data_dir, false));
  const auto train_set = first_images(train_all, train_n);
  const auto test_set = first_images(test_all, test_n);

  // ---- 1. the table ----------------------------------------------------------------------
  std::printf("VGG-like net (%lld parameters), Fashion-MNIST: %lld training images, %lld test images, %d epoch(s) of "
              "Adam, cosine learning rate from 1e-3\n",
              (long long)model_t::n_params, (long long)train_set.size(), (long long)test_set.size(), epochs);
  std::vector<result> rows;
  model_t bc_binary(1);
  std::unique_ptr<adam_q> bc_opt;
  {
    model_t m(1);
    std::unique_ptr<adam_q> none;
    rows.push_back(run("VGG-like FP (float)", train_set, test_set, epochs, false, {}, m, none,
                       file_name(out, "VGG-like FP (float)")));
  }
  for (const int bits : {1, 4}) {
    const std::string w = bits == 1 ? "binary" : "4-bit";
    for (const auto rule : {optim::rounding::binary_connect, optim::rounding::stochastic, optim::rounding::nearest}) {
      const std::string rn = rule == optim::rounding::binary_connect ? "BC" : rule == optim::rounding::stochastic ? "SR" : "R";
      optim::quantization q{rule, bits, 0, 7};
      const auto name = "VGG-like " + rn + " " + w;
      if (bits == 1 && rule == optim::rounding::binary_connect) {
        rows.push_back(run(name, train_set, test_set, epochs, true, q, bc_binary, bc_opt, file_name(out, name)));
      } else {
        model_t m(1);
        std::unique_ptr<adam_q> keep;
        rows.push_back(run(name, train_set, test_set, epochs, true, q, m, keep, file_name(out, name)));
      }
    }
  }
  if (with_resnet) {
    std::printf("resnet20 (%lld parameters), the same data and schedule\n",
                (long long)model<resnet20<fashion_input>, float>::n_params);
    {
      model<resnet20<fashion_input>, float, backend::host> m(1);
      std::unique_ptr<optim::quantized_optimizer<model<resnet20<fashion_input>, float, backend::host>, optim::adam>> none;
      rows.push_back(run("resnet20 FP (float)", train_set, test_set, epochs, false, {}, m, none,
                         file_name(out, "resnet20 FP (float)")));
    }
    resnet20_rows<weights::binary>("binary", 1, train_set, test_set, epochs, rows, out);
    resnet20_rows<weights::integer<4>>("4-bit", 4, train_set, test_set, epochs, rows, out);
  }
  {
    const auto table = out + "/test_errors.md";
    std::string md = "| training | test error (%) | seconds |\n|---|---:|---:|\n";
    for (const auto& r : rows) {
      char line[256];
      std::snprintf(line, sizeof line, "| %s | %.2f | %.0f |\n", r.name.c_str(), r.test_error, r.seconds);
      md += line;
    }
    write_text(table, md, "05_quantized_nets: its table");
    std::printf("table: %s\n", table.c_str());
  }
  // The test error over training, one picture per net and weight type: FP, BC, SR, R.
  for (const std::string family : {"VGG-like", "resnet20"})
    for (const std::string w : {"binary", "4-bit"}) {
      std::vector<plot::curve> cs;
      for (const auto& r : rows) {
        const bool fp = r.name == family + " FP (float)";
        if (!fp && r.name.rfind(family + " ", 0) != 0) continue;
        if (!fp && r.name.substr(r.name.size() - w.size() - 1) != " " + w) continue;
        if (std::none_of(r.curve.begin(), r.curve.end(), [](double v) { return std::isfinite(v); })) continue;
        plot::curve c{{}, r.curve, r.name.substr(family.size() + 1)};
        for (std::size_t e = 1; e <= r.curve.size(); ++e) c.x.push_back(double(e));
        c.points = true;
        cs.push_back(c);
      }
      if (cs.size() < 2) continue;  // resnet20's rows not asked for, or nothing recorded
      plot::style st;
      st.title = family + ", " + w + " weights: test error over training";
      st.xlabel = "epoch";
      st.zlabel = "test error (%)";
      std::string tag = family + "_" + w;  // vgg-like_binary
      for (auto& ch : tag) ch = char(std::tolower(static_cast<unsigned char>(ch)));
      const auto stem = out + "/test_error_" + tag;
      plot::curves(cs, {}, stem, st);
      std::printf("test error over training: %s.png\n", stem.c_str());
    }

  // ---- model size: the binary BC net packed (1 bit per weight) and as floats -----------------
  {
    const auto packed = out + "/bc_binary_packed.h5", plain = out + "/bc_binary_float.h5";
    save_packed_checkpoint(bc_binary, packed, bc_opt->grids());
    save_checkpoint(bc_binary, plain);
    model_t check(2);
    load_checkpoint(check, packed);  // dequantized exactly: the same predictions
    const auto a = evaluate(bc_binary, test_set), b = evaluate(check, test_set);
    std::printf("model size: %lld bytes of parameters as float, %lld packed (%.1fx smaller; weights alone 32x);\n"
                "  files %s %lld bytes, %s %lld bytes; packed checkpoint reloaded: test accuracy %.2f%% (was %.2f%%)\n",
                (long long)((model_t::n_params + model_t::n_state) * 4), (long long)stored_bytes<model_t>(bc_opt->grids()),
                double((model_t::n_params + model_t::n_state) * 4) / double(stored_bytes<model_t>(bc_opt->grids())),
                plain.c_str(), (long long)std::filesystem::file_size(plain), packed.c_str(),
                (long long)std::filesystem::file_size(packed), b.accuracy, a.accuracy);
  }

  // ---- 2. the landscape of the binary BC net, float and quantized ----------------------------
  const auto probe = first_images(test_all, surface_n);
  model_t& m = bc_binary;
  m.params = bc_opt->shadow();  // the float shadow weights (biases and batch norm as trained)
  auto dx = random_direction(m, 3, 0, {});
  auto dy = random_direction(m, 3, 1, {});
  loss_accuracy la{nullptr, &probe, 500};
  const auto& grids = bc_opt->grids();
  const auto quantized_eval = [&](model_t& mm) {
    for (const auto& g : grids)
      optim::detail::round_tensor<backend::host>(g.size, backend::raw(mm.params) + g.offset,
                                                 backend::raw(mm.params) + g.offset, g.g, false, counter_rng{}, 0);
    return la(mm);
  };
  surface_options so;
  so.x = grid;
  so.y = grid;
  so.settings = "05_quantized_nets epochs=" + std::to_string(epochs) + " train=" + std::to_string(train_set.size()) +
                " probe=" + std::to_string(probe.size());
  const auto float_file = out + "/bc_binary_float_surface.h5", quant_file = out + "/bc_binary_quantized_surface.h5";
  const std::string common = so.settings;
  so.settings = common + " weights=float";
  sweep(m, dx, &dy, float_file, so, la.names(), la);
  so.settings = common + " weights=quantized";
  sweep(m, dx, &dy, quant_file, so, la.names(), quantized_eval);

  auto ff = h5::file::open(float_file), fq = h5::file::open(quant_file);
  const auto zf = surface_values(ff, "test_loss"), zq = surface_values(fq, "test_loss");
  plot::style s;
  s.xlabel = "direction 1";
  s.ylabel = "direction 2";
  s.zlabel = "test loss";
  s.title = "BC binary net: float weights w + a d1 + b d2";
  plot::heatmap({grid, grid, zf, "test_loss"}, out + "/float_heatmap", s);
  plot::contour({grid, grid, zf, "test_loss"}, out + "/float_contour", s);
  s.title = "BC binary net: quantized weights Q(w + a d1 + b d2)";
  plot::heatmap({grid, grid, zq, "test_loss"}, out + "/quantized_heatmap", s);
  plot::contour({grid, grid, zq, "test_loss"}, out + "/quantized_contour", s);
  std::vector<double> line_f, line_q;
  const std::size_t ny = grid.size(), mid = ny / 2;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    line_f.push_back(zf[i * ny + mid]);
    line_q.push_back(zq[i * ny + mid]);
  }
  plot::style sl;
  sl.title = "BC binary net along direction 1 (b = " + std::to_string(grid[mid]).substr(0, 5) + ")";
  sl.xlabel = "a";
  sl.zlabel = "test loss";
  plot::curves({{grid, line_f, "float weights"}, {grid, line_q, "quantized weights"}}, {}, out + "/line", sl);
  double lowest = INFINITY;  // over the finite values (a point whose logits overflowed holds NaN)
  for (const double v : zf)
    if (v < lowest) lowest = v;
  std::printf("landscape: float minimum loss %.4f at the center %.4f; quantized at the center %.4f\n", lowest,
              zf[mid * ny + mid], zq[mid * ny + mid]);
  std::printf("wrote %s/{test_errors.md, bc_binary_packed.h5, bc_binary_float.h5, *_surface.h5, float_heatmap, float_contour, quantized_heatmap, "
              "quantized_contour, line}.png (+ .svg, .dat, .gp)\n",
              out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "05_quantized_nets: %s\n", e.what());
  return 1;
}
