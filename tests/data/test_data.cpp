// tests/data/test_data.cpp — the data readers and the dataset transforms.
//
// Every test writes small synthetic files in the exact IDX or CIFAR-10 binary format (plain and
// gzipped) into a fresh temporary directory, reads them back exactly, then feeds the readers
// truncated, corrupted and mismatched files and checks that each is refused with a message
// naming the file and what was wrong. The real Fashion-MNIST set is read when it is installed
// (Debian's dataset-fashion-mnist, or the directory in $BASIN_FASHION_MNIST_DIR).
#define BOOST_TEST_MODULE data
#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/data/cifar.hpp"
#include "basin/data/dataset.hpp"
#include "basin/data/idx.hpp"

namespace fs = std::filesystem;
using bytes = std::vector<unsigned char>;

namespace {

// A fresh directory under the system's temporary directory, removed with its files on scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    for (int attempt = 0;; ++attempt) {
      path = fs::temp_directory_path() /
             ("basin-test-data-" + std::to_string(rd()) + "-" + std::to_string(attempt));
      if (fs::create_directory(path)) break;
    }
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_plain(const std::string& path, const bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  BOOST_REQUIRE(out.good());
}

void write_gz(const std::string& path, const bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  BOOST_REQUIRE(f != nullptr);
  if (!b.empty()) BOOST_REQUIRE_EQUAL(gzwrite(f, b.data(), unsigned(b.size())), int(b.size()));
  BOOST_REQUIRE_EQUAL(gzclose(f), Z_OK);
}

// Writes b to dir/name, gzipped when gz; returns the path.
std::string write(const temp_dir& dir, const std::string& name, const bytes& b, bool gz = false) {
  const std::string path = dir / name;
  gz ? write_gz(path, b) : write_plain(path, b);
  return path;
}

bytes read_plain(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), {});
}

void put_be32(bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back((v >> s) & 0xFF);
}

// An IDX file: magic, big-endian extents, then the payload.
bytes idx_file(std::uint32_t magic, const std::vector<std::uint32_t>& extents,
               const bytes& payload) {
  bytes b;
  put_be32(b, magic);
  for (std::uint32_t e : extents) put_be32(b, e);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// n images of h x w with every byte value 0..255 turning up in a known order.
bytes some_pixels(std::uint32_t n, std::uint32_t h, std::uint32_t w) {
  bytes p(n * h * w);
  for (std::size_t k = 0; k < p.size(); ++k) p[k] = (k * 37 + k / 7) & 0xFF;
  p[0] = 0;
  p[1] = 255;
  return p;
}

// Pseudo-random bytes: gzip cannot shrink them much, so cutting the compressed file in half
// cuts into the deflate stream, not just its trailer.
bytes noise(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  bytes p(n);
  for (auto& x : p) x = g() & 0xFF;
  return p;
}

constexpr std::uint32_t n_img = 3, h_img = 4, w_img = 5;
const bytes pixels = some_pixels(n_img, h_img, w_img);  // (n, h, w)
const bytes labels{7, 0, 9};                            // (n)
const bytes images_idx = idx_file(0x00000803, {n_img, h_img, w_img}, pixels);
const bytes labels_idx = idx_file(0x00000801, {n_img}, labels);

// A BOOST_CHECK_EXCEPTION predicate: the message contains every one of the words.
auto mentions(std::vector<std::string> words) {
  return [words = std::move(words)](const basin::error& e) {
    const std::string what = e.what();
    for (const std::string& w : words)
      if (what.find(w) == std::string::npos) {
        BOOST_TEST_MESSAGE("message \"" << what << "\" lacks \"" << w << "\"");
        return false;
      }
    return true;
  };
}

void check_synthetic(const basin::dataset& d) {
  BOOST_TEST(d.size() == basin::index_t(n_img));
  BOOST_TEST((d.shape == basin::dims{1, int(h_img), int(w_img)}));
  BOOST_TEST(d.classes == 10);
  BOOST_REQUIRE_EQUAL(d.images.size(), pixels.size());
  for (std::size_t k = 0; k < pixels.size(); ++k)
    BOOST_TEST(d.images[k] == float(pixels[k]) / 255.0f, "pixel " << k);
  BOOST_TEST(d.images[0] == 0.0f);
  BOOST_TEST(d.images[1] == 1.0f);
  BOOST_REQUIRE_EQUAL(d.labels.size(), labels.size());
  for (std::size_t k = 0; k < labels.size(); ++k) BOOST_TEST(d.labels[k] == labels[k]);
  BOOST_TEST(d.image(2) == d.images.data() + 2 * h_img * w_img);
}

}  // namespace

