// Liveness and control (issue 11): the attachment envelope, named timers on
// the room's one alarm, the heartbeat and the stale-socket sweep, and the
// inbound rate limits with their policy, through the in-memory runtime.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "app.h"
#include "chat/chat.h"
#include "probe/probe.h"
#include "rooms/testing.h"
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

  REQUIRE(rooms::parseRuntime(R"({"topics":["a"],"ref":"x","seen":"soon","bucket":[1,2]})", back));
  CHECK(back.empty());
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
