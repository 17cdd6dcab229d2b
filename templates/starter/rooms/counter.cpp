#include "counter.h"

namespace counter {

using rooms::Status;
using rooms::Task;
using Ctx = rooms::RoomCtx<Counter>;

namespace {

std::int64_t current(Ctx& ctx) {
  const auto& s = ctx.recall();
  return s ? s->count : 0;
}

// Who did it: the connection's user, or "api" for an event sent by the worker.
std::string actor(Ctx& ctx) {
  auto* conn = ctx.connection();
  return conn ? conn->state().userId : "api";
}

// A newcomer learns the count.
Task<Status> onConnect(Ctx& ctx) {
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  co_return conn->send(Count{current(ctx), "join"});
}

Task<Status> onAdd(Ctx& ctx, const Add& add) {
  const std::int64_t next = current(ctx) + add.by;
  ROOMS_TRY(ctx.save({next}));
  co_return ctx.broadcast(Count{next, actor(ctx)});
}

Task<Status> onReset(Ctx& ctx, const Reset&) {
  ROOMS_TRY(ctx.save({0}));
  co_return ctx.broadcast(Count{0, actor(ctx)});
}

}  // namespace

rooms::Handlers<Counter> handlers() {
  return {.onConnect = onConnect, .onEvent = rooms::dispatch(onAdd, onReset)};
}

}  // namespace counter
