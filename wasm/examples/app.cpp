// The registry the example worker serves: the chat room. (The test builds
// link tests/support/registry.cpp instead, which adds the probe room.)
#include "app.h"

#include "chat/chat.h"

namespace app {

const rooms::Registry& registry() {
  static const rooms::Registry r = [] {
    rooms::Registry reg;
    reg.add<chat::Chat>(chat::handlers());
    return reg;
  }();
  return r;
}

}  // namespace app
