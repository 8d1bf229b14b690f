// Core: the counter-based generator against Random123's known answers, its statistics, errors;
// the examples' command-line parser (examples/cli.hpp).
#define BOOST_TEST_MODULE core
#include <unistd.h>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/memory.hpp"
#include "basin/core/random.hpp"
#include "basin/core/statistics.hpp"
#include "basin/train/progress.hpp"
#include "cli.hpp"

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
  BOOST_TEST(a.normal(12345) == a.normal(12345));  // a pure function of the index
}

// Neighbouring numbers are independent and each kind has its distribution's shape. n = 400000
// draws of each; a correlation at lag 1, 2 or 3 has sd 1/sqrt(n) and we allow 5 sd (two-sided
// false alarm ~6e-7 each, 9 of them); Pearson's chi-square over bins holding at least 90 expected
// draws each is refused above its 1 - 1e-6 quantile (false alarm 1e-6 each, 3 of them). Catches,
// for example, normal(2j + 1) drawn with cos like normal(2j) (lag-1 correlation 0.5), or uniform
// taking one word of each block four times (0.75); the means alone pass both.
BOOST_AUTO_TEST_CASE(independent_neighbours_and_distribution_shapes) {
  const counter_rng rng{7, stream::shuffle};
  const std::size_t n = 400000;
  std::vector<double> z(n), u(n);
  std::vector<std::uint32_t> k(n);
  for (std::size_t i = 0; i < n; ++i) {
    z[i] = rng.normal(i);
    u[i] = rng.uniform(i);
    k[i] = rng.below(i, 7);
  }
  const auto correlation = [&](const std::vector<double>& x, std::size_t lag) {
    double m = 0;
    for (double v : x) m += v;
    m /= double(n);
    double c = 0, v = 0;
    for (std::size_t i = 0; i < n; ++i) v += (x[i] - m) * (x[i] - m);
    for (std::size_t i = 0; i + lag < n; ++i) c += (x[i] - m) * (x[i + lag] - m);
    return c / v;
  };
  std::vector<double> kd(k.begin(), k.end());
  for (std::size_t lag = 1; lag <= 3; ++lag) {
    BOOST_TEST(std::abs(correlation(z, lag)) < 5 / std::sqrt(double(n)), "normal, lag " << lag);
    BOOST_TEST(std::abs(correlation(u, lag)) < 5 / std::sqrt(double(n)), "uniform, lag " << lag);
    BOOST_TEST(std::abs(correlation(kd, lag)) < 5 / std::sqrt(double(n)), "below(7), lag " << lag);
  }
  // Pearson's statistic of counts against expected shares, and its 1 - 1e-6 quantile.
  const auto chi_square = [&](const std::vector<double>& counts, const std::vector<double>& share, const char* what) {
    double x2 = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
      const double e = double(n) * share[b];
      BOOST_TEST_REQUIRE(e >= 90.0);
      x2 += (counts[b] - e) * (counts[b] - e) / e;
    }
    const boost::math::chi_squared dist(double(counts.size() - 1));
    const double limit = boost::math::quantile(boost::math::complement(dist, 1e-6));
    BOOST_TEST(x2 < limit, what << ": chi-square " << x2 << " over " << counts.size() << " bins, limit " << limit);
  };
  {  // uniform: 64 equal bins
    std::vector<double> c(64, 0.0);
    for (double v : u) c[std::min<std::size_t>(63, std::size_t(v * 64))] += 1;
    chi_square(c, std::vector<double>(64, 1.0 / 64), "uniform");
  }
  {  // below(i, 7): 7 values
    std::vector<double> c(7, 0.0);
    for (auto v : k) {
      BOOST_TEST_REQUIRE(v < 7u);
      c[v] += 1;
    }
    chi_square(c, std::vector<double>(7, 1.0 / 7), "below(7)");
  }
  {  // normal: 28 bins of width 0.25 over [-3.5, 3.5] and the two tails
    const auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
    std::vector<double> c(30, 0.0), share(30);
    for (double v : z) c[v < -3.5 ? 0 : v >= 3.5 ? 29 : 1 + std::min<std::size_t>(27, std::size_t((v + 3.5) * 4))] += 1;
    share[0] = cdf(-3.5);
    share[29] = 1 - cdf(3.5);
    for (int b = 1; b <= 28; ++b) share[b] = cdf(-3.5 + 0.25 * b) - cdf(-3.5 + 0.25 * (b - 1));
    chi_square(c, share, "normal");
  }
}

