// Stored-format compatibility: rooms whose storage, alarm and WebSocket
// attachments were WRITTEN BY THE PREVIOUS RUNTIME (commit 6e734a9, the
// template runtime before the non-template one of wasm/core/src/runtime),
// restored into today's in-memory runtime and woken by it. The storage keys,
// the records under them and the attachment envelope must read back as they
// were: what a deployed room holds when the new code is rolled out.
//
// How the fixtures were made: a throwaway program built against a worktree of
// 6e734a9 (its wasm/core/rooms/*.cpp, the chat example, and
// tests/support/probe/{liveness,lobby}.cpp, with g++ -std=c++20) drove its
// InMemoryRuntime (start 1'700'000'000'000 ms) with a registry of
//   chat::Chat   chat::handlers(), chat::options()  (presence, resume, heartbeat)
//   live::Live   live::liveOptions()                (named timers, heartbeat)
//   lobby::Lobby lobby::options()                   (presence, topics, resume)
// as follows:
//   chat "room-1":  t+0 s alice connects (tag user:alice); t+2 s bob (tag
//                   user:bob); t+3 s alice Say "hello bob"; t+4 s bob Say "hi
//                   alice"; t+5 s alice Typing; t+6 s alice Say "how are you?"
//   live "live-1":  t+7 s a connects, SetTimer tick 10 s, SetTimer later
//                   120 s, Schedule 30 s
//   lobby "lobby-1": t+8 s alice connects with meta {"topics":["general"]},
//                   bob connects, bob Join general, bob Join games, alice
//                   ToTopic general "hey general", alice Say "hello all"
// then at t+9 s hibernate(), and printed every storage key and value, the
// alarm, and each socket's slot, id, user tags and attachment. The literals
// below are that output, byte for byte.
//
// The expected frames and states after the wake are what 6e734a9 itself
// answered when the same program went on from its hibernation with the same
// requests (its sockets were the fixtures' sockets), so each test asserts that
// today's runtime, woken over the old stored forms, does what the old one did.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat.h"
#include "probe/liveness.h"
#include "probe/lobby.h"
#include "rooms/testing.h"
#include "support/support.h"

