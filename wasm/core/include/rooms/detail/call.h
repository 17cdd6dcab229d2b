// Sibling calls, the awaitable side: `co_await ctx.room<O>().send(...)`
// suspends the handler on a CallAwaitable; the runtime (a CallSink) hands the
// call to the platform and resumes the handler with the reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "rooms/errors.h"
#include "rooms/schema.h"
#include "rooms/task.h"

namespace rooms::detail {

// What a handler may ask of a sibling room; the values are the wire's
// (runtime/wire.h, CallOp), checked there.
enum class SiblingOp : std::uint32_t { Send = 1, GetState = 2, Broadcast = 3 };

// A call handed to the platform; the handler resumes with its outcome.
class PendingCall {
 public:
  virtual ~PendingCall() = default;
  virtual void complete(bool ok, std::string_view tag, std::string_view payload) = 0;
};

class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual bool hasRoom(std::string_view name) const = 0;
  virtual void startCall(SiblingOp op, std::string_view room, std::string_view id, std::string payload,
                         coro::coroutine_handle<> h, PendingCall* call) = 0;
};

template <class T>
class CallAwaitable final : public PendingCall {
 public:
  CallAwaitable(CallSink* sink, SiblingOp op, std::string room, std::string id, std::optional<std::string> payload)
      : sink_(sink), op_(op), room_(std::move(room)), id_(std::move(id)), payload_(std::move(payload)) {
    if (!payload_) early_ = RoomError{"value has no JSON form (NaN, infinity or invalid UTF-8)"};
    else if (!sink_->hasRoom(room_)) early_ = RoomNotFoundError{room_};
  }
  bool await_ready() const noexcept { return early_.has_value(); }
  void await_suspend(coro::coroutine_handle<> h) { sink_->startCall(op_, room_, id_, std::move(*payload_), h, this); }
  Result<T> await_resume() {
    if (early_) return *early_;
    if (!ok_) return errorFromJson(tag_, payload_ ? *payload_ : "");
    if constexpr (std::is_same_v<T, bool>) {
      return true;
    } else {
      T v;
      Decoder d;
      if (auto err = d.decode(*payload_, v)) return RoomError{"sibling reply: " + describe(*err)};
      return v;
    }
  }
  void complete(bool ok, std::string_view tag, std::string_view payload) override {
    ok_ = ok;
    tag_ = std::string(tag);
    payload_ = std::string(payload);
  }

 private:
  CallSink* sink_;
  SiblingOp op_;
  std::string room_, id_;
  std::optional<std::string> payload_;
  std::optional<Error> early_;
  bool ok_ = false;
  std::string tag_;
};

}  // namespace rooms::detail
