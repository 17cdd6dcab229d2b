// The registry of the benchmark worker (bench/e2e/worker.js): the chat
// example's handlers, registered with the budgets off. A benchmark socket
// sends far more frames per second than any chat user, and the example's own
// registration (wasm/examples/app.cpp) keeps the limits a real deployment
// wants; the rooms it is compared with have no limits either.
#include "rooms/module.h"

#include "chat/chat.h"

ROOMS_MODULE(rooms::Registry().add<chat::Chat>(chat::handlers(), {
    .inboundFramesPerSecond = 0,
    .inboundBytesPerSecond = 0,
    .outboundBytesPerSecond = 0,
}));
