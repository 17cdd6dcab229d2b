// The entries that share a room's one platform alarm, besides the spec's
// schedule (kAlarmKey, unchanged): named timers (ctx.timers()) and the
// runtime's own, whose names start with '$' ("$sweep", the stale-socket
// sweep). Stored under kTimersKey as one JSON object {"name": epoch ms, ...},
// rewritten whole on a change (at most kMaxTimers user entries of at most
// kMaxTimerNameLength bytes each). The platform alarm is always the earliest
// of every entry and the spec's schedule (instance.h keeps it so). Not for
// room authors.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "rooms/json.h"
#include "rooms/limits.h"

namespace rooms::detail {

// The runtime's entry for the stale-socket sweep.
inline constexpr std::string_view kSweepTimer = "$sweep";
// The spec's schedule, as named in kAlarmRetryKey.
inline constexpr std::string_view kSpecTimer = "$alarm";

class TimerTable {
 public:
  using Entries = std::map<std::string, double, std::less<>>;

  // Why `name` cannot be a user timer's name, or none.
  static std::optional<std::string> checkName(std::string_view name) {
    if (name.empty() || name.size() > kMaxTimerNameLength)
      return "timer name of " + std::to_string(name.size()) + " bytes; it must have 1 to " +
             std::to_string(kMaxTimerNameLength);
    if (name.front() == '$') return "timer names starting with '$' are reserved";
    return std::nullopt;
  }

  const Entries& entries() const { return entries_; }
  std::optional<double> at(std::string_view name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? std::nullopt : std::optional<double>(it->second);
  }
  std::size_t userCount() const {
    std::size_t n = 0;
    for (auto& [k, _] : entries_) n += k.front() != '$';
    return n;
  }
  std::optional<double> earliest() const {
    std::optional<double> e;
    for (auto& [_, t] : entries_)
      if (!e || t < *e) e = t;
    return e;
  }
  void set(std::string_view name, double at) { entries_[std::string(name)] = at; }
  bool erase(std::string_view name) {
    auto it = entries_.find(name);
    if (it == entries_.end()) return false;
    entries_.erase(it);
    return true;
  }
  // Drops the user's entries, keeps the runtime's.
  void clearUser() {
    for (auto it = entries_.begin(); it != entries_.end();) it = it->first.front() == '$' ? std::next(it) : entries_.erase(it);
  }

  std::string format() const {
    json::Buffer buf;
    json::Writer w(buf);
    w.StartObject();
    for (auto& [k, t] : entries_) {
      w.Key(k.data(), static_cast<json::SizeType>(k.size()));
      w.Int64(static_cast<std::int64_t>(std::llround(t)));
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }
  // Reads a stored table; entries that are not finite numbers are skipped.
  // False when the text is not a JSON object (the table is then empty).
  bool parse(std::string_view text) {
    entries_.clear();
    json::Parser p;
    if (p.parse(text, text.size() + 1) || !p.root().IsObject()) return false;
    const auto& root = p.root();
    for (auto m = root.MemberBegin(); m != root.MemberEnd(); ++m) {
      if (!m->value.IsNumber() || !std::isfinite(m->value.GetDouble()) || m->name.GetStringLength() == 0) continue;
      entries_[std::string(m->name.GetString(), m->name.GetStringLength())] = m->value.GetDouble();
    }
    return true;
  }

 private:
  Entries entries_;
};

}  // namespace rooms::detail
