// basin/io/hdf5.hpp — a small RAII wrapper over the HDF5 C API for checkpoints, direction files
// and surface files.
//
// The layout is the one the PyTorch loss-landscape tool (Li et al., 2018, "Visualizing the Loss
// Landscape of Neural Nets") writes and h5py reads: plain datasets at slash-separated paths
// (`xcoordinates`, `train_loss`, `xdirection/0`, ...), numbers stored little-endian, strings as
// variable-length UTF-8 (h5py returns `bytes` from a string dataset and `str` from a string
// attribute), attributes on any object including the root `/`.
//
// Every failure throws basin::error naming the file, the object path and what was attempted,
// followed by HDF5's own reason where it gave one:
//   HDF5 file 'run/surface.h5': cannot read dataset '/train_loss': no such object
//   HDF5 file 'run/surface.h5': cannot read dataset '/train_loss': the file is damaged there
//     (incorrect metadata checksum after all read attempts)
// HDF5's automatic printing of its error stack to stderr is switched off (per thread: Debian's
// libhdf5 is the thread-safe build, whose error settings are thread-local).
//
// Object paths are relative to the root; a leading '/' and repeated '/' are ignored, so "a/b",
// "/a/b" and "/a//b/" name the same object, and "" or "/" names the root group.
//
// Handles are move-only and closed by their destructors. A `file` is not safe to use from two
// threads at once.
#pragma once

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "basin/core/config.hpp"
#include "basin/core/error.hpp"
#include "basin/core/files.hpp"
#include "basin/core/memory.hpp"

