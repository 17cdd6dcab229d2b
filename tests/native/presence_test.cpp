// Presence, topics and resume, through the in-memory runtime with a
// hibernation between every step: the lobby room (tests/support/probe/lobby.h,
// presence keyed by user, topics, a resume buffer of 32 frames), and the
// probe room for what a room that opts into nothing sends.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "app.h"
#include "probe/lobby.h"
#include "probe/probe.h"
#include "rooms/testing.h"
#include "support/support.h"

namespace {

using rooms::testing::InMemoryRuntime;
using rooms::testing::TestConnection;
using Strings = std::vector<std::string>;
using support::parseJson;
using lobby::Lobby;

constexpr std::string_view kRoom = "lobby-1";

struct Opts {
  std::string user;
  std::string status = "here";
  std::optional<std::uint64_t> resume;
  Strings topics;
};

TestConnection* enter(InMemoryRuntime& rt, const std::string& id, Opts o) {
  rooms::testing::ConnectOptions<Lobby> up;
  up.id = id;
  up.initialState = {o.user.empty() ? id : o.user, o.status};
  up.resume = o.resume;
  if (!o.topics.empty()) up.metaJson = *rooms::encodeToString(lobby::UpgradeMeta{o.topics});
  auto r = rt.connect<Lobby>(kRoom, std::move(up));
  REQUIRE_MESSAGE(r.ok(), rt.lastReply().payload);
  return r.value();
}
TestConnection* enter(InMemoryRuntime& rt, const std::string& id) { return enter(rt, id, Opts{}); }

bool isRuntime(const std::string& f) { return f.rfind(R"({"$rooms":)", 0) == 0; }

// The runtime frames a client received, parsed.
std::vector<rapidjson::Document> runtimeFrames(const TestConnection* c) {
  std::vector<rapidjson::Document> out;
  for (auto& f : c->received())
    if (isRuntime(f)) out.push_back(parseJson(f));
  return out;
}

// Presence state or diff side as {key: [ref, ...]} and {ref: status}.
struct Side {
  std::map<std::string, Strings> refs;
  std::map<std::string, std::string> status;
};
Side sideOf(const rapidjson::Value& v) {
  Side s;
  REQUIRE(v.IsObject());
  for (auto& m : v.GetObject()) {
    auto& list = s.refs[m.name.GetString()];
    for (auto& e : m.value.GetArray()) {
      list.emplace_back(e["ref"].GetString());
      s.status[e["ref"].GetString()] = e["meta"]["status"].GetString();
      CHECK(std::string(e["meta"]["user"].GetString()) == m.name.GetString());
    }
  }
  return s;
}

// The one runtime frame a client received since it last cleared, of `kind`.
rapidjson::Document onlyRuntime(const TestConnection* c, std::string_view kind) {
  auto frames = runtimeFrames(c);
  const std::string why = c->id() + " got " + std::to_string(frames.size()) + " runtime frames";
  REQUIRE_MESSAGE(frames.size() == 1, why);
  REQUIRE(std::string_view(frames[0]["$rooms"].GetString()) == kind);
  return std::move(frames[0]);
}

// The schema frames a client received, decoded (a "$seq" is dropped as an
// unknown key), and their sequence numbers.
std::vector<lobby::Broadcast> schemaFrames(const TestConnection* c) {
  std::vector<lobby::Broadcast> out;
  rooms::Decoder d;
  for (auto& f : c->received()) {
    if (isRuntime(f)) continue;
    lobby::Broadcast b;
    auto err = d.decode(f, b);
    REQUIRE_MESSAGE(!err, f);
    out.push_back(std::move(b));
  }
  return out;
}
std::vector<std::uint64_t> seqs(const TestConnection* c) {
  std::vector<std::uint64_t> out;
  for (auto& f : c->received())
    if (!isRuntime(f)) {
      REQUIRE_MESSAGE(f.rfind(R"({"$seq":)", 0) == 0, f);
      out.push_back(parseJson(f)["$seq"].GetUint64());
    }
  return out;
}
Strings saidTexts(const TestConnection* c) {
  Strings out;
  for (auto& b : schemaFrames(c))
    if (auto* s = std::get_if<lobby::Said>(&b)) out.push_back(s->text);
  return out;
}
// The kinds of everything received, in order: "$Presence", "Said:hi", "Welcome".
Strings sequenceOf(const TestConnection* c) {
  Strings out;
  for (auto& f : c->received()) {
    auto d = parseJson(f);
    if (d.HasMember("$rooms")) out.push_back(std::string("$") + d["$rooms"].GetString());
    else if (std::string(d["_tag"].GetString()) == "Said") out.push_back(std::string("Said:") + d["text"].GetString());
    else out.push_back(d["_tag"].GetString());
  }
  return out;
}

template <class E>
void say(TestConnection* c, E e) {
  c->receive(lobby::Event{std::move(e)});
}

}  // namespace