BOOST_AUTO_TEST_CASE(errors_carry_their_message) {
  try {
    require(false, "file '", "x.h5", "': expected ", 3, " found ", 4);
    BOOST_FAIL("require did not throw");
  } catch (const basin::error& e) {
    BOOST_TEST(std::string(e.what()) == "file 'x.h5': expected 3 found 4");
  }
}

namespace {
// The examples' parser on the given arguments (after the program's name).
examples::cli parse(std::initializer_list<const char*> args) {
  std::vector<std::string> text{"/some/where/01_train"};
  text.insert(text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& t : text) argv.push_back(t.data());
  return examples::cli(int(argv.size()), argv.data());
}

// Runs f, which must throw basin::error with a message containing every one of parts.
template <class F>
void refuses(F f, std::initializer_list<const char*> parts) {
  try {
    f();
    BOOST_ERROR("no error thrown");
  } catch (const basin::error& e) {
    for (const char* p : parts)
      BOOST_TEST(std::string(e.what()).find(p) != std::string::npos, e.what() << " lacks " << p);
  }
}
}  // namespace

BOOST_AUTO_TEST_CASE(examples_options_read_hyphens_and_underscores_alike) {
  auto a = parse({"--train_subset", "512", "--loss-name=mse", "--augment"});
  BOOST_TEST(a.get("train-subset", 0L) == 512);
  BOOST_TEST(a.get("loss_name", std::string("crossentropy")) == "mse");
  BOOST_TEST(a.flag("augment"));
  BOOST_TEST(a.get("epochs", 6) == 6);
  BOOST_TEST(a.has("train-subset"));
  BOOST_TEST(a.done());
  refuses([] { parse({"--train-subset", "1", "--train_subset", "2"}); }, {"option --train_subset is given twice"});
  refuses([] { parse({"--lr", "0.1", "--lr=1"}); }, {"option --lr is given twice"});
}

