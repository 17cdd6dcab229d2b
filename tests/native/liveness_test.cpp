// Liveness and control: the attachment envelope, named timers on
// the room's one alarm, the heartbeat and the stale-socket sweep, and the
// inbound rate limits with their policy, through the in-memory runtime.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "app.h"
#include "chat/chat.h"
#include "probe/liveness.h"
#include "probe/probe.h"
#include "rooms/testing.h"
#include "runtime/attachment.h"
#include "support/support.h"

namespace {

using rooms::testing::InMemoryRuntime;
using rooms::testing::Reply;
using rooms::testing::TestConnection;
using namespace std::chrono_literals;

}  // namespace

// ---- The attachment envelope ---------------------------------------------------------

TEST_CASE("attachment: a runtime part and a state split at the first newline") {
  auto p = rooms::splitAttachment(R"({"seen":5})" "\n" R"({"name":"a\nb"})");
  CHECK(p.runtime == R"({"seen":5})");
  CHECK(p.state == R"({"name":"a\nb"})");
  auto q = rooms::splitAttachment(R"({"name":"x"})");
  CHECK(q.runtime.empty());
  CHECK(q.state == R"({"name":"x"})");
}

TEST_CASE("attachment: no runtime data leaves the state's JSON byte for byte") {
  rooms::RuntimeRecord none;
  CHECK(rooms::formatRuntime(none).empty());
  CHECK(rooms::joinAttachment(rooms::formatRuntime(none), R"({"a":1})") == R"({"a":1})");
}

TEST_CASE("attachment: the runtime record round-trips; unknown and mistyped keys are ignored") {
  rooms::RuntimeRecord r;
  r.seen = 1'700'000'000'123.0;
  r.bucket = rooms::BucketSnapshot{2.5, 100, 1'700'000'000'000.0};
  std::string text = rooms::formatRuntime(r);
  CHECK(text == R"({"seen":1700000000123,"bucket":[2.5,100,1700000000000]})");
  rooms::RuntimeRecord back;
  REQUIRE(rooms::parseRuntime(text, back));
  CHECK(back == r);

  REQUIRE(rooms::parseRuntime(R"({"topics":[1],"ref":2,"later":["a"],"seen":"soon","bucket":[1,2]})", back));
  CHECK(back.empty());
  // Presence's ref and the topics round-trip too.
  r.ref = "3f2a9c1e0b7d";
  r.topics = {"lobby", "game:7"};
  REQUIRE(rooms::parseRuntime(rooms::formatRuntime(r), back));
  CHECK(back == r);
  REQUIRE(rooms::parseRuntime(R"({"future":{"deep":[1,2,3]},"seen":7})", back));
  CHECK(back.seen == 7.0);
  CHECK_FALSE(rooms::parseRuntime("[1,2]", back));
  CHECK(back.empty());
  CHECK_FALSE(rooms::parseRuntime("{not json", back));
}

TEST_CASE("attachment: a room without runtime data stores the state's JSON alone") {
  InMemoryRuntime rt(app::registry());
  auto r = rt.connect<probe::Probe>("p1", {.id = "a", .initialState = {"a", std::nullopt}});
  REQUIRE(r.ok());
  TestConnection* a = r.value();
  CHECK(a->attachment() == R"({"name":"a"})");
  rt.hibernate();
  a->receive(probe::Event{probe::Ping{}});
  CHECK(a->attachment().find('\n') == std::string::npos);
}

// ---- Helpers ------------------------------------------------------------------------

namespace {

template <class R = live::Live>
TestConnection* join(InMemoryRuntime& rt, const std::string& id, std::string_view room = "r1") {
  auto r = rt.connect<R>(room, {.id = id, .initialState = {id}});
  REQUIRE_MESSAGE(r.ok(), rt.lastReply().payload);
  return r.value();
}

// The schema frames of `c` of type T, skipping runtime frames ("$rooms").
template <class T>
std::vector<T> got(const TestConnection* c) {
  std::vector<T> out;
  for (auto& b : c->receivedAs<live::Broadcast>())
    if (auto* t = std::get_if<T>(&b)) out.push_back(*t);
  return out;
}

// The runtime frames of `c` ({"$rooms": kind, ...}), as text.
std::vector<std::string> runtimeFrames(const TestConnection* c) {
  std::vector<std::string> out;
  for (auto& f : c->received())
    if (f.rfind(R"({"$rooms":)", 0) == 0) out.push_back(f);
  return out;
}

template <class R = live::Live>
live::State stateOf(InMemoryRuntime& rt, std::string_view room = "r1") {
  auto s = support::stateOf<R>(rt, room);
  return s ? *s : live::State{};
}

using Names = std::vector<std::string>;

}  // namespace

