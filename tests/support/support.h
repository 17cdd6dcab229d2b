// Helpers shared by the native suites: strict decoding of what a room answers,
// typed views of getState / getConnections replies and of the frames a test
// client received.
#pragma once

#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rooms/testing.h"

// Failed checks print a Timestamp as its epoch milliseconds.
namespace doctest {
template <>
struct StringMaker<rooms::Timestamp> {
  static String convert(const rooms::Timestamp& t) {
    return (std::to_string(rooms::epochMs(t)) + " ms since the epoch").c_str();
  }
};
}  // namespace doctest

namespace support {

using rooms::testing::InMemoryRuntime;
using rooms::testing::Reply;
using rooms::testing::TestConnection;
using Strings = std::vector<std::string>;

// Decodes text that must match T exactly (unknown keys refused).
template <class T>
T decodeStrict(const std::string& text) {
  T v;
  rooms::Decoder d(rooms::CodecLimits{text.size() + 1}, rooms::DecodeOptions{rooms::ExtraFields::Reject});
  auto err = d.decode(text, v);
  const std::string why = err ? rooms::describe(*err) + " in " + text : std::string();
  REQUIRE_MESSAGE(!err, why);
  return v;
}

inline rapidjson::Document parseJson(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  REQUIRE_MESSAGE(!d.HasParseError(), text);
  return d;
}

inline std::string stringField(const std::string& json, const char* key) {
  auto d = parseJson(json);
  REQUIRE(d.IsObject());
  REQUIRE_MESSAGE(d.HasMember(key), json);
  REQUIRE(d[key].IsString());
  return d[key].GetString();
}

// The room state as getState answers it (nullopt for JSON null).
template <class R>
std::optional<typename R::State> stateOf(InMemoryRuntime& rt, std::string_view room) {
  Reply r = rt.room(R::name).getState(room);
  REQUIRE_MESSAGE(r.ok, r.payload);
  if (r.payload == "null") return std::nullopt;
  return decodeStrict<typename R::State>(r.payload);
}

// One entry of getConnections' answer, typed.
template <class R>
struct ConnInfo {
  std::string id;
  Strings tags;
  typename R::Connection state;
  // ROOMS_STRUCT is for non-template structs at namespace scope; a class
  // template declares the same two things in its body: its fields
  // (Boost.Describe) and its name (rooms_type_info, found by ADL).
  BOOST_DESCRIBE_CLASS(ConnInfo, (), (id, tags, state), (), ())
  friend constexpr rooms::TypeInfo rooms_type_info(ConnInfo*) { return {"ConnInfo", ""}; }
};

template <class R>
std::vector<ConnInfo<R>> connectionsOf(InMemoryRuntime& rt, std::string_view room,
                                       std::optional<std::string_view> tag = std::nullopt) {
  Reply r = rt.room(R::name).getConnections(room, tag);
  REQUIRE_MESSAGE(r.ok, r.payload);
  return decodeStrict<std::vector<ConnInfo<R>>>(r.payload);
}

template <class R>
Strings ids(const std::vector<ConnInfo<R>>& list) {
  Strings out;
  for (auto& c : list) out.push_back(c.id);
  return out;
}

// The frames a client received that are not runtime frames ({"$rooms":...},
// docs/PROTOCOL.md §1), as JSON text.
inline Strings schemaFramesOf(const TestConnection* c) {
  Strings out;
  for (auto& f : c->received())
    if (f.rfind(R"({"$rooms":)", 0) != 0) out.push_back(f);
  return out;
}

// Every schema frame a client received, decoded as the room's broadcast
// schema (a "$seq" is dropped as an unknown key).
template <class R>
std::vector<typename R::Broadcast> framesOf(const TestConnection* c) {
  auto v = c->receivedAs<typename R::Broadcast>();
  REQUIRE_MESSAGE(v.size() == schemaFramesOf(c).size(), "a frame does not match the broadcast schema");
  return v;
}

}  // namespace support
