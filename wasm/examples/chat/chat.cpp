#include "chat.h"

namespace chat {

using rooms::RoomCtx;
using rooms::Status;
using rooms::Task;
using Ctx = RoomCtx<Chat>;

namespace {

Task<Status> onConnect(Ctx& ctx) {
  // The first connection initialises the room.
  if (!ctx.recall()) {
    if (auto s = ctx.save({ctx.now(), 0}); !s) co_return s;
  }
  auto* conn = ctx.connection();
  if (!conn) co_return {};
  co_return ctx.broadcast(UserJoined{conn->state().userId}, {.except = conn});
}

Task<Status> onEvent(Ctx& ctx, const Event& event) {
  auto* conn = ctx.connection();
  if (auto* say = std::get_if<Say>(&event)) {
    if (auto s = ctx.update([](State& st) { st.messageCount += 1; }); !s) co_return s;
    co_return ctx.broadcast(Message{say->text, conn ? conn->state().userId : "system", ctx.now()});
  }
  if (conn) co_return ctx.broadcast(TypingBy{conn->state().userId}, {.except = conn});
  co_return {};
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

rooms::Handlers<Chat> handlers() {
  rooms::Handlers<Chat> h;
  h.onConnect = onConnect;
  h.onEvent = onEvent;
  h.onClose = onClose;
  return h;
}

}  // namespace chat
