// The upgrade's wire format: the options the worker-side client sends with a
// WebSocket upgrade, as JSON, and their typed form.
//   {"id"?: string|null, "tags"?: string[], "meta"?: any, "initialState": <Connection>,
//    "onDuplicate"?: "allow"|"replace"|"reject", "resume"?: integer|null}
// `resume`: the last "$seq" the client saw (rooms with rooms::Resume; other
// rooms ignore it), an integer from 0 to 2^53 - 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rooms/json.h"
#include "rooms/detail/room_type.h"
#include "rooms/schema.h"

namespace rooms {

// Parses upgrade options into `up` (the initial state with `type`'s
// connection schema); returns why they are refused, if they are.
inline std::optional<std::string> parseUpgrade(std::string_view optsJson, std::size_t maxBytes,
                                               const detail::RoomType& type, detail::Upgrade& up) {
  json::Parser p;
  auto bad = [](std::string why) { return std::optional<std::string>(std::move(why)); };
  if (auto err = p.parse(optsJson, maxBytes)) return bad("upgrade options: " + describe(*err));
  const json::Value& v = p.root();
  if (!v.IsObject()) return bad("upgrade options must be an object");
  DecodeCtx c;
  if (auto m = v.FindMember("id"); m != v.MemberEnd() && !m->value.IsNull()) {
    std::string id;
    if (!decodeValue(m->value, id, c)) return bad("connection.id must be a string");
    up.id = std::move(id);
  }
  if (auto m = v.FindMember("tags"); m != v.MemberEnd() && !m->value.IsNull()) {
    if (!decodeValue(m->value, up.tags, c)) return bad("connection.tags must be an array of strings");
  }
  if (auto m = v.FindMember("meta"); m != v.MemberEnd() && !m->value.IsNull()) {
    json::Buffer buf;
    json::Writer w(buf);
    m->value.Accept(w);
    up.metaJson.assign(buf.GetString(), buf.GetSize());
  }
  auto st = v.FindMember("initialState");
  if (st == v.MemberEnd()) return bad("connection.initialState is required");
  if (!type.decodeConnection(st->value, c, up.initialState)) {
    auto err = c.take();
    err.path = "$.initialState" + err.path.substr(1);
    return bad("connection.initialState: " + describe(err));
  }
  if (auto m = v.FindMember("onDuplicate"); m != v.MemberEnd() && !m->value.IsNull()) {
    std::string_view d = m->value.IsString() ? std::string_view(m->value.GetString()) : "";
    if (d == "allow") up.onDuplicate = OnDuplicate::Allow;
    else if (d == "replace") up.onDuplicate = OnDuplicate::Replace;
    else if (d == "reject") up.onDuplicate = OnDuplicate::Reject;
    else return bad("onDuplicate must be \"allow\", \"replace\" or \"reject\"");
  }
  if (auto m = v.FindMember("resume"); m != v.MemberEnd() && !m->value.IsNull()) {
    constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1
    const auto& r = m->value;
    if (r.IsUint64() && r.GetUint64() <= static_cast<std::uint64_t>(kMaxSafe)) up.resume = r.GetUint64();
    else if (r.IsDouble() && r.GetDouble() >= 0 && r.GetDouble() <= kMaxSafe &&
             r.GetDouble() == static_cast<double>(static_cast<std::uint64_t>(r.GetDouble())))
      up.resume = static_cast<std::uint64_t>(r.GetDouble());
    else return bad("resume must be an integer from 0 to 2^53 - 1 (the last \"$seq\" seen), or null");
  }
  return std::nullopt;
}

}  // namespace rooms