BOOST_AUTO_TEST_CASE(examples_options_refuse_what_they_cannot_read) {
  refuses([] { parse({"epochs"}); }, {"unexpected argument 'epochs'"});
  refuses([] { parse({"--epochs", "six"}).get("epochs", 6); }, {"option --epochs: expected a number, got 'six'"});
  // Messages name the option as it was typed.
  refuses(
      [] {
        parse({"--train_subset", "all"}).get("train-subset", 0L);
      },
      {"option --train_subset: expected a number, got 'all'"});
  refuses([] { parse({"--out"}).get("out", std::string("x")); }, {"option --out: expected a value after it"});
  refuses([] { parse({"--augment", "false"}).flag("augment"); }, {"option --augment takes no value, got 'false'"});
  // An unsigned option (the seeds) given a negative number: refused, not wrapped to 2^64 - 1.
  refuses(
      [] {
        parse({"--seed", "-1"}).get("seed", std::uint64_t(1));
      },
      {"option --seed: expected 0 or more, got '-1'"});
  BOOST_TEST(parse({"--seed", "18446744073709551615"}).get("seed", std::uint64_t(1)) == 18446744073709551615ull);
  refuses([] { parse({"--lr", "1e-3,x"}).get_list<double>("lr", "1e-3"); }, {"expected numbers separated by commas"});
  // A number out of the option's range says so (not "expected a number"); one so small that it
  // would read as 0 is refused, not taken as 0.
  refuses(
      [] {
        parse({"--grid", "99999999999"}).get("grid", 17);
      },
      {"option --grid: '99999999999' is out of range (expected -2147483648 to 2147483647)"});
  // A count given a number that is not written as a whole one says so, not "out of range".
  refuses(
      [] {
        parse({"--epochs", "2.5"}).get("epochs", 6);
      },
      {"option --epochs: expected a whole number written with digits only, got '2.5'"});
  refuses(
      [] {
        parse({"--batch", "1e3"}).get("batch", 128L);
      },
      {"option --batch: expected a whole number written with digits only, got '1e3'"});
  refuses([] { parse({"--lr", "1e-400"}).get("lr", 0.1); }, {"option --lr: '1e-400' is too small", "read as 0"});
  refuses([] { parse({"--lr", "1e-50"}).get("lr", 0.1f); }, {"option --lr: '1e-50' is too small"});
  refuses(
      [] {
        parse({"--lr", "1e-3,1e999"}).get_list<double>("lr", "1e-3");
      },
      {"option --lr: '1e999' is out of range"});
  refuses([] { parse({"--lr", "nan"}).get("lr", 0.1); }, {"option --lr: expected a number, got 'nan'"});
  // Hexadecimal (which strtold reads, the stream not): not a number, rather than "out of range".
  refuses([] { parse({"--lr", "0x10"}).get("lr", 0.1); }, {"option --lr: expected a number, got '0x10'"});
  refuses([] { parse({"--epochs", "0x10"}).get("epochs", 6); }, {"option --epochs: expected a number, got '0x10'"});
  BOOST_TEST(parse({"--lr", "0"}).get("lr", 0.1) == 0.0);
  BOOST_TEST(parse({"--lr", "1e-310"}).get("lr", 0.1) == 1e-310);  // (a subnormal double: kept)
  // An unknown option names the closest one read (at most 2 edits away), as the user spelled it.
  refuses(
      [] {
        auto a = parse({"--epoch", "3"});
        a.get("epochs", 6);
        a.get("out", std::string("runs"));
        (void)a.done();
      },
      {"unknown option --epoch (did you mean --epochs?)", "--help lists"});
  refuses(
      [] {
        auto a = parse({"--batch", "128"});
        a.get("epochs", 6);
        a.get("batch-size", 128L);
        (void)a.done();
      },
      {"unknown option --batch (did you mean --batch-size?)"});
  // Short names: at most a third of the name's length in edits (at least 1), so --wd is not --lr.
  refuses(
      [] {
        auto a = parse({"--wd", "5e-4"});
        a.get("lr", 0.1);
        a.get("momentum", 0.0);
        (void)a.done();
      },
      {"unknown option --wd;"});
  // PyTorch's name for an option suggests the examples' short one, in either spelling.
  refuses(
      [] {
        auto a = parse({"--weight_decay", "5e-4"});
        a.get("lr", 0.1);
        a.get("wd", 0.0);
        (void)a.done();
      },
      {"unknown option --weight_decay (did you mean --wd?)"});
  refuses(
      [] {
        auto a = parse({"--learning-rate", "0.1"});
        a.get("wd", 0.0);
        a.get("lr", 0.1);
        (void)a.done();
      },
      {"unknown option --learning-rate (did you mean --lr?)"});
  refuses(
      [] {
        auto a = parse({"--colour", "red"});
        a.get("epochs", 6);
        (void)a.done();
      },
      {"unknown option --colour;"});
}

BOOST_AUTO_TEST_CASE(examples_help_reads_every_default_and_stops) {
  // With --help nothing given beside it is parsed (every option gives its default) and done()
  // says stop; without it done() says go on.
  auto a = parse({"--help", "--epochs", "six", "--augment", "yes", "--unknown"});
  BOOST_TEST(a.help());
  BOOST_TEST(a.get("epochs", 6) == 6);
  BOOST_TEST(!a.flag("augment"));
  BOOST_TEST(a.get_list<double>("lr", "1e-3,1e-2").size() == 2u);
  BOOST_TEST(!a.done());
  // The usage goes where done() is told (nowhere for null: the other ranks under mpirun).
  std::FILE* f = std::tmpfile();
  BOOST_REQUIRE(f);
  BOOST_TEST(!a.done(nullptr));
  BOOST_TEST(!a.done(f));
  std::string printed(a.usage().size() + 1, '\0');
  std::rewind(f);
  printed.resize(std::fread(printed.data(), 1, printed.size(), f));
  std::fclose(f);
  BOOST_TEST(printed == a.usage());
  auto b = parse({"--epochs", "3"});
  BOOST_TEST(!b.help());
  BOOST_TEST(b.get("epochs", 6) == 3);
  BOOST_TEST(b.done());
}

