// synpref/common/status.h: expected failures as values.
//
// Bad files, bad JSON, bad requests, missing tensors are *expected* failures: functions return a
// Status (or Result<T>) whose message names the file, line or field and says what to do. Broken
// invariants are bugs and stop the program through SP_CHECK (synpref/common/check.h).
// Errors become exit codes in exactly one place (tools/synpref/main.cpp).
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include "synpref/common/check.h"

namespace synpref {

enum class StatusCode : int {
  ok = 0,
  invalid_argument = 2,  // bad flag or option value
  not_found = 3,         // missing file, field or tensor
  io_error = 4,          // read/write failed, truncated compressed stream
  data_error = 5,        // malformed input record or file content
  unsupported = 6,       // valid input using a feature we do not implement
  internal = 7,
  interrupted = 8,  // stopped on request (SIGINT/SIGTERM) after saving what resumes the work
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::ok; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>", e.g. the file name in front.
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

inline Status invalid_argument(std::string m) {
  return {StatusCode::invalid_argument, std::move(m)};
}
inline Status not_found(std::string m) {
  return {StatusCode::not_found, std::move(m)};
}
inline Status io_error(std::string m) {
  return {StatusCode::io_error, std::move(m)};
}
inline Status data_error(std::string m) {
  return {StatusCode::data_error, std::move(m)};
}
inline Status unsupported(std::string m) {
  return {StatusCode::unsupported, std::move(m)};
}
inline Status internal_error(std::string m) {
  return {StatusCode::internal, std::move(m)};
}

// Result<T>: a value or a non-ok Status. (std::expected needs C++23 and a newer clang than
// Debian 12's, which builds our fuzz targets.)
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) {
    SP_CHECK_MSG(!std::get<Status>(v_).is_ok(), "Result constructed from an ok Status");
  }

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    SP_CHECK_MSG(is_ok(), status().message().c_str());
    return std::get<T>(v_);
  }
  const T& value() const& {
    SP_CHECK_MSG(is_ok(), status().message().c_str());
    return std::get<T>(v_);
  }
  // By value, not T&&: `for (auto& x : f().value())` would otherwise iterate a member of the
  // temporary Result, destroyed before the loop body runs.
  T value() && {
    SP_CHECK_MSG(is_ok(), status().message().c_str());
    return std::get<T>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace synpref

// Propagates a non-ok Status out of the calling function.
#define SP_RETURN_IF_ERROR(expr)                \
  do {                                          \
    ::synpref::Status sp_status_ = (expr);      \
    if (!sp_status_.is_ok()) return sp_status_; \
  } while (0)

#define SP_CONCAT_INNER(a, b) a##b
#define SP_CONCAT(a, b) SP_CONCAT_INNER(a, b)
// SP_ASSIGN_OR_RETURN(auto x, f()); declares x from a Result or returns its Status.
#define SP_ASSIGN_OR_RETURN(decl, expr) SP_ASSIGN_OR_RETURN_IMPL(SP_CONCAT(sp_result_, __LINE__), decl, expr)
#define SP_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                              \
  if (!tmp.is_ok()) return tmp.status();          \
  decl = std::move(tmp).value()
