// The cursors room: a small room for the tests of coalesced delivery
// (RoomOptions::coalesce): cursor moves broadcast with a latest-value-wins
// key, chat lines, and a goodbye followed by a close. Registered by the test
// builds with a 20 ms window (tests/support/registry.cpp); the native tests
// register it with other windows and caps.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "rooms/rooms.h"

namespace cursors {

struct State { std::int64_t moves = 0; };
ROOMS_STRUCT(State, moves)
struct Connection { std::string userId; };
ROOMS_STRUCT(Connection, userId)

struct Move { std::int64_t x = 0, y = 0; };
ROOMS_TAGGED(Move, x, y)
struct Say { std::string text; };
ROOMS_TAGGED(Say, text)
struct Bye {};
ROOMS_TAGGED(Bye)
using Event = std::variant<Move, Say, Bye>;

struct Cursor { std::string userId; std::int64_t x = 0, y = 0; };
ROOMS_TAGGED(Cursor, userId, x, y)
struct Said { std::string userId, text; };
ROOMS_TAGGED(Said, userId, text)
struct Goodbye {};
ROOMS_TAGGED(Goodbye)
using Broadcast = std::variant<Cursor, Said, Goodbye>;

using Room = rooms::Room<"cursors", State, Connection, Event, Broadcast>;

rooms::Handlers<Room> handlers();

}  // namespace cursors
