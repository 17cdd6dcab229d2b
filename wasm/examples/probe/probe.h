// The probe room: a room type for tests of what the chat example does not
// exercise: alarms and their retries, purge, sibling calls, handler errors
// and onError, attachment caps, server-side closes, and (in the Wasm build)
// deliberate traps for crash-recovery tests. Not for production use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "chat/chat.h"
#include "rooms/room.h"

namespace probe {

struct State {
  std::int64_t events = 0;
  std::int64_t alarms = 0;
  std::int32_t failAlarms = 0;  // onAlarm fails while this is > 0
  static constexpr auto schema() {
    return rooms::fields(rooms::field("events", &State::events), rooms::field("alarms", &State::alarms),
                         rooms::field("failAlarms", &State::failAlarms));
  }
};

struct Connection {
  std::string name;
  std::optional<std::string> pad;
  static constexpr auto schema() {
    return rooms::fields(rooms::field("name", &Connection::name), rooms::optionalField("pad", &Connection::pad));
  }
};

#define PROBE_EVENT(T, ...)                        \
  static constexpr std::string_view tag = #T;      \
  static constexpr auto schema() { return rooms::fields(__VA_ARGS__); }

struct Ping { PROBE_EVENT(Ping) };
struct Fail {
  std::string message;
  PROBE_EVENT(Fail, rooms::field("message", &Fail::message))
};
struct Trap {
  std::string kind;  // abort | unreachable | oob | throw
  PROBE_EVENT(Trap, rooms::field("kind", &Trap::kind))
};
struct Schedule {
  double inMs = 0;
  PROBE_EVENT(Schedule, rooms::field("inMs", &Schedule::inMs))
};
struct Cancel { PROBE_EVENT(Cancel) };
struct FailAlarms {
  std::int32_t times = 0;
  PROBE_EVENT(FailAlarms, rooms::field("times", &FailAlarms::times))
};
struct Purge { PROBE_EVENT(Purge) };
struct Grow {
  std::string pad;
  PROBE_EVENT(Grow, rooms::field("pad", &Grow::pad))
};
struct AskChat {
  std::string roomId;
  std::string text;
  PROBE_EVENT(AskChat, rooms::field("roomId", &AskChat::roomId), rooms::field("text", &AskChat::text))
};
struct AskMissing { PROBE_EVENT(AskMissing) };
struct Kick {
  std::string id;
  std::int32_t code = 4000;
  std::string reason;
  PROBE_EVENT(Kick, rooms::field("id", &Kick::id), rooms::field("code", &Kick::code),
              rooms::field("reason", &Kick::reason))
};
using Event = std::variant<Ping, Fail, Trap, Schedule, Cancel, FailAlarms, Purge, Grow, AskChat, AskMissing, Kick>;

struct Pong {
  std::int64_t events = 0;
  std::int64_t sinceWake = 0;  // pings served by this instance of the core
  std::optional<double> nextAlarm;
  std::string connection;      // the sender's id and name, "" for direct sends
  PROBE_EVENT(Pong, rooms::field("events", &Pong::events), rooms::field("sinceWake", &Pong::sinceWake),
              rooms::field("nextAlarm", &Pong::nextAlarm), rooms::field("connection", &Pong::connection))
};
struct AlarmRan {
  std::int64_t alarms = 0;
  std::int32_t retryCount = 0;
  std::optional<std::string> failure;  // the SystemFailure cause on retries
  PROBE_EVENT(AlarmRan, rooms::field("alarms", &AlarmRan::alarms), rooms::field("retryCount", &AlarmRan::retryCount),
              rooms::field("failure", &AlarmRan::failure))
};
struct ErrorSeen {
  std::string phase;
  std::string errorTag;
  std::string message;
  PROBE_EVENT(ErrorSeen, rooms::field("phase", &ErrorSeen::phase), rooms::field("errorTag", &ErrorSeen::errorTag),
              rooms::field("message", &ErrorSeen::message))
};
struct ChatSeen {
  std::optional<double> messageCount;
  std::string asker;  // the sender's id, read after the calls returned
  PROBE_EVENT(ChatSeen, rooms::field("messageCount", &ChatSeen::messageCount), rooms::field("asker", &ChatSeen::asker))
};
struct GrowResult {
  std::string outcome;  // "ok" or the error's _tag
  PROBE_EVENT(GrowResult, rooms::field("outcome", &GrowResult::outcome))
};
using Broadcast = std::variant<Pong, AlarmRan, ErrorSeen, ChatSeen, GrowResult>;

#undef PROBE_EVENT

struct Probe {
  static constexpr std::string_view name = "probe";
  using State = probe::State;
  using Connection = probe::Connection;
  using Event = probe::Event;
  using Broadcast = probe::Broadcast;
};

rooms::Handlers<Probe> handlers();

}  // namespace probe
