// The runtime of one room instance: the type-erased entry points the hosts
// call (RoomInstanceBase), and RoomInstance<R>, which owns the connection
// table, runs handlers as flights (a handler suspended on a sibling call
// stays in flight until its reply), and writes the effect batch. Included at
// the end of room.h; not for room authors.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "rooms/runtime/attachment.h"
#include "rooms/runtime/budget.h"
#include "rooms/runtime/connection_table.h"
#include "rooms/runtime/resume.h"

namespace rooms {

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

// ---- RoomInstance ------------------------------------------------------------

template <class R>
class RoomInstance final : public RoomInstanceBase, public CallSink {
 public:
  using State = typename R::State;
  using Conn = Connection<R>;

  using Upgrade = UpgradeRequest<typename R::Connection>;

  RoomInstance(std::shared_ptr<const Handlers<R>> handlers, RoomOptions options, std::string id, Host& host,
               const Registry& registry)
      : handlers_(std::move(handlers)),
        options_(options),
        id_(std::move(id)),
        host_(host),
        registry_(registry),
        decoder_(CodecLimits{options.maxFrameBytes},
                 DecodeOptions{options.rejectUnknownKeys ? ExtraFields::Reject : ExtraFields::Strip}),
        outbound_(static_cast<double>(options.outboundBytesPerSecond), 0) {}
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
  // Logs what `text()` returns unless a warning of `kind` was logged in the
  // last LogLimiter::kWindowMs; the text is only built when it is logged.
  template <class F>
  void logLimited(LogKind kind, LogLevel level, F&& text) {
    std::string note;
    if (!logs_.admit(kind, nowMs(), note)) return;
    out_->log(level, text() + note);
  }

  // Budgets
  InboundBudget freshInbound() const;
  InboundBudget& inboundOf(std::uint32_t slot);
  // Charges bytes × n to the room's outbound budget; the refusal when it
  // lacks them.
  Status chargeOutbound(std::size_t bytes, std::size_t n);
  // The start of chargeOutbound's refusals.
  std::string outboundRefusalPrefix() const {
    return "room " + std::string(R::name) + "/" + id_ + " is over its outbound budget: ";
  }
  // Whether `e` is a refusal of chargeOutbound (logged already, rate-limited)
  // that a handler passed on.
  bool isOutboundRefusal(const Error& e) const {
    auto* r = std::get_if<RoomError>(&e);
    return r && refusedOutbound_ && r->message.rfind(outboundRefusalPrefix(), 0) == 0;
  }
  struct Crossing;

  // Presence, topics and resume (runtime/instance_features.h).
  std::optional<std::string> attachmentOf(const Conn& c, std::string_view state) const;
  void readAttachment(Conn& c, std::string_view raw, typename R::Connection& state);
  void connectEnded(Conn& c, bool failed);
  void endCrossing();
  const PresenceEntry& presenceEntryOf(Conn& c);
  void presenceTouch(Conn& c);
  // Drops a connection about to be freed from the lists below.
  void forgetConn(Conn* c);
  void presenceFlush();
  Status joinTopic(Conn& c, std::string_view topic);
  Status leaveTopic(Conn& c, std::string_view topic);
  void ensureTopics();
  ResumeHead& resumeHead();
  ResumeSelection selectionOf(const BroadcastOptions<R>& opts);
  // The frame with "$seq", stored in the buffer; `slots`/`n` lose the
  // sockets that wait for their missed frames (they get it later).
  std::string sequence(std::string_view bytes, const ResumeSelection& sel, const std::uint32_t*& slots,
                       std::size_t& n);
  void resumeReplay(Conn& c);
  void resumeFlush();
  struct Touched {
    Conn* c;                              // null once freed
    std::optional<PresenceEntry> old;     // the entry the others were told of
  };
  std::vector<Touched> presenceTouched_;  // this crossing's presence changes
  std::vector<Conn*> presenceJoiners_;   // sockets owed the full Presence at its end
  bool topicsIndexed_ = false;           // every open connection's topics are in the table
  std::optional<ResumeHead> resumeHead_;
  bool resumeHeadDirty_ = false;
  // Record bytes of frames buffered this wake, from seq resumeSizesFrom_ on.
  std::vector<std::uint64_t> resumeSizes_;
  std::uint64_t resumeSizesFrom_ = 0;
  std::vector<Conn*> resuming_;          // sockets waiting for their missed frames
  std::vector<std::uint32_t> liveSlots_;   // scratch for sequence()

