// The runtime of one room instance, compiled once for every room type: the
// entry points the hosts call (RoomInstanceBase), and Runtime, which owns the
// connection table, runs handlers as flights (a handler suspended on a
// sibling call stays in flight until its reply) and writes the effect batch.
// What depends on the room type goes through its RoomType adapter.
//
// Capabilities are components (component.h) with state of their own,
// called at fixed points of an event: presence (presence.h), the resume log
// (resume.h), heartbeat and the stale sweep (liveness.h), the budgets
// (limits.h), the alarm with its named timers (alarm.h), coalesced delivery
// (coalesce.h). The Runtime calls them; they call back its services below.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rooms/registry.h"
#include "runtime/alarm.h"
#include "runtime/budget.h"
#include "runtime/coalesce.h"
#include "runtime/component.h"
#include "runtime/connection_table.h"
#include "runtime/effects.h"
#include "runtime/host.h"
#include "runtime/limits.h"
#include "runtime/liveness.h"
#include "runtime/presence.h"
#include "runtime/resume.h"
#include "runtime/selection.h"

namespace rooms {

// One (room type, id), as the hosts see it. Entry points append to `out`;
// requests carrying a `req` number end with exactly one Reply effect,
// possibly in a later batch if a handler suspended on a sibling call
// (resume() then delivers it).
class RoomInstanceBase {
 public:
  virtual ~RoomInstanceBase() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view id() const = 0;

  // `optsJson`: {"id"?, "tags"?, "meta"?, "initialState", "onDuplicate"?, "resume"?}.
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

bool isValidCloseCode(std::uint32_t code);
inline bool isPurge(const Status& s) { return !s.ok() && std::holds_alternative<PurgeSignal>(s.error()); }

namespace detail {

class Runtime final : public RoomInstanceBase, public CallSink {
 public:
  Runtime(std::shared_ptr<const RoomType> type, const RoomOptions& options, std::string id, Host& host,
          const RegistryView& registry);
  ~Runtime() override;

  std::string_view name() const override { return type_->name(); }
  std::string_view id() const override { return id_; }
  std::size_t inFlight() const override { return flights_.size(); }
  std::size_t maxFrameBytes() const override { return options_.maxFrameBytes; }
  const Heartbeat* heartbeat() const override { return options_.heartbeat ? &*options_.heartbeat : nullptr; }

  // The typed upgrade (the in-memory runtime's connect<R>).
  void connect(std::uint32_t req, Upgrade up, EffectBatch& out);

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
  void startCall(SiblingOp op, std::string_view room, std::string_view id, std::string payload,
                 coro::coroutine_handle<> h, PendingCall* call) override;

  // ---- Services for the facades and the components ------------------------
  const RoomType& type() const { return *type_; }
  const RoomOptions& options() const { return options_; }
  Host& host() { return host_; }
  EffectBatch& out() { return *out_; }
  const RegistryView& registry() const { return registry_; }
  // The platform's clock, read once per crossing: the budgets, the log
  // limiter and ctx.now() of one event share one reading (on Cloudflare the
  // clock does not move during an event anyway).
  double nowMs();
  Timestamp now() { return fromEpochMs(static_cast<std::int64_t>(std::llround(nowMs()))); }

  // Connections: the table is read from the host on first need per wake.
  ConnectionTable& table();
  ConnRecord* bySlot(std::uint32_t slot) { return table().bySlot(slot); }
  ConnectionBase* handleOf(ConnRecord* c);
  static ConnRecord* recordOf(const ConnectionBase* h) { return h->rec_; }
  std::vector<ConnectionBase*> handlesOf(const std::vector<std::uint32_t>* slots);
  // The attachment envelope (attachment.h): read once per wake on first need;
  // written (both parts, the state as cached) by writeAttachment alone.
  void readAttachment(ConnRecord& c);
  Status writeAttachment(ConnRecord& c);
  const void* connectionState(ConnRecord& c);
  Status setConnectionState(ConnRecord& c, AnyValue s);
  Status closeConn(ConnRecord& c, std::uint32_t code, std::string_view reason);
  Status joinTopic(ConnRecord& c, std::string_view topic);
  Status leaveTopic(ConnRecord& c, std::string_view topic);
  const std::vector<std::string>& topicsOf(ConnRecord& c);
  // Every open connection's topics are in the table's topic index.
  void ensureTopics();