// ---- Presence -------------------------------------------------------------------

TEST_CASE("presence: a joiner gets the full state, the others a diff; two tabs merge under one key; across hibernation") {
  InMemoryRuntime rt(app::registry());
  auto* a1 = enter(rt, "a1", {.user = "alice"});
  {
    auto p = onlyRuntime(a1, "Presence");
    CHECK(std::string(p["self"].GetString()) == "alice");
    auto st = sideOf(p["state"]);
    REQUIRE(st.refs.size() == 1);
    REQUIRE(st.refs["alice"].size() == 1);
    CHECK(sequenceOf(a1) == Strings{"Welcome", "$Presence"});  // after onConnect's frames
  }
  const std::string refA1 = sideOf(onlyRuntime(a1, "Presence")["state"]).refs["alice"][0];
  CHECK(refA1.size() <= 12);
  a1->clearReceived();
  rt.hibernate();

  auto* bob = enter(rt, "bob");
  std::string refBob;
  {
    auto st = sideOf(onlyRuntime(bob, "Presence")["state"]);
    CHECK(st.refs["alice"] == Strings{refA1});  // the ref survived the hibernation
    REQUIRE(st.refs["bob"].size() == 1);
    refBob = st.refs["bob"][0];
    CHECK(refBob != refA1);
    auto d = onlyRuntime(a1, "PresenceDiff");
    CHECK(sideOf(d["joins"]).refs == std::map<std::string, Strings>{{"bob", {refBob}}});
    CHECK(sideOf(d["leaves"]).refs.empty());
  }
  for (auto* c : {a1, bob}) c->clearReceived();
  rt.hibernate();

  // A second tab of alice: another socket of the key "alice".
  auto* a2 = enter(rt, "a2", {.user = "alice"});
  std::string refA2;
  {
    auto st = sideOf(onlyRuntime(a2, "Presence")["state"]);
    REQUIRE(st.refs["alice"].size() == 2);
    CHECK(st.refs["alice"][0] == refA1);
    refA2 = st.refs["alice"][1];
    CHECK(st.refs["bob"] == Strings{refBob});
    for (auto* c : {a1, bob}) {
      auto d = onlyRuntime(c, "PresenceDiff");
      CHECK(sideOf(d["joins"]).refs == std::map<std::string, Strings>{{"alice", {refA2}}});
    }
  }
  for (auto* c : {a1, a2, bob}) c->clearReceived();
  rt.hibernate();

  auto* carol = enter(rt, "carol");
  CHECK(sideOf(onlyRuntime(carol, "Presence")["state"]).refs.size() == 3);
  for (auto* c : {a1, a2, bob, carol}) c->clearReceived();
  rt.hibernate();

  // A meta change: a leave of the old entry and a join of the new one, in one diff.
  say(bob, lobby::SetStatus{"away"});
  for (auto* c : {a1, a2, carol}) {
    auto d = onlyRuntime(c, "PresenceDiff");
    auto joins = sideOf(d["joins"]), leaves = sideOf(d["leaves"]);
    CHECK(leaves.refs == std::map<std::string, Strings>{{"bob", {refBob}}});
    CHECK(joins.refs == std::map<std::string, Strings>{{"bob", {refBob}}});
    CHECK(leaves.status[refBob] == "here");
    CHECK(joins.status[refBob] == "away");
  }
  CHECK(runtimeFrames(bob).size() == 1);  // bob is told too (the diff goes to every other socket of the room)
  for (auto* c : {a1, a2, bob, carol}) c->clearReceived();
  rt.hibernate();

  // One tab closes: alice is still present with the other.
  a1->close();
  for (auto* c : {a2, bob, carol}) {
    auto d = onlyRuntime(c, "PresenceDiff");
    CHECK(sideOf(d["leaves"]).refs == std::map<std::string, Strings>{{"alice", {refA1}}});
    CHECK(sideOf(d["joins"]).refs.empty());
  }
  for (auto* c : {a2, bob, carol}) c->clearReceived();
  rt.hibernate();

  // A state after all that, for a new joiner.
  auto* dave = enter(rt, "dave");
  auto st = sideOf(onlyRuntime(dave, "Presence")["state"]);
  CHECK(st.refs == std::map<std::string, Strings>{{"alice", {refA2}}, {"bob", {refBob}}, {"carol", st.refs["carol"]}, {"dave", st.refs["dave"]}});
  CHECK(st.status[refBob] == "away");
}

