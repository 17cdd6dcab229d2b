// Presence frames (docs/PROTOCOL.md §1): the full state a joining socket
// gets and the diff every other socket gets at the end of an event that
// changed the presence. Entries are grouped by key; the entries of one key
// keep the order they were added in.
//
//   {"$rooms":"Presence","self":"alice","state":{"alice":[{"ref":"…","meta":{…}}],…}}
//   {"$rooms":"PresenceDiff","joins":{"bob":[{"ref":"…","meta":{…}}]},"leaves":{}}
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rooms/json.h"
#include "runtime/component.h"
#include "runtime/frames.h"

namespace rooms {

// One socket in the presence: its key, its ref and its meta as JSON.
struct PresenceEntry {
  std::string key, ref, meta;
  bool operator==(const PresenceEntry&) const = default;
};

// Entries by key, for one frame.
class PresenceMap {
 public:
  void add(const PresenceEntry& e) { byKey_[e.key].emplace_back(e.ref, e.meta); }
  bool empty() const { return byKey_.empty(); }

  void write(json::Writer& w) const {
    w.StartObject();
    for (auto& [key, list] : byKey_) {
      w.Key(key.data(), static_cast<json::SizeType>(key.size()));
      w.StartArray();
      for (auto& [ref, meta] : list) {
        w.StartObject();
        w.Key("ref");
        w.String(ref.data(), static_cast<json::SizeType>(ref.size()));
        w.Key("meta");
        w.RawValue(meta.data(), meta.size(), rapidjson::kObjectType);
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
  }

 private:
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> byKey_;
};

inline std::string presenceStateFrame(std::string_view self, const PresenceMap& state) {
  json::Buffer buf;
  json::Writer w(buf);
  w.StartObject();
  w.Key("$rooms");
  w.String(detail::kPresenceFrame.data(), static_cast<json::SizeType>(detail::kPresenceFrame.size()));
  w.Key("self");
  w.String(self.data(), static_cast<json::SizeType>(self.size()));
  w.Key("state");
  state.write(w);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

inline std::string presenceDiffFrame(const PresenceMap& joins, const PresenceMap& leaves) {
  json::Buffer buf;
  json::Writer w(buf);
  w.StartObject();
  w.Key("$rooms");
  w.String(detail::kPresenceDiffFrame.data(), static_cast<json::SizeType>(detail::kPresenceDiffFrame.size()));
  w.Key("joins");
  joins.write(w);
  w.Key("leaves");
  leaves.write(w);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// A short ref from a random id: its first 12 letters and digits (48 bits of
// a UUID).
inline std::string shortRef(std::string_view randomId) {
  std::string out;
  for (char ch : randomId) {
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) out += ch;
    if (out.size() == 12) break;
  }
  return out.empty() ? std::string("0") : out;
}

}  // namespace rooms

namespace rooms::detail {

class Runtime;

// Presence for rooms declared with rooms::Presence: derived from the open
// connections and kept nowhere but in their attachments (the ref) and here.
// Each change to a connection (its onConnect ended, its state changed, it
// closed) is touched with the entry the others were told of; at the end of
// the crossing every touched connection whose entry changed becomes one
// leave and/or one join of a single PresenceDiff, and joiners get the full
// Presence. An event that touches no connection reads no attachment.
class PresenceTracker final : public Component {
 public:
  explicit PresenceTracker(Runtime& rt) : rt_(rt) {}

  void accepted(ConnRecord& c) override;
  void connectEnded(ConnRecord& c, bool ok) override;
  void changing(ConnRecord& c) override;
  void forget(ConnRecord& c) override;
  void crossingEnded() override;

 private:
  struct Mark {
    // The others were told of it (its entry as of the end of the last
    // crossing). A connection that was here before a wake was.
    bool joined = true;
    bool touched = false;  // changed in this crossing
    std::optional<PresenceEntry> entry;  // cached
  };
  struct Touched {
    ConnRecord* c;                      // null once freed
    std::optional<PresenceEntry> old;   // the entry the others were told of
  };
  Mark& mark(std::uint32_t slot);
  const PresenceEntry& entryOf(ConnRecord& c);
  void touch(ConnRecord& c);

  Runtime& rt_;
  std::vector<Mark> marks_;          // by slot, this wake
  std::vector<Touched> touched_;     // this crossing's changes
  std::vector<ConnRecord*> joiners_;  // owed the full Presence at its end
};

}  // namespace rooms::detail
