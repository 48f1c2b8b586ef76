// Status and StatusOr: errors as values. No exception crosses a module border.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace modelfn {

// Error categories, chosen as abseil's canonical codes are: by what the caller should do next.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller sent something wrong; retrying the same input fails again
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // a create found the thing already there
  kFailedPrecondition,  // the system is not in a state to do this (e.g. model not ready)
  kResourceExhausted,   // a limit was hit (size, count, quota)
  kUnavailable,         // transient: retry later may succeed (network, store)
  kDataLoss,            // corrupt or tampered data (checksum mismatch, truncation)
  kDeadlineExceeded,    // ran out of time
  kUnimplemented,       // valid but not supported
  kInternal,            // an invariant broke: a bug or a failure inside a dependency
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  // `reason` is a stable machine-readable word for the caller's API (e.g. "dtype_mismatch"), as
  // google.rpc.ErrorInfo's reason: the HTTP faces map it to a problem+json code.
  Status(StatusCode code, std::string message, std::string reason)
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& reason() const { return reason_; }
  // "CODE: message", for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message"; codes are kept.
  Status WithContext(const std::string& prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string reason_;
};

inline Status InvalidArgumentError(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status ResourceExhaustedError(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status UnimplementedError(std::string m) {
  return {StatusCode::kUnimplemented, std::move(m)};
}

// Holds either a value or a non-OK Status. Accessing value() of an error is a bug (asserts).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& s) : v_(s) { assert(!s.ok()); }  // NOLINT: implicit by design
  StatusOr(Status&& s) : v_(std::move(s)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT
  StatusOr(const T& value) : v_(value) {}                                          // NOLINT
  StatusOr(T&& value) : v_(std::move(value)) {}                                    // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace modelfn

#define MODELFN_CONCAT_INNER(a, b) a##b
#define MODELFN_CONCAT(a, b) MODELFN_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)       \
  do {                              \
    ::modelfn::Status _st = (expr); \
    if (!_st.ok()) return _st;      \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(MODELFN_CONCAT(_status_or_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
