// The upgrade's wire format: the options the worker-side client sends with a
// WebSocket upgrade, as JSON, and their typed form.
//   {"id"?: string|null, "tags"?: string[], "meta"?: any, "initialState": <Connection>,
//    "onDuplicate"?: "allow"|"replace"|"reject"}
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rooms/json.h"
#include "rooms/schema.h"

namespace rooms {

enum class OnDuplicate { Allow, Replace, Reject };

template <class C>
struct UpgradeRequest {
  std::optional<std::string> id;
  std::vector<std::string> tags;
  std::string metaJson;
  C initialState;
  OnDuplicate onDuplicate = OnDuplicate::Allow;
};

// Parses upgrade options into `up`; returns why they are refused, if they are.
template <class C>
std::optional<std::string> parseUpgrade(std::string_view optsJson, std::size_t maxBytes, UpgradeRequest<C>& up) {
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
  if (!decodeValue(st->value, up.initialState, c)) {
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
  return std::nullopt;
}

}  // namespace rooms
