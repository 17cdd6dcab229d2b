// The handler's world: the handlers of a room type, the handler context
// (RoomCtx), connections, calls to sibling rooms, and the registry of room
// types a module serves. Room types themselves are declared with
// rooms::Room (rooms.h); the runtime behind these is in runtime/.
//
// Threading and re-entrancy: an instance is single-threaded. Each entry point
// (upgrade, message, closed, alarm, send, ...) runs handlers until they finish
// or suspend on a sibling call, and appends what they did to the caller's
// EffectBatch. Handlers may not call entry points of their own instance.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rooms/effects.h"
#include "rooms/errors.h"
#include "rooms/host.h"
#include "rooms/limits.h"
#include "rooms/schema.h"
#include "rooms/task.h"
#include "rooms/broadcast.h"
#include "rooms/features.h"
#include "rooms/runtime/presence.h"
#include "rooms/runtime/attachment.h"
#include "rooms/runtime/sibling.h"
#include "rooms/runtime/upgrade.h"

namespace rooms {

template <class R>
class RoomInstance;
template <class R>
class RoomCtx;
class Registry;

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

// A live WebSocket of an instance. Pointers stay valid until the platform
// reports the socket closed.
template <class R>
class Connection {
 public:
  std::string_view id() const { return id_; }
  // The user's tags (the reserved id tag is not listed).
  const std::vector<std::string>& tags() const { return tags_; }
  bool hasTag(std::string_view t) const { return std::find(tags_.begin(), tags_.end(), t) != tags_.end(); }
  // False once a close was sent or received.
  bool isOpen() const { return open_; }

  // Typed per-connection state, decoded from the attachment on first use
  // after a wake.
  const typename R::Connection& state();
  // Validated, encoded, capped (RoomOptions::maxAttachmentBytes); on error
  // the state is unchanged.
  Status setState(typename R::Connection s);
  Status send(const typename R::Broadcast& msg);
  Status close(std::uint32_t code = 1000, std::string_view reason = "");

  // Topics: membership that changes at run time, kept in the attachment
  // (limits: kMaxTopicsPerConnection topics of 1 to kMaxTopicLength bytes,
  // and the attachment's runtime part, kMaxRuntimeAttachmentBytes). Joining a topic
  // twice or leaving one not joined does nothing. On error (a topic name
  // out of bounds: RoomValidationError; too many topics or too large an
  // attachment: AttachmentTooLargeError) the membership is unchanged.
  Status join(std::string_view topic);
  Status leave(std::string_view topic);
  const std::vector<std::string>& topics();
  bool inTopic(std::string_view topic);

  // The upgrade's meta as JSON text; empty outside onConnect.
  std::string_view metaJson() const { return meta_; }
  template <class T>
  std::optional<T> meta() const {
    T v;
    Decoder d;
    if (meta_.empty() || d.decode(meta_, v)) return std::nullopt;
    return v;
  }

 private:
  friend class RoomInstance<R>;
  friend class ConnectionTable<Connection>;
  template <class Q>
  friend std::pair<const std::uint32_t*, std::size_t> selectRecipients(const BroadcastOptions<Q>&,
                                                                       const ConnectionTable<Connection<Q>>&,
                                                                       RecipientScratch&, BroadcastError&);
  RoomInstance<R>* room_ = nullptr;
  std::uint32_t slot_ = 0;
  std::string id_;
  std::vector<std::string> tags_;
  std::optional<typename R::Connection> state_;
  // The attachment (runtime/attachment.h): the state's JSON exactly as
  // stored, so rewriting the runtime part never re-encodes the state, and the
  // runtime part as stored. Valid once attachmentRead_ (read on first need
  // after a wake; known from the start for a connection accepted this wake).
  std::string stateText_;
  RuntimeRecord runtime_;
  bool attachmentRead_ = false;
  // Liveness and control, in memory (this wake): the last frame's exact time
  // (0: none seen this wake), the last RateLimitError sent, and whether the
  // inbound budget was restored from the attachment.
  double lastFrame_ = 0;
  double lastNotice_ = -1e300;
  bool budgetRestored_ = false;
  std::string meta_;
  bool open_ = true;
  // The platform reported the socket closed; the slot is freed once no
  // running handler refers to this connection any more.
  bool gone_ = false;
  std::uint32_t flights_ = 0;  // running handlers whose ctx.connection() is this

