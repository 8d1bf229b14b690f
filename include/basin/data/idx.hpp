// basin/data/idx.hpp — IDX files: MNIST and Fashion-MNIST.
//
// LeCun, Cortes, Burges, "The MNIST database of handwritten digits" (yann.lecun.com/exdb/mnist)
// define the format: a big-endian 32-bit magic 0x000008NN (0x08 = unsigned bytes, NN = number
// of dimensions), NN big-endian 32-bit extents, then the bytes in row-major order. Images are
// (n, h, w) with magic 0x00000803, labels (n) with magic 0x00000801. Files are gzipped or plain
// (told apart by gzip's magic bytes; gzip through zlib's inflate), and the data is read in
// chunks, so a corrupt header cannot make the reader allocate what the file does not hold; a
// header promising more than the memory available now is refused before reading.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "basin/core/config.hpp"
#include "basin/core/error.hpp"
#include "basin/core/files.hpp"
#include "basin/core/memory.hpp"
#include "basin/data/dataset.hpp"

namespace basin {

namespace detail {

// 0x00000803 -> "0x00000803"
inline std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", unsigned(v));
  return buf;
}

// A gzip-or-plain file opened for reading, closed on scope exit; gzip when it starts with gzip's
// magic bytes 1f 8b. A gzip file is inflated member after member, as gunzip reads several
// members back to back, and anything after the last member that is not another one (gunzip's
// "trailing garbage", which zlib's gzread skips in silence) is refused. Every message names the
// file.
class gz_reader {
 public:
  gz_reader(const std::string& path, const char* what) : path_(path), what_(what) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st)) fail(what_, " file '", path_, "' ", why_missing(ec));
    require(!fs::is_directory(st), what_, " file '", path_, "' is a directory, expected a file");
    errno = 0;
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) fail(what_, " file '", path_, "' cannot be opened: ", errno ? std::strerror(errno) : "unknown error");
    size_ = fs::file_size(path, ec);
    if (ec) size_ = 0;
    in_.resize(1 << 17);
    fill();
    gzip_ = avail_ >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
    if (gzip_) {
      zs_ = z_stream{};
      require(inflateInit2(&zs_, 15 + 16) == Z_OK, what_, " file '", path_,
              "': zlib cannot start inflating (out of memory)");
      inflating_ = true;
    }
  }
  ~gz_reader() {
    if (inflating_) inflateEnd(&zs_);
    if (file_) std::fclose(file_);
  }
  gz_reader(const gz_reader&) = delete;
  gz_reader& operator=(const gz_reader&) = delete;

  const std::string& path() const { return path_; }
  const char* what() const { return what_; }

  // At most how many bytes the file can yield: its size when plain, deflate's largest ratio
  // (1032 to 1) times its size when gzip (0 when its size is unknown: no bound).
  index_t most_bytes() const {
    if (size_ == 0) return std::numeric_limits<index_t>::max();
    const std::uint64_t cap = std::uint64_t(std::numeric_limits<index_t>::max()) / 1032;
    return gzip_ ? index_t(std::min(size_, cap) * 1032) : index_t(std::min(size_, cap));
  }

  // Reads up to n bytes into dst and returns how many were read: fewer than n only at the end
  // of the data (or of a truncated gzip stream: gz_note says so). Throws basin::error with
  // zlib's message when the gzip stream is corrupt, and for bytes after its last member.
  index_t read(void* dst, index_t n) {
    auto* p = static_cast<unsigned char*>(dst);
    index_t got = 0;
    if (!gzip_) {
      while (got < n && (pos_ < avail_ || fill())) {
        const index_t k = std::min<index_t>(n - got, index_t(avail_ - pos_));
        std::memcpy(p + got, in_.data() + pos_, std::size_t(k));
        pos_ += std::size_t(k);
        got += k;
      }
      return got;
    }
    while (got < n && !ended_) {
      if (pos_ == avail_ && !fill()) {  // the file ends inside a member
        note_ = "unexpected end of file";
        ended_ = true;
        break;
      }
      zs_.next_in = in_.data() + pos_;
      zs_.avail_in = uInt(avail_ - pos_);
      zs_.next_out = p + got;
      zs_.avail_out = uInt(std::min<index_t>(n - got, 1 << 30));
      const uInt out_before = zs_.avail_out;
      const int r = inflate(&zs_, Z_NO_FLUSH);
      pos_ = avail_ - zs_.avail_in;
      got += index_t(out_before - zs_.avail_out);
      if (r == Z_STREAM_END) {
        next_member();
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        fail(what_, " file '", path_, "': gzip stream is corrupt: ",
             zs_.msg            ? zs_.msg
             : r == Z_MEM_ERROR ? "out of memory"
                                : "inflate error " + std::to_string(r));
      }
    }
    return got;
  }

  // Reads and discards the rest of the file; returns how many bytes that was.
  index_t skip_rest() {
    unsigned char buf[4096];
    index_t extra = 0;
    for (index_t r; (r = read(buf, sizeof buf)) > 0;) extra += r;
    return extra;
  }

  // " (gzip: unexpected end of file)" when a gzip stream was cut short, else "".
  std::string gz_note() const { return note_.empty() ? std::string() : " (gzip: " + note_ + ")"; }

 private:
  // Moves the unread input to the front and reads more behind it; false when nothing more came.
  bool fill() {
    if (pos_ > 0) {
      std::memmove(in_.data(), in_.data() + pos_, avail_ - pos_);
      avail_ -= pos_;
      pos_ = 0;
    }
    errno = 0;
    const std::size_t r = std::fread(in_.data() + avail_, 1, in_.size() - avail_, file_);
    if (r == 0 && std::ferror(file_))
      fail(what_, " file '", path_, "' cannot be read: ", errno ? std::strerror(errno) : "read error");
    avail_ += r;
    return r > 0;
  }

  // After a member's trailer: the end of the file, or another member (gzip's magic bytes).
  void next_member() {
    if (avail_ - pos_ < 2) fill();
    if (pos_ == avail_) {
      ended_ = true;
      return;
    }
    if (avail_ - pos_ >= 2 && in_[pos_] == 0x1f && in_[pos_ + 1] == 0x8b) {
      require(inflateReset(&zs_) == Z_OK, what_, " file '", path_, "': zlib cannot restart inflating");
      return;
    }
    std::uint64_t rest = avail_ - pos_;
    while (true) {
      pos_ = avail_;
      if (!fill()) break;
      rest += avail_;
    }
    fail(what_, " file '", path_, "' has ", rest, " bytes after the end of its gzip stream that are not another ",
         "gzip member (trailing garbage)");
  }

  std::string path_;
  const char* what_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;  // of the file, as stored
  std::vector<unsigned char> in_;
  std::size_t pos_ = 0, avail_ = 0;  // in_[pos_, avail_): read from the file, not yet used
  bool gzip_ = false, inflating_ = false, ended_ = false;
  z_stream zs_{};
  std::string note_;
};

