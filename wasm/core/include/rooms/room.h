// The handler's world: the handlers of a room type, the handler context
// (RoomCtx), connections, named timers and calls to sibling rooms. Room
// types are declared with rooms::Room (rooms.h) and served by a Registry
// (registry.h).
//
// Each of these is a typed facade over the room's runtime, which is compiled
// once into the library: a facade holds a handle, never runtime data, and
// its typed methods only name R's schema types before calling the runtime.
//
// Threading and re-entrancy: a room instance is single-threaded. Each event
// runs handlers until they finish or suspend on a sibling call. A handler
// must not call into its own instance from outside its context (the
// runtime stops the process if one does).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rooms/broadcast.h"
#include "rooms/detail/call.h"
#include "rooms/detail/room_type.h"
#include "rooms/errors.h"
#include "rooms/schema.h"
#include "rooms/task.h"

namespace rooms {

template <class R>
class RoomCtx;

// Close code sent to the older socket when onDuplicate is Replace.
inline constexpr std::uint32_t kCloseReplaced = 1012;

// ---- Handlers --------------------------------------------------------------

template <class R>
using ErrorHandler = std::function<Task<Status>(RoomCtx<R>&, const Error&)>;

// A handler and its optional onError, which receives the handler's error.
// Assignable from the handler alone.
template <class R, class F>
struct Channel {
  F handler;
  ErrorHandler<R> onError;
  Channel() = default;
  template <class G, class = std::enable_if_t<std::is_constructible_v<F, G&&>>>
  Channel(G&& g) : handler(std::forward<G>(g)) {}
  Channel(F h, ErrorHandler<R> e) : handler(std::move(h)), onError(std::move(e)) {}
};

template <class R>
struct Handlers {
  using Lifecycle = std::function<Task<Status>(RoomCtx<R>&)>;
  using EventHandler = std::function<Task<Status>(RoomCtx<R>&, const typename R::Event&)>;
  using DecodeErrorHandler =
      std::function<Task<Status>(RoomCtx<R>&, std::string_view raw, const RoomValidationError&)>;

  Channel<R, Lifecycle> onConnect;
  Channel<R, EventHandler> onEvent;
  Channel<R, Lifecycle> onClose;
  Channel<R, Lifecycle> onAlarm;
  // Inbound frames that fail the event schema (binary and oversize frames
  // included). Without it the failure is only logged.
  DecodeErrorHandler onDecodeError;
};

// ---- Connections -------------------------------------------------------------

// A live WebSocket of a room instance: what does not depend on the room type.
// Pointers stay valid until the platform reports the socket closed.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;

  std::string_view id() const;
  // The user's tags (the reserved id tag is not listed).
  const std::vector<std::string>& tags() const;
  bool hasTag(std::string_view t) const;
  // False once a close was sent or received.
  bool isOpen() const;
  Status close(std::uint32_t code = 1000, std::string_view reason = "");

  // Topics: membership that changes at run time, kept in the attachment
  // (limits: kMaxTopicsPerConnection topics of 1 to kMaxTopicLength bytes,
  // and the attachment's runtime part, 1 KiB). Joining a topic twice or
  // leaving one not joined does nothing. On error (a topic name out of
  // bounds: RoomValidationError; too many topics or too large an attachment:
  // AttachmentTooLargeError) the membership is unchanged.
  Status join(std::string_view topic);
  Status leave(std::string_view topic);
  const std::vector<std::string>& topics();
  bool inTopic(std::string_view topic);

  // The upgrade's meta as JSON text; empty outside onConnect.
  std::string_view metaJson() const;
  template <class T>
  std::optional<T> meta() const {
    T v;
    Decoder d;
    auto text = metaJson();
    if (text.empty() || d.decode(text, v)) return std::nullopt;
    return v;
  }

 protected:
  ConnectionBase() = default;
  // The connection state, decoded from the attachment on first use after a wake.
  const void* stateValue();
  Status setStateValue(detail::AnyValue s);
  Status sendValue(const void* msg);

 private:
  friend class detail::Runtime;
  detail::Runtime* rt_ = nullptr;
  detail::ConnRecord* rec_ = nullptr;
};

