// The spec's chat example (quick start), driven through the in-memory runtime
// exactly as a test of a user's room would be: joins, messages, typing,
// leaves, direct sends, bad frames, connection listings, duplicate ids and
// hibernation.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "app.h"
#include "chat/chat.h"
#include "rooms/testing.h"
#include "support/support.h"

namespace {

using rooms::testing::InMemoryRuntime;
using rooms::testing::Reply;
using rooms::testing::TestConnection;
using Strings = std::vector<std::string>;
using support::decodeStrict;
using support::parseJson;
using ConnInfo = support::ConnInfo<chat::Chat>;

constexpr std::string_view kRoom = "room-1";

// A user joins room-1 through the typed path; their connection state is
// {userId: id, joinedAt: now}.
TestConnection* join(InMemoryRuntime& rt, const std::string& id, Strings tags = {}) {
  auto r = rt.connect<chat::Chat>(kRoom, {.id = id, .tags = std::move(tags), .initialState = {id, rt.now()}});
  REQUIRE_MESSAGE(r.ok(), rt.lastReply().payload);
  REQUIRE(r.value() != nullptr);
  return r.value();
}

// Upgrade options as the JS client sends them.
std::string upgradeJson(std::string_view id, std::string_view onDuplicate = "") {
  std::string s = R"({"id":")" + std::string(id) + R"(","tags":["user:)" + std::string(id) +
                  R"("],"initialState":{"userId":")" + std::string(id) + R"(","joinedAt":1})";
  if (!onDuplicate.empty()) s += R"(,"onDuplicate":")" + std::string(onDuplicate) + "\"";
  return s + "}";
}

std::optional<chat::State> roomState(InMemoryRuntime& rt) { return support::stateOf<chat::Chat>(rt, kRoom); }

// The chat room has presence and resume: runtime frames (Presence,
// PresenceDiff) are asserted in their own test below; the helpers here look
// at the schema frames only (each with its "$seq").
Strings schema(const TestConnection* c) { return support::schemaFramesOf(c); }
Strings tagsOf(const TestConnection* c) {
  Strings out;
  for (auto& t : c->receivedTags())
    if (!t.empty()) out.push_back(t);
  return out;
}

std::vector<chat::Broadcast> frames(const TestConnection* c) { return support::framesOf<chat::Chat>(c); }

template <class T>
T only(const TestConnection* c) {
  auto v = frames(c);
  REQUIRE(v.size() == 1);
  REQUIRE(std::holds_alternative<T>(v[0]));
  return std::get<T>(v[0]);
}

std::vector<ConnInfo> connections(InMemoryRuntime& rt, std::optional<std::string_view> tag = std::nullopt) {
  return support::connectionsOf<chat::Chat>(rt, kRoom, tag);
}

using support::ids;

// A Say frame of exactly `size` bytes.
std::string sayFrameOfSize(std::size_t size) {
  const std::string head = R"({"_tag":"Say","text":")", tail = R"("})";
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

}  // namespace

// ---- Joining, speaking, typing, leaving --------------------------------------

TEST_CASE("chat: the first join initialises the room state; later joins are announced to the others only") {
  InMemoryRuntime rt(app::registry());
  CHECK(rt.room("chat").getState(kRoom).payload == "null");

  const rooms::Timestamp t0 = rt.now();
  auto* alice = join(rt, "alice");
  CHECK(alice->id() == "alice");
  CHECK(alice->isOpen());
  CHECK(schema(alice).empty());  // nobody else to tell, and never the joiner
  auto s = roomState(rt);
  REQUIRE(s);
  CHECK(s->createdAt == t0);
  CHECK(s->messageCount == 0);

  rt.advance(std::chrono::seconds(5));
  auto* bob = join(rt, "bob");
  CHECK(schema(bob).empty());
  CHECK(only<chat::UserJoined>(alice).userId == "bob");
  // The second join does not re-initialise.
  CHECK(roomState(rt)->createdAt == t0);

  auto* carol = join(rt, "carol");
  CHECK(schema(carol).empty());
  CHECK(tagsOf(alice) == Strings{"UserJoined", "UserJoined"});
  CHECK(tagsOf(bob) == Strings{"UserJoined"});
  CHECK(std::get<chat::UserJoined>(frames(bob)[0]).userId == "carol");
}

