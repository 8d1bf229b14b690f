// tests/killed.hpp — a real kill for resume tests: the body runs in a forked child process that
// it ends with raise(SIGKILL), so nothing unwinds, no destructor runs and no file is closed.
#pragma once

#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>

namespace basin::test {

// Runs body in a child process with one OpenMP thread (the parent's other threads are not in
// the child) and returns whether the child died by SIGKILL; the body is to raise it itself. No
// Boost.Test checks belong in the body: the parent's log is the one that counts.
inline bool dies_by_sigkill(const std::function<void()>& body) {
  std::fflush(nullptr);  // (the child must not write the parent's buffered output again)
  const pid_t child = ::fork();
  if (child == 0) {
    omp_set_num_threads(1);
    try {
      body();
    } catch (...) {
    }
    std::_Exit(3);  // the body returned: no kill
  }
  if (child < 0) return false;
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return false;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace basin::test
