// Template definitions for room.h. Included at its end; not a public header.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace rooms {

bool isValidCloseCode(std::uint32_t code);
inline bool isPurge(const Status& s) { return !s.ok() && std::holds_alternative<PurgeSignal>(s.error()); }

// ---- Connection -------------------------------------------------------------

template <class R>
const typename R::Connection& Connection<R>::state() {
  if (!state_) {
    state_.emplace();
    std::string raw = room_->host_.loadAttachment(slot_);
    Decoder d(CodecLimits{raw.size() + 1});
    if (auto err = d.decode(raw, *state_)) {
      room_->logError("attachment of connection " + id_ + " does not match the connection schema: " +
                      describe(*err));
    }
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
  auto it = room_->byTag_.find(std::string(tag));
  if (it == room_->byTag_.end()) return out;
  for (auto s : it->second) out.push_back(room_->slots_[s].get());
  return out;
}

template <class R>
Connection<R>* Connections<R>::byId(std::string_view id) const {
  room_->ensureConnections();
  auto it = room_->byId_.find(std::string(id));
  return it == room_->byId_.end() ? nullptr : room_->slots_[it->second.front()].get();
}

template <class R>
std::size_t Connections<R>::count() const {
  room_->ensureConnections();
  return room_->order_.size();
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
Status RoomCtx<R>::scheduleIn(std::chrono::milliseconds delay) {
  return scheduleAt(now() + static_cast<double>(delay.count()));
}
template <class R>
Status RoomCtx<R>::scheduleAt(double epochMs) {
  if (!std::isfinite(epochMs)) return RoomError{"scheduleAt: the time must be a finite number of milliseconds"};
  room_->setAlarm(epochMs);
  return {};
}
template <class R>
Status RoomCtx<R>::cancelSchedule() {
  room_->setAlarm(std::nullopt);
  return {};
}
template <class R>
std::optional<double> RoomCtx<R>::nextAlarm() {
  return room_->loadAlarm();
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
double RoomCtx<R>::now() const {
  return room_->host_.now();
}

// ---- Registry -----------------------------------------------------------------

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
           R"(,"broadcast":)" + jsonSchema<typename R::Broadcast>() + "}";
  };
  e.typeScript = [] {
    std::string base(R::name);
    if (!base.empty() && base[0] >= 'a' && base[0] <= 'z') base[0] = static_cast<char>(base[0] - 'a' + 'A');
    for (auto& ch : base)
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) ch = '_';
    return "export type " + base + "State = " + rooms::typeScript<typename R::State>() + ";\n" +
           "export type " + base + "Connection = " + rooms::typeScript<typename R::Connection>() + ";\n" +
           "export type " + base + "Event = " + rooms::typeScript<typename R::Event>() + ";\n" +
           "export type " + base + "Broadcast = " + rooms::typeScript<typename R::Broadcast>() + ";\n";
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
  ~Crossing() { r.out_ = nullptr; }
};

template <class R>
void RoomInstance<R>::ensureConnections() {
  if (connectionsLoaded_) return;
  connectionsLoaded_ = true;
  for (auto& rec : host_.loadConnections()) {
    if (rec.slot >= slots_.size()) slots_.resize(rec.slot + 1);
    auto c = std::make_unique<Conn>();
    c->room_ = this;
    c->slot_ = rec.slot;
    for (auto& t : rec.tags) {
      if (t.rfind(kIdTagPrefix, 0) == 0) c->id_ = t.substr(kIdTagPrefix.size());
      else c->tags_.push_back(std::move(t));
    }
    slots_[rec.slot] = std::move(c);
    index(slots_[rec.slot].get());
  }
  for (std::uint32_t s = static_cast<std::uint32_t>(slots_.size()); s-- > 0;)
    if (!slots_[s]) freeSlots_.push_back(s);
}

template <class R>
Connection<R>* RoomInstance<R>::bySlot(std::uint32_t slot) {
  ensureConnections();
  return slot < slots_.size() ? slots_[slot].get() : nullptr;
}

template <class R>
void RoomInstance<R>::index(Conn* c) {
  order_.push_back(c->slot_);
  byId_[c->id_].push_back(c->slot_);
  for (auto& t : c->tags_) byTag_[t].push_back(c->slot_);
}

template <class R>
void RoomInstance<R>::unindex(Conn* c) {
  auto drop = [&](std::vector<std::uint32_t>& v) { v.erase(std::remove(v.begin(), v.end(), c->slot_), v.end()); };
  drop(order_);
  for (auto& t : c->tags_) {
    auto it = byTag_.find(t);
    if (it == byTag_.end()) continue;
    drop(it->second);
    if (it->second.empty()) byTag_.erase(it);
  }
  if (auto it = byId_.find(c->id_); it != byId_.end()) {
    drop(it->second);
    if (it->second.empty()) byId_.erase(it);
  }
}

template <class R>
std::uint32_t RoomInstance<R>::allocateSlot() {
  if (!freeSlots_.empty()) {
    auto s = freeSlots_.back();
    freeSlots_.pop_back();
    return s;
  }
  slots_.emplace_back();
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

template <class R>
std::vector<Connection<R>*> RoomInstance<R>::openConnections() const {
  const_cast<RoomInstance*>(this)->ensureConnections();
  std::vector<Conn*> out;
  out.reserve(order_.size());
  for (auto s : order_) out.push_back(slots_[s].get());
  return out;
}

// ---- RoomInstance: outbound ---------------------------------------------------

template <class R>
Status RoomInstance<R>::broadcastImpl(const typename R::Broadcast& msg, const BroadcastOptions<R>& opts) {
  ensureConnections();
  auto bytes = encoder_.encode(msg);
  if (!bytes) return RoomValidationError{"$", "a broadcast with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  // The common cases without per-recipient work: everyone, or everyone but
  // the sender.
  if (!opts.to && !opts.tag && opts.exceptAll.empty()) {
    if (!opts.except) {
      if (!order_.empty()) out_->frame(*bytes, order_.data(), order_.size());
      return {};
    }
    auto skip = std::find(order_.begin(), order_.end(), opts.except->slot_);
    recipients_.assign(order_.begin(), skip);
    if (skip != order_.end()) recipients_.insert(recipients_.end(), skip + 1, order_.end());
    if (!recipients_.empty()) out_->frame(*bytes, recipients_.data(), recipients_.size());
    return {};
  }
  excluded_.resize(slots_.size());
  auto mark = [&](std::uint8_t v) {
    if (opts.except) excluded_[opts.except->slot_] = v;
    for (auto* c : opts.exceptAll)
      if (c) excluded_[c->slot_] = v;
  };
  mark(1);
  recipients_.clear();
  BroadcastError failed;
  // excluded_: 1 = excluded, 2 = already a recipient; reset before returning.
  auto consider = [&](std::uint32_t s) {
    if (excluded_[s]) return;
    excluded_[s] = 2;
    recipients_.push_back(s);
  };
  if (opts.to) {
    for (auto* c : *opts.to) {
      if (!c || !c->open_) failed.failures.push_back(SendError{c ? c->id_ : "", "connection is not open"});
      else consider(c->slot_);
    }
  } else if (opts.tag) {
    auto it = byTag_.find(*opts.tag);
    if (it != byTag_.end())
      for (auto s : it->second) consider(s);
  } else {
    for (auto s : order_) consider(s);
  }
  mark(0);
  for (auto s : recipients_) excluded_[s] = 0;
  if (!recipients_.empty()) out_->frame(*bytes, recipients_.data(), recipients_.size());
  if (!failed.failures.empty()) return failed;
  return {};
}

template <class R>
Status RoomInstance<R>::sendTo(Conn& c, const typename R::Broadcast& msg) {
  if (!c.open_) return SendError{c.id_, "connection is not open"};
  auto bytes = encoder_.encode(msg);
  if (!bytes) return RoomValidationError{"$", "a message with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  out_->frame(*bytes, &c.slot_, 1);
  return {};
}

template <class R>
Status RoomInstance<R>::setStateOf(Conn& c, typename R::Connection s) {
  auto bytes = encoder_.encode(s);
  if (!bytes) return RoomValidationError{"$", "a connection state with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  if (bytes->size() > options_.maxAttachmentBytes)
    return AttachmentTooLargeError{bytes->size(), options_.maxAttachmentBytes};
  if (c.open_) out_->attach(c.slot_, *bytes);
  c.state_ = std::move(s);
  return {};
}

template <class R>
Status RoomInstance<R>::closeConn(Conn& c, std::uint32_t code, std::string_view reason) {
  if (!isValidCloseCode(code))
    return RoomError{"close code " + std::to_string(code) + " cannot be sent (use 1000, 1001-1003, 1007-1014 or 3000-4999)"};
  if (reason.size() > 123)
    return RoomError{"close reason is " + std::to_string(reason.size()) + " bytes; the limit is 123"};
  if (!c.open_) return {};
  c.open_ = false;
  unindex(&c);
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
    if (!handled.ok() && !isPurge(handled)) logError(phase + " onError failed: " + describe(handled.error()));
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
    logError(describe(*failure));
  }
  switch (f->phase) {
    case Phase::Connect: {
      Conn* c = f->ctx->connection_;
      if (c) c->meta_.clear();
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
  std::uint32_t slot = c->slot_;
  slots_[slot].reset();
  freeSlots_.push_back(slot);
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
  if (order_.size() >= kMaxSocketsPerRoom)
    return fail("room is full: " + std::to_string(order_.size()) + " connections, the limit is " +
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
  if (auto it = byId_.find(id); it != byId_.end())
    for (auto s : it->second) same.push_back(slots_[s].get());
  if (!same.empty()) {
    if (up.onDuplicate == OnDuplicate::Reject)
      return fail("connection id \"" + id + "\" is already connected", 409);
    if (up.onDuplicate == OnDuplicate::Replace)
      for (auto* old : same) (void)closeConn(*old, kCloseReplaced, "replaced by a new connection");
  }

  std::uint32_t slot = allocateSlot();
  auto c = std::make_unique<Conn>();
  c->room_ = this;
  c->slot_ = slot;
  c->id_ = id;
  c->tags_ = std::move(up.tags);
  c->state_ = std::move(up.initialState);
  c->meta_ = std::move(up.metaJson);
  std::vector<std::string> platformTags;
  platformTags.reserve(c->tags_.size() + 1);
  platformTags.push_back(std::string(kIdTagPrefix) + id);
  for (auto& t : c->tags_) platformTags.push_back(t);
  out.accept(req, slot, platformTags, attachmentCopy);
  slots_[slot] = std::move(c);
  Conn* conn = slots_[slot].get();
  index(conn);

  Flight& f = newFlight(Phase::Connect, req, conn);
  runningFlight_ = f.id;
  start(f);
}

template <class R>
void RoomInstance<R>::upgrade(std::uint32_t req, std::string_view optsJson, EffectBatch& out) {
  json::Parser p;
  Upgrade up;
  auto bad = [&](std::string why) {
    Crossing x(*this, out);
    reply(req, UpgradeError{std::move(why), 400});
  };
  if (auto err = p.parse(optsJson, options_.maxFrameBytes)) return bad("upgrade options: " + describe(*err));
  const json::Value& v = p.root();
  if (!v.IsObject()) return bad("upgrade options must be an object");
  DecodeCtx c;
  if (auto m = v.FindMember("id"); m != v.MemberEnd() && !m->value.IsNull()) {
    std::string id;
    if (!decodeValue(m->value, id, c)) return bad("connection.id must be a string");
    up.id = std::move(id);
  }
  if (auto m = v.FindMember("tags"); m != v.MemberEnd() && !m->value.IsNull()) {
    if (!decodeValue(m->value, up.tags, c)) return bad("connection.tags must be an array of strings");
  }
  if (auto m = v.FindMember("meta"); m != v.MemberEnd() && !m->value.IsNull()) {
    json::Buffer buf;
    json::Writer w(buf);
    m->value.Accept(w);
    up.metaJson.assign(buf.GetString(), buf.GetSize());
  }
  auto st = v.FindMember("initialState");
  if (st == v.MemberEnd()) return bad("connection.initialState is required");
  if (!decodeValue(st->value, up.initialState, c)) {
    auto err = c.take();
    err.path = "$.initialState" + err.path.substr(1);
    return bad("connection.initialState: " + describe(err));
  }
  if (auto m = v.FindMember("onDuplicate"); m != v.MemberEnd() && !m->value.IsNull()) {
    std::string_view d = m->value.IsString() ? std::string_view(m->value.GetString()) : "";
    if (d == "allow") up.onDuplicate = OnDuplicate::Allow;
    else if (d == "replace") up.onDuplicate = OnDuplicate::Replace;
    else if (d == "reject") up.onDuplicate = OnDuplicate::Reject;
    else return bad("onDuplicate must be \"allow\", \"replace\" or \"reject\"");
  }
  connect(req, std::move(up), out);
}

template <class R>
void RoomInstance<R>::message(std::uint32_t slot, std::string_view frame, bool binary, EffectBatch& out) {
  Crossing x(*this, out);
  Conn* c = bySlot(slot);
  if (!c || !c->open_) return;  // a socket we already closed, or unknown
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
      out.log(LogLevel::Warn, "connection " + c->id_ + " sent a frame that failed the event schema: " + describe(*err));
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
  if (c->open_) {
    c->open_ = false;
    unindex(c);
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
