// The benchmark's `durable-rooms-coalesced` room: the plain chat room with
// the budgets off (as bench/rooms/module.cpp) and coalesced delivery on:
// what a room owes each socket leaves every 20 ms as one frame (at most 100
// messages or 64 KiB), the batching Cloudflare's guidance recommends. Its own
// module, since a module serves one registration per room type.
#include "rooms/module.h"

#include "chat/chat.h"

ROOMS_MODULE(rooms::Registry().add<chat::PlainChat>(chat::handlers<chat::PlainChat>(), {
    .inboundFramesPerSecond = 0,
    .inboundBytesPerSecond = 0,
    .outboundBytesPerSecond = 0,
    .coalesce = {.windowMs = 20, .maxFrames = 100},
}));
