// Rooms: a room type, its handlers, the handler context (RoomCtx), its
// connections, and RoomInstance, the platform-free runtime of one
// (room type, id) pair.
//
// A room type is a struct naming the room and its four schemas:
//
//   struct Chat {
//     static constexpr std::string_view name = "chat";
//     using State = ChatState;            // room state, persisted
//     using Connection = ChatConnection;  // per-connection state, in the attachment
//     using Event = ChatEvent;            // inbound frames and direct sends
//     using Broadcast = ChatBroadcast;    // outbound frames
//   };
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

namespace rooms {

template <class R>
class RoomInstance;
template <class R>
class RoomCtx;
class Registry;

enum class OnDuplicate { Allow, Replace, Reject };

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
  RoomInstance<R>* room_ = nullptr;
  std::uint32_t slot_ = 0;
  std::string id_;
  std::vector<std::string> tags_;
  std::optional<typename R::Connection> state_;
  std::string meta_;
  bool open_ = true;
  // The platform reported the socket closed; the slot is freed once no
  // running handler refers to this connection any more.
  bool gone_ = false;
  std::uint32_t flights_ = 0;  // running handlers whose ctx.connection() is this
};

template <class R>
struct BroadcastOptions {
  // Everyone but this connection.
  const Connection<R>* except = nullptr;
  // Everyone but these.
  std::vector<const Connection<R>*> exceptAll;
  // Only connections with this tag.
  std::optional<std::string> tag;
  // Exactly these (a closed one is reported in BroadcastError).
  std::optional<std::vector<Connection<R>*>> to;
};

// ctx.connections(): views over the open connections, in connect order.
template <class R>
class Connections {
 public:
  std::vector<Connection<R>*> all() const;
  std::vector<Connection<R>*> byTag(std::string_view tag) const;
  // The earliest-connected open connection with this id.
  Connection<R>* byId(std::string_view id) const;
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

// ---- Sibling dispatch --------------------------------------------------------

// A call to another room, handed to the platform; the handler resumes with
// its outcome.
class PendingCall {
 public:
  virtual ~PendingCall() = default;
  virtual void complete(bool ok, std::string_view tag, std::string_view payload) = 0;
};

class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual bool hasRoom(std::string_view name) const = 0;
  virtual void startCall(CallOp op, std::string_view room, std::string_view id, std::string payload,
                         coro::coroutine_handle<> h, PendingCall* call) = 0;
};


template <class T>
class CallAwaitable final : public PendingCall {
 public:
  CallAwaitable(CallSink* sink, CallOp op, std::string room, std::string id, std::optional<std::string> payload,
                std::optional<Error> early)
      : sink_(sink), op_(op), room_(std::move(room)), id_(std::move(id)), payload_(std::move(payload)),
        early_(std::move(early)) {
    if (!early_ && !payload_) early_ = RoomError{"value has no JSON form (NaN, infinity or invalid UTF-8)"};
    if (!early_ && !sink_->hasRoom(room_)) early_ = RoomNotFoundError{room_};
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
  CallOp op_;
  std::string room_, id_;
  std::optional<std::string> payload_;
  std::optional<Error> early_;
  bool ok_ = false;
  std::string tag_;
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
  Status scheduleIn(std::chrono::milliseconds delay);
  Status scheduleAt(double epochMs);
  Status cancelSchedule();
  std::optional<double> nextAlarm();

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
  double now() const;

 private:
  friend class RoomInstance<R>;
  explicit RoomCtx(RoomInstance<R>* r, Connection<R>* c) : room_(r), connection_(c), connections_(r) {}
  RoomInstance<R>* room_;
  Connection<R>* connection_;
  Connections<R> connections_;
  std::optional<SystemFailure> systemFailure_;
};

// ---- Type-erased instance and registry ---------------------------------------

struct UpgradeRequestJson;

// One (room type, id). Entry points append to `out`; requests carrying a
// `req` number end with exactly one Reply effect, possibly in a later batch
// if a handler suspended on a sibling call (resume() then delivers it).
class RoomInstanceBase {
 public:
  virtual ~RoomInstanceBase() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view id() const = 0;

