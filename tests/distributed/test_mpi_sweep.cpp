// Sweeps shared by MPI processes (run under mpirun -np 2 by CTest): the team's surface equals a
// single process's bit for bit, although every rank but 0 starts from other directions (rank 0's
// are broadcast); a team resumes a partly computed file and computes exactly the missing points;
// a file of another sweep is refused on every rank with rank 0's message; an evaluator that throws
// on rank 1 ends the sweep on both ranks (no rank left waiting), rank 0 having written every point
// finished before, and a rerun resumes from there.
#define BOOST_TEST_MODULE distributed
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <string>

#include "../random_data.hpp"
#include "basin/distributed/mpi.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/net/model.hpp"

using namespace basin;
namespace fs = std::filesystem;

namespace {
struct mpi_fixture {
  int argc = 0;
  char** argv = nullptr;
  mpi::environment env{argc, argv};
};
BOOST_TEST_GLOBAL_FIXTURE(mpi_fixture);

using net = network<input<1, 8, 8>, conv<4, 3>, batch_norm, relu, global_avg_pool, dense<3>>;
using model_t = model<net, float>;

fs::path folder() {
  static const fs::path dir = BASIN_TEST_SCRATCH;  // in the build tree: two builds' runs do not meet
  return dir;
}

surface_options options(sweep_team* team) {
  surface_options o;
  o.x = linspace(-1, 1, 5);
  o.y = linspace(-0.5, 0.5, 4);
  o.progress = false;
  o.points_per_pass = 3;  // blocks of 3 points: 7 blocks over 2 ranks, the last rank idle in the last round
  o.settings = "test";
  o.team = team;
  return o;
}
}  // namespace

BOOST_AUTO_TEST_CASE(team_sweep_equals_one_process_and_resumes) {
  mpi::team team;
  BOOST_TEST_REQUIRE(team.size() >= 2, "run under mpirun with at least 2 processes");
  const bool root = team.rank() == 0;
  const dataset data = test::random_dataset(net::in, 40, 3, 3);
  loss_accuracy metrics{&data, nullptr, 16};
  const auto ref = (folder() / "ref.h5").string(), dist = (folder() / "dist.h5").string(),
             part = (folder() / "part.h5").string();
  model_t m(1);
  const direction_options dopt{normalization::filter, true, false};
  if (root) {
    fs::remove_all(folder());
    fs::create_directories(folder());
    auto dx = random_direction(m, 1, 0, dopt), dy = random_direction(m, 1, 1, dopt);
    const auto st = sweep(m, dx, &dy, ref, options(nullptr), metrics.names(), metrics);
    BOOST_TEST(st.computed == 20);
  }
  team.barrier();

  // Ranks other than 0 start from other directions and another origin: rank 0's are broadcast.
  model_t mine(1 + std::uint64_t(team.rank()));
  auto dx = random_direction(mine, 1 + std::uint64_t(team.rank()), 0, dopt);
  auto dy = random_direction(mine, 1 + std::uint64_t(team.rank()), 1, dopt);
  const auto st = sweep(mine, dx, &dy, dist, options(&team), metrics.names(), metrics);
  BOOST_TEST(st.computed == 20);  // the whole team's points, on every rank
  BOOST_TEST(st.skipped == 0);
  if (root) {
    auto a = h5::file::open(ref), b = h5::file::open(dist);
    for (const auto& n : metrics.names()) {
      const auto va = a.read<double>(n), vb = b.read<double>(n);
      BOOST_TEST_REQUIRE(va.size() == 20u);
      for (std::size_t i = 0; i < va.size(); ++i) BOOST_TEST(va[i] == vb[i], n << "[" << i << "]");
    }
    const auto done = b.read<std::uint8_t>("computed");
    for (auto v : done) BOOST_TEST(int(v) == 1);
  }

  // Resume: 4 points of a copy of the reference cleared; the team computes exactly those.
  if (root) {
    fs::copy_file(ref, part, fs::copy_options::overwrite_existing);
    auto f = h5::file::open(part, true);
    const std::uint8_t zero = 0;
    const double unset = -1;
    for (index_t at : {1, 7, 8, 19}) {
      f.write_range<std::uint8_t>("computed", at, &zero, 1);
      for (const auto& n : metrics.names()) f.write_range<double>(n, at, &unset, 1);
    }
  }
  team.barrier();
  const auto again = sweep(mine, dx, &dy, part, options(&team), metrics.names(), metrics);
  BOOST_TEST(again.computed == 4);
  BOOST_TEST(again.skipped == 16);
  if (root) {
    auto a = h5::file::open(ref), b = h5::file::open(part);
    for (const auto& n : metrics.names()) {
      const auto va = a.read<double>(n), vb = b.read<double>(n);
      for (std::size_t i = 0; i < va.size(); ++i)
        BOOST_TEST(std::abs(va[i] - vb[i]) <= 1e-5 * std::max(1.0, std::abs(va[i])), n << "[" << i << "]");
    }
  }

  // A file of another sweep: refused on every rank, with rank 0's reason.
  auto other = options(&team);
  other.settings = "another";
  try {
    sweep(mine, dx, &dy, part, other, metrics.names(), metrics);
    BOOST_ERROR("a file of another sweep was accepted on rank " << team.rank());
  } catch (const basin::error& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("belongs to another sweep") != std::string::npos, msg);
    if (!root) BOOST_TEST(msg.find("rank 0's error") != std::string::npos, msg);
  }
  team.barrier();
  if (root) fs::remove_all(folder());
}