// ---- Heartbeat --------------------------------------------------------------------------

TEST_CASE("heartbeat: the platform answers ping with pong without constructing the room") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  rt.hibernate();
  const auto built = rt.constructions();
  a->clearReceived();
  a->receiveRaw("ping");
  a->receiveRaw("ping");
  CHECK(a->received() == std::vector<std::string>{"pong", "pong"});
  CHECK(rt.constructions() == built);
  CHECK(a->autoResponseAt() == static_cast<double>(rooms::epochMs(rt.now())));
  // Anything else reaches the room (and wakes it).
  a->receive(live::Event{live::Hello{}});
  CHECK(rt.constructions() == built + 1);
  CHECK(got<live::Hi>(a).size() == 1);
}

TEST_CASE("heartbeat: the registry exposes the pair; rooms without one have none") {
  const auto& reg = app::registry();
  REQUIRE(reg.heartbeatOf("live"));
  CHECK(reg.heartbeatOf("live")->request == "ping");
  CHECK(reg.heartbeatOf("live")->response == "pong");
  CHECK(reg.heartbeatOf("probe") == nullptr);
  REQUIRE(reg.heartbeatOf("stale"));
  CHECK(reg.heartbeatOf("stale")->sweepEvery == 1s);
}

TEST_CASE("heartbeat: a connection's attachment carries its last frame's time before its state") {
  InMemoryRuntime rt(app::registry());
  const double t0 = static_cast<double>(rooms::epochMs(rt.now()));
  auto* a = join(rt, "a");
  CHECK(a->attachment() == R"({"seen":)" + std::to_string(static_cast<std::int64_t>(t0)) + "}\n" + R"({"name":"a"})");
  // Rewritten only once the stored time is over a quarter of staleAfter old.
  rt.advance(10s);
  a->receive(live::Event{live::Hello{}});
  CHECK(a->attachment().rfind(R"({"seen":)" + std::to_string(static_cast<std::int64_t>(t0)) + "}", 0) == 0);
  rt.advance(6s);
  a->receive(live::Event{live::Hello{}});
  CHECK(a->attachment().rfind(R"({"seen":)" + std::to_string(static_cast<std::int64_t>(t0 + 16000)) + "}", 0) == 0);
  CHECK(a->attachment().substr(a->attachment().find('\n') + 1) == R"({"name":"a"})");
}

// ---- The stale sweep --------------------------------------------------------------------

TEST_CASE("sweep: a silent socket is closed with 4000 stale within its timeout; a pinging one stays") {
  InMemoryRuntime rt(app::registry());
  auto* a = join<live::Stale>(rt, "a");
  auto* b = join<live::Stale>(rt, "b");
  double closedAfter = -1;
  for (int i = 1; i <= 12; ++i) {  // 6 s in steps of 500 ms; b pings every second
    rt.advance(500ms);
    if (i % 2 == 0) b->receiveRaw("ping");
    if (!a->isOpen() && closedAfter < 0) closedAfter = i * 500.0;
  }
  REQUIRE_FALSE(a->isOpen());
  CHECK(a->closeCode() == rooms::kCloseStale);
  CHECK(a->closeReason() == "stale");
  CHECK(closedAfter >= 3000);          // never early
  CHECK(closedAfter <= 3000 + 1000);   // staleAfter + sweepEvery
  CHECK(b->isOpen());                  // pings alone keep it
  CHECK(stateOf<live::Stale>(rt).left == Names{"a"});  // onClose ran
  CHECK(got<live::Left>(b).size() == 1);
}

TEST_CASE("sweep: across hibernations a socket is never closed early, and closed within the documented bound") {
  InMemoryRuntime rt(app::registry());
  auto* a = join<live::Stale>(rt, "a");
  rt.advance(2000ms);
  a->receive(live::Event{live::Hello{}});  // the last frame, at 2 s
  double closedAt = -1;
  for (int i = 1; i <= 20; ++i) {  // 5 s more in steps of 250 ms, hibernating before each
    rt.hibernate();
    rt.advance(250ms);
    if (!a->isOpen() && closedAt < 0) closedAt = i * 250.0;
  }
  REQUIRE_FALSE(a->isOpen());
  CHECK(closedAt >= 3000);                // staleAfter after the last frame
  CHECK(closedAt <= 3000 + 750 + 1000);   // + staleAfter/4 + sweepEvery
}

