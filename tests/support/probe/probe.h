// The probe room: a room type for tests of what the chat example does not
// exercise: alarms and their retries, purge, sibling calls, handler errors
// and onError, attachment caps, server-side closes, and (in the Wasm build)
// deliberate traps for crash-recovery tests, also behind a sibling call. Registered by the test builds
// only (tests/support/registry.cpp); not for production use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "chat/chat.h"
#include "rooms/rooms.h"

namespace probe {

struct State {
  std::int64_t events = 0;
  std::int64_t alarms = 0;
  std::int32_t failAlarms = 0;  // onAlarm fails while this is > 0
};
ROOMS_STRUCT(State, events, alarms, failAlarms)

struct Connection {
  std::string name;
  rooms::Optional<std::string> pad;
};
ROOMS_STRUCT(Connection, name, pad)

// Inbound.
struct Ping {};
ROOMS_TAGGED(Ping)
struct Fail { std::string message; };
ROOMS_TAGGED(Fail, message)
struct Trap { rooms::OneOf<"abort", "unreachable", "oob", "throw"> kind; };
ROOMS_TAGGED(Trap, kind)
struct Schedule { double inMs = 0; };
ROOMS_TAGGED(Schedule, inMs)
struct Cancel {};
ROOMS_TAGGED(Cancel)
struct FailAlarms { std::int32_t times = 0; };
ROOMS_TAGGED(FailAlarms, times)
struct Purge {};
ROOMS_TAGGED(Purge)
struct Grow { std::string pad; };
ROOMS_TAGGED(Grow, pad)
struct AskChat { std::string roomId, text; };
ROOMS_TAGGED(AskChat, roomId, text)
struct AskMissing {};
ROOMS_TAGGED(AskMissing)
struct Kick { std::string id; std::int32_t code = 4000; std::string reason; };
ROOMS_TAGGED(Kick, id, code, reason)
// Sends Trap{kind} to the probe room `roomId` (a sibling call) and
// broadcasts Relayed with the outcome.
struct Relay { std::string roomId; rooms::OneOf<"abort", "unreachable", "oob", "throw"> kind; };
ROOMS_TAGGED(Relay, roomId, kind)
using Event =
    std::variant<Ping, Fail, Trap, Schedule, Cancel, FailAlarms, Purge, Grow, AskChat, AskMissing, Kick, Relay>;

// Outbound.
struct Pong {
  std::int64_t events = 0;
  std::int64_t sinceWake = 0;  // pings served by this instance of the core
  std::optional<rooms::Timestamp> nextAlarm;
  std::string connection;      // the sender's id and name, "" for direct sends
  std::string room;            // the room's id, as the core knows it
};
ROOMS_TAGGED(Pong, events, sinceWake, nextAlarm, connection, room)
struct AlarmRan {
  std::int64_t alarms = 0;
  std::int32_t retryCount = 0;
  std::optional<std::string> failure;  // the SystemFailure cause on retries
};
ROOMS_TAGGED(AlarmRan, alarms, retryCount, failure)
struct ErrorSeen { std::string phase, errorTag, message; };
ROOMS_TAGGED(ErrorSeen, phase, errorTag, message)
struct ChatSeen {
  std::optional<double> messageCount;
  std::string asker;  // the sender's id, read after the calls returned
};
ROOMS_TAGGED(ChatSeen, messageCount, asker)
struct GrowResult { std::string outcome; };  // "ok" or the error's _tag
ROOMS_TAGGED(GrowResult, outcome)
struct Relayed {
  std::string outcome;  // "ok" or the _tag of the error the call returned
  std::string message;  // the error's message, "" when ok
  std::string asker;    // the sender's id, read after the call returned
};
ROOMS_TAGGED(Relayed, outcome, message, asker)
using Broadcast = std::variant<Pong, AlarmRan, ErrorSeen, ChatSeen, GrowResult, Relayed>;

using Probe = rooms::Room<"probe", State, Connection, Event, Broadcast>;

rooms::Handlers<Probe> handlers();

}  // namespace probe
