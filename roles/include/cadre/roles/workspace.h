// A goal's workspace: the folder real coders write into and critics read from, and the rules that
// keep what a model writes inside it.
//
// Paths come from model output, so they are untrusted: check_relative_path() decides which
// strings may name a file at all, and Workspace::write_files() additionally refuses any path that
// would lead outside the folder through a symlink already in it. Nothing here follows a symlink
// when writing the final file (O_NOFOLLOW) or when reading files back.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"
#include "cadre/roles/messages.h"

namespace cadre::roles {

// Limits of a relative path a model may write.
inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::size_t kMaxPathSegmentBytes = 255;

// A relative path a model may write: non-empty, relative (no leading '/'), '/'-separated, no ".."
// segment, no empty or "." segments (so no "a//b", "./a" or trailing '/'), no NUL byte, no
// backslash, at most 255 bytes per segment and 4096 in all. The error names the path and says why,
// e.g. "path '../x': contains a '..' segment".
Status check_relative_path(std::string_view path);

class Workspace {
 public:
  // Opens the folder `root`, creating it (and its parents) if missing. root() is its canonical
  // absolute path (symlinks in `root` itself are resolved once, here). Fails if `root` exists and
  // is not a folder.
  static Result<Workspace> open(const std::string& root);

  const std::string& root() const { return root_; }

  // Writes each file under root, creating parent folders as needed and replacing existing files.
  // Refuses, writing nothing at all, if any path fails check_relative_path, appears twice, is both
  // a file and a folder of another path of the batch, goes through an existing non-folder, would
  // resolve outside root through an existing symlink (every existing parent is checked with
  // lstat/realpath), or names an existing symlink, folder, special file or hard-linked file. The
  // final file is opened with O_NOFOLLOW. The error names the offending path.
  // An I/O failure after the checks (disk full, permissions) can leave earlier files written.
  Status write_files(const std::vector<FileEdit>& files);

  // Reads every regular file under root, relative paths sorted (bytewise). Symlinks are skipped
  // (never followed), as are special files, binary files (holding a NUL byte) and ".git" folders.
  // Files are taken in path order while their total stays within max_bytes; a file that would
  // exceed it is skipped.
  Result<std::vector<FileEdit>> read_files(std::size_t max_bytes = 1 << 20) const;

  // Copies the whole tree to `destination` (a folder that must not exist yet, or be empty, and
  // must not lie inside root), for trying a candidate without touching the original. Symlinks are
  // copied as symlinks (with the same targets), file permissions are kept.
  Result<Workspace> copy_to(const std::string& destination) const;

 private:
  explicit Workspace(std::string root) : root_(std::move(root)) {}

  std::string root_;
};

}  // namespace cadre::roles
