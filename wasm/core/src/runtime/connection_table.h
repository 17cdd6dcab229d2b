// The connections of one room instance, by slot, with the indexes handlers
// read: connect order, by tag and by id. A slot is the platform's handle for
// a socket (the shim's position in its socket table), stable for the
// socket's life and reused after it.
//
// Indexes hold open connections only; a connection the room closed stays in
// its slot (a running handler may still hold it) until free(). Index upkeep
// is O(tags) per connect or close, plus the removal from connect order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/connection.h"

namespace rooms::detail {

struct ConnRecord;

class ConnectionTable {
  using Conn = ConnRecord;
 public:
  using Slots = std::vector<std::uint32_t>;

  Conn* bySlot(std::uint32_t slot) const { return slot < slots_.size() ? slots_[slot].get() : nullptr; }
  // Open slots in connect order.
  const Slots& order() const { return order_; }
  // Open slots with this tag / id, in connect order; null when none.
  const Slots* withTag(const std::string& tag) const { return find(byTag_, tag); }
  const Slots* withId(const std::string& id) const { return find(byId_, id); }
  // Open slots in this topic, in the order they joined it; null when none.
  // Topics live in attachments: the index holds what was added since the
  // table was built (connections of this wake, and all of them once
  // Runtime::ensureTopics read the attachments).
  const Slots* inTopic(const std::string& topic) const { return find(byTopic_, topic); }
  // Every slot is below this.
  std::size_t slotCount() const { return slots_.size(); }

  // A free slot: the last one freed, or a new one.
  std::uint32_t allocate() {
    if (!free_.empty()) {
      auto s = free_.back();
      free_.pop_back();
      return s;
    }
    slots_.emplace_back();
    return static_cast<std::uint32_t>(slots_.size() - 1);
  }
  // Places an open connection in its slot (c->slot) and indexes it.
  Conn* add(std::unique_ptr<Conn> c) {
    std::uint32_t s = c->slot;
    if (s >= slots_.size()) slots_.resize(s + 1);
    slots_[s] = std::move(c);
    Conn* conn = slots_[s].get();
    order_.push_back(s);
    byId_[conn->id].push_back(s);
    for (auto& t : conn->tags) byTag_[t].push_back(s);
    return conn;
  }
  // After a wake: every slot below the highest taken one that is empty is free.
  void collectFree() {
    free_.clear();
    for (std::uint32_t s = static_cast<std::uint32_t>(slots_.size()); s-- > 0;)
      if (!slots_[s]) free_.push_back(s);
  }
  // Drops a connection from the indexes; it keeps its slot.
  void unindex(const Conn& c) {
    auto drop = [&](Slots& v) { v.erase(std::remove(v.begin(), v.end(), c.slot), v.end()); };
    drop(order_);
    for (auto& t : c.tags) {
      auto it = byTag_.find(t);
      if (it == byTag_.end()) continue;
      drop(it->second);
      if (it->second.empty()) byTag_.erase(it);
    }
    for (auto& t : c.runtime.topics) dropTopic(c.slot, t);
    if (auto it = byId_.find(c.id); it != byId_.end()) {
      drop(it->second);
      if (it->second.empty()) byId_.erase(it);
    }
  }
  // Topic membership of an indexed connection, O(members of the topic).
  void addTopic(std::uint32_t slot, const std::string& topic) { byTopic_[topic].push_back(slot); }
  void dropTopic(std::uint32_t slot, const std::string& topic) {
    auto it = byTopic_.find(topic);
    if (it == byTopic_.end()) return;
    it->second.erase(std::remove(it->second.begin(), it->second.end(), slot), it->second.end());
    if (it->second.empty()) byTopic_.erase(it);
  }
  // Destroys the connection in `slot` and makes the slot reusable.
  void free(std::uint32_t slot) {
    slots_[slot].reset();
    free_.push_back(slot);
  }

 private:
  using Index = std::unordered_map<std::string, Slots>;
  static const Slots* find(const Index& ix, const std::string& key) {
    auto it = ix.find(key);
    return it == ix.end() ? nullptr : &it->second;
  }

  std::vector<std::unique_ptr<Conn>> slots_;  // index = slot; null = free
  Slots free_;
  Slots order_;
  Index byTag_;
  Index byId_;
  Index byTopic_;
};

}  // namespace rooms::detail
