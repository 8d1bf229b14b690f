// A short training run on real Fashion-MNIST (a subset) whose loss must drop below a bound.
#define BOOST_TEST_MODULE train_fashion
#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "basin/data/idx.hpp"
#include "basin/net/model.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/train/trainer.hpp"

using namespace basin;

namespace {
const char* fashion_dir() {
  const char* env = std::getenv("BASIN_FASHION_MNIST_DIR");
  return env ? env : "/usr/share/datasets/fashion-mnist";
}
bool have_fashion() { return std::filesystem::exists(std::string(fashion_dir()) + "/train-labels-idx1-ubyte.gz"); }
boost::test_tools::assertion_result needs_fashion(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(have_fashion());
  r.message() << "Fashion-MNIST not found in " << fashion_dir() << " (Debian package dataset-fashion-mnist)";
  return r;
}
using small_cnn = network<input<1, 28, 28>, conv<8, 3, 2, 1>, batch_norm, relu, conv<16, 3, 2, 1>, batch_norm, relu,
                          residual<conv<16, 3>, batch_norm, relu, conv<16, 3>, batch_norm>, relu, global_avg_pool,
                          dense<10>>;
}  // namespace

BOOST_AUTO_TEST_CASE(loss_drops_on_a_fashion_subset, *boost::unit_test::precondition(needs_fashion)) {
  auto train_set = read_fashion_mnist(fashion_dir(), true);
  auto test_set = read_fashion_mnist(fashion_dir(), false);
  const auto stats = compute_channel_stats(train_set);
  normalize(train_set, stats);
  normalize(test_set, stats);
  train_set = subset(train_set, 0, 3000);
  test_set = subset(test_set, 0, 1000);
  model<small_cnn, float> m(1);
  const auto before = evaluate(m, test_set);
  optim::optimizer<optim::adam, float, backend::host> opt({}, m.n_params);
  train_options o;
  o.epochs = 3;
  o.batch_size = 50;
  o.progress = false;
  const auto h = train(m, opt, optim::constant_lr{0.01}, train_set, o, &test_set);
  BOOST_TEST_MESSAGE("test loss " << before.loss << " -> " << h.back().test.loss << ", accuracy "
                                  << before.accuracy << "% -> " << h.back().test.accuracy << "%");
  // An untrained net is near ln 10 = 2.30; after 3 epochs on 3000 images this net reaches
  // test loss ~0.82 and ~68% test accuracy (seed 1, measured). The bounds leave a margin.
  BOOST_TEST(before.loss > 1.8);
  BOOST_TEST(h.back().train_loss < 1.0);
  BOOST_TEST(h.back().test.loss < 1.2);
  BOOST_TEST(h.back().test.accuracy > 55.0);
  BOOST_TEST(h.back().train_loss < h.front().train_loss);
}