  // The room state, read on first need per wake.
  const void* state();
  Status saveState(AnyValue s);
  PurgeSignal purge();
  AlarmClock& alarmClock() { return alarm_; }

  // Outbound: encodes once, selects, charges the budget, sequences (Resume)
  // and delivers.
  Status broadcastMsg(const void* msg, const Selection& sel);
  Status sendMsg(ConnRecord& c, const void* msg);
  // Hands one encoded frame to the platform now, or to the coalescer.
  void deliver(std::string_view frame, const std::uint32_t* slots, std::size_t n, std::string_view latest = {});
  // What a connection is owed leaves before a close or a runtime notice.
  void flushOwed(std::uint32_t slot) { coalescer_.flushSlot(slot, *out_); }

  void logError(std::string_view what) { out_->log(LogLevel::Error, what); }
  // Logs what `text()` returns unless a warning of `kind` was logged in the
  // last LogLimiter::kWindowMs; the text is only built when it is logged.
  template <class F>
  void logLimited(LogKind kind, LogLevel level, F&& text) {
    std::string note;
    if (!logs_.admit(kind, nowMs(), note)) return;
    out_->log(level, text() + note);
  }

 private:
  struct Flight;  // one running handler (runtime.cpp)
  struct Crossing;
  struct Due;
  struct Waiting {
    std::uint32_t flight;
    coro::coroutine_handle<> handle;
    PendingCall* call;
  };

  Flight& newFlight(Phase phase, std::optional<std::uint32_t> req, ConnRecord* conn);
  Task<Status> runChannel(Flight& f);
  Task<Status> runDue(Flight& f);
  void runAlarm(std::uint32_t req, int retryCount, bool isRetry, bool manual, EffectBatch& out);
  void endAlarm(Flight& f, bool failed);
  void start(Flight& f);
  void finish(std::uint32_t flightId);
  void release(ConnRecord* c);
  void connectEnded(ConnRecord& c, bool ok);
  void reply(std::uint32_t req, const Error& e) { out_->reply(req, false, tagOf(e), errorToJson(e)); }
  void replyOk(std::uint32_t req, std::string_view payload = "") { out_->reply(req, true, "", payload); }
  std::vector<std::uint32_t> openSlots();

  std::shared_ptr<const RoomType> type_;
  RoomOptions options_;
  std::string id_;
  Host& host_;
  const RegistryView& registry_;
  Decoder decoder_;
  Encoder encoder_;
  EffectBatch* out_ = nullptr;  // the batch of the crossing under way; null between them
  std::optional<double> clock_;

  std::optional<ConnectionTable> table_;  // read from the host on first need per wake
  RecipientScratch scratch_;
  std::optional<AnyValue> state_;  // a std::optional<State>, read on first need
  bool topicsIndexed_ = false;
  LogLimiter logs_;

  // Components, in the order their hooks run.
  AlarmClock alarm_;
  Limits limits_;
  Coalescer coalescer_;
  std::unique_ptr<ResumeLog> resume_;
  std::unique_ptr<PresenceTracker> presence_;
  std::unique_ptr<Liveness> liveness_;
  std::vector<Component*> hooks_;

  std::uint32_t nextFlight_ = 1;
  std::uint32_t runningFlight_ = 0;  // the flight whose code runs now
  std::uint32_t nextCall_ = 1;
  std::map<std::uint32_t, std::unique_ptr<Flight>> flights_;
  std::map<std::uint32_t, Waiting> waiting_;
};

}  // namespace detail
}  // namespace rooms
