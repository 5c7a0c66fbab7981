// CURVE key generation, key files and allow lists over libzmq's C API. Errors are values; no
// message ever contains key material (a secret must not end up in a log).
#include "cadre/transport/curve.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <unordered_set>

namespace cadre::transport {

namespace {

constexpr std::size_t kZ85KeyLength = 40;
constexpr const char* kPublicField = "public-key";
constexpr const char* kSecretField = "secret-key";

std::string errno_text(int error) { return std::strerror(error); }

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "0%03o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string_view trim(std::string_view text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::string where(const std::string& path, std::size_t line_index) {
  return path + ":" + std::to_string(line_index + 1);
}

// Reads all of `fd`; the caller keeps ownership of the descriptor.
Result<std::string> read_all(int fd, const std::string& path) {
  std::string content;
  std::array<char, 4096> buffer;
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n == 0) return content;
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("cannot read " + path + ": " + errno_text(errno));
    }
    content.append(buffer.data(), static_cast<std::size_t>(n));
    if (content.size() > 1 << 20) return make_error(path + " is too large for a key file");
  }
}

// Closes a descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the result (close can report a deferred write error).
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Result<std::string> read_text_file(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return make_error("cannot open " + path + ": " + errno_text(errno));
  return read_all(fd.get(), path);
}

// The fields of a key file, validated one by one as they are parsed.
struct KeyFileFields {
  std::optional<std::string> public_key;
  std::optional<std::string> secret_key;
};

Result<KeyFileFields> parse_key_file(const std::string& path, std::string_view content) {
  KeyFileFields fields;
  const auto lines = split_lines(content);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto line = trim(lines[i]);
    if (line.empty() || line.front() == '#') continue;
    const auto equals = line.find('=');
    if (equals == std::string_view::npos) {
      return make_error("expected 'public-key = <z85>' or 'secret-key = <z85>'", where(path, i));
    }
    const std::string name(trim(line.substr(0, equals)));
    const std::string value(trim(line.substr(equals + 1)));
    std::optional<std::string>* slot = nullptr;
    if (name == kPublicField) {
      slot = &fields.public_key;
    } else if (name == kSecretField) {
      slot = &fields.secret_key;
    } else {
      return make_error("unknown field '" + name + "' (expected public-key or secret-key)",
                        where(path, i));
    }
    if (slot->has_value()) return make_error("duplicate " + name, where(path, i));
    if (auto valid = check_curve_key(value); !valid) {
      return make_error(name + " " + valid.error().message, where(path, i));
    }
    *slot = value;
  }
  return fields;
}

Status write_new_file(const std::string& path, const std::string& content, mode_t mode) {
  // O_EXCL: never overwrite; the mode is given at creation so the file is never more readable
  // than `mode`, and fchmod then lifts any bits the umask removed.
  FileDescriptor fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    if (errno == EEXIST) return make_error("refusing to overwrite existing " + path);
    return make_error("cannot create " + path + ": " + errno_text(errno));
  }
  const auto fail = [&](const std::string& action) -> Status {
    const int error = errno;
    ::unlink(path.c_str());
    return make_error("cannot " + action + " " + path + ": " + errno_text(error));
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("set the mode of");
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("sync");
  if (fd.close() != 0) return fail("close");
  return Status::Ok();
}

// Adds `key` to `keys` unless already there.
void add_unique(std::vector<std::string>& keys, std::unordered_set<std::string>& seen,
                std::string key) {
  if (seen.insert(key).second) keys.push_back(std::move(key));
}

Result<std::vector<std::string>> read_allow_list_dir(const std::string& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->path().extension() == ".pub" && it->is_regular_file(type_ec)) {
      files.push_back(it->path());
    }
  }
  if (ec) return make_error("cannot list allow-list directory " + dir + ": " + ec.message());
  if (files.empty()) return make_error("allow-list directory " + dir + " has no *.pub files");
  std::sort(files.begin(), files.end());
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  for (const auto& file : files) {
    auto key = read_public_key_file(file.string());
    if (!key) return key.error();
    add_unique(keys, seen, std::move(key).value());
  }
  return keys;
}

Result<std::vector<std::string>> read_allow_list_file(const std::string& path) {
  auto content = read_text_file(path);
  if (!content) return content.error();
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  const auto lines = split_lines(*content);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto line = trim(lines[i]);
    if (line.empty() || line.front() == '#') continue;  // no Z85 key starts with '#'
    if (check_curve_key(line)) {
      add_unique(keys, seen, std::string(line));
      continue;
    }
    const auto equals = line.find('=');
    const auto name = equals == std::string_view::npos ? std::string_view{}
                                                       : trim(line.substr(0, equals));
    if (name == kSecretField) {
      return make_error("a secret key does not belong in an allow list", where(path, i));
    }
    if (name != kPublicField) {
      return make_error("expected a client public key (40 Z85 characters) or 'public-key = <z85>'",
                        where(path, i));
    }
    const std::string value(trim(line.substr(equals + 1)));
    if (auto valid = check_curve_key(value); !valid) {
      return make_error("public-key " + valid.error().message, where(path, i));
    }
    add_unique(keys, seen, value);
  }
  if (keys.empty()) return make_error("allow-list file " + path + " lists no keys");
  return keys;
}

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string inner(host.substr(1, host.size() - 2));
    in6_addr address{};
    if (::inet_pton(AF_INET6, inner.c_str(), &address) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&address)) return true;
    // ::ffff:127.x.x.x is IPv4 loopback seen through an IPv6 socket.
    return IN6_IS_ADDR_V4MAPPED(&address) && address.s6_addr[12] == 127;
  }
  std::string lowered(host);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lowered == "localhost") return true;
  in_addr address{};
  if (::inet_pton(AF_INET, lowered.c_str(), &address) != 1) return false;
  return (ntohl(address.s_addr) >> 24) == 127;
}

}  // namespace