template <class R>
class Connection final : public ConnectionBase {
 public:
  // Typed per-connection state.
  const typename R::Connection& state() { return *static_cast<const typename R::Connection*>(stateValue()); }
  // Validated, encoded, capped (RoomOptions::maxAttachmentBytes); on error
  // the state is unchanged.
  Status setState(typename R::Connection s) {
    return setStateValue(detail::AnyValue::make<typename R::Connection>(std::move(s)));
  }
  Status send(const typename R::Broadcast& msg) { return sendValue(&msg); }
};

// ctx.connections(): views over the open connections, in connect order.
class ConnectionsBase {
 public:
  std::size_t count() const;

 protected:
  explicit ConnectionsBase(detail::Runtime* rt) : rt_(rt) {}
  std::vector<ConnectionBase*> allBase() const;
  std::vector<ConnectionBase*> byTagBase(std::string_view tag) const;
  ConnectionBase* byIdBase(std::string_view id) const;
  std::vector<ConnectionBase*> inTopicBase(std::string_view topic) const;
  detail::Runtime* rt_;
};

template <class R>
class Connections final : public ConnectionsBase {
 public:
  using Conn = Connection<R>;
  std::vector<Conn*> all() const { return typed(allBase()); }
  std::vector<Conn*> byTag(std::string_view tag) const { return typed(byTagBase(tag)); }
  // The earliest-connected open connection with this id.
  Conn* byId(std::string_view id) const { return static_cast<Conn*>(byIdBase(id)); }
  // The open connections that joined `topic`, in the order they joined it.
  // The first use after a wake reads every connection's attachment.
  std::vector<Conn*> inTopic(std::string_view topic) const { return typed(inTopicBase(topic)); }
  template <class Pred>
  std::vector<Conn*> filter(Pred&& pred) const {
    std::vector<Conn*> out;
    for (auto* c : all())
      if (pred(*c)) out.push_back(c);
    return out;
  }

 private:
  friend class RoomCtx<R>;
  explicit Connections(detail::Runtime* rt) : ConnectionsBase(rt) {}
  static std::vector<Conn*> typed(const std::vector<ConnectionBase*>& v) {
    std::vector<Conn*> out;
    out.reserve(v.size());
    for (auto* c : v) out.push_back(static_cast<Conn*>(c));
    return out;
  }
};

// ctx.room<Other>(): typed calls to instances of another registered room type.
// Each returns an awaitable: `auto r = co_await ctx.room<Notes>().getState("n1");`
//
// Pass events and messages as named values, not as brace-initialised
// temporaries in the co_await expression: GCC 12 destroys such temporaries
// twice when the handler suspends (a double free). Clang is not affected.
//   const notes::Event ev = notes::Add{"x"};
//   auto r = co_await ctx.room<Notes>().send("n1", ev);
template <class O>
class SiblingRoom {
 public:
  explicit SiblingRoom(detail::CallSink* sink) : sink_(sink) {}
  detail::CallAwaitable<bool> send(std::string id, const typename O::Event& ev) {
    return {sink_, detail::SiblingOp::Send, std::string(O::name), std::move(id), encodeToString(ev)};
  }
  detail::CallAwaitable<std::optional<typename O::State>> getState(std::string id) {
    return {sink_, detail::SiblingOp::GetState, std::string(O::name), std::move(id), std::string()};
  }
  detail::CallAwaitable<bool> broadcast(std::string id, const typename O::Broadcast& msg) {
    return {sink_, detail::SiblingOp::Broadcast, std::string(O::name), std::move(id), encodeToString(msg)};
  }

 private:
  detail::CallSink* sink_;
};

// ctx.timers(): named timers on the room's one alarm, beside the spec's
// schedule (scheduleIn/scheduleAt). Each fires onAlarm once at its time, with
// ctx.timer() naming it; persisted, so they survive hibernation and
// restarts. A timer is removed only in the batch where its handler
// succeeded: a failed one is retried by the platform with ctx.systemFailure()
// set, as the schedule is. Due entries run in time order within one alarm.
// At most kMaxTimers per room; names of 1 to kMaxTimerNameLength bytes, not
// starting with '$'. Over either, a RoomError.
class Timers {
 public:
  // Sets (or moves) the timer `name`.
  template <class Rep, class Period>
  Status set(std::string_view name, std::chrono::duration<Rep, Period> delay) {
    return setAt(name, now() + std::chrono::duration_cast<std::chrono::milliseconds>(delay));
  }
  Status setAt(std::string_view name, Timestamp at);
  // Removes it; nothing happens when there is none.
  Status cancel(std::string_view name);
  // When it fires, or none.
  std::optional<Timestamp> next(std::string_view name);

