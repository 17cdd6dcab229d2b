// What a broadcast may say about its recipients. The runtime reads every
// option through detail::Selection, in one place (selectionOf below): the
// recipients of a frame and the selection a resumable room stores with it
// both follow from the Selection, so an option cannot reach one and not the
// other. Adding an option is a field here, its line in selectionOf (which
// fails to compile until it has one), its meaning in the runtime's Selection
// reader (wasm/core/src/runtime/selection.cpp), and its test.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rooms {

class ConnectionBase;
template <class R>
class Connection;

template <class R>
struct BroadcastOptions {
  // Everyone but this connection.
  const Connection<R>* except = nullptr;
  // Everyone but these.
  std::vector<const Connection<R>*> exceptAll;
  // Only connections with this tag.
  std::optional<std::string> tag;
  // Exactly these (a closed one is reported in BroadcastError).
  std::optional<std::vector<Connection<R>*>> to;
  // Only connections that joined this topic (Connection::join). `to` wins
  // over `tag`, and `tag` over `topic`; except/exceptAll apply to all three.
  std::optional<std::string> topic;
  // Latest value wins (rooms with coalescing on, RoomOptions::coalesce):
  // this frame replaces any earlier frame with the same key that is still
  // waiting for a recipient, e.g. "cursor:" + the user's id. The key is
  // copied when the broadcast is made.
  std::string_view latest;
};

namespace detail {

// A broadcast's recipients, without the room type. Views into the options
// it was made from; it lives for one broadcast call.
struct Selection {
  enum class Base : unsigned char { All, Tag, Topic, To };
  Base base = Base::All;
  std::string_view name;  // Base::Tag, Base::Topic
  std::vector<const ConnectionBase*> to;      // Base::To, in order, nulls kept
  std::vector<const ConnectionBase*> except;  // nulls dropped
  std::string_view latest;
};

template <class R>
Selection selectionOf(const BroadcastOptions<R>& o) {
  // Every option, by name: a new field of BroadcastOptions fails to compile
  // here until it is read below.
  [[maybe_unused]] const auto& [except, exceptAll, tag, to, topic, latest] = o;
  Selection s;
  if (o.to) {
    s.base = Selection::Base::To;
    s.to.assign(o.to->begin(), o.to->end());
  } else if (o.tag) {
    s.base = Selection::Base::Tag;
    s.name = *o.tag;
  } else if (o.topic) {
    s.base = Selection::Base::Topic;
    s.name = *o.topic;
  }
  if (o.except) s.except.push_back(o.except);
  for (auto* c : o.exceptAll)
    if (c) s.except.push_back(c);
  s.latest = o.latest;
  return s;
}

}  // namespace detail
}  // namespace rooms
