// Heartbeat and the stale sweep (RoomOptions::heartbeat): the platform
// answers pings while the room sleeps; the room notes every frame's time and
// a sweep, a runtime timer on the room's alarm ("$sweep"), closes sockets
// silent for staleAfter. The time is persisted coarsely in the attachment
// (RuntimeRecord::seen, at most a quarter of staleAfter old) and read back
// as late as it can have been, so a socket is never closed early.
#pragma once

#include <cstdint>
#include <vector>

#include "rooms/limits.h"
#include "runtime/component.h"

namespace rooms::detail {

class Runtime;

class Liveness final : public Component {
 public:
  Liveness(Runtime& rt, const Heartbeat& hb);

  void accepted(ConnRecord& c) override;
  // A frame arrived from `c`: any frame is a sign of life.
  void noteFrame(ConnRecord& c);
  // The "$sweep" timer fired.
  void sweep();
  // Sets the sweep timer unless set; removes it when no socket is left.
  void arm();
  void disarmIfEmpty();

 private:
  double lastActivity(ConnRecord& c, double now);
  double& lastFrame(std::uint32_t slot);

  Runtime& rt_;
  double staleMs_, sweepMs_;
  std::vector<double> lastFrame_;  // by slot: the last frame's exact time this wake (0: none)
};

}  // namespace rooms::detail