// Limits past which an IDX extent is taken for a corrupt header rather than data.
inline constexpr std::uint32_t idx_max_count = 0x7FFFFFFFu;  // labels are int32, n fits index_t
inline constexpr std::uint32_t idx_max_extent = 1u << 14;    // image height and width

// Reads an IDX header of unsigned bytes with the given dimension count; returns the extents.
// Throws basin::error for a short header, a bad magic, a wrong dimension count, or an extent
// that is zero or past its limit.
inline std::vector<index_t> read_idx_header(gz_reader& f, int ndims, const char* const* names) {
  unsigned char m[4];
  const index_t got = f.read(m, 4);
  require(got == 4, f.what(), " file '", f.path(), "' is truncated: expected a 4-byte magic ",
          "number, got ", got, " bytes", f.gz_note());
  const std::uint32_t magic = std::uint32_t(m[0]) << 24 | std::uint32_t(m[1]) << 16 |
                              std::uint32_t(m[2]) << 8 | std::uint32_t(m[3]);
  const std::uint32_t expected = 0x00000800u | std::uint32_t(ndims);
  require((magic & 0xFFFFFF00u) == 0x00000800u, f.what(), " file '", f.path(),
          "' has a bad magic number: expected ", hex32(expected), " (IDX, unsigned bytes, ", ndims,
          " dimensions), found ", hex32(magic));
  require(int(m[3]) == ndims, f.what(), " file '", f.path(), "' has ", int(m[3]),
          " dimensions (magic ", hex32(magic), "), expected ", ndims, " dimensions (magic ",
          hex32(expected), ")");

  std::vector<index_t> extents(ndims);
  for (int k = 0; k < ndims; ++k) {
    unsigned char b[4];
    const index_t g = f.read(b, 4);
    require(g == 4, f.what(), " file '", f.path(), "' is truncated: expected a ", 4 + 4 * ndims,
            "-byte header, got ", 4 + 4 * k + g, " bytes", f.gz_note());
    const std::uint32_t v = std::uint32_t(b[0]) << 24 | std::uint32_t(b[1]) << 16 |
                            std::uint32_t(b[2]) << 8 | std::uint32_t(b[3]);
    const std::uint32_t limit = k == 0 ? idx_max_count : idx_max_extent;
    require(v > 0, f.what(), " file '", f.path(), "': dimension ", k, " (", names[k],
            ") is 0, expected at least 1");
    require(v <= limit, f.what(), " file '", f.path(), "': dimension ", k, " (", names[k],
            ") is ", v, ", which exceeds the limit of ", limit, " (corrupt header?)");
    extents[k] = v;
  }
  return extents;
}

