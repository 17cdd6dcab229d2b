#include "chat.h"

namespace chat {

using rooms::Status;
using rooms::Task;

namespace {

// Each handler takes `auto& ctx`: a RoomCtx<Chat>, <PlainChat> or <FullChat>.

// The room is created by its first use: a connection or a direct Say.
Status initialise(auto& ctx) { return ctx.recall() ? Status{} : ctx.save({ctx.now(), 0}); }

Task<Status> onConnect(auto& ctx) {
  ROOMS_TRY(initialise(ctx));
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  co_return ctx.broadcast(UserJoined{conn->state().userId}, {.except = conn});
}

Task<Status> onSay(auto& ctx, const Say& say) {
  ROOMS_TRY(initialise(ctx));
  ROOMS_TRY(ctx.update([](State& st) { st.messageCount += 1; }));
  auto* conn = ctx.connection();  // null for a Say sent through the client
  co_return ctx.broadcast(Message{say.text, conn ? conn->state().userId : "system", ctx.now()});
}

Task<Status> onTyping(auto& ctx, const Typing&) {
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  co_return ctx.broadcast(TypingBy{conn->state().userId}, {.except = conn});
}

Task<Status> onClose(auto& ctx) {
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

template <class Room>
rooms::Handlers<Room> handlers() {
  using Ctx = rooms::RoomCtx<Room>;
  return {.onConnect = onConnect<Ctx>, .onEvent = rooms::dispatch(onSay<Ctx>, onTyping<Ctx>), .onClose = onClose<Ctx>};
}
template rooms::Handlers<Chat> handlers<Chat>();
template rooms::Handlers<PlainChat> handlers<PlainChat>();
template rooms::Handlers<FullChat> handlers<FullChat>();

}  // namespace chat
