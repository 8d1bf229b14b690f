// tests/scratch.hpp — one scratch folder per test program run, for the files tests write:
// <tmp>/basin_<program>_<pid>, removed when the program exits; set BASIN_KEEP_SCRATCH=1 to keep
// it (its path is printed then) and look at what a failing test wrote.
#pragma once

#include <errno.h>  // program_invocation_short_name (glibc)
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace basin::test {

struct scratch_folder {
  std::filesystem::path path;
  scratch_folder()
      : path(std::filesystem::temp_directory_path() /
             ("basin_" + std::string(program_invocation_short_name) + "_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path);
  }
  scratch_folder(const scratch_folder&) = delete;
  scratch_folder& operator=(const scratch_folder&) = delete;
  ~scratch_folder() {
    const char* keep = std::getenv("BASIN_KEEP_SCRATCH");
    if (keep != nullptr && *keep != '\0' && std::string(keep) != "0") {
      std::cout << "scratch files kept in " << path.string() << "\n";
      return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// The folder, made at the first call (one for all of a program's translation units).
inline const std::filesystem::path& scratch_dir() {
  static const scratch_folder folder;
  return folder.path;
}

// A path in the scratch folder, with no file there yet.
inline std::string scratch_path(const std::string& name) {
  const auto p = scratch_dir() / name;
  std::filesystem::remove(p);
  return p.string();
}

}  // namespace basin::test
