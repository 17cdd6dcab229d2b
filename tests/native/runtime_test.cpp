// The room runtime beyond the chat example, mostly through the probe room:
// attachment caps, handler errors and onError, exceptions, onDecodeError,
// schedules and alarm retries, purge, sibling dispatch, server-side closes,
// platform tag limits, connection lookups, and the effect batch itself.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "app.h"
#include "chat/chat.h"
#include "probe/probe.h"
#include "rooms/testing.h"
#include "runtime/instance.h"
#include "support/support.h"

namespace {

using rooms::EffectBatch;
using rooms::EffectKind;
using rooms::testing::InMemoryRuntime;
using rooms::testing::Reply;
using rooms::testing::TestConnection;
using Strings = std::vector<std::string>;
using support::decodeStrict;
using support::parseJson;
using support::stringField;
using ConnInfo = support::ConnInfo<probe::Probe>;
using namespace std::chrono_literals;

constexpr std::string_view kId = "p1";

// ---- Helpers -------------------------------------------------------------------

// Connects `id` to probe room `room`; its connection state is {name: id}.
TestConnection* enter(InMemoryRuntime& rt, const std::string& id, Strings tags = {}, std::string_view room = kId) {
  auto r = rt.connect<probe::Probe>(room, {.id = id, .tags = std::move(tags), .initialState = {id, std::nullopt}});
  REQUIRE_MESSAGE(r.ok(), rt.lastReply().payload);
  return r.value();
}

Reply sendProbe(InMemoryRuntime& rt, probe::Event ev, std::string_view room = kId) {
  return rt.room("probe").sendEvent(room, ev);
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

std::vector<probe::Broadcast> frames(const TestConnection* c) { return support::framesOf<probe::Probe>(c); }

// The frames of one kind, in order.
template <class T>
std::vector<T> framesOf(const TestConnection* c) {
  std::vector<T> out;
  for (auto& f : frames(c))
    if (auto* t = std::get_if<T>(&f)) out.push_back(*t);
  return out;
}

// The most recent frame, which must be a T.
template <class T>
T last(const TestConnection* c) {
  auto v = frames(c);
  REQUIRE_FALSE(v.empty());
  REQUIRE(std::holds_alternative<T>(v.back()));
  return std::get<T>(v.back());
}

template <class T>
T only(const TestConnection* c) {
  REQUIRE(c->received().size() == 1);
  return last<T>(c);
}

probe::Pong ping(TestConnection* c) {
  c->clearReceived();
  c->receive(probe::Event{probe::Ping{}});
  return only<probe::Pong>(c);
}

std::optional<probe::State> probeState(InMemoryRuntime& rt, std::string_view room = kId) {
  return support::stateOf<probe::Probe>(rt, room);
}

std::optional<chat::State> chatState(InMemoryRuntime& rt, std::string_view room) {
  return support::stateOf<chat::Chat>(rt, room);
}

std::vector<ConnInfo> connections(InMemoryRuntime& rt, std::optional<std::string_view> tag = std::nullopt) {
  return support::connectionsOf<probe::Probe>(rt, kId, tag);
}

using support::ids;

// A host with nothing in it but storage, for driving a RoomInstance directly
// and looking at the effect batches it writes.
struct BareHost final : rooms::Host {
  std::map<std::string, std::string, std::less<>> storage;
  double now() override { return 5000; }
  std::string randomId() override { return "random"; }
  std::optional<std::string> load(std::string_view key) override {
    auto it = storage.find(key);
    if (it == storage.end()) return std::nullopt;
    return it->second;
  }
  std::vector<rooms::ConnectionRecord> loadConnections() override { return {}; }
  std::string loadAttachment(std::uint32_t) override { return {}; }
  std::optional<std::string> env(std::string_view) override { return std::nullopt; }
};

// The records of a batch; views point into `b`.
std::vector<rooms::Effect> effectsOf(const EffectBatch& b) {
  std::vector<rooms::Effect> out;
  rooms::EffectReader r(b.data(), b.size());
  rooms::Effect e;
  while (r.next(e)) out.push_back(e);
  REQUIRE(out.size() == b.count());
  return out;
}

std::vector<rooms::Effect> ofKind(const std::vector<rooms::Effect>& all, EffectKind k) {
  std::vector<rooms::Effect> out;
  for (auto& e : all)
    if (e.kind == k) out.push_back(e);
  return out;
}

}  // namespace

// ---- Attachments ------------------------------------------------------------------

TEST_CASE("runtime: setState is capped at 2 KiB encoded; over the cap it fails and changes nothing") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  const std::size_t base = rooms::encodeToString(probe::Connection{"p1", std::string()})->size();
  const std::string fits(2048 - base, 'a');  // encodes to exactly 2048 bytes

  p1->receive(probe::Event{probe::Grow{fits}});
  CHECK(last<probe::GrowResult>(p1).outcome == "ok");
  REQUIRE(connections(rt)[0].state.pad == fits);

  p1->receive(probe::Event{probe::Grow{fits + "b"}});
  CHECK(last<probe::GrowResult>(p1).outcome == "AttachmentTooLargeError");
  CHECK(connections(rt)[0].state.pad == fits);  // in memory
  rt.hibernate();
  CHECK(connections(rt)[0].state.pad == fits);  // and in the platform's attachment
  CHECK(p1->isOpen());

  // After the wake the attachment is what the handler sees.
  CHECK(ping(p1).connection == "p1/p1");
}

TEST_CASE("runtime: an initialState over the attachment cap is an UpgradeError") {
  InMemoryRuntime rt(app::registry());
  auto r = rt.connect<probe::Probe>(kId, {.id = "big", .initialState = {"big", std::string(3000, 'x')}});
  REQUIRE_FALSE(r.ok());
  REQUIRE(std::holds_alternative<rooms::UpgradeError>(r.error()));
  CHECK(std::get<rooms::UpgradeError>(r.error()).status == 400);
  CHECK(contains(std::get<rooms::UpgradeError>(r.error()).message, "2048"));
  CHECK(connections(rt).empty());
}

// ---- Handler errors ------------------------------------------------------------------

TEST_CASE("runtime: a handler's error goes to its onError; a direct send answers RoomExecutionError") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  auto* p2 = enter(rt, "p2");

  p1->receive(probe::Event{probe::Fail{"boom"}});
  auto seen = last<probe::ErrorSeen>(p2);
  CHECK(seen.phase == "onEvent");
  CHECK(seen.errorTag == "RoomError");
  CHECK(contains(seen.message, "boom"));
  CHECK(p1->isOpen());

  p2->clearReceived();
  Reply r = sendProbe(rt, probe::Fail{"direct boom"});
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "RoomExecutionError");
  CHECK(stringField(r.payload, "phase") == "onEvent");
  CHECK(contains(stringField(r.payload, "cause"), "RoomError"));
  CHECK(contains(stringField(r.payload, "cause"), "direct boom"));
  CHECK(only<probe::ErrorSeen>(p2).errorTag == "RoomError");  // onError ran for the direct send too
  REQUIRE_FALSE(rt.logs().empty());
  CHECK(contains(rt.logs().back(), "direct boom"));  // the failure is logged as well

  // The room keeps serving.
  CHECK(sendProbe(rt, probe::Ping{}).ok);
  const auto before = probeState(rt)->events;
  CHECK(ping(p1).events == before + 1);
}

TEST_CASE("runtime: a thrown C++ exception becomes RoomExecutionError and the room keeps serving") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");

  Reply r = sendProbe(rt, probe::Trap{"throw"});
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "RoomExecutionError");
  CHECK(stringField(r.payload, "phase") == "onEvent");
  CHECK(contains(stringField(r.payload, "cause"), "probe threw"));
  CHECK(last<probe::ErrorSeen>(p1).errorTag == "RoomExecutionError");

  p1->clearReceived();
  p1->receive(probe::Event{probe::Trap{"throw"}});
  CHECK(only<probe::ErrorSeen>(p1).errorTag == "RoomExecutionError");
  CHECK(p1->isOpen());

  const auto before = probeState(rt)->events;
  CHECK(ping(p1).events == before + 1);
  CHECK(sendProbe(rt, probe::Ping{}).ok);
}

TEST_CASE("runtime: onDecodeError receives frames that fail the event schema") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  auto* p2 = enter(rt, "p2");
  const auto logsBefore = rt.logs().size();
  std::string expectInMessage;

  SUBCASE("not JSON") {
    p1->receiveRaw("{oops");
    expectInMessage = "invalid JSON";
  }
  SUBCASE("unknown _tag") {
    p1->receiveRaw(R"({"_tag":"Explode"})");
    expectInMessage = "_tag";
  }
  SUBCASE("wrong field type") {
    p1->receiveRaw(R"({"_tag":"Schedule","inMs":"soon"})");
    expectInMessage = "$.inMs";
  }
  SUBCASE("binary") {
    p1->receiveBinary(R"({"_tag":"Ping"})");
    expectInMessage = "binary";
  }
  SUBCASE("oversize") {
    p1->receiveRaw(std::string((1u << 20) + 1, ' '));
    expectInMessage = "1048576";
  }

  for (auto* c : {p1, p2}) {
    auto seen = only<probe::ErrorSeen>(c);
    CHECK(seen.phase == "onDecodeError");
    CHECK(seen.errorTag == "RoomValidationError");
    CHECK_MESSAGE(contains(seen.message, expectInMessage), seen.message);
  }
  CHECK_FALSE(probeState(rt));  // onEvent never ran
  CHECK(rt.logs().size() == logsBefore);  // handled, so not logged
  CHECK(p1->isOpen());
  CHECK(ping(p1).events == 1);
}

