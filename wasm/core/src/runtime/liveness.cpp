#include "runtime/liveness.h"

#include <algorithm>

#include "runtime/instance.h"

namespace rooms::detail {

Liveness::Liveness(Runtime& rt, const Heartbeat& hb)
    : rt_(rt),
      staleMs_(static_cast<double>(hb.staleAfter.count())),
      sweepMs_(hb.sweepEvery.count() > 0 ? static_cast<double>(hb.sweepEvery.count()) : staleMs_ / 4) {}

double& Liveness::lastFrame(std::uint32_t slot) {
  if (slot >= lastFrame_.size()) lastFrame_.resize(slot + 1, 0);
  return lastFrame_[slot];
}

void Liveness::accepted(ConnRecord& c) {
  double now = rt_.nowMs();
  lastFrame(c.slot) = now;
  c.runtime.seen = now;
}

// When `c` was last heard from by frames, as late as it can have been.
double Liveness::lastActivity(ConnRecord& c, double now) {
  double& last = lastFrame(c.slot);
  if (last > 0) return last;
  rt_.readAttachment(c);
  if (c.runtime.seen) {
    // Persisted at most a quarter of staleAfter before the last frame.
    last = *c.runtime.seen + staleMs_ / 4;
  } else {
    // No record (accepted before the heartbeat was on): counted from now.
    last = now;
    c.runtime.seen = now;
    (void)rt_.writeAttachment(c);
  }
  return last;
}

void Liveness::noteFrame(ConnRecord& c) {
  const double now = rt_.nowMs();
  lastFrame(c.slot) = now;
  rt_.readAttachment(c);
  // Rewritten only when the stored time is over a quarter of staleAfter old.
  if (!c.runtime.seen || *c.runtime.seen < now - staleMs_ / 4) {
    c.runtime.seen = now;
    (void)rt_.writeAttachment(c);
  }
}

void Liveness::sweep() {
  auto change = rt_.alarmClock().change();
  const double now = rt_.nowMs();
  std::optional<double> nextStale;
  std::size_t closed = 0;
  ConnectionTable& table = rt_.table();
  const std::vector<std::uint32_t> open = table.order();
  for (auto s : open) {
    ConnRecord& c = *table.bySlot(s);
    double last = lastActivity(c, now);
    if (now - last >= staleMs_)
      if (auto ping = rt_.host().autoResponseTime(c.slot)) last = std::max(last, *ping);
    if (now - last >= staleMs_) {
      (void)rt_.closeConn(c, kCloseStale, kStaleReason);
      ++closed;
      continue;
    }
    nextStale = nextStale ? std::min(*nextStale, last + staleMs_) : last + staleMs_;
  }
  if (closed > 0) {
    rt_.logLimited(LogKind::Stale, LogLevel::Info, [&] {
      return "closed " + LogLimiter::grouped(closed) + " socket(s) silent for " +
             LogLimiter::grouped(static_cast<std::uint64_t>(staleMs_)) + " ms or more with " +
             std::to_string(kCloseStale) + " \"" + std::string(kStaleReason) + "\"";
    });
  }
  // At most once per sweepEvery, and only while sockets remain.
  if (nextStale) change.timers().set(kSweepTimer, std::max(now + sweepMs_, *nextStale));
  else change.timers().erase(kSweepTimer);
}

void Liveness::arm() {
  if (rt_.alarmClock().timers().at(kSweepTimer)) return;
  rt_.alarmClock().change().timers().set(kSweepTimer, rt_.nowMs() + std::max(staleMs_, sweepMs_));
}

void Liveness::disarmIfEmpty() {
  if (!rt_.table().order().empty() || !rt_.alarmClock().timers().at(kSweepTimer)) return;
  rt_.alarmClock().change().timers().erase(kSweepTimer);
}

}  // namespace rooms::detail
