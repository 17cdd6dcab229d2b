// Runtime: the entry points, the flights that run handlers, and the
// connections. The components it calls are in their own files (instance.h
// lists them).
#include "runtime/instance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "runtime/upgrade.h"

namespace rooms::detail {

static_assert(static_cast<std::uint32_t>(SiblingOp::Send) == static_cast<std::uint32_t>(CallOp::Send));
static_assert(static_cast<std::uint32_t>(SiblingOp::GetState) == static_cast<std::uint32_t>(CallOp::GetState));
static_assert(static_cast<std::uint32_t>(SiblingOp::Broadcast) == static_cast<std::uint32_t>(CallOp::Broadcast));

namespace {
const char* phaseName(Phase p) {
  switch (p) {
    case Phase::Connect: return "onConnect";
    case Phase::Event: return "onEvent";
    case Phase::DecodeError: return "onDecodeError";
    case Phase::Close: return "onClose";
    case Phase::Alarm: return "onAlarm";
  }
  return "handler";
}

// A refusal that the runtime logged already (rate-limited), passed on by a handler.
bool loggedAlready(const Error& e) {
  auto* r = std::get_if<RoomError>(&e);
  return r && r->logged;
}
}  // namespace

// An entry of the alarm that is due (runAlarm): the spec's schedule
// (no name), a named timer, or the runtime's sweep.
struct Runtime::Due {
  std::optional<std::string> name;
  double at = 0;
  bool failedBefore = false;  // its handler failed in the last platform alarm
};

// One running handler. Owns what the coroutine refers to.
struct Runtime::Flight {
  std::uint32_t id = 0;
  std::optional<std::uint32_t> req;
  Phase phase{};
  std::unique_ptr<CtxBase> ctx;
  ConnRecord* conn = nullptr;
  AnyValue event;
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

// Points the instance at the batch of one crossing; what the crossing owes
// leaves at its end. A crossing never starts inside another: a handler that
// calls into its own instance is a bug, stopped here.
struct Runtime::Crossing {
  Runtime& r;
  Crossing(Runtime& room, EffectBatch& out) : r(room) {
    if (r.out_) {
      std::fputs("durable-rooms: a room instance was entered again while it ran a handler\n", stderr);
      std::abort();
    }
    r.out_ = &out;
  }
  ~Crossing() {
    for (auto* c : r.hooks_) c->crossingEnded();
    r.out_ = nullptr;
    r.clock_.reset();
  }
};

Runtime::Runtime(std::shared_ptr<const RoomType> type, const RoomOptions& options, std::string id, Host& host,
                 const RegistryView& registry)
    : type_(std::move(type)),
      options_(options),
      id_(std::move(id)),
      host_(host),
      registry_(registry),
      decoder_(CodecLimits{options.maxFrameBytes},
               DecodeOptions{options.rejectUnknownKeys ? ExtraFields::Reject : ExtraFields::Strip}),
      alarm_(*this),
      limits_(*this),
      coalescer_(options.coalesce) {
  if (type_->hasPresence()) presence_ = std::make_unique<PresenceTracker>(*this);
  if (type_->hasResume()) resume_ = std::make_unique<ResumeLog>(*this);
  if (options_.heartbeat) liveness_ = std::make_unique<Liveness>(*this, *options_.heartbeat);
  // The order their hooks run in: presence touches before the resume log
  // replays; both end a crossing before anything else leaves.
  if (presence_) hooks_.push_back(presence_.get());
  if (resume_) hooks_.push_back(resume_.get());
  if (liveness_) hooks_.push_back(liveness_.get());
  hooks_.push_back(&limits_);
}

Runtime::~Runtime() { flights_.clear(); }

std::unique_ptr<RoomInstanceBase> newRuntime(std::shared_ptr<const RoomType> type, const RoomOptions& options,
                                             std::string id, Host& host, const RegistryView& registry) {
  return std::make_unique<Runtime>(std::move(type), options, std::move(id), host, registry);
}

double Runtime::nowMs() {
  if (!out_) return host_.now();  // outside a crossing: nothing to share
  if (!clock_) clock_ = host_.now();
  return *clock_;
}

// ---- Connections ---------------------------------------------------------------

ConnectionTable& Runtime::table() {
  if (table_) return *table_;
  table_.emplace();
  for (auto& rec : host_.loadConnections()) {
    auto c = std::make_unique<ConnRecord>();
    c->slot = rec.slot;
    for (auto& t : rec.tags) {
      if (t.rfind(kIdTagPrefix, 0) == 0) c->id = t.substr(kIdTagPrefix.size());
      else c->tags.push_back(std::move(t));
    }
    c->life = Life::Open;  // its onConnect ran before the wake
    table_->add(std::move(c));
  }
  table_->collectFree();
  return *table_;
}

ConnectionBase* Runtime::handleOf(ConnRecord* c) {
  if (!c) return nullptr;
  if (!c->handle) {
    c->handle = type_->newConnection();
    c->handle->rt_ = this;
    c->handle->rec_ = c;
  }
  return c->handle.get();
}

std::vector<ConnectionBase*> Runtime::handlesOf(const std::vector<std::uint32_t>* slots) {
  std::vector<ConnectionBase*> out;
  if (!slots) return out;
  out.reserve(slots->size());
  for (auto s : *slots) out.push_back(handleOf(table().bySlot(s)));
  return out;
}

void Runtime::readAttachment(ConnRecord& c) {
  if (c.attachmentRead) return;
  c.attachmentRead = true;
  std::string raw = host_.loadAttachment(c.slot);
  AttachmentParts parts = splitAttachment(raw);
  const bool parsed = parseRuntime(parts.runtime, c.runtime);
  if (c.isOpen())
    for (auto& t : c.runtime.topics) table().addTopic(c.slot, t);
  if (!parsed) {
    logLimited(LogKind::BadAttachment, LogLevel::Error, [&] {
      return "attachment of connection " + c.id + " has a runtime part that is not a JSON object; ignored";
    });
  }
  c.stateText.assign(parts.state);
}

const void* Runtime::connectionState(ConnRecord& c) {
  readAttachment(c);
  if (!c.state) {
    if (auto err = type_->decodeConnection(c.stateText, c.state)) {
      logLimited(LogKind::BadAttachment, LogLevel::Error, [&] {
        return "attachment of connection " + c.id + " does not match the connection schema: " + describe(*err);
      });
    }
  }
  return c.state.get();
}

Status Runtime::writeAttachment(ConnRecord& c) {
  readAttachment(c);
  std::string runtime = formatRuntime(c.runtime);
  if (runtime.size() > kMaxRuntimeAttachmentBytes)
    return RoomError{"runtime part of the attachment of connection " + c.id + " is " +
                     std::to_string(runtime.size()) + " bytes; the limit is " +
                     std::to_string(kMaxRuntimeAttachmentBytes)};
  if (c.isOpen()) out_->attach(c.slot, joinAttachment(runtime, c.stateText));
  return {};
}

Status Runtime::setConnectionState(ConnRecord& c, AnyValue s) {
  // The attachment's runtime part is kept (ref, topics, ...): read it first.
  // For presence the old state is also the entry the others were told of.
  (void)connectionState(c);
  auto bytes = type_->encodeConnection(encoder_, s.get());
  if (!bytes) return RoomValidationError{"$", "a connection state with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  if (bytes->size() > options_.maxAttachmentBytes)
    return AttachmentTooLargeError{bytes->size(), options_.maxAttachmentBytes};
  for (auto* h : hooks_) h->changing(c);
  c.stateText.assign(bytes->data(), bytes->size());
  c.state = std::move(s);
  if (!c.isOpen()) return {};
  return writeAttachment(c);
}

Status Runtime::closeConn(ConnRecord& c, std::uint32_t code, std::string_view reason) {
  if (!isValidCloseCode(code))
    return RoomError{"close code " + std::to_string(code) + " cannot be sent (use 1000, 1001-1003, 1007-1014 or 3000-4999)"};
  if (reason.size() > 123)
    return RoomError{"close reason is " + std::to_string(reason.size()) + " bytes; the limit is 123"};
  if (!c.isOpen()) return {};
  for (auto* h : hooks_) h->changing(c);
  c.life = Life::Closed;
  table().unindex(c);
  coalescer_.flushSlot(c.slot, *out_);  // what it is owed goes before the close
  out_->close(c.slot, code, reason);
  return {};
}

Status Runtime::joinTopic(ConnRecord& c, std::string_view topic) {
  if (topic.empty() || topic.size() > kMaxTopicLength)
    return RoomValidationError{"$.topic", "a topic of 1 to " + std::to_string(kMaxTopicLength) + " bytes",
                               std::to_string(topic.size()) + " bytes", {}};
  readAttachment(c);
  auto& topics = c.runtime.topics;
  if (std::find(topics.begin(), topics.end(), topic) != topics.end()) return {};
  if (topics.size() >= kMaxTopicsPerConnection)
    return RoomValidationError{"$.topics", "at most " + std::to_string(kMaxTopicsPerConnection) + " topics per connection",
                               std::to_string(topics.size() + 1) + " topics", {}};
  topics.emplace_back(topic);
  // The runtime part must stay valid JSON and within its cap.
  json::Buffer probe;
  json::Writer w(probe);
  const bool utf8 = w.String(topic.data(), static_cast<json::SizeType>(topic.size()));
  const std::size_t size = formatRuntime(c.runtime).size();
  if (!utf8 || size > kMaxRuntimeAttachmentBytes) {
    topics.pop_back();
    if (!utf8) return RoomValidationError{"$.topic", "a topic of valid UTF-8", "invalid UTF-8", {}};
    return AttachmentTooLargeError{size, kMaxRuntimeAttachmentBytes};
  }
  if (c.isOpen()) table().addTopic(c.slot, topics.back());
  return writeAttachment(c);
}

Status Runtime::leaveTopic(ConnRecord& c, std::string_view topic) {
  readAttachment(c);
  auto& topics = c.runtime.topics;
  auto it = std::find(topics.begin(), topics.end(), topic);
  if (it == topics.end()) return {};
  std::string name = std::move(*it);
  topics.erase(it);
  if (c.isOpen()) table().dropTopic(c.slot, name);
  return writeAttachment(c);
}

const std::vector<std::string>& Runtime::topicsOf(ConnRecord& c) {
  readAttachment(c);
  return c.runtime.topics;
}

void Runtime::ensureTopics() {
  if (topicsIndexed_) return;
  for (auto s : table().order()) readAttachment(*table().bySlot(s));
  topicsIndexed_ = true;
}

// ---- State ------------------------------------------------------------------------

const void* Runtime::state() {
  if (!state_) {
    state_.emplace(type_->noState());
    if (auto raw = host_.load(kStateKey)) {
      if (auto err = type_->decodeState(*raw, *state_))
        logError("stored state does not match the state schema: " + describe(*err));
    }
  }
  return state_->get();
}

Status Runtime::saveState(AnyValue s) {
  auto bytes = type_->encodeState(encoder_, s.get());
  if (!bytes) return RoomError{"state has no JSON form (NaN, infinity or invalid UTF-8)"};
  if (bytes->size() > kMaxStateBytes)
    return RoomValidationError{"$", "a state of at most " + LogLimiter::grouped(kMaxStateBytes) + " bytes as JSON",
                               LogLimiter::grouped(bytes->size()) + " bytes", {}};
  out_->put(kStateKey, *bytes);
  state_ = std::move(s);
  return {};
}

PurgeSignal Runtime::purge() {
  state_ = type_->noState();
  out_->erase(kStateKey);
  out_->erase(kAlarmFailureKey);
  out_->erase(kAlarmRetryKey);
  // The named timers go with the schedule; the runtime's own stay.
  auto change = alarm_.change();
  change.timers().clearUser();
  change.setSchedule(std::nullopt);
  return {};
}

// ---- Outbound ---------------------------------------------------------------------

void Runtime::deliver(std::string_view frame, const std::uint32_t* slots, std::size_t n, std::string_view latest) {
  if (coalescer_.on()) coalescer_.add(frame, slots, n, latest, *out_);
  else out_->frame(frame, slots, n);
}

Status Runtime::broadcastMsg(const void* msg, const Selection& sel) {
  ConnectionTable& t = table();
  auto bytes = type_->encodeBroadcast(encoder_, msg);
  if (!bytes) return RoomValidationError{"$", "a broadcast with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  BroadcastError failed;
  if (sel.base == Selection::Base::Topic) ensureTopics();
  auto [slots, n] = selectRecipients(sel, t, scratch_, failed);
  if (resume_) {
    // Sequenced even with no recipient now: a client that is away may resume.
    if (Status s = limits_.chargeOutbound(bytes->size() + 16, n); !s) return s;
    std::string framed = resume_->sequence(*bytes, storedSelection(sel), slots, n);
    deliver(framed, slots, n, sel.latest);
  } else if (n > 0) {
    if (Status s = limits_.chargeOutbound(bytes->size(), n); !s) return s;
    deliver(*bytes, slots, n, sel.latest);
  }
  if (!failed.failures.empty()) return failed;
  return {};
}

Status Runtime::sendMsg(ConnRecord& c, const void* msg) {
  if (!c.isOpen()) return SendError{c.id, "connection is not open"};
  auto bytes = type_->encodeBroadcast(encoder_, msg);
  if (!bytes) return RoomValidationError{"$", "a message with a JSON form", "NaN, infinity or invalid UTF-8", {}};
  if (Status s = limits_.chargeOutbound(bytes->size(), 1); !s) return s;
  const std::uint32_t* slots = &c.slot;
  std::size_t n = 1;
  if (resume_) {
    ResumeSelection sel;
    sel.base = ResumeSelection::Base::To;
    sel.ids.push_back(c.id);
    std::string framed = resume_->sequence(*bytes, sel, slots, n);
    deliver(framed, slots, n);
    return {};
  }
  deliver(*bytes, slots, n);
  return {};
}

// ---- Flights ----------------------------------------------------------------------

Runtime::Flight& Runtime::newFlight(Phase phase, std::optional<std::uint32_t> req, ConnRecord* conn) {
  auto f = std::make_unique<Flight>();
  f->id = nextFlight_++;
  f->req = req;
  f->phase = phase;
  f->conn = conn;
  f->ctx = type_->newCtx();
  f->ctx->rt_ = this;
  f->ctx->conn_ = conn;
  if (conn) ++conn->flights;
  auto& ref = *f;
  flights_[ref.id] = std::move(f);
  return ref;
}

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
// Awaits a handler's task; an exception escaping the handler becomes a
// RoomExecutionError: the room reads the outcome of every flight when it
// finishes, so nothing may escape it.
static Task<Status> guarded(Task<Status> task, std::string phase) {
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
static Task<Status>&& guarded(Task<Status>&& task, const std::string&) { return std::move(task); }
#endif

Task<Status> Runtime::runChannel(Flight& f) {
  Task<Status> task;
  if (type_->hasHandler(f.phase)) task = type_->run(f.phase, *f.ctx, f.event.get(), f.raw, f.decodeError);
  const std::string phase = phaseName(f.phase);
  Status s;
  if (task) s = co_await guarded(std::move(task), phase);
  if (!s.ok() && !isPurge(s) && type_->hasErrorHandler(f.phase)) {
    Status handled = co_await guarded(type_->runError(f.phase, *f.ctx, s.error()), phase + " onError");
    if (!handled.ok() && !isPurge(handled) && !loggedAlready(handled.error()))
      logError(phase + " onError failed: " + describe(handled.error()));
  }
  co_return s;
}

void Runtime::start(Flight& f) {
  f.task = f.chain ? runDue(f) : runChannel(f);
  auto id = f.id;
  runningFlight_ = id;
  f.task.handle().resume();
  auto it = flights_.find(id);
  if (it != flights_.end() && it->second->task.done()) finish(id);
}

void Runtime::connectEnded(ConnRecord& c, bool ok) {
  c.meta.clear();
  ok = ok && c.isOpen();
  for (auto* h : hooks_) h->connectEnded(c, ok);
  if (ok) c.life = Life::Open;
}

void Runtime::finish(std::uint32_t flightId) {
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
    // A refusal the runtime logged already (rate-limited) is not logged again.
    if (!loggedAlready(s.error())) logError(describe(*failure));
  }
  switch (f->phase) {
    case Phase::Connect: {
      ConnRecord* c = f->conn;
      if (c) connectEnded(*c, !failed);
      if (failed) {
        if (c && c->isOpen()) (void)closeConn(*c, 1011, "onConnect failed");
        if (f->req) reply(*f->req, UpgradeError{describe(*failure), 500});
      } else if (f->req) {
        replyOk(*f->req, c ? std::string_view(c->id) : std::string_view());
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
  if (ConnRecord* c = f->conn) {
    --c->flights;
    release(c);
  }
}

void Runtime::release(ConnRecord* c) {
  if (c->life != Life::Gone || c->flights > 0) return;
  for (auto* h : hooks_) h->forget(*c);
  table().free(c->slot);
}

void Runtime::startCall(SiblingOp op, std::string_view room, std::string_view id, std::string payload,
                        coro::coroutine_handle<> h, PendingCall* call) {
  std::uint32_t callId = nextCall_++;
  // The flight that is running now is the one that awaits.
  out_->call(callId, room, id, static_cast<CallOp>(op), payload);
  waiting_[callId] = Waiting{runningFlight_, h, call};
}

// ---- Entry points -------------------------------------------------------------------

void Runtime::connect(std::uint32_t req, Upgrade up, EffectBatch& out) {
  Crossing x(*this, out);
  ConnectionTable& t = table();
  auto fail = [&](std::string why, int status) { reply(req, UpgradeError{std::move(why), status}); };
  if (t.order().size() >= kMaxSocketsPerRoom)
    return fail("room is full: " + std::to_string(t.order().size()) + " connections, the limit is " +
                    std::to_string(kMaxSocketsPerRoom), 503);
  if (up.tags.size() > kMaxUserTags)
    return fail(std::to_string(up.tags.size()) + " tags; the limit is " + std::to_string(kMaxUserTags) +
                    " (one of the platform's 10 is reserved for the connection id)", 400);
  for (auto& tag : up.tags) {
    if (tag.size() > kMaxTagLength)
      return fail("tag of " + std::to_string(tag.size()) + " characters; the limit is " + std::to_string(kMaxTagLength), 400);
    if (tag.empty() || tag.rfind(kIdTagPrefix.substr(0, 1), 0) == 0)
      return fail("tags may not be empty or start with U+001F (reserved)", 400);
  }
  std::string id = up.id ? *up.id : host_.randomId();
  if (id.empty() || id.size() > kMaxIdLength)
    return fail("connection id of " + std::to_string(id.size()) + " characters; it must have 1 to " +
                    std::to_string(kMaxIdLength), 400);
  auto attachment = type_->encodeConnection(encoder_, up.initialState.get());
  if (!attachment) return fail("initialState has no JSON form", 400);
  if (attachment->size() > options_.maxAttachmentBytes)
    return fail(describe(Error(AttachmentTooLargeError{attachment->size(), options_.maxAttachmentBytes})), 400);
  std::string stateText(*attachment);

  if (auto* slots = t.withId(id)) {
    if (up.onDuplicate == OnDuplicate::Reject) return fail("connection id \"" + id + "\" is already connected", 409);
    if (up.onDuplicate == OnDuplicate::Replace) {
      std::vector<ConnRecord*> same;
      for (auto s : *slots) same.push_back(t.bySlot(s));
      for (auto* old : same) (void)closeConn(*old, kCloseReplaced, "replaced by a new connection");
    }
  }

  auto c = std::make_unique<ConnRecord>();
  c->slot = t.allocate();
  c->life = Life::Connecting;
  c->id = id;
  c->tags = std::move(up.tags);
  c->state = std::move(up.initialState);
  c->stateText = std::move(stateText);
  c->attachmentRead = true;
  c->meta = std::move(up.metaJson);
  for (auto* h : hooks_) h->accepted(*c);
  std::vector<std::string> platformTags;
  platformTags.reserve(c->tags.size() + 1);
  platformTags.push_back(std::string(kIdTagPrefix) + id);
  for (auto& tag : c->tags) platformTags.push_back(tag);
  out.accept(req, c->slot, platformTags, joinAttachment(formatRuntime(c->runtime), c->stateText));
  ConnRecord* conn = t.add(std::move(c));
  if (resume_ && up.resume) resume_->begin(*conn, *up.resume);
  if (liveness_) liveness_->arm();

  Flight& f = newFlight(Phase::Connect, req, conn);
  start(f);
}

void Runtime::upgrade(std::uint32_t req, std::string_view optsJson, EffectBatch& out) {
  Upgrade up;
  if (auto why = parseUpgrade(optsJson, options_.maxFrameBytes, *type_, up)) {
    Crossing x(*this, out);
    return reply(req, UpgradeError{std::move(*why), 400});
  }
  connect(req, std::move(up), out);
}

void Runtime::message(std::uint32_t slot, std::string_view frame, bool binary, EffectBatch& out) {
  Crossing x(*this, out);
  ConnRecord* c = bySlot(slot);
  if (!c || !c->isOpen()) return;  // a socket we already closed, or unknown
  if (liveness_) liveness_->noteFrame(*c);
  // The inbound limits, before any decoding.
  if (!limits_.admit(*c, frame.size())) return;
  std::optional<RoomValidationError> err;
  AnyValue ev;
  if (binary) err = RoomValidationError{"$", "a text frame", "binary frame of " + std::to_string(frame.size()) + " bytes", {}};
  else err = type_->decodeEvent(decoder_, frame, ev);
  Flight* f;
  if (err) {
    if (!type_->hasHandler(Phase::DecodeError)) {
      logLimited(LogKind::BadFrame, LogLevel::Warn, [&] {
        return "connection " + c->id + " sent a frame that failed the event schema: " + describe(*err);
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
  start(*f);
}

void Runtime::closed(std::uint32_t slot, std::uint32_t, std::string_view, EffectBatch& out) {
  Crossing x(*this, out);
  ConnRecord* c = bySlot(slot);
  coalescer_.drop(slot);
  if (!c || c->life == Life::Gone) return;  // unknown, or reported twice
  for (auto* h : hooks_) h->changing(*c);
  if (c->isOpen()) table().unindex(*c);
  c->life = Life::Gone;
  if (liveness_) liveness_->disarmIfEmpty();
  // A handler suspended on a sibling call may still hold this connection:
  // the flight of onClose holds it too, and release() frees the slot after
  // the last one.
  Flight& f = newFlight(Phase::Close, std::nullopt, c);
  start(f);
}

void Runtime::alarm(std::uint32_t req, int retryCount, bool isRetry, EffectBatch& out) {
  runAlarm(req, retryCount, isRetry, false, out);
}

void Runtime::fireAlarm(std::uint32_t req, EffectBatch& out) { runAlarm(req, 0, false, true, out); }

// An alarm runs every due entry in time order, in one flight: the
// schedule's onAlarm, named timers' onAlarm (ctx.timer() naming them) and the
// runtime's sweep. A manual fire (the client's fireAlarm) runs the
// schedule's onAlarm alone.
void Runtime::runAlarm(std::uint32_t req, int retryCount, bool isRetry, bool manual, EffectBatch& out) {
  Crossing x(*this, out);
  const double now = nowMs();
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
  auto spec = alarm_.schedule();
  auto earliest = alarm_.earliest();
  alarm_.chainStarted(!manual);
  if (manual) {
    f.due.push_back(Due{std::nullopt, now, false});
  } else {
    double cutoff = now;
    if (earliest && *earliest <= now + kAlarmEarlyMs) cutoff = std::max(cutoff, *earliest);
    if (spec && *spec <= cutoff) f.due.push_back(Due{std::nullopt, *spec, before(kSpecTimer)});
    else if (before(kSpecTimer)) f.due.push_back(Due{std::nullopt, -1e300, true});
    for (auto& [name, at] : alarm_.timers().entries())
      if (at <= cutoff) f.due.push_back(Due{name, at, before(name)});
    // A platform alarm with nothing known due and nothing pending runs onAlarm.
    if (f.due.empty() && !earliest) f.due.push_back(Due{std::nullopt, now, isRetry});
    std::stable_sort(f.due.begin(), f.due.end(), [](const Due& a, const Due& b) { return a.at < b.at; });
  }
  // The schedule is consumed when it runs, before its handler.
  if (spec && (manual || std::any_of(f.due.begin(), f.due.end(), [&](const Due& d) { return !d.name && d.at == *spec; })))
    alarm_.change().setSchedule(std::nullopt);
  start(f);
}

Task<Status> Runtime::runDue(Flight& f) {
  Status first;
  std::optional<std::string> cause;
  for (std::size_t i = 0; i < f.due.size(); ++i) {
    Due d = f.due[i];
    if (d.name && *d.name == kSweepTimer) {
      if (liveness_) liveness_->sweep();
      else alarm_.change().timers().erase(kSweepTimer);
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
      else if (!loggedAlready(s.error())) logError("onAlarm of " + f.failed.back() + " failed: " + describe(s.error()));
      continue;
    }
    // Removed only now that its handler succeeded, unless it set itself again.
    if (d.name && alarm_.timers().at(*d.name) == d.at) alarm_.change().timers().erase(*d.name);
  }
  f.ctx->timer_.reset();
  co_return first;
}

void Runtime::endAlarm(Flight& f, bool failed) {
  bool retried = failed && !f.manual && f.retryCount < kMaxAlarmRetries;
  if (retried) {
    // The platform retries; the retry runs the failed entries again. The
    // platform's alarm stays as the retry left it.
    json::Buffer buf;
    json::Writer w(buf);
    w.StartArray();
    for (auto& n : f.failed) w.String(n.data(), static_cast<json::SizeType>(n.size()));
    w.EndArray();
    out_->put(kAlarmRetryKey, std::string_view(buf.GetString(), buf.GetSize()));
    alarm_.chainEnded(false, /*sync=*/false);
    return;
  }
  if (failed && !f.manual) {
    // No retry comes: the failed timers are dropped, as the schedule is.
    for (auto& n : f.failed)
      if (n != kSpecTimer && alarm_.timers().at(n)) {
        alarm_.change().timers().erase(n);
        logError("timer " + n + " dropped after " + std::to_string(kMaxAlarmRetries) + " retries");
      }
  }
  if (f.ctx->systemFailure_ || std::any_of(f.due.begin(), f.due.end(), [](const Due& d) { return d.failedBefore; }))
    if (!failed) out_->erase(kAlarmFailureKey);
  alarm_.chainEnded(f.manual, /*sync=*/true);
}

void Runtime::send(std::uint32_t req, std::string_view eventJson, EffectBatch& out) {
  Crossing x(*this, out);
  AnyValue ev;
  if (auto err = type_->decodeEvent(decoder_, eventJson, ev)) return reply(req, *err);
  Flight& f = newFlight(Phase::Event, req, nullptr);
  f.event = std::move(ev);
  start(f);
}

void Runtime::getState(std::uint32_t req, EffectBatch& out) {
  Crossing x(*this, out);
  const void* s = state();
  if (!type_->stateSet(s)) return replyOk(req, "null");
  auto bytes = type_->encodeState(encoder_, s);
  if (!bytes) return reply(req, RoomError{"state has no JSON form"});
  replyOk(req, *bytes);
}

void Runtime::getConnections(std::uint32_t req, std::optional<std::string_view> tag, EffectBatch& out) {
  Crossing x(*this, out);
  ConnectionTable& t = table();
  const std::vector<std::uint32_t>* slots = tag ? t.withTag(std::string(*tag)) : &t.order();
  json::Buffer buf;
  json::Writer w(buf);
  w.StartArray();
  if (slots) {
    // Reading a state may index its topics, never its tags or the order.
    for (auto s : *slots) {
      ConnRecord& c = *t.bySlot(s);
      w.StartObject();
      w.Key("id");
      w.String(c.id.data(), static_cast<json::SizeType>(c.id.size()));
      w.Key("tags");
      w.StartArray();
      for (auto& tg : c.tags) w.String(tg.data(), static_cast<json::SizeType>(tg.size()));
      w.EndArray();
      w.Key("state");
      type_->writeConnection(w, connectionState(c));
      w.EndObject();
    }
  }
  w.EndArray();
  replyOk(req, std::string_view(buf.GetString(), buf.GetSize()));
}

void Runtime::broadcast(std::uint32_t req, std::string_view msgJson, EffectBatch& out) {
  Crossing x(*this, out);
  AnyValue msg;
  if (auto err = type_->decodeBroadcast(decoder_, msgJson, msg)) return reply(req, *err);
  Status s = broadcastMsg(msg.get(), Selection{});
  if (!s) return reply(req, s.error());
  replyOk(req);
}

void Runtime::flush(EffectBatch& out) {
  Crossing x(*this, out);
  coalescer_.timerFired(out);
}

void Runtime::resume(std::uint32_t callId, bool ok, std::string_view tag, std::string_view payload, EffectBatch& out) {
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

}  // namespace rooms::detail