namespace basin::h5 {

// The element types a numeric dataset can be written from and read into.
template <class T>
concept element = std::same_as<T, float> || std::same_as<T, double> ||
                  std::same_as<T, std::int32_t> || std::same_as<T, std::int64_t> ||
                  std::same_as<T, std::uint8_t>;

namespace detail {

// How T is stored in a file (fixed little-endian, so files are the same on every machine) and
// how it lies in memory (native).
template <element T>
struct type_of;
template <>
struct type_of<float> {
  static hid_t stored() { return H5T_IEEE_F32LE; }
  static hid_t memory() { return H5T_NATIVE_FLOAT; }
  static constexpr const char* name = "float32";
};
template <>
struct type_of<double> {
  static hid_t stored() { return H5T_IEEE_F64LE; }
  static hid_t memory() { return H5T_NATIVE_DOUBLE; }
  static constexpr const char* name = "float64";
};
template <>
struct type_of<std::int32_t> {
  static hid_t stored() { return H5T_STD_I32LE; }
  static hid_t memory() { return H5T_NATIVE_INT32; }
  static constexpr const char* name = "int32";
};
template <>
struct type_of<std::int64_t> {
  static hid_t stored() { return H5T_STD_I64LE; }
  static hid_t memory() { return H5T_NATIVE_INT64; }
  static constexpr const char* name = "int64";
};
template <>
struct type_of<std::uint8_t> {
  static hid_t stored() { return H5T_STD_U8LE; }
  static hid_t memory() { return H5T_NATIVE_UINT8; }
  static constexpr const char* name = "uint8";
};

// Switches off HDF5's printing of its error stack for the calling thread (once per thread).
inline void silence_errors() noexcept {
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

// The innermost description on HDF5's error stack (where the error was detected), e.g. "unable
// to open file: ... errno = 13, error message = 'Permission denied'"; "" when the stack is
// empty. Clears the stack.
inline std::string take_reason() {
  std::string reason;
  auto walk = [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
    if (n == 0 && e->desc != nullptr) *static_cast<std::string*>(out) = e->desc;
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk, &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason;
}

// One HDF5 identifier and the function that closes it; move-only.
class handle {
 public:
  using closer = herr_t (*)(hid_t);
  handle() noexcept = default;
  handle(hid_t id, closer close) noexcept : id_(id), close_(close) {}
  handle(handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  handle& operator=(handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle() { reset(); }

  hid_t get() const noexcept { return id_; }
  explicit operator bool() const noexcept { return id_ >= 0; }
  // Closes now and reports whether closing succeeded (a file's close writes its metadata).
  bool close() noexcept {
    if (id_ < 0) return true;
    const bool ok = close_(std::exchange(id_, H5I_INVALID_HID)) >= 0;
    return ok;
  }
  void reset() noexcept { (void)close(); }

 private:
  hid_t id_ = H5I_INVALID_HID;
  closer close_ = nullptr;
};

// "/a/b" for any spelling of the path ("a/b", "/a//b/"); "/" for the root.
inline std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t j = std::min(path.find('/', i), path.size());
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}
inline std::string join(const std::vector<std::string>& parts, std::size_t n) {
  if (n == 0) return "/";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += "/" + parts[i];
  return s;
}
// s with every NUL shown as the two characters \0 (an error message is read as a C string).
inline std::string shown_nul(std::string_view s) {
  std::string out;
  for (const char c : s) out += c == '\0' ? std::string("\\0") : std::string(1, c);
  return out;
}
inline std::string normalize(std::string_view path) {
  const auto parts = components(path);
  return join(parts, parts.size());
}

inline std::string dims_string(const std::vector<hsize_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

// The number of elements of a shape; `where` (e.g. "HDF5 file 'f.h5', dataset '/x'") names it
// when the product overflows.
inline hsize_t element_count(const std::vector<hsize_t>& dims, std::string_view where = "HDF5") {
  hsize_t n = 1;
  for (hsize_t d : dims) {
    if (d != 0 && n > std::numeric_limits<hsize_t>::max() / d)
      fail(where, ": the shape ", dims_string(dims), " has more elements than 2^64");
    n *= d;
  }
  return n;
}

// Selects the flat row-major element range [a, b) of a dataspace with extents `dims` as a union
// of at most 2*rank rectangular blocks. Level k fixes the coordinates in `prefix` for the
// dimensions before k; [a, b) is relative to that sub-block, whose rows along k have `stride[k]`
// elements each. HDF5 visits a hyperslab union in row-major order, so the selected elements
// line up one to one with a contiguous memory buffer.
inline void select_flat(hid_t space, const std::vector<hsize_t>& dims,
                        const std::vector<hsize_t>& stride, std::size_t k,
                        std::vector<hsize_t>& prefix, hsize_t a, hsize_t b, bool& first) {
  if (a >= b) return;
  auto block = [&](hsize_t i, hsize_t n) {  // rows [i, i+n) along k, everything after k
    std::vector<hsize_t> start(dims.size(), 0), count(dims.begin(), dims.end());
    for (std::size_t j = 0; j < k; ++j) {
      start[j] = prefix[j];
      count[j] = 1;
    }
    start[k] = i;
    count[k] = n;
    H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start.data(), nullptr,
                        count.data(), nullptr);
    first = false;
  };
  auto inner = [&](hsize_t i, hsize_t lo, hsize_t hi) {  // part [lo, hi) of row i
    prefix.push_back(i);
    select_flat(space, dims, stride, k + 1, prefix, lo, hi, first);
    prefix.pop_back();
  };
  const hsize_t s = stride[k];
  const hsize_t i0 = a / s, i1 = (b - 1) / s;
  if (i0 == i1) {
    if (a % s == 0 && b - a == s) block(i0, 1);
    else inner(i0, a - i0 * s, b - i0 * s);
    return;
  }
  hsize_t lo = i0, hi = i1 + 1;
  if (a % s != 0) {
    inner(i0, a % s, s);
    lo = i0 + 1;
  }
  const bool tail = b % s != 0;
  if (tail) hi = i1;
  if (hi > lo) block(lo, hi - lo);
  if (tail) inner(i1, 0, b - i1 * s);
}

// Reads one string through `read(memtype, buffer)` from an object of type `stored` and dataspace
// `space`: variable-length or fixed-length, ASCII or UTF-8. Returns false when `read` failed.
template <class Read>
bool read_one_string(hid_t stored, hid_t space, std::string& out, Read read) {
  if (H5Tis_variable_str(stored) > 0) {
    handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    if (!mem || H5Tset_size(mem.get(), H5T_VARIABLE) < 0 ||
        H5Tset_cset(mem.get(), H5Tget_cset(stored)) < 0)
      return false;
    char* p = nullptr;
    if (read(mem.get(), static_cast<void*>(&p)) < 0) return false;
    out = p != nullptr ? p : "";
    H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, &p);
    return true;
  }
  const std::size_t size = H5Tget_size(stored);
  handle mem(H5Tcopy(stored), H5Tclose);
  if (!mem || size == 0) return false;
  std::string buf(size, '\0');
  if (read(mem.get(), static_cast<void*>(buf.data())) < 0) return false;
  buf.resize(std::strlen(buf.c_str()));  // NULLTERM and NULLPAD end at the first '\0'
  if (H5Tget_strpad(stored) == H5T_STR_SPACEPAD)
    buf.erase(buf.find_last_not_of(' ') + 1);
  out = std::move(buf);
  return true;
}

}  // namespace detail

// An open HDF5 file. Move-only; the destructor closes it (use close() to see close errors).
class file {
 public:
  // Creates `path`, truncating any existing file, open for writing. The file is written in HDF5
  // 1.8's format (superblock 2, object headers 2: any HDF5 from 1.8 on, h5py's too, reads it),
  // whose metadata carry checksums: a file damaged on disk is refused by HDF5 ("incorrect metadata
  // checksum") where the default, 1.6-compatible format's unchecked headers could crash it (byte
  // flips in the first 6 KiB of a resnet8 checkpoint: 1899 refused against 777, 16 crashes or
  // hangs against 25; the rest in its variable-length strings' heap, which has no checksum; a
  // group of more than 8 links keeps them in a B-tree and heap of their own, checksummed too:
  // see children()).
  // throws: basin::error "cannot create HDF5 file '<path>': ..." when the folder is missing or
  //         the file cannot be written.
  static file create(const std::filesystem::path& path) {
    detail::silence_errors();
    const auto parent = path.parent_path();
    std::error_code ec;
    require(parent.empty() || std::filesystem::is_directory(parent, ec), "cannot create HDF5 file '",
            path.string(), "': folder '", parent.string(), "' does not exist");
    const detail::handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (access.get() < 0 || H5Pset_libver_bounds(access.get(), H5F_LIBVER_V18, H5F_LIBVER_V18) < 0)
      fail("cannot create HDF5 file '", path.string(), "': ", detail::take_reason());
    const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get());
    if (id < 0) fail("cannot create HDF5 file '", path.string(), "': ", detail::take_reason());
    return file(detail::handle(id, H5Fclose), path.string(), true);
  }

  // Opens an existing HDF5 file, read-only unless `writable`.
  // throws: basin::error "cannot open HDF5 file '<path>': not found", "...: not a regular
  //         file", "...: not an HDF5 file", or with HDF5's reason (truncated, locked, no
  //         permission).
  static file open(const std::filesystem::path& path, bool writable = false) {
    detail::silence_errors();
    const std::string p = path.string();
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    require(std::filesystem::exists(st), "cannot open HDF5 file '", p, "': ", why_missing(ec));
    require(std::filesystem::is_regular_file(st), "cannot open HDF5 file '", p,
            "': not a regular file");
    const htri_t is = H5Fis_hdf5(path.c_str());
    if (is <= 0) {
      const std::string why = detail::take_reason();
      fail("cannot open HDF5 file '", p, "': ",
           is == 0 ? std::string("not an HDF5 file") : "cannot read it: " + why);
    }
    const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id < 0) fail("cannot open HDF5 file '", p, "': ", detail::take_reason());
    return file(detail::handle(id, H5Fclose), p, writable);
  }

  file(file&&) noexcept = default;
  file& operator=(file&&) noexcept = default;
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() = default;

  const std::string& path() const noexcept { return path_; }
  bool writable() const noexcept { return writable_; }
  bool is_open() const noexcept { return static_cast<bool>(id_); }