BOOST_AUTO_TEST_CASE(examples_usage_lists_every_option_with_its_default) {
  auto a = parse({});
  a.get("epochs", 6);
  a.get("lr", 1e-3);
  a.get("out", std::string("resnet20_fmnist"));
  a.get("data_dir", std::string());
  a.get_list<double>("beta1", "0.5,0.9");
  a.flag("augment");
  a.get("epochs", 7);  // read twice: listed once, with its first default
  BOOST_TEST(a.usage() ==
             "usage: 01_train [options]\n"
             "  --epochs    (default 6)\n"
             "  --lr        (default 0.001)\n"
             "  --out       (default resnet20_fmnist)\n"
             "  --data_dir  (default (none))\n"
             "  --beta1     (default 0.5,0.9)\n"
             "  --augment   (a flag: off unless given)\n"
             "Hyphens and underscores in option names are the same.\n");
}

// With what each option sets (`about`) and the program's purpose: wrapped at 100 columns under
// the option's column, the default last and whole (below the text when it does not fit beside it).
BOOST_AUTO_TEST_CASE(examples_usage_says_what_each_option_sets) {
  std::string program = "/bin/03_surface";
  char* argv[] = {program.data()};
  examples::cli a(1, argv, "Draws the loss landscape of a trained net.");
  a.get("x", std::string("-1:1:21"), examples::about{"the plane's x coordinates, lo:hi:n"});
  a.get("subset", 500L, "all", examples::about{"how many test images each point's loss is the mean over"});
  a.get_list<double>("lr", "0.1", examples::about{"learning rates, comma-separated; one run each"});
  a.flag("keep-biasbn", examples::about{"move the biases and batch norms' parameters too"});
  a.get("out", std::string("landscape"));
  a.get("data", std::string("/usr/share/datasets/fashion-mnist"),
        examples::about{"folder of the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist)"});
  a.get("shown-long", 2,
        "a default whose text is too long to stand on one line beside the option's name, so it is wrapped too",
        examples::about{"one"});
  a.get("empty-about", 3, examples::about{""});  // as no about
  a.get("a-very-long-option", 1,
        examples::about{"a description long enough that it does not fit on one line of a hundred columns with "
                        "its default beside it, so it goes on"});
  BOOST_TEST(a.usage() ==
             "usage: 03_surface [options]\n"
             "Draws the loss landscape of a trained net.\n"
             "  --x                   the plane's x coordinates, lo:hi:n (default -1:1:21)\n"
             "  --subset              how many test images each point's loss is the mean over (default all)\n"
             "  --lr                  learning rates, comma-separated; one run each (default 0.1)\n"
             "  --keep-biasbn         move the biases and batch norms' parameters too (a flag: off unless given)\n"
             "  --out                 (default landscape)\n"
             "  --data                folder of the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist)\n"
             "                        (default /usr/share/datasets/fashion-mnist)\n"
             "  --shown-long          one\n"
             "                        (default a default whose text is too long to stand on one line beside the\n"
             "                        option's name, so it is wrapped too)\n"
             "  --empty-about         (default 3)\n"
             "  --a-very-long-option  a description long enough that it does not fit on one line of a hundred\n"
             "                        columns with its default beside it, so it goes on (default 1)\n"
             "Hyphens and underscores in option names are the same.\n");
  for (std::size_t at = 0, end; (end = a.usage().find('\n', at)) != std::string::npos; at = end + 1)
    BOOST_TEST(end - at <= 100u);
}

