// Budgets of a room instance: token buckets for the inbound budget of each
// connection and the outbound budget of the room (RoomOptions in limits.h),
// and the limiter that keeps repeated warnings of one kind from flooding the
// log. Everything here is O(1) and allocation-free: it runs once per frame.
// Times are milliseconds of the platform's clock (Host::now()). Not for room
// authors.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace rooms {

// `rate` tokens per second, at most `capacity` held; starts full. A rate of
// 0 is unlimited. The clock may stand still (Cloudflare advances Date.now()
// only between I/O) or step back; neither adds tokens.
class TokenBucket {
 public:
  TokenBucket() = default;
  // A capacity of 0 holds one second's worth.
  TokenBucket(double rate, double capacity)
      : rate_(rate), capacity_(capacity > 0 ? capacity : rate), tokens_(capacity_) {}

  bool unlimited() const { return rate_ <= 0; }
  double rate() const { return rate_; }
  double capacity() const { return capacity_; }

  // Tokens held at `nowMs`.
  double available(double nowMs) {
    refill(nowMs);
    return tokens_;
  }
  // Takes `n` tokens if the bucket holds them; otherwise takes none.
  bool take(double n, double nowMs) {
    if (unlimited()) return true;
    refill(nowMs);
    if (n > tokens_) return false;
    tokens_ -= n;
    return true;
  }
  // Takes `n` tokens, going into debt if need be (the next refills pay it).
  void drain(double n) { tokens_ -= n; }
  // Milliseconds until the bucket holds `n` tokens (0 when it does; when `n`
  // is over the capacity, until it is full).
  double msUntil(double n, double nowMs) {
    if (unlimited()) return 0;
    double lack = std::min(n, capacity_) - available(nowMs);
    return lack <= 0 ? 0 : lack * 1000.0 / rate_;
  }
  // The tokens held and the time they were counted at (after a refill).
  double tokens() const { return tokens_; }
  // Tokens lacking to a full bucket, at the last refill.
  double deficit() const { return capacity_ - tokens_; }
  // Back to a snapshot of tokens() taken at atMs.
  void restore(double tokens, double atMs) {
    tokens_ = std::min(capacity_, tokens);
    last_ = atMs;
    started_ = true;
  }

 private:
  void refill(double nowMs) {
    if (!started_ || nowMs < last_) {
      started_ = true;
      last_ = nowMs;
      return;
    }
    tokens_ = std::min(capacity_, tokens_ + (nowMs - last_) * rate_ / 1000.0);
    last_ = nowMs;
  }

  double rate_ = 0;
  double capacity_ = 0;
  double tokens_ = 0;
  double last_ = 0;
  bool started_ = false;
};

// The inbound budget of one connection: frames and bytes.
struct InboundBudget {
  TokenBucket frames;
  TokenBucket bytes;

  enum class Refusal : std::uint8_t { None, Frames, Bytes };

  bool unlimited() const { return frames.unlimited() && bytes.unlimited(); }
  // Counts one frame of `size` bytes; false when either bucket lacks it
  // (then neither is charged).
  // Whether a frame of `size` bytes may pass (both buckets are charged) or which bucket refused it.
  Refusal check(std::size_t size, double nowMs) {
    double n = static_cast<double>(size);
    if (!frames.unlimited() && frames.available(nowMs) < 1) return Refusal::Frames;
    if (!bytes.unlimited() && bytes.available(nowMs) < n) return Refusal::Bytes;
    if (!frames.unlimited()) frames.drain(1);
    if (!bytes.unlimited()) bytes.drain(n);
    return Refusal::None;
  }
  // Whether a hibernation (kMinHibernationIdleMs at least) may end before
  // either bucket is full again: then its state must outlive the wake.
  bool lacksMoreThan(double ms) const {
    auto lacks = [&](const TokenBucket& b) { return !b.unlimited() && b.deficit() > b.rate() * ms / 1000.0; };
    return lacks(frames) || lacks(bytes);
  }
  // Whether any state of these buckets can lack more than `ms` of refill.
  bool canLackMoreThan(double ms) const {
    auto can = [&](const TokenBucket& b) { return !b.unlimited() && b.capacity() > b.rate() * ms / 1000.0; };
    return can(frames) || can(bytes);
  }
};

// Warnings the room rate-limits, one counter each.
enum class LogKind : std::uint8_t {
  BadFrame,        // a frame failed the event schema (no onDecodeError)
  InboundBudget,   // a connection went over its inbound budget
  OutboundBudget,  // the room went over its outbound budget
  BadAttachment,   // an attachment does not match the connection schema
  InboundDropped,  // a frame over an inbound limit was dropped (policy Drop)
  RoomInbound,     // a frame over the room-wide inbound limit
  Stale,           // the sweep closed stale sockets
  Count
};

// Per room and kind: the first warning of a window is logged, the rest are
// counted, and the next one logged after the window says how many were left
// out. In memory, so a wake starts afresh.
class LogLimiter {
 public:
  static constexpr double kWindowMs = 10'000;

  // Whether a warning of `kind` at `nowMs` is logged. When it is, `note` is
  // what to append: empty, or " (and 9,999 more like it in the last 12 s)".
  bool admit(LogKind kind, double nowMs, std::string& note) {
    Slot& s = slots_[static_cast<std::size_t>(kind)];
    if (s.started && nowMs - s.since < kWindowMs && nowMs >= s.since) {
      ++s.suppressed;
      return false;
    }
    note.clear();
    if (s.suppressed > 0) {
      double seconds = std::max(0.0, (nowMs - s.since) / 1000.0);
      note = " (and " + grouped(s.suppressed) + " more like it in the last " +
             grouped(static_cast<std::uint64_t>(seconds + 0.5)) + " s)";
    }
    s.started = true;
    s.since = nowMs;
    s.suppressed = 0;
    return true;
  }

  // 1234567 → "1,234,567".
  static std::string grouped(std::uint64_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    out.reserve(digits.size() + digits.size() / 3);
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
      out.push_back(digits[i]);
    }
    return out;
  }

 private:
  struct Slot {
    bool started = false;
    double since = 0;
    std::uint64_t suppressed = 0;
  };
  std::array<Slot, static_cast<std::size_t>(LogKind::Count)> slots_{};
};

}  // namespace rooms
