// The registry of the benchmark worker (bench/e2e/worker.js):
//   chat        the chat example's handlers on the spec's plain chat
//               declaration (chat::PlainChat: no presence, no resume, which
//               the JS rooms it is compared with lack too)
//   chat-quiet  the same room with joins and leaves unannounced, for the
//               scale row (bench/e2e/scale.mjs): 10,000 announced joins are
//               50 million frames, which would measure the join storm alone
//   chat-full   the example's own room (chat::Chat: presence, resume and the
//               heartbeat of chat::options()) under a name of its own,
//               chat::FullChat: what a deployed chat room costs
// all three with the budgets off. A benchmark socket sends far more frames per
// second than any chat user, and the example's own registration
// (wasm/examples/app.cpp) keeps the limits a real deployment wants; the
// rooms it is compared with have no limits either.
#include "rooms/module.h"

#include "chat/chat.h"

namespace {

using QuietChat = rooms::Room<"chat-quiet", chat::State, chat::Connection, chat::Event, chat::Broadcast>;
using Ctx = rooms::RoomCtx<QuietChat>;

rooms::Task<rooms::Status> onSay(Ctx& ctx, const chat::Say& say) {
  if (!ctx.recall()) ROOMS_TRY(ctx.save({ctx.now(), 0}));
  ROOMS_TRY(ctx.update([](chat::State& st) { st.messageCount += 1; }));
  auto* conn = ctx.connection();
  co_return ctx.broadcast(chat::Message{say.text, conn ? conn->state().userId : "system", ctx.now()});
}

rooms::Task<rooms::Status> onTyping(Ctx&, const chat::Typing&) { co_return {}; }

rooms::RoomOptions noBudgets() {
  return {.inboundFramesPerSecond = 0, .inboundBytesPerSecond = 0, .outboundBytesPerSecond = 0};
}

}  // namespace

ROOMS_MODULE([] {
  rooms::Registry reg;
  reg.add<chat::PlainChat>(chat::handlers<chat::PlainChat>(), noBudgets());
  reg.add<QuietChat>({.onEvent = rooms::dispatch(onSay, onTyping)}, noBudgets());
  rooms::RoomOptions full = noBudgets();
  full.heartbeat = chat::options().heartbeat;
  reg.add<chat::FullChat>(chat::handlers<chat::FullChat>(), full);
  return reg;
}());