  // `optsJson`: {"id"?, "tags"?, "meta"?, "initialState", "onDuplicate"?}.
  virtual void upgrade(std::uint32_t req, std::string_view optsJson, EffectBatch& out) = 0;
  virtual void message(std::uint32_t slot, std::string_view frame, bool binary, EffectBatch& out) = 0;
  virtual void closed(std::uint32_t slot, std::uint32_t code, std::string_view reason, EffectBatch& out) = 0;
  // The platform's alarm. On failure the Reply is an error and the platform
  // retries; the retry sees ctx.systemFailure().
  virtual void alarm(std::uint32_t req, int retryCount, bool isRetry, EffectBatch& out) = 0;
  // The client's fireAlarm: runs onAlarm now and consumes any schedule.
  virtual void fireAlarm(std::uint32_t req, EffectBatch& out) = 0;
  virtual void send(std::uint32_t req, std::string_view eventJson, EffectBatch& out) = 0;
  virtual void getState(std::uint32_t req, EffectBatch& out) = 0;
  virtual void getConnections(std::uint32_t req, std::optional<std::string_view> tag, EffectBatch& out) = 0;
  virtual void broadcast(std::uint32_t req, std::string_view msgJson, EffectBatch& out) = 0;
  virtual void resume(std::uint32_t callId, bool ok, std::string_view tag, std::string_view payload,
                      EffectBatch& out) = 0;
  // Handlers still suspended on sibling calls.
  virtual std::size_t inFlight() const = 0;
  // Longest inbound frame this room type accepts (RoomOptions::maxFrameBytes).
  virtual std::size_t maxFrameBytes() const = 0;
};

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
    std::function<std::string()> typeScript;
  };
  template <class T>
  static const void* typeKey() {
    static const char key = 0;
    return &key;
  }
  std::map<std::string, Entry, std::less<>> types_;
  std::unordered_map<const void*, std::shared_ptr<void>> services_;
};

// ---- RoomInstance ------------------------------------------------------------

template <class R>
class RoomInstance final : public RoomInstanceBase, public CallSink {
 public:
  using State = typename R::State;
  using Conn = Connection<R>;

  // The typed form of an upgrade.
  struct Upgrade {
    std::optional<std::string> id;
    std::vector<std::string> tags;
    std::string metaJson;
    typename R::Connection initialState;
    OnDuplicate onDuplicate = OnDuplicate::Allow;
  };

  RoomInstance(std::shared_ptr<const Handlers<R>> handlers, RoomOptions options, std::string id, Host& host,
               const Registry& registry)
      : handlers_(std::move(handlers)),
        options_(options),
        id_(std::move(id)),
        host_(host),
        registry_(registry),
        decoder_(CodecLimits{options.maxFrameBytes},
                 DecodeOptions{options.rejectUnknownKeys ? ExtraFields::Reject : ExtraFields::Strip}) {}
  ~RoomInstance() override { flights_.clear(); }

  std::string_view name() const override { return R::name; }
  std::string_view id() const override { return id_; }
  std::size_t inFlight() const override { return flights_.size(); }
  std::size_t maxFrameBytes() const override { return options_.maxFrameBytes; }

  // Typed entry points (the in-memory runtime uses these directly).
  void connect(std::uint32_t req, Upgrade up, EffectBatch& out);
  void sendEvent(std::uint32_t req, typename R::Event ev, EffectBatch& out);

  void upgrade(std::uint32_t req, std::string_view optsJson, EffectBatch& out) override;
  void message(std::uint32_t slot, std::string_view frame, bool binary, EffectBatch& out) override;
  void closed(std::uint32_t slot, std::uint32_t code, std::string_view reason, EffectBatch& out) override;
  void alarm(std::uint32_t req, int retryCount, bool isRetry, EffectBatch& out) override;
  void fireAlarm(std::uint32_t req, EffectBatch& out) override;
  void send(std::uint32_t req, std::string_view eventJson, EffectBatch& out) override;
  void getState(std::uint32_t req, EffectBatch& out) override;
  void getConnections(std::uint32_t req, std::optional<std::string_view> tag, EffectBatch& out) override;
  void broadcast(std::uint32_t req, std::string_view msgJson, EffectBatch& out) override;
  void resume(std::uint32_t callId, bool ok, std::string_view tag, std::string_view payload,
              EffectBatch& out) override;

