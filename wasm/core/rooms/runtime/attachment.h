// A socket's attachment: what the runtime keeps with one connection across
// hibernation. Either the connection state's JSON alone (a room that uses
// none of the features below writes nothing else, as before), or a runtime
// record, a newline and the state's JSON:
//
//   {"ref":"3f2a9c1e0b7d","topics":["lobby","game:7"]}\n{"userId":"alice",...}
//
// The encoder writes no raw newline inside JSON, so the first '\n' splits
// the two. Fields of the record, each optional:
//   ref     the socket's presence ref (rooms with presence)
//   topics  the topics it joined (Connection::join)
// The whole attachment counts against RoomOptions::maxAttachmentBytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rooms/json.h"
#include "rooms/schema.h"

namespace rooms {

struct AttachmentRecord {
  std::string ref;
  std::vector<std::string> topics;
  bool empty() const { return ref.empty() && topics.empty(); }
};

// Splits `raw` into its record (cleared when there is none) and the state's
// JSON, which it returns. A record that does not parse is reported in
// `recordError` and ignored.
inline std::string_view splitAttachment(std::string_view raw, AttachmentRecord& rec, std::string& recordError) {
  rec = {};
  auto nl = raw.find('\n');
  if (nl == std::string_view::npos) return raw;
  std::string_view head = raw.substr(0, nl);
  json::Parser p;
  if (auto err = p.parse(head, head.size() + 1)) {
    recordError = describe(*err);
    return raw.substr(nl + 1);
  }
  const json::Value& v = p.root();
  DecodeCtx c;
  if (!v.IsObject()) {
    recordError = "the runtime record is not an object";
    return raw.substr(nl + 1);
  }
  if (auto m = v.FindMember("ref"); m != v.MemberEnd() && !decodeValue(m->value, rec.ref, c))
    recordError = "ref is not a string";
  if (auto m = v.FindMember("topics"); m != v.MemberEnd() && !decodeValue(m->value, rec.topics, c))
    recordError = "topics is not an array of strings";
  return raw.substr(nl + 1);
}

// The attachment of a connection: the state alone when the record is empty;
// nullopt when a topic is not valid UTF-8.
inline std::optional<std::string> joinAttachment(const AttachmentRecord& rec, std::string_view state) {
  if (rec.empty()) return std::string(state);
  json::Buffer buf;
  json::Writer w(buf);
  w.StartObject();
  if (!rec.ref.empty()) {
    w.Key("ref");
    w.String(rec.ref.data(), static_cast<json::SizeType>(rec.ref.size()));
  }
  if (!rec.topics.empty()) {
    w.Key("topics");
    w.StartArray();
    for (auto& t : rec.topics)
      if (!w.String(t.data(), static_cast<json::SizeType>(t.size()))) return std::nullopt;
    w.EndArray();
  }
  w.EndObject();
  std::string out(buf.GetString(), buf.GetSize());
  out += '\n';
  out.append(state);
  return out;
}

}  // namespace rooms
