// Status and Result<T>: expected failures as values (DESIGN §8). Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "core/check.h"

namespace mlxm {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad input from a caller or a file: HTTP 400
  kNotFound,          // HTTP 404
  kAlreadyExists,     // HTTP 409
  kOutOfRange,        // e.g. prompt longer than the context: HTTP 400
  kResourceExhausted, // out of memory / KV blocks / queue full: HTTP 503 or 429
  kUnavailable,       // draining, loading failed: HTTP 503
  kDeadlineExceeded,  // timeouts: HTTP 408
  kCancelled,         // client went away
  kUnimplemented,     // a format or feature not supported (yet)
  kDataLoss,          // truncated or corrupt file
  kPermissionDenied,  // HTTP 403
  kUnauthenticated,   // HTTP 401
  kInternal,          // a bug surfaced as a value
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message"
  std::string to_string() const;

  // Prefixes context to the message: "while loading x: <message>".
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }
inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Result<T>: a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    MLXM_CHECK(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    MLXM_CHECK(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    MLXM_CHECK(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    MLXM_CHECK(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mlxm

// Returns early from a function returning Status or Result<U> when `expr` is not ok.
#define MLXM_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::mlxm::Status _mlxm_st = (expr);           \
    if (!_mlxm_st.ok()) return _mlxm_st;        \
  } while (0)

#define MLXM_CONCAT_INNER(a, b) a##b
#define MLXM_CONCAT(a, b) MLXM_CONCAT_INNER(a, b)

// MLXM_ASSIGN_OR_RETURN(auto x, make_x()); declares x from a Result or returns its Status.
#define MLXM_ASSIGN_OR_RETURN(lhs, rexpr) \
  MLXM_ASSIGN_OR_RETURN_IMPL(MLXM_CONCAT(_mlxm_res_, __LINE__), lhs, rexpr)
#define MLXM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
