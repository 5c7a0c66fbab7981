// A goal's workspace folder and the confinement rules for paths that come from model output.
//
// write_files() works in two phases: every path is checked first (syntax, batch conflicts, and
// what already exists on disk along the path), and only when all pass is anything created. Just
// before each file is written its path is checked again, and the file itself is opened with
// O_NOFOLLOW, so a symlink planted at the final name is never followed. The file is opened
// without O_TRUNC and truncated only after fstat() shows a regular file with a single link, so
// neither a FIFO (O_NONBLOCK), a device nor a hard link to a file elsewhere is ever clobbered.
#include "cadre/roles/workspace.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

namespace cadre::roles {

namespace fs = std::filesystem;

namespace {

// A path as it may be shown in a message: control bytes escaped, long paths shortened.
std::string shown(std::string_view path) {
  std::string out;
  const std::size_t limit = 200;
  for (std::size_t i = 0; i < path.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (path.size() > limit) out += "...";
  return out;
}

Error path_error(std::string_view path, const std::string& why) {
  return make_error("path '" + shown(path) + "': " + why);
}

std::string errno_text(int err) { return std::strerror(err); }

std::vector<std::string> split_segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    out.emplace_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

bool is_within(const std::string& root, const std::string& resolved) {
  if (resolved == root) return true;
  if (root == "/") return true;
  return resolved.size() > root.size() && resolved.compare(0, root.size(), root) == 0 &&
         resolved[root.size()] == '/';
}

Result<std::string> real_path(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return make_error(errno_text(errno));
  std::string out(resolved);
  std::free(resolved);
  return out;
}

// Checks what already exists along `rel` (which passed check_relative_path) under `root`: every
// existing parent must be a folder that resolves inside root; an existing final entry must be a
// regular file with one link. Missing entries are fine (they will be created).
Status check_on_disk(const std::string& root, const std::string& rel) {
  const std::vector<std::string> segments = split_segments(rel);
  std::string current = root;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    current += '/';
    current += segments[i];
    const bool last = i + 1 == segments.size();
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::Ok();  // the rest will be created
      return path_error(rel, "cannot inspect '" + shown(current) + "': " + errno_text(errno));
    }
    const std::string prefix = rel.substr(0, current.size() - root.size() - 1);
    if (last) {
      if (S_ISLNK(st.st_mode)) return path_error(rel, "is a symlink; refusing to write through it");
      if (S_ISDIR(st.st_mode)) return path_error(rel, "is an existing folder");
      if (!S_ISREG(st.st_mode)) return path_error(rel, "is not a regular file");
      if (st.st_nlink > 1) {
        return path_error(rel, "has " + std::to_string(st.st_nlink) +
                                   " hard links; refusing to write through it");
      }
      return Status::Ok();
    }
    if (S_ISLNK(st.st_mode)) {
      auto resolved = real_path(current);
      if (!resolved.ok()) {
        return path_error(rel, "the symlink '" + shown(prefix) +
                                   "' does not resolve: " + resolved.error().message);
      }
      if (!is_within(root, *resolved)) {
        return path_error(rel, "leads outside the workspace through the symlink '" +
                                   shown(prefix) + "' (to '" + shown(*resolved) + "')");
      }
      struct stat target {};
      if (::stat(current.c_str(), &target) != 0 || !S_ISDIR(target.st_mode)) {
        return path_error(rel, "'" + shown(prefix) + "' is not a folder");
      }
    } else if (!S_ISDIR(st.st_mode)) {
      return path_error(rel, "'" + shown(prefix) + "' is an existing file, not a folder");
    }
  }
  return Status::Ok();
}

Status write_all(int fd, const std::string& content) {
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errno_text(errno));
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

// Writes one file whose path passed every check; creates its parent folders.
Status write_one(const std::string& root, const FileEdit& file) {
  const std::vector<std::string> segments = split_segments(file.path);
  std::string current = root;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    current += '/';
    current += segments[i];
    if (::mkdir(current.c_str(), 0755) != 0 && errno != EEXIST) {
      return path_error(file.path, "cannot create folder '" + shown(current) + "': " +
                                       errno_text(errno));
    }
  }
  // Again, right before writing: the folders just made must not have changed the answer.
  if (auto st = check_on_disk(root, file.path); !st.ok()) return st;

