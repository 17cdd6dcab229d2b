#include "probe/probe.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace probe {

using rooms::Status;
using rooms::Task;
using Ctx = rooms::RoomCtx<Probe>;

namespace {

// Pings served by this instance of the core: restarts at 1 after a wake on
// Cloudflare, where each room gets a fresh Wasm instance.
std::int64_t pingsSinceWake = 0;

// A room type the registry does not hold, for RoomNotFoundError.
using Missing = rooms::Room<"missing", State, Connection, Event, Broadcast>;

State current(Ctx& ctx) { return ctx.recall() ? *ctx.recall() : State{}; }

// Ends the event the hard way: a Wasm trap (abort, unreachable, out-of-bounds
// store), or a C++ exception in builds that have them.
[[noreturn]] void trap(std::string_view kind) {
  if (kind == "abort") std::abort();
  if (kind == "oob") {
    volatile std::uintptr_t far = static_cast<std::uintptr_t>(-64);
    *reinterpret_cast<volatile int*>(far) = 1;
  }
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
  if (kind == "throw") throw std::runtime_error("probe threw");
#endif
  __builtin_trap();
}

Status count(Ctx& ctx) {
  State s = current(ctx);
  s.events += 1;
  return ctx.save(s);
}

Task<Status> onPing(Ctx& ctx, const Ping&) {
  auto* conn = ctx.connection();
  std::string who = conn ? std::string(conn->id()) + "/" + conn->state().name : "";
  co_return ctx.broadcast(Pong{current(ctx).events, ++pingsSinceWake, ctx.nextAlarm(), who, std::string(ctx.id())});
}

Task<Status> onFail(Ctx&, const Fail& f) {
  co_return rooms::RoomError{f.message};
}

Task<Status> onTrap(Ctx&, const Trap& t) {
  trap(t.kind.value());
  co_return {};
}

Task<Status> onSchedule(Ctx& ctx, const Schedule& sc) {
  // Clamped to a year so the conversion to an integer is defined.
  double ms = std::clamp(sc.inMs, 0.0, 365.0 * 24 * 3600 * 1000);
  co_return ctx.scheduleIn(std::chrono::milliseconds(static_cast<std::int64_t>(ms)));
}

Task<Status> onCancel(Ctx& ctx, const Cancel&) {
  co_return ctx.cancelSchedule();
}

Task<Status> onFailAlarms(Ctx& ctx, const FailAlarms& fa) {
  State s = current(ctx);
  s.failAlarms = fa.times;
  co_return ctx.save(s);
}

Task<Status> onPurge(Ctx& ctx, const Purge&) {
  co_return ctx.purge();
}

Task<Status> onGrow(Ctx& ctx, const Grow& g) {
  auto* conn = ctx.connection();
  if (!conn) co_return rooms::RoomError{"Grow needs a connection"};
  Connection next = conn->state();
  next.pad = g.pad;
  Status r = conn->setState(std::move(next));
  co_return conn->send(GrowResult{r ? "ok" : std::string(rooms::tagOf(r.error()))});
}

Task<Status> onAskChat(Ctx& ctx, const AskChat& a) {
  auto* conn = ctx.connection();
  // Straight-line code across two platform calls.
  auto state = co_await ctx.room<chat::Chat>().getState(a.roomId);
  ROOMS_TRY(state);
  // A named event, not a temporary inside the co_await (see SiblingRoom).
  const chat::Event say = chat::Say{a.text};
  auto sent = co_await ctx.room<chat::Chat>().send(a.roomId, say);
  ROOMS_TRY(sent);
  std::optional<double> messages;
  if (*state) messages = static_cast<double>((*state)->messageCount);
  // The connection may have closed meanwhile; it stays valid for this handler.
  co_return ctx.broadcast(ChatSeen{messages, conn ? std::string(conn->id()) : ""});
}

Task<Status> onAskMissing(Ctx& ctx, const AskMissing&) {
  auto r = co_await ctx.room<Missing>().getState("x");
  co_return r.status();
}

Task<Status> onKick(Ctx& ctx, const Kick& k) {
  auto* target = ctx.connections().byId(k.id);
  if (!target) co_return rooms::SendError{k.id, "no such connection"};
  co_return target->close(static_cast<std::uint32_t>(k.code), k.reason);
}

Task<Status> onRelay(Ctx& ctx, const Relay& r) {
  auto* conn = ctx.connection();
  // A named event, not a temporary inside the co_await (see SiblingRoom).
  const Event trapIt = Trap{r.kind};
  auto sent = co_await ctx.room<Probe>().send(r.roomId, trapIt);
  Relayed out{"ok", "", conn ? std::string(conn->id()) : ""};
  if (!sent) {
    out.outcome = std::string(rooms::tagOf(sent.error()));
    out.message = rooms::describe(sent.error());
  }
  co_return ctx.broadcast(out);
}

// Every event is counted, then handled by its type.
Task<Status> onEvent(Ctx& ctx, const Event& ev) {
  ROOMS_TRY(count(ctx));
  static const auto handle = rooms::dispatch(onPing, onFail, onTrap, onSchedule, onCancel, onFailAlarms, onPurge,
                                             onGrow, onAskChat, onAskMissing, onKick, onRelay);
  co_return co_await handle(ctx, ev);
}

Task<Status> onEventError(Ctx& ctx, const rooms::Error& err) {
  co_return ctx.broadcast(ErrorSeen{"onEvent", std::string(rooms::tagOf(err)), rooms::describe(err)});
}

Task<Status> onAlarm(Ctx& ctx) {
  State s = current(ctx);
  s.alarms += 1;
  bool fail = s.failAlarms > 0;
  if (fail) s.failAlarms -= 1;
  ROOMS_TRY(ctx.save(s));
  const rooms::SystemFailure* sf = ctx.systemFailure();
  AlarmRan ran{s.alarms, sf ? sf->retryCount : 0, sf ? std::optional<std::string>(sf->cause) : std::nullopt};
  ROOMS_TRY(ctx.broadcast(ran));
  if (fail) co_return rooms::RoomError{"alarm failure requested"};
  co_return {};
}

Task<Status> onDecodeError(Ctx& ctx, std::string_view, const rooms::RoomValidationError& e) {
  co_return ctx.broadcast(ErrorSeen{"onDecodeError", "RoomValidationError", rooms::describe(e)});
}

}  // namespace

rooms::Handlers<Probe> handlers() {
  return {.onEvent = {onEvent, onEventError},
          .onAlarm = onAlarm,
          .onDecodeError = onDecodeError};
}

}  // namespace probe
