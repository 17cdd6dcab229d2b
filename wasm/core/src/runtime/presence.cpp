#include "runtime/presence.h"

#include <algorithm>

#include "runtime/instance.h"

namespace rooms::detail {

PresenceTracker::Mark& PresenceTracker::mark(std::uint32_t slot) {
  if (slot >= marks_.size()) marks_.resize(slot + 1);
  return marks_[slot];
}

void PresenceTracker::accepted(ConnRecord& c) {
  mark(c.slot) = Mark{false, false, std::nullopt};
  c.runtime.ref = shortRef(rt_.host().randomId());
}

const PresenceEntry& PresenceTracker::entryOf(ConnRecord& c) {
  Mark& m = mark(c.slot);
  if (!m.entry) {
    PresenceEntry e;
    rt_.type().presence(rt_.connectionState(c), c.id, e.key, e.meta);
    e.ref = c.runtime.ref;
    m.entry = std::move(e);
  }
  return *m.entry;
}

void PresenceTracker::touch(ConnRecord& c) {
  Mark& m = mark(c.slot);
  if (m.touched) return;
  m.touched = true;
  Touched t{&c, std::nullopt};
  if (m.joined) t.old = entryOf(c);
  touched_.push_back(std::move(t));
}

void PresenceTracker::connectEnded(ConnRecord& c, bool ok) {
  if (!ok) return;
  touch(c);
  joiners_.push_back(&c);
}

void PresenceTracker::changing(ConnRecord& c) {
  touch(c);
  mark(c.slot).entry.reset();  // the state changes: read anew
}

void PresenceTracker::forget(ConnRecord& c) {
  for (auto& t : touched_)
    if (t.c == &c) t.c = nullptr;
  joiners_.erase(std::remove(joiners_.begin(), joiners_.end(), &c), joiners_.end());
}

void PresenceTracker::crossingEnded() {
  if (touched_.empty() && joiners_.empty()) return;
  PresenceMap joins, leaves;
  for (auto& t : touched_) {
    std::optional<PresenceEntry> now;
    if (t.c) {
      Mark& m = mark(t.c->slot);
      m.touched = false;
      if (t.c->life == Life::Open) now = entryOf(*t.c);
      m.joined = now.has_value();
    }
    if (t.old == now) continue;
    if (t.old) leaves.add(*t.old);
    if (now) joins.add(*now);
  }
  touched_.clear();
  std::vector<ConnRecord*> joiners;
  for (auto* c : joiners_)
    if (c->isOpen() && mark(c->slot).joined) joiners.push_back(c);
  joiners_.clear();
  auto isJoiner = [&](const ConnRecord* c) { return std::find(joiners.begin(), joiners.end(), c) != joiners.end(); };

  ConnectionTable& table = rt_.table();
  if (!joins.empty() || !leaves.empty()) {
    std::string frame = presenceDiffFrame(joins, leaves);
    std::vector<std::uint32_t> to;
    for (auto s : table.order()) {
      ConnRecord* c = table.bySlot(s);
      if (mark(s).joined && !isJoiner(c)) to.push_back(s);
    }
    if (!to.empty()) rt_.deliver(frame, to.data(), to.size());
  }
  if (!joiners.empty()) {
    PresenceMap state;
    for (auto s : table.order())
      if (mark(s).joined) state.add(entryOf(*table.bySlot(s)));
    for (auto* j : joiners) {
      std::string frame = presenceStateFrame(entryOf(*j).key, state);
      rt_.deliver(frame, &j->slot, 1);
    }
  }
}

}  // namespace rooms::detail