BOOST_AUTO_TEST_CASE(an_error_on_one_rank_ends_the_sweep_on_all) {
  mpi::team team;
  BOOST_TEST_REQUIRE(team.size() == 2, "run under mpirun with 2 processes");
  const bool root = team.rank() == 0;
  const dataset data = test::random_dataset(net::in, 24, 5, 3);
  const auto ref = (folder() / "ref_point.h5").string(), dist = (folder() / "fail.h5").string();
  model_t m(2);
  const direction_options dopt{normalization::filter, true, false};
  auto dx = random_direction(m, 2, 0, dopt), dy = random_direction(m, 2, 1, dopt);
  // A point-by-point evaluator: blocks of one point, 20 blocks dealt to 2 ranks in 10 rounds.
  const auto loss = [&](model_t& at) { return point_metrics{evaluate(at, data).loss}; };
  if (root) {
    fs::remove_all(folder());
    fs::create_directories(folder());
    BOOST_TEST(sweep(m, dx, &dy, ref, options(nullptr), {"train_loss"}, loss).computed == 20);
  }
  team.barrier();

  int calls = 0;  // rank 1's third point (round 2) throws
  const auto flaky = [&](model_t& at) {
    if (team.rank() == 1 && ++calls == 3) fail("flaky evaluator: out of data on rank 1");
    return loss(at);
  };
  try {
    sweep(m, dx, &dy, dist, options(&team), {"train_loss"}, flaky);
    BOOST_ERROR("the sweep went on after rank 1 failed, on rank " << team.rank());
  } catch (const basin::error& e) {
    const std::string msg = e.what();
    if (root) {
      BOOST_TEST(msg.find("stopped in round 2") != std::string::npos, msg);
      BOOST_TEST(msg.find("rank(s) 1 failed") != std::string::npos, msg);
      BOOST_TEST(msg.find(dist) != std::string::npos, msg);
    } else {
      BOOST_TEST(msg.find("flaky evaluator: out of data on rank 1") != std::string::npos, msg);
    }
  }
  team.barrier();
  // Rounds 0 and 1 (4 points) and rank 0's point of round 2 are in the file.
  if (root) {
    const auto done = h5::file::open(dist).read<std::uint8_t>("computed");
    BOOST_TEST(std::count(done.begin(), done.end(), std::uint8_t(1)) == 5);
  }
  const auto st = sweep(m, dx, &dy, dist, options(&team), {"train_loss"}, loss);
  BOOST_TEST(st.computed == 15);
  BOOST_TEST(st.skipped == 5);
  if (root) {
    const auto a = h5::file::open(ref).read<double>("train_loss"), b = h5::file::open(dist).read<double>("train_loss");
    BOOST_TEST_REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      BOOST_TEST(std::abs(a[i] - b[i]) <= 1e-6 * std::max(1.0, std::abs(a[i])), "train_loss[" << i << "]");
  }
  team.barrier();
  if (root) fs::remove_all(folder());
}