// ---- Schedules -------------------------------------------------------------------------

TEST_CASE("runtime: Schedule sets the alarm, advancing the clock fires onAlarm once") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  const rooms::Timestamp t0 = rt.now();

  REQUIRE(sendProbe(rt, probe::Schedule{5000}).ok);
  CHECK(rt.alarmOf("probe", kId) == t0 + 5000ms);
  CHECK(ping(p1).nextAlarm == t0 + 5000ms);

  p1->clearReceived();
  rt.advance(4999ms);
  CHECK(p1->received().empty());
  rt.advance(1ms);
  auto ran = only<probe::AlarmRan>(p1);
  CHECK(ran.alarms == 1);
  CHECK(ran.retryCount == 0);
  CHECK_FALSE(ran.failure);

  CHECK_FALSE(rt.alarmOf("probe", kId));
  CHECK_FALSE(ping(p1).nextAlarm);
  p1->clearReceived();
  rt.advance(1h);
  CHECK(p1->received().empty());
}

TEST_CASE("runtime: a new schedule replaces the old; Cancel clears it") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  const rooms::Timestamp t0 = rt.now();
  REQUIRE(sendProbe(rt, probe::Schedule{5000}).ok);

  SUBCASE("replace") {
    REQUIRE(sendProbe(rt, probe::Schedule{1000}).ok);
    CHECK(rt.alarmOf("probe", kId) == t0 + 1000ms);
    p1->clearReceived();
    rt.advance(10s);
    CHECK(framesOf<probe::AlarmRan>(p1).size() == 1);
  }
  SUBCASE("cancel") {
    p1->receive(probe::Event{probe::Cancel{}});
    CHECK_FALSE(rt.alarmOf("probe", kId));
    CHECK_FALSE(rt.stored("probe", kId, rooms::kAlarmKey));
    CHECK_FALSE(ping(p1).nextAlarm);
    p1->clearReceived();
    rt.advance(10s);
    CHECK(p1->received().empty());
  }
}

TEST_CASE("runtime: the schedule survives hibernation") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  const rooms::Timestamp t0 = rt.now();
  REQUIRE(sendProbe(rt, probe::Schedule{3000}).ok);
  rt.hibernate();
  CHECK(ping(p1).nextAlarm == t0 + 3000ms);
  rt.hibernate();
  p1->clearReceived();
  rt.advance(3s);
  CHECK(only<probe::AlarmRan>(p1).alarms == 1);
}

TEST_CASE("runtime: fireAlarm runs onAlarm now and consumes the schedule") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");

  SUBCASE("with a schedule pending") {
    REQUIRE(sendProbe(rt, probe::Schedule{60000}).ok);
    p1->clearReceived();
    Reply r = rt.room("probe").fireAlarm(kId);
    CHECK(r.ok);
    CHECK(only<probe::AlarmRan>(p1).alarms == 1);
    CHECK_FALSE(rt.alarmOf("probe", kId));
    CHECK_FALSE(ping(p1).nextAlarm);
    p1->clearReceived();
    rt.advance(2min);
    CHECK(p1->received().empty());  // not run a second time
  }
  SUBCASE("without one") {
    p1->clearReceived();
    CHECK(rt.room("probe").fireAlarm(kId).ok);
    CHECK(only<probe::AlarmRan>(p1).alarms == 1);
  }
  SUBCASE("a failing manual alarm answers the error and is not retried") {
    REQUIRE(sendProbe(rt, probe::FailAlarms{1}).ok);
    p1->clearReceived();
    Reply r = rt.room("probe").fireAlarm(kId);
    CHECK_FALSE(r.ok);
    CHECK(r.tag == "RoomExecutionError");
    CHECK(stringField(r.payload, "phase") == "onAlarm");
    CHECK_FALSE(rt.alarmOf("probe", kId));
    rt.advance(10min);
    CHECK(framesOf<probe::AlarmRan>(p1).size() == 1);
  }
}

TEST_CASE("runtime: a failed alarm is retried with ctx.systemFailure set until it succeeds") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  REQUIRE(sendProbe(rt, probe::FailAlarms{2}).ok);
  REQUIRE(sendProbe(rt, probe::Schedule{1000}).ok);
  p1->clearReceived();

  rt.advance(1000ms);
  auto ran = framesOf<probe::AlarmRan>(p1);
  REQUIRE(ran.size() == 1);
  CHECK(ran[0].retryCount == 0);
  CHECK_FALSE(ran[0].failure);  // the first attempt is not a retry
  CHECK(rt.stored("probe", kId, rooms::kAlarmFailureKey));
  CHECK(rt.alarmOf("probe", kId) == rt.now() + 2000ms);  // backoff: 2 s, 4 s, ...

  rt.advance(2000ms);
  ran = framesOf<probe::AlarmRan>(p1);
  REQUIRE(ran.size() == 2);
  CHECK(ran[1].retryCount == 1);
  REQUIRE(ran[1].failure);
  CHECK(contains(*ran[1].failure, "alarm failure requested"));

  rt.advance(4000ms);
  ran = framesOf<probe::AlarmRan>(p1);
  REQUIRE(ran.size() == 3);
  CHECK(ran[2].retryCount == 2);
  CHECK(ran[2].failure);
  // Succeeded: no more retries and the failure record is gone.
  CHECK_FALSE(rt.alarmOf("probe", kId));
  CHECK_FALSE(rt.stored("probe", kId, rooms::kAlarmFailureKey));
  rt.advance(10min);
  CHECK(framesOf<probe::AlarmRan>(p1).size() == 3);
  auto s = probeState(rt);
  CHECK(s->alarms == 3);
  CHECK(s->failAlarms == 0);

  // The next scheduled alarm is a first attempt again.
  REQUIRE(sendProbe(rt, probe::Schedule{10}).ok);
  rt.advance(10ms);
  auto again = last<probe::AlarmRan>(p1);
  CHECK(again.retryCount == 0);
  CHECK_FALSE(again.failure);
}

TEST_CASE("runtime: an alarm that keeps failing is retried six times, then dropped") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  REQUIRE(sendProbe(rt, probe::FailAlarms{100}).ok);
  REQUIRE(sendProbe(rt, probe::Schedule{0}).ok);
  rt.advance(1h);
  auto ran = framesOf<probe::AlarmRan>(p1);
  REQUIRE(ran.size() == 7);
  for (int i = 0; i < 7; ++i) CHECK(ran[i].retryCount == i);
  CHECK_FALSE(rt.alarmOf("probe", kId));
}

// ---- Purge -----------------------------------------------------------------------------

TEST_CASE("runtime: purge clears state and alarm but keeps the sockets") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  auto* p2 = enter(rt, "p2");
  ping(p1);
  REQUIRE(sendProbe(rt, probe::Schedule{5000}).ok);
  REQUIRE(probeState(rt));
  REQUIRE(rt.alarmOf("probe", kId));
  p1->clearReceived();

  SUBCASE("from a direct send") { CHECK(sendProbe(rt, probe::Purge{}).ok); }
  SUBCASE("from a connection") { p2->receive(probe::Event{probe::Purge{}}); }

  CHECK(rt.room("probe").getState(kId).payload == "null");
  CHECK_FALSE(rt.alarmOf("probe", kId));
  CHECK_FALSE(rt.stored("probe", kId, rooms::kStateKey));
  CHECK_FALSE(rt.stored("probe", kId, rooms::kAlarmKey));
  CHECK(p1->received().empty());  // a purge is not an error: no onError
  CHECK(p1->isOpen());
  CHECK(p2->isOpen());
  CHECK(ids(connections(rt)) == Strings{"p1", "p2"});

  rt.advance(1min);
  CHECK(p1->received().empty());
  CHECK(ping(p1).events == 1);  // a fresh state
}

// ---- Sibling dispatch ---------------------------------------------------------------------