// ---- IDX: exact round trips ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(idx)

BOOST_AUTO_TEST_CASE(round_trip_plain) {
  temp_dir dir;
  check_synthetic(basin::read_idx(write(dir, "img", images_idx), write(dir, "lab", labels_idx)));
}

BOOST_AUTO_TEST_CASE(round_trip_gzip) {
  temp_dir dir;
  check_synthetic(basin::read_idx(write(dir, "img.gz", images_idx, true),
                                  write(dir, "lab.gz", labels_idx, true)));
}

BOOST_AUTO_TEST_CASE(round_trip_mixed_and_classes) {
  temp_dir dir;
  const basin::dataset d = basin::read_idx(write(dir, "img.gz", images_idx, true),
                                           write(dir, "lab", labels_idx), 12);
  BOOST_TEST(d.classes == 12);
  BOOST_TEST(d.labels[2] == 9);
}

// Two gzip members back to back read as one stream, as gunzip reads them.
BOOST_AUTO_TEST_CASE(concatenated_gzip_members) {
  temp_dir dir;
  const std::size_t half = images_idx.size() / 2;
  write_gz(dir / "a.gz", bytes(images_idx.begin(), images_idx.begin() + half));
  write_gz(dir / "b.gz", bytes(images_idx.begin() + half, images_idx.end()));
  bytes both = read_plain(dir / "a.gz");
  const bytes b = read_plain(dir / "b.gz");
  both.insert(both.end(), b.begin(), b.end());
  check_synthetic(basin::read_idx(write(dir, "img.gz", both), write(dir, "lab", labels_idx)));
}

// Bytes after the last gzip member that do not start another one: gunzip's "trailing garbage",
// which zlib's gzread skips in silence; refused, with their count.
BOOST_AUTO_TEST_CASE(garbage_after_gzip_stream) {
  temp_dir dir;
  const std::string lab = write(dir, "lab", labels_idx);
  const bytes gz = read_plain(write(dir, "img.gz", images_idx, true));
  for (const bytes& tail : {bytes{'J', 'U', 'N', 'K'}, bytes{0x1f}, bytes(5000, 0)}) {
    bytes b = gz;
    b.insert(b.end(), tail.begin(), tail.end());
    const std::string img = write(dir, "junk.gz", b);
    BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                          mentions({img, std::to_string(tail.size()) + " bytes after the end of its gzip stream"}));
  }
  // The labels file too; and a second member that is cut short is a truncated stream.
  bytes lb = read_plain(write(dir, "lab.gz", labels_idx, true));
  lb.push_back('x');
  const std::string bad_lab = write(dir, "bad_lab.gz", lb);
  BOOST_CHECK_EXCEPTION(basin::read_idx(write(dir, "img", images_idx), bad_lab), basin::error,
                        mentions({bad_lab, "1 bytes after the end of its gzip stream"}));
  bytes two = gz;
  two.insert(two.end(), gz.begin(), gz.begin() + 10);  // a second member's header alone
  const std::string cut = write(dir, "cut.gz", two);
  BOOST_CHECK_EXCEPTION(basin::read_idx(cut, lab), basin::error,
                        mentions({cut, "truncated", "unexpected end of file"}));
}

BOOST_AUTO_TEST_CASE(finds_gz_or_plain_by_name) {
  temp_dir dir;
  write(dir, "train-images-idx3-ubyte.gz", images_idx, true);
  write(dir, "train-labels-idx1-ubyte", labels_idx);
  check_synthetic(basin::read_fashion_mnist(dir.path.string(), true));
  check_synthetic(basin::read_mnist(dir.path.string(), true));
  // The .gz file wins when both exist: make the plain one unreadable as IDX.
  write(dir, "train-images-idx3-ubyte", bytes{1, 2, 3});
  check_synthetic(basin::read_mnist(dir.path.string()));
  BOOST_CHECK_EXCEPTION(basin::read_fashion_mnist(dir.path.string(), false), basin::error,
                        mentions({dir / "t10k-images-idx3-ubyte", "neither"}));
}

