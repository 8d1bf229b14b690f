// Writes a resnet8's curvature on 64 Fashion-MNIST-shaped random images, in double, for
// check_hessian.py to recompute with PyTorch's double backward:
//   model.h5   the checkpoint (weights and running statistics off their initial values)
//   data.h5    input (64, 1, 28, 28) float32, labels (64,) int32
//   hvp.h5     xdirection: a random v (zero on biases and batch norm), ydirection: basin's H v
//   eigen.h5   xdirection, ydirection: the Ritz vectors of the largest and the most negative
//              eigenvalue; root attributes max_eig, min_eig, max_residual, min_residual
//   coherence.h5  gradient_coherence over 4 batches of 16 (train mode): images (4, 16) int64,
//              gram (4, 4); root attributes coherence, mean_cosine (check_coherence.py)
// and in <output folder>/vgg9 model.h5, data.h5 and hvp.h5 of a VGG-9 on 6 images (max pooling);
// and in <output folder>/prune/resnet14_w2 and /plain14_w2 a net of width 2 (wide.h5) and the net
// pruned from it to width 1 by each scoring criterion (l1_norm.h5, bn_scale.h5; net/prune.hpp),
// for check_prune.py.
// Usage: export_hessian <output folder>
#include <cstdio>
#include <filesystem>

#include "basin/io/checkpoint.hpp"
#include "basin/landscape/coherence.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/hessian.hpp"
#include "basin/net/model.hpp"
#include "basin/net/prune.hpp"
#include "basin/net/zoo.hpp"

using namespace basin;

namespace {
// A net of type Net in double (weights and running statistics off their initial values), n
// random images, H v for a random v, and with eigen the extreme eigenpairs, written to dir.
template <class Net>
void write_curvature(const std::string& dir, std::uint64_t seed, index_t n, bool eigen) {
  std::filesystem::create_directories(dir);
  using model_t = model<Net, double>;
  model_t net(seed);
  const counter_rng rng{seed, 5};
  for (index_t i = 0; i < model_t::n_params; ++i) net.params[i] += 0.05 * rng.normal(std::uint64_t(i));
  dataset data;
  data.shape = model_t::in;
  std::vector<double> x(static_cast<std::size_t>(n * data.shape.size()));
  for (int pass = 0; pass < 3; ++pass) {  // running statistics from three train-mode batches
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(1000000 * (pass + 1) + i);
    net.forward(x.data(), n, mode::train);
  }
  data.images.resize(x.size());
  data.labels.resize(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < x.size(); ++i) data.images[i] = float(rng.normal(9000000 + i));
  for (index_t i = 0; i < n; ++i) data.labels[std::size_t(i)] = std::int32_t(rng.below(std::uint64_t(i), 10));
  save_checkpoint(net, dir + "/model.h5");
  h5::atomic_write(dir + "/data.h5", [&](h5::file& f) {
    f.write<float>("input", data.images, {hsize_t(n), 1, 28, 28});
    f.write<std::int32_t>("labels", data.labels, {hsize_t(n)});
  });
  const hessian_options o{.batch_size = 32, .max_iterations = 40, .tolerance = 1e-3, .seed = 2, .vectors = true};
  hessian_operator<model_t> H(net, data, o);
  direction<model_t> v, hv;
  for (index_t i = 0; i < model_t::n_params; ++i) v.params[i] = rng.normal(std::uint64_t(1) << 40 | std::uint64_t(i));
  H.mask(backend::raw(v.params));
  H.apply(backend::raw(v.params), backend::raw(hv.params));
  const direction_options weights{normalization::none, true, false};
  save_directions(dir + "/hvp.h5", v, &hv, weights, 0);
  std::printf("wrote %s/{model,data,hvp}.h5 (%s, %lld images)\n", dir.c_str(), model_t::architecture().c_str(),
              (long long)n);
  if (!eigen) return;
  const auto c = gradient_coherence(net, data, {.batches = 4, .batch_size = n / 4, .seed = 3});
  h5::atomic_write(dir + "/coherence.h5", [&](h5::file& f) {
    f.write<std::int64_t>("images", std::vector<std::int64_t>(c.images.begin(), c.images.end()), {4, hsize_t(n / 4)});
    f.write<double>("gram", c.gram, {4, 4});
    f.set_attr("/", "coherence", c.coherence);
    f.set_attr("/", "mean_cosine", c.mean_cosine);
  });
  std::printf("wrote %s/coherence.h5: alpha %.6g, mean cosine %.6g\n", dir.c_str(), c.coherence, c.mean_cosine);
  auto r = hessian_extremes(net, data, o);
  // An unconverged pair (an interior Ritz value, its residual honest but large) would pass
  // check_hessian.py's residual check: refused here.
  require(r.converged, "export_hessian: Lanczos did not converge in ", o.max_iterations, " products (residuals ",
          r.max_residual, ", ", r.min_residual, ")");
  save_directions(dir + "/eigen.h5", r.max_vector, &r.min_vector, weights, 0, [&](h5::file& f) {
    f.set_attr("/", "max_eig", r.max_eig);
    f.set_attr("/", "min_eig", r.min_eig);
    f.set_attr("/", "max_residual", r.max_residual);
    f.set_attr("/", "min_residual", r.min_residual);
  });
  std::printf(
      "wrote %s/eigen.h5: lambda_max %.6g (residual %.2g), lambda_min %.6g (residual %.2g), %d products, "
      "converged %d\n",
      dir.c_str(), r.max_eig, r.max_residual, r.min_eig, r.min_residual, r.iterations, int(r.converged));
}

// A wide net in double (weights and running statistics off their initial values) and the net
// pruned from it by each scoring criterion, in <root>/<the wide net's name>.
template <class Wide, class Narrow>
void write_pruned(const std::string& root, std::uint64_t seed) {
  const std::string dir = root + "/" + Wide::name();
  std::filesystem::create_directories(dir);
  model<Wide, double> wide(seed);
  const counter_rng rng{seed, 5};
  for (index_t i = 0; i < wide.n_params; ++i) wide.params[i] += 0.05 * rng.normal(std::uint64_t(i));
  std::vector<double> x(static_cast<std::size_t>(4 * wide.in.size()));
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(1000000 * (pass + 1) + i);
    wide.forward(x.data(), 4, mode::train);
  }
  save_checkpoint(wide, dir + "/wide.h5");
  for (auto c : {prune_by::l1_norm, prune_by::bn_scale}) {
    model<Narrow, double> narrow(seed + 1);
    prune_filters(wide, narrow, {c});
    save_checkpoint(narrow, dir + "/" + to_string(c) + ".h5");
  }
  std::printf("wrote %s/{wide,l1_norm,bn_scale}.h5\n", dir.c_str());
}
}  // namespace

int main(int argc, char** argv) try {
  require(argc == 2, "usage: export_hessian <output folder>");
  const std::string dir = argv[1];
  std::filesystem::remove_all(dir);
  write_curvature<resnet<8, fashion_input>>(dir, 8, 64, true);
  // VGG-9: max pooling (with clipped windows on 28x28), whose winners the Hessian freezes.
  write_curvature<vgg9<fashion_input>>(dir + "/vgg9", 9, 6, false);
  write_pruned<resnet<14, fashion_input, 2>, resnet<14, fashion_input, 1>>(dir + "/prune", 10);
  write_pruned<plain<14, fashion_input, 2>, plain<14, fashion_input, 1>>(dir + "/prune", 11);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "export_hessian: %s\n", e.what());
  return 1;
}