TEST_CASE("chat: Say counts the message and reaches everyone, the sender included, as the sender") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  auto* bob = join(rt, "bob");
  alice->clearReceived();
  rt.advance(std::chrono::milliseconds(1234));

  alice->receive(chat::Event{chat::Say{"hi"}});
  for (auto* c : {alice, bob}) {
    auto m = only<chat::Message>(c);
    CHECK(m.text == "hi");
    CHECK(m.userId == "alice");
    CHECK(m.ts == rt.now());
  }
  CHECK(roomState(rt)->messageCount == 1);

  // On the wire: one JSON object with the sequence number first, then the
  // _tag and the fields.
  CHECK(schema(bob)[0].rfind(R"({"$seq":)", 0) == 0);
  auto wire = parseJson(schema(bob)[0]);
  CHECK(std::string(wire["_tag"].GetString()) == "Message");
  CHECK(wire.MemberCount() == 5);

  bob->receive(chat::Event{chat::Say{"hello"}});
  CHECK(std::get<chat::Message>(frames(alice).back()).userId == "bob");
  CHECK(roomState(rt)->messageCount == 2);
}

TEST_CASE("chat: a Say reads the platform's clock once, whatever uses it") {
  // The inbound budget, the outbound budget and the handler's two ctx.now()
  // (initialise, the Message's ts) share one reading per event: on Cloudflare
  // each reading is a call out of the Wasm core.
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  join(rt, "bob");
  const std::size_t before = rt.clockReads();
  alice->receive(chat::Event{chat::Say{"hi"}});
  CHECK(rt.clockReads() == before + 1);
  CHECK(alice->receivedAs<chat::Broadcast>().size() >= 1);
}

TEST_CASE("chat: a direct send broadcasts a Message from \"system\"") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  auto* bob = join(rt, "bob");
  alice->clearReceived();

  SUBCASE("typed") {
    Reply r = rt.room("chat").sendEvent(kRoom, chat::Event{chat::Say{"from server"}});
    CHECK_MESSAGE(r.ok, r.payload);
  }
  SUBCASE("as JSON, the way the worker forwards a request body") {
    Reply r = rt.room("chat").send(kRoom, R"({"_tag":"Say","text":"from server"})");
    CHECK_MESSAGE(r.ok, r.payload);
  }
  for (auto* c : {alice, bob}) {
    auto m = only<chat::Message>(c);
    CHECK(m.text == "from server");
    CHECK(m.userId == "system");
  }
  CHECK(roomState(rt)->messageCount == 1);
}

TEST_CASE("chat: direct sends: a Say creates the room; what does not apply does nothing") {
  InMemoryRuntime rt(app::registry());

  SUBCASE("Say before anyone joined creates the room and counts the message (nobody hears it)") {
    // Was: the state stayed null. The room is now created by its first use,
    // a connection or a direct Say (wasm/examples/chat/chat.cpp).
    const rooms::Timestamp t0 = rt.now();
    Reply r = rt.room("chat").sendEvent(kRoom, chat::Event{chat::Say{"anyone?"}});
    CHECK(r.ok);
    auto s = roomState(rt);
    REQUIRE(s);
    CHECK(s->createdAt == t0);
    CHECK(s->messageCount == 1);
  }
  SUBCASE("Typing without a connection broadcasts nothing") {
    auto* alice = join(rt, "alice");
    Reply r = rt.room("chat").sendEvent(kRoom, chat::Event{chat::Typing{}});
    CHECK(r.ok);
    CHECK(schema(alice).empty());
  }
  SUBCASE("an event that fails the schema is refused with RoomValidationError") {
    auto* alice = join(rt, "alice");
    Reply r = rt.room("chat").send(kRoom, R"({"_tag":"Say","text":7})");
    CHECK_FALSE(r.ok);
    CHECK(r.tag == "RoomValidationError");
    auto e = parseJson(r.payload);
    CHECK(std::string(e["_tag"].GetString()) == "RoomValidationError");
    CHECK(std::string(e["path"].GetString()) == "$.text");
    CHECK(schema(alice).empty());
    CHECK(roomState(rt)->messageCount == 0);
  }
}

