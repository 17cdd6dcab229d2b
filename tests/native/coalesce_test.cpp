// Coalesced delivery (RoomOptions::coalesce): frames owed to one recipient
// within the window leave as one JSON array; recipients owed the same frames
// share one array; latest-value-wins keys; the caps; a close sends what is
// owed first; a gone socket's frames are dropped; rooms without it are
// unchanged. Driven through the in-memory runtime and its clock.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "probe/cursors.h"
#include "rooms/testing.h"

namespace {

using namespace std::chrono_literals;
using rooms::testing::InMemoryRuntime;
using rooms::testing::TestConnection;
using Strings = std::vector<std::string>;

rooms::Registry registry(rooms::CoalesceOptions c) {
  rooms::Registry reg;
  reg.add<cursors::Room>(cursors::handlers(), {.coalesce = c});
  return reg;
}

TestConnection* join(InMemoryRuntime& rt, const std::string& id) {
  auto r = rt.connect<cursors::Room>("r", {.id = id, .initialState = {id}});
  REQUIRE_MESSAGE(r.ok(), rt.lastReply().payload);
  return r.value();
}

}  // namespace

TEST_CASE("coalescing off: every frame leaves at once, as before") {
  auto reg = registry({});
  InMemoryRuntime rt(reg);
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  a->receive(cursors::Event{cursors::Say{"one"}});
  a->receive(cursors::Event{cursors::Say{"two"}});
  CHECK(b->received() == Strings{R"({"_tag":"Said","userId":"a","text":"one"})",
                                 R"({"_tag":"Said","userId":"a","text":"two"})"});
}

TEST_CASE("frames within the window leave as one array, in order, after the window") {
  auto reg = registry({.windowMs = 20});
  InMemoryRuntime rt(reg);
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  a->receive(cursors::Event{cursors::Say{"one"}});
  rt.advance(5ms);
  b->receive(cursors::Event{cursors::Say{"two"}});
  a->receive(cursors::Event{cursors::Say{"three"}});
  CHECK(a->received().empty());
  CHECK(b->received().empty());
  rt.advance(14ms);
  CHECK(b->received().empty());  // 19 ms after the first frame
  rt.advance(1ms);
  const std::string all = R"([{"_tag":"Said","userId":"a","text":"one"},)"
                          R"({"_tag":"Said","userId":"b","text":"two"},)"
                          R"({"_tag":"Said","userId":"a","text":"three"}])";
  CHECK(a->received() == Strings{all});
  CHECK(b->received() == Strings{all});

  SUBCASE("a frame alone in its window leaves as it is, not as an array") {
    a->clearReceived();
    b->clearReceived();
    a->receive(cursors::Event{cursors::Say{"four"}});
    rt.advance(20ms);
    CHECK(b->received() == Strings{R"({"_tag":"Said","userId":"a","text":"four"})"});
  }
}

TEST_CASE("recipients owed different frames get different arrays") {
  auto reg = registry({.windowMs = 20});
  InMemoryRuntime rt(reg);
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  auto* c = join(rt, "c");
  a->receive(cursors::Event{cursors::Move{1, 1}});  // to b and c
  b->receive(cursors::Event{cursors::Say{"hi"}});   // to everyone
  rt.advance(20ms);
  const std::string cursor = R"({"_tag":"Cursor","userId":"a","x":1,"y":1})";
  const std::string said = R"({"_tag":"Said","userId":"b","text":"hi"})";
  CHECK(a->received() == Strings{said});
  CHECK(b->received() == Strings{"[" + cursor + "," + said + "]"});
  CHECK(c->received() == Strings{"[" + cursor + "," + said + "]"});
}

TEST_CASE("latest value wins: only the newest frame per key per window is sent") {
  auto reg = registry({.windowMs = 30});
  InMemoryRuntime rt(reg);
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  auto* c = join(rt, "c");
  for (int i = 1; i <= 50; ++i) a->receive(cursors::Event{cursors::Move{i, -i}});
  b->receive(cursors::Event{cursors::Move{7, 7}});
  a->receive(cursors::Event{cursors::Say{"done"}});
  rt.advance(30ms);
  // c: a's last cursor, b's cursor, then the Say; the 49 older cursors of a
  // were replaced.
  CHECK(c->received() == Strings{R"([{"_tag":"Cursor","userId":"a","x":50,"y":-50},)"
                                 R"({"_tag":"Cursor","userId":"b","x":7,"y":7},)"
                                 R"({"_tag":"Said","userId":"a","text":"done"}])"});
  CHECK(b->received() == Strings{R"([{"_tag":"Cursor","userId":"a","x":50,"y":-50},)"
                                 R"({"_tag":"Said","userId":"a","text":"done"}])"});
  CHECK(a->received() == Strings{R"([{"_tag":"Cursor","userId":"b","x":7,"y":7},)"
                                 R"({"_tag":"Said","userId":"a","text":"done"}])"});

  SUBCASE("the next window starts afresh") {
    c->clearReceived();
    a->receive(cursors::Event{cursors::Move{51, 0}});
    rt.advance(30ms);
    CHECK(c->received() == Strings{R"({"_tag":"Cursor","userId":"a","x":51,"y":0})"});
  }
}