TEST_CASE("presence: an event that needs no presence reads one attachment, not every one") {
  InMemoryRuntime rt(app::registry());
  std::vector<TestConnection*> cs;
  for (int i = 0; i < 6; ++i) cs.push_back(enter(rt, "u" + std::to_string(i)));
  rt.hibernate();
  say(cs[2], lobby::Say{"hello"});
  CHECK(rt.attachmentLoads() == 1);  // the sender's name only
  CHECK(saidTexts(cs[5]) == Strings{"hello"});
  rt.hibernate();
  // A close needs the closing socket's entry only.
  for (auto* c : cs) c->clearReceived();
  cs[0]->close();
  CHECK(rt.attachmentLoads() == 1);
  CHECK(onlyRuntime(cs[1], "PresenceDiff").IsObject());
  rt.hibernate();
  // A join needs everyone's: the joiner gets the full state.
  enter(rt, "late");
  CHECK(rt.attachmentLoads() == 5);
}

TEST_CASE("presence: all changes of one event leave as one diff per recipient") {
  InMemoryRuntime rt(app::registry());
  // Two sockets with one connection id (onDuplicate allow), one key.
  auto* x1 = enter(rt, "x", {.user = "xavier"});
  auto* x2 = enter(rt, "x", {.user = "xavier"});
  auto* y = enter(rt, "y");
  y->clearReceived();
  rt.hibernate();
  say(y, lobby::Kick{"x"});  // closes both in one event
  auto d = onlyRuntime(y, "PresenceDiff");
  CHECK(sideOf(d["leaves"]).refs["xavier"].size() == 2);
  CHECK(!x1->isOpen());
  CHECK(!x2->isOpen());
  // The platform's reports of the closes (a later crossing each) change nothing more.
  CHECK(runtimeFrames(y).size() == 1);
}

TEST_CASE("presence: a joiner whose onConnect fails is never announced") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  a->clearReceived();
  // onConnect joins the topics of the upgrade's meta; an empty topic fails it.
  rooms::testing::ConnectOptions<Lobby> up;
  up.id = "bad";
  up.initialState = {"bad", "x"};
  up.metaJson = R"({"topics":[""]})";
  CHECK(!rt.connect<Lobby>(kRoom, std::move(up)).ok());
  CHECK(runtimeFrames(a).empty());
}

// ---- Topics ---------------------------------------------------------------------

TEST_CASE("topics: joined, broadcast to and left across hibernation; membership lives in the attachment") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  auto* b = enter(rt, "b");
  auto* c = enter(rt, "c");
  rt.hibernate();
  say(a, lobby::Join{"games"});
  CHECK(InMemoryRuntime::attachmentOf(*a).rfind(R"({"ref":")", 0) == 0);  // the runtime part (attachment.h)
  CHECK(InMemoryRuntime::attachmentOf(*a).find(R"("topics":["games"]})" "\n" R"({"user":"a","status":"here"})") !=
        std::string::npos);
  rt.hibernate();
  say(b, lobby::Join{"games"});
  rt.hibernate();
  for (auto* x : {a, b, c}) x->clearReceived();
  say(c, lobby::ToTopic{"games", "gg"});  // c is not in it, and may still send to it
  CHECK(rt.attachmentLoads() == 3);  // the first topic use after a wake reads every attachment
  for (auto* x : {a, b}) {
    auto f = schemaFrames(x);
    REQUIRE(f.size() == 1);
    CHECK(std::get<lobby::TopicSaid>(f[0]).text == "gg");
  }
  CHECK(schemaFrames(c).empty());
  rt.hibernate();

  say(a, lobby::Leave{"games"});
  rt.hibernate();
  for (auto* x : {a, b, c}) x->clearReceived();
  say(c, lobby::ToTopic{"games", "again"});
  CHECK(schemaFrames(a).empty());
  CHECK(schemaFrames(b).size() == 1);
  rt.hibernate();

  c->clearReceived();
  say(c, lobby::Members{"games"});
  auto m = std::get<lobby::MembersAre>(schemaFrames(c).at(0));
  CHECK(m.ids == Strings{"b"});
  CHECK(m.mine.empty());
  rt.hibernate();
  // A closed member leaves the topic with its socket.
  b->close();
  rt.hibernate();
  c->clearReceived();
  say(c, lobby::Members{"games"});
  CHECK(std::get<lobby::MembersAre>(schemaFrames(c).at(0)).ids.empty());
}