Result<CurveKeyPair> generate_curve_key_pair() {
  char public_key[kZ85KeyLength + 1];
  char secret_key[kZ85KeyLength + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return make_error("cannot generate a CURVE key pair: " + std::string(zmq_strerror(errno)) +
                      " (is libzmq built with CURVE support?)");
  }
  return CurveKeyPair{public_key, secret_key};
}

Status check_curve_key(std::string_view key) {
  if (key.size() != kZ85KeyLength) {
    return make_error("must be " + std::to_string(kZ85KeyLength) + " Z85 characters, got " +
                      std::to_string(key.size()));
  }
  const std::string text(key);  // zmq_z85_decode needs a terminated string
  std::uint8_t decoded[32];
  if (zmq_z85_decode(decoded, text.c_str()) == nullptr) {
    return make_error("is not valid Z85 text");
  }
  return Status::Ok();
}

Status check_curve_key_pair(const CurveKeyPair& pair) {
  if (auto valid = check_curve_key(pair.public_key); !valid) {
    return make_error("public key " + valid.error().message);
  }
  if (auto valid = check_curve_key(pair.secret_key); !valid) {
    return make_error("secret key " + valid.error().message);
  }
  char derived[kZ85KeyLength + 1];
  if (zmq_curve_public(derived, pair.secret_key.c_str()) != 0) {
    return make_error("cannot derive the public key from the secret key: " +
                      std::string(zmq_strerror(errno)));
  }
  if (pair.public_key != derived) {
    return make_error("public key does not belong to the secret key");
  }
  return Status::Ok();
}

Status write_key_pair(const std::string& dir, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    return make_error("key name '" + name + "' must be a plain file name");
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return make_error("key directory " + dir + " does not exist or is not a directory");
  }
  const std::string key_path = (std::filesystem::path(dir) / (name + ".key")).string();
  const std::string pub_path = (std::filesystem::path(dir) / (name + ".pub")).string();
  // Checked up front so that an existing .pub does not leave a fresh .key behind.
  for (const auto& path : {key_path, pub_path}) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0) {
      return make_error("refusing to overwrite existing " + path);
    }
  }
  auto pair = generate_curve_key_pair();
  if (!pair) return pair.error();

  const std::string header = "# cadre CURVE key pair \"" + name + "\"\n";
  const std::string key_text = header +
                               "# Secret: keep this file private (mode 0600); give out " + name +
                               ".pub instead.\n" + kPublicField + " = " + pair->public_key +
                               "\n" + kSecretField + " = " + pair->secret_key + "\n";
  const std::string pub_text = "# cadre CURVE public key \"" + name + "\"\n" + kPublicField +
                               " = " + pair->public_key + "\n";
  if (auto written = write_new_file(key_path, key_text, 0600); !written) return written;
  if (auto written = write_new_file(pub_path, pub_text, 0644); !written) {
    ::unlink(key_path.c_str());
    return written;
  }
  return Status::Ok();
}

Result<CurveKeyPair> read_secret_key_file(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return make_error("cannot open secret key file " + path + ": " + errno_text(errno));
  }
  // fstat on the open descriptor: the mode checked is the mode of the file read.
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return make_error("cannot stat " + path + ": " + errno_text(errno));
  }
  if (!S_ISREG(info.st_mode)) return make_error("secret key file " + path + " is not a file");
  if ((info.st_mode & 077) != 0) {
    return make_error("secret key file " + path + " has mode " + octal_mode(info.st_mode) +
                      ", readable or writable by group or others; fix it with: chmod 600 " +
                      path);
  }
  auto content = read_all(fd.get(), path);
  if (!content) return content.error();
  auto fields = parse_key_file(path, *content);
  if (!fields) return fields.error();
  if (!fields->public_key) return make_error(path + " has no public-key line");
  if (!fields->secret_key) return make_error(path + " has no secret-key line");
  CurveKeyPair pair{*fields->public_key, *fields->secret_key};
  if (auto valid = check_curve_key_pair(pair); !valid) {
    return make_error(path + ": " + valid.error().message);
  }
  return pair;
}

Result<std::string> read_public_key_file(const std::string& path) {
  auto content = read_text_file(path);
  if (!content) return content.error();
  auto fields = parse_key_file(path, *content);
  if (!fields) return fields.error();
  if (!fields->public_key) return make_error(path + " has no public-key line");
  return *fields->public_key;
}

Result<std::vector<std::string>> read_allow_list(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) return read_allow_list_dir(path);
  if (!std::filesystem::exists(status)) {
    return make_error("allow list " + path + " does not exist");
  }
  return read_allow_list_file(path);
}

bool is_loopback_endpoint(const std::string& endpoint) {
  const std::string_view text(endpoint);
  if (text.starts_with("ipc://") || text.starts_with("inproc://")) return true;
  if (!text.starts_with("tcp://")) return false;
  const std::string_view address = text.substr(6);
  // "source;destination" and anything else unusual: not provably local.
  if (address.find(';') != std::string_view::npos) return false;
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) return false;
  const std::string_view host = address.substr(0, colon);
  // A bracketed IPv6 host must end right before the port separator.
  if (host.front() == '[' && host.back() != ']') return false;
  return is_loopback_host(host);
}

}  // namespace cadre::transport
