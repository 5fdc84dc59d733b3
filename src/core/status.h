// Error handling for the whole library: functions that can fail on outside input
// return Result<T>. The library never exits or aborts on user input; the CLI decides
// what to do with an Error (print it to stderr and return a non-zero exit code).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace nibble {

// A failure with a message that names the rule broken and the offending value,
// e.g. "model.bin: tensor 'wq' needs 331776 bytes at offset 28 but the file has 1024".
struct Error {
  std::string message;
};

// Builds an Error from a fmt format string.
template <typename... Args>
Error make_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...)};
}

// Either a value or an Error. Minimal stand-in for C++23 std::expected.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<T>(state_); }
  const T& value() const& { assert(ok()); return std::get<T>(state_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result for operations that produce nothing but may fail.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  static Status success() { return Status(); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(failed_); return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace nibble

// Propagates an error from an expression yielding Status or Result<T>.
#define NIBBLE_CHECK_OK(expr)                          \
  do {                                                 \
    auto&& nibble_status_ = (expr);                    \
    if (!nibble_status_.ok()) return nibble_status_.error(); \
  } while (0)

#define NIBBLE_CONCAT_INNER(a, b) a##b
#define NIBBLE_CONCAT(a, b) NIBBLE_CONCAT_INNER(a, b)

// Declares `lhs` from a Result<T> expression, or returns its error.
#define NIBBLE_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto NIBBLE_CONCAT(nibble_result_, __LINE__) = (expr);                     \
  if (!NIBBLE_CONCAT(nibble_result_, __LINE__).ok())                         \
    return NIBBLE_CONCAT(nibble_result_, __LINE__).error();                  \
  lhs = std::move(NIBBLE_CONCAT(nibble_result_, __LINE__)).value()
