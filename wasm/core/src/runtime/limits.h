// The budgets (RoomOptions): per connection inbound (frames and bytes,
// checked before a frame is decoded), room-wide inbound, and the room's
// outbound bytes × recipients. Token buckets in memory; a per-connection
// bucket that a hibernation could not refill is kept in the attachment
// (RuntimeRecord::bucket) so a wake does not hand a sender a fresh burst.
#pragma once

#include <cstdint>
#include <vector>

#include "rooms/errors.h"
#include "runtime/budget.h"
#include "runtime/component.h"

namespace rooms::detail {

class Runtime;

class Limits final : public Component {
 public:
  explicit Limits(Runtime& rt);

  void accepted(ConnRecord& c) override;
  // Whether a frame of `size` bytes from `c` may go on; if not, the
  // OverLimit policy was applied (closed, or dropped with a RateLimitError).
  bool admit(ConnRecord& c, std::size_t size);
  // Charges bytes × n to the outbound budget; a RoomError (logged already,
  // rate-limited, and marked so) when it lacks them.
  Status chargeOutbound(std::size_t bytes, std::size_t n);

 private:
  struct PerSlot {
    InboundBudget budget;
    double lastNotice = -1e300;  // the last RateLimitError sent
    bool restored = false;       // the bucket was read back from the attachment
  };
  InboundBudget fresh() const;
  PerSlot& of(std::uint32_t slot);
  void overLimit(ConnRecord& c, std::string_view which, double retryMs, std::size_t size);
  void restore(ConnRecord& c, PerSlot& p);
  void persist(ConnRecord& c, InboundBudget& b, double now);

  Runtime& rt_;
  std::vector<PerSlot> slots_;  // by slot; after a wake every bucket starts full
  TokenBucket outbound_;
  TokenBucket roomInbound_;
  bool mayPersist_ = false;  // a slow bucket: snapshots in attachments
};

}  // namespace rooms::detail