TEST_CASE("chat: Typing reaches everyone but the sender") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  auto* bob = join(rt, "bob");
  auto* carol = join(rt, "carol");
  for (auto* c : {alice, bob, carol}) c->clearReceived();

  alice->receive(chat::Event{chat::Typing{}});
  CHECK(schema(alice).empty());
  for (auto* c : {bob, carol}) {
    CHECK(only<chat::TypingBy>(c).userId == "alice");
    CHECK(tagsOf(c) == Strings{"Typing"});
  }
  CHECK(roomState(rt)->messageCount == 0);
}

TEST_CASE("chat: leaving announces UserLeft to the rest and drops the connection") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  auto* bob = join(rt, "bob");
  auto* carol = join(rt, "carol");
  for (auto* c : {alice, bob, carol}) c->clearReceived();

  alice->close(1000, "bye");
  CHECK_FALSE(alice->isOpen());
  CHECK(alice->closeCode() == 1000u);
  CHECK(schema(alice).empty());
  for (auto* c : {bob, carol}) CHECK(only<chat::UserLeft>(c).userId == "alice");
  CHECK(ids(connections(rt)) == Strings{"bob", "carol"});

  // A closed client hears nothing more.
  bob->receive(chat::Event{chat::Say{"she left"}});
  CHECK(schema(alice).empty());
  CHECK(tagsOf(carol) == Strings{"UserLeft", "Message"});
}

// ---- Bad frames ----------------------------------------------------------------

TEST_CASE("chat: a frame that fails the event schema changes nothing and leaves the socket open") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  auto* bob = join(rt, "bob");
  alice->receive(chat::Event{chat::Say{"first"}});
  for (auto* c : {alice, bob}) c->clearReceived();
  const std::string stateBefore = rt.room("chat").getState(kRoom).payload;
  const std::size_t logsBefore = rt.logs().size();

  SUBCASE("not JSON") { alice->receiveRaw("hello there"); }
  SUBCASE("empty text") { alice->receiveRaw(""); }
  SUBCASE("JSON that is not an object") { alice->receiveRaw(R"(["Say","hi"])"); }
  SUBCASE("no _tag") { alice->receiveRaw(R"({"text":"hi"})"); }
  SUBCASE("unknown _tag") { alice->receiveRaw(R"({"_tag":"Shout","text":"hi"})"); }
  SUBCASE("a broadcast's _tag") { alice->receiveRaw(R"({"_tag":"Message","text":"hi","userId":"x","ts":1})"); }
  SUBCASE("wrong field type") { alice->receiveRaw(R"({"_tag":"Say","text":42})"); }
  SUBCASE("missing field") { alice->receiveRaw(R"({"_tag":"Say"})"); }
  SUBCASE("duplicate key") { alice->receiveRaw(R"({"_tag":"Say","text":"a","text":"b"})"); }
  SUBCASE("binary frame, even with a valid event inside") { alice->receiveBinary(R"({"_tag":"Say","text":"hi"})"); }
  SUBCASE("oversize: one byte over 1 MiB, even though it is a valid Say") {
    alice->receiveRaw(sayFrameOfSize((1u << 20) + 1));
  }

  CHECK(rt.room("chat").getState(kRoom).payload == stateBefore);
  CHECK(schema(alice).empty());
  CHECK(schema(bob).empty());
  CHECK(alice->isOpen());
  CHECK(bob->isOpen());
  // Without an onDecodeError the failure is logged, naming the connection.
  REQUIRE(rt.logs().size() == logsBefore + 1);
  CHECK(rt.logs().back().find("alice") != std::string::npos);

  // The socket keeps working.
  alice->receive(chat::Event{chat::Say{"still here"}});
  CHECK(only<chat::Message>(bob).text == "still here");
  CHECK(roomState(rt)->messageCount == 2);
}