  std::shared_ptr<const Handlers<R>> handlers_;
  RoomOptions options_;
  std::string id_;
  Host& host_;
  const Registry& registry_;
  Decoder decoder_;
  Encoder encoder_;
  EffectBatch* out_ = nullptr;

  bool connectionsLoaded_ = false;                  // the table was read from the host this wake
  ConnectionTable<Conn> table_;
  RecipientScratch scratch_;                        // for broadcasts
  // Inbound budget by slot; reset when a slot is given to a new connection.
  // After a wake the vector is new, so every bucket starts full.
  std::vector<InboundBudget> inbound_;
  TokenBucket outbound_;                            // bytes × recipients
  bool refusedOutbound_ = false;                    // chargeOutbound refused once
  LogLimiter logs_;
  // The platform's clock, read once per crossing: the budgets, the log
  // limiter and ctx.now() of one event share one reading (on Cloudflare the
  // clock does not move during an event anyway), so a frame costs one call
  // out of the core for the time, not one per use.
  double clock_ = 0;
  bool clockRead_ = false;
  double nowMs() {
    if (!out_) return host_.now();  // outside a crossing: nothing to share
    if (!clockRead_) {
      clock_ = host_.now();
      clockRead_ = true;
    }
    return clock_;
  }

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

namespace rooms {

bool isValidCloseCode(std::uint32_t code);
inline bool isPurge(const Status& s) { return !s.ok() && std::holds_alternative<PurgeSignal>(s.error()); }

// ---- Connection -------------------------------------------------------------

template <class R>
const typename R::Connection& Connection<R>::state() {
  if (!state_) {
    state_.emplace();
    std::string raw = room_->host_.loadAttachment(slot_);
    room_->readAttachment(*this, raw, *state_);
  }
  return *state_;
}

template <class R>
Status Connection<R>::setState(typename R::Connection s) {
  return room_->setStateOf(*this, std::move(s));
}

template <class R>
Status Connection<R>::send(const typename R::Broadcast& msg) {
  return room_->sendTo(*this, msg);
}

template <class R>
Status Connection<R>::close(std::uint32_t code, std::string_view reason) {
  return room_->closeConn(*this, code, reason);
}

template <class R>
std::vector<Connection<R>*> Connections<R>::all() const {
  return room_->openConnections();
}

template <class R>
std::vector<Connection<R>*> Connections<R>::byTag(std::string_view tag) const {
  room_->ensureConnections();
  std::vector<Connection<R>*> out;
  if (auto* slots = room_->table_.withTag(std::string(tag)))
    for (auto s : *slots) out.push_back(room_->table_.bySlot(s));
  return out;
}

template <class R>
Connection<R>* Connections<R>::byId(std::string_view id) const {
  room_->ensureConnections();
  auto* slots = room_->table_.withId(std::string(id));
  return slots ? room_->table_.bySlot(slots->front()) : nullptr;
}

template <class R>
std::size_t Connections<R>::count() const {
  room_->ensureConnections();
  return room_->table_.order().size();
}

// ---- RoomCtx ------------------------------------------------------------------

template <class R>
std::string_view RoomCtx<R>::id() const {
  return room_->id_;
}
template <class R>
const std::optional<typename R::State>& RoomCtx<R>::recall() {
  return room_->loadState();
}
template <class R>
Status RoomCtx<R>::save(State s) {
  return room_->saveState(std::move(s));
}
template <class R>
Status RoomCtx<R>::broadcast(const typename R::Broadcast& msg, const BroadcastOptions<R>& opts) {
  return room_->broadcastImpl(msg, opts);
}
template <class R>
Status RoomCtx<R>::scheduleAt(Timestamp at) {
  room_->setAlarm(static_cast<double>(epochMs(at)));
  return {};
}
template <class R>
Status RoomCtx<R>::cancelSchedule() {
  room_->setAlarm(std::nullopt);
  return {};
}
template <class R>
std::optional<Timestamp> RoomCtx<R>::nextAlarm() {
  auto t = room_->loadAlarm();
  if (!t) return std::nullopt;
  return fromEpochMs(static_cast<std::int64_t>(std::llround(*t)));
}
template <class R>
PurgeSignal RoomCtx<R>::purge() {
  room_->state_.reset();
  room_->stateLoaded_ = true;
  room_->out_->erase(kStateKey);
  room_->out_->erase(kAlarmFailureKey);
  room_->setAlarm(std::nullopt);
  return {};
}
template <class R>
template <class T>
T* RoomCtx<R>::service() const {
  return room_->registry_.template service<T>();
}
template <class R>
std::optional<std::string> RoomCtx<R>::env(std::string_view key) const {
  return room_->host_.env(key);
}
template <class R>
Timestamp RoomCtx<R>::now() const {
  return fromEpochMs(static_cast<std::int64_t>(std::llround(room_->nowMs())));
}

// ---- Registry -----------------------------------------------------------------

// `,"presence":<JSON Schema of the meta>` for a room with presence.
template <class R>
std::string presenceSchema() {
  if constexpr (kHasPresence<R>) return R"(,"presence":)" + jsonSchema<PresenceMetaOf<R>>();
  else return {};
}

template <class R>
Registry& Registry::add(Handlers<R> handlers, RoomOptions options) {
  // Instances are addressed as "name:id" on the platform.
  static_assert(!R::name.empty() && R::name.find(':') == std::string_view::npos,
                "a room type name is non-empty and holds no ':'");
  auto shared = std::make_shared<const Handlers<R>>(std::move(handlers));
  Entry e;
  e.create = [shared, options](std::string id, Host& host, const Registry& reg) {
    return std::unique_ptr<RoomInstanceBase>(new RoomInstance<R>(shared, options, std::move(id), host, reg));
  };
  e.jsonSchemas = [] {
    return R"({"state":)" + jsonSchema<typename R::State>() + R"(,"connection":)" +
           jsonSchema<typename R::Connection>() + R"(,"event":)" + jsonSchema<typename R::Event>() +
           R"(,"broadcast":)" + jsonSchema<typename R::Broadcast>() + presenceSchema<R>() + "}";
  };
  e.typeScript = [] {
    SchemaWriter w(SchemaWriter::Language::TypeScript);
    std::string roles[4];
    w.write<typename R::State>();
    roles[0] = std::exchange(w.out, {});
    w.write<typename R::Connection>();
    roles[1] = std::exchange(w.out, {});
    w.write<typename R::Event>();
    roles[2] = std::exchange(w.out, {});
    w.write<typename R::Broadcast>();
    roles[3] = std::exchange(w.out, {});
    if constexpr (kHasPresence<R>) {
      w.write<PresenceMetaOf<R>>();
      std::string meta = std::exchange(w.out, {});
      return detail::roomTypeScript(R::name, w.definitions(), roles, &meta);
    }
    return detail::roomTypeScript(R::name, w.definitions(), roles);
  };
  types_[std::string(R::name)] = std::move(e);
  return *this;
}

// ---- RoomInstance: plumbing ---------------------------------------------------

// Points the instance at the batch of the current crossing.
template <class R>
struct RoomInstance<R>::Crossing {
  RoomInstance& r;
  Crossing(RoomInstance& room, EffectBatch& out) : r(room) { r.out_ = &out; }
  ~Crossing() {
    r.endCrossing();
    r.out_ = nullptr;
    r.clockRead_ = false;
  }
};

template <class R>
void RoomInstance<R>::ensureConnections() {
  if (connectionsLoaded_) return;
  connectionsLoaded_ = true;
  for (auto& rec : host_.loadConnections()) {
    auto c = std::make_unique<Conn>();
    c->room_ = this;
    c->slot_ = rec.slot;
    for (auto& t : rec.tags) {
      if (t.rfind(kIdTagPrefix, 0) == 0) c->id_ = t.substr(kIdTagPrefix.size());
      else c->tags_.push_back(std::move(t));
    }
    c->connected_ = c->joined_ = true;  // their onConnect ran before the wake
    table_.add(std::move(c));
  }
  table_.collectFree();
}

template <class R>
Connection<R>* RoomInstance<R>::bySlot(std::uint32_t slot) {
  ensureConnections();
  return table_.bySlot(slot);
}

template <class R>
std::vector<Connection<R>*> RoomInstance<R>::openConnections() const {
  const_cast<RoomInstance*>(this)->ensureConnections();
  std::vector<Conn*> out;
  out.reserve(table_.order().size());
  for (auto s : table_.order()) out.push_back(table_.bySlot(s));
  return out;
}

// ---- RoomInstance: outbound ---------------------------------------------------

template <class R>
Status RoomInstance<R>::broadcastImpl(const typename R::Broadcast& msg, const BroadcastOptions<R>& opts) {
  ensureConnections();
  auto bytes = encoder_.encode(msg);
  if (!bytes) return RoomValidationError{"$", "a broadcast with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  BroadcastError failed;
  if (opts.topic) ensureTopics();
  auto [slots, n] = selectRecipients(opts, table_, scratch_, failed);
  if constexpr (kHasResume<R>) {
    // Sequenced even with no recipient now: a client that is away may resume.
    if (Status s = chargeOutbound(bytes->size() + 16, n); !s) return s;
    std::string framed = sequence(*bytes, selectionOf(opts), slots, n);
    if (n > 0) out_->frame(framed, slots, n);
  } else if (n > 0) {
    if (Status s = chargeOutbound(bytes->size(), n); !s) return s;
    out_->frame(*bytes, slots, n);
  }
  if (!failed.failures.empty()) return failed;
  return {};
}

template <class R>
Status RoomInstance<R>::sendTo(Conn& c, const typename R::Broadcast& msg) {
  if (!c.open_) return SendError{c.id_, "connection is not open"};
  auto bytes = encoder_.encode(msg);
  if (!bytes) return RoomValidationError{"$", "a message with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  if (Status s = chargeOutbound(bytes->size(), 1); !s) return s;
  if constexpr (kHasResume<R>) {
    ResumeSelection sel;
    sel.base = ResumeSelection::Base::To;
    sel.ids.push_back(c.id_);
    const std::uint32_t* slots = &c.slot_;
    std::size_t n = 1;
    std::string framed = sequence(*bytes, sel, slots, n);
    if (n > 0) out_->frame(framed, slots, n);
    return {};
  }
  out_->frame(*bytes, &c.slot_, 1);
  return {};
}

template <class R>
Status RoomInstance<R>::setStateOf(Conn& c, typename R::Connection s) {
  // The attachment keeps the runtime record (ref, topics): read it first. For
  // presence this is also the entry the others were told of.
  (void)c.state();
  if constexpr (kHasPresence<R>) presenceTouch(c);
  auto bytes = encoder_.encode(s);
  if (!bytes) return RoomValidationError{"$", "a connection state with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  std::string attachment = *attachmentOf(c, *bytes);
  if (attachment.size() > options_.maxAttachmentBytes)
    return AttachmentTooLargeError{attachment.size(), options_.maxAttachmentBytes};
  if (c.open_) out_->attach(c.slot_, attachment);
  c.state_ = std::move(s);
  c.presence_.reset();
  return {};
}

template <class R>
InboundBudget RoomInstance<R>::freshInbound() const {
  return {TokenBucket(options_.inboundFramesPerSecond, options_.inboundFrameBurst),
          TokenBucket(static_cast<double>(options_.inboundBytesPerSecond),
                      static_cast<double>(options_.inboundByteBurst))};
}

template <class R>
InboundBudget& RoomInstance<R>::inboundOf(std::uint32_t slot) {
  // Grows only when a slot beyond every earlier one sends its first frame.
  if (slot >= inbound_.size()) inbound_.resize(std::max<std::size_t>(slot + 1, table_.slotCount()), freshInbound());
  return inbound_[slot];
}

template <class R>
Status RoomInstance<R>::chargeOutbound(std::size_t bytes, std::size_t n) {
  if (outbound_.unlimited()) return {};
  double cost = static_cast<double>(bytes) * static_cast<double>(n);
  double now = nowMs();
  if (outbound_.take(cost, now)) return {};
  auto g = [](double v) { return LogLimiter::grouped(static_cast<std::uint64_t>(v)); };
  std::string why = outboundRefusalPrefix() + "a frame of " +
                    g(static_cast<double>(bytes)) + " bytes to " + g(static_cast<double>(n)) +
                    " recipient(s) is " + g(cost) + " bytes; " + g(outbound_.available(now)) + " of the " +
                    g(outbound_.rate()) + " bytes per second (outboundBytesPerSecond) are left; not sent";
  logLimited(LogKind::OutboundBudget, LogLevel::Warn, [&] { return why; });
  refusedOutbound_ = true;
  return RoomError{std::move(why)};
}

template <class R>
Status RoomInstance<R>::closeConn(Conn& c, std::uint32_t code, std::string_view reason) {
  if (!isValidCloseCode(code))
    return RoomError{"close code " + std::to_string(code) + " cannot be sent (use 1000, 1001-1003, 1007-1014 or 3000-4999)"};
  if (reason.size() > 123)
    return RoomError{"close reason is " + std::to_string(reason.size()) + " bytes; the limit is 123"};
  if (!c.open_) return {};
  if constexpr (kHasPresence<R>) presenceTouch(c);
  c.open_ = false;
  table_.unindex(c);
  out_->close(c.slot_, code, reason);
  return {};
}

template <class R>
const std::optional<typename R::State>& RoomInstance<R>::loadState() {
  if (!stateLoaded_) {
    stateLoaded_ = true;
    if (auto raw = host_.load(kStateKey)) {
      Decoder d(CodecLimits{raw->size() + 1});
      State s;
      if (auto err = d.decode(*raw, s)) logError("stored state does not match the state schema: " + describe(*err));
      else state_ = std::move(s);
    }
  }
  return state_;
}

template <class R>
Status RoomInstance<R>::saveState(State s) {
  auto bytes = encoder_.encode(s);
  if (!bytes) return RoomError{"state has no JSON form (NaN, infinity or invalid UTF-8)"};
  out_->put(kStateKey, *bytes);
  state_ = std::move(s);
  stateLoaded_ = true;
  return {};
}

template <class R>
std::optional<double> RoomInstance<R>::loadAlarm() {
  if (!alarmLoaded_) {
    alarmLoaded_ = true;
    if (auto raw = host_.load(kAlarmKey)) alarm_ = std::strtod(raw->c_str(), nullptr);
  }
  return alarm_;
}

template <class R>
void RoomInstance<R>::setAlarm(std::optional<double> t) {
  alarm_ = t;
  alarmLoaded_ = true;
  if (t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", *t);
    out_->setAlarm(*t);
    out_->put(kAlarmKey, buf);
  } else {
    out_->clearAlarm();
    out_->erase(kAlarmKey);
  }
}

// ---- RoomInstance: handler driving --------------------------------------------

template <class R>
typename RoomInstance<R>::Flight& RoomInstance<R>::newFlight(Phase phase, std::optional<std::uint32_t> req,
                                                            Conn* conn) {
  auto f = std::make_unique<Flight>();
  f->id = nextFlight_++;
  f->req = req;
  f->phase = phase;
  f->ctx.reset(new RoomCtx<R>(this, conn));
  if (conn) ++conn->flights_;
  auto& ref = *f;
  flights_[ref.id] = std::move(f);
  return ref;
}

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define ROOMS_EXCEPTIONS 1
#endif

#ifdef ROOMS_EXCEPTIONS
// Awaits a handler's task; an exception escaping the handler becomes a
// RoomExecutionError: the room reads the outcome of every flight when it
// finishes, so nothing may escape it.
inline Task<Status> guarded(Task<Status> task, std::string phase) {
  Status s;
  try {
    s = co_await task;
  } catch (const std::exception& e) {
    s = RoomExecutionError{phase, std::string("exception: ") + e.what()};
  } catch (...) {
    s = RoomExecutionError{phase, "exception of unknown type"};
  }
  co_return s;
}
#else
// Without exceptions nothing can escape a handler: await it directly, with
// no extra coroutine frame per event.
inline Task<Status>&& guarded(Task<Status>&& task, const std::string&) { return std::move(task); }
#endif

template <class R>
Task<Status> RoomInstance<R>::runChannel(Flight& f) {
  const Handlers<R>& h = *handlers_;
  const ErrorHandler<R>* onError = nullptr;
  Task<Status> task;
  switch (f.phase) {
    case Phase::Connect:
      onError = &h.onConnect.onError;
      if (h.onConnect.handler) task = h.onConnect.handler(*f.ctx);
      break;
    case Phase::Event:
      onError = &h.onEvent.onError;
      if (h.onEvent.handler) task = h.onEvent.handler(*f.ctx, *f.event);
      break;
    case Phase::DecodeError:
      if (h.onDecodeError) task = h.onDecodeError(*f.ctx, f.raw, f.decodeError);
      break;
    case Phase::Close:
      onError = &h.onClose.onError;
      if (h.onClose.handler) task = h.onClose.handler(*f.ctx);
      break;
    case Phase::Alarm:
      onError = &h.onAlarm.onError;
      if (h.onAlarm.handler) task = h.onAlarm.handler(*f.ctx);
      break;
  }
  const std::string phase = phaseName(f.phase);
  Status s;
  if (task) s = co_await guarded(std::move(task), phase);
  if (!s.ok() && !isPurge(s) && onError && *onError) {
    Status handled = co_await guarded((*onError)(*f.ctx, s.error()), phase + " onError");
    if (!handled.ok() && !isPurge(handled) && !isOutboundRefusal(handled.error()))
      logError(phase + " onError failed: " + describe(handled.error()));
  }
  co_return s;
}

template <class R>
void RoomInstance<R>::start(Flight& f) {
  f.task = runChannel(f);
  auto id = f.id;
  f.task.handle().resume();
  auto it = flights_.find(id);
  if (it != flights_.end() && it->second->task.done()) finish(id);
}

template <class R>
void RoomInstance<R>::finish(std::uint32_t flightId) {
  auto it = flights_.find(flightId);
  if (it == flights_.end()) return;
  std::unique_ptr<Flight> f = std::move(it->second);
  flights_.erase(it);
  Status s = std::move(*f->task.handle().promise().value);
  bool failed = !s.ok() && !isPurge(s);
  std::optional<Error> failure;
  if (failed) {
    failure = std::holds_alternative<RoomExecutionError>(s.error())
                  ? s.error()
                  : Error(RoomExecutionError{phaseName(f->phase), std::string(tagOf(s.error())) + ": " + describe(s.error())});
    // A refusal of the outbound budget that the handler passed on was
    // logged already, rate-limited; every other failure is logged.
    if (!isOutboundRefusal(s.error())) logError(describe(*failure));
  }
  switch (f->phase) {
    case Phase::Connect: {
      Conn* c = f->ctx->connection_;
      if (c) c->meta_.clear();
      if (c) connectEnded(*c, failed);
      if (failed) {
        if (c && c->open_) (void)closeConn(*c, 1011, "onConnect failed");
        if (f->req) reply(*f->req, UpgradeError{describe(*failure), 500});
      } else if (f->req) {
        std::string id = c ? c->id_ : std::string();
        replyOk(*f->req, id);
      }
      f->req.reset();  // answered
      break;
    }
    case Phase::Alarm: {
      if (failed) out_->put(kAlarmFailureKey, describe(*failure));
      else if (f->ctx->systemFailure_) out_->erase(kAlarmFailureKey);
      break;
    }
    default:
      break;
  }
  if (f->req) {
    if (failed) reply(*f->req, *failure);
    else replyOk(*f->req);
  }
  if (Conn* c = f->ctx->connection_) {
    --c->flights_;
    release(c);
  }
}

template <class R>
void RoomInstance<R>::release(Conn* c) {
  if (!c->gone_ || c->flights_ > 0) return;
  forgetConn(c);
  table_.free(c->slot_);
}

template <class R>
void RoomInstance<R>::startCall(CallOp op, std::string_view room, std::string_view id, std::string payload,
                                coro::coroutine_handle<> h, PendingCall* call) {
  std::uint32_t callId = nextCall_++;
  // The flight that is running now is the one that awaits.
  std::uint32_t flight = runningFlight_;
  out_->call(callId, room, id, op, payload);
  waiting_[callId] = Waiting{flight, h, call};
}

// ---- RoomInstance: entry points -----------------------------------------------

template <class R>
void RoomInstance<R>::connect(std::uint32_t req, Upgrade up, EffectBatch& out) {
  Crossing x(*this, out);
  ensureConnections();
  auto fail = [&](std::string why, int status) { reply(req, UpgradeError{std::move(why), status}); };
  if (table_.order().size() >= kMaxSocketsPerRoom)
    return fail("room is full: " + std::to_string(table_.order().size()) + " connections, the limit is " +
                    std::to_string(kMaxSocketsPerRoom), 503);
  if (up.tags.size() > kMaxUserTags)
    return fail(std::to_string(up.tags.size()) + " tags; the limit is " + std::to_string(kMaxUserTags) +
                    " (one of the platform's 10 is reserved for the connection id)", 400);
  for (auto& t : up.tags) {
    if (t.size() > kMaxTagLength)
      return fail("tag of " + std::to_string(t.size()) + " characters; the limit is " + std::to_string(kMaxTagLength), 400);
    if (t.empty() || t.rfind(kIdTagPrefix.substr(0, 1), 0) == 0)
      return fail("tags may not be empty or start with U+001F (reserved)", 400);
  }
  std::string id = up.id ? *up.id : host_.randomId();
  if (id.empty() || id.size() > kMaxIdLength)
    return fail("connection id of " + std::to_string(id.size()) + " characters; it must have 1 to " +
                    std::to_string(kMaxIdLength), 400);
  auto attachment = encoder_.encode(up.initialState);
  if (!attachment) return fail("initialState has no JSON form", 400);
  AttachmentRecord record;
  if constexpr (kHasPresence<R>) record.ref = shortRef(host_.randomId());
  std::string attachmentCopy = *joinAttachment(record, *attachment);
  if (attachmentCopy.size() > options_.maxAttachmentBytes)
    return fail(describe(Error(AttachmentTooLargeError{attachmentCopy.size(), options_.maxAttachmentBytes})), 400);

  std::vector<Conn*> same;
  if (auto* slots = table_.withId(id))
    for (auto s : *slots) same.push_back(table_.bySlot(s));
  if (!same.empty()) {
    if (up.onDuplicate == OnDuplicate::Reject)
      return fail("connection id \"" + id + "\" is already connected", 409);
    if (up.onDuplicate == OnDuplicate::Replace)
      for (auto* old : same) (void)closeConn(*old, kCloseReplaced, "replaced by a new connection");
  }

  std::uint32_t slot = table_.allocate();
  inboundOf(slot) = freshInbound();
  auto c = std::make_unique<Conn>();
  c->room_ = this;
  c->slot_ = slot;
  c->id_ = id;
  c->tags_ = std::move(up.tags);
  c->state_ = std::move(up.initialState);
  c->meta_ = std::move(up.metaJson);
  c->ref_ = std::move(record.ref);
  std::vector<std::string> platformTags;
  platformTags.reserve(c->tags_.size() + 1);
  platformTags.push_back(std::string(kIdTagPrefix) + id);
  for (auto& t : c->tags_) platformTags.push_back(t);
  out.accept(req, slot, platformTags, attachmentCopy);
  Conn* conn = table_.add(std::move(c));
  if constexpr (kHasResume<R>) {
    if (up.resume) {
      conn->resumeFrom_ = *up.resume;
      conn->resumeUpTo_ = resumeHead().seq;
      resuming_.push_back(conn);
    }
  }

  Flight& f = newFlight(Phase::Connect, req, conn);
  runningFlight_ = f.id;
  start(f);
}

template <class R>
void RoomInstance<R>::upgrade(std::uint32_t req, std::string_view optsJson, EffectBatch& out) {
  Upgrade up;
  if (auto why = parseUpgrade(optsJson, options_.maxFrameBytes, up)) {
    Crossing x(*this, out);
    return reply(req, UpgradeError{std::move(*why), 400});
  }
  connect(req, std::move(up), out);
}

template <class R>
void RoomInstance<R>::message(std::uint32_t slot, std::string_view frame, bool binary, EffectBatch& out) {
  Crossing x(*this, out);
  Conn* c = bySlot(slot);
  if (!c || !c->open_) return;  // a socket we already closed, or unknown
  // The inbound budget, before any decoding.
  if (InboundBudget& budget = inboundOf(slot); !budget.unlimited() && !budget.admit(frame.size(), nowMs())) {
    logLimited(LogKind::InboundBudget, LogLevel::Warn, [&] {
      return "connection " + c->id_ + " is over its inbound budget (" +
             LogLimiter::grouped(options_.inboundFramesPerSecond) + " frames/s, burst " +
             LogLimiter::grouped(options_.inboundFrameBurst) + "; " +
             LogLimiter::grouped(options_.inboundBytesPerSecond) + " bytes/s, burst " +
             LogLimiter::grouped(options_.inboundByteBurst) + "; this frame " + LogLimiter::grouped(frame.size()) +
             " bytes): closed with " + std::to_string(kCloseOverBudget);
    });
    (void)closeConn(*c, kCloseOverBudget, kOverBudgetReason);
    return;
  }
  Flight* f;
  std::optional<RoomValidationError> err;
  typename R::Event ev;
  if (binary) {
    err = RoomValidationError{"$", "a text frame", "binary frame of " + std::to_string(frame.size()) + " bytes", {}};
  } else {
    err = decoder_.decode(frame, ev);
  }
  if (err) {
    if (!handlers_->onDecodeError) {
      logLimited(LogKind::BadFrame, LogLevel::Warn, [&] {
        return "connection " + c->id_ + " sent a frame that failed the event schema: " + describe(*err);
      });
      return;
    }
    f = &newFlight(Phase::DecodeError, std::nullopt, c);
    f->raw.assign(frame.substr(0, std::min<std::size_t>(frame.size(), options_.maxFrameBytes)));
    f->decodeError = std::move(*err);
  } else {
    f = &newFlight(Phase::Event, std::nullopt, c);
    f->event = std::move(ev);
  }
  runningFlight_ = f->id;
  start(*f);
}

template <class R>
void RoomInstance<R>::closed(std::uint32_t slot, std::uint32_t, std::string_view, EffectBatch& out) {
  Crossing x(*this, out);
  Conn* c = bySlot(slot);
  if (!c || c->gone_) return;  // unknown, or reported twice
  if constexpr (kHasPresence<R>) presenceTouch(*c);
  if (c->open_) {
    c->open_ = false;
    table_.unindex(*c);
  }
  c->gone_ = true;
  // A handler suspended on a sibling call may still hold this connection:
  // the flight of onClose holds it too, and release() frees the slot after
  // the last one.
  Flight& f = newFlight(Phase::Close, std::nullopt, c);
  runningFlight_ = f.id;
  start(f);
}

template <class R>
void RoomInstance<R>::alarm(std::uint32_t req, int retryCount, bool isRetry, EffectBatch& out) {
  runAlarm(req, retryCount, isRetry, false, out);
}

template <class R>
void RoomInstance<R>::fireAlarm(std::uint32_t req, EffectBatch& out) {
  runAlarm(req, 0, false, true, out);
}

template <class R>
void RoomInstance<R>::runAlarm(std::uint32_t req, int retryCount, bool isRetry, bool manual, EffectBatch& out) {
  Crossing x(*this, out);
  if (loadAlarm()) {
    // The alarm is consumed. A platform alarm is already spent; deleting it
    // here would also cancel the platform's retries, so only a manual fire
    // clears it.
    alarm_.reset();
    out.erase(kAlarmKey);
    if (manual) out.clearAlarm();
  }
  Flight& f = newFlight(Phase::Alarm, req, nullptr);
  if (isRetry) {
    auto cause = host_.load(kAlarmFailureKey);
    f.ctx->systemFailure_ = SystemFailure{retryCount, cause ? *cause : "previous attempt failed"};
  }
  runningFlight_ = f.id;
  start(f);
}

template <class R>
void RoomInstance<R>::sendEvent(std::uint32_t req, typename R::Event ev, EffectBatch& out) {
  Crossing x(*this, out);
  Flight& f = newFlight(Phase::Event, req, nullptr);
  f.event = std::move(ev);
  runningFlight_ = f.id;
  start(f);
}

template <class R>
void RoomInstance<R>::send(std::uint32_t req, std::string_view eventJson, EffectBatch& out) {
  typename R::Event ev;
  if (auto err = decoder_.decode(eventJson, ev)) {
    Crossing x(*this, out);
    return reply(req, *err);
  }
  sendEvent(req, std::move(ev), out);
}

template <class R>
void RoomInstance<R>::getState(std::uint32_t req, EffectBatch& out) {
  Crossing x(*this, out);
  const auto& s = loadState();
  if (!s) return replyOk(req, "null");
  auto bytes = encoder_.encode(*s);
  if (!bytes) return reply(req, RoomError{"state has no JSON form"});
  replyOk(req, *bytes);
}

template <class R>
void RoomInstance<R>::getConnections(std::uint32_t req, std::optional<std::string_view> tag, EffectBatch& out) {
  Crossing x(*this, out);
  Connections<R> view(this);
  auto list = tag ? view.byTag(*tag) : view.all();
  json::Buffer buf;
  json::Writer w(buf);
  w.StartArray();
  for (auto* c : list) {
    w.StartObject();
    w.Key("id");
    w.String(c->id_.data(), static_cast<json::SizeType>(c->id_.size()));
    w.Key("tags");
    w.StartArray();
    for (auto& t : c->tags_) w.String(t.data(), static_cast<json::SizeType>(t.size()));
    w.EndArray();
    w.Key("state");
    encodeValue(w, c->state());
    w.EndObject();
  }
  w.EndArray();
  replyOk(req, std::string_view(buf.GetString(), buf.GetSize()));
}

template <class R>
void RoomInstance<R>::broadcast(std::uint32_t req, std::string_view msgJson, EffectBatch& out) {
  Crossing x(*this, out);
  typename R::Broadcast msg;
  if (auto err = decoder_.decode(msgJson, msg)) return reply(req, *err);
  Status s = broadcastImpl(msg, {});
  if (!s) return reply(req, s.error());
  replyOk(req);
}

template <class R>
void RoomInstance<R>::resume(std::uint32_t callId, bool ok, std::string_view tag, std::string_view payload,
                             EffectBatch& out) {
  Crossing x(*this, out);
  auto it = waiting_.find(callId);
  if (it == waiting_.end()) return;
  Waiting w = it->second;
  waiting_.erase(it);
  w.call->complete(ok, tag, payload);
  runningFlight_ = w.flight;
  w.handle.resume();
  auto f = flights_.find(w.flight);
  if (f != flights_.end() && f->second->task.done()) finish(w.flight);
}

}  // namespace rooms

#include "rooms/runtime/instance_features.h"
