// The attachment envelope: what a socket's attachment holds. The room's
// connection state (its schema's JSON) and, when the runtime keeps anything
// per connection (the last frame's time for the stale sweep, a rate-limit
// bucket, ...), a small JSON object of runtime data before it:
//
//   <runtime JSON object>\n<state JSON>      with runtime data
//   <state JSON>                             without (byte-identical to the
//                                            attachments of rooms that use
//                                            none of it, and to old ones)
//
// The encoder never writes a raw newline (JSON escapes it inside strings and
// writes no whitespace), so the first '\n' splits the two parts exactly.
//
// The runtime part is read tolerantly: unknown keys and values of the wrong
// type are ignored (a field reads as absent), so a newer runtime's data and a
// damaged part never fail a connection. To add a field: a member of
// RuntimeRecord, a line in formatRuntime, a case in parseRuntime.
//
// Sizes: RoomOptions::maxAttachmentBytes bounds the state part; the runtime
// part is bounded by kMaxRuntimeAttachmentBytes; the attachment is at most
// their sum plus one byte (limits.h quotes the platform's limits).
// Not for room authors.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rooms/json.h"

namespace rooms {

// Longest runtime part of an attachment, in bytes (the '\n' not counted).
inline constexpr std::size_t kMaxRuntimeAttachmentBytes = 1024;

// A token bucket pair (frames, bytes) as it stood at `atMs`.
struct BucketSnapshot {
  double frames = 0;
  double bytes = 0;
  double atMs = 0;
  bool operator==(const BucketSnapshot&) const = default;
};

// The runtime's data of one connection, as persisted in its attachment.
struct RuntimeRecord {
  // "seen": the time of a frame from the connection (ms since the epoch), at
  // most a quarter of the stale timeout older than its last frame (the stale
  // sweep, instance.h).
  std::optional<double> seen;
  // "bucket": [frame tokens, byte tokens, at ms], only while the inbound
  // budget lacks more than a hibernation's refill (budget.h).
  std::optional<BucketSnapshot> bucket;
  // "ref": the socket's presence ref (rooms with presence; runtime/presence.h).
  std::string ref;
  // "topics": the topics it joined (Connection::join).
  std::vector<std::string> topics;

  bool empty() const { return !seen && !bucket && ref.empty() && topics.empty(); }
  bool operator==(const RuntimeRecord&) const = default;
};

// The two parts of an attachment's text.
struct AttachmentParts {
  std::string_view runtime;  // empty when the attachment has none
  std::string_view state;
};

inline AttachmentParts splitAttachment(std::string_view text) {
  auto nl = text.find('\n');
  if (nl == std::string_view::npos) return {{}, text};
  return {text.substr(0, nl), text.substr(nl + 1)};
}

// `runtime` as JSON text; empty when it holds nothing.
inline std::string formatRuntime(const RuntimeRecord& r) {
  if (r.empty()) return {};
  json::Buffer buf;
  json::Writer w(buf);
  auto number = [&](double v) {
    // Times and whole counts as integers: shorter, and exact.
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) w.Int64(static_cast<std::int64_t>(v));
    else w.Double(std::isfinite(v) ? v : 0.0);
  };
  w.StartObject();
  if (r.seen) {
    w.Key("seen");
    number(*r.seen);
  }
  if (r.bucket) {
    w.Key("bucket");
    w.StartArray();
    number(r.bucket->frames);
    number(r.bucket->bytes);
    number(r.bucket->atMs);
    w.EndArray();
  }
  if (!r.ref.empty()) {
    w.Key("ref");
    w.String(r.ref.data(), static_cast<json::SizeType>(r.ref.size()));
  }
  if (!r.topics.empty()) {
    w.Key("topics");
    w.StartArray();
    for (auto& t : r.topics) w.String(t.data(), static_cast<json::SizeType>(t.size()));
    w.EndArray();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// Reads a runtime part; false when it is not a JSON object (then `out` is
// empty). Unknown keys and mistyped values are skipped.
inline bool parseRuntime(std::string_view text, RuntimeRecord& out) {
  out = {};
  if (text.empty()) return true;
  json::Parser p;
  if (p.parse(text, kMaxRuntimeAttachmentBytes + 1) || !p.root().IsObject()) return false;
  const auto& root = p.root();
  auto finite = [](const json::Value& v) { return v.IsNumber() && std::isfinite(v.GetDouble()); };
  for (auto m = root.MemberBegin(); m != root.MemberEnd(); ++m) {
    std::string_view key(m->name.GetString(), m->name.GetStringLength());
    const auto& v = m->value;
    if (key == "seen") {
      if (finite(v)) out.seen = v.GetDouble();
    } else if (key == "bucket") {
      if (v.IsArray() && v.Size() == 3 && finite(v[0]) && finite(v[1]) && finite(v[2]))
        out.bucket = BucketSnapshot{v[0].GetDouble(), v[1].GetDouble(), v[2].GetDouble()};
    } else if (key == "ref") {
      if (v.IsString()) out.ref.assign(v.GetString(), v.GetStringLength());
    } else if (key == "topics") {
      if (v.IsArray())
        for (auto& t : v.GetArray())
          if (t.IsString()) out.topics.emplace_back(t.GetString(), t.GetStringLength());
    }
  }
  return true;
}

// The attachment text of a runtime part (JSON text or empty) and a state.
inline std::string joinAttachment(std::string_view runtime, std::string_view state) {
  std::string out;
  out.reserve(runtime.size() + 1 + state.size());
  if (!runtime.empty()) {
    out.append(runtime);
    out.push_back('\n');
  }
  out.append(state);
  return out;
}

}  // namespace rooms
