// A shared counter: everyone in a room sees the same count.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include <rooms/rooms.h>

namespace counter {

struct State { std::int64_t count = 0; };
ROOMS_STRUCT(State, count)                // the room's state, persisted

struct Connection { std::string userId; };
ROOMS_STRUCT(Connection, userId)          // per socket

struct Add { std::int64_t by = 1; };
ROOMS_TAGGED(Add, by)                     // {"_tag":"Add","by":2}
struct Reset {};
ROOMS_TAGGED(Reset)
using Event = std::variant<Add, Reset>;   // what clients send

struct Count { std::int64_t count; std::string by; };
ROOMS_TAGGED(Count, count, by)
using Broadcast = std::variant<Count>;    // what the room sends

using Counter = rooms::Room<"counter", State, Connection, Event, Broadcast>;

rooms::Handlers<Counter> handlers();

}  // namespace counter