TEST_CASE("chat: a frame of exactly 1 MiB is accepted") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  alice->receiveRaw(sayFrameOfSize(1u << 20));
  CHECK(tagsOf(alice) == Strings{"Message"});
  CHECK(roomState(rt)->messageCount == 1);
}

TEST_CASE("chat: unknown keys in an inbound frame are dropped") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  alice->receiveRaw(R"({"_tag":"Say","text":"hi","extra":{"nested":[1,2]}})");
  CHECK(only<chat::Message>(alice).text == "hi");
  CHECK(schema(alice)[0].find("extra") == std::string::npos);
}

// ---- State and connection listings ----------------------------------------------

TEST_CASE("chat: getConnections lists {id, tags, state}, optionally by tag") {
  InMemoryRuntime rt(app::registry());
  CHECK(rt.room("chat").getConnections(kRoom).payload == "[]");

  const rooms::Timestamp t0 = rt.now();
  join(rt, "alice", {"user:alice", "admin"});
  rt.advance(std::chrono::seconds(1));
  join(rt, "bob", {"user:bob"});

  auto all = connections(rt);
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == "alice");
  CHECK(all[0].tags == Strings{"user:alice", "admin"});  // the reserved id tag is not listed
  CHECK(all[0].state.userId == "alice");
  CHECK(all[0].state.joinedAt == t0);
  CHECK(all[1].id == "bob");
  CHECK(all[1].tags == Strings{"user:bob"});
  CHECK(all[1].state.joinedAt == t0 + std::chrono::seconds(1));

  // Exactly these keys, nothing else (decodeStrict refuses extras; check the order too).
  auto raw = parseJson(rt.room("chat").getConnections(kRoom).payload);
  Strings keys;
  for (rapidjson::SizeType i = 0; i < raw[0].MemberCount(); ++i)
    keys.push_back((raw[0].MemberBegin() + i)->name.GetString());
  CHECK(keys == Strings{"id", "tags", "state"});

  CHECK(ids(connections(rt, "admin")) == Strings{"alice"});
  CHECK(ids(connections(rt, "user:bob")) == Strings{"bob"});
  CHECK(connections(rt, "nobody").empty());
  CHECK(connections(rt, "alice").empty());  // ids are not tags
}

TEST_CASE("chat: direct broadcast reaches every connection; a bad message is refused") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  auto* bob = join(rt, "bob");
  alice->clearReceived();

  Reply ok = rt.room("chat").broadcast(kRoom, R"({"_tag":"UserLeft","userId":"ghost"})");
  CHECK(ok.ok);
  for (auto* c : {alice, bob}) CHECK(only<chat::UserLeft>(c).userId == "ghost");

  Reply bad = rt.room("chat").broadcast(kRoom, R"({"_tag":"Say","text":"not a broadcast"})");
  CHECK_FALSE(bad.ok);
  CHECK(bad.tag == "RoomValidationError");
  CHECK(schema(alice).size() == 1);
}

// ---- Duplicate connection ids (JSON upgrade path) ----------------------------------

TEST_CASE("chat: the JSON upgrade accepts a connection and answers its id") {
  InMemoryRuntime rt(app::registry());
  TestConnection* alice = nullptr;
  Reply r = rt.room("chat").upgrade(kRoom, upgradeJson("alice"), &alice);
  REQUIRE_MESSAGE(r.ok, r.payload);
  CHECK(r.payload == "alice");
  REQUIRE(alice);
  CHECK(alice->tags() == Strings{"user:alice"});
  CHECK(connections(rt)[0].state.joinedAt == rooms::fromEpochMs(1));

  // Without an id the runtime assigns one.
  TestConnection* anon = nullptr;
  Reply r2 = rt.room("chat").upgrade(kRoom, R"({"initialState":{"userId":"anon","joinedAt":2}})", &anon);
  REQUIRE(r2.ok);
  REQUIRE(anon);
  CHECK_FALSE(anon->id().empty());
  CHECK(r2.payload == anon->id());
  CHECK(only<chat::UserJoined>(alice).userId == "anon");
}

