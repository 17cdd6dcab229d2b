// What a broadcast may say about its recipients, and how the recipients
// follow from it. Adding an option is one field here, its selection in
// selectRecipients below, and its test.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rooms/errors.h"
#include "rooms/runtime/connection_table.h"

namespace rooms {

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
  // waiting for a recipient, e.g. "cursor:" + the user's id.
  std::string_view latest;
};

// Scratch buffers reused across broadcasts (no allocation per event once grown).
struct RecipientScratch {
  std::vector<std::uint8_t> mark;   // per slot: 1 = excluded, 2 = already a recipient
  std::vector<std::uint32_t> list;
};

// The recipients, in connect order (or the order of `to`), without
// duplicates. Everyone, or everyone but one, costs no per-recipient marking.
// Connections of `to` that are closed are reported in `failed`.
template <class R>
std::pair<const std::uint32_t*, std::size_t> selectRecipients(const BroadcastOptions<R>& opts,
                                                               const ConnectionTable<Connection<R>>& table,
                                                               RecipientScratch& scratch, BroadcastError& failed) {
  const auto& order = table.order();
  if (!opts.to && !opts.tag && !opts.topic && opts.exceptAll.empty()) {
    if (!opts.except) return {order.data(), order.size()};
    auto skip = std::find(order.begin(), order.end(), opts.except->slot_);
    scratch.list.assign(order.begin(), skip);
    if (skip != order.end()) scratch.list.insert(scratch.list.end(), skip + 1, order.end());
    return {scratch.list.data(), scratch.list.size()};
  }
  auto& mark = scratch.mark;
  mark.resize(table.slotCount());
  auto exclude = [&](std::uint8_t v) {
    if (opts.except) mark[opts.except->slot_] = v;
    for (auto* c : opts.exceptAll)
      if (c) mark[c->slot_] = v;
  };
  exclude(1);
  scratch.list.clear();
  auto consider = [&](std::uint32_t s) {
    if (mark[s]) return;
    mark[s] = 2;
    scratch.list.push_back(s);
  };
  if (opts.to) {
    for (auto* c : *opts.to) {
      if (!c || !c->isOpen()) failed.failures.push_back(SendError{c ? std::string(c->id()) : "", "connection is not open"});
      else consider(c->slot_);
    }
  } else if (opts.tag) {
    if (auto* tagged = table.withTag(*opts.tag))
      for (auto s : *tagged) consider(s);
  } else if (opts.topic) {
    // The caller made sure the topic index is built (RoomInstance::ensureTopics).
    if (auto* members = table.inTopic(*opts.topic))
      for (auto s : *members) consider(s);
  } else {
    for (auto s : order) consider(s);
  }
  exclude(0);
  for (auto s : scratch.list) mark[s] = 0;
  return {scratch.list.data(), scratch.list.size()};
}

}  // namespace rooms
