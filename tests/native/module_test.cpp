// The module's registry (ROOMS_MODULE, rooms/module.h) and what the
// in-memory runtime answers for a room type it lacks.
#include <doctest/doctest.h>

#include <variant>

#include "app.h"
#include "chat/chat.h"
#include "rooms/module.h"
#include "runtime/instance.h"
#include "support.h"

using support::InMemoryRuntime;

namespace {
// A room type no registry of this program holds: same schemas as chat,
// another name.
using Absent = rooms::Room<"absent", chat::State, chat::Connection, chat::Event, chat::Broadcast>;
}  // namespace

TEST_CASE("module: ROOMS_MODULE's accessor is the registry the suites use, built once") {
  const rooms::Registry& reg = rooms::moduleRegistry();
  CHECK(&reg == &rooms::moduleRegistry());
  CHECK(&reg == &app::registry());
  CHECK(reg.has("chat"));
  CHECK_FALSE(reg.has("absent"));
}

TEST_CASE("runtime: connect<R> for a room type the registry lacks fails with RoomNotFoundError") {
  InMemoryRuntime rt(rooms::moduleRegistry());
  auto r = rt.connect<Absent>("r1", {.id = "alice", .initialState = {"alice", rt.now()}});
  REQUIRE_FALSE(r.ok());
  REQUIRE(std::holds_alternative<rooms::RoomNotFoundError>(r.error()));
  CHECK(std::get<rooms::RoomNotFoundError>(r.error()).name == "absent");
  CHECK_FALSE(rt.lastReply().ok);
  CHECK(rt.lastReply().tag == "RoomNotFoundError");
  // The runtime stays usable: the same id under a registered type connects.
  auto ok = rt.connect<chat::Chat>("r1", {.id = "alice", .initialState = {"alice", rt.now()}});
  CHECK(ok.ok());
  // And the direct calls answer the same error for the missing type.
  CHECK(rt.room("absent").getState("r1").tag == "RoomNotFoundError");
}

TEST_CASE("registry: options that make no sense are refused at add(), each named with its value") {
  rooms::Registry ok;
  ok.add<chat::Chat>(chat::handlers(), chat::options());
  CHECK(ok.problems().empty());

  rooms::Registry reg;
  rooms::Handlers<chat::Chat> noEvent = chat::handlers();
  noEvent.onEvent = {};
  rooms::RoomOptions o;
  o.maxFrameBytes = 4096;
  o.inboundByteBurst = 1000;
  o.heartbeat = rooms::Heartbeat{};
  o.heartbeat->staleAfter = std::chrono::milliseconds(0);
  o.heartbeat->request = std::string(3000, 'p');
  reg.add<chat::Chat>(noEvent, o);
  const auto& p = reg.problems();
  REQUIRE(p.size() == 4);
  auto has = [&](std::string_view a, std::string_view b) {
    for (auto& line : p)
      if (line.find(a) != std::string::npos && line.find(b) != std::string::npos && line.find("room type chat") == 0) return true;
    return false;
  };
  CHECK(has("onEvent", "not set"));
  CHECK(has("inboundByteBurst is 1000 bytes", "maxFrameBytes (4096)"));
  CHECK(has("heartbeat.staleAfter is 0 ms", "positive"));
  CHECK(has("heartbeat.request is 3000 characters", "2048"));

  // Such a registry serves nothing: every create() says why.
  struct NoHost final : rooms::Host {
    double now() override { return 0; }
    std::string randomId() override { return "x"; }
    std::optional<std::string> load(std::string_view) override { return std::nullopt; }
    std::vector<rooms::ConnectionRecord> loadConnections() override { return {}; }
    std::string loadAttachment(std::uint32_t) override { return {}; }
    std::optional<std::string> env(std::string_view) override { return std::nullopt; }
  } host;
  auto created = reg.create("chat", "r1", host);
  REQUIRE_FALSE(created);
  CHECK(rooms::describe(created.error()).find("onEvent") != std::string::npos);
}