TEST_CASE("runtime: a handler reads and sends to a sibling room with co_await") {
  InMemoryRuntime rt(app::registry());
  auto alice = rt.connect<chat::Chat>("c1", {.id = "alice", .initialState = {"alice", rt.now()}});
  REQUIRE(alice.ok());
  auto* p1 = enter(rt, "p1");

  p1->receive(probe::Event{probe::AskChat{"c1", "hello from probe"}});
  auto seen = only<probe::ChatSeen>(p1);
  REQUIRE(seen.messageCount);
  CHECK(*seen.messageCount == 0);  // read before the Say
  CHECK(chatState(rt, "c1")->messageCount == 1);
  auto msgs = (*alice)->receivedAs<chat::Broadcast>();
  REQUIRE(msgs.size() == 1);
  CHECK(std::get<chat::Message>(msgs[0]).text == "hello from probe");
  CHECK(std::get<chat::Message>(msgs[0]).userId == "system");
  CHECK(rt.siblingCalls() == 2);

  // A direct send gets its reply once the suspended handler finishes.
  p1->clearReceived();
  Reply r = sendProbe(rt, probe::AskChat{"c1", "again"});
  CHECK_MESSAGE(r.ok, r.payload);
  CHECK(*only<probe::ChatSeen>(p1).messageCount == 1);
  CHECK(chatState(rt, "c1")->messageCount == 2);

  // A chat instance nobody joined has null state. (Say used to leave it
  // null; a direct Say now creates the room and counts, see chat.cpp.)
  p1->clearReceived();
  p1->receive(probe::Event{probe::AskChat{"c2", "anyone?"}});
  CHECK_FALSE(only<probe::ChatSeen>(p1).messageCount);
  auto c2 = chatState(rt, "c2");
  REQUIRE(c2);
  CHECK(c2->messageCount == 1);
  CHECK(c2->createdAt == rt.now());
}

TEST_CASE("runtime: a sibling call to a room type the registry lacks fails with RoomNotFoundError") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");

  p1->receive(probe::Event{probe::AskMissing{}});
  auto seen = only<probe::ErrorSeen>(p1);
  CHECK(seen.errorTag == "RoomNotFoundError");
  CHECK(contains(seen.message, "missing"));
  CHECK(rt.siblingCalls() == 0);  // refused before reaching the platform

  Reply r = sendProbe(rt, probe::AskMissing{});
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "RoomExecutionError");
  CHECK(contains(stringField(r.payload, "cause"), "RoomNotFoundError"));
}

TEST_CASE("runtime: the client's calls to an unregistered room type answer RoomNotFoundError") {
  InMemoryRuntime rt(app::registry());
  for (Reply r : {rt.room("nope").getState("x"), rt.room("nope").send("x", R"({"_tag":"Ping"})"),
                  rt.room("nope").getConnections("x"), rt.room("nope").fireAlarm("x"),
                  rt.room("nope").upgrade("x", R"({"initialState":{}})")}) {
    CHECK_FALSE(r.ok);
    CHECK(r.tag == "RoomNotFoundError");
    CHECK(stringField(r.payload, "room") == "nope");
  }
}

// ---- Server-side closes -----------------------------------------------------------------

TEST_CASE("runtime: a handler closes another connection with a custom code") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  auto* p2 = enter(rt, "p2");
  auto* p3 = enter(rt, "p3");

  p1->receive(probe::Event{probe::Kick{"p2", 4000, "go away"}});
  CHECK_FALSE(p2->isOpen());
  CHECK(p2->closeCode() == 4000u);
  CHECK(p2->closeReason() == "go away");
  CHECK(p1->isOpen());
  CHECK(p3->isOpen());
  CHECK(ids(connections(rt)) == Strings{"p1", "p3"});
  CHECK(p1->received().empty());

  p2->clearReceived();
  ping(p1);
  CHECK(p2->received().empty());

  for (std::int32_t code : {1000, 3000, 4999}) {
    auto* victim = enter(rt, "victim");
    REQUIRE(sendProbe(rt, probe::Kick{"victim", code, ""}).ok);
    CHECK(victim->closeCode() == static_cast<std::uint32_t>(code));
  }
}

TEST_CASE("runtime: an invalid close is a RoomError and the target stays open") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  auto* p2 = enter(rt, "p2");
  probe::Kick kick{"p2", 4000, ""};
  std::string errorTag = "RoomError";

  SUBCASE("1005 (reserved: no status)") { kick.code = 1005; }
  SUBCASE("1006 (reserved: abnormal closure)") { kick.code = 1006; }
  SUBCASE("1015 (reserved: TLS)") { kick.code = 1015; }
  SUBCASE("1004") { kick.code = 1004; }
  SUBCASE("2999") { kick.code = 2999; }
  SUBCASE("5000") { kick.code = 5000; }
  SUBCASE("a reason over 123 bytes") { kick.reason = std::string(124, 'r'); }
  SUBCASE("an id nobody has") {
    kick.id = "nobody";
    errorTag = "SendError";
  }

  p1->receive(probe::Event{kick});
  auto seen = only<probe::ErrorSeen>(p1);
  CHECK(seen.errorTag == errorTag);
  if (kick.code != 4000) CHECK(contains(seen.message, std::to_string(kick.code)));
  CHECK(p2->isOpen());
  CHECK(ids(connections(rt)) == Strings{"p1", "p2"});
}

// ---- Platform limits on upgrades -----------------------------------------------------------

TEST_CASE("runtime: tag and id limits are enforced at upgrade with UpgradeError 400") {
  InMemoryRuntime rt(app::registry());
  auto attempt = [&](std::string id, Strings tags) {
    return rt.connect<probe::Probe>(kId, {.id = std::move(id), .tags = std::move(tags), .initialState = {"x"}});
  };
  auto refused = [&](const rooms::Result<TestConnection*>& r, std::string_view mentions) {
    REQUIRE_FALSE(r.ok());
    REQUIRE(std::holds_alternative<rooms::UpgradeError>(r.error()));
    const auto& e = std::get<rooms::UpgradeError>(r.error());
    CHECK(e.status == 400);
    CHECK_MESSAGE(contains(e.message, mentions), e.message);
    CHECK(rt.lastReply().tag == "UpgradeError");
  };
  auto tagsOf = [](std::size_t n) {
    Strings t;
    for (std::size_t i = 0; i < n; ++i) t.push_back("t" + std::to_string(i));
    return t;
  };

  // One of the platform's 10 tags holds the id: users get 9.
  CHECK(attempt("nine", tagsOf(9)).ok());
  refused(attempt("ten", tagsOf(10)), "limit is 9");

  CHECK(attempt("tag256", {std::string(256, 'a')}).ok());
  refused(attempt("tag257", {std::string(257, 'a')}), "257");
  refused(attempt("empty-tag", {""}), "empty");
  refused(attempt("reserved-tag", {"\x1f" "id:someone"}), "U+001F");

  // The id tag is "\x1fid:" + id, so ids get 256 - 4 characters.
  CHECK(attempt(std::string(252, 'i'), {}).ok());
  refused(attempt(std::string(253, 'i'), {}), "253");
  refused(attempt(std::string(300, 'i'), {}), "300");
  refused(attempt("", {}), "0 characters");

  CHECK(ids(connections(rt)) == Strings{"nine", "tag256", std::string(252, 'i')});
  CHECK(connections(rt)[0].tags == tagsOf(9));
}

TEST_CASE("runtime: a room holds at most 32768 sockets; the next upgrade is refused with 503") {
  InMemoryRuntime rt(app::registry());
  TestConnection* first = nullptr;
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < rooms::kMaxSocketsPerRoom; ++i) {
    auto r = rt.connect<probe::Probe>(kId, {.id = "c" + std::to_string(i), .initialState = {"c"}});
    if (!r.ok()) break;
    if (i == 0) first = r.value();
    ++accepted;
  }
  REQUIRE(accepted == rooms::kMaxSocketsPerRoom);
  auto full = rt.connect<probe::Probe>(kId, {.id = "one-too-many", .initialState = {"c"}});
  REQUIRE_FALSE(full.ok());
  CHECK(std::get<rooms::UpgradeError>(full.error()).status == 503);

  first->close();
  CHECK(rt.connect<probe::Probe>(kId, {.id = "now-fits", .initialState = {"c"}}).ok());
}

// ---- Connection lookups ----------------------------------------------------------------

TEST_CASE("runtime: connections by tag and by id follow joins, leaves and hibernation") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1", {"team:red", "admin"});
  auto* p2 = enter(rt, "p2", {"team:red"});
  auto* p3 = enter(rt, "p3", {"team:blue"});

  CHECK(ids(connections(rt, "team:red")) == Strings{"p1", "p2"});
  CHECK(ids(connections(rt, "admin")) == Strings{"p1"});
  CHECK(ids(connections(rt, "team:blue")) == Strings{"p3"});
  CHECK(connections(rt).size() == 3);

  p1->close();
  CHECK(ids(connections(rt, "team:red")) == Strings{"p2"});
  CHECK(connections(rt, "admin").empty());
  CHECK(connections(rt).size() == 2);

  rt.hibernate();
  CHECK(ids(connections(rt, "team:red")) == Strings{"p2"});
  CHECK(ids(connections(rt, "team:blue")) == Strings{"p3"});
  CHECK(connections(rt).size() == 2);

  // byId after the wake comes from the platform's id tag.
  rt.hibernate();
  p2->receive(probe::Event{probe::Kick{"p3", 4001, "by id"}});
  CHECK(p3->closeCode() == 4001u);
  CHECK(ids(connections(rt)) == Strings{"p2"});

  // A closed id is not found.
  p2->clearReceived();
  p2->receive(probe::Event{probe::Kick{"p1", 4000, ""}});
  CHECK(only<probe::ErrorSeen>(p2).errorTag == "SendError");
}

