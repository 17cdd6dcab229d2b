// rooms::dispatch needs a handler for every member of the Event union.
#include "rooms/rooms.h"

namespace game {
struct State { int turn = 0; };
ROOMS_STRUCT(State, turn)
struct Move { int cell = 0; };
ROOMS_TAGGED(Move, cell)
struct Resign {};
ROOMS_TAGGED(Resign)
using Event = std::variant<Move, Resign>;
using Game = rooms::Room<"game", State, State, Event, Event>;

rooms::Task<rooms::Status> onMove(rooms::RoomCtx<Game>&, const Move&) { co_return {}; }

rooms::Handlers<Game> handlers() { return {.onEvent = rooms::dispatch(onMove)}; }  // no Resign handler
}  // namespace game
