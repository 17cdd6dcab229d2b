// Sequenced frames and the resume buffer (docs/PROTOCOL.md §2), for rooms
// declared with rooms::Resume.
//
// A sequenced frame is the schema frame with `"$seq":N` spliced in as its
// first key: {"$seq":42,"_tag":"Message",...}. The frame is encoded once;
// the splice copies it once.
//
// Storage (limits.h): the head kResumeHeadKey = {"seq":S,"first":F,"bytes":B}
// (the last sequence number, the oldest one still buffered, the buffered
// records' bytes), and per buffered frame kResumeFramePrefix + N = its
// selection, '\n', the sequenced frame. A frame costs one put, plus one
// delete per frame that leaves the buffer; the head is put once per event
// that sent sequenced frames.
//
// "Addressed to" is the broadcast's selection, stored as such and evaluated
// against the resuming connection (its id, its tags, and the topics it
// joined by the end of its onConnect), not the list of sockets that were
// open when it went out: a broadcast to everyone is replayed to a client
// that was away. Selections:
//   {}                       everyone
//   {"tag":"t"}              connections with tag t
//   {"topic":"t"}            connections in topic t
//   {"to":["a","b"]}         connections with these ids (ctx.broadcast's
//                            `to`, and Connection::send)
// each optionally with "except":["id",...] (`except`, `exceptAll`: by id, so
// a frame that skipped one tab is not replayed to a connection of that id).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rooms/json.h"
#include "rooms/limits.h"
#include "rooms/schema.h"
#include "runtime/component.h"

namespace rooms {

struct ResumeSelection {
  enum class Base { All, Tag, Topic, To };
  Base base = Base::All;
  std::string name;              // the tag or the topic
  std::vector<std::string> ids;  // Base::To
  std::vector<std::string> except;

  std::string encode() const {
    json::Buffer buf;
    json::Writer w(buf);
    auto str = [&](const std::string& s) { w.String(s.data(), static_cast<json::SizeType>(s.size())); };
    w.StartObject();
    switch (base) {
      case Base::All: break;
      case Base::Tag: w.Key("tag"); str(name); break;
      case Base::Topic: w.Key("topic"); str(name); break;
      case Base::To:
        w.Key("to");
        w.StartArray();
        for (auto& id : ids) str(id);
        w.EndArray();
        break;
    }
    if (!except.empty()) {
      w.Key("except");
      w.StartArray();
      for (auto& id : except) str(id);
      w.EndArray();
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }

  // False for text that is not a selection.
  bool decode(const json::Value& v) {
    if (!v.IsObject()) return false;
    DecodeCtx c;
    *this = {};
    if (auto m = v.FindMember("tag"); m != v.MemberEnd()) {
      base = Base::Tag;
      if (!decodeValue(m->value, name, c)) return false;
    } else if (auto t = v.FindMember("topic"); t != v.MemberEnd()) {
      base = Base::Topic;
      if (!decodeValue(t->value, name, c)) return false;
    } else if (auto to = v.FindMember("to"); to != v.MemberEnd()) {
      base = Base::To;
      if (!decodeValue(to->value, ids, c)) return false;
    }
    if (auto m = v.FindMember("except"); m != v.MemberEnd() && !decodeValue(m->value, except, c)) return false;
    return true;
  }

  bool addressedTo(std::string_view id, const std::vector<std::string>& tags,
                   const std::vector<std::string>& topics) const {
    auto has = [](const std::vector<std::string>& v, std::string_view x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    if (has(except, id)) return false;
    switch (base) {
      case Base::All: return true;
      case Base::Tag: return has(tags, name);
      case Base::Topic: return has(topics, name);
      case Base::To: return has(ids, id);
    }
    return false;
  }
};

// The schema frame `object` (a JSON object's text) with "$seq" first.
inline std::string sequencedFrame(std::uint64_t seq, std::string_view object) {
  std::string digits = std::to_string(seq);
  std::string out;
  out.reserve(8 + digits.size() + object.size() + 1);
  out.append("{\"$seq\":").append(digits);
  // `object` is "{}" or "{" + members + "}".
  if (object.size() > 2) out += ',';
  out.append(object.substr(1));
  return out;
}


inline std::string resumeFrameKey(std::uint64_t seq) { return std::string(kResumeFramePrefix) + std::to_string(seq); }

// The head of the buffer. Empty when first > seq.
struct ResumeHead {
  std::uint64_t seq = 0;    // the last sequence number given out (0: none yet)
  std::uint64_t first = 1;  // the oldest buffered
  std::uint64_t bytes = 0;  // of the buffered records

  std::string encode() const {
    return "{\"seq\":" + std::to_string(seq) + ",\"first\":" + std::to_string(first) +
           ",\"bytes\":" + std::to_string(bytes) + "}";
  }
  bool decode(std::string_view text) {
    json::Parser p;
    if (p.parse(text, text.size() + 1)) return false;
    const json::Value& v = p.root();
    if (!v.IsObject()) return false;
    auto num = [&](const char* k, std::uint64_t& out) {
      auto m = v.FindMember(k);
      if (m == v.MemberEnd() || !m->value.IsUint64()) return false;
      out = m->value.GetUint64();
      return true;
    };
    return num("seq", seq) && num("first", first) && num("bytes", bytes);
  }
};

}  // namespace rooms

namespace rooms::detail {

class Runtime;

// The resume log of a room declared with rooms::Resume: numbers and stores
// every frame the room sends, and replays to a socket that asked to resume
// the frames addressed to it that it missed. Such a socket gets no live
// frame before them (after its onConnect): frames addressed to it meanwhile
// are held here.
class ResumeLog final : public Component {
 public:
  explicit ResumeLog(Runtime& rt) : rt_(rt) {}

  // `c` asked to resume after `from` (its upgrade's "resume").
  void begin(ConnRecord& c, std::uint64_t from);
  // The frame with "$seq", stored in the buffer; `slots`/`n` lose the
  // sockets that wait for their missed frames (they get it later).
  std::string sequence(std::string_view bytes, const ResumeSelection& sel, const std::uint32_t*& slots,
                       std::size_t& n);

  void connectEnded(ConnRecord& c, bool ok) override;
  void forget(ConnRecord& c) override;
  void crossingEnded() override;

 private:
  struct Waiting {
    ConnRecord* c;
    std::uint64_t from, upTo;
    std::vector<std::string> held;
  };
  ResumeHead& head();
  Waiting* waitingOf(const ConnRecord* c);
  void replay(Waiting w);

  Runtime& rt_;
  std::optional<ResumeHead> head_;  // read on first need per wake
  bool headDirty_ = false;
  // Record bytes of frames buffered this wake, from seq sizesFrom_ on.
  std::vector<std::uint64_t> sizes_;
  std::uint64_t sizesFrom_ = 0;
  std::vector<Waiting> waiting_;
  std::vector<std::uint32_t> live_;  // scratch for sequence()
};

}  // namespace rooms::detail
