// tests/checks.hpp — how the tests accumulate errors so that a NaN cannot pass.
#pragma once

#include <cmath>
#include <limits>

namespace basin::test {

// The larger of an accumulated error and a new one, where a NaN in either stays NaN for good.
// std::max(worst, NaN) returns worst, and a bare `if (!(e <= worst)) worst = e` lets a later
// finite e replace a NaN worst: either way a NaN forward, backward or loss would pass. A NaN
// worst fails every `worst < tol` check.
inline double worse(double worst, double e) {
  return std::isnan(worst) || std::isnan(e) ? std::numeric_limits<double>::quiet_NaN() : (e > worst ? e : worst);
}

}  // namespace basin::test