TEST_CASE("runtime: after hibernation a handler sees its connection's state, read lazily") {
  InMemoryRuntime rt(app::registry());
  auto* p1 = enter(rt, "p1");
  auto* p2 = enter(rt, "p2");
  p1->receive(probe::Event{probe::Grow{"kept"}});
  rt.hibernate();

  sendProbe(rt, probe::Ping{});
  CHECK(rt.attachmentLoads() == 0);  // a direct send reads no connection state
  CHECK(last<probe::Pong>(p2).connection.empty());

  CHECK(ping(p1).connection == "p1/p1");
  CHECK(rt.attachmentLoads() == 1);
  ping(p1);
  CHECK(rt.attachmentLoads() == 1);
  CHECK(connections(rt)[0].state.pad == "kept");
  CHECK(rt.attachmentLoads() == 2);  // listing reads p2's too, p1's only once
}

// ---- Rooms written for these tests -----------------------------------------------------------

namespace {

// A room type with the probe's schemas and handlers chosen per test.
using Edge = rooms::Room<"edge", probe::State, probe::Connection, probe::Event, probe::Broadcast>;
using EdgeCtx = rooms::RoomCtx<Edge>;

rooms::Task<rooms::Status> refuseNamedRefuse(EdgeCtx& ctx) {
  if (ctx.connection()->state().name == "refuse") co_return rooms::RoomError{"refused"};
  co_return ctx.broadcast(probe::Pong{});
}

rooms::Task<rooms::Status> failOrPong(EdgeCtx& ctx, const probe::Event& ev) {
  if (auto* f = std::get_if<probe::Fail>(&ev)) co_return rooms::RoomError{f->message};
  co_return ctx.broadcast(probe::Pong{});
}

// Reports the connection's upgrade meta, as JSON text, in ErrorSeen.message.
rooms::Task<rooms::Status> echoMeta(EdgeCtx& ctx) {
  auto* c = ctx.connection();
  co_return ctx.broadcast(probe::ErrorSeen{"meta", c->meta<probe::Connection>() ? "typed" : "", std::string(c->metaJson())});
}
rooms::Task<rooms::Status> echoMetaOnEvent(EdgeCtx& ctx, const probe::Event&) { return echoMeta(ctx); }

}  // namespace

TEST_CASE("runtime: upgrade meta reaches onConnect only") {
  rooms::Registry reg;
  rooms::Handlers<Edge> h;
  h.onConnect = echoMeta;
  h.onEvent = echoMetaOnEvent;
  reg.add<Edge>(std::move(h));
  InMemoryRuntime rt(reg);

  TestConnection* c = nullptr;
  Reply r = rt.room("edge").upgrade("e1", R"({"id":"m","meta":{"name":"from-meta"},"initialState":{"name":"m"}})", &c);
  REQUIRE(r.ok);
  REQUIRE(c);
  auto seen = last<probe::ErrorSeen>(c);
  CHECK(seen.message == R"({"name":"from-meta"})");
  CHECK(seen.errorTag == "typed");  // meta<T>() decodes it

  c->receive(probe::Event{probe::Ping{}});
  seen = last<probe::ErrorSeen>(c);
  CHECK(seen.message.empty());  // not kept beyond onConnect
  CHECK(seen.errorTag.empty());
}

TEST_CASE("runtime: a failing onConnect refuses the upgrade with 500 and closes the socket") {
  rooms::Registry reg;
  rooms::Handlers<Edge> h;
  h.onConnect = refuseNamedRefuse;
  h.onEvent = echoMetaOnEvent;
  std::uint32_t expectCode = 1011;
  SUBCASE("without onError: closed with 1011") {}
  SUBCASE("onError closes with its own code") {
    h.onConnect.onError = [](EdgeCtx& ctx, const rooms::Error&) -> rooms::Task<rooms::Status> {
      co_return ctx.connection()->close(4003, "auth failed");
    };
    expectCode = 4003;
  }
  reg.add<Edge>(std::move(h));
  InMemoryRuntime rt(reg);

  auto ok = rt.connect<Edge>("e1", {.id = "fine", .initialState = {"fine"}});
  REQUIRE(ok.ok());
  (*ok)->clearReceived();

  TestConnection* conn = reinterpret_cast<TestConnection*>(1);  // upgrade must reset it
  Reply r = rt.room("edge").upgrade("e1", R"({"id":"refuse","initialState":{"name":"refuse"}})", &conn);
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "UpgradeError");
  CHECK(parseJson(r.payload)["status"].GetDouble() == 500);
  CHECK(conn == nullptr);

  auto typed = rt.connect<Edge>("e1", {.id = "refuse", .initialState = {"refuse"}});
  REQUIRE_FALSE(typed.ok());
  CHECK(std::get<rooms::UpgradeError>(typed.error()).status == 500);

  Reply list = rt.room("edge").getConnections("e1");
  CHECK(list.payload.find("refuse") == std::string::npos);
  CHECK((*ok)->isOpen());
  CHECK((*ok)->received().empty());  // nothing broadcast for the refused ones

  // What the platform is told: accept the socket, close it, answer 500.
  BareHost host;
  auto created = reg.create("edge", "e2", host);
  REQUIRE(created.ok());
  EffectBatch b;
  (*created)->upgrade(1, R"({"id":"refuse","initialState":{"name":"refuse"}})", b);
  auto e = effectsOf(b);
  auto accepts = ofKind(e, EffectKind::Accept);
  auto closes = ofKind(e, EffectKind::Close);
  auto replies = ofKind(e, EffectKind::Reply);
  REQUIRE(accepts.size() == 1);
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].slot == accepts[0].slot);
  CHECK(closes[0].code == expectCode);
  REQUIRE(replies.size() == 1);
  CHECK_FALSE(replies[0].ok);
  CHECK(replies[0].tag == "UpgradeError");
  CHECK(contains(replies[0].bytes, "refused"));
}

TEST_CASE("runtime: an onError that throws is contained; the room keeps serving") {
  rooms::Registry reg;
  rooms::Handlers<Edge> h;
  h.onEvent = {failOrPong, [](EdgeCtx&, const rooms::Error&) -> rooms::Task<rooms::Status> {
                 throw std::runtime_error("onError threw");
                 co_return {};
               }};
  reg.add<Edge>(std::move(h));
  InMemoryRuntime rt(reg);
  auto c = rt.connect<Edge>("e1", {.id = "c", .initialState = {"c"}});
  REQUIRE(c.ok());

  Reply r = rt.room("edge").sendEvent("e1", probe::Event{probe::Fail{"first"}});
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "RoomExecutionError");
  CHECK(contains(stringField(r.payload, "cause"), "first"));

  bool logged = false;
  for (auto& line : rt.logs()) logged = logged || contains(line, "onError threw");
  CHECK(logged);

  (*c)->receive(probe::Event{probe::Fail{"again"}});
  CHECK((*c)->isOpen());
  (*c)->receive(probe::Event{probe::Ping{}});
  CHECK(last<probe::Pong>(*c).events == 0);
  CHECK(rt.room("edge").sendEvent("e1", probe::Event{probe::Ping{}}).ok);
}

// ---- The effect batch ------------------------------------------------------------------------

