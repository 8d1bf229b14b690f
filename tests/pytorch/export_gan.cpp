// Writes what check_gan.py needs to replay basin's DCGAN training in PyTorch (float64):
//   <dir>/initial.h5                         the nets before training: groups generator/ and
//                                            discriminator/ of tensors under PyTorch's state_dict
//                                            names (main.0.weight, main.1.running_mean, ...)
//   <dir>/data.h5                            noise (2 steps x 2 draws, n x 8 x 1 x 1) and real
//                                            images (steps x n x 1 x 28 x 28) as train_gan draws them
//   <dir>/<method>.h5 for method alternating, prediction: basin's losses per step (d_loss, g_loss),
//                                            the train-mode forward counts, and both nets (as in
//                                            initial.h5) after `steps` steps of train_gan with plain SGD
// The nets are a DCGAN for 28x28 as examples/10_dcgan.cpp, narrower: transposed convs, batch norm,
// relu, tanh; convs with leaky relu 0.2.
#include <cstdio>
#include <filesystem>
#include <string>

#include "basin/gan/gan.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/io/hdf5.hpp"
#include "basin/optim/optimizers.hpp"

using namespace basin;

namespace {
constexpr int Z = 8;
using gen_net =
    network<input<Z, 1, 1>, named<"main.0", transposed_conv<12, 7, 1, 0, false>>, named<"main.1", batch_norm>, relu,
            named<"main.3", transposed_conv<6, 4, 2, 1, false>>, named<"main.4", batch_norm>, relu,
            named<"main.6", transposed_conv<1, 4, 2, 1, false>>, tanh_layer>;
using disc_net = network<input<1, 28, 28>, named<"main.0", conv<6, 4, 2, 1, false>>, leaky_relu<0.2>,
                         named<"main.2", conv<12, 4, 2, 1, false>>, named<"main.3", batch_norm>, leaky_relu<0.2>,
                         named<"main.5", conv<1, 7, 1, 0, false>>>;
using gen_t = model<gen_net, double>;
using disc_t = model<disc_net, double>;
using sgd_t = optim::optimizer<optim::sgd, double, backend::host>;

constexpr index_t n = 6, steps = 2;
constexpr std::uint64_t seed = 11;
constexpr double lr_g = 0.2, lr_d = 0.1;  // large, so that a wrong step shows

void init(gen_t& g, disc_t& d) {
  gan::dcgan_init(g, 3);
  gan::dcgan_init(d, 4);
  // Spread the weights past DCGAN's 0.02 so that the nets' outputs and gradients are not tiny.
  for (auto&& w : g.params) w = w * 5;
  for (auto&& w : d.params) w = w * 3;
}

template <class Table>
void write_tensors(h5::file& f, const std::string& prefix, const std::vector<std::string>& names, const Table& table,
                   const double* buffer) {
  for (std::size_t t = 0; t < table.size(); ++t) {
    std::vector<hsize_t> dims;
    for (int a = 0; a < table[t].rank; ++a) dims.push_back(hsize_t(table[t].extent[a]));
    f.write(prefix + names[t], buffer + table[t].offset, dims);
  }
}

void save_nets(h5::file& f, gen_t& g, disc_t& d) {
  write_tensors(f, "generator/", gen_t::parameter_names(), gen_t::param_table, backend::raw(g.params));
  write_tensors(f, "generator/", gen_t::state_names(), gen_t::state_table, backend::raw(g.state));
  write_tensors(f, "discriminator/", disc_t::parameter_names(), disc_t::param_table, backend::raw(d.params));
  write_tensors(f, "discriminator/", disc_t::state_names(), disc_t::state_table, backend::raw(d.state));
}
}  // namespace

int main(int argc, char** argv) try {
  require(argc == 2, "usage: export_gan DIR");
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  // Real images: uniform pixels (the replay needs the same numbers, not their look).
  dataset real;
  real.shape = {1, 28, 28};
  const counter_rng rng{seed, 99};
  for (index_t i = 0; i < 40 * 784; ++i) real.images.push_back(float(rng.uniform(std::uint64_t(i))));
  real.labels.assign(40, 0);
  const gan::image_source source(real);
  {
    auto f = h5::file::create(dir + "/data.h5");
    std::vector<double> z, x;
    for (index_t s = 0; s < steps; ++s) {
      for (std::uint64_t draw : {std::uint64_t(2 * s), std::uint64_t(2 * s + 1)}) {
        const counter_rng nrng{seed, (gan::noise_stream << 32) + draw};  // as gan::detail::generate
        for (index_t i = 0; i < n * Z; ++i) z.push_back(nrng.normal(std::uint64_t(i)));
      }
      const auto r = source.sample(seed, std::uint64_t(s), n);
      x.insert(x.end(), r.begin(), r.end());
    }
    f.write("noise", z, {hsize_t(steps), 2, hsize_t(n), hsize_t(Z), 1, 1});
    f.write("real", x, {hsize_t(steps), hsize_t(n), 1, 28, 28});
    f.write_scalar("lr_g", lr_g);
    f.write_scalar("lr_d", lr_d);
  }
  {
    gen_t g;
    disc_t d;
    init(g, d);
    auto f = h5::file::create(dir + "/initial.h5");
    save_nets(f, g, d);
  }
  for (bool predict : {false, true}) {
    gen_t g;
    disc_t d;
    init(g, d);
    sgd_t og({0, 0, false}, gen_t::n_params), od({0, 0, false}, disc_t::n_params);
    gan::gan_options o;
    o.steps = steps;
    o.batch_size = n;
    o.prediction = predict;
    o.seed = seed;
    o.progress = false;
    const auto h = gan::train_gan(
        g, d, og, od, [](index_t) { return lr_g; }, [](index_t) { return lr_d; }, source, o);
    auto f = h5::file::create(dir + (predict ? "/prediction.h5" : "/alternating.h5"));
    std::vector<double> dl, gl;
    for (const auto& r : h) dl.push_back(r.d_loss), gl.push_back(r.g_loss);
    f.write("d_loss", dl);
    f.write("g_loss", gl);
    f.write_scalar("generator_batches_tracked", double(g.batches_tracked));
    f.write_scalar("discriminator_batches_tracked", double(d.batches_tracked));
    save_nets(f, g, d);
    std::printf("%s: d_loss %.6f %.6f, g_loss %.6f %.6f\n", predict ? "prediction" : "alternating", dl[0], dl[1], gl[0],
                gl[1]);
  }
  std::printf("wrote %s/{data, initial, alternating, prediction}.h5\n", dir.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "export_gan: %s\n", e.what());
  return 1;
}