TEST_CASE("chat: JSON upgrade options are validated") {
  InMemoryRuntime rt(app::registry());
  std::string opts;
  SUBCASE("not JSON") { opts = "{"; }
  SUBCASE("not an object") { opts = "[]"; }
  SUBCASE("no initialState") { opts = R"({"id":"alice"})"; }
  SUBCASE("initialState of the wrong shape") { opts = R"({"id":"alice","initialState":{"userId":5,"joinedAt":1}})"; }
  SUBCASE("id not a string") { opts = R"({"id":5,"initialState":{"userId":"a","joinedAt":1}})"; }
  SUBCASE("tags not strings") { opts = R"({"tags":[1],"initialState":{"userId":"a","joinedAt":1}})"; }
  SUBCASE("unknown onDuplicate") { opts = R"({"initialState":{"userId":"a","joinedAt":1},"onDuplicate":"merge"})"; }
  TestConnection* conn = reinterpret_cast<TestConnection*>(1);  // upgrade must reset it
  Reply r = rt.room("chat").upgrade(kRoom, opts, &conn);
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "UpgradeError");
  CHECK(parseJson(r.payload)["status"].GetDouble() == 400);
  CHECK(conn == nullptr);
  CHECK(connections(rt).empty());
}

TEST_CASE("chat: onDuplicate allow (the default) keeps both sockets under one id") {
  InMemoryRuntime rt(app::registry());
  auto* bob = join(rt, "bob");
  std::string policy;
  SUBCASE("explicit") { policy = "allow"; }
  SUBCASE("default") { policy = ""; }

  TestConnection *first = nullptr, *second = nullptr;
  REQUIRE(rt.room("chat").upgrade(kRoom, upgradeJson("alice", policy), &first).ok);
  REQUIRE(rt.room("chat").upgrade(kRoom, upgradeJson("alice", policy), &second).ok);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first != second);
  CHECK(first->isOpen());
  CHECK(second->isOpen());
  CHECK(ids(connections(rt)) == Strings{"bob", "alice", "alice"});

  bob->receive(chat::Event{chat::Say{"to both"}});
  CHECK(tagsOf(first).back() == "Message");
  CHECK(tagsOf(second).back() == "Message");
}

TEST_CASE("chat: onDuplicate replace closes the old socket with 1012 and keeps the new") {
  InMemoryRuntime rt(app::registry());
  auto* bob = join(rt, "bob");
  TestConnection *old = nullptr, *fresh = nullptr;
  REQUIRE(rt.room("chat").upgrade(kRoom, upgradeJson("alice", "replace"), &old).ok);
  Reply r = rt.room("chat").upgrade(kRoom, upgradeJson("alice", "replace"), &fresh);
  REQUIRE(r.ok);
  REQUIRE(fresh);
  CHECK(r.payload == "alice");

  CHECK_FALSE(old->isOpen());
  CHECK(old->closeCode() == rooms::kCloseReplaced);
  CHECK(old->closeCode() == 1012u);
  CHECK(fresh->isOpen());
  CHECK(ids(connections(rt)) == Strings{"bob", "alice"});

  old->clearReceived();
  fresh->clearReceived();
  bob->receive(chat::Event{chat::Say{"hi alice"}});
  CHECK(schema(old).empty());
  CHECK(only<chat::Message>(fresh).text == "hi alice");
}

TEST_CASE("chat: onDuplicate replace closes every earlier socket of that id") {
  InMemoryRuntime rt(app::registry());
  TestConnection *a = nullptr, *b = nullptr, *c = nullptr;
  REQUIRE(rt.room("chat").upgrade(kRoom, upgradeJson("alice", "allow"), &a).ok);
  REQUIRE(rt.room("chat").upgrade(kRoom, upgradeJson("alice", "allow"), &b).ok);
  REQUIRE(rt.room("chat").upgrade(kRoom, upgradeJson("alice", "replace"), &c).ok);
  CHECK(a->closeCode() == 1012u);
  CHECK(b->closeCode() == 1012u);
  CHECK(c->isOpen());
  CHECK(ids(connections(rt)) == Strings{"alice"});
}

