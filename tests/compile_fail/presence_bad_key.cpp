// Presence<&project, &key>: the key names the presence entry, so it must be
// a string; a key function that returns a number is refused.
#include "rooms/rooms.h"

namespace lobby {
struct Player { std::string name; std::int64_t seat = 0; };
ROOMS_STRUCT(Player, name, seat)
struct Seen { std::string name; };
ROOMS_STRUCT(Seen, name)
struct Sit { std::int64_t seat = 0; };
ROOMS_TAGGED(Sit, seat)
using Event = std::variant<Sit>;
inline Seen seen(const Player& p) { return {p.name}; }
inline std::int64_t seatOf(const Player& p) { return p.seat; }
using Lobby = rooms::Room<"lobby", Player, Player, Event, Event, rooms::Presence<&seen, &seatOf>>;
inline constexpr auto kName = Lobby::name;
}  // namespace lobby
