// rooms::Resume adds "$seq" to every frame, so the Broadcast type must
// encode as a JSON object; a room that broadcasts bare strings is refused.
#include "rooms/rooms.h"

namespace feed {
struct State { int items = 0; };
ROOMS_STRUCT(State, items)
struct Post { std::string text; };
ROOMS_TAGGED(Post, text)
using Event = std::variant<Post>;
using Feed = rooms::Room<"feed", State, State, Event, std::string, rooms::Resume>;
inline constexpr auto kName = Feed::name;  // instantiates the declaration
}  // namespace feed