TEST_CASE("runtime: every effect kind round-trips through EffectBatch and EffectReader") {
  EffectBatch b;
  CHECK(b.empty());
  const std::string nul("a\0b", 3);
  const std::vector<std::uint32_t> manySlots = {0, 1, 7, 0xFFFFFFFFu};

  b.accept(7, 3, {std::string(rooms::kIdTagPrefix) + "alice", "team:red", ""}, R"({"name":"alice"})");
  b.frame(R"({"_tag":"Pong"})", manySlots.data(), manySlots.size());
  b.frame(nul, nullptr, 0);
  b.close(3, 4000, "bye ✓");
  b.attach(2, nul);
  b.put(rooms::kStateKey, R"({"events":1})");
  b.erase(rooms::kAlarmKey);
  b.setAlarm(1'700'000'000'123.5);
  b.setAlarm(-0.0);
  b.setAlarm(std::numeric_limits<double>::quiet_NaN());
  b.clearAlarm();
  b.call(9, "chat", "c1", rooms::CallOp::Broadcast, R"({"_tag":"Typing","userId":"x"})");
  b.reply(11, true, "", "null");
  b.reply(12, false, "RoomError", R"({"_tag":"RoomError"})");
  b.log(rooms::LogLevel::Warn, "careful");
  CHECK_FALSE(b.empty());
  REQUIRE(b.count() == 15);

  auto e = effectsOf(b);
  CHECK(e[0].kind == EffectKind::Accept);
  CHECK(e[0].req == 7);
  CHECK(e[0].slot == 3);
  REQUIRE(e[0].tags.size() == 3);
  CHECK(e[0].tags[0] == std::string(rooms::kIdTagPrefix) + "alice");
  CHECK(e[0].tags[1] == "team:red");
  CHECK(e[0].tags[2].empty());
  CHECK(e[0].bytes == R"({"name":"alice"})");

  CHECK(e[1].kind == EffectKind::Frame);
  CHECK(e[1].bytes == R"({"_tag":"Pong"})");
  CHECK(e[1].slots == manySlots);
  CHECK(e[2].kind == EffectKind::Frame);
  CHECK(e[2].bytes == nul);
  CHECK(e[2].slots.empty());

  CHECK(e[3].kind == EffectKind::Close);
  CHECK(e[3].slot == 3);
  CHECK(e[3].code == 4000);
  CHECK(e[3].reason == "bye ✓");

  CHECK(e[4].kind == EffectKind::Attach);
  CHECK(e[4].slot == 2);
  CHECK(e[4].bytes == nul);

  CHECK(e[5].kind == EffectKind::Put);
  CHECK(e[5].key == rooms::kStateKey);
  CHECK(e[5].bytes == R"({"events":1})");
  CHECK(e[6].kind == EffectKind::Delete);
  CHECK(e[6].key == rooms::kAlarmKey);

  CHECK(e[7].kind == EffectKind::SetAlarm);
  CHECK(e[7].time == 1'700'000'000'123.5);
  CHECK(e[8].time == 0.0);
  CHECK(std::signbit(e[8].time));
  CHECK(std::isnan(e[9].time));
  CHECK(e[10].kind == EffectKind::ClearAlarm);

  CHECK(e[11].kind == EffectKind::Call);
  CHECK(e[11].callId == 9);
  CHECK(e[11].room == "chat");
  CHECK(e[11].id == "c1");
  CHECK(e[11].op == static_cast<std::uint32_t>(rooms::CallOp::Broadcast));
  CHECK(e[11].bytes == R"({"_tag":"Typing","userId":"x"})");

  CHECK(e[12].kind == EffectKind::Reply);
  CHECK(e[12].req == 11);
  CHECK(e[12].ok);
  CHECK(e[12].tag.empty());
  CHECK(e[12].bytes == "null");
  CHECK(e[13].req == 12);
  CHECK_FALSE(e[13].ok);
  CHECK(e[13].tag == "RoomError");

  CHECK(e[14].kind == EffectKind::Log);
  CHECK(e[14].level == static_cast<std::uint32_t>(rooms::LogLevel::Warn));
  CHECK(e[14].bytes == "careful");

  b.clear();
  CHECK(b.empty());
  CHECK(b.size() == 0);
  CHECK(effectsOf(b).empty());
}

TEST_CASE("runtime: the effect batch layout is the documented little-endian one") {
  // The JS shim reads these bytes with a DataView; pin them.
  EffectBatch b;
  b.close(0x01020304, 1000, "ok");
  const std::vector<std::uint8_t> close = {3, 4, 3, 2, 1, 0xE8, 0x03, 0, 0, 2, 0, 0, 0, 'o', 'k'};
  CHECK(std::vector<std::uint8_t>(b.data(), b.data() + b.size()) == close);

  b.clear();
  b.setAlarm(1.0);  // IEEE 754: 0x3FF0000000000000
  const std::vector<std::uint8_t> alarm = {7, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F};
  CHECK(std::vector<std::uint8_t>(b.data(), b.data() + b.size()) == alarm);
}

TEST_CASE("runtime: a broadcast is encoded once: one Frame effect listing every recipient") {
  BareHost host;
  auto created = app::registry().create("chat", "r1", host);
  REQUIRE(created.ok());
  rooms::RoomInstanceBase& room = *created.value();
  CHECK(room.name() == "chat");
  CHECK(room.id() == "r1");

  EffectBatch b;
  std::vector<std::uint32_t> slots;
  std::uint32_t req = 1;
  for (std::string user : {"alice", "bob", "carol"}) {
    b.clear();
    const std::uint32_t r = req++;
    room.upgrade(r, R"({"id":")" + user + R"(","initialState":{"userId":")" + user + R"(","joinedAt":1}})", b);
    auto e = effectsOf(b);
    auto accepts = ofKind(e, EffectKind::Accept);
    REQUIRE(accepts.size() == 1);
    CHECK(accepts[0].req == r);
    REQUIRE_FALSE(accepts[0].tags.empty());
    CHECK(accepts[0].tags[0] == std::string(rooms::kIdTagPrefix) + user);
    slots.push_back(accepts[0].slot);
    auto replies = ofKind(e, EffectKind::Reply);
    REQUIRE(replies.size() == 1);  // exactly one reply per request
    CHECK(replies[0].ok);
    CHECK(replies[0].bytes == user);
    // The platform would now persist what the batch put.
    for (auto& p : ofKind(e, EffectKind::Put)) host.storage[std::string(p.key)] = std::string(p.bytes);
  }

  // A direct Say reaches all three through one frame.
  b.clear();
  room.send(req++, R"({"_tag":"Say","text":"hi"})", b);
  auto e = effectsOf(b);
  auto framesOut = ofKind(e, EffectKind::Frame);
  REQUIRE(framesOut.size() == 1);
  CHECK(framesOut[0].slots == slots);
  // The chat room has resume on: the frame leads with its sequence number.
  std::string text(framesOut[0].bytes);
  REQUIRE(text.rfind(R"({"$seq":)", 0) == 0);
  auto msg = decodeStrict<chat::Broadcast>("{" + text.substr(text.find(',') + 1));
  CHECK(std::get<chat::Message>(msg).userId == "system");
  CHECK(std::get<chat::Message>(msg).ts == rooms::fromEpochMs(5000));
  REQUIRE(ofKind(e, EffectKind::Reply).size() == 1);
  CHECK(ofKind(e, EffectKind::Reply)[0].ok);

  // Typing from alice: one frame to the other two.
  b.clear();
  room.message(slots[0], R"({"_tag":"Typing"})", false, b);
  framesOut = ofKind(effectsOf(b), EffectKind::Frame);
  REQUIRE(framesOut.size() == 1);
  CHECK(framesOut[0].slots == std::vector<std::uint32_t>{slots[1], slots[2]});

  // The client's broadcast, likewise.
  b.clear();
  room.broadcast(req++, R"({"_tag":"UserLeft","userId":"x"})", b);
  framesOut = ofKind(effectsOf(b), EffectKind::Frame);
  REQUIRE(framesOut.size() == 1);
  CHECK(framesOut[0].slots == slots);
  CHECK(room.inFlight() == 0);
}

TEST_CASE("runtime: a suspended handler's reply comes in the batch that resumes it") {
  BareHost host;
  auto created = app::registry().create("probe", "p1", host);
  REQUIRE(created.ok());
  rooms::RoomInstanceBase& room = *created.value();

  EffectBatch b;
  room.send(1, R"({"_tag":"AskChat","roomId":"c1","text":"hi"})", b);
  auto e = effectsOf(b);
  CHECK(ofKind(e, EffectKind::Reply).empty());
  auto calls = ofKind(e, EffectKind::Call);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].room == "chat");
  CHECK(calls[0].id == "c1");
  CHECK(calls[0].op == static_cast<std::uint32_t>(rooms::CallOp::GetState));
  CHECK(room.inFlight() == 1);

  b.clear();
  room.resume(calls[0].callId, true, "", R"({"createdAt":1,"messageCount":4})", b);
  e = effectsOf(b);
  CHECK(ofKind(e, EffectKind::Reply).empty());
  calls = ofKind(e, EffectKind::Call);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].op == static_cast<std::uint32_t>(rooms::CallOp::Send));
  CHECK(decodeStrict<chat::Event>(std::string(calls[0].bytes)).index() == 0);

  b.clear();
  room.resume(calls[0].callId, true, "", "", b);
  e = effectsOf(b);
  auto replies = ofKind(e, EffectKind::Reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].req == 1);
  CHECK(replies[0].ok);
  CHECK(room.inFlight() == 0);

  // A sibling's failure resumes the handler with that error.
  b.clear();
  room.send(2, R"({"_tag":"AskChat","roomId":"c1","text":"hi"})", b);
  calls = ofKind(effectsOf(b), EffectKind::Call);
  REQUIRE(calls.size() == 1);
  b.clear();
  room.resume(calls[0].callId, false, "RoomError", R"({"_tag":"RoomError","message":"storage down"})", b);
  replies = ofKind(effectsOf(b), EffectKind::Reply);
  REQUIRE(replies.size() == 1);
  CHECK_FALSE(replies[0].ok);
  CHECK(replies[0].tag == "RoomExecutionError");
  CHECK(contains(replies[0].bytes, "storage down"));
  CHECK(room.inFlight() == 0);

  // An unknown call id is ignored.
  b.clear();
  room.resume(999, true, "", "", b);
  CHECK(b.empty());
}

// ---- Review fixes ------------------------------------------------------------------

namespace {
// Room types with the probe's schemas and a single test handler.
template <rooms::FixedString Name>
using ProbeSchemas = rooms::Room<Name, probe::State, probe::Connection, probe::Event, probe::Broadcast>;
using Twice = ProbeSchemas<"twice">;
using Sched = ProbeSchemas<"sched">;
}  // namespace

TEST_CASE("runtime: byId answers the earliest-connected socket of an id") {
  InMemoryRuntime rt(app::registry());
  auto* first = enter(rt, "dup");
  auto* second = enter(rt, "dup");
  auto* other = enter(rt, "other");
  // Kick looks the id up with byId: the first socket goes, the second stays.
  other->receive(probe::Event{probe::Kick{"dup", 4000, "first"}});
  CHECK_FALSE(first->isOpen());
  CHECK(first->closeCode() == 4000u);
  CHECK(second->isOpen());
}

