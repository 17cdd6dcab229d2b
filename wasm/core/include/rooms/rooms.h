// durable-rooms: what a room author includes.
//
//   #include <rooms/rooms.h>
//
//   struct State { rooms::Timestamp createdAt; std::int64_t messageCount = 0; };
//   ROOMS_STRUCT(State, createdAt, messageCount)
//   ...
//   using Chat = rooms::Room<"chat", State, Connection, Event, Broadcast>;
//
//   rooms::Handlers<Chat> handlers() {
//     return {.onConnect = onConnect, .onEvent = rooms::dispatch(onSay, onTyping), .onClose = onClose};
//   }
//
// Declaring schema types: rooms/declare.h. Schema types and adding your own:
// rooms/schema_types.h. Errors: rooms/errors.h. Limits and RoomOptions:
// rooms/limits.h. The handler context (RoomCtx), connections, broadcast
// options and the registry: rooms/room.h. Testing with the in-memory
// runtime: rooms/testing.h.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "rooms/declare.h"
#include "rooms/errors.h"
#include "rooms/features.h"
#include "rooms/limits.h"
#include "rooms/room.h"
#include "rooms/schema.h"
#include "rooms/task.h"

namespace rooms {

// A room type: its name (instances are addressed as "name:id"), its four
// schemas: the persisted State, the per-connection state kept in the socket's
// attachment, the inbound Event union and the outbound Broadcast union; and
// the runtime features it opts into (rooms/features.h: Presence, Resume).
template <FixedString Name, class S, class C, class E, class B, class... F>
struct Room {
  static constexpr std::string_view name = Name.view();
  using State = S;
  using Connection = C;
  using Event = E;
  using Broadcast = B;
  using Features = std::tuple<F...>;

  static_assert(!name.empty() && name.find(':') == std::string_view::npos,
                "rooms::Room: a room type name is non-empty and holds no ':'");
  static_assert(SchemaType<S>, "rooms::Room: State is not a schema type (declare it with ROOMS_STRUCT)");
  static_assert(SchemaType<C>, "rooms::Room: Connection is not a schema type (declare it with ROOMS_STRUCT)");
  static_assert(SchemaType<E>, "rooms::Room: Event is not a union of ROOMS_TAGGED structs");
  static_assert(SchemaType<B>, "rooms::Room: Broadcast is not a union of ROOMS_TAGGED structs");
  static_assert((detail::kIsFeature<F> && ...), "rooms::Room: a feature is not rooms::Presence<...> or rooms::Resume");
  static_assert(!(std::is_same_v<F, Resume> || ...) || detail::IsVariant<B>::value || (detail::Declared<B> && std::is_class_v<B>),
                "rooms::Room: with rooms::Resume, Broadcast must encode as a JSON object (a union of ROOMS_TAGGED "
                "structs or a ROOMS_STRUCT), so that its frames can carry \"$seq\"");
  static_assert((detail::FeatureCheck<F, C>::ok && ...));
};

// ---- Exhaustive event dispatch ------------------------------------------------

namespace detail {
template <class Ctx, class Alt, class F>
inline constexpr bool kHandles = std::is_invocable_r_v<Task<Status>, const F&, Ctx&, const Alt&>;

// A handler that takes the whole union (`const Event&`) rather than a member
// or anything (`const auto&`) is called with the event itself: passed a
// member, it would get a temporary union its lazy coroutine outlives.
struct NotAnEvent {};
template <class Ctx, class V, class F>
inline constexpr bool kTakesUnion =
    std::is_invocable_v<const F&, Ctx&, const V&> && !std::is_invocable_v<const F&, Ctx&, const NotAnEvent&>;

// The first of fs that takes (ctx, alt).
template <std::size_t I, class Ctx, class V, class Alt, class Tuple>
Task<Status> callFirst(const Tuple& fs, Ctx& ctx, const V& event, const Alt& alt) {
  const auto& f = std::get<I>(fs);
  using F = std::remove_cvref_t<decltype(f)>;
  if constexpr (!kHandles<Ctx, Alt, F>) return callFirst<I + 1>(fs, ctx, event, alt);
  else if constexpr (kTakesUnion<Ctx, V, F>) return f(ctx, event);
  else return f(ctx, alt);
}

template <class Ctx, class Alt, class... F>
inline constexpr bool kHandledBy = (kHandles<Ctx, Alt, F> || ...);

// Instantiated for each event type; fails for one with no handler, and the
// compiler's "In instantiation of ...HandlerFor<YourEvent, false>" names it.
template <class Event, bool Handled>
struct HandlerFor {
  static_assert(Handled,
                "rooms::dispatch: an event type has no handler (every member of the Event union needs one "
                "taking (RoomCtx<R>&, const Member&))");
  static constexpr bool ok = true;
};
}  // namespace detail

// One handler per event type, checked at compile time: a member of the
// Event union with no handler is a compile error. The first handler that
// takes a member handles it, so a last `[](Ctx&, const auto&)` is a default.
template <class... F>
class Dispatch {
 public:
  explicit Dispatch(F... fs) : fs_(std::move(fs)...) {}

  template <class R, class... A>
  Task<Status> operator()(RoomCtx<R>& ctx, const std::variant<A...>& event) const {
    static_assert((detail::HandlerFor<A, detail::kHandledBy<RoomCtx<R>, A, F...>>::ok && ...));
    return std::visit([&](const auto& alt) { return detail::callFirst<0>(fs_, ctx, event, alt); }, event);
  }

 private:
  std::tuple<F...> fs_;
};

template <class... F>
Dispatch<std::decay_t<F>...> dispatch(F&&... fs) {
  return Dispatch<std::decay_t<F>...>(std::forward<F>(fs)...);
}

// ---- Errors in one line ------------------------------------------------------------

namespace detail {
inline const Status& toStatus(const Status& s) { return s; }
template <class T>
Status toStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace detail

}  // namespace rooms

// Inside a handler: ends it with the error when `expr` (a Status or a
// Result) failed.
//   ROOMS_TRY(ctx.save(next));
#define ROOMS_TRY(...)                                                                     \
  do {                                                                                     \
    if (::rooms::Status rooms_try_status_ = ::rooms::detail::toStatus(__VA_ARGS__); !rooms_try_status_) \
      co_return rooms_try_status_;                                                          \
  } while (false)