TEST_CASE("sweep: a room without sockets is never woken by it") {
  InMemoryRuntime rt(app::registry());
  auto* a = join<live::Stale>(rt, "a");
  CHECK(rt.alarmOf("stale", "r1"));
  a->close();
  CHECK_FALSE(rt.alarmOf("stale", "r1"));
  CHECK_FALSE(rt.stored("stale", "r1", rooms::kTimersKey));
  rt.hibernate();
  const auto built = rt.constructions();
  rt.advance(10min);
  CHECK(rt.constructions() == built);
}

TEST_CASE("sweep: the last socket swept ends the sweep") {
  InMemoryRuntime rt(app::registry());
  auto* a = join<live::Stale>(rt, "a");
  rt.advance(10s);
  CHECK_FALSE(a->isOpen());
  CHECK_FALSE(rt.alarmOf("stale", "r1"));
  rt.hibernate();
  const auto built = rt.constructions();
  rt.advance(10min);
  CHECK(rt.constructions() == built);
}

// ---- Named timers -----------------------------------------------------------------------

TEST_CASE("timers: two named timers and the schedule fire in time order across hibernation") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  a->receive(live::Event{live::SetTimer{"b", 3000}});
  a->receive(live::Event{live::Schedule{2000}});
  a->receive(live::Event{live::SetTimer{"a", 1000}});
  CHECK(rt.alarmOf("live", "r1") == rt.now() + 1000ms);
  rt.hibernate();
  rt.advance(1500ms);
  CHECK(stateOf(rt).fired == Names{"a"});
  rt.hibernate();
  rt.advance(5s);
  CHECK(stateOf(rt).fired == Names{"a", "$schedule", "b"});
  auto fired = got<live::Fired>(a);
  REQUIRE(fired.size() == 3);
  CHECK_FALSE(fired[0].failure);
  CHECK_FALSE(rt.stored("live", "r1", rooms::kAlarmKey));
  // The heartbeat's sweep is the only entry left.
  auto stored = rt.stored("live", "r1", rooms::kTimersKey);
  REQUIRE(stored);
  CHECK(stored->find("\"a\"") == std::string::npos);
  CHECK(stored->find("$sweep") != std::string::npos);
}

TEST_CASE("timers: entries due together fire in one alarm, in time order") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  a->receive(live::Event{live::SetTimer{"late", 1002}});
  a->receive(live::Event{live::SetTimer{"early", 1000}});
  a->receive(live::Event{live::Schedule{1001}});
  rt.hibernate();
  // The platform fires late (a busy machine): everything is due at once.
  rt.advance(0ms);
  CHECK(stateOf(rt).fired.empty());
  rt.advance(1002ms);
  CHECK(stateOf(rt).fired == Names{"early", "$schedule", "late"});
}

TEST_CASE("timers: set moves a timer, cancel removes it, next reports it; the schedule is unchanged") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  a->receive(live::Event{live::SetTimer{"t", 5000}});
  a->receive(live::Event{live::SetTimer{"t", 1000}});  // moved
  a->receive(live::Event{live::Schedule{3000}});
  a->receive(live::Event{live::CancelTimer{"t"}});
  CHECK(rt.alarmOf("live", "r1") == rt.now() + 3000ms);
  a->receive(live::Event{live::CancelTimer{"never-set"}});
  rt.advance(10s);
  CHECK(stateOf(rt).fired == Names{"$schedule"});
}

TEST_CASE("timers: names and counts are bounded with a typed error") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  auto outcome = [&](live::SetTimer st) {
    a->clearReceived();
    // Direct sends: the room's per-connection limit does not apply.
    REQUIRE(rt.room("live").sendEvent("r1", live::Event{st}).ok);
    auto r = got<live::TimerSet>(a);
    REQUIRE(r.size() == 1);
    return r[0].outcome;
  };
  CHECK(outcome({"$sweep", 10}).find("reserved") != std::string::npos);
  CHECK(outcome({"", 10}).find("1 to 64") != std::string::npos);
  CHECK(outcome({std::string(65, 'x'), 10}).find("1 to 64") != std::string::npos);
  for (std::size_t i = 0; i < rooms::kMaxTimers; ++i) REQUIRE(outcome({"t" + std::to_string(i), 60000}) == "ok");
  CHECK(outcome({"one-more", 10}).find("the limit is 64") != std::string::npos);
  CHECK(outcome({"t0", 10}) == "ok");  // moving an existing one is fine
}