namespace {

using rooms::testing::InMemoryRuntime;
using rooms::testing::Reply;
using rooms::testing::TestConnection;
using Storage = std::map<std::string, std::string>;
using Sockets = std::vector<InMemoryRuntime::StoredSocket>;
using Strings = std::vector<std::string>;
using namespace std::chrono_literals;

// The old runtime's clock when it hibernated: every restored runtime starts
// here, so the fixtures' times ("seen", timers, the alarm) are as recent as
// they were when written.
constexpr double kWrittenAt = 1'700'000'009'000.0;

// ---- Fixtures written by 6e734a9 ----------------------------------------------------

// chat "room-1".
const Storage kChatStorage = {
    {R"(rooms:seq)", R"({"seq":6,"first":1,"bytes":451})"},
    {R"(rooms:seq:1)", R"({"except":["alice"]})" "\n" R"({"$seq":1,"_tag":"UserJoined","userId":"alice"})"},
    {R"(rooms:seq:2)", R"({"except":["bob"]})" "\n" R"({"$seq":2,"_tag":"UserJoined","userId":"bob"})"},
    {R"(rooms:seq:3)", R"({})" "\n" R"({"$seq":3,"_tag":"Message","text":"hello bob","userId":"alice","ts":1700000003000})"},
    {R"(rooms:seq:4)", R"({})" "\n" R"({"$seq":4,"_tag":"Message","text":"hi alice","userId":"bob","ts":1700000004000})"},
    {R"(rooms:seq:5)", R"({"except":["alice"]})" "\n" R"({"$seq":5,"_tag":"Typing","userId":"alice"})"},
    {R"(rooms:seq:6)", R"({})" "\n" R"({"$seq":6,"_tag":"Message","text":"how are you?","userId":"alice","ts":1700000006000})"},
    {R"(rooms:state)", R"({"createdAt":1700000000000,"messageCount":3})"},
    {R"(rooms:timers)", R"({"$sweep":1700000060000})"},
};
constexpr double kChatAlarm = 1'700'000'060'000.0;
const Sockets kChatSockets = {
    {0, R"(alice)", {R"(user:alice)"}, R"({"seen":1700000000000,"ref":"conn1"})" "\n" R"({"userId":"alice","joinedAt":1700000000000})"},
    {1, R"(bob)", {R"(user:bob)"}, R"({"seen":1700000002000,"ref":"conn2"})" "\n" R"({"userId":"bob","joinedAt":1700000002000})"},
};

// live "live-1".
const Storage kLiveStorage = {
    {R"(rooms:alarm)", R"(1700000037000)"},
    {R"(rooms:timers)", R"({"$sweep":1700000067000,"later":1700000127000,"tick":1700000017000})"},
};
constexpr double kLiveAlarm = 1'700'000'017'000.0;
const Sockets kLiveSockets = {
    {0, R"(a)", {}, R"({"seen":1700000007000})" "\n" R"({"name":"a"})"},
};

// lobby "lobby-1".
const Storage kLobbyStorage = {
    {R"(rooms:seq)", R"({"seq":4,"first":1,"bytes":278})"},
    {R"(rooms:seq:1)", R"({"to":["alice"]})" "\n" R"({"$seq":1,"_tag":"Welcome","user":"alice"})"},
    {R"(rooms:seq:2)", R"({"to":["bob"]})" "\n" R"({"$seq":2,"_tag":"Welcome","user":"bob"})"},
    {R"(rooms:seq:3)", R"({"topic":"general"})" "\n" R"({"$seq":3,"_tag":"TopicSaid","topic":"general","text":"hey general","from":"alice"})"},
    {R"(rooms:seq:4)", R"({})" "\n" R"({"$seq":4,"_tag":"Said","text":"hello all","from":"alice"})"},
    {R"(rooms:state)", R"({"said":1})"},
};
const Sockets kLobbySockets = {
    {0, R"(alice)", {R"(user:alice)"}, R"({"ref":"conn3","topics":["general"]})" "\n" R"({"user":"alice","status":"here"})"},
    {1, R"(bob)", {R"(user:bob)"}, R"({"ref":"conn4","topics":["general","games"]})" "\n" R"({"user":"bob","status":"away"})"},
};

// ---- Helpers ------------------------------------------------------------------------

// The three room types with the options the fixtures were written under.
const rooms::Registry& registry() {
  static const rooms::Registry reg = [] {
    rooms::Registry r;
    r.add<chat::Chat>(chat::handlers(), chat::options());
    r.add<live::Live>(live::handlers<live::Live>(), live::liveOptions());
    r.add<lobby::Lobby>(lobby::handlers(), lobby::options());
    return r;
  }();
  return reg;
}

// Presence refs come from Host::randomId: random on the platform, a counter
// per InMemoryRuntime here ("conn-1" gives ref "conn1"). The old program's had
// given out four (conn1 to conn4, the fixtures' refs) when it hibernated; four
// sockets in another room bring a new runtime's to the same point, so a new
// socket's ref is "conn5" as it was there, and frames naming it compare
// byte for byte (and no new ref repeats a stored one, as on the platform).
void spendStoredRefs(InMemoryRuntime& rt) {
  for (const char* id : {"x1", "x2", "x3", "x4"})
    REQUIRE(rt.connect<chat::Chat>("elsewhere", {.id = id, .initialState = {id, rt.now()}}).ok());
}

// A runtime at the old one's clock, with the room restored as it was stored.
void restoreChat(InMemoryRuntime& rt) {
  spendStoredRefs(rt);
  rt.restore("chat", "room-1", kChatStorage, kChatAlarm, kChatSockets);
}
void restoreLive(InMemoryRuntime& rt) {
  spendStoredRefs(rt);
  rt.restore("live", "live-1", kLiveStorage, kLiveAlarm, kLiveSockets);
}
void restoreLobby(InMemoryRuntime& rt) {
  spendStoredRefs(rt);
  rt.restore("lobby", "lobby-1", kLobbyStorage, std::nullopt, kLobbySockets);
}

// The sequenced frame of a stored resume record (after its selection line).
std::string storedFrame(const Storage& s, int seq) {
  const std::string& rec = s.at("rooms:seq:" + std::to_string(seq));
  return rec.substr(rec.find('\n') + 1);
}
Strings storedFrames(const Storage& s, std::initializer_list<int> seqs) {
  Strings out;
  for (int n : seqs) out.push_back(storedFrame(s, n));
  return out;
}
Strings concat(Strings a, const Strings& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// An upgrade through the JS client's path; the connection, or fails the test.
TestConnection* upgrade(InMemoryRuntime& rt, std::string_view type, std::string_view room, const std::string& opts) {
  TestConnection* conn = nullptr;
  Reply r = rt.room(type).upgrade(room, opts, &conn);
  REQUIRE_MESSAGE(r.ok, r.payload);
  REQUIRE(conn != nullptr);
  return conn;
}

// A chat user's upgrade options at the runtime's clock, optionally resuming.
std::string chatOpts(InMemoryRuntime& rt, const std::string& id, std::optional<int> resume = std::nullopt) {
  std::string s = R"({"id":")" + id + R"(","tags":["user:)" + id + R"("],"initialState":{"userId":")" + id +
                  R"(","joinedAt":)" + std::to_string(rooms::epochMs(rt.now())) + "}";
  if (resume) s += R"(,"resume":)" + std::to_string(*resume);
  return s + "}";
}

