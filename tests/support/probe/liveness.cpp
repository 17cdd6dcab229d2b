#include "probe/liveness.h"

#include <algorithm>
#include <chrono>

namespace live {

using rooms::Status;
using rooms::Task;

namespace {

template <class R>
State current(rooms::RoomCtx<R>& ctx) {
  return ctx.recall() ? *ctx.recall() : State{};
}

std::chrono::milliseconds clampMs(double ms) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(ms, 0.0, 365.0 * 24 * 3600 * 1000)));
}

template <class R>
Task<Status> onEvent(rooms::RoomCtx<R>& ctx, const Event& ev) {
  auto* conn = ctx.connection();
  if (auto* set = std::get_if<SetTimer>(&ev)) {
    Status s = ctx.timers().set(set->name, clampMs(set->inMs));
    TimerSet out{s ? "ok" : rooms::describe(s.error())};
    co_return conn ? conn->send(out) : ctx.broadcast(out);
  }
  if (auto* c = std::get_if<CancelTimer>(&ev)) co_return ctx.timers().cancel(c->name);
  if (auto* sc = std::get_if<Schedule>(&ev)) co_return ctx.scheduleIn(clampMs(sc->inMs));
  if (auto* e = std::get_if<Echo>(&ev)) {
    if (!conn) co_return {};
    co_return conn->send(Echoed{e->n});
  }
  if (auto* f = std::get_if<FailTimer>(&ev)) {
    State s = current(ctx);
    s.failName = f->name;
    s.failTimes = f->times;
    co_return ctx.save(s);
  }
  // Hello
  State s = current(ctx);
  Hi hi{s.fired, s.left, std::nullopt};
  co_return conn ? conn->send(hi) : ctx.broadcast(hi);
}

template <class R>
Task<Status> onAlarm(rooms::RoomCtx<R>& ctx) {
  State s = current(ctx);
  std::string name = ctx.timer() ? std::string(*ctx.timer()) : "$schedule";
  s.fired.push_back(name);
  bool fail = s.failTimes > 0 && s.failName == name;
  if (fail) s.failTimes -= 1;
  ROOMS_TRY(ctx.save(s));
  const rooms::SystemFailure* sf = ctx.systemFailure();
  ROOMS_TRY(ctx.broadcast(Fired{name, sf ? std::optional<std::string>(sf->cause) : std::nullopt}));
  if (fail) co_return rooms::RoomError{"timer failure requested"};
  co_return {};
}

template <class R>
Task<Status> onClose(rooms::RoomCtx<R>& ctx) {
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  State s = current(ctx);
  s.left.emplace_back(conn->id());
  ROOMS_TRY(ctx.save(s));
  co_return ctx.broadcast(Left{std::string(conn->id())}, {.except = conn});
}

}  // namespace

template <class R>
rooms::Handlers<R> handlers() {
  return {.onEvent = onEvent<R>, .onClose = onClose<R>, .onAlarm = onAlarm<R>};
}
template rooms::Handlers<Live> handlers<Live>();
template rooms::Handlers<Stale> handlers<Stale>();
template rooms::Handlers<Slow> handlers<Slow>();

rooms::RoomOptions liveOptions() {
  using namespace std::chrono_literals;
  return {.inboundFramesPerSecond = 5,
          .inboundFrameBurst = 10,
          .heartbeat = rooms::Heartbeat{.staleAfter = 60s, .sweepEvery = 30s},
          .overLimit = rooms::OverLimit::Drop,
          .roomInboundFramesPerSecond = 40,
          .roomInboundFrameBurst = 40};
}

rooms::RoomOptions staleOptions() {
  using namespace std::chrono_literals;
  return {.heartbeat = rooms::Heartbeat{.staleAfter = 3s, .sweepEvery = 1s}};
}

}  // namespace live
