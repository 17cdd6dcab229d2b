// The lobby room: a room type for tests of presence, topics and resume (the
// chat example uses presence and resume too, but no topics, no presence key
// of its own and no meta changes). Presence is keyed by the `user` of the
// connection state, so two sockets of one user (two tabs) merge; resume
// keeps the last 32 frames. Registered by the test builds only
// (tests/support/registry.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "rooms/rooms.h"

namespace lobby {

struct State { std::int64_t said = 0; };
ROOMS_STRUCT(State, said)

struct Connection { std::string user; std::string status; };
ROOMS_STRUCT(Connection, user, status)

// What every socket sees of the others.
struct Meta { std::string user, status; };
ROOMS_STRUCT(Meta, user, status)
inline Meta metaOf(const Connection& c) { return {c.user, c.status}; }
inline std::string userOf(const Connection& c) { return c.user; }

// The upgrade's meta: topics onConnect joins.
struct UpgradeMeta { std::vector<std::string> topics; };
ROOMS_STRUCT(UpgradeMeta, topics)

// Inbound.
struct Say { std::string text; };
ROOMS_TAGGED(Say, text)
// `count` Said frames to everyone, "<prefix>1" ... "<prefix><count>".
struct Burst { std::int32_t count = 0; std::string prefix; };
ROOMS_TAGGED(Burst, count, prefix)
struct SetStatus { std::string status; };
ROOMS_TAGGED(SetStatus, status)
struct Join { std::string topic; };
ROOMS_TAGGED(Join, topic)
struct Leave { std::string topic; };
ROOMS_TAGGED(Leave, topic)
struct ToTopic { std::string topic, text; };
ROOMS_TAGGED(ToTopic, topic, text)
struct Members { std::string topic; };
ROOMS_TAGGED(Members, topic)
struct Whisper { std::string to, text; };
ROOMS_TAGGED(Whisper, to, text)
struct Kick { std::string id; };
ROOMS_TAGGED(Kick, id)
using Event = std::variant<Say, Burst, SetStatus, Join, Leave, ToTopic, Members, Whisper, Kick>;

// Outbound.
struct Said { std::string text, from; };
ROOMS_TAGGED(Said, text, from)
struct TopicSaid { std::string topic, text, from; };
ROOMS_TAGGED(TopicSaid, topic, text, from)
// ids: the members of `topic` (sorted); mine: the asker's topics;
// sinceWake: Members events served by this instance of the core (1 right
// after a wake: the end-to-end tests' proof of a hibernation).
struct MembersAre {
  std::string topic;
  std::vector<std::string> ids;
  std::vector<std::string> mine;
  std::int64_t sinceWake = 0;
};
ROOMS_TAGGED(MembersAre, topic, ids, mine, sinceWake)
struct Whispered { std::string text, from; };
ROOMS_TAGGED(Whispered, text, from)
// Sent by onConnect to the joiner alone.
struct Welcome { std::string user; };
ROOMS_TAGGED(Welcome, user)
// The outcome of a Join, Leave or SetStatus that failed: the error's _tag.
struct Refused { std::string what, errorTag; };
ROOMS_TAGGED(Refused, what, errorTag)
using Broadcast = std::variant<Said, TopicSaid, MembersAre, Whispered, Welcome, Refused>;

using Lobby = rooms::Room<"lobby", State, Connection, Event, Broadcast, rooms::Presence<&metaOf, &userOf>, rooms::Resume>;

// The options it is registered with: a resume buffer of 32 frames.
rooms::RoomOptions options();
rooms::Handlers<Lobby> handlers();

}  // namespace lobby