// Reads exactly `bytes` payload bytes in chunks, handing each chunk to sink(const unsigned
// char*, index_t), then requires the file to end. Throws basin::error for a short payload
// (expected vs got), trailing bytes, or a gzip stream that ends without its trailer.
template <class Sink>
void read_idx_payload(gz_reader& f, index_t bytes, const char* what, Sink&& sink) {
  std::vector<unsigned char> buf(std::size_t(std::min<index_t>(bytes, 1 << 20)));
  index_t done = 0;
  while (done < bytes) {
    const index_t want = std::min<index_t>(bytes - done, index_t(buf.size()));
    const index_t got = f.read(buf.data(), want);
    sink(buf.data(), got);
    done += got;
    require(got == want, f.what(), " file '", f.path(), "' is truncated: the header promises ",
            bytes, " bytes of ", what, ", got ", done, f.gz_note());
  }
  const index_t extra = f.skip_rest();
  require(extra == 0, f.what(), " file '", f.path(), "' has ", extra,
          " trailing bytes after the ", bytes, " bytes of ", what, " its header promises");
  // A gzip stream cut inside its CRC/size trailer still yields every byte; zlib notes the cut.
  const std::string note = f.gz_note();
  require(note.empty(), f.what(), " file '", f.path(), "' is truncated: its gzip stream ends ",
          "after the ", bytes, " bytes of ", what, " but before its trailer", note);
}

inline std::string idx_path(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  const fs::path plain = fs::path(dir) / stem;
  const fs::path gz = fs::path(dir) / (stem + ".gz");
  if (path_exists(gz, "idx")) return gz.string();
  if (path_exists(plain, "idx")) return plain.string();
  fail("idx: neither '", gz.string(), "' nor '", plain.string(), "' exists");
}

}  // namespace detail

