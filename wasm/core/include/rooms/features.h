// Opt-in runtime features of a room type, named after its four schemas in
// its declaration:
//
//   inline Online online(const Connection& c) { return {c.userId, c.joinedAt}; }
//   inline std::string userKey(const Connection& c) { return c.userId; }
//   using Chat = rooms::Room<"chat", State, Connection, Event, Broadcast,
//                            rooms::Presence<&online, &userKey>, rooms::Resume>;
//
// Presence<&project> (key = connection id) or Presence<&project, &key>: the
// room tells its sockets who is connected (docs/PROTOCOL.md §1). `project`
// maps the connection state to the meta every socket sees (a schema type:
// it appears in rooms.d.ts and the JSON Schemas as the room's presence
// role); `key`, when given, maps the connection state to the presence key
// (two sockets of one key are one entry with two metas).
//
// Resume: every frame the room sends carries a room-wide sequence number,
// the last RoomOptions::resumeFrames frames are kept in storage, and a
// client that reconnects with the upgrade option `resume` gets what it
// missed (docs/PROTOCOL.md §2). Its Broadcast type must encode as a JSON
// object (a tagged union or a struct).
#pragma once

#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "rooms/schema.h"

namespace rooms {

template <auto Project, auto Key = nullptr>
struct Presence {
  static constexpr auto project = Project;
  static constexpr auto key = Key;
  static constexpr bool keyedById = std::is_null_pointer_v<decltype(Key)>;
};

struct Resume {};

namespace detail {
template <class T>
struct IsPresence : std::false_type {};
template <auto P, auto K>
struct IsPresence<Presence<P, K>> : std::true_type {};

template <class Tuple>
struct FindPresence {
  using type = void;
};
template <class F, class... Rest>
struct FindPresence<std::tuple<F, Rest...>> {
  using type = std::conditional_t<IsPresence<F>::value, F, typename FindPresence<std::tuple<Rest...>>::type>;
};

template <class F>
inline constexpr bool kIsFeature = IsPresence<F>::value || std::is_same_v<F, Resume>;

// Compile-time checks of one feature of a room whose connection state is C.
template <class F, class C>
struct FeatureCheck {
  static constexpr bool ok = true;
};
template <auto P, auto K, class C>
struct FeatureCheck<Presence<P, K>, C> {
  static_assert(std::is_invocable_v<decltype(P), const C&>,
                "rooms::Presence<&project>: project must take (const Connection&)");
  static_assert(SchemaType<std::remove_cvref_t<std::invoke_result_t<decltype(P), const C&>>>,
                "rooms::Presence<&project>: project must return a schema type (declare it with ROOMS_STRUCT)");
  static constexpr bool keyOk() {
    if constexpr (std::is_null_pointer_v<decltype(K)>) return true;
    else return std::is_convertible_v<std::invoke_result_t<decltype(K), const C&>, std::string>;
  }
  static_assert(keyOk(), "rooms::Presence<&project, &key>: key must take (const Connection&) and return a string");
  static constexpr bool ok = true;
};

template <class T>
struct IsVariant : std::false_type {};
template <class... A>
struct IsVariant<std::variant<A...>> : std::true_type {};
}  // namespace detail

// The Presence feature of room type R, or void.
template <class R>
using PresenceOf = typename detail::FindPresence<typename R::Features>::type;
template <class R>
inline constexpr bool kHasPresence = !std::is_void_v<PresenceOf<R>>;
template <class R>
inline constexpr bool kHasResume = []<class... F>(std::tuple<F...>*) {
  return (std::is_same_v<F, Resume> || ...);
}(static_cast<typename R::Features*>(nullptr));

// The meta type of a room with presence.
template <class R>
using PresenceMetaOf = std::remove_cvref_t<decltype(PresenceOf<R>::project(std::declval<const typename R::Connection&>()))>;

}  // namespace rooms
