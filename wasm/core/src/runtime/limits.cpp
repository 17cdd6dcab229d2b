#include "runtime/limits.h"

#include <algorithm>
#include <cmath>

#include "runtime/instance.h"

namespace rooms::detail {

Limits::Limits(Runtime& rt)
    : rt_(rt),
      outbound_(static_cast<double>(rt.options().outboundBytesPerSecond), 0),
      roomInbound_(rt.options().roomInboundFramesPerSecond, rt.options().roomInboundFrameBurst) {
  mayPersist_ = fresh().canLackMoreThan(kMinHibernationIdleMs);
}

InboundBudget Limits::fresh() const {
  const RoomOptions& o = rt_.options();
  return {TokenBucket(o.inboundFramesPerSecond, o.inboundFrameBurst),
          TokenBucket(static_cast<double>(o.inboundBytesPerSecond), static_cast<double>(o.inboundByteBurst))};
}

Limits::PerSlot& Limits::of(std::uint32_t slot) {
  // Grows only when a slot beyond every earlier one is first used.
  if (slot >= slots_.size())
    slots_.resize(std::max<std::size_t>(slot + 1, rt_.table().slotCount()), PerSlot{fresh()});
  return slots_[slot];
}

void Limits::accepted(ConnRecord& c) { of(c.slot) = PerSlot{fresh(), -1e300, true}; }

bool Limits::admit(ConnRecord& c, std::size_t size) {
  PerSlot& p = of(c.slot);
  InboundBudget& budget = p.budget;
  if (budget.unlimited() && roomInbound_.unlimited()) return true;
  const double now = rt_.nowMs();
  restore(c, p);
  if (!roomInbound_.unlimited() && roomInbound_.available(now) < 1) {
    overLimit(c, "room", roomInbound_.msUntil(1, now), size);
    return false;
  }
  switch (budget.check(size, now)) {
    case InboundBudget::Refusal::Frames:
      overLimit(c, "frames", budget.frames.msUntil(1, now), size);
      return false;
    case InboundBudget::Refusal::Bytes:
      overLimit(c, "bytes", budget.bytes.msUntil(static_cast<double>(size), now), size);
      return false;
    case InboundBudget::Refusal::None:
      break;
  }
  if (!roomInbound_.unlimited()) roomInbound_.drain(1);
  persist(c, budget, now);
  return true;
}

Status Limits::chargeOutbound(std::size_t bytes, std::size_t n) {
  if (outbound_.unlimited()) return {};
  double cost = static_cast<double>(bytes) * static_cast<double>(n);
  double now = rt_.nowMs();
  if (outbound_.take(cost, now)) return {};
  auto g = [](double v) { return LogLimiter::grouped(static_cast<std::uint64_t>(v)); };
  std::string why = "room " + std::string(rt_.type().name()) + "/" + std::string(rt_.id()) +
                    " is over its outbound budget: a frame of " + g(static_cast<double>(bytes)) + " bytes to " +
                    g(static_cast<double>(n)) + " recipient(s) is " + g(cost) + " bytes; " +
                    g(outbound_.available(now)) + " of the " + g(outbound_.rate()) +
                    " bytes per second (outboundBytesPerSecond) are left; not sent";
  rt_.logLimited(LogKind::OutboundBudget, LogLevel::Warn, [&] { return why; });
  return RoomError{std::move(why), /*logged=*/true};
}

void Limits::overLimit(ConnRecord& c, std::string_view which, double retryMs, std::size_t size) {
  const RoomOptions& o = rt_.options();
  const bool drop = o.overLimit == OverLimit::Drop;
  auto g = [](std::uint64_t v) { return LogLimiter::grouped(v); };
  auto limits = [&] {
    if (which == "room")
      return "the room's inbound limit (" + g(o.roomInboundFramesPerSecond) + " frames/s, burst " +
             g(o.roomInboundFrameBurst) + ")";
    return "its inbound budget (" + g(o.inboundFramesPerSecond) + " frames/s, burst " + g(o.inboundFrameBurst) +
           "; " + g(o.inboundBytesPerSecond) + " bytes/s, burst " + g(o.inboundByteBurst) + "; this frame " +
           g(size) + " bytes)";
  };
  auto outcome = drop ? std::string("frame dropped, RateLimitError sent (policy drop)")
                      : "closed with " + std::to_string(kCloseOverBudget);
  LogKind kind = drop ? LogKind::InboundDropped : which == "room" ? LogKind::RoomInbound : LogKind::InboundBudget;
  rt_.logLimited(kind, LogLevel::Warn, [&] { return "connection " + c.id + " is over " + limits() + ": " + outcome; });
  if (!drop) {
    (void)rt_.closeConn(c, kCloseOverBudget, kOverBudgetReason);
    return;
  }
  const double now = rt_.nowMs();
  PerSlot& p = of(c.slot);
  if (now - p.lastNotice < kRateLimitNoticeMs) return;  // one notice per interval: no amplification
  p.lastNotice = now;
  auto ms = static_cast<std::uint64_t>(std::max(1.0, std::ceil(retryMs)));
  rt_.flushOwed(c.slot);  // what it is owed goes before the notice
  std::string text = rateLimitFrame(which, ms);
  rt_.out().frame(text, &c.slot, 1);
}

void Limits::restore(ConnRecord& c, PerSlot& p) {
  if (!mayPersist_ || p.restored) return;
  p.restored = true;
  rt_.readAttachment(c);
  if (auto& snap = c.runtime.bucket) {
    p.budget.frames.restore(snap->frames, snap->atMs);
    p.budget.bytes.restore(snap->bytes, snap->atMs);
  }
}

// A bucket that a hibernation could not refill is kept in the attachment;
// one that it would refill needs nothing (and an old snapshot is dropped).
void Limits::persist(ConnRecord& c, InboundBudget& b, double now) {
  if (!mayPersist_) return;
  if (b.lacksMoreThan(kMinHibernationIdleMs)) {
    c.runtime.bucket = BucketSnapshot{b.frames.tokens(), b.bytes.tokens(), now};
    (void)rt_.writeAttachment(c);
  } else if (c.runtime.bucket) {
    c.runtime.bucket.reset();
    (void)rt_.writeAttachment(c);
  }
}

}  // namespace rooms::detail
