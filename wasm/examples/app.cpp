// The registry the example worker serves: the chat room. (The test builds
// use tests/support/registry.cpp instead, which adds the probe room.)
#include "rooms/module.h"

#include "chat/chat.h"

ROOMS_MODULE(rooms::Registry().add<chat::Chat>(chat::handlers(), chat::options()));