TEST_CASE("topics: limits are typed errors and leave the membership unchanged") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  auto refused = [&]() {
    auto f = schemaFrames(a);
    REQUIRE(!f.empty());
    auto* r = std::get_if<lobby::Refused>(&f.back());
    return r ? r->errorTag : std::string("none");
  };
  a->clearReceived();
  say(a, lobby::Join{""});
  CHECK(refused() == "RoomValidationError");
  say(a, lobby::Join{std::string(rooms::kMaxTopicLength + 1, 't')});
  CHECK(refused() == "RoomValidationError");
  a->clearReceived();
  say(a, lobby::Join{std::string(rooms::kMaxTopicLength, 't')});  // the longest allowed
  CHECK(schemaFrames(a).empty());
  say(a, lobby::Leave{std::string(rooms::kMaxTopicLength, 't')});
  rt.hibernate();
  // The runtime part's cap (1 KiB) binds before the count: 7 or 8 topics of 123 bytes fit.
  int joined = 0;
  for (int i = 0; i < 40; ++i) {
    a->clearReceived();
    say(a, lobby::Join{std::to_string(i) + std::string(120, 'x')});
    if (!schemaFrames(a).empty()) {
      CHECK(refused() == "AttachmentTooLargeError");
      break;
    }
    ++joined;
  }
  CHECK(joined > 4);
  CHECK(static_cast<std::size_t>(joined) < rooms::kMaxTopicsPerConnection);
  rt.hibernate();
  a->clearReceived();
  say(a, lobby::Members{"0" + std::string(120, 'x')});
  CHECK(std::get<lobby::MembersAre>(schemaFrames(a).at(0)).mine.size() == static_cast<std::size_t>(joined));
  // The count limit, with short names.
  auto* b = enter(rt, "b");
  for (std::size_t i = 0; i < rooms::kMaxTopicsPerConnection; ++i) say(b, lobby::Join{"t" + std::to_string(i)});
  b->clearReceived();
  say(b, lobby::Join{"one-too-many"});
  auto f = schemaFrames(b);
  REQUIRE(f.size() == 1);
  CHECK(std::get<lobby::Refused>(f[0]).errorTag == "RoomValidationError");
}

// ---- Resume ---------------------------------------------------------------------

TEST_CASE("resume: every frame carries $seq; a client that drops gets exactly what it missed, in order, first") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  auto* b = enter(rt, "b", {.topics = {"news"}});
  say(a, lobby::Say{"one"});
  CHECK(seqs(b).size() == 2);  // Welcome, Said
  const std::uint64_t lastSeen = seqs(b).back();
  CHECK(b->received().back().rfind(R"({"$seq":)" + std::to_string(lastSeen) + R"(,"_tag":"Said",)", 0) == 0);
  rt.hibernate();
  b->close();
  rt.hibernate();

  say(a, lobby::Burst{20, "m"});  // 20 frames to everyone, b away
  rt.hibernate();
  say(a, lobby::Whisper{"a", "self"});   // to a alone: not b's
  say(a, lobby::ToTopic{"news", "n1"});  // b was in news (its onConnect joins it again)
  say(a, lobby::ToTopic{"sports", "s1"});
  rt.hibernate();

  auto* b2 = enter(rt, "b", {.resume = lastSeen, .topics = {"news"}});
  Strings expected;
  for (int i = 1; i <= 20; ++i) expected.push_back("Said:m" + std::to_string(i));
  expected.push_back("TopicSaid");
  expected.push_back("Welcome");    // onConnect's own frame, held until the replay
  expected.push_back("$Presence");
  const std::string got = [&] { std::string o; for (auto& x : sequenceOf(b2)) o += x + " "; return o; }();
  CHECK_MESSAGE(sequenceOf(b2) == expected, got);
  auto s = seqs(b2);
  CHECK(std::is_sorted(s.begin(), s.end()));
  CHECK(s.front() == lastSeen + 1);  // runtime frames (b's PresenceDiff) take no number
  rt.hibernate();

  // Live frames follow.
  b2->clearReceived();
  say(a, lobby::Say{"live"});
  CHECK(sequenceOf(b2) == Strings{"Said:live"});
}