  const std::string full = root + "/" + file.path;
  const int fd =
      ::open(full.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) return path_error(file.path, "is a symlink; refusing to write through it");
    return path_error(file.path, "cannot open for writing: " + errno_text(err));
  }
  auto fail = [&](const std::string& why) {
    ::close(fd);
    return Status(path_error(file.path, why));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail("cannot inspect: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail("is not a regular file");
  if (st.st_nlink > 1) return fail("has hard links; refusing to write through it");
  if (::ftruncate(fd, 0) != 0) return fail("cannot truncate: " + errno_text(errno));
  if (auto w = write_all(fd, file.content); !w.ok()) return fail("write failed: " + w.error().message);
  if (::close(fd) != 0) return path_error(file.path, "close failed: " + errno_text(errno));
  return Status::Ok();
}

// Reads a regular file without following a symlink at its name; nullopt if it cannot be read
// or holds more than `limit` bytes.
std::optional<std::string> read_regular(const std::string& full, std::size_t limit) {
  const int fd = ::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::nullopt;
  }
  std::string out;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

Status check_relative_path(std::string_view path) {
  if (path.empty()) return make_error("path '': is empty");
  if (path.size() > kMaxPathBytes) {
    return path_error(path, "is " + std::to_string(path.size()) + " bytes long, over the limit of " +
                                std::to_string(kMaxPathBytes));
  }
  if (path.find('\0') != std::string_view::npos) return path_error(path, "contains a NUL byte");
  if (path.find('\\') != std::string_view::npos) return path_error(path, "contains a backslash");
  if (path.front() == '/') return path_error(path, "is absolute; expected a relative path");
  for (const std::string& segment : split_segments(path)) {
    if (segment.empty()) {
      return path_error(path, "has an empty segment (a doubled or trailing '/')");
    }
    if (segment == ".") return path_error(path, "contains a '.' segment");
    if (segment == "..") return path_error(path, "contains a '..' segment");
    if (segment.size() > kMaxPathSegmentBytes) {
      return path_error(path, "has a segment of " + std::to_string(segment.size()) +
                                  " bytes, over the limit of " +
                                  std::to_string(kMaxPathSegmentBytes));
    }
  }
  return Status::Ok();
}

Result<Workspace> Workspace::open(const std::string& root) {
  if (root.empty()) return make_error("workspace folder name is empty");
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return make_error("cannot create workspace folder: " + ec.message(), root);
  if (!fs::is_directory(root, ec)) return make_error("workspace is not a folder", root);
  auto resolved = real_path(root);
  if (!resolved.ok()) {
    return make_error("cannot resolve workspace folder: " + resolved.error().message, root);
  }
  return Workspace(std::move(*resolved));
}

Status Workspace::write_files(const std::vector<FileEdit>& files) {
  // Phase 1: check everything; nothing is written unless every file passes.
  std::set<std::string> paths;
  for (const FileEdit& file : files) {
    if (auto st = check_relative_path(file.path); !st.ok()) return st;
    if (!paths.insert(file.path).second) return path_error(file.path, "appears twice");
  }
  for (const std::string& path : paths) {
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      const std::string parent = path.substr(0, slash);
      if (paths.count(parent)) {
        return path_error(path, "needs '" + shown(parent) +
                                    "' to be a folder, but it is also written as a file");
      }
    }
  }
  for (const FileEdit& file : files) {
    if (auto st = check_on_disk(root_, file.path); !st.ok()) return st;
  }
  // Phase 2: write.
  for (const FileEdit& file : files) {
    if (auto st = write_one(root_, file); !st.ok()) return st;
  }
  return Status::Ok();
}