 private:
  friend class CtxBase;
  explicit Timers(detail::Runtime* rt) : rt_(rt) {}
  Timestamp now() const;
  detail::Runtime* rt_;
};

// ---- The handler context -----------------------------------------------------

// What a handler's context offers whatever the room type.
class CtxBase {
 public:
  virtual ~CtxBase() = default;
  CtxBase(const CtxBase&) = delete;
  CtxBase& operator=(const CtxBase&) = delete;

  std::string_view id() const;
  std::string_view name() const;

  // Scheduling: one alarm per instance; a new schedule replaces the old.
  template <class Rep, class Period>
  Status scheduleIn(std::chrono::duration<Rep, Period> delay) {
    return scheduleAt(now() + std::chrono::duration_cast<std::chrono::milliseconds>(delay));
  }
  Status scheduleAt(Timestamp at);
  Status cancelSchedule();
  std::optional<Timestamp> nextAlarm();

  // Named timers on the same alarm (Timers above).
  Timers timers() { return Timers(rt_); }
  // In onAlarm: the named timer that fired, or none for the schedule.
  std::optional<std::string_view> timer() const {
    return timer_ ? std::optional<std::string_view>(*timer_) : std::nullopt;
  }

  // Clears state and schedule; return its value to end the handler:
  //   co_return ctx.purge();
  PurgeSignal purge();
  // Set when this alarm runs as a retry after a failed attempt.
  const SystemFailure* systemFailure() const { return systemFailure_ ? &*systemFailure_ : nullptr; }

  // Services provided to the registry, and the Worker's environment.
  template <class T>
  T* service() const {
    return static_cast<T*>(serviceOf(detail::typeKey<T>()));
  }
  std::optional<std::string> env(std::string_view key) const;
  // The platform's clock (on Cloudflare it advances only between I/O).
  Timestamp now() const;

 protected:
  CtxBase() = default;
  ConnectionBase* connectionBase() const;
  const void* stateValue();  // a std::optional<State>
  Status saveValue(detail::AnyValue s);  // of a State
  Status broadcastValue(const void* msg, const detail::Selection& sel);
  detail::CallSink* calls() const;
  detail::Runtime* runtime() const { return rt_; }
  void* serviceOf(const void* key) const;

 private:
  friend class detail::Runtime;
  detail::Runtime* rt_ = nullptr;
  detail::ConnRecord* conn_ = nullptr;
  std::optional<SystemFailure> systemFailure_;
  std::optional<std::string> timer_;
};

template <class R>
class RoomCtx final : public CtxBase {
 public:
  using State = typename R::State;

  std::string_view name() const { return R::name; }
  // The connection the event came from; null for direct sends and alarms.
  Connection<R>* connection() const { return static_cast<Connection<R>*>(connectionBase()); }

  // Room state: null until the first save.
  const std::optional<State>& recall() { return *static_cast<const std::optional<State>*>(stateValue()); }
  Status save(State s) { return saveValue(detail::AnyValue::make<std::optional<State>>(std::move(s))); }
  // Applies fn to the state and saves it; does nothing while the state is null.
  template <class F>
  Status update(F&& fn) {
    const auto& cur = recall();
    if (!cur) return {};
    State next = *cur;
    fn(next);
    return save(std::move(next));
  }

  Connections<R> connections() const { return Connections<R>(runtime()); }

  // Encodes msg once and hands the platform one frame with its recipients.
  Status broadcast(const typename R::Broadcast& msg, const BroadcastOptions<R>& opts = {}) {
    return broadcastValue(&msg, detail::selectionOf(opts));
  }

  template <class O>
  SiblingRoom<O> room() {
    return SiblingRoom<O>(calls());
  }
};

}  // namespace rooms
