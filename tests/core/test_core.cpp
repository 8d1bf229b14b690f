// Core: the counter-based generator against Random123's known answers, its statistics, errors.
#define BOOST_TEST_MODULE core
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "basin/core/error.hpp"
#include "basin/core/random.hpp"

using namespace basin;

BOOST_AUTO_TEST_CASE(philox_known_answers) {
  // Random123 kat_vectors, philox4x32 with 10 rounds.
  auto r = philox4x32::generate({0, 0, 0, 0}, 0, 0);
  BOOST_TEST(r[0] == 0x6627e8d5u);
  BOOST_TEST(r[1] == 0xe169c58du);
  BOOST_TEST(r[2] == 0xbc57ac4cu);
  BOOST_TEST(r[3] == 0x9b00dbd8u);
  r = philox4x32::generate({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu);
  BOOST_TEST(r[0] == 0x408f276du);
  BOOST_TEST(r[1] == 0x41c83b0eu);
  BOOST_TEST(r[2] == 0xa20bc7c6u);
  BOOST_TEST(r[3] == 0x6d5451fdu);
  r = philox4x32::generate({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, 0xa4093822u, 0x299f31d0u);
  BOOST_TEST(r[0] == 0xd16cfe09u);
  BOOST_TEST(r[1] == 0x94fdccebu);
  BOOST_TEST(r[2] == 0x5001e420u);
  BOOST_TEST(r[3] == 0x24126ea1u);
}

BOOST_AUTO_TEST_CASE(normal_and_uniform_moments) {
  // n = 400000 draws: the sample mean of N(0,1) has sd 1/sqrt(n) = 0.0016; we allow 5 sd
  // (two-sided false-alarm probability ~6e-7). The sample variance has sd sqrt(2/n) = 0.0022.
  const counter_rng rng{42, stream::direction};
  const int n = 400000;
  double s1 = 0, s2 = 0, u1 = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal(std::uint64_t(i));
    s1 += z;
    s2 += z * z;
    u1 += rng.uniform(std::uint64_t(i));
  }
  BOOST_TEST(std::abs(s1 / n) < 5 * 0.0016);
  BOOST_TEST(std::abs(s2 / n - 1) < 5 * 0.0022);
  BOOST_TEST(std::abs(u1 / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
}

BOOST_AUTO_TEST_CASE(streams_and_seeds_differ) {
  const counter_rng a{1, 1}, b{1, 2}, c{2, 1};
  int same_ab = 0, same_ac = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    same_ab += a.bits(i)[0] == b.bits(i)[0];
    same_ac += a.bits(i)[0] == c.bits(i)[0];
  }
  BOOST_TEST(same_ab < 2);
  BOOST_TEST(same_ac < 2);
  // A pure function of the index: asking twice, in any order, gives the same number.
  BOOST_TEST(a.normal(12345) == a.normal(12345));
  for (std::uint32_t i = 0; i < 1000; ++i) BOOST_TEST(a.below(i, 7) < 7u);
}

BOOST_AUTO_TEST_CASE(errors_carry_their_message) {
  try {
    require(false, "file '", "x.h5", "': expected ", 3, " found ", 4);
    BOOST_FAIL("require did not throw");
  } catch (const basin::error& e) {
    BOOST_TEST(std::string(e.what()) == "file 'x.h5': expected 3 found 4");
  }
}
