// basin/core/memory.hpp — how much memory an allocation may take, so that a reader refuses a
// file whose header promises more than the machine can hold with a basin::error naming the file
// instead of std::bad_alloc or the kernel's out-of-memory killer.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace basin::detail {

// The bytes of memory this machine has (0 when unknown).
inline std::uint64_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : 0;
}

// The bytes a new allocation can take now: the kernel's estimate of the memory available
// without swapping (MemAvailable, page cache included) plus the free swap, from /proc/meminfo;
// the physical memory where that file cannot be read (0 when unknown too). With Linux's
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
  return found ? (available + swap) * 1024 : physical_memory();
}

// bytes in GiB, for messages.
inline double gib(double bytes) {
  return bytes / 1073741824.0;
}

}  // namespace basin::detail
