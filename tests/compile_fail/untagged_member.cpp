// A union member declared without a tag is refused where the room type is
// declared.
#include "rooms/rooms.h"

namespace game {
struct State { int turn = 0; };
ROOMS_STRUCT(State, turn)
struct Move { int cell = 0; };
ROOMS_STRUCT(Move, cell)  // ROOMS_STRUCT, not ROOMS_TAGGED
struct Resign {};
ROOMS_TAGGED(Resign)
using Event = std::variant<Move, Resign>;
using Game = rooms::Room<"game", State, State, Event, Event>;
static_assert(Game::name == "game");
}  // namespace game
