// The module's registry (ROOMS_MODULE, rooms/module.h) and what the
// in-memory runtime answers for a room type it lacks.
#include <doctest/doctest.h>

#include <variant>

#include "app.h"
#include "chat/chat.h"
#include "rooms/module.h"
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