std::string stateJson(InMemoryRuntime& rt, std::string_view type, std::string_view room) {
  Reply r = rt.room(type).getState(room);
  REQUIRE_MESSAGE(r.ok, r.payload);
  return r.payload;
}

// The Presence frame a new chat socket gets: alice and bob with their stored
// refs and connection states, and the newcomer (ref conn5).
std::string chatPresence(const std::string& self, const std::string& extra) {
  return R"({"$rooms":"Presence","self":")" + self +
         R"(","state":{"alice":[{"ref":"conn1","meta":{"userId":"alice","joinedAt":1700000000000}})" + extra +
         R"(],"bob":[{"ref":"conn2","meta":{"userId":"bob","joinedAt":1700000002000}}]})" + "}";
}
constexpr std::string_view kCarolPresence =
    R"({"$rooms":"Presence","self":"carol","state":{"alice":[{"ref":"conn1","meta":{"userId":"alice","joinedAt":1700000000000}}],"bob":[{"ref":"conn2","meta":{"userId":"bob","joinedAt":1700000002000}}],"carol":[{"ref":"conn5","meta":{"userId":"carol","joinedAt":1700000009000}}]}})";

}  // namespace

// ---- chat: state, members, new frames --------------------------------------------------

TEST_CASE("compat: chat state and restored members read back after the wake") {
  InMemoryRuntime rt(registry(), kWrittenAt);
  restoreChat(rt);

  CHECK(stateJson(rt, "chat", "room-1") == kChatStorage.at("rooms:state"));

  Reply conns = rt.room("chat").getConnections("room-1");
  REQUIRE(conns.ok);
  CHECK(conns.payload ==
        R"([{"id":"alice","tags":["user:alice"],"state":{"userId":"alice","joinedAt":1700000000000}},)"
        R"({"id":"bob","tags":["user:bob"],"state":{"userId":"bob","joinedAt":1700000002000}}])");
  // The stored user tags select.
  CHECK(support::ids(support::connectionsOf<chat::Chat>(rt, "room-1", "user:bob")) == Strings{"bob"});
  REQUIRE(rt.alarmOf("chat", "room-1"));
  CHECK(rooms::epochMs(*rt.alarmOf("chat", "room-1")) == 1'700'000'060'000);
}

