// The example's module (chat) plus the starter's counter room: what one more
// room type adds to a module's Wasm (scripts/bench.sh prints the difference
// against dist/wasm/core.wasm).
#include "chat/chat.h"
#include "counter.h"
#include "rooms/module.h"

ROOMS_MODULE(rooms::Registry().add<chat::Chat>(chat::handlers(), chat::options()).add<counter::Counter>(counter::handlers()));