// The progress bar in a log (stderr not a terminal): a line at each tenth of the work and one at
// the end, drawn once; "ETA --:--" before any work is done, and a fraction of a unit counts.
// The processes an MPI launcher started, from its environment: what plot_surface built without
// MPI refuses to be one of. Unset or malformed variables count as none; the largest is taken.
BOOST_AUTO_TEST_CASE(examples_see_how_many_processes_mpirun_started) {
  const char* names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"};
  for (const char* n : names) ::unsetenv(n);
  BOOST_TEST(examples::launched_processes() == 1);
  for (const char* n : names) {
    ::setenv(n, "4", 1);
    BOOST_TEST(examples::launched_processes() == 4, n);
    ::unsetenv(n);
  }
  ::setenv("PMI_SIZE", "2", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
  BOOST_TEST(examples::launched_processes() == 3);
  for (const char* bad : {"", "four", "4x", "-2", "99999999999999999999999"}) {
    ::setenv("OMPI_COMM_WORLD_SIZE", bad, 1);
    BOOST_TEST(examples::launched_processes() == 2, "OMPI_COMM_WORLD_SIZE='" << bad << "'");
  }
  for (const char* n : names) ::unsetenv(n);
}

BOOST_AUTO_TEST_CASE(progress_in_a_log_prints_tenths_and_the_end_once) {
  char path[] = "/tmp/basin_progress_XXXXXX";
  const int fd = mkstemp(path);
  BOOST_REQUIRE(fd >= 0);
  std::fflush(stderr);
  const int saved = dup(fileno(stderr));
  dup2(fd, fileno(stderr));
  {
    basin::progress p("work", 19, "img");
    for (long done = 0; done <= 19; ++done) p.update(double(done), double(done));
    p.update(19, 19);  // a second end: nothing more
    basin::progress f("sweep", 4, "points");
    f.update(0.0, 0.0);
    f.update(0.2, 0.2);  // a twentieth of the work: still the first tenth
    f.update(1.5, 1.5);
  }
  std::fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  close(fd);
  std::FILE* in = std::fopen(path, "r");
  BOOST_REQUIRE(in != nullptr);
  std::vector<std::string> lines;
  char buf[512];
  while (std::fgets(buf, sizeof buf, in)) lines.emplace_back(buf);
  std::fclose(in);
  std::remove(path);
  BOOST_REQUIRE(lines.size() == 13u);  // tenths 0 to 9 and the end; the sweep's tenths 0 and 3
  BOOST_TEST(lines[0].find("work [") == 0);
  BOOST_TEST(lines[0].find("0/19") != std::string::npos);
  BOOST_TEST(lines[0].find("ETA --:--") != std::string::npos);
  BOOST_TEST(lines[10].find("100% 19/19") != std::string::npos);
  BOOST_TEST(lines[10].find("took") != std::string::npos);
  BOOST_TEST(lines[11].find("ETA --:--") != std::string::npos);
  BOOST_TEST(lines[12].find(" 37% 1/4") != std::string::npos);
  BOOST_TEST(lines[12].find("ETA --:--") == std::string::npos);
}

// A cgroup's memory limit, cgroup v2 and v1, read from a folder laid out as /sys/fs/cgroup: the
// limit less the anonymous memory in use (the page cache is not subtracted), 0 when unlimited.
BOOST_AUTO_TEST_CASE(cgroup_memory_limits_are_read_in_both_versions) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("basin_cgroup_" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "memory");
  const auto write = [&](const fs::path& p, const std::string& s) { std::ofstream(root / p) << s; };
  BOOST_TEST(basin::detail::cgroup_memory_left(root.string()) == 0u);  // nothing to read
  write("memory.max", "max\n");
  write("memory.stat", "anon 268435456\nfile 5368709120\n");
  BOOST_TEST(basin::detail::cgroup_memory_left(root.string()) == 0u);  // v2, unlimited
  write("memory.max", "1073741824\n");
  BOOST_TEST(basin::detail::cgroup_memory_left(root.string()) == 805306368u);  // 1 GiB - 256 MiB
  write("memory.stat", "file 1\nanon 2147483648\n");
  BOOST_TEST(basin::detail::cgroup_memory_left(root.string()) == 1u);  // over the limit
  fs::remove(root / "memory.max");
  write("memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1, unlimited
  write("memory/memory.stat", "cache 999\nrss 5\ntotal_cache 999\ntotal_rss 1048576\n");
  BOOST_TEST(basin::detail::cgroup_memory_left(root.string()) == 0u);
  write("memory/memory.limit_in_bytes", "4194304\n");
  BOOST_TEST(basin::detail::cgroup_memory_left(root.string()) == 3145728u);  // 4 MiB - 1 MiB
  fs::remove_all(root);
  BOOST_TEST(basin::detail::available_memory() > 0u);
}

// Student's t from the closed series (core/statistics.hpp) against Boost.Math's, and the
// jackknife's standard error of a mean against the textbook s / sqrt(k).
BOOST_AUTO_TEST_CASE(student_t_against_boost_math) {
  for (int nu : {1, 2, 3, 4, 5, 7, 10, 15, 16, 31, 60, 199}) {
    const boost::math::students_t dist(nu);
    for (double t : {-30.0, -2.5, -0.7, 0.0, 0.3, 1.0, 2.13, 6.0, 100.0})
      BOOST_TEST(basin::student_t_cdf(t, nu) == boost::math::cdf(dist, t), boost::test_tools::tolerance(1e-11));
    for (double p : {1e-300, 1e-20, 0.001, 0.025, 0.3, 0.5, 0.8, 0.95, 0.975, 0.995, 0.9999}) {  // far tails too
      const double want = boost::math::quantile(dist, p);
      BOOST_TEST(std::abs(basin::student_t_quantile(p, nu) - want) <= 1e-9 * std::max(1.0, std::abs(want)),
                 "nu " << nu << ", p " << p << ": " << basin::student_t_quantile(p, nu) << " against " << want);
    }
  }
  BOOST_TEST(basin::student_t_quantile(0.975, 15) == 2.131449545559323, boost::test_tools::tolerance(1e-12));
  BOOST_CHECK_THROW(basin::student_t_quantile(1.0, 5), basin::error);
  BOOST_CHECK_THROW(basin::student_t_cdf(1.0, 0), basin::error);
  BOOST_CHECK_THROW(basin::t_interval(0, 1, 5, 1.5), basin::error);
  for (const double se : {-1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()})
    BOOST_CHECK_EXCEPTION(basin::t_interval(0, se, 5, 0.95), basin::error, [](const basin::error& e) {
      return std::string(e.what()).find("expected a finite standard error >= 0") != std::string::npos;
    });  // (-1 gave the interval [2.78, -2.78])
}

BOOST_AUTO_TEST_CASE(jackknife_of_a_mean_is_the_standard_error) {
  const std::vector<double> x{1.5, -0.25, 3.0, 2.0, 0.5, 7.25, -1.0};
  const int k = int(x.size());
  double mean = 0, ss = 0;
  for (double v : x) mean += v / k;
  for (double v : x) ss += (v - mean) * (v - mean);
  const double se = std::sqrt(ss / (k - 1) / k);
  const double jk = basin::jackknife_standard_error(k, [&](int out) {
    double s = 0;
    for (int i = 0; i < k; ++i) s += i == out ? 0 : x[std::size_t(i)];
    return s / (k - 1);
  });
  BOOST_TEST(jk == se, boost::test_tools::tolerance(1e-13));
  const auto [lo, hi] = basin::t_interval(mean, se, k, 0.95);
  BOOST_TEST(hi - mean == 2.446911851144969 * se, boost::test_tools::tolerance(1e-11));  // t_{0.975, 6}
  BOOST_TEST(mean - lo == hi - mean, boost::test_tools::tolerance(1e-14));
  // Other confidences take their own quantile (an interval that always used 0.975 would pass the
  // check above): t_{0.95, 6} and t_{0.995, 6} from Boost.Math.
  for (const double c : {0.9, 0.99}) {
    const auto [l, h] = basin::t_interval(mean, se, k, c);
    const double t = boost::math::quantile(boost::math::students_t(k - 1), 0.5 + 0.5 * c);
    BOOST_TEST(h - mean == t * se, boost::test_tools::tolerance(1e-11));
    BOOST_TEST(mean - l == t * se, boost::test_tools::tolerance(1e-11));
  }
}