TEST_CASE("runtime: a broadcast to a list naming a connection twice sends it one frame") {
  rooms::Handlers<Twice> h;
  h.onEvent = [](rooms::RoomCtx<Twice>& ctx, const probe::Event&) -> rooms::Task<rooms::Status> {
    auto* c = ctx.connection();
    co_return ctx.broadcast(probe::Pong{}, {.to = std::vector<rooms::Connection<Twice>*>{c, c}});
  };
  rooms::Registry reg;
  reg.add<Twice>(h);
  InMemoryRuntime rt(reg);
  auto* a = rt.connect<Twice>("t", {.id = "a", .initialState = {"a", std::nullopt}}).value();
  a->receive(probe::Event{probe::Ping{}});
  CHECK(a->received().size() == 1);
}

TEST_CASE("runtime: purge also forgets a stored alarm failure") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  a->receive(probe::Event{probe::FailAlarms{1}});
  a->receive(probe::Event{probe::Schedule{10}});
  rt.advance(50ms);  // the alarm fails once: the failure is stored for the retry
  REQUIRE(rt.stored("probe", kId, rooms::kAlarmFailureKey).has_value());
  CHECK(sendProbe(rt, probe::Purge{}).ok);
  CHECK_FALSE(rt.stored("probe", kId, rooms::kAlarmFailureKey).has_value());
  CHECK_FALSE(rt.alarmOf("probe", kId).has_value());
}

// This used to check that scheduleAt refused a time that is not finite; a
// rooms::Timestamp is an integer count of milliseconds, so that case no longer
// exists. The edge that remains: a time already past.
TEST_CASE("runtime: scheduleAt a time in the past fires at the next advance") {
  rooms::Handlers<Sched> h;
  h.onEvent = [](rooms::RoomCtx<Sched>& ctx, const probe::Event&) -> rooms::Task<rooms::Status> {
    co_return ctx.scheduleAt(ctx.now() - 1h);
  };
  h.onAlarm = [](rooms::RoomCtx<Sched>& ctx) -> rooms::Task<rooms::Status> {
    probe::State s = ctx.recall().value_or(probe::State{});
    s.alarms += 1;
    co_return ctx.save(s);
  };
  rooms::Registry reg;
  reg.add<Sched>(h);
  InMemoryRuntime rt(reg);
  const rooms::Timestamp t0 = rt.now();
  Reply r = rt.room("sched").sendEvent("s", probe::Event{probe::Ping{}});
  CHECK(r.ok);
  CHECK(rt.alarmOf("sched", "s") == t0 - 1h);
  CHECK_FALSE(support::stateOf<Sched>(rt, "s"));  // not run yet: alarms run only as the clock moves
  rt.advance(1ms);
  auto s = support::stateOf<Sched>(rt, "s");
  REQUIRE(s);
  CHECK(s->alarms == 1);
  CHECK_FALSE(rt.alarmOf("sched", "s").has_value());
  CHECK(rt.now() == t0 + 1ms);  // the clock never runs backwards to the alarm's time
  rt.advance(1h);
  CHECK(support::stateOf<Sched>(rt, "s")->alarms == 1);  // once
}

TEST_CASE("runtime: the in-memory client echoes the close code the room sent") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  auto* b = enter(rt, "b");
  a->receive(probe::Event{probe::Kick{"b", 4321, "echo"}});
  CHECK(b->closeCode() == 4321u);
  CHECK(b->closeReason() == "echo");
}

// ---- Services and environment --------------------------------------------------------

namespace {
// A service handlers reach through ctx.service<T>(), injected at registry build.
struct Greeter {
  std::string prefix;
  int calls = 0;
  std::string greet(std::string_view who) {
    ++calls;
    return prefix + std::string(who);
  }
};
using Services = ProbeSchemas<"services">;
}  // namespace

TEST_CASE("runtime: handlers reach injected services and the Worker's string environment") {
  auto greeter = std::make_shared<Greeter>(Greeter{"hello, "});
  rooms::Handlers<Services> h;
  h.onEvent = [](rooms::RoomCtx<Services>& ctx, const probe::Event&) -> rooms::Task<rooms::Status> {
    Greeter* g = ctx.service<Greeter>();
    if (!g) co_return rooms::RoomError{"no Greeter"};
    auto region = ctx.env("REGION");
    auto missing = ctx.env("NOT_SET");
    co_return ctx.broadcast(probe::ErrorSeen{g->greet(ctx.connection()->id()), region.value_or("none"),
                                             missing ? "set" : "unset"});
  };
  rooms::Registry reg;
  reg.add<Services>(h).provide(greeter);
  InMemoryRuntime rt(reg);
  rt.setEnv("REGION", "eu-west");
  auto* a = rt.connect<Services>("s", {.id = "ann", .initialState = {"ann", std::nullopt}}).value();
  a->receive(probe::Event{probe::Ping{}});
  auto seen = framesOf<probe::ErrorSeen>(a);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].phase == "hello, ann");
  CHECK(seen[0].errorTag == "eu-west");
  CHECK(seen[0].message == "unset");
  CHECK(greeter->calls == 1);
  // A registry without the service gives handlers a null pointer, not a crash.
  rooms::Registry bare;
  bare.add<Services>(h);
  InMemoryRuntime rt2(bare);
  CHECK(rt2.room("services").sendEvent("s", probe::Event{probe::Ping{}}).tag == "RoomExecutionError");
}

TEST_CASE("runtime: a connection that closes while its handler is suspended stays valid for that handler") {
  InMemoryRuntime rt(app::registry());
  auto* a = enter(rt, "a");
  auto* watcher = enter(rt, "w");
  rt.holdSiblingCalls();
  a->receive(probe::Event{probe::AskChat{"chat-x", "hi"}});  // suspends on getState
  a->close(1000);                                           // onClose runs meanwhile
  auto* b = enter(rt, "b");                                 // may reuse a freed slot
  watcher->clearReceived();
  rt.releaseSiblingCalls();
  // getState resumes, then send suspends again and is answered at once.
  auto seen = framesOf<probe::ChatSeen>(watcher);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].asker == "a");
  CHECK(b->isOpen());
  CHECK(ids(connections(rt)) == Strings{"w", "b"});
}

TEST_CASE("runtime: a frame's recipient slots start 4-byte aligned in the batch") {
  // Readers view the slots in place (a Uint32Array on Wasm memory in the shim).
  for (std::size_t shift = 0; shift < 8; ++shift) {
    EffectBatch b;
    b.log(rooms::LogLevel::Info, std::string(shift, 'x'));
    const std::uint32_t slots[] = {5, 6};
    b.frame(std::string(shift + 1, 'y'), slots, 2);
    REQUIRE(b.size() >= 8);
    CHECK((b.size() - 8) % 4 == 0);
    auto e = effectsOf(b);
    REQUIRE(e.size() == 2);
    CHECK(e[1].slots == std::vector<std::uint32_t>{5, 6});
  }
}

// ---- A user's own schema type ----------------------------------------------------------

namespace geo {
// A point, on the wire as [x, y]: not a struct declared with ROOMS_STRUCT but
// a rooms::Schema specialisation of the room author's.
struct Point {
  double x = 0, y = 0;
};
}  // namespace geo

template <>
struct rooms::Schema<geo::Point> {
  using XY = std::array<double, 2>;
  static std::string name() { return "point [x, y]"; }
  static bool decode(const json::Value& v, geo::Point& out, DecodeCtx& c) {
    XY xy{};
    if (!Schema<XY>::decode(v, xy, c)) return false;
    out = {xy[0], xy[1]};
    return true;
  }
  static bool encode(json::Writer& w, const geo::Point& p) { return encodeValue(w, XY{p.x, p.y}); }
  static void jsonSchema(SchemaWriter& s) { s.write<XY>(); }
  static void typeScript(SchemaWriter& s) { s.out += "readonly [x: number, y: number]"; }
};

namespace geo {
struct State {
  Point at;
  rooms::Optional<Point> last;
  std::vector<Point> trail;
};
ROOMS_STRUCT(State, at, last, trail)
struct Move {
  Point to;
};
ROOMS_TAGGED(Move, to)
using Event = std::variant<Move>;
struct Moved {
  Point from, to;
};
ROOMS_TAGGED(Moved, from, to)
using Broadcast = std::variant<Moved>;
using Geo = rooms::Room<"geo", State, probe::Connection, Event, Broadcast>;

rooms::Handlers<Geo> handlers() {
  return {.onEvent = rooms::dispatch([](rooms::RoomCtx<Geo>& ctx, const Move& m) -> rooms::Task<rooms::Status> {
    State s = ctx.recall().value_or(State{});
    Moved moved{s.at, m.to};
    s.last = s.at;
    s.trail.push_back(m.to);
    s.at = m.to;
    ROOMS_TRY(ctx.save(s));
    co_return ctx.broadcast(moved);
  })};
}
}  // namespace geo

