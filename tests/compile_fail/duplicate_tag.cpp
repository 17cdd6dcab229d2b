// Two members of one union with the same _tag are refused.
#include "rooms/rooms.h"

namespace game {
struct State { int turn = 0; };
ROOMS_STRUCT(State, turn)
struct Move { int cell = 0; };
ROOMS_TAGGED(Move, cell)
struct MoveAgain { int cell = 0; };
ROOMS_TAGGED_AS(MoveAgain, "Move", cell)
using Event = std::variant<Move, MoveAgain>;
using Game = rooms::Room<"game", State, State, Event, Event>;
static_assert(Game::name == "game");
}  // namespace game
