// examples/10_dcgan.cpp — the talk's DCGAN experiment on real images: with the prediction step a
// GAN still trains at 10x the tuned learning rate (Yadav, Shah, Xu, Jacobs, Goldstein 2018).
//
// A DCGAN (Radford et al. 2016; layers as in PyTorch's DCGAN example, sized for 28x28 images and
// two CPU cores) learns Fashion-MNIST with Adam (beta1 0.5) at the tuned learning rate 2e-4 and at
// the multiples of it in --factors (run in ascending order, each once), each with and without
// prediction, from the same seeds. Every
// --every steps 1000 samples are judged by a classifier trained on the real images
// (gan::classifier_score: the Inception score with that classifier in Inception's place, from 1
// for a collapsed generator to 10; and the classes its samples cover) and by the Frechet distance
// between their features and 10000 real training images' (gan::frechet_distance: the FID with the
// judge's 64 channel means after its second conv block in Inception's place; 0 = the same
// Gaussian); real test images give the ceiling and the floor. A run whose loss stops being finite
// has collapsed and ends there.
//
//   10_dcgan [--steps 3000] [--batch 64] [--lr 2e-4] [--factors 1,10] [--beta1 0.5] [--every 250]
//            [--seed 1] [--data /usr/share/datasets/fashion-mnist] [--out dcgan]
// --beta1 is Adam's momentum (the talk: prediction also widens the range of momentum that trains).
//
// Writes into <out>: classifier.h5 (trained once, loaded by later runs); per run (e.g.
// "lr10x_prediction") <run>.h5 (losses per step, scores and Frechet distances per check, the
// generator's and discriminator's parameters), <run>_samples.{png,pgm} (64 samples); then
// losses_lr<f>x.png (discriminator and generator losses of both methods), scores.png and
// frechet.png (against step, all runs) and summary.csv.
// A finished run is read back instead of trained again, and a run interrupted part-way goes on
// from its last check (<run>.h5.part_records.h5 and <run>.h5.part_{generator,discriminator}_<step>.h5:
// the records and both nets with their Adam states), ending in the same bits as a run that
// never stopped.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/gan/gan.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/io/hdf5.hpp"
#include "basin/net/model.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/plot/images.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

namespace fs = std::filesystem;
using namespace basin;

// PyTorch's DCGAN example for 28x28 (one 7x7 transposed conv instead of 64x64's 4x4 start):
// noise 100 -> 64 x 7x7 -> 32 x 14x14 -> 1 x 28x28 (tanh), and back down to one logit.
using generator_net =
    network<input<100, 1, 1>, named<"main.0", transposed_conv<64, 7, 1, 0, false>>, named<"main.1", batch_norm>, relu,
            named<"main.3", transposed_conv<32, 4, 2, 1, false>>, named<"main.4", batch_norm>, relu,
            named<"main.6", transposed_conv<1, 4, 2, 1, false>>, tanh_layer>;
using discriminator_net = network<input<1, 28, 28>, named<"main.0", conv<32, 4, 2, 1, false>>, leaky_relu<0.2>,
                                  named<"main.2", conv<64, 4, 2, 1, false>>, named<"main.3", batch_norm>,
                                  leaky_relu<0.2>, named<"main.5", conv<1, 7, 1, 0, false>>>;
// The judge: a small conv net trained on the real images, scaled to [-1, 1] as the GAN sees them.
using classifier_net =
    network<input<1, 28, 28>, named<"conv1", conv<32, 3>>, named<"bn1", batch_norm>, relu, max_pool<2>,
            named<"conv2", conv<64, 3>>, named<"bn2", batch_norm>, relu, max_pool<2>, flatten, named<"fc", dense<10>>>;
// The judge's features for the Frechet distance: its layers up to the second pooling (the same
// names, so gan::copy_prefix shares the weights), then the mean of each of the 64 channels.
using features_net = network<input<1, 28, 28>, named<"conv1", conv<32, 3>>, named<"bn1", batch_norm>, relu, max_pool<2>,
                             named<"conv2", conv<64, 3>>, named<"bn2", batch_norm>, relu, max_pool<2>, global_avg_pool>;