Result<std::vector<FileEdit>> Workspace::read_files(std::size_t max_bytes) const {
  struct Found {
    std::string rel;
    std::uintmax_t size;
  };
  std::vector<Found> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
  if (ec) return make_error("cannot list workspace: " + ec.message(), root_);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return make_error("cannot list workspace: " + ec.message(), root_);
    const fs::file_status status = it->symlink_status(ec);
    if (ec) {
      ec.clear();
      continue;  // vanished while listing
    }
    if (fs::is_symlink(status)) continue;  // never followed (folders included)
    if (fs::is_directory(status)) {
      if (it->path().filename() == ".git") it.disable_recursion_pending();
      continue;
    }
    if (!fs::is_regular_file(status)) continue;
    const std::string full = it->path().string();
    if (full.size() <= root_.size() + 1) continue;
    std::string rel = full.substr(root_.size() + 1);
    if (root_ == "/") rel = full.substr(1);
    const std::uintmax_t size = it->file_size(ec);
    if (ec) {
      ec.clear();
      continue;
    }
    found.push_back(Found{std::move(rel), size});
  }
  if (ec) return make_error("cannot list workspace: " + ec.message(), root_);
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.rel < b.rel; });

  std::vector<FileEdit> out;
  std::size_t total = 0;
  for (const Found& f : found) {
    if (f.size > max_bytes - total) continue;  // would not fit
    auto content = read_regular(root_ + "/" + f.rel, max_bytes - total);
    if (!content) continue;  // unreadable, vanished, or grew past the budget
    if (content->find('\0') != std::string::npos) continue;  // binary
    total += content->size();
    out.push_back(FileEdit{f.rel, std::move(*content)});
  }
  return out;
}

Result<Workspace> Workspace::copy_to(const std::string& destination) const {
  if (destination.empty()) return make_error("copy destination is empty");
  std::error_code ec;
  const fs::path dest = fs::weakly_canonical(fs::absolute(destination, ec), ec);
  if (ec) return make_error("cannot resolve copy destination: " + ec.message(), destination);
  if (is_within(root_, dest.string())) {
    return make_error("copy destination lies inside the workspace '" + root_ + "'", destination);
  }
  if (fs::exists(fs::symlink_status(dest, ec))) {
    if (!fs::is_directory(fs::symlink_status(dest, ec)) || !fs::is_empty(dest, ec)) {
      return make_error("copy destination already exists and is not an empty folder",
                        destination);
    }
  } else {
    fs::create_directories(dest, ec);
    if (ec) return make_error("cannot create copy destination: " + ec.message(), destination);
  }

  fs::recursive_directory_iterator it(root_, ec);
  if (ec) return make_error("cannot list workspace: " + ec.message(), root_);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return make_error("cannot list workspace: " + ec.message(), root_);
    const std::string full = it->path().string();
    const std::string rel = root_ == "/" ? full.substr(1) : full.substr(root_.size() + 1);
    const fs::path to = dest / rel;
    const fs::file_status status = it->symlink_status(ec);
    if (ec) return make_error("cannot inspect: " + ec.message(), full);
    if (fs::is_symlink(status)) {
      fs::copy_symlink(it->path(), to, ec);
    } else if (fs::is_directory(status)) {
      fs::create_directory(to, it->path(), ec);
    } else if (fs::is_regular_file(status)) {
      fs::copy_file(it->path(), to, fs::copy_options::none, ec);
    } else {
      continue;  // sockets, FIFOs, devices: not part of a workspace
    }
    if (ec) return make_error("cannot copy '" + rel + "': " + ec.message(), dest.string());
  }
  if (ec) return make_error("cannot list workspace: " + ec.message(), root_);
  return Workspace::open(dest.string());
}

}  // namespace cadre::roles
