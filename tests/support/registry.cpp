// The registry of the test builds: the chat example plus the probe room
// (alarms, traps, sibling calls) and the lobby (presence, topics, resume), for the native suites, the fuzz targets and
// the Wasm module of the end-to-end test worker. The example worker's module
// builds wasm/examples/app.cpp instead and serves the chat room alone.
#include "rooms/module.h"

#include "chat/chat.h"
#include "probe/lobby.h"
#include "probe/cursors.h"
#include "probe/liveness.h"
#include "probe/probe.h"

ROOMS_MODULE([] {
    rooms::Registry reg;
    // The chat room with the runtime's default options: the suites flood it
    // (budget and log-limiter tests). The example's own options
    // (chat::options(): heartbeat, 20 frames/s) are tested in
    // tests/native/liveness_test.cpp and served by the example worker.
    reg.add<chat::Chat>(chat::handlers());
    // A small inbound budget, so the end-to-end flood test is quick: 50
    // frames/s with a burst of 100 per connection (the chat room keeps the
    // defaults). Native tests send fewer than 100 frames on one connection
    // between clock moves.
    reg.add<probe::Probe>(probe::handlers(), {.inboundFramesPerSecond = 50, .inboundFrameBurst = 100});
    // Presence keyed by user, topics, resume with a buffer of 32 frames.
    reg.add<lobby::Lobby>(lobby::handlers(), lobby::options());
    // Coalesced delivery, for its end-to-end test: a 20 ms window.
    reg.add<cursors::Room>(cursors::handlers(), {.coalesce = {.windowMs = 20}});
    // Liveness and control: tests/support/probe/liveness.h.
    reg.add<live::Live>(live::handlers<live::Live>(), live::liveOptions());
    reg.add<live::Stale>(live::handlers<live::Stale>(), live::staleOptions());
    return reg;
}());