TEST_CASE("compat: a Say from a restored socket reaches the other with the next $seq after the old head") {
  InMemoryRuntime rt(registry(), kWrittenAt);
  restoreChat(rt);
  TestConnection* alice = rt.socket("chat", "room-1", 0);
  TestConnection* bob = rt.socket("chat", "room-1", 1);
  REQUIRE(alice);
  REQUIRE(bob);
  REQUIRE(alice->isOpen());
  REQUIRE(bob->isOpen());

  rt.advance(1s);
  alice->receive(chat::Event{chat::Say{"back again"}});
  const std::string frame =
      R"({"$seq":7,"_tag":"Message","text":"back again","userId":"alice","ts":1700000010000})";
  CHECK(bob->received() == Strings{frame});
  CHECK(alice->received() == Strings{frame});
  CHECK(alice->isOpen());

  // The count went on from the stored state.
  CHECK(stateJson(rt, "chat", "room-1") == R"({"createdAt":1700000000000,"messageCount":4})");

  // The buffer grew on the old one: a record in the old form, the head
  // counting on from the old bytes, the old records untouched.
  const std::string record = std::string("{}\n") + frame;
  CHECK(rt.stored("chat", "room-1", "rooms:seq:7") == record);
  CHECK(rt.stored("chat", "room-1", "rooms:seq") == R"({"seq":7,"first":1,"bytes":537})");
  CHECK(451 + record.size() == 537);
  for (int n = 1; n <= 6; ++n) {
    const std::string key = "rooms:seq:" + std::to_string(n);
    CHECK(rt.stored("chat", "room-1", key) == kChatStorage.at(key));
  }
}

// ---- chat: resume from the old buffer -------------------------------------------------

TEST_CASE("compat: a new client resuming from an old seq gets exactly the old frames addressed to it") {
  SUBCASE("carol from 2: frames 3 to 6, then presence") {
    InMemoryRuntime rt(registry(), kWrittenAt);
    restoreChat(rt);
    TestConnection* carol = upgrade(rt, "chat", "room-1", chatOpts(rt, "carol", 2));
    CHECK(carol->received() == concat(storedFrames(kChatStorage, {3, 4, 5, 6}), {std::string(kCarolPresence)}));
  }
  SUBCASE("a second tab of alice from 0: not the frames stored with except alice") {
    InMemoryRuntime rt(registry(), kWrittenAt);
    restoreChat(rt);
    TestConnection* tab = upgrade(rt, "chat", "room-1", chatOpts(rt, "alice", 0));
    CHECK(tab->received() ==
          concat(storedFrames(kChatStorage, {2, 3, 4, 6}),
                 {chatPresence("alice", R"(,{"ref":"conn5","meta":{"userId":"alice","joinedAt":1700000009000}})")}));
  }
  SUBCASE("a second tab of bob from 0: not the frame stored with except bob") {
    InMemoryRuntime rt(registry(), kWrittenAt);
    restoreChat(rt);
    TestConnection* tab = upgrade(rt, "chat", "room-1", chatOpts(rt, "bob", 0));
    CHECK(support::schemaFramesOf(tab) == storedFrames(kChatStorage, {1, 3, 4, 5, 6}));
    CHECK(tab->received().back() ==
          R"({"$rooms":"Presence","self":"bob","state":{"alice":[{"ref":"conn1","meta":{"userId":"alice","joinedAt":1700000000000}}],)"
          R"("bob":[{"ref":"conn2","meta":{"userId":"bob","joinedAt":1700000002000}},{"ref":"conn5","meta":{"userId":"bob","joinedAt":1700000009000}}]}})");
  }
  SUBCASE("from the old head: nothing to replay, then the live frames go on from 7") {
    InMemoryRuntime rt(registry(), kWrittenAt);
    restoreChat(rt);
    TestConnection* carol = upgrade(rt, "chat", "room-1", chatOpts(rt, "carol", 6));
    CHECK(carol->received() == Strings{std::string(kCarolPresence)});
    carol->clearReceived();
    rt.socket("chat", "room-1", 1)->receive(chat::Event{chat::Say{"welcome"}});
    CHECK(carol->received() ==
          Strings{R"({"$seq":8,"_tag":"Message","text":"welcome","userId":"bob","ts":1700000009000})"});
  }
}

// ---- chat: presence -----------------------------------------------------------------