TEST_CASE("chat: onDuplicate reject answers 409 and leaves the first socket alone") {
  InMemoryRuntime rt(app::registry());
  auto* bob = join(rt, "bob");
  TestConnection* first = nullptr;
  REQUIRE(rt.room("chat").upgrade(kRoom, upgradeJson("alice", "reject"), &first).ok);
  bob->clearReceived();

  TestConnection* second = reinterpret_cast<TestConnection*>(1);  // upgrade must reset it
  Reply r = rt.room("chat").upgrade(kRoom, upgradeJson("alice", "reject"), &second);
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "UpgradeError");
  auto e = parseJson(r.payload);
  CHECK(std::string(e["_tag"].GetString()) == "UpgradeError");
  CHECK(e["status"].GetDouble() == 409);
  CHECK(second == nullptr);

  CHECK(first->isOpen());
  CHECK(ids(connections(rt)) == Strings{"bob", "alice"});
  CHECK(schema(bob).empty());  // onConnect did not run: no UserJoined

  // A different id is not a duplicate, and once alice left her id is free again.
  CHECK(rt.room("chat").upgrade(kRoom, upgradeJson("carol", "reject")).ok);
  first->close();
  CHECK(rt.room("chat").upgrade(kRoom, upgradeJson("alice", "reject")).ok);
}

// ---- Hibernation ---------------------------------------------------------------

TEST_CASE("chat: after hibernation connections come back with id, tags and state; onConnect does not rerun") {
  InMemoryRuntime rt(app::registry());
  const rooms::Timestamp t0 = rt.now();
  auto* alice = join(rt, "alice", {"user:alice", "admin"});
  auto* bob = join(rt, "bob", {"user:bob"});
  alice->receive(chat::Event{chat::Say{"before"}});
  for (auto* c : {alice, bob}) c->clearReceived();

  rt.hibernate();
  CHECK(rt.attachmentLoads() == 0);

  SUBCASE("an event that reads no connection state loads no attachment") {
    REQUIRE(rt.room("chat").sendEvent(kRoom, chat::Event{chat::Say{"wake up"}}).ok);
    CHECK(rt.attachmentLoads() == 0);
    for (auto* c : {alice, bob}) CHECK(only<chat::Message>(c).userId == "system");
    CHECK(roomState(rt)->messageCount == 2);  // the state was stored, not kept in memory
    CHECK(roomState(rt)->createdAt == t0);
  }
  SUBCASE("attachments load lazily, at most once per socket per wake") {
    bob->receive(chat::Event{chat::Typing{}});
    CHECK(only<chat::TypingBy>(alice).userId == "bob");
    CHECK(rt.attachmentLoads() == 1);  // bob's only

    alice->receive(chat::Event{chat::Say{"after"}});
    CHECK(std::get<chat::Message>(frames(bob).back()).userId == "alice");
    CHECK(rt.attachmentLoads() == 2);

    alice->receive(chat::Event{chat::Say{"again"}});
    bob->receive(chat::Event{chat::Typing{}});
    CHECK(rt.attachmentLoads() == 2);

    auto all = connections(rt);
    CHECK(rt.attachmentLoads() == 2);
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == "alice");
    CHECK(all[0].tags == Strings{"user:alice", "admin"});
    CHECK(all[0].state.userId == "alice");
    CHECK(all[0].state.joinedAt == t0);
    CHECK(all[1].id == "bob");
    CHECK(all[1].tags == Strings{"user:bob"});
    CHECK(ids(connections(rt, "admin")) == Strings{"alice"});
  }
  SUBCASE("a second hibernation starts the count again") {
    alice->receive(chat::Event{chat::Say{"one"}});
    CHECK(rt.attachmentLoads() == 1);
    rt.hibernate();
    CHECK(rt.attachmentLoads() == 0);
    alice->receive(chat::Event{chat::Say{"two"}});
    CHECK(rt.attachmentLoads() == 1);
    CHECK(roomState(rt)->messageCount == 3);
  }
  SUBCASE("a new join after the wake is announced; the old ones are not re-announced") {
    auto* carol = join(rt, "carol");
    CHECK(only<chat::UserJoined>(alice).userId == "carol");
    CHECK(only<chat::UserJoined>(bob).userId == "carol");
    CHECK(schema(carol).empty());
    CHECK(ids(connections(rt)) == Strings{"alice", "bob", "carol"});
  }
  SUBCASE("a client that leaves after the wake is announced") {
    alice->close(1001, "going away");
    CHECK(only<chat::UserLeft>(bob).userId == "alice");
    CHECK(ids(connections(rt)) == Strings{"bob"});
  }

  // onConnect never ran again: nobody heard a second UserJoined for alice or bob.
  for (auto* c : {alice, bob})
    for (auto& f : frames(c))
      if (auto* j = std::get_if<chat::UserJoined>(&f)) CHECK(j->userId == "carol");
}

