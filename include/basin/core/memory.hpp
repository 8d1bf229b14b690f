// basin/core/memory.hpp — how much memory an allocation may take, so that a reader refuses a
// file whose header promises more than the machine can hold with a basin::error naming the file
// instead of std::bad_alloc or the kernel's out-of-memory killer.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>

#include "basin/core/error.hpp"

namespace basin::detail {

// The bytes of memory this machine has (0 when unknown).
inline std::uint64_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : 0;
}

// Inside a container or a batch job the cgroup's limit applies first: the limit (cgroup v2:
// <root>/memory.max, "max" when unlimited; v1: <root>/memory/memory.limit_in_bytes, near 2^63
// when unlimited) less the anonymous memory in use (memory.stat's anon, v1 total_rss: the page
// cache the cgroup holds is reclaimed before its processes are killed, so it is not subtracted).
// 0 when there is no limit or it cannot be read; 1 when the limit is reached.
inline std::uint64_t cgroup_memory_left(const std::string& root) {
  const auto read_number = [](const std::string& path, std::uint64_t& v) {
    std::ifstream f(path);
    return static_cast<bool>(f >> v);
  };
  const auto read_stat = [](const std::string& path, const char* name, std::uint64_t& v) {
    std::ifstream f(path);
    std::string k;
    std::uint64_t x = 0;
    while (f >> k >> x)
      if (k == name) return v = x, true;
    return false;
  };
  std::uint64_t limit = 0, used = 0;
  const bool v2 = read_number(root + "/memory.max", limit) && read_stat(root + "/memory.stat", "anon", used);
  if (!v2 && !(read_number(root + "/memory/memory.limit_in_bytes", limit) &&
               read_stat(root + "/memory/memory.stat", "total_rss", used)))
    return 0;
  if (limit == 0 || limit >= (std::uint64_t(1) << 60)) return 0;
  return limit > used ? limit - used : 1;
}

// The bytes a new allocation can take now: the kernel's estimate of the memory available
// without swapping (MemAvailable, page cache included) plus the free swap, from /proc/meminfo;
// the physical memory where that file cannot be read (0 when unknown too); within a cgroup's
// memory limit what is left of it, when less. With Linux's
// overcommit an allocation past this succeeds and the process is killed when it touches the
// pages, so readers compare against it before allocating.
inline std::uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key, rest;
  std::uint64_t kib = 0, available = 0, swap = 0;
  bool found = false;
  while (in >> key >> kib) {
    std::getline(in, rest);
    if (key == "MemAvailable:") available = kib, found = true;
    if (key == "SwapFree:") swap = kib;
  }
  std::uint64_t bytes = found ? (available + swap) * 1024 : physical_memory();
  const std::uint64_t left = cgroup_memory_left("/sys/fs/cgroup");
  if (left > 0) bytes = std::min(bytes, left);
  return bytes;
}

// bytes in GiB, for messages.
inline double gib(double bytes) {
  return bytes / 1073741824.0;
}

// Refuses, before it is made, an allocation of `bytes` of host memory that the machine does not
// have left (std::bad_alloc, or the kernel's out-of-memory killer when the pages are touched):
// basin::error "<what> needs X GiB, Y GiB of memory are left". Nothing is checked where the
// memory left is unknown.
inline void require_memory(double bytes, const std::string& what) {
  const std::uint64_t left = available_memory();
  if (left > 0 && !(bytes <= double(left)))
    fail(what, " needs ", gib(bytes), " GiB, ", gib(double(left)), " GiB of memory are left");
}

}  // namespace basin::detail
