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
#include "rooms/runtime/coalesce.h"
#include "rooms/runtime/connection_table.h"
#include "rooms/runtime/resume.h"
#include "rooms/runtime/timers.h"

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
  // The timer a FlushAfter effect asked for fired: coalesced frames leave.
  virtual void flush(EffectBatch& out) = 0;
  // Handlers still suspended on sibling calls.
  virtual std::size_t inFlight() const = 0;
  // Longest inbound frame this room type accepts (RoomOptions::maxFrameBytes).
  virtual std::size_t maxFrameBytes() const = 0;
  // The room type's heartbeat (RoomOptions::heartbeat), or null.
  virtual const Heartbeat* heartbeat() const { return nullptr; }
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
        outbound_(static_cast<double>(options.outboundBytesPerSecond), 0),
        coalescer_(options.coalesce),
        roomInbound_(options.roomInboundFramesPerSecond, options.roomInboundFrameBurst) {
    if (options_.heartbeat) {
      auto& hb = *options_.heartbeat;
      if (hb.staleAfter.count() <= 0) hb.staleAfter = Heartbeat{}.staleAfter;
      if (hb.sweepEvery.count() <= 0) hb.sweepEvery = hb.staleAfter / 4;
    }
    budgetMayPersist_ = freshInbound().canLackMoreThan(kMinHibernationIdleMs);
  }
  ~RoomInstance() override { flights_.clear(); }

  std::string_view name() const override { return R::name; }
  std::string_view id() const override { return id_; }
  std::size_t inFlight() const override { return flights_.size(); }
  std::size_t maxFrameBytes() const override { return options_.maxFrameBytes; }
  const Heartbeat* heartbeat() const override { return options_.heartbeat ? &*options_.heartbeat : nullptr; }

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
  void flush(EffectBatch& out) override;

  // CallSink
  bool hasRoom(std::string_view name) const override { return registry_.has(name); }
  void startCall(CallOp op, std::string_view room, std::string_view id, std::string payload,
                 coro::coroutine_handle<> h, PendingCall* call) override;

 private:
  friend class Connection<R>;
  friend class Connections<R>;
  friend class RoomCtx<R>;
  friend class Timers<R>;

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

  // An entry of the alarm that is due (runAlarm): the spec's schedule
  // (no name), a named timer, or the runtime's sweep.
  struct Due {
    std::optional<std::string> name;
    double at = 0;
    bool failedBefore = false;  // its handler failed in the last platform alarm
  };

  // One running handler. Owns what the coroutine refers to.
  struct Flight {
    std::uint32_t id = 0;
    std::optional<std::uint32_t> req;
    Phase phase{};
    std::unique_ptr<RoomCtx<R>> ctx;
    std::optional<typename R::Event> event;
    std::string raw;
    RoomValidationError decodeError;
    // An alarm: the due entries, run in order by runDue().
    bool chain = false;
    bool manual = false;
    int retryCount = 0;
    std::vector<Due> due;
    std::vector<std::string> failed;  // entries whose handler failed ("$alarm": the schedule)
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

  // Outbound: hands one encoded frame to the platform now, or to the
  // coalescer when the room coalesces.
  void deliver(std::string_view frame, const std::uint32_t* slots, std::size_t n, std::string_view latest = {}) {
    if (coalescer_.on()) coalescer_.add(frame, slots, n, latest, *out_);
    else out_->frame(frame, slots, n);
  }
  Status broadcastImpl(const typename R::Broadcast& msg, const BroadcastOptions<R>& opts);
  Status sendTo(Conn& c, const typename R::Broadcast& msg);
  Status setStateOf(Conn& c, typename R::Connection s);
  Status closeConn(Conn& c, std::uint32_t code, std::string_view reason);
  // The attachment envelope (attachment.h): reads a connection's attachment
  // once per wake (its state and runtime part); writes both parts, the state
  // as cached.
  void readAttachment(Conn& c);
  Status writeAttachment(Conn& c);
  // Whether this room type keeps runtime data in attachments at all; when it
  // does not, attachments are the state's JSON alone, as before.
  bool runtimeInAttachment() const;
  const std::optional<State>& loadState();
  Status saveState(State s);
  std::optional<double> loadAlarm();
  void setAlarm(std::optional<double> t);

  // The one platform alarm, shared (timers.h): the earliest of the schedule
  // and every timer. knowPlatform() before a change, syncAlarm() after it.
  TimerTable& loadTimers();
  void saveTimers();
  std::optional<double> earliestEntry();
  void knowPlatform();
  void syncAlarm(bool force = false);
  Status setTimer(std::string_view name, double at);
  Status cancelTimer(std::string_view name);
  Task<Status> runDue(Flight& f);
  void endAlarm(Flight& f, bool failed);

  // Heartbeat and the stale sweep.
  double staleMs() const { return static_cast<double>(options_.heartbeat->staleAfter.count()); }
  double sweepMs() const { return static_cast<double>(options_.heartbeat->sweepEvery.count()); }
  double lastActivity(Conn& c, double now);
  void noteFrame(Conn& c, double now);
  void sweep();
  void armSweep(double now);
  void disarmSweepIfEmpty();

  // Inbound limits: true when the frame may go on.
  bool admitInbound(Conn& c, std::size_t size);
  void overLimit(Conn& c, std::string_view which, double retryMs, std::size_t size);
  void restoreBudget(Conn& c, InboundBudget& b);
  void persistBudget(Conn& c, InboundBudget& b, double now);

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
  Coalescer coalescer_;                             // RoomOptions::coalesce
  LogLimiter logs_;
  // The platform's clock, read once per crossing: the budgets, the log
  // limiter and ctx.now() of one event share one reading (on Cloudflare the
  // clock does not move during an event anyway), so a frame costs one call
  // out of the core for the time, not one per use.
  double clock_ = 0;
  bool clockRead_ = false;
  Timestamp ctxNow() { return fromEpochMs(static_cast<std::int64_t>(std::llround(nowMs()))); }
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
  bool timersLoaded_ = false;
  TimerTable timers_;
  // The platform's alarm as this instance left it (known after a wake: the
  // earliest entry, by the invariant above).
  bool platformKnown_ = false;
  std::optional<double> platform_;
  // Alarm flights alive: alarm changes wait for their end (endAlarm), so a
  // failing alarm never replaces the platform's retry.
  int alarmChains_ = 0;
  TokenBucket roomInbound_;     // RoomOptions::roomInboundFramesPerSecond
  bool budgetMayPersist_ = false;  // a slow bucket: snapshots in attachments

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
  if (!state_) room_->readAttachment(*this);
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
  room_->out_->erase(kAlarmRetryKey);
  // The named timers go with the schedule; the runtime's own stay.
  room_->knowPlatform();
  room_->loadTimers().clearUser();
  room_->saveTimers();
  room_->setAlarm(std::nullopt);
  return {};
}