  // ensures: the file is closed and its metadata written; a no-op when already closed.
  // throws: basin::error when HDF5 could not finish writing the file.
  void close() {
    detail::silence_errors();
    if (!id_.close()) fail("HDF5 file '", path_, "': cannot close: ", detail::take_reason());
  }

  // ensures: everything written so far is handed to the operating system (not fsync'd).
  void flush() {
    check_open("flush", "/");
    if (H5Fflush(id_.get(), H5F_SCOPE_GLOBAL) < 0) fail_at("flush", "/");
  }

  // ---- groups ---------------------------------------------------------------------------

  // ensures: has(path) is true: whether an object exists at `path`, with every prefix a group;
  //          false for a soft link that leads nowhere (dangling, in a loop, through a dataset) or
  //          when a prefix is a dataset. The root always exists.
  // throws (has, is_group, is_dataset): basin::error "...: the file is damaged there (<HDF5's
  //   reason>)" where HDF5 fails to read the object or a group on its path (a header failing its
  //   checksum), rather than answer false for what may be there.
  bool has(std::string_view path) const {
    check_open("look up", path);
    return look_up(path) != kind::none;
  }
  bool is_group(std::string_view path) const {
    check_open("look up", path);
    return look_up(path) == kind::group;
  }
  bool is_dataset(std::string_view path) const {
    check_open("look up", path);
    return look_up(path) == kind::dataset;
  }

  // requires: writable().
  // ensures: `path` and every group above it exist (existing groups are kept).
  // throws: basin::error when a component exists but is not a group.
  void create_group(std::string_view path) {
    check_writable("create group", path);
    const auto parts = detail::components(path);
    for (std::size_t n = 1; n <= parts.size(); ++n) {
      const std::string prefix = detail::join(parts, n);
      switch (look_up(prefix)) {
        case kind::group:
          break;
        case kind::none: {
          detail::handle g(H5Gcreate2(id_.get(), prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT,
                                      H5P_DEFAULT),
                           H5Gclose);
          if (!g) fail_at("create group", prefix);
          break;
        }
        default:
          fail("HDF5 file '", path_, "': cannot create group '", detail::normalize(path), "': '",
               prefix, "' exists and is not a group");
      }
    }
  }