// ---- IDX: every rejection names the file and what was wrong ----------------------------------

BOOST_AUTO_TEST_CASE(missing_files) {
  temp_dir dir;
  const std::string img = write(dir, "img", images_idx), lab = write(dir, "lab", labels_idx);
  BOOST_CHECK_EXCEPTION(basin::read_idx(dir / "nope", lab), basin::error,
                        mentions({dir / "nope", "not found"}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, dir / "nope"), basin::error,
                        mentions({dir / "nope", "not found"}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(dir.path.string(), lab), basin::error,
                        mentions({dir.path.string(), "directory"}));
  // A path that cannot even be looked at is not "not found": the reason is given.
  const std::string too_long = dir / std::string(300, 'a');
  BOOST_CHECK_EXCEPTION(basin::read_idx(too_long, lab), basin::error, mentions({too_long, "cannot be looked at: "}));
  BOOST_CHECK_EXCEPTION(basin::read_cifar10({too_long}), basin::error, mentions({too_long, "cannot be looked at: "}));
}

BOOST_AUTO_TEST_CASE(bad_magic) {
  temp_dir dir;
  const std::string lab = write(dir, "lab", labels_idx);
  for (bool gz : {false, true}) {
    const std::string img = write(dir, gz ? "img.gz" : "img",
                                  idx_file(0x12345678, {n_img, h_img, w_img}, pixels), gz);
    BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                          mentions({img, "magic", "0x12345678", "0x00000803"}));
  }
  // A float IDX file (type 0x0D) is not one of unsigned bytes.
  const std::string img = write(dir, "float", idx_file(0x00000D03, {n_img, h_img, w_img}, pixels));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                        mentions({img, "magic", "0x00000D03"}));
  // Images and labels swapped.
  BOOST_CHECK_EXCEPTION(basin::read_idx(lab, img), basin::error, mentions({lab, "dimensions"}));
  const std::string bad_lab = write(dir, "bad_lab", idx_file(0x08010000, {n_img}, labels));
  BOOST_CHECK_EXCEPTION(basin::read_idx(write(dir, "img2", images_idx), bad_lab), basin::error,
                        mentions({bad_lab, "magic", "0x00000801", "0x08010000"}));
}

BOOST_AUTO_TEST_CASE(wrong_dimension_count) {
  temp_dir dir;
  const std::string lab = write(dir, "lab", labels_idx);
  const std::string img = write(dir, "img", idx_file(0x00000802, {n_img, h_img * w_img}, pixels));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                        mentions({img, "2 dimensions", "expected 3 dimensions"}));
  const std::string lab2 = write(dir, "lab2", idx_file(0x00000802, {n_img, 1}, labels));
  BOOST_CHECK_EXCEPTION(basin::read_idx(write(dir, "img2", images_idx), lab2), basin::error,
                        mentions({lab2, "2 dimensions", "expected 1 dimensions"}));
}

