#include "probe/lobby.h"

#include <algorithm>

namespace lobby {

using rooms::Status;
using rooms::Task;
using Ctx = rooms::RoomCtx<Lobby>;

namespace {

std::string nameOf(Ctx& ctx) {
  auto* c = ctx.connection();
  return c ? c->state().user : "system";
}

Status refusedOr(Ctx& ctx, std::string what, const Status& s) {
  if (s.ok() || !ctx.connection()) return {};
  return ctx.connection()->send(Refused{std::move(what), std::string(rooms::tagOf(s.error()))});
}

Task<Status> onConnect(Ctx& ctx) {
  auto* conn = ctx.connection();
  if (auto m = conn->meta<UpgradeMeta>())
    for (auto& t : m->topics) ROOMS_TRY(conn->join(t));
  co_return conn->send(Welcome{conn->state().user});
}

Task<Status> onSay(Ctx& ctx, const Say& e) {
  ROOMS_TRY(ctx.update([](State& s) { s.said += 1; }));
  if (!ctx.recall()) ROOMS_TRY(ctx.save({1}));
  co_return ctx.broadcast(Said{e.text, nameOf(ctx)});
}

Task<Status> onBurst(Ctx& ctx, const Burst& e) {
  std::string from = nameOf(ctx);
  for (std::int32_t i = 1; i <= e.count; ++i) ROOMS_TRY(ctx.broadcast(Said{e.prefix + std::to_string(i), from}));
  co_return Status{};
}

Task<Status> onSetStatus(Ctx& ctx, const SetStatus& e) {
  auto* c = ctx.connection();
  if (!c) co_return Status{};
  Connection next = c->state();
  next.status = e.status;
  co_return refusedOr(ctx, "SetStatus", c->setState(std::move(next)));
}

Task<Status> onJoin(Ctx& ctx, const Join& e) {
  if (!ctx.connection()) co_return Status{};
  co_return refusedOr(ctx, "Join", ctx.connection()->join(e.topic));
}

Task<Status> onLeave(Ctx& ctx, const Leave& e) {
  if (!ctx.connection()) co_return Status{};
  co_return refusedOr(ctx, "Leave", ctx.connection()->leave(e.topic));
}

Task<Status> onToTopic(Ctx& ctx, const ToTopic& e) {
  co_return ctx.broadcast(TopicSaid{e.topic, e.text, nameOf(ctx)}, {.topic = e.topic});
}

Task<Status> onMembers(Ctx& ctx, const Members& e) {
  auto* c = ctx.connection();
  if (!c) co_return Status{};
  // One Wasm instance per room: this counts the room's Members events since
  // its core was last built (natively: since the process started).
  static std::int64_t served = 0;
  MembersAre m{e.topic, {}, c->topics(), ++served};
  for (auto* member : ctx.connections().inTopic(e.topic)) m.ids.emplace_back(member->id());
  std::sort(m.ids.begin(), m.ids.end());
  co_return c->send(m);
}

Task<Status> onWhisper(Ctx& ctx, const Whisper& e) {
  auto* to = ctx.connections().byId(e.to);
  if (!to) co_return Status{};
  co_return to->send(Whispered{e.text, nameOf(ctx)});
}

Task<Status> onKick(Ctx& ctx, const Kick& e) {
  for (auto* c : ctx.connections().all())
    if (c->id() == e.id) ROOMS_TRY(c->close(4000, "kicked"));
  co_return Status{};
}

}  // namespace

rooms::RoomOptions options() { return {.resumeFrames = 32}; }

rooms::Handlers<Lobby> handlers() {
  return {.onConnect = onConnect,
          .onEvent = rooms::dispatch(onSay, onBurst, onSetStatus, onJoin, onLeave, onToTopic, onMembers, onWhisper,
                                     onKick)};
}

}  // namespace lobby
