// The registry the example worker serves: the chat room and the probe room.
#include "app.h"

#include "chat/chat.h"
#include "probe/probe.h"

namespace app {

const rooms::Registry& registry() {
  static const rooms::Registry r = [] {
    rooms::Registry reg;
    reg.add<chat::Chat>(chat::handlers());
    reg.add<probe::Probe>(probe::handlers());
    return reg;
  }();
  return r;
}

}  // namespace app