  // The names of the links directly inside group `path`, in the byte order of their names
  // ("0", "1", "10", "2"). Listed in the storage's own order and sorted here: asked for name
  // order, libhdf5 1.10.8 copies a group of more than 8 links into a table first and, when a
  // block of theirs fails its checksum, frees the half-filled table's garbage (a crash, where
  // this way the damage is refused; test damaged_dense_groups_are_refused).
  // throws: basin::error when `path` is not a group.
  std::vector<std::string> children(std::string_view path) const {
    detail::handle g = open_group("list", path);
    std::vector<std::string> names;
    auto add = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
      static_cast<std::vector<std::string>*>(out)->emplace_back(name);
      return 0;
    };
    if (H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, add, &names) < 0) fail_at("list group", path);
    std::sort(names.begin(), names.end());
    return names;
  }

  // ---- numeric datasets -----------------------------------------------------------------

  // Creates the dataset `path` of extents `dims` (row-major; empty `dims` is a scalar) holding
  // element_count(dims) values read from `data`, stored as T (little-endian), and every group
  // above it.
  // requires: writable(); `data` points at product(dims) values (may be null when that is 0).
  // ensures: read<T>(path) returns the values, shape(path) == dims.
  // throws: basin::error when `path` already exists (use overwrite()) or HDF5 fails.
  template <element T>
  void write(std::string_view path, const T* data, std::vector<hsize_t> dims) {
    check_writable("write dataset", path);
    require(dims.size() <= H5S_MAX_RANK, "HDF5 file '", path_, "': cannot write dataset '",
            detail::normalize(path), "': rank ", dims.size(), " exceeds ", H5S_MAX_RANK);
    const hsize_t n = detail::element_count(dims);
    require(n == 0 || data != nullptr, "HDF5 file '", path_, "': cannot write dataset '",
            detail::normalize(path), "': no data");
    detail::handle space = make_space(dims);
    if (!space) fail_at("write dataset", path);
    detail::handle d = create_dataset(path, detail::type_of<T>::stored(), space.get());
    if (n > 0 &&
        H5Dwrite(d.get(), detail::type_of<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
      const std::string why = detail::take_reason();
      d.reset();
      H5Ldelete(id_.get(), detail::normalize(path).c_str(), H5P_DEFAULT);
      H5Eclear2(H5E_DEFAULT);
      fail("HDF5 file '", path_, "': cannot write dataset '", detail::normalize(path), "': ", why);
    }
  }

  // As above; requires data.size() == product(dims). A 1-D dataset when `dims` is omitted.
  template <element T>
  void write(std::string_view path, const std::vector<T>& data, std::vector<hsize_t> dims) {
    require(detail::element_count(dims) == data.size(), "HDF5 file '", path_,
            "': cannot write dataset '", detail::normalize(path), "': ", data.size(),
            " values do not fill shape ", detail::dims_string(dims));
    write(path, data.data(), std::move(dims));
  }
  template <element T>
  void write(std::string_view path, const std::vector<T>& data) {
    write(path, data.data(), {static_cast<hsize_t>(data.size())});
  }

  // A scalar dataset (h5py: f[path][()]).
  template <element T>
  void write_scalar(std::string_view path, T value) {
    write(path, &value, {});
  }

  // The extents of dataset `path`, row-major; empty for a scalar.
  // throws: basin::error when `path` is not a dataset.
  std::vector<hsize_t> shape(std::string_view path) const {
    detail::handle d = open_dataset("read the shape of dataset", path);
    return extents(d.get(), "read the shape of dataset", path);
  }

  // Refuses (basin::error naming the file, the dataset, `what` and both types) a dataset that
  // does not store T, e.g. before a resumed sweep writes into it.
  template <element T>
  void require_stores(std::string_view path, std::string_view what) const {
    detail::handle d = open_dataset(what, path);
    require_same_type<T>(d.get(), what, path);
  }

  // All values of dataset `path` in row-major order, converted by HDF5 from the stored numeric
  // type to T (a float32 dataset reads as double; out-of-range values clamp to T's range).
  // throws: basin::error when `path` is missing, not a dataset or holds no numbers (strings).
  template <element T>
  std::vector<T> read(std::string_view path) const {
    detail::handle d = open_dataset("read dataset", path);
    require_numeric(d.get(), "read dataset", path);
    const auto dims = extents(d.get(), "read dataset", path);
    const hsize_t n = detail::element_count(dims, where("dataset", path));
    // (a small file may declare a dataset larger than the memory left: refused by name, before
    // the kernel would kill the process for touching pages it promised)
    const std::uint64_t memory = basin::detail::available_memory();
    require(memory == 0 || n <= memory / sizeof(T), where("dataset", path), ": its shape ", detail::dims_string(dims),
            " holds ", n, " values, ", basin::detail::gib(double(n) * double(sizeof(T))), " GiB, more than the ",
            basin::detail::gib(double(memory)), " GiB of memory available now");
    std::vector<T> out;
    try {
      out.resize(n);
    } catch (const std::bad_alloc&) {
      fail(where("dataset", path), ": its shape ", detail::dims_string(dims), " holds ", n, " values, ",
           double(n) * double(sizeof(T)) / 1073741824.0, " GiB, more than can be allocated now");
    }
    if (n > 0 && H5Dread(d.get(), detail::type_of<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         out.data()) < 0)
      fail_io(d.get(), "read dataset", path);
    return out;
  }

  // Replaces every value of the existing dataset `path` in place.
  // requires: writable(); the dataset stores T (same class, size and signedness; byte order
  //           may differ) with extents exactly `dims`.
  // throws: basin::error naming the stored and given type or shape when they differ.
  template <element T>
  void overwrite(std::string_view path, const T* data, const std::vector<hsize_t>& dims) {
    check_writable("overwrite dataset", path);
    detail::handle d = open_dataset("overwrite dataset", path);
    require_same_type<T>(d.get(), "overwrite dataset", path);
    const auto have = extents(d.get(), "overwrite dataset", path);
    require(have == dims, "HDF5 file '", path_, "': cannot overwrite dataset '",
            detail::normalize(path), "': it has shape ", detail::dims_string(have), ", not ",
            detail::dims_string(dims));
    write_selected(d.get(), path, 0, data, detail::element_count(dims), have);
  }
  // As above; requires data.size() equal to the dataset's element count.
  template <element T>
  void overwrite(std::string_view path, const std::vector<T>& data) {
    check_writable("overwrite dataset", path);
    detail::handle d = open_dataset("overwrite dataset", path);
    require_same_type<T>(d.get(), "overwrite dataset", path);
    const auto have = extents(d.get(), "overwrite dataset", path);
    require(detail::element_count(have) == data.size(), "HDF5 file '", path_,
            "': cannot overwrite dataset '", detail::normalize(path), "': it has shape ",
            detail::dims_string(have), ", not ", data.size(), " values");
    write_selected(d.get(), path, 0, data.data(), data.size(), have);
  }

  // Writes `count` values to the elements [offset, offset + count) of dataset `path`, the
  // dataset seen as one flat row-major array (a surface sweep updates one grid point of a
  // (ny, nx) loss array with offset = j*nx + i, count = 1).
  // requires: writable(); the dataset stores T (as for overwrite);
  //           0 <= offset, 0 <= count, offset + count <= its element count.
  // ensures: the other elements are unchanged.
  template <element T>
  void write_range(std::string_view path, index_t offset, const T* data, index_t count) {
    check_writable("write range of dataset", path);
    detail::handle d = open_dataset("write range of dataset", path);
    require_same_type<T>(d.get(), "write range of dataset", path);
    const auto dims = extents(d.get(), "write range of dataset", path);
    check_range(dims, offset, count, "write range of dataset", path);
    write_selected(d.get(), path, static_cast<hsize_t>(offset), data,
                   static_cast<hsize_t>(count), dims);
  }

  // Reads the elements [offset, offset + count) of dataset `path`, seen as one flat row-major
  // array, into out[0, count), converted to T as read() does.
  // requires: `out` has room for `count` values; 0 <= offset, 0 <= count,
  //           offset + count <= the dataset's element count.
  template <element T>
  void read_range(std::string_view path, index_t offset, T* out, index_t count) const {
    detail::handle d = open_dataset("read range of dataset", path);
    require_numeric(d.get(), "read range of dataset", path);
    const auto dims = extents(d.get(), "read range of dataset", path);
    check_range(dims, offset, count, "read range of dataset", path);
    if (count == 0) return;
    detail::handle fs(H5Dget_space(d.get()), H5Sclose);
    detail::handle ms = select(fs.get(), dims, static_cast<hsize_t>(offset),
                               static_cast<hsize_t>(count));
    if (H5Dread(d.get(), detail::type_of<T>::memory(), ms.get(), fs.get(), H5P_DEFAULT, out) < 0)
      fail_io(d.get(), "read range of dataset", path);
  }

  // ---- string datasets ------------------------------------------------------------------

  // Creates the scalar dataset `path` holding `s` as a variable-length UTF-8 string (h5py:
  // f[path][()] is bytes, f[path].asstr()[()] is str), and every group above it.
  // requires: writable(); `s` contains no '\0'.
  // throws: basin::error when `path` exists or HDF5 fails.
  void write_string(std::string_view path, std::string_view s) {
    check_writable("write string dataset", path);
    require(s.find('\0') == std::string_view::npos, "HDF5 file '", path_,
            "': cannot write string dataset '", detail::normalize(path),
            "': the string contains a NUL character");
    detail::handle type = string_type();
    detail::handle space(H5Screate(H5S_SCALAR), H5Sclose);
    if (!type || !space) fail_at("write string dataset", path);
    detail::handle d = create_dataset(path, type.get(), space.get());
    const std::string copy(s);
    const char* p = copy.c_str();
    if (H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) < 0)
      fail_at("write string dataset", path);
  }

  // The string in dataset `path` (variable- or fixed-length, one element).
  // throws: basin::error when `path` is missing, not a dataset or not one string.
  std::string read_string(std::string_view path) const {
    detail::handle d = open_dataset("read string dataset", path);
    detail::handle type(H5Dget_type(d.get()), H5Tclose);
    detail::handle space(H5Dget_space(d.get()), H5Sclose);
    if (!type || !space) fail_at("read string dataset", path);
    require_one_string(type.get(), space.get(), "string dataset", path);
    std::string s;
    const hid_t id = d.get();
    if (!detail::read_one_string(type.get(), space.get(), s, [id](hid_t mem, void* buf) {
          return H5Dread(id, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        }))
      fail_at("read string dataset", path);
    return s;
  }

  // ---- attributes -----------------------------------------------------------------------

  // Sets attribute `name` of the object (group or dataset; "/" is the root) at `object_path`,
  // replacing any attribute of that name: a string as variable-length UTF-8 (h5py: str), a
  // floating-point value as float64, a signed integer as int64, an unsigned one as uint64.
  // requires: writable(); the object exists; a string contains no '\0'.
  void set_attr(std::string_view object_path, std::string_view name, std::string_view value) {
    require(value.find('\0') == std::string_view::npos, "HDF5 file '", path_,
            "': cannot set attribute '", name, "' of '", detail::normalize(object_path),
            "': the string contains a NUL character");
    detail::handle type = string_type();
    const std::string copy(value);
    const char* p = copy.c_str();
    put_attr(object_path, name, type.get(), type.get(), &p);
  }
  void set_attr(std::string_view object_path, std::string_view name, const char* value) {
    require(value != nullptr, "HDF5 file '", path_, "': cannot set attribute '", name, "' of '",
            detail::normalize(object_path), "': the string is a null pointer");
    set_attr(object_path, name, std::string_view(value));
  }
  template <class V>
    requires(std::is_arithmetic_v<V> && !std::same_as<V, bool>)
  void set_attr(std::string_view object_path, std::string_view name, V value) {
    if constexpr (std::floating_point<V>) {
      const double v = static_cast<double>(value);
      put_attr(object_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
    } else if constexpr (std::signed_integral<V>) {
      const std::int64_t v = value;
      put_attr(object_path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
    } else {
      const std::uint64_t v = value;
      put_attr(object_path, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
    }
  }

  // Whether the object at `object_path` exists and has attribute `name`.
  bool has_attr(std::string_view object_path, std::string_view name) const {
    check_open("look up attribute", object_path);
    if (look_up(object_path) == kind::none) return false;
    const std::string p = detail::normalize(object_path), n(name);
    const htri_t r = H5Aexists_by_name(id_.get(), p.c_str(), n.c_str(), H5P_DEFAULT);
    if (r < 0) fail_attr("look up", object_path, name);
    return r > 0;
  }

  // The string attribute `name` of the object at `object_path`.
  // throws: basin::error when the object or the attribute is missing or not one string.
  std::string attr_string(std::string_view object_path, std::string_view name) const {
    detail::handle a = open_attr(object_path, name);
    detail::handle type(H5Aget_type(a.get()), H5Tclose);
    detail::handle space(H5Aget_space(a.get()), H5Sclose);
    if (!type || !space) fail_attr("read", object_path, name);
    require_one_string(type.get(), space.get(),
                       "attribute '" + std::string(name) + "' of", object_path);
    std::string s;
    const hid_t id = a.get();
    if (!detail::read_one_string(type.get(), space.get(), s,
                                 [id](hid_t mem, void* buf) { return H5Aread(id, mem, buf); }))
      fail_attr("read", object_path, name);
    return s;
  }

  // The numeric attribute `name` as double (converted from any stored integer or float).
  double attr_double(std::string_view object_path, std::string_view name) const {
    double v = 0;
    read_number_attr(object_path, name, H5T_NATIVE_DOUBLE, &v, false);
    return v;
  }
  // The integer attribute `name` as uint64.
  // throws: basin::error when it is not an integer or is negative.
  std::uint64_t attr_u64(std::string_view object_path, std::string_view name) const {
    if (attr_is_signed(object_path, name)) {
      std::int64_t v = 0;
      read_number_attr(object_path, name, H5T_NATIVE_INT64, &v, true);
      require(v >= 0, "HDF5 file '", path_, "': attribute '", name, "' of '",
              detail::normalize(object_path), "' is ", v, ", not an unsigned integer");
      return static_cast<std::uint64_t>(v);
    }
    std::uint64_t v = 0;
    read_number_attr(object_path, name, H5T_NATIVE_UINT64, &v, true);
    return v;
  }
  // The integer attribute `name` as int64.
  // throws: basin::error when it is not an integer or exceeds int64's range.
  std::int64_t attr_i64(std::string_view object_path, std::string_view name) const {
    if (!attr_is_signed(object_path, name)) {
      std::uint64_t v = 0;
      read_number_attr(object_path, name, H5T_NATIVE_UINT64, &v, true);
      require(v <= std::uint64_t(std::numeric_limits<std::int64_t>::max()), "HDF5 file '", path_,
              "': attribute '", name, "' of '", detail::normalize(object_path), "' is ", v,
              ", beyond int64");
      return static_cast<std::int64_t>(v);
    }
    std::int64_t v = 0;
    read_number_attr(object_path, name, H5T_NATIVE_INT64, &v, true);
    return v;
  }

 private:
  enum class kind { none, group, dataset, other, damaged };

  file(detail::handle id, std::string path, bool writable)
      : id_(std::move(id)), path_(std::move(path)), writable_(writable) {}

  // "HDF5 file '<file>', <kind> '<object>'", the start of a message about one object.
  std::string where(std::string_view kind, std::string_view object) const {
    return "HDF5 file '" + path_ + "', " + std::string(kind) + " '" + detail::normalize(object) + "'";
  }
  // why: HDF5's reason, taken from its error stack unless the caller took it first (any later
  // HDF5 call clears the stack).
  [[noreturn]] void fail_at(std::string_view what, std::string_view object,
                            const std::string& why = detail::take_reason()) const {
    fail("HDF5 file '", path_, "': cannot ", what, " '", detail::normalize(object), "'",
         why.empty() ? "" : ": ", why);
  }
  // A read or write of a dataset that failed: when the dataset goes through a filter this HDF5
  // library lacks (h5py's lzf, a plugin's compression), says which, where HDF5's own message
  // names only the plugin folder it searched; otherwise as fail_at.
  [[noreturn]] void fail_io(hid_t dset, std::string_view what, std::string_view path) const {
    const std::string why = detail::take_reason();
    detail::handle plist(H5Dget_create_plist(dset), H5Pclose);
    const int filters = plist ? H5Pget_nfilters(plist.get()) : 0;
    for (int k = 0; k < filters; ++k) {
      unsigned flags = 0, config = 0;
      std::size_t values = 0;
      char name[80] = {};
      const H5Z_filter_t id =
          H5Pget_filter2(plist.get(), unsigned(k), &flags, &values, nullptr, sizeof name, name, &config);
      // (optional ones too: h5py writes lzf as optional, and a chunk written through it cannot be
      // read without it)
      if (id >= 0 && H5Zfilter_avail(id) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        fail("HDF5 file '", path_, "': cannot ", what, " '", detail::normalize(path), "': it is stored through filter ",
             id, name[0] ? " ('" + std::string(name) + "')" : std::string(),
             ", which this HDF5 library does not have (store it uncompressed or with gzip, HDF5's own)");
      }
    }
    H5Eclear2(H5E_DEFAULT);
    fail_at(what, path, why);
  }
  [[noreturn]] void fail_attr(std::string_view what, std::string_view object,
                              std::string_view name) const {
    const std::string why = detail::take_reason();
    fail("HDF5 file '", path_, "': cannot ", what, " attribute '", name, "' of '",
         detail::normalize(object), "'", why.empty() ? "" : ": ", why);
  }

  void check_open(std::string_view what, std::string_view object) const {
    detail::silence_errors();
    require(static_cast<bool>(id_), "HDF5 file '", path_, "': cannot ", what, " '",
            detail::normalize(object), "': the file is closed");
    // (HDF5 takes names as C strings: "a\0b" would be "a"; the message shows the NUL as \0)
    require(object.find('\0') == std::string_view::npos, "HDF5 file '", path_, "': cannot ", what, " '",
            detail::shown_nul(detail::normalize(object)), "': the name contains a NUL character");
  }
  void check_writable(std::string_view what, std::string_view object) const {
    check_open(what, object);
    require(writable_, "HDF5 file '", path_, "': cannot ", what, " '", detail::normalize(object),
            "': the file is open read-only");
  }

  // What is at `path`, walking it one component at a time so that a missing or non-group
  // prefix never reaches HDF5 as an error. kind::damaged where HDF5 fails to read what is there
  // (a group's links or an object's header that fails its checksum), with its reason in `why`.
  kind kind_of(std::string_view path, std::string* why = nullptr) const {
    const auto parts = detail::components(path);
    if (parts.empty()) return kind::group;
    const auto damaged = [&] {
      const std::string reason = detail::take_reason();
      if (why != nullptr) *why = reason;
      return kind::damaged;
    };
    for (std::size_t n = 1; n <= parts.size(); ++n) {
      const std::string prefix = detail::join(parts, n);
      const htri_t link = H5Lexists(id_.get(), prefix.c_str(), H5P_DEFAULT);
      if (link < 0) return damaged();
      htri_t object = link > 0 ? H5Oexists_by_name(id_.get(), prefix.c_str(), H5P_DEFAULT) : 0;
      if (object < 0) {  // a soft or external link that leads nowhere (a loop, through a dataset) is none
        H5L_info_t info;
        H5Eclear2(H5E_DEFAULT);
        if (H5Lget_info(id_.get(), prefix.c_str(), &info, H5P_DEFAULT) < 0) return damaged();
        if (info.type != H5L_TYPE_HARD)
          object = 0;
        else
          return damaged();
      }
      if (object == 0) {  // no link, or a link to nothing (a dangling soft link)
        H5Eclear2(H5E_DEFAULT);
        return kind::none;
      }
      detail::handle o(H5Oopen(id_.get(), prefix.c_str(), H5P_DEFAULT), H5Oclose);
      if (!o) return damaged();
      const H5I_type_t t = H5Iget_type(o.get());
      if (n == parts.size())
        return t == H5I_GROUP ? kind::group : t == H5I_DATASET ? kind::dataset : kind::other;
      if (t != H5I_GROUP) return kind::none;
    }
    return kind::none;
  }

  // kind_of, throwing basin::error "HDF5 file '<file>': cannot <what> '<path>': the file is damaged
  // there (<HDF5's reason>)" where it is damaged.
  kind look_up(std::string_view path, std::string_view what = "look up") const {
    std::string why;
    const kind k = kind_of(path, &why);
    if (k == kind::damaged)
      fail("HDF5 file '", path_, "': cannot ", what, " '", detail::normalize(path), "': the file is damaged there (",
           why, ")");
    return k;
  }

  detail::handle open_dataset(std::string_view what, std::string_view path) const {
    check_open(what, path);
    const kind k = look_up(path, what);
    if (k != kind::dataset)
      fail("HDF5 file '", path_, "': cannot ", what, " '", detail::normalize(path),
           "': ", k == kind::none ? "no such object" : "it is not a dataset");
    detail::handle d(H5Dopen2(id_.get(), detail::normalize(path).c_str(), H5P_DEFAULT), H5Dclose);
    if (!d) fail_at(what, path);
    return d;
  }

  detail::handle open_group(std::string_view what, std::string_view path) const {
    check_open(what, path);
    const kind k = look_up(path, std::string(what) + " group");
    if (k != kind::group)
      fail("HDF5 file '", path_, "': cannot ", what, " group '", detail::normalize(path),
           "': ", k == kind::none ? "no such object" : "it is not a group");
    detail::handle g(H5Gopen2(id_.get(), detail::normalize(path).c_str(), H5P_DEFAULT), H5Gclose);
    if (!g) fail_at(what, path);
    return g;
  }

  detail::handle create_dataset(std::string_view path, hid_t type, hid_t space) {
    const auto parts = detail::components(path);
    require(!parts.empty(), "HDF5 file '", path_, "': cannot write a dataset at the root '/'");
    const std::string p = detail::join(parts, parts.size());
    require(look_up(p) == kind::none, "HDF5 file '", path_, "': cannot write dataset '", p,
            "': it already exists (overwrite() replaces values in place)");
    create_group(detail::join(parts, parts.size() - 1));
    detail::handle d(
        H5Dcreate2(id_.get(), p.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        H5Dclose);
    if (!d) fail_at("create dataset", p);
    return d;
  }

  static detail::handle make_space(const std::vector<hsize_t>& dims) {
    if (dims.empty()) return detail::handle(H5Screate(H5S_SCALAR), H5Sclose);
    return detail::handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                          H5Sclose);
  }

  static detail::handle string_type() {
    detail::handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    if (t && (H5Tset_size(t.get(), H5T_VARIABLE) < 0 ||
              H5Tset_cset(t.get(), H5T_CSET_UTF8) < 0))
      t.reset();
    return t;
  }

  std::vector<hsize_t> extents(hid_t dset, std::string_view what, std::string_view path) const {
    detail::handle space(H5Dget_space(dset), H5Sclose);
    const int rank = space ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (rank < 0) fail_at(what, path);
    // A null dataspace (h5py's Empty) holds no value at all, not a scalar.
    require(H5Sget_simple_extent_type(space.get()) != H5S_NULL, "HDF5 file '", path_, "': cannot ", what, " '",
            detail::normalize(path), "': it is empty (a null dataspace, no value at all)");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      fail_at(what, path);
    return dims;
  }

  static std::string class_name(H5T_class_t c) {
    switch (c) {
      case H5T_INTEGER: return "integer";
      case H5T_FLOAT: return "floating-point";
      case H5T_STRING: return "string";
      case H5T_COMPOUND: return "compound";
      case H5T_ENUM: return "enum";
      case H5T_ARRAY: return "array";
      case H5T_VLEN: return "variable-length";
      default: return "non-numeric";
    }
  }

  void require_numeric(hid_t dset, std::string_view what, std::string_view path) const {
    detail::handle t(H5Dget_type(dset), H5Tclose);
    if (!t) fail_at(what, path);
    const H5T_class_t c = H5Tget_class(t.get());
    require(c == H5T_INTEGER || c == H5T_FLOAT, "HDF5 file '", path_, "': cannot ", what, " '",
            detail::normalize(path), "': it holds ", class_name(c), " data, not numbers");
  }

  template <element T>
  void require_same_type(hid_t dset, std::string_view what, std::string_view path) const {
    detail::handle t(H5Dget_type(dset), H5Tclose);
    if (!t) fail_at(what, path);
    const hid_t want = detail::type_of<T>::stored();
    const H5T_class_t c = H5Tget_class(t.get());
    const bool same = c == H5Tget_class(want) && H5Tget_size(t.get()) == H5Tget_size(want) &&
                      (c != H5T_INTEGER || H5Tget_sign(t.get()) == H5Tget_sign(want));
    if (!same) {
      std::string have = class_name(c) + " of " + std::to_string(H5Tget_size(t.get())) + " bytes";
      if (c == H5T_INTEGER) have += H5Tget_sign(t.get()) == H5T_SGN_NONE ? ", unsigned" : ", signed";
      fail("HDF5 file '", path_, "': cannot ", what, " '", detail::normalize(path),
           "': it stores ", have, ", not ", detail::type_of<T>::name);
    }
  }

  void check_range(const std::vector<hsize_t>& dims, index_t offset, index_t count,
                   std::string_view what, std::string_view path) const {
    const hsize_t n = detail::element_count(dims, where("dataset", path));
    require(offset >= 0 && count >= 0 && static_cast<hsize_t>(offset) <= n &&
                static_cast<hsize_t>(count) <= n - static_cast<hsize_t>(offset),
            "HDF5 file '", path_, "': cannot ", what, " '", detail::normalize(path),
            "': elements [", offset, ", ", offset, " + ", count, ") are outside its ", n,
            " elements of shape ", detail::dims_string(dims));
  }

  // Selects flat elements [offset, offset + count) in file space `fs`; returns the matching
  // 1-D memory space.
  static detail::handle select(hid_t fs, const std::vector<hsize_t>& dims, hsize_t offset,
                               hsize_t count) {
    if (dims.empty()) {
      H5Sselect_all(fs);
    } else {
      std::vector<hsize_t> stride(dims.size(), 1), prefix;
      for (std::size_t k = dims.size() - 1; k > 0; --k) stride[k - 1] = stride[k] * dims[k];
      bool first = true;
      detail::select_flat(fs, dims, stride, 0, prefix, offset, offset + count, first);
    }
    return detail::handle(H5Screate_simple(1, &count, nullptr), H5Sclose);
  }

  template <element T>
  void write_selected(hid_t dset, std::string_view path, hsize_t offset, const T* data,
                      hsize_t count, const std::vector<hsize_t>& dims) {
    if (count == 0) return;
    detail::handle fs(H5Dget_space(dset), H5Sclose);
    if (!fs) fail_at("write dataset", path);
    detail::handle ms = select(fs.get(), dims, offset, count);
    if (!ms || H5Sget_select_npoints(fs.get()) != static_cast<hssize_t>(count)) fail_at("write dataset", path);
    if (H5Dwrite(dset, detail::type_of<T>::memory(), ms.get(), fs.get(), H5P_DEFAULT, data) < 0)
      fail_io(dset, "write dataset", path);
  }

  void require_one_string(hid_t type, hid_t space, std::string_view what,
                          std::string_view path) const {
    const H5T_class_t c = H5Tget_class(type);
    require(c == H5T_STRING, "HDF5 file '", path_, "': cannot read ", what, " '",
            detail::normalize(path), "' as a string: it holds ", class_name(c), " data");
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    require(n == 1, "HDF5 file '", path_, "': cannot read ", what, " '", detail::normalize(path),
            "' as a string: it holds ", n, " strings, not one");
  }

  void put_attr(std::string_view object_path, std::string_view name, hid_t stored, hid_t memory,
                const void* value) {
    const std::string p = detail::normalize(object_path), n(name);
    check_writable("set attribute '" + n + "' of", p);
    require(name.find('\0') == std::string_view::npos, "HDF5 file '", path_, "': cannot set attribute '",
            detail::shown_nul(n), "' of '", p, "': the attribute's name contains a NUL character");
    require(look_up(p) != kind::none, "HDF5 file '", path_, "': cannot set attribute '", name, "' of '", p,
            "': no such object");
    require(stored >= 0, "HDF5 file '", path_, "': cannot set attribute '", name, "' of '", p,
            "': cannot make its type");
    detail::handle o(H5Oopen(id_.get(), p.c_str(), H5P_DEFAULT), H5Oclose);
    if (!o) fail_attr("set", p, name);
    const htri_t exists = H5Aexists(o.get(), n.c_str());
    if (exists < 0 || (exists > 0 && H5Adelete(o.get(), n.c_str()) < 0)) fail_attr("set", p, name);
    detail::handle space(H5Screate(H5S_SCALAR), H5Sclose);
    detail::handle a(H5Acreate2(o.get(), n.c_str(), stored, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
    if (!a || H5Awrite(a.get(), memory, value) < 0) fail_attr("set", p, name);
  }

  detail::handle open_attr(std::string_view object_path, std::string_view name) const {
    check_open("read attribute of", object_path);
    const std::string p = detail::normalize(object_path), n(name);
    require(look_up(p) != kind::none, "HDF5 file '", path_, "': cannot read attribute '", name, "' of '", p,
            "': no such object");
    const htri_t exists = H5Aexists_by_name(id_.get(), p.c_str(), n.c_str(), H5P_DEFAULT);
    if (exists < 0) fail_attr("read", p, name);
    require(exists > 0, "HDF5 file '", path_, "': cannot read attribute '", name, "' of '", p,
            "': no such attribute");
    detail::handle a(H5Aopen_by_name(id_.get(), p.c_str(), n.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
    if (!a) fail_attr("read", p, name);
    return a;
  }

  bool attr_is_signed(std::string_view object_path, std::string_view name) const {
    detail::handle a = open_attr(object_path, name);
    detail::handle t(H5Aget_type(a.get()), H5Tclose);
    if (!t) fail_attr("read", object_path, name);
    return H5Tget_class(t.get()) == H5T_INTEGER && H5Tget_sign(t.get()) != H5T_SGN_NONE;
  }

  void read_number_attr(std::string_view object_path, std::string_view name, hid_t memory,
                        void* out, bool integer) const {
    detail::handle a = open_attr(object_path, name);
    detail::handle t(H5Aget_type(a.get()), H5Tclose);
    detail::handle space(H5Aget_space(a.get()), H5Sclose);
    if (!t || !space) fail_attr("read", object_path, name);
    const H5T_class_t c = H5Tget_class(t.get());
    const bool ok = integer ? c == H5T_INTEGER : (c == H5T_INTEGER || c == H5T_FLOAT);
    require(ok, "HDF5 file '", path_, "': cannot read attribute '", name, "' of '",
            detail::normalize(object_path), "' as ", integer ? "an integer" : "a number",
            ": it holds ", class_name(c), " data");
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    require(n == 1, "HDF5 file '", path_, "': cannot read attribute '", name, "' of '",
            detail::normalize(object_path), "' as one number: it holds ", n, " values");
    if (H5Aread(a.get(), memory, out) < 0) fail_attr("read", object_path, name);
  }

  detail::handle id_;
  std::string path_;
  bool writable_ = false;
};

// Writes a file all at once or not at all: calls fn(f) on a new file `final_path.tmp-<pid>`,
// closes it, fsyncs it, renames it onto `final_path` and fsyncs the folder. A reader never sees
// a half-written `final_path`; a crash leaves at worst a stale temp file beside it. A symbolic
// link at `final_path` stays: the file it points to is the one replaced (the temp file beside
// it), as writing through the link would. A name so long that the suffix would pass 255 bytes
// is cut short in the temp file's name.
// requires: fn does not close or move f.
// ensures: on success `final_path` holds what fn wrote; on any exception the previous
//          `final_path` (if any) is untouched and the temp file is removed.
// throws: what fn throws (rethrown), or basin::error when creating, closing, syncing or renaming
//         fails.
template <class Fn>
  requires std::invocable<Fn&, file&>
void atomic_write(const std::filesystem::path& link, Fn&& fn) {
  const std::filesystem::path final_path = follow_links(link, "HDF5 file '" + link.string() + "'");
  const std::filesystem::path tmp = beside(final_path, ".tmp-" + std::to_string(static_cast<long long>(::getpid())));
  try {
    {
      file f = file::create(tmp);
      fn(f);
      f.close();
    }
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    require(fd >= 0, "cannot sync HDF5 file '", tmp.string(), "': ", std::generic_category().message(errno));
    const int synced = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    require(synced == 0, "cannot sync HDF5 file '", tmp.string(), "': ", std::generic_category().message(err));
    std::error_code ec;
    std::filesystem::rename(tmp, final_path, ec);
    require(!ec, "cannot rename HDF5 file '", tmp.string(), "' to '", final_path.string(), "': ", ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  // Make the rename itself durable; a failure here loses nothing already visible.
  const auto dir = final_path.has_parent_path() ? final_path.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace basin::h5