TEST_CASE("timers: a failed timer is kept and retried with systemFailure; the others are removed") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  a->receive(live::Event{live::FailTimer{"a", 1}});
  a->receive(live::Event{live::SetTimer{"a", 1000}});
  a->receive(live::Event{live::SetTimer{"b", 1000}});
  rt.advance(1000ms);
  CHECK(stateOf(rt).fired == Names{"a", "b"});
  auto stored = rt.stored("live", "r1", rooms::kTimersKey);
  REQUIRE(stored);
  CHECK(stored->find("\"a\"") != std::string::npos);  // kept for the retry
  CHECK(stored->find("\"b\"") == std::string::npos);  // done
  CHECK(rt.stored("live", "r1", rooms::kAlarmRetryKey) == std::optional<std::string>(R"(["a"])"));
  rt.advance(2000ms);  // the platform's first retry
  CHECK(stateOf(rt).fired == Names{"a", "b", "a"});
  auto fired = got<live::Fired>(a);
  REQUIRE(fired.size() == 3);
  REQUIRE(fired[2].failure);
  CHECK(fired[2].failure->find("timer failure requested") != std::string::npos);
  CHECK_FALSE(rt.stored("live", "r1", rooms::kAlarmRetryKey));
  CHECK_FALSE(rt.stored("live", "r1", rooms::kAlarmFailureKey));
  rt.advance(10min);
  CHECK(stateOf(rt).fired.size() == 3);
}

TEST_CASE("timers: a timer that keeps failing is dropped after the platform's retries; later ones still fire") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  a->receive(live::Event{live::FailTimer{"bad", 100}});
  a->receive(live::Event{live::SetTimer{"bad", 10}});
  a->receive(live::Event{live::SetTimer{"later", 30 * 60 * 1000}});
  rt.advance(20min);
  auto fired = stateOf(rt).fired;
  CHECK(std::count(fired.begin(), fired.end(), "bad") == 1 + rooms::kMaxAlarmRetries);
  rt.advance(20min);
  fired = stateOf(rt).fired;
  CHECK(fired.back() == "later");
}

TEST_CASE("timers: a timer set through a direct send fires; a room without a heartbeat keeps no sweep") {
  rooms::Registry reg;
  reg.add<live::Live>(live::handlers<live::Live>());
  InMemoryRuntime rt(reg);
  Reply r = rt.room("live").sendEvent("r1", live::Event{live::SetTimer{"x", 1000}});
  REQUIRE(r.ok);
  CHECK(rt.alarmOf("live", "r1"));
  CHECK(rt.room("live").getState("r1").ok);
  rt.advance(2s);
  CHECK(stateOf(rt).fired == Names{"x"});
  CHECK_FALSE(rt.alarmOf("live", "r1"));
  CHECK_FALSE(rt.stored("live", "r1", rooms::kTimersKey));
}

// ---- Inbound limits -----------------------------------------------------------------------

TEST_CASE("limits: policy drop drops the frame and tells the sender alone, once per interval") {
  InMemoryRuntime rt(app::registry());
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  for (int i = 0; i < 15; ++i) a->receive(live::Event{live::Echo{i}});
  CHECK(got<live::Echoed>(a).size() == 10);  // the burst
  auto notices = runtimeFrames(a);
  REQUIRE(notices.size() == 1);
  CHECK(notices[0] == R"({"$rooms":"RateLimitError","limit":"frames","retryAfterMs":200})");
  CHECK(a->isOpen());
  CHECK(runtimeFrames(b).empty());
  b->receive(live::Event{live::Echo{99}});
  CHECK(got<live::Echoed>(b).size() == 1);  // others are served
  // One log line for the whole burst.
  std::size_t lines = 0;
  for (auto& l : rt.logs()) lines += l.find("policy drop") != std::string::npos;
  CHECK(lines == 1);
  rt.advance(1s);
  for (int i = 0; i < 8; ++i) a->receive(live::Event{live::Echo{i}});  // 5 admitted, then dropped
  CHECK(got<live::Echoed>(a).size() == 15);
  CHECK(runtimeFrames(a).size() == 2);
}

