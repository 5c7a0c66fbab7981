// Result<T>: a value or an Error, for fallible calls inside cadre.
//
// Inside the core, errors are values: functions that can fail for expected reasons return
// Result<T> (or Status = Result<void>) and never throw. Exceptions are used only at process
// edges (main, thread entry points) to turn the unexpected into a clear message and exit code.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace cadre {

// What went wrong, in words a user can act on. `where` is optional context such as
// "scenarios/x.yaml:12:3" and is printed before the message.
struct Error {
  std::string message;
  std::string where;

  std::string to_string() const { return where.empty() ? message : where + ": " + message; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  // Precondition: ok().
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // Precondition: !ok().
  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Success or an Error, for calls with nothing to return.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit by design

  static Status Ok() { return Status(); }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

inline Error make_error(std::string message, std::string where = {}) {
  return Error{std::move(message), std::move(where)};
}

}  // namespace cadre
