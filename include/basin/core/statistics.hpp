// basin/core/statistics.hpp — the few statistics the measurements report their confidence with:
// Student's t distribution (for intervals from a handful of samples) and the jackknife.
//
//   const double t = basin::student_t_quantile(0.975, 15);  // 2.13145
//   const double se = basin::jackknife_standard_error(k, [&](int left_out) { ... });  // from leave-one-out estimates
//   const auto [low, high] = basin::t_interval(estimate, se, k, 0.95);
//
// The t distribution's CDF for integer degrees of freedom is the series of Abramowitz and Stegun
// 26.7.3 and 26.7.4 in theta = atan(t / sqrt(nu)); the quantile inverts it by bisection (to 1e-12
// in t, on the tail probability, so that small p keep their relative accuracy), so neither needs a
// special-function library. Both cost O(nu) per CDF (about 50 CDFs a quantile): meant for the
// degrees of freedom of a few dozen samples, not for millions.
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>
#include <vector>

#include "basin/core/error.hpp"

namespace basin {

// Student's t with nu >= 1 degrees of freedom. With theta = atan(|t| / sqrt(nu)), s = sin theta, c = cos theta, P(|T| >
// |t|) is
//   nu even: 1 - s (1 + 1/2 c^2 + 1*3/(2*4) c^4 + ... up to c^(nu - 2))           (A&S 26.7.4)
//          = s (the same series' terms from c^nu on),
//   nu odd:  1 - (2 / pi) (theta + s c (1 + 2/3 c^2 + 2*4/(3*5) c^4 + ... up to c^(nu - 3)))  (26.7.3)
//          = (2 / pi) s (the terms of sum_k (2k)!! / (2k + 1)!! c^(2k + 1) from k = (nu - 1) / 2 on),
// the second forms (the series' tails: the whole series sum to 1 / s and (pi / 2 - theta) / s)
// where the first gives less than 1/4, so that a far tail is not the difference of two numbers
// near 1: the CDF is within about 1e-13 of Boost.Math's, relative, in either tail (nu 1 to 299,
// t from -60 to 60).
namespace detail {
// P(T > |t|) for t not NaN (the series above).
inline double student_t_upper_tail(double t, int nu) {
  if (std::isinf(t)) return 0.0;
  // s and c from the sides of the triangle, not from theta: cos(atan(1e19)) rounds to 6e-17.
  const double r = std::hypot(std::abs(t), std::sqrt(double(nu))),
               theta = std::atan2(std::abs(t), std::sqrt(double(nu)));
  const double s = std::abs(t) / r, c = std::sqrt(double(nu)) / r, c2 = c * c;
  const bool even = nu % 2 == 0;
  // term_k: even, (2k - 1)!! / (2k)!! c^(2k); odd, (2k)!! / (2k + 1)!! c^(2k + 1).
  const auto next = [&](double term, int k) {
    return term * c2 * (even ? double(2 * k - 1) / double(2 * k) : double(2 * k) / double(2 * k + 1));
  };
  const int head = even ? nu / 2 : (nu - 1) / 2;  // the terms k < head are A's series
  double term = even ? 1.0 : c, sum = 0;
  for (int k = 0; k < head; ++k) sum += term, term = next(term, k + 1);
  double q = even ? 1 - s * sum : 1 - 2 / std::numbers::pi * (theta + s * sum);  // P(|T| > |t|)
  if (q < 0.25) {  // the tail itself (term is now term_head); terms fall at least as c^2 < nu / (nu + 1.3)
    sum = 0;
    for (int k = head; term > 1e-17 * sum; ++k) sum += term, term = next(term, k + 1);
    q = even ? s * sum : 2 / std::numbers::pi * s * sum;
  }
  return 0.5 * q;
}
}  // namespace detail

// P(T <= t).
inline double student_t_cdf(double t, int nu) {
  require(nu >= 1, "student_t_cdf: expected at least 1 degree of freedom, got ", nu);
  require(!std::isnan(t), "student_t_cdf: t is NaN");
  const double tail = detail::student_t_upper_tail(t, nu);
  return t >= 0 ? 1 - tail : tail;
}

// The t with P(T <= t) = p for Student's t with nu >= 1 degrees of freedom, 0 < p < 1.
inline double student_t_quantile(double p, int nu) {
  require(p > 0 && p < 1, "student_t_quantile: expected a probability in (0, 1), got ", p);
  require(nu >= 1, "student_t_quantile: expected at least 1 degree of freedom, got ", nu);
  if (p == 0.5) return 0.0;
  const double target = std::min(p, 1 - p);  // P(T > |t|) wanted
  double lo = 0, hi = 1;
  while (detail::student_t_upper_tail(hi, nu) > target) hi *= 2;  // (nu = 1, p = 1e-300: hi ~ 3e299)
  while (hi - lo > 1e-12 * std::max(1.0, hi)) {
    const double mid = 0.5 * (lo + hi);
    (detail::student_t_upper_tail(mid, nu) > target ? lo : hi) = mid;
  }
  const double t = 0.5 * (lo + hi);
  return p < 0.5 ? -t : t;
}

// The jackknife's standard error of an estimate from k samples: leave_out(i) is the estimate
// without sample i (i in [0, k)). Returns sqrt((k - 1) / k * sum_i (est_(i) - mean)^2).
template <class F>
double jackknife_standard_error(int k, F leave_out) {
  require(k >= 2, "jackknife_standard_error: expected at least 2 samples, got ", k);
  std::vector<double> e(static_cast<std::size_t>(k));
  double mean = 0;
  for (int i = 0; i < k; ++i) mean += (e[std::size_t(i)] = leave_out(i)) / double(k);
  double ss = 0;
  for (double v : e) ss += (v - mean) * (v - mean);
  return std::sqrt(double(k - 1) / double(k) * ss);
}

// A two-sided interval around an estimate from k samples with standard error se, at the given
// confidence: estimate -+ t_{(1 + confidence) / 2, k - 1} se.
inline std::pair<double, double> t_interval(double estimate, double se, int k, double confidence) {
  require(confidence > 0 && confidence < 1, "t_interval: expected a confidence in (0, 1), got ", confidence);
  require(k >= 2, "t_interval: expected at least 2 samples, got ", k);
  require(std::isfinite(se) && se >= 0, "t_interval: se = ", se, ", expected a finite standard error >= 0");
  const double h = student_t_quantile(0.5 + 0.5 * confidence, k - 1) * se;
  return {estimate - h, estimate + h};
}

}  // namespace basin
