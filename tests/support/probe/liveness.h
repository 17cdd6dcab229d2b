// The liveness rooms: room types for the tests of liveness and control (heartbeat, stale
// sweep, named timers, inbound limits with the Drop policy). One set of
// schemas and handlers, registered twice with different options
// (tests/support/registry.cpp):
//   "live"   heartbeat with a long stale timeout (the room can hibernate
//            between pings), named timers, 5 frames/s (burst 10) per
//            connection and 40 frames/s (burst 40) room-wide, policy Drop
//   "stale"  heartbeat with staleAfter 3 s, sweepEvery 1 s
// Registered by the test builds only; not for production use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rooms/rooms.h"

namespace live {

struct State {
  std::vector<std::string> fired;  // alarm entries in the order they ran: timer names, "$schedule"
  std::vector<std::string> left;   // connections whose onClose ran
  std::int32_t failTimes = 0;      // the next failTimes runs of timer `failName` fail
  std::string failName;
};
ROOMS_STRUCT(State, fired, left, failTimes, failName)

struct Connection {
  std::string name;
};
ROOMS_STRUCT(Connection, name)

// Inbound.
struct Hello {};
ROOMS_TAGGED(Hello)
struct SetTimer { std::string name; double inMs = 0; };
ROOMS_TAGGED(SetTimer, name, inMs)
struct CancelTimer { std::string name; };
ROOMS_TAGGED(CancelTimer, name)
struct Schedule { double inMs = 0; };
ROOMS_TAGGED(Schedule, inMs)
struct Echo { std::int32_t n = 0; };
ROOMS_TAGGED(Echo, n)
struct FailTimer { std::string name; std::int32_t times = 0; };
ROOMS_TAGGED(FailTimer, name, times)
using Event = std::variant<Hello, SetTimer, CancelTimer, Schedule, Echo, FailTimer>;

// Outbound.
struct Hi {
  std::vector<std::string> fired;
  std::vector<std::string> left;
  std::optional<rooms::Timestamp> next;  // ctx.timers().next of the last SetTimer's name
};
ROOMS_TAGGED(Hi, fired, left, next)
struct Fired {
  std::string name;                    // the timer, or "$schedule"
  std::optional<std::string> failure;  // the SystemFailure cause on retries
};
ROOMS_TAGGED(Fired, name, failure)
struct TimerSet { std::string outcome; };  // "ok" or the error's message
ROOMS_TAGGED(TimerSet, outcome)
struct Echoed { std::int32_t n = 0; };
ROOMS_TAGGED(Echoed, n)
struct Left { std::string id; };
ROOMS_TAGGED(Left, id)
using Broadcast = std::variant<Hi, Fired, TimerSet, Echoed, Left>;

using Live = rooms::Room<"live", State, Connection, Event, Broadcast>;
using Stale = rooms::Room<"stale", State, Connection, Event, Broadcast>;
// Not in the module registry: native tests register it with options of their own.
using Slow = rooms::Room<"slow", State, Connection, Event, Broadcast>;

template <class R>
rooms::Handlers<R> handlers();
extern template rooms::Handlers<Live> handlers<Live>();
extern template rooms::Handlers<Stale> handlers<Stale>();
extern template rooms::Handlers<Slow> handlers<Slow>();

rooms::RoomOptions liveOptions();
rooms::RoomOptions staleOptions();

}  // namespace live
