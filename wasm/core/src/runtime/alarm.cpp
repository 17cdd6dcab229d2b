#include "runtime/alarm.h"

#include <cmath>
#include <cstdint>

#include "rooms/json.h"

#include "runtime/instance.h"

namespace rooms::detail {

std::optional<double> AlarmClock::schedule() {
  if (!schedule_) {
    schedule_.emplace();
    if (auto raw = rt_.host().load(kAlarmKey)) {
      // A number as "%.17g" wrote it (a JSON number).
      json::Parser p;
      if (!p.parse(*raw, raw->size() + 1) && p.root().IsNumber()) *schedule_ = p.root().GetDouble();
      else rt_.logError("stored schedule is not a number; dropped: " + *raw);
    }
  }
  return *schedule_;
}

TimerTable& AlarmClock::load() {
  if (!timers_) {
    timers_.emplace();
    if (auto raw = rt_.host().load(kTimersKey); raw && !timers_->parse(*raw))
      rt_.logError("stored timers are not a JSON object; dropped");
  }
  return *timers_;
}

std::optional<double> AlarmClock::earliest() {
  auto a = schedule();
  auto t = load().earliest();
  if (a && t) return std::min(*a, *t);
  return a ? a : t;
}

void AlarmClock::know() {
  if (!platform_) platform_ = earliest();
}

void AlarmClock::sync(bool force) {
  if (chains_ > 0) return;  // chainEnded() syncs
  know();
  auto e = earliest();
  if (!force && e == *platform_) return;
  if (e) rt_.out().setAlarm(*e);
  else rt_.out().clearAlarm();
  platform_ = e;
}

AlarmClock::Change::Change(AlarmClock& a) : a_(a) { a_.know(); }

AlarmClock::Change::~Change() {
  if (timersChanged_) {
    if (a_.timers_->entries().empty()) a_.rt_.out().erase(kTimersKey);
    else a_.rt_.out().put(kTimersKey, a_.timers_->format());
  }
  a_.sync(force_);
}

TimerTable& AlarmClock::Change::timers() {
  timersChanged_ = true;
  return a_.load();
}

void AlarmClock::Change::setSchedule(std::optional<double> at) {
  a_.schedule_ = at;
  if (at) {
    // Whole milliseconds as an integer, as "%.17g" wrote them; anything else
    // in RapidJSON's shortest form (both read back exactly).
    if (*at == std::floor(*at) && std::fabs(*at) < 9e15) {
      a_.rt_.out().put(kAlarmKey, std::to_string(static_cast<std::int64_t>(*at)));
    } else {
      json::Buffer buf;
      json::Writer w(buf);
      w.Double(*at);
      a_.rt_.out().put(kAlarmKey, std::string_view(buf.GetString(), buf.GetSize()));
    }
  } else {
    a_.rt_.out().erase(kAlarmKey);
  }
  force_ = true;
}

Status AlarmClock::setTimer(std::string_view name, double at) {
  if (auto why = TimerTable::checkName(name)) return RoomError{*why};
  const auto& t = load();
  if (!t.at(name) && t.userCount() >= kMaxTimers)
    return RoomError{"room has " + std::to_string(t.userCount()) + " timers; the limit is " + std::to_string(kMaxTimers)};
  change().timers().set(name, at);
  return {};
}

Status AlarmClock::cancelTimer(std::string_view name) {
  if (auto why = TimerTable::checkName(name)) return RoomError{*why};
  if (load().at(name)) change().timers().erase(name);
  return {};
}

void AlarmClock::chainStarted(bool spent) {
  know();
  if (spent) *platform_ = std::nullopt;
  ++chains_;
}

void AlarmClock::chainEnded(bool force, bool sync) {
  --chains_;
  if (sync) this->sync(force);
}

}  // namespace rooms::detail
