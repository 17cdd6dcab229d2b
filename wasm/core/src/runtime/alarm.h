// The room's one platform alarm, shared by the spec's schedule (kAlarmKey),
// named timers and the runtime's own entries (timers.h). The platform alarm
// is always the earliest of them: every change happens inside a Change, which
// learns the platform's alarm before it and tells the platform the new
// earliest after it (a SetAlarm or ClearAlarm effect only when it moved,
// or always for the schedule's own calls). While an alarm's handlers run
// (a chain), the platform is told at its end, so a failing alarm never
// replaces the platform's retry.
#pragma once

#include <optional>
#include <string_view>

#include "rooms/errors.h"
#include "runtime/timers.h"

namespace rooms::detail {

class Runtime;

class AlarmClock {
 public:
  explicit AlarmClock(Runtime& rt) : rt_(rt) {}

  // The schedule and the timers, read from storage on first need per wake.
  std::optional<double> schedule();
  const TimerTable& timers() { return load(); }
  std::optional<double> earliest();

  class Change {
   public:
    Change(const Change&) = delete;
    ~Change();
    // The timers, to change; they are stored when the Change ends.
    TimerTable& timers();
    // The schedule: stored now; the platform is told even if the earliest
    // entry did not move.
    void setSchedule(std::optional<double> at);

   private:
    friend class AlarmClock;
    explicit Change(AlarmClock& a);
    AlarmClock& a_;
    bool timersChanged_ = false;
    bool force_ = false;
  };
  Change change() { return Change(*this); }

  Status setTimer(std::string_view name, double at);
  Status cancelTimer(std::string_view name);

  // The platform's alarm fired: it is spent (deleting it would cancel its
  // retries), and the platform is told of the next one when the chain ends.
  void chainStarted(bool spent);
  // `sync`: tell the platform the earliest entry now (not when a retry of
  // this alarm is coming: the platform keeps it).
  void chainEnded(bool force, bool sync);

 private:
  TimerTable& load();
  void know();
  void sync(bool force);

  Runtime& rt_;
  std::optional<std::optional<double>> schedule_;  // outer: read this wake
  std::optional<TimerTable> timers_;
  std::optional<std::optional<double>> platform_;  // the alarm as this instance left it
  int chains_ = 0;
};

}  // namespace rooms::detail