  // The presence ref and the topics live in runtime_ (runtime/attachment.h).
  // onConnect ended well (or the socket was here before a wake).
  bool connected_ = false;
  // Presence: the other sockets were told of this one (its entry as of the
  // end of the last crossing); touched_: it changed in this crossing.
  bool joined_ = false;
  bool touched_ = false;
  std::optional<PresenceEntry> presence_;  // this connection's entry, cached
  // Resume: a socket that asked to resume gets no live frame before the
  // frames it missed (after its onConnect); those addressed to it meanwhile
  // wait here.
  std::optional<std::uint64_t> resumeFrom_;
  std::uint64_t resumeUpTo_ = 0;
  std::vector<std::string> held_;
};

// ctx.connections(): views over the open connections, in connect order.
template <class R>
class Connections {
 public:
  std::vector<Connection<R>*> all() const;
  std::vector<Connection<R>*> byTag(std::string_view tag) const;
  // The earliest-connected open connection with this id.
  Connection<R>* byId(std::string_view id) const;
  // The open connections that joined `topic`, in the order they joined it.
  // The first use after a wake reads every connection's attachment.
  std::vector<Connection<R>*> inTopic(std::string_view topic) const;
  template <class Pred>
  std::vector<Connection<R>*> filter(Pred&& pred) const {
    std::vector<Connection<R>*> out;
    for (auto* c : all())
      if (pred(*c)) out.push_back(c);
    return out;
  }
  std::size_t count() const;

 private:
  friend class RoomCtx<R>;
  friend class RoomInstance<R>;
  explicit Connections(RoomInstance<R>* r) : room_(r) {}
  RoomInstance<R>* room_;
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
  explicit SiblingRoom(CallSink* sink) : sink_(sink) {}
  CallAwaitable<bool> send(std::string id, const typename O::Event& ev) {
    return {sink_, CallOp::Send, std::string(O::name), std::move(id), encodeToString(ev), std::nullopt};
  }
  CallAwaitable<std::optional<typename O::State>> getState(std::string id) {
    return {sink_, CallOp::GetState, std::string(O::name), std::move(id), std::string(), std::nullopt};
  }
  CallAwaitable<bool> broadcast(std::string id, const typename O::Broadcast& msg) {
    return {sink_, CallOp::Broadcast, std::string(O::name), std::move(id), encodeToString(msg), std::nullopt};
  }

 private:
  CallSink* sink_;
};

// ctx.timers(): named timers on the room's one alarm, beside the spec's
// schedule (scheduleIn/scheduleAt). Each fires onAlarm once at its time, with
// ctx.timer() naming it; persisted, so they survive hibernation and
// restarts. A timer is removed only in the batch where its handler
// succeeded: a failed one is retried by the platform with ctx.systemFailure()
// set, as the schedule is. Due entries run in time order within one alarm.
// At most kMaxTimers per room; names of 1 to kMaxTimerNameLength bytes, not
// starting with '$'. Over either, a RoomError.
template <class R>
class Timers {
 public:
  // Sets (or moves) the timer `name`.
  template <class Rep, class Period>
  Status set(std::string_view name, std::chrono::duration<Rep, Period> delay);
  Status setAt(std::string_view name, Timestamp at);
  // Removes it; nothing happens when there is none.
  Status cancel(std::string_view name);
  // When it fires, or none.
  std::optional<Timestamp> next(std::string_view name);

 private:
  friend class RoomCtx<R>;
  explicit Timers(RoomInstance<R>* r) : room_(r) {}
  RoomInstance<R>* room_;
};

// ---- The handler context -----------------------------------------------------

template <class R>
class RoomCtx {
 public:
  using State = typename R::State;

  std::string_view id() const;
  std::string_view name() const { return R::name; }
  // The connection the event came from; null for direct sends and alarms.
  Connection<R>* connection() const { return connection_; }

  // Room state: null until the first save.
  const std::optional<State>& recall();
  Status save(State s);
  // Applies fn to the state and saves it; does nothing while the state is null.
  template <class F>
  Status update(F&& fn) {
    const auto& cur = recall();
    if (!cur) return {};
    State next = *cur;
    fn(next);
    return save(std::move(next));
  }

  Connections<R>& connections() { return connections_; }