template <class R>
template <class Rep, class Period>
Status Timers<R>::set(std::string_view name, std::chrono::duration<Rep, Period> delay) {
  return setAt(name, room_->ctxNow() + std::chrono::duration_cast<std::chrono::milliseconds>(delay));
}
template <class R>
Status Timers<R>::setAt(std::string_view name, Timestamp at) {
  return room_->setTimer(name, static_cast<double>(epochMs(at)));
}
template <class R>
Status Timers<R>::cancel(std::string_view name) {
  return room_->cancelTimer(name);
}
template <class R>
std::optional<Timestamp> Timers<R>::next(std::string_view name) {
  auto t = room_->loadTimers().at(name);
  if (!t || name.empty() || name.front() == '$') return std::nullopt;
  return fromEpochMs(static_cast<std::int64_t>(std::llround(*t)));
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
  return room_->ctxNow();
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
  e.heartbeat = options.heartbeat;
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
    deliver(framed, slots, n, opts.latest);
  } else if (n > 0) {
    if (Status s = chargeOutbound(bytes->size(), n); !s) return s;
    deliver(*bytes, slots, n, opts.latest);
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
    deliver(framed, slots, n);
    return {};
  }
  deliver(*bytes, &c.slot_, 1);
  return {};
}

template <class R>
Status RoomInstance<R>::setStateOf(Conn& c, typename R::Connection s) {
  // The attachment's runtime part is kept (ref, topics, ...): read it first.
  // For presence the old state is also the entry the others were told of.
  (void)c.state();
  if constexpr (kHasPresence<R>) presenceTouch(c);
  auto bytes = encoder_.encode(s);
  if (!bytes) return RoomValidationError{"$", "a connection state with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  if (bytes->size() > options_.maxAttachmentBytes)
    return AttachmentTooLargeError{bytes->size(), options_.maxAttachmentBytes};
  c.stateText_.assign(bytes->data(), bytes->size());
  c.attachmentRead_ = true;
  c.state_ = std::move(s);
  c.presence_.reset();
  if (!c.open_) return {};
  if (c.runtime_.empty()) out_->attach(c.slot_, c.stateText_);
  else out_->attach(c.slot_, joinAttachment(formatRuntime(c.runtime_), c.stateText_));
  return {};
}

template <class R>
void RoomInstance<R>::readAttachment(Conn& c) {
  if (c.attachmentRead_) return;
  c.attachmentRead_ = true;
  std::string raw = host_.loadAttachment(c.slot_);
  AttachmentParts parts = splitAttachment(raw);
  const bool parsed = parseRuntime(parts.runtime, c.runtime_);
  if (c.open_)
    for (auto& t : c.runtime_.topics) table_.addTopic(c.slot_, t);  // topics index (instance_features.h)
  if (!parsed) {
    logLimited(LogKind::BadAttachment, LogLevel::Error, [&] {
      return "attachment of connection " + c.id_ + " has a runtime part that is not a JSON object; ignored";
    });
  }
  c.stateText_.assign(parts.state);
  if (c.state_) return;  // known already (set this wake)
  c.state_.emplace();
  Decoder d(CodecLimits{c.stateText_.size() + 1});
  if (auto err = d.decode(c.stateText_, *c.state_)) {
    logLimited(LogKind::BadAttachment, LogLevel::Error, [&] {
      return "attachment of connection " + c.id_ + " does not match the connection schema: " + describe(*err);
    });
  }
}

template <class R>
Status RoomInstance<R>::writeAttachment(Conn& c) {
  readAttachment(c);
  std::string runtime = formatRuntime(c.runtime_);
  if (runtime.size() > kMaxRuntimeAttachmentBytes)
    return RoomError{"runtime part of the attachment of connection " + c.id_ + " is " +
                     std::to_string(runtime.size()) + " bytes; the limit is " +
                     std::to_string(kMaxRuntimeAttachmentBytes)};
  if (c.open_) out_->attach(c.slot_, joinAttachment(runtime, c.stateText_));
  return {};
}

template <class R>
bool RoomInstance<R>::runtimeInAttachment() const {
  return options_.heartbeat.has_value() || budgetMayPersist_;
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
  coalescer_.flushSlot(c.slot_, *out_);  // what it is owed goes before the close
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
  if (bytes->size() > kMaxStateBytes)
    return RoomValidationError{"$", "a state of at most " + LogLimiter::grouped(kMaxStateBytes) + " bytes as JSON",
                               LogLimiter::grouped(bytes->size()) + " bytes", {}};
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
  knowPlatform();
  alarm_ = t;
  alarmLoaded_ = true;
  if (t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", *t);
    out_->put(kAlarmKey, buf);
  } else {
    out_->erase(kAlarmKey);
  }
  // The schedule's calls always tell the platform, as they did before
  // timers shared the alarm.
  syncAlarm(true);
}

template <class R>
TimerTable& RoomInstance<R>::loadTimers() {
  if (!timersLoaded_) {
    timersLoaded_ = true;
    if (auto raw = host_.load(kTimersKey); raw && !timers_.parse(*raw))
      logError("stored timers are not a JSON object; dropped");
  }
  return timers_;
}

template <class R>
void RoomInstance<R>::saveTimers() {
  if (timers_.entries().empty()) out_->erase(kTimersKey);
  else out_->put(kTimersKey, timers_.format());
}

template <class R>
std::optional<double> RoomInstance<R>::earliestEntry() {
  auto a = loadAlarm();
  auto t = loadTimers().earliest();
  if (a && t) return std::min(*a, *t);
  return a ? a : t;
}

template <class R>
void RoomInstance<R>::knowPlatform() {
  if (platformKnown_) return;
  platform_ = earliestEntry();
  platformKnown_ = true;
}

template <class R>
void RoomInstance<R>::syncAlarm(bool force) {
  if (alarmChains_ > 0) return;  // endAlarm() syncs
  knowPlatform();
  auto e = earliestEntry();
  if (!force && e == platform_) return;
  if (e) out_->setAlarm(*e);
  else out_->clearAlarm();
  platform_ = e;
}

template <class R>
Status RoomInstance<R>::setTimer(std::string_view name, double at) {
  if (auto why = TimerTable::checkName(name)) return RoomError{*why};
  auto& t = loadTimers();
  if (!t.at(name) && t.userCount() >= kMaxTimers)
    return RoomError{"room has " + std::to_string(t.userCount()) + " timers; the limit is " + std::to_string(kMaxTimers)};
  knowPlatform();
  t.set(name, at);
  saveTimers();
  syncAlarm();
  return {};
}

template <class R>
Status RoomInstance<R>::cancelTimer(std::string_view name) {
  if (auto why = TimerTable::checkName(name)) return RoomError{*why};
  knowPlatform();
  if (loadTimers().erase(name)) {
    saveTimers();
    syncAlarm();
  }
  return {};
}

// ---- RoomInstance: heartbeat and the stale sweep -------------------------------

// When `c` was last heard from by frames, as late as it can have been.
template <class R>
double RoomInstance<R>::lastActivity(Conn& c, double now) {
  if (c.lastFrame_ > 0) return c.lastFrame_;
  readAttachment(c);
  if (c.runtime_.seen) {
    // Persisted at most a quarter of staleAfter before the last frame.
    c.lastFrame_ = *c.runtime_.seen + staleMs() / 4;
  } else {
    // No record (accepted before the heartbeat was on): counted from now.
    c.lastFrame_ = now;
    c.runtime_.seen = now;
    (void)writeAttachment(c);
  }
  return c.lastFrame_;
}

template <class R>
void RoomInstance<R>::noteFrame(Conn& c, double now) {
  c.lastFrame_ = now;
  readAttachment(c);
  // Rewritten only when the stored time is over a quarter of staleAfter old.
  if (!c.runtime_.seen || *c.runtime_.seen < now - staleMs() / 4) {
    c.runtime_.seen = now;
    (void)writeAttachment(c);
  }
}

template <class R>
void RoomInstance<R>::sweep() {
  knowPlatform();
  auto& t = loadTimers();
  if (!options_.heartbeat) {
    if (t.erase(kSweepTimer)) saveTimers();
    return;
  }
  const double now = nowMs(), stale = staleMs();
  std::optional<double> nextStale;
  std::size_t closed = 0;
  for (Conn* c : openConnections()) {
    double last = lastActivity(*c, now);
    if (now - last >= stale)
      if (auto ping = host_.autoResponseTime(c->slot_)) last = std::max(last, *ping);
    if (now - last >= stale) {
      (void)closeConn(*c, kCloseStale, kStaleReason);
      ++closed;
      continue;
    }
    nextStale = nextStale ? std::min(*nextStale, last + stale) : last + stale;
  }
  if (closed > 0) {
    logLimited(LogKind::Stale, LogLevel::Info, [&] {
      return "closed " + LogLimiter::grouped(closed) + " socket(s) silent for " +
             LogLimiter::grouped(static_cast<std::uint64_t>(stale)) + " ms or more with " +
             std::to_string(kCloseStale) + " \"" + std::string(kStaleReason) + "\"";
    });
  }
  // At most once per sweepEvery, and only while sockets remain.
  if (nextStale) t.set(kSweepTimer, std::max(now + sweepMs(), *nextStale));
  else t.erase(kSweepTimer);
  saveTimers();
  syncAlarm();
}

template <class R>
void RoomInstance<R>::armSweep(double now) {
  if (!options_.heartbeat || loadTimers().at(kSweepTimer)) return;
  knowPlatform();
  timers_.set(kSweepTimer, now + std::max(staleMs(), sweepMs()));
  saveTimers();
  syncAlarm();
}

template <class R>
void RoomInstance<R>::disarmSweepIfEmpty() {
  if (!options_.heartbeat || !table_.order().empty()) return;
  knowPlatform();
  if (!loadTimers().erase(kSweepTimer)) return;
  saveTimers();
  syncAlarm();
}

// ---- RoomInstance: inbound limits ----------------------------------------------

template <class R>
bool RoomInstance<R>::admitInbound(Conn& c, std::size_t size) {
  InboundBudget& budget = inboundOf(c.slot_);
  if (budget.unlimited() && roomInbound_.unlimited()) return true;
  const double now = nowMs();
  restoreBudget(c, budget);
  if (!roomInbound_.unlimited() && roomInbound_.available(now) < 1) {
    overLimit(c, "room", roomInbound_.msUntil(1, now), size);
    return false;
  }
  switch (budget.check(size, now)) {
    case InboundBudget::Refusal::Frames:
      overLimit(c, "frames", budget.frames.msUntil(1, now), size);
      return false;
    case InboundBudget::Refusal::Bytes:
      overLimit(c, "bytes", budget.bytes.msUntil(static_cast<double>(size), now), size);
      return false;
    case InboundBudget::Refusal::None:
      break;
  }
  if (!roomInbound_.unlimited()) roomInbound_.drain(1);
  persistBudget(c, budget, now);
  return true;
}

template <class R>
void RoomInstance<R>::overLimit(Conn& c, std::string_view which, double retryMs, std::size_t size) {
  const bool drop = options_.overLimit == OverLimit::Drop;
  auto g = [](std::uint64_t v) { return LogLimiter::grouped(v); };
  auto limits = [&] {
    if (which == "room")
      return "the room's inbound limit (" + g(options_.roomInboundFramesPerSecond) + " frames/s, burst " +
             g(options_.roomInboundFrameBurst) + ")";
    return "its inbound budget (" + g(options_.inboundFramesPerSecond) + " frames/s, burst " +
           g(options_.inboundFrameBurst) + "; " + g(options_.inboundBytesPerSecond) + " bytes/s, burst " +
           g(options_.inboundByteBurst) + "; this frame " + g(size) + " bytes)";
  };
  auto outcome = drop ? std::string("frame dropped, RateLimitError sent (policy drop)")
                      : "closed with " + std::to_string(kCloseOverBudget);
  LogKind kind = drop ? LogKind::InboundDropped : which == "room" ? LogKind::RoomInbound : LogKind::InboundBudget;
  logLimited(kind, LogLevel::Warn, [&] { return "connection " + c.id_ + " is over " + limits() + ": " + outcome; });
  if (!drop) {
    (void)closeConn(c, kCloseOverBudget, kOverBudgetReason);
    return;
  }
  const double now = nowMs();
  if (now - c.lastNotice_ < kRateLimitNoticeMs) return;  // one notice per interval: no amplification
  c.lastNotice_ = now;
  auto ms = static_cast<std::uint64_t>(std::max(1.0, std::ceil(retryMs)));
  std::string text = R"({"$rooms":"RateLimitError","limit":")" + std::string(which) + R"(","retryAfterMs":)" +
                     std::to_string(ms) + "}";
  coalescer_.flushSlot(c.slot_, *out_);  // what it is owed goes before the notice
  out_->frame(text, &c.slot_, 1);
}

template <class R>
void RoomInstance<R>::restoreBudget(Conn& c, InboundBudget& b) {
  if (!budgetMayPersist_ || c.budgetRestored_) return;
  c.budgetRestored_ = true;
  readAttachment(c);
  if (auto& snap = c.runtime_.bucket) {
    b.frames.restore(snap->frames, snap->atMs);
    b.bytes.restore(snap->bytes, snap->atMs);
  }
}

// A bucket that a hibernation could not refill is kept in the attachment;
// one that it would refill needs nothing (and an old snapshot is dropped).
template <class R>
void RoomInstance<R>::persistBudget(Conn& c, InboundBudget& b, double now) {
  if (!budgetMayPersist_) return;
  if (b.lacksMoreThan(kMinHibernationIdleMs)) {
    c.runtime_.bucket = BucketSnapshot{b.frames.tokens(), b.bytes.tokens(), now};
    (void)writeAttachment(c);
  } else if (c.runtime_.bucket) {
    c.runtime_.bucket.reset();
    (void)writeAttachment(c);
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
  f.task = f.chain ? runDue(f) : runChannel(f);
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
      if (f->chain) endAlarm(*f, failed);
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
  if (attachment->size() > options_.maxAttachmentBytes)
    return fail(describe(Error(AttachmentTooLargeError{attachment->size(), options_.maxAttachmentBytes})), 400);
  std::string attachmentCopy(*attachment);

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
  c->stateText_ = std::move(attachmentCopy);
  c->attachmentRead_ = true;
  c->meta_ = std::move(up.metaJson);
  if constexpr (kHasPresence<R>) c->runtime_.ref = shortRef(host_.randomId());
  c->budgetRestored_ = true;  // a new bucket, full
  if (options_.heartbeat) {
    c->lastFrame_ = nowMs();
    c->runtime_.seen = c->lastFrame_;
  }
  std::vector<std::string> platformTags;
  platformTags.reserve(c->tags_.size() + 1);
  platformTags.push_back(std::string(kIdTagPrefix) + id);
  for (auto& t : c->tags_) platformTags.push_back(t);
  out.accept(req, slot, platformTags, joinAttachment(formatRuntime(c->runtime_), c->stateText_));
  Conn* conn = table_.add(std::move(c));
  if constexpr (kHasResume<R>) {
    if (up.resume) {
      conn->resumeFrom_ = *up.resume;
      conn->resumeUpTo_ = resumeHead().seq;
      resuming_.push_back(conn);
    }
  }
  armSweep(nowMs());

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
  // Any frame is a sign of life (the stale sweep).
  if (options_.heartbeat) noteFrame(*c, nowMs());
  // The inbound limits, before any decoding.
  if (!admitInbound(*c, frame.size())) return;
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
  coalescer_.drop(slot);
  if (!c || c->gone_) return;  // unknown, or reported twice
  if constexpr (kHasPresence<R>) presenceTouch(*c);
  if (c->open_) {
    c->open_ = false;
    table_.unindex(*c);
  }
  c->gone_ = true;
  disarmSweepIfEmpty();
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

// An alarm runs every due entry in time order, in one flight: the
// schedule's onAlarm, named timers' onAlarm (ctx.timer() naming them) and the
// runtime's sweep. A manual fire (the client's fireAlarm) runs the schedule's
// onAlarm alone, as before timers existed.
template <class R>
void RoomInstance<R>::runAlarm(std::uint32_t req, int retryCount, bool isRetry, bool manual, EffectBatch& out) {
  Crossing x(*this, out);
  const double now = nowMs();
  knowPlatform();
  Flight& f = newFlight(Phase::Alarm, req, nullptr);
  f.chain = true;
  f.manual = manual;
  f.retryCount = retryCount;
  // The entries whose handler failed last time.
  std::vector<std::string> failedBefore;
  if (auto raw = host_.load(kAlarmRetryKey)) {
    json::Parser p;
    if (!p.parse(*raw, raw->size() + 1) && p.root().IsArray())
      for (auto& v : p.root().GetArray())
        if (v.IsString()) failedBefore.emplace_back(v.GetString(), v.GetStringLength());
    out.erase(kAlarmRetryKey);
  }
  auto before = [&](std::string_view n) {
    return std::find(failedBefore.begin(), failedBefore.end(), n) != failedBefore.end();
  };
  auto spec = loadAlarm();
  if (manual) {
    f.due.push_back(Due{std::nullopt, now, false});
  } else {
    // The platform alarm is spent; deleting it would cancel its retries.
    platform_.reset();
    auto earliest = earliestEntry();
    double cutoff = now;
    if (earliest && *earliest <= now + kAlarmEarlyMs) cutoff = std::max(cutoff, *earliest);
    if (spec && *spec <= cutoff) f.due.push_back(Due{std::nullopt, *spec, before(kSpecTimer)});
    else if (before(kSpecTimer)) f.due.push_back(Due{std::nullopt, -1e300, true});
    for (auto& [name, at] : loadTimers().entries())
      if (at <= cutoff) f.due.push_back(Due{name, at, before(name)});
    // A platform alarm with nothing known due and nothing pending runs
    // onAlarm, as every platform alarm did before timers existed.
    if (f.due.empty() && !earliest) f.due.push_back(Due{std::nullopt, now, isRetry});
    std::stable_sort(f.due.begin(), f.due.end(), [](const Due& a, const Due& b) { return a.at < b.at; });
  }
  // The schedule is consumed when it runs, before its handler.
  if (spec && (manual || (!f.due.empty() && std::any_of(f.due.begin(), f.due.end(), [&](const Due& d) {
                            return !d.name && d.at == *spec;
                          })))) {
    alarm_.reset();
    out.erase(kAlarmKey);
  }
  ++alarmChains_;
  runningFlight_ = f.id;
  start(f);
}

template <class R>
Task<Status> RoomInstance<R>::runDue(Flight& f) {
  Status first;
  std::optional<std::string> cause;
  for (std::size_t i = 0; i < f.due.size(); ++i) {
    Due d = f.due[i];
    if (d.name && *d.name == kSweepTimer) {
      sweep();
      continue;
    }
    f.ctx->timer_ = d.name;
    f.ctx->systemFailure_.reset();
    if (d.failedBefore) {
      if (!cause) cause = host_.load(kAlarmFailureKey).value_or("previous attempt failed");
      f.ctx->systemFailure_ = SystemFailure{f.retryCount, *cause};
    }
    Status s = co_await runChannel(f);
    if (!s.ok() && !isPurge(s)) {
      f.failed.push_back(d.name ? *d.name : std::string(kSpecTimer));
      if (first.ok()) first = std::move(s);
      else if (!isOutboundRefusal(s.error())) logError("onAlarm of " + f.failed.back() + " failed: " + describe(s.error()));
      continue;
    }
    // Removed only now that its handler succeeded, unless it set itself again.
    if (d.name && loadTimers().at(*d.name) == d.at) {
      timers_.erase(*d.name);
      saveTimers();
    }
  }
  f.ctx->timer_.reset();
  co_return first;
}

template <class R>
void RoomInstance<R>::endAlarm(Flight& f, bool failed) {
  --alarmChains_;
  bool retried = failed && !f.manual && f.retryCount < kMaxAlarmRetries;
  if (retried) {
    // The platform retries; the retry runs the failed entries again.
    json::Buffer buf;
    json::Writer w(buf);
    w.StartArray();
    for (auto& n : f.failed) w.String(n.data(), static_cast<json::SizeType>(n.size()));
    w.EndArray();
    out_->put(kAlarmRetryKey, std::string_view(buf.GetString(), buf.GetSize()));
    return;
  }
  if (failed && !f.manual) {
    // No retry comes: the failed timers are dropped, as the schedule is.
    for (auto& n : f.failed)
      if (n != kSpecTimer && loadTimers().erase(n)) {
        logError("timer " + n + " dropped after " + std::to_string(kMaxAlarmRetries) + " retries");
        saveTimers();
      }
  }
  if (f.ctx->systemFailure_ || std::any_of(f.due.begin(), f.due.end(), [](const Due& d) { return d.failedBefore; }))
    if (!failed) out_->erase(kAlarmFailureKey);
  syncAlarm(f.manual);
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
void RoomInstance<R>::flush(EffectBatch& out) {
  Crossing x(*this, out);
  coalescer_.timerFired(out);
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
