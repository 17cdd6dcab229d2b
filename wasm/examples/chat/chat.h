// The chat room of the spec's quick start, in C++: four schemas and the
// handlers. Served by worker/ on Cloudflare and driven natively by
// tests/native/chat_test.cpp through the in-memory runtime.
#pragma once

#include <string>
#include <variant>

#include "rooms/room.h"

namespace chat {

struct State {
  double createdAt = 0;
  double messageCount = 0;
  static constexpr auto schema() {
    return rooms::fields(rooms::field("createdAt", &State::createdAt),
                         rooms::field("messageCount", &State::messageCount));
  }
};

struct Connection {
  std::string userId;
  double joinedAt = 0;
  static constexpr auto schema() {
    return rooms::fields(rooms::field("userId", &Connection::userId), rooms::field("joinedAt", &Connection::joinedAt));
  }
};

// Inbound.
struct Say {
  static constexpr std::string_view tag = "Say";
  std::string text;
  static constexpr auto schema() { return rooms::fields(rooms::field("text", &Say::text)); }
};
struct Typing {
  static constexpr std::string_view tag = "Typing";
  static constexpr auto schema() { return rooms::fields(); }
};
using Event = std::variant<Say, Typing>;

// Outbound.
struct Message {
  static constexpr std::string_view tag = "Message";
  std::string text;
  std::string userId;
  double ts = 0;
  static constexpr auto schema() {
    return rooms::fields(rooms::field("text", &Message::text), rooms::field("userId", &Message::userId),
                         rooms::field("ts", &Message::ts));
  }
};
struct UserJoined {
  static constexpr std::string_view tag = "UserJoined";
  std::string userId;
  static constexpr auto schema() { return rooms::fields(rooms::field("userId", &UserJoined::userId)); }
};
struct UserLeft {
  static constexpr std::string_view tag = "UserLeft";
  std::string userId;
  static constexpr auto schema() { return rooms::fields(rooms::field("userId", &UserLeft::userId)); }
};
struct TypingBy {
  static constexpr std::string_view tag = "Typing";
  std::string userId;
  static constexpr auto schema() { return rooms::fields(rooms::field("userId", &TypingBy::userId)); }
};
using Broadcast = std::variant<Message, UserJoined, UserLeft, TypingBy>;

struct Chat {
  static constexpr std::string_view name = "chat";
  using State = chat::State;
  using Connection = chat::Connection;
  using Event = chat::Event;
  using Broadcast = chat::Broadcast;
};

rooms::Handlers<Chat> handlers();

}  // namespace chat