TEST_CASE("limits: the room-wide limit applies across connections") {
  InMemoryRuntime rt(app::registry());
  std::vector<TestConnection*> cs;
  for (int i = 0; i < 5; ++i) cs.push_back(join(rt, "c" + std::to_string(i)));
  std::size_t echoed = 0, roomNotices = 0;
  for (auto* c : cs)
    for (int i = 0; i < 9; ++i) c->receive(live::Event{live::Echo{i}});
  for (auto* c : cs) {
    echoed += got<live::Echoed>(c).size();
    for (auto& f : runtimeFrames(c)) roomNotices += f.find(R"("limit":"room")") != std::string::npos;
  }
  CHECK(echoed == 40);
  CHECK(roomNotices >= 1);
}

TEST_CASE("limits: policy close (the default) closes with 1008") {
  rooms::Registry reg;
  reg.add<live::Slow>(live::handlers<live::Slow>(), {.inboundFramesPerSecond = 1, .inboundFrameBurst = 2});
  InMemoryRuntime rt(reg);
  auto* a = join<live::Slow>(rt, "a");
  for (int i = 0; i < 3; ++i) a->receive(live::Event{live::Echo{i}});
  CHECK_FALSE(a->isOpen());
  CHECK(a->closeCode() == rooms::kCloseOverBudget);
}

TEST_CASE("limits: a slow bucket survives hibernation exactly; a fast one is never persisted") {
  rooms::Registry reg;
  reg.add<live::Slow>(live::handlers<live::Slow>(),
                      {.inboundFramesPerSecond = 1, .inboundFrameBurst = 30, .overLimit = rooms::OverLimit::Drop});
  InMemoryRuntime rt(reg);
  auto* a = join<live::Slow>(rt, "a");
  for (int i = 0; i < 30; ++i) a->receive(live::Event{live::Echo{i}});
  CHECK(got<live::Echoed>(a).size() == 30);
  CHECK(a->attachment().find(R"("bucket":)") != std::string::npos);
  rt.hibernate();
  a->receive(live::Event{live::Echo{30}});
  CHECK(got<live::Echoed>(a).size() == 30);  // still empty after the wake
  rt.advance(12s);
  rt.hibernate();
  for (int i = 0; i < 13; ++i) a->receive(live::Event{live::Echo{i}});
  CHECK(got<live::Echoed>(a).size() == 42);  // 12 s refilled 12 frames

  // The live room: 5 frames/s, burst 10 refills within any hibernation.
  InMemoryRuntime rt2(app::registry());
  auto* b = join(rt2, "b");
  for (int i = 0; i < 15; ++i) b->receive(live::Event{live::Echo{i}});
  CHECK(b->attachment().find("bucket") == std::string::npos);
}

TEST_CASE("chat example: heartbeat on, and a limit no typing user reaches") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers(), chat::options());
  REQUIRE(reg.heartbeatOf("chat"));
  CHECK(reg.heartbeatOf("chat")->request == "ping");
  InMemoryRuntime rt(reg);
  auto r = rt.connect<chat::Chat>("c1", {.id = "u", .initialState = {"u", rt.now()}});
  REQUIRE(r.ok());
  auto* u = r.value();
  // Typing fast: 10 frames a second for a minute.
  for (int i = 0; i < 600; ++i) {
    u->receive(chat::Event{chat::Typing{}});
    rt.advance(100ms);
  }
  CHECK(u->isOpen());
  // A script: 61 frames at once.
  for (int i = 0; i < 61; ++i) u->receive(chat::Event{chat::Say{"x"}});
  CHECK_FALSE(u->isOpen());
  CHECK(u->closeCode() == rooms::kCloseOverBudget);
}

TEST_CASE("attachment: with the heartbeat on, the state is read back from behind the runtime part") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers(), chat::options());
  InMemoryRuntime rt(reg);
  auto r = rt.connect<chat::Chat>("c1", {.id = "u", .initialState = {"u", rt.now()}});
  REQUIRE(r.ok());
  auto* u = r.value();
  CHECK(u->attachment().rfind(R"({"seen":)", 0) == 0);
  rt.hibernate();
  auto conns = rt.room("chat").getConnections("c1");
  REQUIRE(conns.ok);
  CHECK(conns.payload.find(R"("userId":"u")") != std::string::npos);
}
