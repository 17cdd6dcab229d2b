// A field whose type has no schema (a nested struct without ROOMS_STRUCT) is
// refused at the struct's declaration, naming the struct and the field.
#include "rooms/rooms.h"

namespace game {
struct Position { int x = 0, y = 0; };  // no ROOMS_STRUCT
struct State { Position cursor; };
ROOMS_STRUCT(State, cursor)
}  // namespace game
