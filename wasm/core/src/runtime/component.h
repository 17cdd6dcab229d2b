// The fixed points at which the runtime calls its components. A component
// keeps its own state (per connection, by slot, when it needs any) and acts
// through the Runtime's services; a new capability is a component, its
// declaration (RoomOptions or a feature of rooms::Room) and its tests.
#pragma once

namespace rooms::detail {

struct ConnRecord;

class Component {
 public:
  virtual ~Component() = default;
  // A socket was accepted into `c.slot` (a slot may be reused: forget the
  // previous connection's data).
  virtual void accepted(ConnRecord&) {}
  // Its onConnect ended: well (ok) or not (then it is closed or closing).
  virtual void connectEnded(ConnRecord&, bool /*ok*/) {}
  // Before what others may know of it changes: its state is set, or it closes.
  virtual void changing(ConnRecord&) {}
  // Its record is about to be freed (the platform reported it closed and no
  // handler holds it any more).
  virtual void forget(ConnRecord&) {}
  // The event's handlers ran (or suspended): what a crossing owes leaves.
  virtual void crossingEnded() {}
};

}  // namespace rooms::detail