TEST_CASE("chat: a slot freed before hibernation is reused after it without confusing sockets") {
  InMemoryRuntime rt(app::registry());
  auto* alice = join(rt, "alice");
  auto* bob = join(rt, "bob");
  alice->close();
  rt.hibernate();

  auto* carol = join(rt, "carol");
  CHECK(ids(connections(rt)) == Strings{"bob", "carol"});
  bob->clearReceived();
  carol->receive(chat::Event{chat::Say{"hi"}});
  CHECK(only<chat::Message>(bob).userId == "carol");
  CHECK(only<chat::Message>(carol).userId == "carol");
  CHECK_FALSE(alice->isOpen());
  CHECK(tagsOf(alice) == Strings{"UserJoined"});  // from before it left
}

TEST_CASE("chat: closing one of two sockets of a user does not announce that the user left") {
  InMemoryRuntime rt(app::registry());
  auto connect = [&](const std::string& id) {
    auto r = rt.connect<chat::Chat>("tabs", {.id = id, .initialState = {id, rt.now()}});
    REQUIRE(r.ok());
    return r.value();
  };
  auto* tab1 = connect("alice");
  auto* tab2 = connect("alice");
  auto* bob = connect("bob");
  bob->clearReceived();
  tab1->close(1000);
  CHECK(tagsOf(bob).empty());
  tab2->close(1000);
  CHECK(tagsOf(bob) == std::vector<std::string>{"UserLeft"});
}

// ---- Presence and resume ----------------------------------------------------------

TEST_CASE("chat: the online list is keyed by userId; a joiner gets it after onConnect, the others a diff") {
  InMemoryRuntime rt(app::registry());
  const rooms::Timestamp t0 = rt.now();
  auto* alice = join(rt, "alice");
  REQUIRE(alice->received().size() == 1);  // no UserJoined to the joiner: the Presence alone
  auto p = parseJson(alice->received()[0]);
  CHECK(std::string(p["$rooms"].GetString()) == "Presence");
  CHECK(std::string(p["self"].GetString()) == "alice");
  const auto& entries = p["state"]["alice"];
  REQUIRE(entries.Size() == 1);
  CHECK(std::string(entries[0]["meta"]["userId"].GetString()) == "alice");
  CHECK(entries[0]["meta"]["joinedAt"].GetInt64() == rooms::epochMs(t0));
  alice->clearReceived();
  rt.hibernate();

  auto* bob = join(rt, "bob");
  // alice: the UserJoined of onConnect, then the diff at the end of the event.
  REQUIRE(alice->received().size() == 2);
  CHECK(alice->received()[0].find(R"("_tag":"UserJoined")") != std::string::npos);
  auto d = parseJson(alice->received()[1]);
  CHECK(std::string(d["$rooms"].GetString()) == "PresenceDiff");
  CHECK(d["joins"].HasMember("bob"));
  CHECK(d["leaves"].ObjectEmpty());
  auto s = parseJson(bob->received().at(0));
  CHECK(s["state"].MemberCount() == 2);
}
