// basin/core/files.hpp — folders for a run's output, created or refused with a message that
// names where the folder came from, and small text files written whole or not at all.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "basin/core/error.hpp"

namespace basin {

// ensures: the folder `dir` exists (created with its parents when missing).
// throws: basin::error naming `what` (e.g. "option --out"), the folder and the system's reason
//   when it cannot be created or a file of that name is in the way.
inline void make_folder(const std::filesystem::path& dir, const std::string& what) {
  require(!dir.empty(), what, ": expected a folder, got an empty path");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const bool is_dir = !ec && std::filesystem::is_directory(dir, ec);
  require(is_dir, what, ": cannot use '", dir.string(),
          "' as a folder: ", ec ? ec.message() : std::string("a file of that name is in the way"));
}

// Whether `path` exists; a path that cannot be looked at (no permission on a folder above it)
// throws basin::error naming `what`, the path and the system's reason instead of
// std::filesystem::filesystem_error.
inline bool path_exists(const std::filesystem::path& path, const std::string& what) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    fail(what, ": cannot look at '", path.string(), "': ", ec.message());
  return std::filesystem::exists(st);
}

// Why a path whose status(path, ec) says it does not exist is not there: "not found", or what
// stopped the lookup (a folder above it that cannot be read, say).
inline std::string why_missing(const std::error_code& ec) {
  if (!ec || ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) return "not found";
  return "cannot be looked at: " + ec.message();
}

// Where a symbolic link at `link` leads, followed link by link (to a file that may not exist
// yet); `link` itself when it is no link. Writers that replace a file by renaming a new one onto
// it write there, so that the link stays and the file it points to is replaced, as writing
// through the link would. throws: basin::error naming `what` when `link` names no file (empty,
// or ending in '/'), when a link cannot be read or after 40 links (a loop).
inline std::filesystem::path follow_links(const std::filesystem::path& link, const std::string& what) {
  require(link.has_filename(), what, ": expected a file name, got '", link.string(),
          "' (empty, or ending in '/': a folder)");  // (checked before a whole file is written for nothing)
  std::filesystem::path path = link;
  std::error_code ec;
  for (int hops = 0; std::filesystem::is_symlink(path, ec); ++hops) {
    require(hops < 40, what, ": the link '", link.string(), "' does not end in a file after 40 links (a loop?)");
    const auto to = std::filesystem::read_symlink(path, ec);
    require(!ec, what, ": cannot follow the link '", path.string(), "': ", ec.message());
    path = to.is_absolute() ? to : path.parent_path() / to;
  }
  return path;
}

// The name beside `path` that a file is written under before it is renamed onto `path`:
// `path` + suffix, the file name cut short where the two would pass the 255 bytes a name may have.
inline std::filesystem::path beside(const std::filesystem::path& path, const std::string& suffix) {
  constexpr std::size_t name_max = 255;
  const std::string name = path.filename().string();
  const std::size_t keep =
      name.size() + suffix.size() <= name_max ? name.size() : name_max - std::min(suffix.size(), name_max);
  return path.parent_path() / (name.substr(0, keep) + suffix);
}

// ensures: `path` holds exactly `text`. throws: basin::error naming `fn` and the file.
// Written beside it first (<path>.part<process id>) and renamed over it: a crash leaves the old
// file or the new, never a part of one. A symbolic link at `path` stays: the file it points to
// (beside which the part is written) is replaced, as writing through the link would.
inline void write_text(const std::filesystem::path& link, const std::string& text, const std::string& fn) {
  const std::filesystem::path path = follow_links(link, fn);
  const std::filesystem::path part = beside(path, ".part" + std::to_string(::getpid()));
  {
    std::ofstream f(part, std::ios::binary | std::ios::trunc);
    require(bool(f), fn, ": cannot open '", part.string(), "' for writing");
    f << text;
    f.close();
    if (f.fail()) {
      std::error_code ignored;
      std::filesystem::remove(part, ignored);
      fail(fn, ": cannot write '", part.string(), "'");
    }
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(part, ignored);
    fail(fn, ": cannot rename '", part.string(), "' to '", path.string(), "': ", ec.message());
  }
}

}  // namespace basin
