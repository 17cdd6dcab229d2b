// The cursors room's handlers (cursors.h).
#include "probe/cursors.h"

namespace cursors {

rooms::Handlers<Room> handlers() {
  auto user = [](rooms::RoomCtx<Room>& ctx) { return ctx.connection()->state().userId; };
  auto onMove = [user](rooms::RoomCtx<Room>& ctx, const Move& m) -> rooms::Task<rooms::Status> {
    // A cursor is state-like: only the newest per user per window matters.
    std::string key = "cursor:" + user(ctx);
    co_return ctx.broadcast(Cursor{user(ctx), m.x, m.y}, {.except = ctx.connection(), .latest = key});
  };
  auto onSay = [user](rooms::RoomCtx<Room>& ctx, const Say& s) -> rooms::Task<rooms::Status> {
    co_return ctx.broadcast(Said{user(ctx), s.text});
  };
  auto onBye = [](rooms::RoomCtx<Room>& ctx, const Bye&) -> rooms::Task<rooms::Status> {
    ROOMS_TRY(ctx.connection()->send(Goodbye{}));
    co_return ctx.connection()->close(1000, "bye");
  };
  return {.onEvent = rooms::dispatch(onMove, onSay, onBye)};
}

}  // namespace cursors
