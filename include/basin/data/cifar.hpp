// basin/data/cifar.hpp — CIFAR-10 in its binary format.
//
// Krizhevsky 2009, "Learning multiple layers of features from tiny images"; the binary version
// (cifar-10-batches-bin) is a sequence of 3073-byte records: one label byte in 0..9, then the
// 3 x 32 x 32 image channel-major (the 1024 red, then green, then blue bytes, each plane
// row-major). That is already PyTorch's (c, h, w) order, so a record's pixels are copied as
// byte / 255.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "basin/core/config.hpp"
#include "basin/core/error.hpp"
#include "basin/core/files.hpp"
#include "basin/core/memory.hpp"
#include "basin/data/dataset.hpp"

namespace basin {

inline constexpr dims cifar10_shape{3, 32, 32};
inline constexpr index_t cifar10_record_bytes = 1 + cifar10_shape.size();  // 3073

// Reads the records of every file, in order, into one dataset. Requires a non-empty list.
// Ensures shape == {3, 32, 32}, classes == 10, images (n, 3, 32, 32) holding byte / 255 and
// labels (n) in 0..9, n being the total record count.
// Throws basin::error, naming the file, for: an empty list; a missing or unreadable file; an
// empty file; a size that is not a multiple of 3073 (the size and the remainder); a label > 9
// (the record index within its file and the value); records that need more memory than is
// available now (the GiB needed and available). Every file is checked before any is read.
inline dataset read_cifar10(const std::vector<std::string>& files) {
  namespace fs = std::filesystem;
  require(!files.empty(), "read_cifar10: no files given, expected at least one batch file");

  index_t total = 0;
  std::vector<index_t> records;  // (files)
  for (const std::string& path : files) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st)) fail("cifar10 file '", path, "' ", why_missing(ec));
    require(fs::is_regular_file(st), "cifar10 file '", path, "' is not a regular file");
    const auto size = fs::file_size(path, ec);
    require(!ec, "cifar10 file '", path, "' cannot be read: ", ec.message());
    require(size > 0, "cifar10 file '", path, "' is empty, expected records of ",
            cifar10_record_bytes, " bytes");
    require(index_t(size) % cifar10_record_bytes == 0, "cifar10 file '", path, "' has size ",
            size, " bytes, which is not a multiple of the ", cifar10_record_bytes,
            "-byte record (remainder ", index_t(size) % cifar10_record_bytes,
            "): truncated or not CIFAR-10 binary");
    records.push_back(index_t(size) / cifar10_record_bytes);
    total += records.back();
  }

  dataset d;
  d.shape = cifar10_shape;
  d.classes = 10;
  const double need = double(total) * double(cifar10_shape.size() * sizeof(float) + sizeof(std::int32_t));
  const auto refuse = [&](const std::string& why) {
    fail("cifar10 files '", files.front(), "'", files.size() > 1 ? text(" .. '", files.back(), "'") : std::string(),
         " hold ", total, " records, ", detail::gib(need), " GiB as float, ", why);
  };
  const std::uint64_t memory = detail::available_memory();
  if (memory != 0 && need > double(memory))
    refuse(text("more than the ", detail::gib(double(memory)), " GiB of memory available now"));
  try {
    d.images.resize(std::size_t(total * cifar10_shape.size()));
    d.labels.resize(std::size_t(total));
  } catch (const std::bad_alloc&) {
    refuse("which cannot be allocated now");
  }
  std::vector<unsigned char> rec(static_cast<std::size_t>(cifar10_record_bytes));  // (1 + 3*32*32)
  index_t at = 0;
  for (std::size_t f = 0; f < files.size(); ++f) {
    errno = 0;
    std::ifstream in(files[f], std::ios::binary);
    require(bool(in), "cifar10 file '", files[f],
            "' cannot be opened: ", errno ? std::strerror(errno) : "unknown error");
    for (index_t r = 0; r < records[f]; ++r, ++at) {
      in.read(reinterpret_cast<char*>(rec.data()), std::streamsize(rec.size()));
      require(in.gcount() == std::streamsize(rec.size()), "cifar10 file '", files[f],
              "': record ", r, " is truncated: expected ", cifar10_record_bytes, " bytes, got ",
              in.gcount());
      require(rec[0] <= 9, "cifar10 file '", files[f], "': record ", r, " has label ",
              int(rec[0]), ", expected 0..9");
      d.labels[std::size_t(at)] = rec[0];
      float* img = d.images.data() + at * cifar10_shape.size();  // (3, 32, 32)
      for (std::size_t k = 1; k < rec.size(); ++k) img[k - 1] = float(rec[k]) / 255.0f;
    }
  }
  return d;
}

inline constexpr index_t cifar10_batch_records = 10000;  // in each file of cifar-10-batches-bin

// The CIFAR-10 training set (data_batch_1.bin .. data_batch_5.bin, 50000 images) or test set
// (test_batch.bin, 10000 images) from dir, e.g. an unpacked cifar-10-batches-bin. Throws
// basin::error as read_cifar10 does, and for a batch file that does not hold exactly 10000
// records (30730000 bytes; one cut at a record's end would otherwise read as a smaller set),
// naming the file, the size expected and the size found. read_cifar10 reads files of any whole
// number of records.
inline dataset read_cifar10_dir(const std::string& dir, bool train = true) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  if (train)
    for (int k = 1; k <= 5; ++k)
      files.push_back((fs::path(dir) / ("data_batch_" + std::to_string(k) + ".bin")).string());
  else
    files.push_back((fs::path(dir) / "test_batch.bin").string());
  for (const auto& path : files) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st)) fail("cifar10 file '", path, "' ", why_missing(ec));
    const auto size = fs::is_regular_file(st) ? fs::file_size(path, ec) : 0;
    require(ec || !fs::is_regular_file(st) || index_t(size) == cifar10_batch_records * cifar10_record_bytes,
            "cifar10 file '", path, "' has ", size, " bytes (", index_t(size) / cifar10_record_bytes, " records",
            index_t(size) % cifar10_record_bytes ? text(" and ", index_t(size) % cifar10_record_bytes, " bytes") : "",
            "), expected a batch of ", cifar10_batch_records, " records of ", cifar10_record_bytes, " bytes (",
            cifar10_batch_records * cifar10_record_bytes, " bytes)");
  }
  return read_cifar10(files);
}

}  // namespace basin
