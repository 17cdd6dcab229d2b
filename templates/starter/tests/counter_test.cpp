// The counter's handlers, natively, with the in-memory runtime: the same code
// and the same effect path as on Cloudflare.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <rooms/module.h>
#include <rooms/testing.h>

#include "../rooms/counter.h"

using rooms::testing::InMemoryRuntime;
using rooms::testing::TestConnection;

static TestConnection* join(InMemoryRuntime& rt, const std::string& user) {
  auto r = rt.connect<counter::Counter>("r1", {.id = user, .initialState = {user}});
  REQUIRE_MESSAGE(r.ok(), rt.lastReply().payload);
  return r.value();
}

TEST_CASE("counter: a newcomer learns the count; Add reaches everyone and is kept") {
  InMemoryRuntime rt(rooms::moduleRegistry());
  auto* alice = join(rt, "alice");
  REQUIRE(alice->receivedTags() == std::vector<std::string>{"Count"});
  CHECK(std::get<counter::Count>(alice->receivedAs<counter::Broadcast>().at(0)).count == 0);

  auto* bob = join(rt, "bob");
  alice->clearReceived();
  bob->clearReceived();
  bob->receive(counter::Event{counter::Add{5}});
  for (auto* c : {alice, bob}) {
    auto got = c->receivedAs<counter::Broadcast>();
    REQUIRE(got.size() == 1);
    CHECK(std::get<counter::Count>(got[0]).count == 5);
    CHECK(std::get<counter::Count>(got[0]).by == "bob");
  }
  CHECK(rt.room("counter").getState("r1").payload == R"({"count":5})");

  rt.hibernate();  // state survives the instance
  CHECK(rt.room("counter").sendEvent("r1", counter::Event{counter::Reset{}}).ok);
  CHECK(rt.room("counter").getState("r1").payload == R"({"count":0})");
}

TEST_CASE("counter: a malformed event is refused, nothing changes") {
  InMemoryRuntime rt(rooms::moduleRegistry());
  auto r = rt.room("counter").send("r1", R"({"_tag":"Add","by":"two"})");
  CHECK_FALSE(r.ok);
  CHECK(r.tag == "RoomValidationError");
  CHECK(rt.room("counter").getState("r1").payload == "null");
}
