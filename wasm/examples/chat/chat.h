// The chat room of the spec's quick start, in C++: four schemas and the
// handlers. Served by worker/ on Cloudflare and driven natively by
// tests/native/chat_test.cpp through the in-memory runtime.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "rooms/rooms.h"

namespace chat {

struct State { rooms::Timestamp createdAt; std::int64_t messageCount = 0; };
ROOMS_STRUCT(State, createdAt, messageCount)

struct Connection { std::string userId; rooms::Timestamp joinedAt; };
ROOMS_STRUCT(Connection, userId, joinedAt)

// Inbound.
struct Say { std::string text; };
ROOMS_TAGGED(Say, text)
struct Typing {};
ROOMS_TAGGED(Typing)
using Event = std::variant<Say, Typing>;

// Outbound.
struct Message { std::string text, userId; rooms::Timestamp ts; };
ROOMS_TAGGED(Message, text, userId, ts)
struct UserJoined { std::string userId; };
ROOMS_TAGGED(UserJoined, userId)
struct UserLeft { std::string userId; };
ROOMS_TAGGED(UserLeft, userId)
struct TypingBy { std::string userId; };
ROOMS_TAGGED_AS(TypingBy, "Typing", userId)
using Broadcast = std::variant<Message, UserJoined, UserLeft, TypingBy>;

// The online list: one presence key per user (two tabs are one user with
// two entries), and what every socket sees of each.
struct Online { std::string userId; rooms::Timestamp joinedAt; };
ROOMS_STRUCT(Online, userId, joinedAt)
inline Online online(const Connection& c) { return {c.userId, c.joinedAt}; }
inline std::string userKey(const Connection& c) { return c.userId; }

// Presence (an online list) and resume (a client that reconnects with the
// last "$seq" it saw gets the messages it missed).
using Chat = rooms::Room<"chat", State, Connection, Event, Broadcast, rooms::Presence<&online, &userKey>, rooms::Resume>;
// The spec's chat room as it stands, without either: what bench/ serves,
// like for like with the hand-written JS room it is compared with.
using PlainChat = rooms::Room<"chat", State, Connection, Event, Broadcast>;
// Chat itself under another name, for bench/ (whose module already serves
// PlainChat as "chat"): the example's room as it deploys, presence, resume
// and (registered with options()' heartbeat) the heartbeat.
using FullChat = rooms::Room<"chat-full", State, Connection, Event, Broadcast, rooms::Presence<&online, &userKey>,
                             rooms::Resume>;

// The handlers, for any of the three declarations (defined in chat.cpp for each).
template <class Room = Chat>
rooms::Handlers<Room> handlers();
// The heartbeat (`ping` answered `pong` without waking the room; sockets
// silent for 60 s closed with 4000 "stale") and an inbound limit no typing
// user reaches: 20 frames/s with a burst of 60 per connection.
rooms::RoomOptions options();

}  // namespace chat