BOOST_AUTO_TEST_CASE(zero_and_absurd_extents) {
  temp_dir dir;
  const std::string lab = write(dir, "lab", labels_idx);
  const std::string zero_h = write(dir, "zero_h", idx_file(0x00000803, {n_img, 0, w_img}, {}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(zero_h, lab), basin::error,
                        mentions({zero_h, "height", "is 0"}));
  const std::string zero_n = write(dir, "zero_n", idx_file(0x00000803, {0, h_img, w_img}, {}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(zero_n, lab), basin::error,
                        mentions({zero_n, "count", "is 0"}));
  const std::string wide = write(dir, "wide", idx_file(0x00000803, {n_img, h_img, 100000}, {}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(wide, lab), basin::error,
                        mentions({wide, "width", "100000", "exceeds"}));
  // A count of 2^32 - 1 images of 16384 x 16384 must be refused before anything is allocated.
  const std::string huge =
      write(dir, "huge", idx_file(0x00000803, {0xFFFFFFFFu, 16384, 16384}, pixels));
  BOOST_CHECK_EXCEPTION(basin::read_idx(huge, lab), basin::error,
                        mentions({huge, "count", "4294967295", "exceeds"}));
  // Within the limits but far more than the file holds: refused as truncated, not as bad_alloc.
  const std::string big = write(dir, "big", idx_file(0x00000803, {1u << 30, 28, 28}, pixels));
  BOOST_CHECK_EXCEPTION(basin::read_idx(big, lab), basin::error,
                        mentions({big, "truncated", std::to_string((1LL << 30) * 784)}));
}

BOOST_AUTO_TEST_CASE(truncated_header) {
  temp_dir dir;
  const std::string lab = write(dir, "lab", labels_idx);
  for (std::size_t keep : {0, 2, 6, 15}) {
    const std::string img =
        write(dir, "img" + std::to_string(keep), bytes(images_idx.begin(), images_idx.begin() + keep));
    BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                          mentions({img, "truncated", "got " + std::to_string(keep) + " bytes"}));
  }
}

BOOST_AUTO_TEST_CASE(truncated_payload) {
  temp_dir dir;
  const std::string lab = write(dir, "lab", labels_idx);
  for (bool gz : {false, true}) {
    const std::string img = write(dir, gz ? "img.gz" : "img",
                                  bytes(images_idx.begin(), images_idx.end() - 7), gz);
    BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                          mentions({img, "truncated", "promises 60 bytes", "got 53"}));
  }
  const std::string img = write(dir, "img2", images_idx);
  const std::string short_lab = write(dir, "short_lab", bytes(labels_idx.begin(), labels_idx.end() - 1));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, short_lab), basin::error,
                        mentions({short_lab, "truncated", "promises 3 bytes", "got 2"}));
}

BOOST_AUTO_TEST_CASE(trailing_bytes) {
  temp_dir dir;
  bytes longer = images_idx;
  longer.insert(longer.end(), {1, 2});
  for (bool gz : {false, true}) {
    const std::string img = write(dir, gz ? "img.gz" : "img", longer, gz);
    BOOST_CHECK_EXCEPTION(basin::read_idx(img, write(dir, "lab", labels_idx)), basin::error,
                          mentions({img, "2 trailing bytes", "60 bytes"}));
  }
  bytes lab = labels_idx;
  lab.push_back(0);
  const std::string long_lab = write(dir, "long_lab", lab);
  BOOST_CHECK_EXCEPTION(basin::read_idx(write(dir, "img3", images_idx), long_lab), basin::error,
                        mentions({long_lab, "1 trailing bytes"}));
}

// A gzip file cut short: zlib reports "unexpected end of file" and the reader says how many of
// the promised bytes it got.
BOOST_AUTO_TEST_CASE(truncated_gzip_stream) {
  temp_dir dir;
  constexpr std::uint32_t n = 40;
  const bytes big = idx_file(0x00000803, {n, 28, 28}, noise(n * 784, 1));
  const std::string whole = write(dir, "whole.gz", big, true);
  const std::string lab = write(dir, "lab", idx_file(0x00000801, {n}, bytes(n, 1)));
  BOOST_TEST(basin::read_idx(whole, lab).size() == basin::index_t(n));
  const bytes gz = read_plain(whole);
  const std::string half = write(dir, "half.gz", bytes(gz.begin(), gz.begin() + gz.size() / 2));
  BOOST_CHECK_EXCEPTION(basin::read_idx(half, lab), basin::error,
                        mentions({half, "truncated", "promises " + std::to_string(n * 784),
                                  "gzip", "unexpected end of file"}));
  // Cut inside the CRC/size trailer: every pixel arrives, yet the stream is incomplete.
  const std::string tail = write(dir, "tail.gz", bytes(gz.begin(), gz.end() - 4));
  BOOST_CHECK_EXCEPTION(basin::read_idx(tail, lab), basin::error,
                        mentions({tail, "truncated", "before its trailer", "gzip",
                                  "unexpected end of file"}));
}

