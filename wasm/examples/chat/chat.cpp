#include "chat.h"

namespace chat {

using rooms::Status;
using rooms::Task;
using Ctx = rooms::RoomCtx<Chat>;

namespace {

// The room is created by its first use: a connection or a direct Say.
Status initialise(Ctx& ctx) { return ctx.recall() ? Status{} : ctx.save({ctx.now(), 0}); }

Task<Status> onConnect(Ctx& ctx) {
  ROOMS_TRY(initialise(ctx));
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  co_return ctx.broadcast(UserJoined{conn->state().userId}, {.except = conn});
}

Task<Status> onSay(Ctx& ctx, const Say& say) {
  ROOMS_TRY(initialise(ctx));
  ROOMS_TRY(ctx.update([](State& st) { st.messageCount += 1; }));
  auto* conn = ctx.connection();  // null for a Say sent through the client
  co_return ctx.broadcast(Message{say.text, conn ? conn->state().userId : "system", ctx.now()});
}

Task<Status> onTyping(Ctx& ctx, const Typing&) {
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  co_return ctx.broadcast(TypingBy{conn->state().userId}, {.except = conn});
}

Task<Status> onClose(Ctx& ctx) {
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  // Another socket with this id (a second tab, or the one that replaced this
  // one) is still here: the user has not left.
  if (ctx.connections().byId(conn->id())) co_return {};
  co_return ctx.broadcast(UserLeft{conn->state().userId}, {.except = conn});
}

}  // namespace

rooms::RoomOptions options() {
  return {.inboundFramesPerSecond = 20, .inboundFrameBurst = 60, .heartbeat = rooms::Heartbeat{}};
}

rooms::Handlers<Chat> handlers() {
  return {.onConnect = onConnect, .onEvent = rooms::dispatch(onSay, onTyping), .onClose = onClose};
}

}  // namespace chat