TEST_CASE("runtime: a user's rooms::Schema specialisation works as a field type") {
  rooms::Registry reg;
  reg.add<geo::Geo>(geo::handlers());
  InMemoryRuntime rt(reg);
  auto* a = rt.connect<geo::Geo>("g", {.id = "a", .initialState = {"a", std::nullopt}}).value();

  a->receiveRaw(R"({"_tag":"Move","to":[3,4.5]})");
  CHECK(a->received() == Strings{R"({"_tag":"Moved","from":[0,0],"to":[3,4.5]})"});
  Reply r = rt.room("geo").send("g", R"({"_tag":"Move","to":[-1,0]})");
  CHECK_MESSAGE(r.ok, r.payload);
  CHECK(rt.room("geo").getState("g").payload == R"({"at":[-1,0],"last":[3,4.5],"trail":[[3,4.5],[-1,0]]})");
  auto s = support::stateOf<geo::Geo>(rt, "g");
  REQUIRE(s);
  CHECK(s->at.x == -1);
  REQUIRE(s->last);
  CHECK(s->last->y == 4.5);
  CHECK(s->trail.size() == 2);

  // Its own validation, with the path of the field.
  Reply bad = rt.room("geo").send("g", R"({"_tag":"Move","to":[1]})");
  CHECK(bad.tag == "RoomValidationError");
  CHECK(stringField(bad.payload, "path") == "$.to");
  CHECK(stringField(bad.payload, "message") == "at $.to: expected array of 2, found array of 1");
  bad = rt.room("geo").send("g", R"({"_tag":"Move","to":{"x":1,"y":2}})");
  CHECK(stringField(bad.payload, "message") == "at $.to: expected array of 2, found object");
  bad = rt.room("geo").send("g", R"({"_tag":"Move","to":[1,"2"]})");
  CHECK(stringField(bad.payload, "message") == R"(at $.to[1]: expected number, found string "2")");
  // A missing key names the type by its name().
  bad = rt.room("geo").send("g", R"({"_tag":"Move"})");
  CHECK(stringField(bad.payload, "message") == "at $.to: expected point [x, y], found missing");
  CHECK(support::stateOf<geo::Geo>(rt, "g")->trail.size() == 2);

  // And in the generated schemas.
  auto schemas = parseJson(reg.jsonSchemas());
  const auto& moveDef = schemas["geo"]["event"]["$defs"]["Move"];
  REQUIRE(moveDef.IsObject());
  CHECK(moveDef["properties"]["to"]["minItems"].GetInt() == 2);
  CHECK(moveDef["properties"]["to"]["maxItems"].GetInt() == 2);
  CHECK(contains(reg.typeScript(), "export type Move = { readonly _tag: \"Move\"; readonly to: readonly [x: number, y: number]; };"));
  CHECK(contains(reg.typeScript(), "export type State = { readonly at: readonly [x: number, y: number]; "
                                   "readonly last?: readonly [x: number, y: number]; "
                                   "readonly trail: ReadonlyArray<readonly [x: number, y: number]>; };"));
}

// ---- The state's size limit ------------------------------------------------------------

namespace blob {
struct State {
  std::string data;
};
ROOMS_STRUCT(State, data)
struct Fill {
  std::int64_t bytes = 0;
};
ROOMS_TAGGED(Fill, bytes)
using Event = std::variant<Fill>;
struct Filled {
  std::int64_t bytes = 0;
};
ROOMS_TAGGED(Filled, bytes)
using Broadcast = std::variant<Filled>;
using Blob = rooms::Room<"blob", State, probe::Connection, Event, Broadcast>;

rooms::Handlers<Blob> handlers() {
  return {.onEvent = rooms::dispatch([](rooms::RoomCtx<Blob>& ctx, const Fill& f) -> rooms::Task<rooms::Status> {
    ROOMS_TRY(ctx.save(State{std::string(static_cast<std::size_t>(f.bytes), 'x')}));
    co_return ctx.broadcast(Filled{f.bytes});
  })};
}
}  // namespace blob

TEST_CASE("runtime: a state over the platform's 2 MB value limit is refused, typed, and changes nothing") {
  rooms::Registry reg;
  reg.add<blob::Blob>(blob::handlers());
  InMemoryRuntime rt(reg);
  auto* a = rt.connect<blob::Blob>("b", {.id = "a", .initialState = {"a", std::nullopt}}).value();
  // {"data":"…"}: 11 bytes around the string.
  const auto fits = static_cast<std::int64_t>(rooms::kMaxStateBytes) - 11;
  Reply r = rt.room("blob").send("b", R"({"_tag":"Fill","bytes":)" + std::to_string(fits) + "}");
  CHECK_MESSAGE(r.ok, r.payload);
  CHECK(rt.room("blob").getState("b").payload.size() == rooms::kMaxStateBytes);
  REQUIRE(a->received().size() == 1);

  Reply over = rt.room("blob").send("b", R"({"_tag":"Fill","bytes":)" + std::to_string(fits + 1) + "}");
  CHECK_FALSE(over.ok);
  CHECK(over.tag == "RoomExecutionError");
  CHECK(contains(over.payload, "RoomValidationError"));
  CHECK(contains(over.payload, "a state of at most 1,999,989 bytes as JSON"));
  CHECK(a->received().size() == 1);  // nothing broadcast
  CHECK(rt.room("blob").getState("b").payload.size() == rooms::kMaxStateBytes);  // the saved state stands

  // Over a socket, the same: the room keeps serving.
  a->receiveRaw(R"({"_tag":"Fill","bytes":3000000})");
  CHECK(a->received().size() == 1);
  a->receiveRaw(R"({"_tag":"Fill","bytes":5})");
  REQUIRE(a->received().size() == 2);
  CHECK(rt.room("blob").getState("b").payload == R"({"data":"xxxxx"})");
}

// ---- Budgets and log limits -------------------------------------------------------------

namespace {

// A chat member of `room` in a registry of the test's own (chat with the
// options under test).
TestConnection* member(InMemoryRuntime& rt, const std::string& id, std::string_view room = "b1") {
  auto r = rt.connect<chat::Chat>(room, {.id = id, .tags = {"user:" + id}, .initialState = {id, rt.now()}});
  REQUIRE_MESSAGE(r.ok(), rt.lastReply().payload);
  return r.value();
}

std::int64_t chatCount(InMemoryRuntime& rt, std::string_view room = "b1") {
  auto r = rt.room("chat").getState(room);
  REQUIRE(r.ok);
  if (r.payload == "null") return 0;
  return decodeStrict<chat::State>(r.payload).messageCount;
}

std::size_t logsWith(const InMemoryRuntime& rt, std::string_view needle) {
  std::size_t n = 0;
  for (auto& line : rt.logs()) n += contains(line, needle) ? 1 : 0;
  return n;
}

bool gotLeft(const TestConnection* c, std::string_view who) {
  for (auto& b : c->receivedAs<chat::Broadcast>())
    if (auto* left = std::get_if<chat::UserLeft>(&b); left && left->userId == who) return true;
  return false;
}

}  // namespace

TEST_CASE("budget: a connection flooding frames is closed with 1008 and its onClose runs") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers(), {.inboundFramesPerSecond = 10, .inboundFrameBurst = 20});
  InMemoryRuntime rt(reg);
  auto* alice = member(rt, "alice");
  auto* bob = member(rt, "bob");

  for (int i = 0; i < 50; ++i) alice->receive(chat::Event{chat::Say{"flood " + std::to_string(i)}});
  CHECK_FALSE(alice->isOpen());
  CHECK(alice->closeCode() == rooms::kCloseOverBudget);
  CHECK(alice->closeCode() == 1008u);
  CHECK(alice->closeReason() == rooms::kOverBudgetReason);
  CHECK(chatCount(rt) == 20);  // the burst; the 21st frame closed the socket
  CHECK(gotLeft(bob, "alice"));  // onClose ran
  CHECK(logsWith(rt, "over its inbound budget") == 1);

  // The room and the other connection carry on.
  CHECK(bob->isOpen());
  bob->clearReceived();
  bob->receive(chat::Event{chat::Say{"still here"}});
  CHECK(std::get<chat::Message>(bob->receivedAs<chat::Broadcast>().at(0)).text == "still here");
  CHECK(chatCount(rt) == 21);
}

TEST_CASE("budget: the byte budget closes a connection sending too many bytes") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers(), {.maxFrameBytes = 2000, .inboundBytesPerSecond = 1000, .inboundByteBurst = 2000});
  InMemoryRuntime rt(reg);
  auto* alice = member(rt, "alice");
  auto* bob = member(rt, "bob");
  const std::string text(1200, 'x');  // a frame of ~1,225 bytes
  alice->receive(chat::Event{chat::Say{text}});
  CHECK(alice->isOpen());
  alice->receive(chat::Event{chat::Say{text}});  // ~2,450 > 2,000
  CHECK(alice->closeCode() == 1008u);
  CHECK(chatCount(rt) == 1);
  CHECK(gotLeft(bob, "alice"));
}