  // CallSink
  bool hasRoom(std::string_view name) const override { return registry_.has(name); }
  void startCall(CallOp op, std::string_view room, std::string_view id, std::string payload,
                 coro::coroutine_handle<> h, PendingCall* call) override;

 private:
  friend class Connection<R>;
  friend class Connections<R>;
  friend class RoomCtx<R>;

  enum class Phase { Connect, Event, DecodeError, Close, Alarm };
  static const char* phaseName(Phase p) {
    switch (p) {
      case Phase::Connect: return "onConnect";
      case Phase::Event: return "onEvent";
      case Phase::DecodeError: return "onDecodeError";
      case Phase::Close: return "onClose";
      case Phase::Alarm: return "onAlarm";
    }
    return "handler";
  }

  // One running handler. Owns what the coroutine refers to.
  struct Flight {
    std::uint32_t id = 0;
    std::optional<std::uint32_t> req;
    Phase phase{};
    std::unique_ptr<RoomCtx<R>> ctx;
    std::optional<typename R::Event> event;
    std::string raw;
    RoomValidationError decodeError;
    Task<Status> task;
  };
  struct Waiting {
    std::uint32_t flight;
    coro::coroutine_handle<> handle;
    PendingCall* call;
  };

  // Connections
  void ensureConnections();
  Conn* bySlot(std::uint32_t slot);
  void index(Conn* c);
  void unindex(Conn* c);
  std::uint32_t allocateSlot();
  std::vector<Conn*> openConnections() const;

  // Outbound
  Status deliver(std::string_view frame, const std::vector<std::uint32_t>& slots);
  Status broadcastImpl(const typename R::Broadcast& msg, const BroadcastOptions<R>& opts);
  Status sendTo(Conn& c, const typename R::Broadcast& msg);
  Status setStateOf(Conn& c, typename R::Connection s);
  Status closeConn(Conn& c, std::uint32_t code, std::string_view reason);
  const std::optional<State>& loadState();
  Status saveState(State s);
  std::optional<double> loadAlarm();
  void setAlarm(std::optional<double> t);

  // Handler driving
  Flight& newFlight(Phase phase, std::optional<std::uint32_t> req, Conn* conn);
  Task<Status> runChannel(Flight& f);
  void runAlarm(std::uint32_t req, int retryCount, bool isRetry, bool manual, EffectBatch& out);
  void start(Flight& f);
  void finish(std::uint32_t flightId);
  void release(Conn* c);
  void reply(std::uint32_t req, const Error& e) { out_->reply(req, false, tagOf(e), errorToJson(e)); }
  void replyOk(std::uint32_t req, std::string_view payload = "") { out_->reply(req, true, "", payload); }
  void logError(std::string_view what) { out_->log(LogLevel::Error, what); }
  struct Crossing;

  std::shared_ptr<const Handlers<R>> handlers_;
  RoomOptions options_;
  std::string id_;
  Host& host_;
  const Registry& registry_;
  Decoder decoder_;
  Encoder encoder_;
  EffectBatch* out_ = nullptr;

  bool connectionsLoaded_ = false;
  std::vector<std::unique_ptr<Conn>> slots_;        // index = slot; null = free
  std::vector<std::uint32_t> freeSlots_;
  std::vector<std::uint32_t> order_;                // open slots in connect order
  std::unordered_map<std::string, std::vector<std::uint32_t>> byTag_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> byId_;  // connect order
  std::vector<std::uint8_t> excluded_;              // scratch for broadcast exclusions
  std::vector<std::uint32_t> recipients_;           // scratch for broadcast recipients

  bool stateLoaded_ = false;
  std::optional<State> state_;
  bool alarmLoaded_ = false;
  std::optional<double> alarm_;

  std::uint32_t nextFlight_ = 1;
  std::uint32_t runningFlight_ = 0;  // the flight whose code runs now
  std::uint32_t nextCall_ = 1;
  std::map<std::uint32_t, std::unique_ptr<Flight>> flights_;
  std::map<std::uint32_t, Waiting> waiting_;
};

}  // namespace rooms

#include "rooms/room_impl.h"