TEST_CASE("a recipient reaching maxFrames or maxBytes sends everything at once") {
  SUBCASE("frames") {
    auto reg = registry({.windowMs = 1000, .maxFrames = 3});
    InMemoryRuntime rt(reg);
    auto* a = join(rt, "a");
    auto* b = join(rt, "b");
    a->receive(cursors::Event{cursors::Say{"1"}});
    a->receive(cursors::Event{cursors::Say{"2"}});
    CHECK(b->received().empty());
    a->receive(cursors::Event{cursors::Say{"3"}});  // the third: no waiting for the window
    REQUIRE(b->received().size() == 1);
    CHECK(b->received()[0].front() == '[');
    CHECK(a->received() == b->received());
    a->receive(cursors::Event{cursors::Say{"4"}});
    rt.advance(1000ms);  // the window's timer, still armed, sends what came since
    CHECK(b->received().size() == 2);
    CHECK(b->received()[1] == R"({"_tag":"Said","userId":"a","text":"4"})");
  }
  SUBCASE("bytes") {
    auto reg = registry({.windowMs = 1000, .maxBytes = 100});
    InMemoryRuntime rt(reg);
    auto* a = join(rt, "a");
    auto* b = join(rt, "b");
    a->receive(cursors::Event{cursors::Say{std::string(40, 'x')}});
    CHECK(b->received().empty());
    a->receive(cursors::Event{cursors::Say{std::string(40, 'y')}});  // 2 × ~70 bytes ≥ 100
    CHECK(b->received().size() == 1);
  }
}

TEST_CASE("a close sends what the connection is owed first; a gone socket's frames are dropped") {
  auto reg = registry({.windowMs = 20});
  InMemoryRuntime rt(reg);
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  b->receive(cursors::Event{cursors::Say{"before"}});
  a->receive(cursors::Event{cursors::Bye{}});
  // a got the Say and its Goodbye, as one array, before its close.
  CHECK(!a->isOpen());
  CHECK(a->closeCode() == 1000u);
  CHECK(a->received() == Strings{R"([{"_tag":"Said","userId":"b","text":"before"},{"_tag":"Goodbye"}])"});
  // b still waits for its window.
  CHECK(b->received().empty());
  rt.advance(20ms);
  CHECK(b->received() == Strings{R"({"_tag":"Said","userId":"b","text":"before"})"});

  SUBCASE("a client that leaves mid-window: its frames never reach the next socket in its slot") {
    auto* c = join(rt, "c");
    b->receive(cursors::Event{cursors::Say{"for c"}});
    c->close();
    auto* d = join(rt, "d");  // may take c's slot
    rt.advance(20ms);
    CHECK(d->received().empty());
    CHECK(c->received().empty());
  }
}

TEST_CASE("hibernation sends what is waiting first (the platform's timer keeps the room awake)") {
  auto reg = registry({.windowMs = 50});
  InMemoryRuntime rt(reg);
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  a->receive(cursors::Event{cursors::Say{"x"}});
  rt.hibernate();
  CHECK(b->received() == Strings{R"({"_tag":"Said","userId":"a","text":"x"})"});
  rt.advance(100ms);  // nothing is sent twice
  CHECK(b->received().size() == 1);
}

TEST_CASE("a whole room owed the same frames gets the same array") {
  auto reg = registry({.windowMs = 20});
  InMemoryRuntime rt(reg);
  std::vector<TestConnection*> all;
  for (int i = 0; i < 100; ++i) all.push_back(join(rt, "u" + std::to_string(i)));
  for (int i = 0; i < 10; ++i) all[static_cast<std::size_t>(i)]->receive(cursors::Event{cursors::Say{std::to_string(i)}});
  rt.advance(20ms);
  for (auto* c : all) {
    REQUIRE(c->received().size() == 1);
    CHECK(c->received()[0] == all[0]->received()[0]);
  }
}

TEST_CASE("a RateLimitError leaves after the frames its connection was already owed") {
  rooms::Registry reg;
  reg.add<cursors::Room>(cursors::handlers(), {.inboundFramesPerSecond = 1,
                                               .inboundFrameBurst = 1,
                                               .coalesce = {.windowMs = 20},
                                               .overLimit = rooms::OverLimit::Drop});
  InMemoryRuntime rt(reg);
  auto* a = join(rt, "a");
  auto* b = join(rt, "b");
  a->receive(cursors::Event{cursors::Say{"one"}});
  CHECK(a->received().empty());                     // owed, waiting for the window
  a->receive(cursors::Event{cursors::Say{"two"}});  // over the burst: dropped, with a notice
  REQUIRE(a->received().size() == 2);
  CHECK(a->received()[0] == R"({"_tag":"Said","userId":"a","text":"one"})");
  CHECK(a->received()[1].rfind(R"({"$rooms":"RateLimitError","limit":"frames",)", 0) == 0);
  CHECK(b->received().empty());  // b's window is its own
  rt.advance(20ms);
  CHECK(b->received() == Strings{R"({"_tag":"Said","userId":"a","text":"one"})"});
  CHECK(a->received().size() == 2);  // nothing is sent twice
}