  // Encodes msg once and hands the platform one frame with its recipients.
  Status broadcast(const typename R::Broadcast& msg, const BroadcastOptions<R>& opts = {});

  // Scheduling: one alarm per instance; a new schedule replaces the old.
  template <class Rep, class Period>
  Status scheduleIn(std::chrono::duration<Rep, Period> delay) {
    return scheduleAt(now() + std::chrono::duration_cast<std::chrono::milliseconds>(delay));
  }
  Status scheduleAt(Timestamp at);
  Status cancelSchedule();
  std::optional<Timestamp> nextAlarm();

  // Named timers on the same alarm (Timers above).
  Timers<R> timers() { return Timers<R>(room_); }
  // In onAlarm: the named timer that fired, or none for the schedule.
  std::optional<std::string_view> timer() const {
    return timer_ ? std::optional<std::string_view>(*timer_) : std::nullopt;
  }

  template <class O>
  SiblingRoom<O> room() {
    return SiblingRoom<O>(room_);
  }

  // Clears state and schedule; return its value to end the handler:
  //   co_return ctx.purge();
  PurgeSignal purge();
  // Set when this alarm runs as a retry after a failed attempt.
  const SystemFailure* systemFailure() const { return systemFailure_ ? &*systemFailure_ : nullptr; }

  // Services provided to the registry, and the Worker's environment.
  template <class T>
  T* service() const;
  std::optional<std::string> env(std::string_view key) const;
  // The platform's clock (on Cloudflare it advances only between I/O).
  Timestamp now() const;

 private:
  friend class RoomInstance<R>;
  explicit RoomCtx(RoomInstance<R>* r, Connection<R>* c) : room_(r), connection_(c), connections_(r) {}
  RoomInstance<R>* room_;
  Connection<R>* connection_;
  Connections<R> connections_;
  std::optional<SystemFailure> systemFailure_;
  std::optional<std::string> timer_;
};

// ---- Type-erased instance and registry ---------------------------------------

class RoomInstanceBase;

namespace detail {
// The TypeScript of one room type: its namespace (named types and the four
// roles) and its line of the Rooms interface.
std::pair<std::string, std::string> roomTypeScript(std::string_view room,
                                                   const std::vector<std::pair<std::string, std::string>>& definitions,
                                                   const std::string (&roles)[4],
                                                   const std::string* presenceMeta = nullptr);
// A TypeScript identifier for a room type name.
std::string tsNamespace(std::string_view room);
}  // namespace detail

class Registry {
 public:
  template <class R>
  Registry& add(Handlers<R> handlers, RoomOptions options = {});

  // Makes a service reachable from handlers as ctx.service<T>().
  template <class T>
  Registry& provide(std::shared_ptr<T> service) {
    services_[typeKey<T>()] = std::move(service);
    return *this;
  }
  template <class T>
  T* service() const {
    auto it = services_.find(typeKey<T>());
    return it == services_.end() ? nullptr : static_cast<T*>(it->second.get());
  }

  bool has(std::string_view name) const { return types_.count(std::string(name)) != 0; }
  // The heartbeat of a room type (RoomOptions::heartbeat), or null.
  const Heartbeat* heartbeatOf(std::string_view name) const {
    auto it = types_.find(name);
    return it == types_.end() || !it->second.heartbeat ? nullptr : &*it->second.heartbeat;
  }
  std::vector<std::string> names() const;
  // A new instance, or RoomNotFoundError.
  Result<std::unique_ptr<RoomInstanceBase>> create(std::string_view name, std::string id, Host& host) const;

  // {"chat":{"state":<JSON Schema>,"connection":…,"event":…,"broadcast":…},…}
  std::string jsonSchemas() const;
  // `export type ChatState = …;` and so on for every room type.
  std::string typeScript() const;

 private:
  struct Entry {
    std::function<std::unique_ptr<RoomInstanceBase>(std::string, Host&, const Registry&)> create;
    std::function<std::string()> jsonSchemas;
    std::function<std::pair<std::string, std::string>()> typeScript;  // {namespace, Rooms entry}
    std::optional<Heartbeat> heartbeat;
  };
  template <class T>
  static const void* typeKey() {
    static const char key = 0;
    return &key;
  }
  std::map<std::string, Entry, std::less<>> types_;
  std::unordered_map<const void*, std::shared_ptr<void>> services_;
};

}  // namespace rooms

#include "rooms/runtime/instance.h"