TEST_CASE("compat: presence after the wake names the restored users with their stored refs") {
  InMemoryRuntime rt(registry(), kWrittenAt);
  restoreChat(rt);
  TestConnection* alice = rt.socket("chat", "room-1", 0);
  TestConnection* carol = upgrade(rt, "chat", "room-1", chatOpts(rt, "carol"));

  CHECK(carol->received() == Strings{std::string(kCarolPresence)});
  // The restored sockets are told of carol.
  CHECK(alice->received() ==
        Strings{R"({"$seq":7,"_tag":"UserJoined","userId":"carol"})",
                R"({"$rooms":"PresenceDiff","joins":{"carol":[{"ref":"conn5","meta":{"userId":"carol","joinedAt":1700000009000}}]},"leaves":{}})"});

  // bob leaves: his stored ref is what leaves.
  alice->clearReceived();
  rt.socket("chat", "room-1", 1)->close();
  CHECK(alice->received() ==
        Strings{R"({"$seq":8,"_tag":"UserLeft","userId":"bob"})",
                R"({"$rooms":"PresenceDiff","joins":{},"leaves":{"bob":[{"ref":"conn2","meta":{"userId":"bob","joinedAt":1700000002000}}]}})"});
}

// ---- chat: the heartbeat's stale sweep ------------------------------------------------

TEST_CASE("compat: the stale sweep counts from the stored \"seen\", not from the wake") {
  // chat::options(): stale after 60 s, swept every 15 s. "seen" is at most a
  // quarter of that older than the last frame: alice was last heard from by
  // 1700000015000 at the latest, bob by 1700000017000.
  InMemoryRuntime rt(registry(), kWrittenAt);
  restoreChat(rt);
  TestConnection* alice = rt.socket("chat", "room-1", 0);
  TestConnection* bob = rt.socket("chat", "room-1", 1);

  // The stored alarm runs the stored $sweep at 1700000060000: neither is
  // stale, and the next sweep is when alice would be.
  rt.advance(51s);
  CHECK(alice->isOpen());
  CHECK(bob->isOpen());
  CHECK(rt.stored("chat", "room-1", "rooms:timers") == R"({"$sweep":1700000075000})");

  // 1700000075000: alice has been silent for 60 s since her stored "seen"
  // (plus its quarter); bob for 58 s. (Counted from the wake, neither would be.)
  rt.advance(15s);
  CHECK_FALSE(alice->isOpen());
  CHECK(alice->closeCode() == rooms::kCloseStale);
  CHECK(alice->closeReason() == "stale");
  CHECK(bob->isOpen());
  CHECK(bob->received() ==
        Strings{R"({"$rooms":"PresenceDiff","joins":{},"leaves":{"alice":[{"ref":"conn1","meta":{"userId":"alice","joinedAt":1700000000000}}]}})",
                R"({"$seq":7,"_tag":"UserLeft","userId":"alice"})"});
  CHECK(support::ids(support::connectionsOf<chat::Chat>(rt, "room-1")) == Strings{"bob"});
}

// ---- live: named timers and the spec's schedule ----------------------------------------

TEST_CASE("compat: the restored named timers and schedule fire at their stored times") {
  InMemoryRuntime rt(registry(), kWrittenAt);
  restoreLive(rt);
  TestConnection* a = rt.socket("live", "live-1", 0);
  REQUIRE(a);

  rt.advance(7999ms);
  CHECK(stateJson(rt, "live", "live-1") == "null");
  rt.advance(1ms);  // 1700000017000: "tick"
  CHECK(stateJson(rt, "live", "live-1") == R"({"fired":["tick"],"left":[],"failTimes":0,"failName":""})");
  CHECK(a->received() == Strings{R"({"_tag":"Fired","name":"tick","failure":null})"});

  rt.advance(20s);  // 1700000037000: the spec's schedule, stored under rooms:alarm
  CHECK(stateJson(rt, "live", "live-1") ==
        R"({"fired":["tick","$schedule"],"left":[],"failTimes":0,"failName":""})");
  CHECK_FALSE(rt.stored("live", "live-1", "rooms:alarm"));

  rt.advance(90s);  // 1700000127000: "later"; a, last heard from by 1700000022000, swept on the way
  CHECK(stateJson(rt, "live", "live-1") ==
        R"({"fired":["tick","$schedule","later"],"left":["a"],"failTimes":0,"failName":""})");
  CHECK_FALSE(a->isOpen());
  CHECK(a->closeCode() == rooms::kCloseStale);
  CHECK(a->received() == Strings{R"({"_tag":"Fired","name":"tick","failure":null})",
                                 R"({"_tag":"Fired","name":"$schedule","failure":null})"});
}