using generator_t = model<generator_net, float, backend::host>;
using discriminator_t = model<discriminator_net, float, backend::host>;
using classifier_t = model<classifier_net, float, backend::host>;
using features_t = model<features_net, float, backend::host>;
using adam_t = optim::optimizer<optim::adam, float, backend::host>;

namespace {

struct run_result {
  std::string name;
  double factor = 1;
  bool prediction = false;
  std::vector<double> d_loss, g_loss;              // per step
  std::vector<double> score_step, score, classes;  // per check
  std::vector<double> frechet;                     // per check (empty in files of older runs)
  double seconds = 0;
  bool collapsed() const { return !d_loss.empty() && !(std::isfinite(d_loss.back()) && std::isfinite(g_loss.back())); }
};

dataset scaled(const dataset& d) {  // [0, 1] -> [-1, 1]
  dataset s = d;
  for (float& v : s.images) v = 2 * v - 1;
  return s;
}

struct settings {
  double lr = 2e-4, beta1 = 0.5;
  long steps = 3000, batch = 64, every = 250;
  std::uint64_t seed = 1;
  std::string out;
  std::string data;  // data_digest of the training images: a run on other images is another run
};

// The judge: the classifier, its features and the real images' feature moments.
struct judge_t {
  classifier_t& classifier;
  features_t& features;
  const gan::gaussian_moments& real;
};

// Removes a run's partial state: <run>.h5.part_* and the temporary files of interrupted writes
// (<run>.h5.tmp-<pid>, <run>.h5.part_*.tmp-<pid>).
void remove_part_files(const std::string& file) {
  const auto folder = fs::path(file).parent_path();
  const std::string stem = fs::path(file).filename().string();
  std::error_code ec;
  std::vector<fs::path> doomed;
  // (error codes, not exceptions: a folder that cannot be listed leaves the files, nothing worse)
  for (fs::directory_iterator it(folder.empty() ? fs::path(".") : folder, ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto n = it->path().filename().string();
    if (n.rfind(stem + ".part_", 0) == 0 || n.rfind(stem + ".tmp-", 0) == 0) doomed.push_back(it->path());
  }
  for (const auto& p : doomed) fs::remove(p, ec);
}

run_result run_one(double factor, bool predict, const settings& st, const gan::image_source& source,
                   const judge_t& judge) {
  const long steps = st.steps, batch = st.batch, every = st.every;
  const std::uint64_t seed = st.seed;
  const std::string& out = st.out;
  run_result r;
  r.factor = factor;
  r.prediction = predict;
  std::ostringstream name;
  name << "lr" << factor << "x_";
  if (st.beta1 != 0.5) name << "beta" << st.beta1 << "_";
  name << (predict ? "prediction" : "alternating");
  r.name = name.str();
  const std::string file = out + "/" + r.name + ".h5";
  const double lr = st.lr * factor;
  const std::vector<double> recipe{lr, st.beta1, double(steps), double(batch), double(every), double(seed)};
  if (basin::path_exists(file, "option --out")) {
    auto f = h5::file::open(file);
    const auto was = f.has("recipe") ? f.read<double>("recipe") : std::vector<double>{};
    require(was == recipe, "'", file, "' holds a run with another recipe (learning rate, beta1, steps, batch, every, ",
            "seed = ", was.size() == 6 ? was[0] : NAN, ", ", was.size() == 6 ? was[1] : NAN, ", ",
            was.size() == 6 ? was[2] : NAN, ", ...) than this one asks (", lr, ", ", st.beta1, ", ", steps,
            ", ...): remove it or choose another --out");
    // (files written before runs recorded their data's digest are taken as this data's)
    if (f.has("data_digest"))
      require(f.read_string("data_digest") == st.data, "'", file, "' holds a run on other images (data digest ",
              f.read_string("data_digest"), ", this run's ", st.data, "): remove it or choose another --out");
    for (const char* n : {"d_loss", "g_loss", "score_step", "score", "classes", "seconds"})
      require(f.has(n), "'", file, "': no dataset '", n, "' (remove the file to run again)");
    r.d_loss = f.read<double>("d_loss"), r.g_loss = f.read<double>("g_loss");
    r.score_step = f.read<double>("score_step"), r.score = f.read<double>("score"),
    r.classes = f.read<double>("classes");
    if (f.has("frechet")) r.frechet = f.read<double>("frechet");
    const auto secs = f.read<double>("seconds");
    // (a run may end before its last step, when its losses stop being finite)
    const std::size_t checks = r.score_step.size();
    require(!r.d_loss.empty() && r.d_loss.size() <= std::size_t(steps) && r.g_loss.size() == r.d_loss.size() &&
                checks >= 1 && r.score.size() == checks && r.classes.size() == checks &&
                (r.frechet.empty() || r.frechet.size() == checks) && secs.size() == 1,
            "'", file, "': its records do not fit one another (", r.d_loss.size(), " and ", r.g_loss.size(),
            " losses for at most ", steps, " steps; ", checks, ", ", r.score.size(), ", ", r.classes.size(), " and ",
            r.frechet.size(), " values per check; ", secs.size(), " times): remove it to run again");
    r.seconds = secs[0];
    std::printf("%s: read back %s (%zu steps)\n", r.name.c_str(), file.c_str(), r.d_loss.size());
    remove_part_files(file);  // left behind by a crash just after the run file was written
    return r;
  }
  generator_t g(seed);
  discriminator_t d(seed + 1);
  gan::dcgan_init(g, seed);
  gan::dcgan_init(d, seed + 1);
  adam_t og({st.beta1, 0.999, 1e-8, 0}, generator_t::n_params),
      od({st.beta1, 0.999, 1e-8, 0}, discriminator_t::n_params);
  gan::gan_options o;
  o.steps = steps;
  o.batch_size = batch;
  o.prediction = predict;
  o.seed = seed;
  o.stop_when_not_finite = true;
  // The run so far, at every check s: both nets with their Adam states (training checkpoints
  // named by s), then the records, whose step commits the pair; only then the previous check's
  // pair is removed. A rerun goes on from the committed check in the same bits (every step's noise
  // and images are functions of the seed and the step).
  const auto part_net = [&](const char* which, index_t s) {
    return file + ".part_" + which + "_" + std::to_string(s) + ".h5";
  };
  const std::string part_r = file + ".part_records.h5";
  const std::string recipe_text = text("DCGAN ", r.name, ", lr ", lr, ", beta1 ", st.beta1, ", ", steps,
                                       " steps, batch ", batch, ", every ", every, ", seed ", seed, ", data ", st.data);
  double seconds_before = 0;
  if (basin::path_exists(part_r, "option --out")) {
    // Everything checked before anything is loaded; a file that does not fit is set aside.
    std::string why;
    index_t step = 0;
    run_result was;
    try {
      auto f = h5::file::open(part_r);
      for (const char* n :
           {"step", "recipe", "d_loss", "g_loss", "score_step", "score", "classes", "frechet", "seconds"})
        require(f.has(n), "no dataset '", n, "'");
      const auto st_step = f.read<std::int64_t>("step");
      const auto secs = f.read<double>("seconds");
      require(st_step.size() == 1 && secs.size() == 1, "step and seconds must be single values");
      step = index_t(st_step[0]);
      require(f.read<double>("recipe") == recipe, "it belongs to another recipe");
      was.d_loss = f.read<double>("d_loss"), was.g_loss = f.read<double>("g_loss");
      was.score_step = f.read<double>("score_step"), was.score = f.read<double>("score");
      was.classes = f.read<double>("classes"), was.frechet = f.read<double>("frechet");
      const std::size_t checks = std::size_t(step / every) + 1;
      require(step > 0 && step < steps && step % every == 0 && index_t(was.d_loss.size()) == step &&
                  index_t(was.g_loss.size()) == step && was.score_step.size() == checks && was.score.size() == checks &&
                  was.classes.size() == checks && was.frechet.size() == checks &&
                  std::isfinite(was.score_step.back()) && index_t(was.score_step.back()) == step,
              "its records do not fit step ", step, " (", was.d_loss.size(), " losses, ", was.score_step.size(),
              " checks)");
      for (const char* which : {"generator", "discriminator"}) {
        const auto net = part_net(which, step);
        require(basin::path_exists(net, "option --out"), "'", net, "' is missing");
        const auto info = read_checkpoint_info(net);
        // (same_recipe: a file written before recipes named the data's digest is this run's when
        // the rest agrees)
        require(info.step == step && basin::detail::same_recipe(info.recipe, recipe_text) &&
                    h5::file::open(net).is_group("optimizer"),
                "'", net, "' is not this run's state at step ", step);
      }
      // Loaded into fresh nets first: one that holds values no training leaves is refused here
      // and set aside with the rest, the nets in use untouched.
      generator_t g2(seed);
      discriminator_t d2(seed + 1);
      adam_t og2({st.beta1, 0.999, 1e-8, 0}, generator_t::n_params),
          od2({st.beta1, 0.999, 1e-8, 0}, discriminator_t::n_params);
      load_training_checkpoint(g2, og2, part_net("generator", step), recipe_text);
      load_training_checkpoint(d2, od2, part_net("discriminator", step), recipe_text);
      g.params = g2.params, g.state = g2.state, g.batches_tracked = g2.batches_tracked;
      d.params = d2.params, d.state = d2.state, d.batches_tracked = d2.batches_tracked;
      og = std::move(og2), od = std::move(od2);
      seconds_before = secs[0];
    } catch (const basin::error& e) {
      why = e.what();
    }
    if (why.empty()) {
      r.d_loss = was.d_loss, r.g_loss = was.g_loss, r.score_step = was.score_step, r.score = was.score;
      r.classes = was.classes, r.frechet = was.frechet;
      o.first_step = step;
      std::printf("%s: resuming after step %lld from %s\n", r.name.c_str(), (long long)step, part_r.c_str());
    } else {
      std::printf("%s: %s cannot be resumed (%s): starting afresh\n", r.name.c_str(), part_r.c_str(), why.c_str());
      remove_part_files(file);
    }
  }
  std::printf("%s: Adam lr %g, beta1 %g, batch %ld, %ld steps, %s\n", r.name.c_str(), lr, st.beta1, batch, steps,
              predict ? "discriminator steps against the predicted generator" : "alternating steps");
  std::fflush(stdout);
  const auto judge_now = [&](index_t s) {
    const auto samples = gan::generate_samples(g, seed, 0, 1000, mode::train);
    const auto c = gan::classifier_score(judge.classifier, samples);
    r.score_step.push_back(double(s)), r.score.push_back(c.score), r.classes.push_back(c.classes_covered);
    r.frechet.push_back(gan::frechet_distance(gan::feature_moments(judge.features, samples), judge.real));
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  if (o.first_step == 0) judge_now(0);
  std::vector<gan::gan_record> taken;  // this call's steps, as they come
  const auto on_step = [&](index_t s) {
    if (s % every != 0 || s == steps) return;
    judge_now(s);
    save_training_checkpoint(g, og, part_net("generator", s), -1, s, recipe_text);
    save_training_checkpoint(d, od, part_net("discriminator", s), -1, s, recipe_text);
    auto dl = r.d_loss, gl = r.g_loss;
    for (const auto& h : taken) dl.push_back(h.d_loss), gl.push_back(h.g_loss);
    h5::atomic_write(part_r, [&](h5::file& f) {
      f.write("d_loss", dl), f.write("g_loss", gl);
      f.write("score_step", r.score_step), f.write("score", r.score), f.write("classes", r.classes);
      f.write("frechet", r.frechet);
      f.write("seconds", std::vector<double>{elapsed()});
      f.write("recipe", recipe);
      f.write("step", std::vector<std::int64_t>{std::int64_t(s)});
    });
    for (const char* which : {"generator", "discriminator"}) {  // the previous check's pair
      std::error_code ignored;
      fs::remove(part_net(which, s - every), ignored);
    }
  };
  const auto rate = [lr](index_t) { return lr; };
  gan::train_gan(g, d, og, od, rate, rate, source, o, on_step, &taken);
  for (const auto& h : taken) r.d_loss.push_back(h.d_loss), r.g_loss.push_back(h.g_loss);
  if (r.collapsed()) {
    std::printf("%s: collapsed at step %zu (discriminator loss %g, generator loss %g)\n", r.name.c_str(),
                r.d_loss.size(), r.d_loss.back(), r.g_loss.back());
  } else if (long(r.score_step.back()) != long(r.d_loss.size())) {
    judge_now(index_t(r.d_loss.size()));
  }
  r.seconds = elapsed();
  plot::style ss;
  ss.title = r.name + ": 64 samples after " + std::to_string(r.d_loss.size()) + " steps";
  ss.svg = false;
  ss.width = ss.height = 600;
  if (!r.collapsed())
    plot::image_grid(gan::generate_samples(g, seed, 1, 64, mode::train), generator_t::out, 8,
                     out + "/" + r.name + "_samples", ss);
  // Everything at once, into a file that appears whole (written, synced, renamed), and only then
  // the partial state goes: a crash before this line resumes from the last check.
  h5::atomic_write(file, [&](h5::file& f) {
    f.write("d_loss", r.d_loss), f.write("g_loss", r.g_loss);
    f.write("score_step", r.score_step), f.write("score", r.score), f.write("classes", r.classes);
    f.write("frechet", r.frechet);
    f.write("seconds", std::vector<double>{r.seconds});
    f.write("recipe", recipe);
    f.write_string("data_digest", st.data);
    std::vector<float> gp(g.params.begin(), g.params.end()), dp(d.params.begin(), d.params.end());
    f.write("generator_params", gp), f.write("discriminator_params", dp);
  });
  remove_part_files(file);
  return r;
}

// The mean of the last k values up to each step (the losses jump from step to step).
std::vector<double> smooth(const std::vector<double>& v, std::size_t k) {
  std::vector<double> s(v.size());
  double sum = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    sum += v[i] - (i >= k ? v[i - k] : 0.0);
    s[i] = sum / double(std::min(i + 1, k));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  using examples::about;
  examples::cli args(argc, argv,
                     "Trains a DCGAN on Fashion-MNIST with Adam at the tuned learning rate and at the multiples in "
                     "--factors, each with and without the prediction step, and draws the losses, a classifier's "
                     "score and the Frechet distance of its features over training, and each run's samples.");
  settings st;
  st.steps = args.get("steps", 3000L, about{"training steps of each run, each a generator and a discriminator step"});
  st.batch = args.get("batch", 64L, about{"real images and noise vectors per step"});
  st.lr = args.get("lr", 2e-4, about{"Adam learning rate of both nets at factor 1"});
  const auto factors = args.get_list<double>("factors", "1,10",
                                             about{"multiples of --lr to train at, each with and without prediction"});
  st.beta1 = args.get("beta1", 0.5, about{"Adam's beta1 (its momentum) of both nets"});
  st.every =
      args.get("every", 250L, about{"steps between checks: 1000 samples judged, the run so far saved to resume"});
  st.seed = args.get("seed", std::uint64_t(1),
                     about{"seed of both nets, the noise, the images drawn and the judge classifier"});
  const std::string data_dir = examples::fashion_mnist_dir(args);
  st.out = args.get(
      "out", std::string("dcgan"),
      about{"folder the judge classifier, the runs' HDF5 files and the pictures are written to (a rerun resumes)"});
  if (!args.done()) return 0;  // --help
  require(st.steps >= 1, "option --steps: expected at least 1, got ", st.steps);
  require(st.batch >= 1 && st.batch <= 65536, "option --batch: expected 1 to 65536 images, got ", st.batch);
  require(st.every >= 1, "option --every: expected at least 1 step, got ", st.every);
  require(st.lr > 0 && st.lr < 1, "option --lr: expected a learning rate in (0, 1), got ", st.lr);
  require(st.beta1 >= 0 && st.beta1 < 1, "option --beta1: expected Adam's momentum in [0, 1), got ", st.beta1);
  const long steps = st.steps;
  const double lr = st.lr;
  const auto seed = st.seed;
  const std::string& out = st.out;
  for (double f : factors) require(f > 0 && std::isfinite(f), "option --factors: expected positive numbers, got ", f);
  basin::make_folder(out, "option --out");
  const auto train_set = read_fashion_mnist(data_dir, true);
  const auto test_set = read_fashion_mnist(data_dir, false);
  st.data = data_digest(train_set);

  // The judge, trained once on the real images in the GAN's scale.
  classifier_t judge(seed);
  const std::string judge_file = out + "/classifier.h5";
  const auto test_scaled = scaled(subset(test_set, 0, 2000));
  {
    // Trained once (4 epochs, resumable); its recipe names the data's digest and the seed, so a
    // rerun on other images or with another seed is refused instead of judged by this classifier.
    optim::optimizer<optim::sgd, float, backend::host> opt({0.9, 5e-4, true}, classifier_t::n_params);
    train_options o;
    o.epochs = 4;
    o.seed = seed;
    const auto judge_data = scaled(train_set);
    if (!basin::path_exists(judge_file, "option --out"))
      std::printf("training the judge (a small conv net) on %lld real images\n", (long long)train_set.size());
    std::fflush(stdout);
    load_or_train(judge, opt, optim::cosine_lr{0.1, 4.0}, judge_data, o, judge_file, "10_dcgan's judge", nullptr,
                  false);
  }
  const auto judged = evaluate(judge, test_scaled);
  const auto ceiling = gan::classifier_score(judge, test_scaled.images);
  features_t features(seed);
  gan::copy_prefix(features, judge);
  const auto real = gan::feature_moments(features, scaled(subset(train_set, 0, 10000)).images);
  const double floor_fd = gan::frechet_distance(gan::feature_moments(features, test_scaled.images), real);
  std::printf(
      "judge: %.2f%% on %lld test images; their score %.2f, %d of 10 classes, Frechet distance %.3g to "
      "10000 training images\n",
      judged.accuracy, (long long)test_scaled.size(), ceiling.score, ceiling.classes_covered, floor_fd);
  {
    plot::style rs;
    rs.title = "Fashion-MNIST: 64 real test images";
    rs.svg = false;
    rs.width = rs.height = 600;
    std::vector<float> first(test_scaled.images.begin(), test_scaled.images.begin() + 64 * 784);
    plot::image_grid(first, test_scaled.shape, 8, out + "/real_samples", rs);
  }

  const gan::image_source source(train_set);
  std::vector<run_result> runs;
  for (double f : factors)
    for (bool predict : {false, true}) runs.push_back(run_one(f, predict, st, source, {judge, features, real}));

  // Pictures: the losses per learning rate, the scores of all runs.
  for (double f : factors) {
    std::vector<plot::curve> cs;
    for (const auto& r : runs) {
      if (r.factor != f) continue;
      plot::curve dc, gc;
      dc.label = std::string("discriminator, ") + (r.prediction ? "prediction" : "alternating");
      gc.label = std::string("generator, ") + (r.prediction ? "prediction" : "alternating");
      const auto ds = smooth(r.d_loss, 20), gs = smooth(r.g_loss, 20);
      for (std::size_t i = 0; i < ds.size(); ++i)
        if (std::isfinite(ds[i]) && std::isfinite(gs[i]))
          dc.x.push_back(double(i + 1)), dc.y.push_back(ds[i]), gc.x.push_back(double(i + 1)), gc.y.push_back(gs[i]);
      if (!dc.x.empty()) cs.push_back(dc), cs.push_back(gc);
    }
    std::ostringstream stem, title;
    stem << out << "/losses_lr" << f << "x";
    title << "DCGAN on Fashion-MNIST, Adam lr " << lr * f << " (" << f << "x): losses (mean of 20 steps)";
    plot::style ls;
    ls.title = title.str();
    ls.xlabel = "step";
    ls.zlabel = "loss";
    ls.log_z = true;
    if (!cs.empty()) plot::curves(cs, {}, stem.str(), ls);
  }
  std::vector<plot::curve> sc;
  for (const auto& r : runs) sc.push_back(plot::curve{r.score_step, r.score, r.name});
  sc.push_back(plot::curve{{0.0, double(steps)}, {ceiling.score, ceiling.score}, "real test images"});
  plot::style ps;
  ps.title = "Classifier score of 1000 samples (10 = sharp and all classes, 1 = collapsed)";
  ps.xlabel = "step";
  ps.zlabel = "score";
  plot::curves(sc, {}, out + "/scores", ps);
  std::vector<plot::curve> fc;
  for (const auto& r : runs)
    if (r.frechet.size() == r.score_step.size()) fc.push_back(plot::curve{r.score_step, r.frechet, r.name});
  fc.push_back(plot::curve{{0.0, double(steps)}, {floor_fd, floor_fd}, "real test images"});
  plot::style fs_style;
  fs_style.title = "Frechet distance of 1000 samples' judge features to the real images' (0 = same Gaussian)";
  fs_style.xlabel = "step";
  fs_style.zlabel = "Frechet distance";
  fs_style.log_z = true;
  plot::curves(fc, {}, out + "/frechet", fs_style);

  std::ostringstream csv;  // (written whole at the end: write_text)
  csv << "run,learning_rate,prediction,steps_done,collapsed,final_score,final_classes,best_score,final_frechet,"
         "best_frechet,seconds\n";
  std::printf("\n%-22s %9s %6s %9s %12s %8s %10s %10s %10s %8s\n", "run", "lr", "steps", "collapsed", "final score",
              "classes", "best score", "final FD", "best FD", "seconds");
  for (const auto& r : runs) {
    double best = 0;
    for (double s : r.score) best = std::max(best, s);
    const double final_score = r.collapsed() ? NAN : r.score.back();
    const double final_classes = r.collapsed() ? NAN : r.classes.back();
    const double final_fd = r.collapsed() || r.frechet.empty() ? NAN : r.frechet.back();
    double best_fd = NAN;
    for (double v : r.frechet)
      if (std::isfinite(v) && (std::isnan(best_fd) || v < best_fd)) best_fd = v;
    std::printf("%-22s %9.2g %6zu %9s %12.2f %8.0f %10.2f %10.3g %10.3g %8.0f\n", r.name.c_str(), lr * r.factor,
                r.d_loss.size(), r.collapsed() ? "yes" : "no", final_score, final_classes, best, final_fd, best_fd,
                r.seconds);
    csv << r.name << ',' << lr * r.factor << ',' << r.prediction << ',' << r.d_loss.size() << ',' << r.collapsed()
        << ',' << final_score << ',' << final_classes << ',' << best << ',' << final_fd << ',' << best_fd << ','
        << r.seconds << '\n';
  }
  write_text(out + "/summary.csv", csv.str(), "10_dcgan: its summary");
  std::printf(
      "(real test images: score %.2f, %d classes, Frechet distance %.3g; a run whose loss stopped being "
      "finite has no final score)\n",
      ceiling.score, ceiling.classes_covered, floor_fd);
  std::printf("wrote %s/{losses_lr*x, scores, frechet, *_samples, real_samples}.png and summary.csv\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "10_dcgan: %s\n", e.what());
  return 1;
}
