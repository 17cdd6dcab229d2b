// The error taxonomy. Every runtime failure is a value of one of these types;
// nothing is thrown across the core's boundary. Each type carries a stable
// `_tag` string that the JS side maps one to one onto its error objects.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace rooms {

// Storage, alarm or schema failure inside a ctx operation.
struct RoomError {
  static constexpr std::string_view tag = "RoomError";
  std::string message;
  // The runtime logged it already (a refusal of the outbound budget, whose
  // log is rate-limited): passed on by a handler, it is not logged again.
  bool logged = false;
};

// The upgrade handshake or onConnect failed; the socket was not kept.
struct UpgradeError {
  static constexpr std::string_view tag = "UpgradeError";
  std::string message;
  // The HTTP status the adapter answers with: 400 bad options, 409 duplicate
  // id rejected, 500 onConnect failed, 503 room full.
  int status = 400;
};

// A unicast could not be delivered (the connection is not open).
struct SendError {
  static constexpr std::string_view tag = "SendError";
  std::string connectionId;
  std::string message;
};

// One or more recipients of a broadcast could not be reached. The others were.
struct BroadcastError {
  static constexpr std::string_view tag = "BroadcastError";
  std::vector<SendError> failures;
};

// conn.setState would have produced an attachment over the cap. The state is
// unchanged.
struct AttachmentTooLargeError {
  static constexpr std::string_view tag = "AttachmentTooLargeError";
  std::size_t size = 0;
  std::size_t limit = 0;
};

// A value failed its schema: where (JSON path), what was expected, what was
// found, and for tagged unions the `_tag` values that are allowed.
struct RoomValidationError {
  static constexpr std::string_view tag = "RoomValidationError";
  std::string path = "$";
  std::string expected;
  std::string found;
  std::vector<std::string> allowedTags;
};

// A handler failed (returned an error its onError did not absorb, or the
// instance trapped). `phase` names the handler: onConnect, onEvent, ...
struct RoomExecutionError {
  static constexpr std::string_view tag = "RoomExecutionError";
  std::string phase;
  std::string cause;
};

// The registry has no room type of this name.
struct RoomNotFoundError {
  static constexpr std::string_view tag = "RoomNotFoundError";
  std::string name;
};

// Control flow of ctx.purge(): the runtime clears state and alarm and ends the
// handler. Never reported as a failure.
struct PurgeSignal {
  static constexpr std::string_view tag = "PurgeSignal";
};

// Present on an alarm that runs as a retry after a failed attempt.
struct SystemFailure {
  static constexpr std::string_view tag = "SystemFailure";
  int retryCount = 0;
  std::string cause;
};

using Error = std::variant<RoomError, UpgradeError, SendError, BroadcastError, AttachmentTooLargeError,
                           RoomValidationError, RoomExecutionError, RoomNotFoundError, PurgeSignal,
                           SystemFailure>;

inline std::string_view tagOf(const Error& e) {
  return std::visit([](const auto& v) { return std::decay_t<decltype(v)>::tag; }, e);
}

// One line for logs and messages.
std::string describe(const RoomValidationError& e);
std::string describe(const Error& e);
// {"_tag": ..., "message": ..., and the error's own fields}.
std::string errorToJson(const Error& e);
// The inverse for errors coming back from a sibling room.
Error errorFromJson(std::string_view tag, std::string_view json);

// Outcome of an operation that yields nothing: ok, or one error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  template <class E, class = std::enable_if_t<std::is_constructible_v<Error, E&&>>>
  Status(E&& e) : error_(std::forward<E>(e)), ok_(false) {}

  explicit operator bool() const { return ok_; }
  bool ok() const { return ok_; }
  const Error& error() const { return error_; }
  Error& error() { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

// A value or an error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  template <class E, class = std::enable_if_t<std::is_constructible_v<Error, E&&> &&
                                              !std::is_convertible_v<E&&, T>>>
  Result(E&& e) : v_(std::in_place_index<1>, std::forward<E>(e)) {}

  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const Error& error() const { return std::get<1>(v_); }
  Status status() const { return ok() ? Status{} : Status{error()}; }

 private:
  std::variant<T, Error> v_;
};

}  // namespace rooms
