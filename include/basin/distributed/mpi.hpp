// basin/distributed/mpi.hpp — sweeps shared by MPI processes (the reference tool's `mpirun -n 4
// python plot_surface.py --mpi ...`).
//
//   basin::mpi::environment env(argc, argv);   // MPI_Init ... MPI_Finalize
//   basin::mpi::team team;                      // MPI_COMM_WORLD
//   surface_options o; o.team = &team;          // every rank calls sweep() alike; rank 0 writes
//
// Only this header needs MPI (link MPI::MPI_CXX, and define what you need; basin has no MPI target:
// examples/CMakeLists.txt links plot_surface so). Every rank runs the whole
// program; rank 0 alone should write files other than through sweep (directions, pictures):
// `team.rank() == 0`. Inside sweep() an error ends the sweep on every rank: rank 0 refusing the
// surface file (every rank throws rank 0's message), or an evaluator throwing on some rank (that
// rank rethrows its error, the others throw one naming it, after rank 0 has written the round's
// other points). An exception outside sweep() on one rank while the others wait in a collective
// call would leave them waiting: catch at main, report, and call abort_all() (plot_surface does).
#pragma once

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/landscape/surface.hpp"

namespace basin::mpi {

namespace detail {
inline void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(code, text, &n);
  fail("MPI: ", what, " failed: ", std::string(text, std::size_t(n)));
}
}  // namespace detail

// MPI_Init on construction (unless MPI is already initialized), MPI_Finalize on destruction.
class environment {
 public:
  environment(int& argc, char**& argv) {
    int up = 0;
    MPI_Initialized(&up);
    if (!up) detail::check(MPI_Init(&argc, &argv), "MPI_Init"), owner_ = true;
  }
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
  ~environment() {
    if (owner_) MPI_Finalize();
  }

 private:
  bool owner_ = false;
};

// Ends every rank of MPI_COMM_WORLD (after an error on one of them).
[[noreturn]] inline void abort_all(int code = 1) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::terminate();
}

// A sweep_team over an MPI communicator (MPI_COMM_WORLD by default).
class team final : public sweep_team {
 public:
  explicit team(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void broadcast(std::vector<std::uint8_t>& bytes) override {
    unsigned long long n = bytes.size();
    detail::check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, comm_), "MPI_Bcast (size)");
    bytes.resize(std::size_t(n));
    for (std::size_t at = 0; at < bytes.size(); at += chunk) {  // counts are int
      const int count = int(std::min<std::size_t>(chunk, bytes.size() - at));
      detail::check(MPI_Bcast(bytes.data() + at, count, MPI_UNSIGNED_CHAR, 0, comm_), "MPI_Bcast");
    }
  }
  void gather(const std::vector<double>& mine, std::vector<double>& all) override {
    require(mine.size() <= chunk, "mpi::team::gather: ", mine.size(), " values per rank, at most ", chunk);
    if (rank_ == 0) all.resize(mine.size() * std::size_t(size_));
    detail::check(MPI_Gather(mine.data(), int(mine.size()), MPI_DOUBLE, rank_ == 0 ? all.data() : nullptr,
                             int(mine.size()), MPI_DOUBLE, 0, comm_),
                  "MPI_Gather");
  }
  void barrier() override { detail::check(MPI_Barrier(comm_), "MPI_Barrier"); }

 private:
  static constexpr std::size_t chunk = std::size_t(1) << 30;
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace basin::mpi