// Corrupted deflate data or a wrong CRC: zlib's own message comes through.
BOOST_AUTO_TEST_CASE(corrupt_gzip_stream) {
  temp_dir dir;
  constexpr std::uint32_t n = 40;
  const bytes big = idx_file(0x00000803, {n, 28, 28}, noise(n * 784, 2));
  const std::string lab = write(dir, "lab", idx_file(0x00000801, {n}, bytes(n, 1)));
  const bytes gz = read_plain(write(dir, "whole.gz", big, true));

  bytes bad_crc = gz;  // the gzip trailer is CRC-32 then ISIZE, little-endian
  bad_crc[bad_crc.size() - 8] ^= 0xFF;
  const std::string crc = write(dir, "crc.gz", bad_crc);
  BOOST_CHECK_EXCEPTION(basin::read_idx(crc, lab), basin::error,
                        mentions({crc, "gzip", "incorrect data check"}));

  bytes bad_block = gz;  // byte 10 starts the first deflate block header (no FNAME written)
  bad_block[10] |= 0x06;  // block type 3: reserved, always invalid
  const std::string block = write(dir, "block.gz", bad_block);
  BOOST_CHECK_EXCEPTION(basin::read_idx(block, lab), basin::error,
                        mentions({block, "gzip", "invalid block type"}));
}