TEST_CASE("resume: past the buffer a client gets ResyncRequired; a room that resends nothing sends nothing") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  auto* b = enter(rt, "b");
  const std::uint64_t lastSeen = seqs(b).back();
  b->close();
  rt.hibernate();
  say(a, lobby::Burst{40, "m"});  // more than the 32 buffered
  rt.hibernate();
  auto* b2 = enter(rt, "b", {.resume = lastSeen});
  CHECK(sequenceOf(b2) == Strings{"$ResyncRequired", "Welcome", "$Presence"});
  const std::uint64_t latest = parseJson(b2->received()[0])["seq"].GetUint64();
  CHECK(latest == lastSeen + 40);  // a's Welcome came before b's
  CHECK(seqs(b2).at(0) == latest + 1);
  rt.hibernate();

  // Resuming from the latest: nothing missed.
  b2->close();
  auto* b3 = enter(rt, "b", {.resume = latest + 1});
  CHECK(sequenceOf(b3) == Strings{"Welcome", "$Presence"});
  b3->close();
  // From the future: ResyncRequired.
  auto* b4 = enter(rt, "b", {.resume = 1'000'000});
  CHECK(sequenceOf(b4).at(0) == "$ResyncRequired");
}

TEST_CASE("resume: the buffer's storage, per broadcast") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  say(a, lobby::Burst{40, "fill"});  // the buffer is full: each broadcast now also trims one
  rt.hibernate();
  say(a, lobby::Say{"warm"});
  const std::size_t ops0 = rt.storageOps(), bytes0 = rt.storageBytes();
  say(a, lobby::Say{"hello"});  // one put of the frame, one delete, the head, the state
  const std::size_t ops1 = rt.storageOps(), bytes1 = rt.storageBytes();
  say(a, lobby::Burst{10, "x"});  // 10 frames: 10 puts, 10 deletes, one head
  const std::size_t ops2 = rt.storageOps(), bytes2 = rt.storageBytes();
  MESSAGE("Say (state + 1 frame): ", ops1 - ops0, " ops, ", bytes1 - bytes0, " bytes; Burst of 10: ", ops2 - ops1,
          " ops, ", bytes2 - bytes1, " bytes");
  CHECK(ops1 - ops0 == 4);
  CHECK(ops2 - ops1 == 21);
  CHECK(rt.stored("lobby", kRoom, "rooms:seq:1") == std::nullopt);  // trimmed
  auto head = parseJson(*rt.stored("lobby", kRoom, "rooms:seq"));
  CHECK(head["seq"].GetUint64() - head["first"].GetUint64() + 1 == 32);
}

// ---- A room that opts into nothing ---------------------------------------------

TEST_CASE("presence, topics, resume: a room that opts into none sends and keeps exactly what it did before") {
  InMemoryRuntime rt(app::registry());
  auto r = rt.connect<probe::Probe>("p", {.id = "p1", .initialState = {"p1", {}}});
  REQUIRE(r.ok());
  auto* p1 = r.value();
  auto r2 = rt.connect<probe::Probe>("p", {.id = "p2", .initialState = {"p2", {}}});
  REQUIRE(r2.ok());
  auto* p2 = r2.value();
  CHECK(p1->received().empty());  // no Presence frames
  CHECK(InMemoryRuntime::attachmentOf(*p1) == R"({"name":"p1"})");  // no runtime record
  rt.hibernate();
  p1->receive(probe::Event{probe::Ping{}});
  REQUIRE(p2->received().size() == 1);
  const std::string& frame = p2->received()[0];
  CHECK(frame.rfind(R"({"_tag":"Pong",)", 0) == 0);
  probe::Broadcast pong;
  REQUIRE(!rooms::Decoder().decode(frame, pong));
  CHECK(frame == *rooms::encodeToString(pong));  // the schema frame, byte for byte
  CHECK(rt.stored("probe", "p", "rooms:seq") == std::nullopt);
}