TEST_CASE("budget: traffic under the rate is never closed, and the buckets refill") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers(), {.maxFrameBytes = 2000, .inboundFramesPerSecond = 10, .inboundFrameBurst = 20,
                                         .inboundBytesPerSecond = 10 * 100, .inboundByteBurst = 20 * 100});
  InMemoryRuntime rt(reg);
  auto* alice = member(rt, "alice");

  SUBCASE("at the rate, for a long time") {
    for (int i = 0; i < 300; ++i) {  // 10 frames/s for 30 s
      alice->receive(chat::Event{chat::Say{"steady"}});
      REQUIRE(alice->isOpen());
      rt.advance(100ms);
    }
    CHECK(chatCount(rt) == 300);
  }
  SUBCASE("a burst, a pause, a burst") {
    for (int round = 0; round < 5; ++round) {
      for (int i = 0; i < 20; ++i) alice->receive(chat::Event{chat::Say{"burst"}});
      REQUIRE(alice->isOpen());
      rt.advance(2s);  // refills the 20
    }
    CHECK(chatCount(rt) == 100);
  }
  SUBCASE("refill is proportional to the time passed") {
    for (int i = 0; i < 20; ++i) alice->receive(chat::Event{chat::Say{"a"}});
    rt.advance(1s);  // 10 frames' worth
    for (int i = 0; i < 10; ++i) alice->receive(chat::Event{chat::Say{"b"}});
    CHECK(alice->isOpen());
    alice->receive(chat::Event{chat::Say{"one too many"}});
    CHECK(alice->closeCode() == 1008u);
    CHECK(chatCount(rt) == 30);
  }
  SUBCASE("a wake starts the buckets full") {
    for (int i = 0; i < 20; ++i) alice->receive(chat::Event{chat::Say{"a"}});
    rt.hibernate();
    for (int i = 0; i < 20; ++i) alice->receive(chat::Event{chat::Say{"b"}});
    CHECK(alice->isOpen());
    CHECK(chatCount(rt) == 40);
  }
}

TEST_CASE("budget: 0 is unlimited, and the defaults let a benchmark-like burst through") {
  SUBCASE("0") {
    rooms::Registry reg;
    reg.add<chat::Chat>(chat::handlers(), {.inboundFramesPerSecond = 0, .inboundBytesPerSecond = 0,
                                           .outboundBytesPerSecond = 0});
    InMemoryRuntime rt(reg);
    auto* alice = member(rt, "alice");
    for (int i = 0; i < 30'000; ++i) alice->receive(chat::Event{chat::Typing{}});
    CHECK(alice->isOpen());
  }
  SUBCASE("defaults") {
    rooms::RoomOptions d;
    CHECK(d.inboundFramesPerSecond == rooms::kDefaultInboundFramesPerSecond);
    CHECK(d.inboundByteBurst >= d.maxFrameBytes);
    InMemoryRuntime rt(app::registry());
    auto* alice = member(rt, "alice");
    // 1,500 frames/s for 5 s: above the benchmark's busiest socket.
    for (int i = 0; i < 7'500; ++i) {
      alice->receive(chat::Event{chat::Say{"b" + std::to_string(i)}});
      if (i % 3 == 2) rt.advance(2ms);
    }
    CHECK(alice->isOpen());
    CHECK(chatCount(rt) == 7'500);
  }
}

TEST_CASE("budget: the room's outbound budget refuses a broadcast; the room serves again after the second rolls") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers(), {.outboundBytesPerSecond = 1000});
  InMemoryRuntime rt(reg);
  auto* alice = member(rt, "alice");
  auto* bob = member(rt, "bob");
  rt.advance(1s);  // the joins' UserJoined frames are paid back
  for (auto* c : {alice, bob}) c->clearReceived();
  const std::string text(300, 'x');  // a Message of ~360 bytes, to 2 recipients

  alice->receive(chat::Event{chat::Say{text}});
  CHECK(bob->received().size() == 1);
  const auto logsBefore = rt.logs().size();
  alice->receive(chat::Event{chat::Say{text}});  // 720 more > the ~280 left
  CHECK(bob->received().size() == 1);            // not sent
  CHECK(alice->isOpen());
  REQUIRE(rt.logs().size() == logsBefore + 1);   // logged once, as the budget's warning
  CHECK(contains(rt.logs().back(), "over its outbound budget"));
  CHECK(contains(rt.logs().back(), "1,000 bytes per second"));

  // The refusal is a typed error the caller sees.
  Reply direct = rt.room("chat").broadcast("b1", R"({"_tag":"Typing","userId":")" + text + R"("})");
  CHECK_FALSE(direct.ok);
  CHECK(direct.tag == "RoomError");
  CHECK(contains(stringField(direct.payload, "message"), "outboundBytesPerSecond"));
  CHECK(logsWith(rt, "over its outbound budget") == 1);  // the second refusal was counted, not logged

  rt.advance(1s);
  bob->clearReceived();
  alice->receive(chat::Event{chat::Say{"after the second"}});
  REQUIRE(bob->received().size() == 1);
  CHECK(std::get<chat::Message>(bob->receivedAs<chat::Broadcast>().at(0)).text == "after the second");
}

TEST_CASE("budget: a single send is charged too") {
  rooms::Registry reg;
  reg.add<probe::Probe>(probe::handlers(), {.outboundBytesPerSecond = 100});
  InMemoryRuntime rt(reg);
  auto* p1 = enter(rt, "p1");
  p1->receive(probe::Event{probe::Grow{"x"}});  // GrowResult, sent to p1 alone
  CHECK(p1->received().size() == 1);
  p1->receive(probe::Event{probe::Grow{"y"}});
  p1->receive(probe::Event{probe::Grow{"z"}});
  p1->receive(probe::Event{probe::Grow{"w"}});
  CHECK(p1->received().size() < 4);
  CHECK(logsWith(rt, "over its outbound budget") == 1);
}

TEST_CASE("logs: 10,000 bad frames log a handful of lines, and the next line counts the rest") {
  InMemoryRuntime rt(app::registry());  // chat: no onDecodeError, so bad frames are logged
  auto* alice = member(rt, "alice");
  const auto before = rt.logs().size();
  for (int i = 0; i < 10'000; ++i) {
    alice->receiveRaw("not json");
    if (i % 10 == 9) rt.advance(1ms);  // 10,000 frames/s, for 1 s
  }
  CHECK(alice->isOpen());
  CHECK(rt.logs().size() - before == 1);
  rt.advance(9s);  // 10 s after the first
  alice->receiveRaw("not json either");
  REQUIRE(rt.logs().size() - before == 2);
  CHECK(contains(rt.logs().back(), "failed the event schema"));
  CHECK(contains(rt.logs().back(), "(and 9,999 more like it in the last 10 s)"));
  CHECK(rooms::LogLimiter::grouped(1234567) == "1,234,567");
  CHECK(rooms::LogLimiter::grouped(999) == "999");
}

TEST_CASE("logs: connections over their inbound budget are logged once per window") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers(), {.inboundFramesPerSecond = 1, .inboundFrameBurst = 2});
  InMemoryRuntime rt(reg);
  for (int i = 0; i < 5; ++i) {
    auto* c = member(rt, "u" + std::to_string(i));
    for (int j = 0; j < 3; ++j) c->receive(chat::Event{chat::Typing{}});
    CHECK(c->closeCode() == 1008u);
  }
  CHECK(logsWith(rt, "over its inbound budget") == 1);
  rt.advance(11s);
  auto* last = member(rt, "late");
  for (int j = 0; j < 3; ++j) last->receive(chat::Event{chat::Typing{}});
  REQUIRE(logsWith(rt, "over its inbound budget") == 2);
  CHECK(contains(rt.logs().back(), "(and 4 more like it in the last 11 s)"));
}

// ---- Sibling calls whose callee fails ---------------------------------------------------

TEST_CASE("runtime: a sibling call whose callee fails returns RoomExecutionError; both rooms keep serving") {
  InMemoryRuntime rt(app::registry());
  auto* asker = enter(rt, "asker", {}, "caller");
  auto* callee = enter(rt, "callee", {}, "callee");

  // Natively the "trap" is an exception (the Wasm build without exceptions
  // traps for real; tests/e2e/hardening-core.test.mjs covers that on workerd).
  asker->receive(probe::Event{probe::Relay{"callee", {"throw"}}});
  auto r = only<probe::Relayed>(asker);
  CHECK(r.outcome == "RoomExecutionError");
  CHECK(contains(r.message, "probe threw"));
  CHECK(r.asker == "asker");
  CHECK(last<probe::ErrorSeen>(callee).errorTag == "RoomExecutionError");  // the callee's onError ran
  CHECK(rt.siblingCalls() == 1);

  // A direct send of Relay succeeds: the caller handled the callee's error.
  asker->clearReceived();
  Reply direct = sendProbe(rt, probe::Relay{"callee", {"throw"}}, "caller");
  CHECK_MESSAGE(direct.ok, direct.payload);
  CHECK(only<probe::Relayed>(asker).outcome == "RoomExecutionError");

  // Both rooms serve.
  CHECK(ping(asker).connection == "asker/asker");
  CHECK(ping(callee).connection == "callee/callee");
  CHECK(asker->isOpen());
  CHECK(callee->isOpen());
}
