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
struct Missing {
  static constexpr std::string_view name = "missing";
  using State = probe::State;
  using Connection = probe::Connection;
  using Event = probe::Event;
  using Broadcast = probe::Broadcast;
};

State current(Ctx& ctx) { return ctx.recall() ? *ctx.recall() : State{}; }

// Ends the event the hard way: a Wasm trap (abort, unreachable, out-of-bounds
// store), or a C++ exception in builds that have them.
[[noreturn]] void trap(const std::string& kind) {
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

Task<Status> onEvent(Ctx& ctx, const Event& ev) {
  State s = current(ctx);
  s.events += 1;
  if (auto st = ctx.save(s); !st) co_return st;
  auto* conn = ctx.connection();

  if (std::holds_alternative<Ping>(ev)) {
    std::string who = conn ? std::string(conn->id()) + "/" + conn->state().name : "";
    co_return ctx.broadcast(Pong{s.events, ++pingsSinceWake, ctx.nextAlarm(), who});
  }
  if (auto* f = std::get_if<Fail>(&ev)) co_return rooms::RoomError{f->message};
  if (auto* t = std::get_if<Trap>(&ev)) trap(t->kind);
  if (auto* sc = std::get_if<Schedule>(&ev)) {
    // Clamped to a year so the conversion to an integer is defined.
    double ms = std::clamp(sc->inMs, 0.0, 365.0 * 24 * 3600 * 1000);
    co_return ctx.scheduleIn(std::chrono::milliseconds(static_cast<std::int64_t>(ms)));
  }
  if (std::holds_alternative<Cancel>(ev)) co_return ctx.cancelSchedule();
  if (auto* fa = std::get_if<FailAlarms>(&ev)) {
    s.failAlarms = fa->times;
    co_return ctx.save(s);
  }
  if (std::holds_alternative<Purge>(ev)) co_return ctx.purge();
  if (auto* g = std::get_if<Grow>(&ev)) {
    if (!conn) co_return rooms::RoomError{"Grow needs a connection"};
    Connection next = conn->state();
    next.pad = g->pad;
    Status r = conn->setState(std::move(next));
    co_return conn->send(GrowResult{r ? "ok" : std::string(rooms::tagOf(r.error()))});
  }
  if (auto* a = std::get_if<AskChat>(&ev)) {
    // Straight-line code across two platform calls.
    auto state = co_await ctx.room<chat::Chat>().getState(a->roomId);
    if (!state) co_return state.status();
    // A named event, not a temporary inside the co_await (see SiblingRoom).
    const chat::Event say = chat::Say{a->text};
    auto sent = co_await ctx.room<chat::Chat>().send(a->roomId, say);
    if (!sent) co_return sent.status();
    std::optional<double> count;
    if (*state) count = (*state)->messageCount;
    // The connection may have closed meanwhile; it stays valid for this handler.
    co_return ctx.broadcast(ChatSeen{count, conn ? std::string(conn->id()) : ""});
  }
  if (std::holds_alternative<AskMissing>(ev)) {
    auto r = co_await ctx.room<Missing>().getState("x");
    co_return r.status();
  }
  if (auto* k = std::get_if<Kick>(&ev)) {
    auto* target = ctx.connections().byId(k->id);
    if (!target) co_return rooms::SendError{k->id, "no such connection"};
    co_return target->close(static_cast<std::uint32_t>(k->code), k->reason);
  }
  co_return {};
}

Task<Status> onEventError(Ctx& ctx, const rooms::Error& err) {
  co_return ctx.broadcast(ErrorSeen{"onEvent", std::string(rooms::tagOf(err)), rooms::describe(err)});
}

Task<Status> onAlarm(Ctx& ctx) {
  State s = current(ctx);
  s.alarms += 1;
  bool fail = s.failAlarms > 0;
  if (fail) s.failAlarms -= 1;
  if (auto st = ctx.save(s); !st) co_return st;
  const rooms::SystemFailure* sf = ctx.systemFailure();
  AlarmRan ran{s.alarms, sf ? sf->retryCount : 0, sf ? std::optional<std::string>(sf->cause) : std::nullopt};
  if (auto st = ctx.broadcast(ran); !st) co_return st;
  if (fail) co_return rooms::RoomError{"alarm failure requested"};
  co_return {};
}

}  // namespace

rooms::Handlers<Probe> handlers() {
  rooms::Handlers<Probe> h;
  h.onEvent = {onEvent, onEventError};
  h.onAlarm = onAlarm;
  h.onDecodeError = [](Ctx& ctx, std::string_view, const rooms::RoomValidationError& e) -> Task<Status> {
    co_return ctx.broadcast(ErrorSeen{"onDecodeError", "RoomValidationError", rooms::describe(e)});
  };
  return h;
}

}  // namespace probe