// Reads an IDX image file (n, h, w) and its IDX label file (n), each gzipped or plain.
// Requires 1 <= classes <= 256. Ensures shape == {1, h, w}, images (n, 1, h, w) holding
// byte / 255 in [0, 1], labels (n) in [0, classes), and size() == n >= 1.
// Throws basin::error, naming the file, what was expected and what was found, for: a missing,
// unreadable or directory path; a bad magic number (hex expected vs found); a wrong dimension
// count; a zero or absurd extent; a truncated header or payload (bytes expected vs got); trailing
// bytes; a corrupt gzip stream (zlib's message); image and label counts that differ (naming
// both files); a label >= classes (its index and value).
inline dataset read_idx(const std::string& images_path, const std::string& labels_path,
                        int classes = 10) {
  require(classes >= 1 && classes <= 256, "read_idx: classes = ", classes,
          ", expected 1..256 (labels are bytes)");
  dataset d;
  d.classes = classes;

  index_t n = 0;
  {
    detail::gz_reader f(images_path, "idx images");
    static constexpr const char* names[] = {"count", "height", "width"};
    const std::vector<index_t> e = detail::read_idx_header(f, 3, names);
    n = e[0];
    d.shape = dims{1, int(e[1]), int(e[2])};
    const index_t bytes = n * d.shape.size();
    // Room for what the file can hold at most (a header alone cannot make the reader allocate),
    // at once: no copies as the pixels arrive.
    const index_t room = std::min(bytes, f.most_bytes());
    const auto refuse = [&](const std::string& why) {
      fail("idx images file '", images_path, "': its header promises ", n, " images of ", d.shape.h, "x", d.shape.w,
           ", ", detail::gib(double(room) * sizeof(float)), " GiB as float, ", why);
    };
    const std::uint64_t memory = detail::available_memory();
    if (memory != 0 && std::uint64_t(room) > memory / sizeof(float))
      refuse(text("more than the ", detail::gib(double(memory)), " GiB of memory available now"));
    try {
      d.images.reserve(std::size_t(room));
      detail::read_idx_payload(f, bytes, "pixel data", [&](const unsigned char* p, index_t k) {
        const std::size_t at = d.images.size();
        d.images.resize(at + std::size_t(k));
        std::transform(p, p + k, d.images.begin() + at, [](unsigned char b) { return float(b) / 255.0f; });
      });
    } catch (const std::bad_alloc&) {
      refuse("which cannot be allocated now");
    }
  }
  {
    detail::gz_reader f(labels_path, "idx labels");
    static constexpr const char* names[] = {"count"};
    const index_t m = detail::read_idx_header(f, 1, names)[0];
    require(m == n, "idx: images file '", images_path, "' holds ", n, " images but labels file '",
            labels_path, "' holds ", m, " labels");
    d.labels.reserve(std::size_t(m));
    detail::read_idx_payload(f, m, "labels", [&](const unsigned char* p, index_t k) {
      for (index_t j = 0; j < k; ++j) {
        const index_t at = index_t(d.labels.size());
        require(int(p[j]) < classes, "idx labels file '", labels_path, "': label at index ", at,
                " is ", int(p[j]), ", expected 0..", classes - 1, " (classes = ", classes, ")");
        d.labels.push_back(std::int32_t(p[j]));
      }
    });
  }
  return d;
}

// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747) from dir: train- or t10k-
// {images-idx3,labels-idx1}-ubyte, with the `.gz` suffix when that file exists, else plain.
// Ensures 60000 (train) or 10000 (test) images of shape {1, 28, 28} and 10 classes for the
// published files. Throws basin::error as read_idx does, or when neither name exists.
inline dataset read_fashion_mnist(const std::string& dir = "/usr/share/datasets/fashion-mnist",
                                  bool train = true) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images = detail::idx_path(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = detail::idx_path(dir, prefix + "-labels-idx1-ubyte");
  return read_idx(images, labels, 10);
}

// MNIST from dir, with the same file names and contract as read_fashion_mnist.
inline dataset read_mnist(const std::string& dir, bool train = true) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images = detail::idx_path(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = detail::idx_path(dir, prefix + "-labels-idx1-ubyte");
  return read_idx(images, labels, 10);
}

}  // namespace basin