// ---- lobby: topics from the attachment, topic and "to" selections -----------------------

TEST_CASE("compat: lobby topics and presence read back from the attachments") {
  InMemoryRuntime rt(registry(), kWrittenAt);
  restoreLobby(rt);
  TestConnection* alice = rt.socket("lobby", "lobby-1", 0);
  TestConnection* bob = rt.socket("lobby", "lobby-1", 1);
  REQUIRE(alice);
  REQUIRE(bob);

  alice->receive(lobby::Event{lobby::Members{"general"}});
  auto m = support::framesOf<lobby::Lobby>(alice);
  REQUIRE(m.size() == 1);
  REQUIRE(std::holds_alternative<lobby::MembersAre>(m[0]));
  CHECK(std::get<lobby::MembersAre>(m[0]).ids == Strings{"alice", "bob"});
  CHECK(std::get<lobby::MembersAre>(m[0]).mine == Strings{"general"});

  bob->receive(lobby::Event{lobby::Members{"games"}});
  m = support::framesOf<lobby::Lobby>(bob);
  REQUIRE(m.size() == 1);
  REQUIRE(std::holds_alternative<lobby::MembersAre>(m[0]));
  CHECK(std::get<lobby::MembersAre>(m[0]).ids == Strings{"bob"});
  CHECK(std::get<lobby::MembersAre>(m[0]).mine == Strings{"general", "games"});

  // A topic only bob joined (in the old runtime): he gets it, alice does not.
  // (The MembersAre answers were 5 and 6.)
  alice->clearReceived();
  bob->clearReceived();
  alice->receive(lobby::Event{lobby::ToTopic{"games", "gg"}});
  CHECK(bob->received() == Strings{R"({"$seq":7,"_tag":"TopicSaid","topic":"games","text":"gg","from":"alice"})"});
  CHECK(alice->received().empty());

  // Presence keyed by user, with the stored refs.
  TestConnection* carol =
      upgrade(rt, "lobby", "lobby-1", R"({"id":"carol","initialState":{"user":"carol","status":"new"}})");
  CHECK(carol->received() ==
        Strings{R"({"$seq":8,"_tag":"Welcome","user":"carol"})",
                R"({"$rooms":"Presence","self":"carol","state":{"alice":[{"ref":"conn3","meta":{"user":"alice","status":"here"}}],)"
                R"("bob":[{"ref":"conn4","meta":{"user":"bob","status":"away"}}],"carol":[{"ref":"conn5","meta":{"user":"carol","status":"new"}}]}})"});
}

TEST_CASE("compat: lobby resume replays the old records by their stored topic and \"to\" selections") {
  InMemoryRuntime rt(registry(), kWrittenAt);
  restoreLobby(rt);
  // carol joins general in onConnect (meta), so the record stored for topic
  // general is hers; those stored "to" alice and "to" bob are not.
  TestConnection* carol = upgrade(
      rt, "lobby", "lobby-1",
      R"({"id":"carol","meta":{"topics":["general"]},"initialState":{"user":"carol","status":"new"},"resume":0})");
  CHECK(support::schemaFramesOf(carol) ==
        concat(storedFrames(kLobbyStorage, {3, 4}), {R"({"$seq":5,"_tag":"Welcome","user":"carol"})"}));

  // A second tab of bob, in no topic: the record stored "to" bob (by id) and
  // the one to all, then its own Welcome.
  TestConnection* tab = upgrade(
      rt, "lobby", "lobby-1", R"({"id":"bob","initialState":{"user":"bob","status":"away"},"resume":0})");
  CHECK(support::schemaFramesOf(tab) ==
        concat(storedFrames(kLobbyStorage, {2, 4}), {R"({"$seq":6,"_tag":"Welcome","user":"bob"})"}));
  CHECK(tab->received().back() ==
        R"({"$rooms":"Presence","self":"bob","state":{"alice":[{"ref":"conn3","meta":{"user":"alice","status":"here"}}],)"
        R"("bob":[{"ref":"conn4","meta":{"user":"bob","status":"away"}},{"ref":"conn6","meta":{"user":"bob","status":"away"}}],)"
        R"("carol":[{"ref":"conn5","meta":{"user":"carol","status":"new"}}]}})");
}