BOOST_AUTO_TEST_CASE(count_mismatch) {
  temp_dir dir;
  const std::string img = write(dir, "img", images_idx);
  const std::string lab = write(dir, "lab", idx_file(0x00000801, {4}, bytes{1, 2, 3, 4}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                        mentions({img, lab, "3 images", "4 labels"}));
}

BOOST_AUTO_TEST_CASE(label_out_of_range) {
  temp_dir dir;
  const std::string img = write(dir, "img", images_idx);
  const std::string lab = write(dir, "lab", idx_file(0x00000801, {3}, bytes{1, 10, 3}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, lab), basin::error,
                        mentions({lab, "index 1", "is 10", "0..9"}));
  const std::string ok = write(dir, "ok", labels_idx);  // labels 7, 0, 9
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, ok, 7), basin::error,
                        mentions({ok, "index 0", "is 7", "0..6", "classes = 7"}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, ok, 0), basin::error, mentions({"classes = 0"}));
  BOOST_CHECK_EXCEPTION(basin::read_idx(img, ok, 257), basin::error, mentions({"classes = 257"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- CIFAR-10 binary ----------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(cifar10)

namespace {
// records.size() CIFAR-10 records: label, then 3072 pixel bytes that depend on the record.
bytes cifar_records(const std::vector<unsigned char>& record_labels, unsigned seed) {
  bytes b;
  for (unsigned char l : record_labels) {
    b.push_back(l);
    const bytes px = noise(3072, seed++);
    b.insert(b.end(), px.begin(), px.end());
  }
  return b;
}
}  // namespace

BOOST_AUTO_TEST_CASE(round_trip) {
  temp_dir dir;
  const bytes a = cifar_records({3, 9}, 10), b = cifar_records({0}, 20);
  const basin::dataset d = basin::read_cifar10({write(dir, "a.bin", a), write(dir, "b.bin", b)});
  BOOST_TEST(d.size() == 3);
  BOOST_TEST((d.shape == basin::dims{3, 32, 32}));
  BOOST_TEST(d.classes == 10);
  BOOST_TEST((d.labels == std::vector<std::int32_t>{3, 9, 0}));
  BOOST_REQUIRE_EQUAL(d.images.size(), 3u * 3072);
  bytes all = a;
  all.insert(all.end(), b.begin(), b.end());
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t k = 0; k < 3072; ++k)
      BOOST_TEST(d.image(basin::index_t(r))[k] == float(all[r * 3073 + 1 + k]) / 255.0f,
                 "record " << r << " byte " << k);

  // The folder reader takes the published batches only: 10000 records a file.
  bytes batch;
  batch.reserve(10000 * 3073);
  for (int r = 0; r < 10000; ++r) {
    batch.push_back((unsigned char)(r % 10));
    batch.insert(batch.end(), 3072, (unsigned char)(r % 251));
  }
  write(dir, "test_batch.bin", batch);
  const basin::dataset t = basin::read_cifar10_dir(dir.path.string(), false);
  BOOST_TEST(t.size() == 10000);
  BOOST_TEST(t.labels[9999] == 9);
  BOOST_TEST(t.image(9999)[3071] == float(9999 % 251) / 255.0f);
  BOOST_CHECK_EXCEPTION(basin::read_cifar10_dir(dir.path.string(), true), basin::error,
                        mentions({dir / "data_batch_1.bin", "not found"}));
  // Cut at a record's end it would read as a smaller set: refused, sizes named.
  batch.resize(9999 * 3073);
  write(dir, "test_batch.bin", batch);
  BOOST_CHECK_EXCEPTION(basin::read_cifar10_dir(dir.path.string(), false), basin::error,
                        mentions({dir / "test_batch.bin", "30726927 bytes", "9999 records", "expected a batch of 10000",
                                  "30730000 bytes"}));
  write(dir, "test_batch.bin", b);
  BOOST_CHECK_EXCEPTION(basin::read_cifar10_dir(dir.path.string(), false), basin::error,
                        mentions({dir / "test_batch.bin", "3073 bytes", "1 records"}));
}

BOOST_AUTO_TEST_CASE(rejections) {
  temp_dir dir;
  const std::string good = write(dir, "good.bin", cifar_records({1}, 0));
  BOOST_CHECK_EXCEPTION(basin::read_cifar10({}), basin::error, mentions({"no files"}));
  BOOST_CHECK_EXCEPTION(basin::read_cifar10({good, dir / "nope.bin"}), basin::error,
                        mentions({dir / "nope.bin", "not found"}));
  const std::string empty = write(dir, "empty.bin", {});
  BOOST_CHECK_EXCEPTION(basin::read_cifar10({empty}), basin::error, mentions({empty, "empty"}));
  bytes odd = cifar_records({1, 2}, 0);
  odd.insert(odd.end(), {1, 2, 3, 4, 5});
  const std::string ragged = write(dir, "ragged.bin", odd);
  BOOST_CHECK_EXCEPTION(basin::read_cifar10({good, ragged}), basin::error,
                        mentions({ragged, "6151", "3073", "remainder 5"}));
  const std::string bad = write(dir, "bad.bin", cifar_records({4, 10, 2}, 0));
  BOOST_CHECK_EXCEPTION(basin::read_cifar10({good, bad}), basin::error,
                        mentions({bad, "record 1", "label 10", "0..9"}));
  BOOST_CHECK_EXCEPTION(basin::read_cifar10({dir.path.string()}), basin::error,
                        mentions({dir.path.string(), "not a regular file"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- dataset transforms -------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(transforms)

namespace {
// Two images of 2 channels x 1 x 2, (n, c, h, w):
//   channel 0: 0 1 | 2 3  -> mean 1.5, population variance (2.25+0.25+0.25+2.25)/4 = 1.25
//   channel 1: 1 1 | 1 5  -> mean 2,   population variance (1+1+1+9)/4 = 3
basin::dataset tiny() {
  basin::dataset d;
  d.shape = {2, 1, 2};
  d.classes = 3;
  d.images = {0, 1, 1, 1, 2, 3, 1, 5};
  d.labels = {2, 0};
  return d;
}
}  // namespace

BOOST_AUTO_TEST_CASE(channel_stats_by_hand) {
  const basin::channel_stats s = basin::compute_channel_stats(tiny());
  BOOST_REQUIRE_EQUAL(s.mean.size(), 2u);
  BOOST_REQUIRE_EQUAL(s.stddev.size(), 2u);
  BOOST_TEST(s.mean[0] == 1.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.mean[1] == 2.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.stddev[0] == std::sqrt(1.25), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.stddev[1] == std::sqrt(3.0), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(normalize_by_hand) {
  basin::dataset d = tiny();
  basin::normalize(d, basin::compute_channel_stats(d));
  const double a = std::sqrt(1.25), b = std::sqrt(3.0);
  const std::array<double, 8> expected{-1.5 / a, -0.5 / a, -1 / b, -1 / b,
                                       0.5 / a,  1.5 / a,  -1 / b, 3 / b};
  for (std::size_t k = 0; k < 8; ++k)
    BOOST_TEST(d.images[k] == expected[k], boost::test_tools::tolerance(1e-6) << "value " << k);
  const basin::channel_stats after = basin::compute_channel_stats(d);
  for (int c = 0; c < 2; ++c) {
    BOOST_TEST(std::abs(after.mean[c]) < 1e-7);
    BOOST_TEST(after.stddev[c] == 1.0, boost::test_tools::tolerance(1e-6));
  }
  // Given statistics are applied as they are, not recomputed.
  basin::dataset e = tiny();
  basin::normalize(e, {{1.0, 0.0}, {0.5, 2.0}});
  BOOST_TEST(e.images[0] == -2.0f);
  BOOST_TEST(e.images[7] == 2.5f);
}

BOOST_AUTO_TEST_CASE(normalize_rejections) {
  basin::dataset d = tiny();
  BOOST_CHECK_EXCEPTION(basin::normalize(d, {{0.0}, {1.0}}), basin::error,
                        mentions({"normalize", "1 means", "expected 2"}));
  BOOST_CHECK_EXCEPTION(basin::normalize(d, {{0.0, 0.0}, {1.0}}), basin::error,
                        mentions({"normalize", "1 standard deviations"}));
  BOOST_CHECK_EXCEPTION(basin::normalize(d, {{0.0, 0.0}, {1.0, 0.0}}), basin::error,
                        mentions({"normalize", "stddev[1] = 0"}));
  BOOST_CHECK_EXCEPTION(basin::normalize(d, {{0.0, 0.0}, {-1.0, 1.0}}), basin::error,
                        mentions({"stddev[0] = -1"}));
  BOOST_CHECK_EXCEPTION(basin::normalize(d, {{0.0, 0.0}, {NAN, 1.0}}), basin::error,
                        mentions({"stddev[0]"}));
  BOOST_TEST((d.images == tiny().images));  // untouched by the refused calls
  BOOST_CHECK_EXCEPTION(basin::compute_channel_stats(basin::dataset{}), basin::error,
                        mentions({"compute_channel_stats"}));
  basin::dataset ragged = tiny();
  ragged.images.pop_back();
  BOOST_CHECK_EXCEPTION(basin::compute_channel_stats(ragged), basin::error,
                        mentions({"7 pixel values", "expected 2 images"}));
  // A hand-built shape whose size times the image count wraps to the (empty) buffer's 0.
  basin::dataset huge;
  huge.shape = {1 << 20, 1 << 21, 1 << 21};
  huge.labels = {0, 1, 2, 3};
  BOOST_CHECK_EXCEPTION(basin::compute_channel_stats(huge), basin::error,
                        mentions({"0 pixel values", "expected 4 images x 1048576x2097152x2097152"}));
  // normalize records what a raw 0 (black) became, for augmentation's padding; twice, composed.
  basin::dataset n2 = tiny();
  basin::normalize(n2, {{1.0, 2.0}, {2.0, 4.0}});
  BOOST_TEST((n2.raw_zero == std::vector<float>{-0.5f, -0.5f}));
  basin::normalize(n2, {{0.5, -0.5}, {0.25, 1.0}});
  BOOST_TEST((n2.raw_zero == std::vector<float>{-4.0f, 0.0f}));
}

BOOST_AUTO_TEST_CASE(subset_and_image) {
  const basin::dataset d = tiny();
  const basin::dataset s = basin::subset(d, 1, 1);
  BOOST_TEST(s.size() == 1);
  BOOST_TEST((s.shape == d.shape));
  BOOST_TEST(s.classes == 3);
  BOOST_TEST((s.images == std::vector<float>{2, 3, 1, 5}));
  BOOST_TEST(s.labels[0] == 0);
  BOOST_TEST(basin::subset(d, 2, 0).size() == 0);
  BOOST_TEST(basin::subset(d, 0, 2).images == d.images);
  BOOST_CHECK_EXCEPTION(basin::subset(d, 3, 0), basin::error, mentions({"first = 3"}));
  BOOST_CHECK_EXCEPTION(basin::subset(d, -1, 1), basin::error, mentions({"first = -1"}));
  BOOST_CHECK_EXCEPTION(basin::subset(d, 1, 2), basin::error, mentions({"count = 2", "[0, 1]"}));
  BOOST_CHECK_EXCEPTION(basin::subset(d, 0, -1), basin::error, mentions({"count = -1"}));
  BOOST_TEST(*d.image(1) == 2.0f);
  BOOST_CHECK_EXCEPTION(d.image(2), basin::error, mentions({"i = 2"}));
  BOOST_CHECK_EXCEPTION(d.image(-1), basin::error, mentions({"i = -1"}));
  // first_images: the first count, or all of them when there are fewer.
  BOOST_TEST((basin::first_images(d, 1).images == std::vector<float>{0, 1, 1, 1}));
  BOOST_TEST(basin::first_images(d, 0).size() == 0);
  BOOST_TEST((basin::first_images(d, 60000).images == d.images));
  BOOST_CHECK_EXCEPTION(basin::first_images(d, -1), basin::error, mentions({"first_images", "count = -1"}));
}

BOOST_AUTO_TEST_CASE(normalize_by_train_uses_the_training_statistics) {
  // The test split (tiny()'s second image alone) is standardized by the training split's mean and
  // standard deviation, not its own: channel 0 holds 2 3 -> (2 - 1.5) / sqrt(1.25), (3 - 1.5) / sqrt(1.25).
  const auto [train, test, stats] = basin::normalize_by_train(tiny(), basin::subset(tiny(), 1, 1));
  BOOST_TEST(stats.mean[0] == 1.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(stats.stddev[1] == std::sqrt(3.0), boost::test_tools::tolerance(1e-12));
  basin::dataset by_hand = tiny();
  basin::normalize(by_hand, stats);
  BOOST_TEST((train.images == by_hand.images));
  BOOST_TEST((test.images == basin::subset(by_hand, 1, 1).images));
  BOOST_TEST(test.images[0] == float(0.5 / std::sqrt(1.25)), boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(test.images[3] == float(3 / std::sqrt(3.0)), boost::test_tools::tolerance(1e-6f));
  BOOST_TEST((test.raw_zero == train.raw_zero));
  // A test split of another channel count is refused by normalize, naming it.
  basin::dataset gray;
  gray.shape = {1, 1, 2};
  gray.images = {0, 1};
  gray.labels = {0};
  BOOST_CHECK_EXCEPTION(basin::normalize_by_train(tiny(), gray), basin::error, mentions({"normalize", "expected 1"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the real Fashion-MNIST, when installed ---------------------------------------------------

namespace {
std::string fashion_mnist_dir() {
  const char* env = std::getenv("BASIN_FASHION_MNIST_DIR");
  return env ? env : "/usr/share/datasets/fashion-mnist";
}

boost::test_tools::assertion_result have_fashion_mnist(boost::unit_test::test_unit_id) {
  if (fs::is_directory(fashion_mnist_dir())) return true;
  BOOST_TEST_MESSAGE("Fashion-MNIST not found at " << fashion_mnist_dir()
                                                   << " (Debian package dataset-fashion-mnist); "
                                                      "skipping the real-data test");
  boost::test_tools::assertion_result r(false);
  r.message() << "no Fashion-MNIST at " << fashion_mnist_dir();
  return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(real_fashion_mnist, *boost::unit_test::precondition(have_fashion_mnist)) {
  const basin::dataset train = basin::read_fashion_mnist(fashion_mnist_dir(), true);
  BOOST_TEST(train.size() == 60000);
  BOOST_TEST((train.shape == basin::dims{1, 28, 28}));
  BOOST_TEST(train.images.size() == 60000u * 784);
  std::array<int, 10> per_class{};
  for (std::int32_t l : train.labels) {
    BOOST_REQUIRE(l >= 0 && l < 10);
    ++per_class[std::size_t(l)];
  }
  for (int c = 0; c < 10; ++c) BOOST_TEST(per_class[std::size_t(c)] == 6000, "class " << c);
  // The statistics everyone normalizes Fashion-MNIST with: mean 0.2860, std 0.3530.
  const basin::channel_stats s = basin::compute_channel_stats(train);
  BOOST_TEST(s.mean[0] == 0.2860, boost::test_tools::tolerance(1e-3));
  BOOST_TEST(s.stddev[0] == 0.3530, boost::test_tools::tolerance(1e-3));

  const basin::dataset test = basin::read_fashion_mnist(fashion_mnist_dir(), false);
  BOOST_TEST(test.size() == 10000);
  BOOST_TEST((test.shape == basin::dims{1, 28, 28}));
}
