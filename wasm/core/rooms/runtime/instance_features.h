// RoomInstance: presence, topics and resume. Included at the end of
// runtime/instance.h; the data they keep is declared there.
//
// Presence is derived from the open connections and kept nowhere but in
// their attachments (the ref) and in memory: each change to a connection
// (its onConnect ended, its state changed, it closed) is "touched" with the
// entry the others were told of, and at the end of the crossing every
// touched connection whose entry changed becomes one leave and/or one join
// of a single PresenceDiff; joiners get the full Presence. An event that
// touches no connection reads no attachment.
#pragma once

namespace rooms {

template <class R>
void RoomInstance<R>::connectEnded(Conn& c, bool failed) {
  if (failed || !c.open_) {
    resuming_.erase(std::remove(resuming_.begin(), resuming_.end(), &c), resuming_.end());
    c.resumeFrom_.reset();
    c.held_.clear();
    return;
  }
  // The order a resuming socket sees: the frames it missed, the live frames
  // addressed to it during its onConnect, then (end of crossing) Presence.
  if constexpr (kHasResume<R>)
    if (c.resumeFrom_) resumeReplay(c);
  if constexpr (kHasPresence<R>) {
    presenceTouch(c);
    presenceJoiners_.push_back(&c);
  }
  c.connected_ = true;
}

template <class R>
void RoomInstance<R>::forgetConn(Conn* c) {
  for (auto& t : presenceTouched_)
    if (t.c == c) t.c = nullptr;
  presenceJoiners_.erase(std::remove(presenceJoiners_.begin(), presenceJoiners_.end(), c), presenceJoiners_.end());
  resuming_.erase(std::remove(resuming_.begin(), resuming_.end(), c), resuming_.end());
}

template <class R>
void RoomInstance<R>::endCrossing() {
  if constexpr (kHasPresence<R>) presenceFlush();
  if constexpr (kHasResume<R>) resumeFlush();
}

// ---- Presence -------------------------------------------------------------------

template <class R>
const PresenceEntry& RoomInstance<R>::presenceEntryOf(Conn& c) {
  if constexpr (kHasPresence<R>) {
    if (!c.presence_) {
      using P = PresenceOf<R>;
      const auto& st = c.state();
      PresenceEntry e;
      if constexpr (P::keyedById) e.key = c.id_;
      else e.key = std::string(P::key(st));
      e.ref = c.runtime_.ref;
      auto meta = encodeToString(P::project(st));
      e.meta = meta ? std::move(*meta) : std::string("null");
      c.presence_ = std::move(e);
    }
  }
  return *c.presence_;
}

template <class R>
void RoomInstance<R>::presenceTouch(Conn& c) {
  if (c.touched_) return;
  c.touched_ = true;
  Touched t{&c, std::nullopt};
  if (c.joined_) t.old = presenceEntryOf(c);
  presenceTouched_.push_back(std::move(t));
}

template <class R>
void RoomInstance<R>::presenceFlush() {
  if (presenceTouched_.empty() && presenceJoiners_.empty()) return;
  PresenceMap joins, leaves;
  for (auto& t : presenceTouched_) {
    std::optional<PresenceEntry> now;
    if (t.c) {
      t.c->touched_ = false;
      if (t.c->open_ && t.c->connected_) now = presenceEntryOf(*t.c);
      t.c->joined_ = now.has_value();
    }
    if (t.old == now) continue;
    if (t.old) leaves.add(*t.old);
    if (now) joins.add(*now);
  }
  presenceTouched_.clear();
  std::vector<Conn*> joiners;
  for (auto* c : presenceJoiners_)
    if (c->open_ && c->joined_) joiners.push_back(c);
  presenceJoiners_.clear();
  auto isJoiner = [&](const Conn* c) { return std::find(joiners.begin(), joiners.end(), c) != joiners.end(); };

  if (!joins.empty() || !leaves.empty()) {
    std::string frame = presenceDiffFrame(joins, leaves);
    auto& to = scratch_.list;
    to.clear();
    for (auto s : table_.order()) {
      Conn* c = table_.bySlot(s);
      if (c->joined_ && !isJoiner(c)) to.push_back(s);
    }
    if (!to.empty()) deliver(frame, to.data(), to.size());
  }
  if (!joiners.empty()) {
    PresenceMap state;
    for (auto s : table_.order()) {
      Conn* c = table_.bySlot(s);
      if (c->joined_) state.add(presenceEntryOf(*c));
    }
    for (auto* j : joiners) {
      std::string frame = presenceStateFrame(presenceEntryOf(*j).key, state);
      deliver(frame, &j->slot_, 1);
    }
  }
}

// ---- Topics ---------------------------------------------------------------------

template <class R>
Status RoomInstance<R>::joinTopic(Conn& c, std::string_view topic) {
  if (topic.empty() || topic.size() > kMaxTopicLength)
    return RoomValidationError{"$.topic", "a topic of 1 to " + std::to_string(kMaxTopicLength) + " bytes",
                               std::to_string(topic.size()) + " bytes", {}};
  (void)c.state();  // reads the runtime part
  auto& topics = c.runtime_.topics;
  if (std::find(topics.begin(), topics.end(), topic) != topics.end()) return {};
  if (topics.size() >= kMaxTopicsPerConnection)
    return RoomValidationError{"$.topics", "at most " + std::to_string(kMaxTopicsPerConnection) + " topics per connection",
                               std::to_string(topics.size() + 1) + " topics", {}};
  topics.emplace_back(topic);
  // The runtime part must stay valid JSON and within its cap.
  json::Buffer probe;
  json::Writer w(probe);
  const bool utf8 = w.String(topic.data(), static_cast<json::SizeType>(topic.size()));
  const std::size_t size = formatRuntime(c.runtime_).size();
  if (!utf8 || size > kMaxRuntimeAttachmentBytes) {
    topics.pop_back();
    if (!utf8) return RoomValidationError{"$.topic", "a topic of valid UTF-8", "invalid UTF-8", {}};
    return AttachmentTooLargeError{size, kMaxRuntimeAttachmentBytes};
  }
  if (c.open_) table_.addTopic(c.slot_, topics.back());
  return writeAttachment(c);
}

template <class R>
Status RoomInstance<R>::leaveTopic(Conn& c, std::string_view topic) {
  (void)c.state();
  auto& topics = c.runtime_.topics;
  auto it = std::find(topics.begin(), topics.end(), topic);
  if (it == topics.end()) return {};
  std::string name = std::move(*it);
  topics.erase(it);
  if (c.open_) table_.dropTopic(c.slot_, name);
  return writeAttachment(c);
}

template <class R>
void RoomInstance<R>::ensureTopics() {
  if (topicsIndexed_) return;
  ensureConnections();
  for (auto s : table_.order()) (void)table_.bySlot(s)->state();
  topicsIndexed_ = true;
}

template <class R>
Status Connection<R>::join(std::string_view topic) {
  return room_->joinTopic(*this, topic);
}
template <class R>
Status Connection<R>::leave(std::string_view topic) {
  return room_->leaveTopic(*this, topic);
}
template <class R>
const std::vector<std::string>& Connection<R>::topics() {
  (void)state();
  return runtime_.topics;
}
template <class R>
bool Connection<R>::inTopic(std::string_view topic) {
  const auto& t = topics();
  return std::find(t.begin(), t.end(), topic) != t.end();
}

template <class R>
std::vector<Connection<R>*> Connections<R>::inTopic(std::string_view topic) const {
  room_->ensureTopics();
  std::vector<Connection<R>*> out;
  if (auto* slots = room_->table_.inTopic(std::string(topic)))
    for (auto s : *slots) out.push_back(room_->table_.bySlot(s));
  return out;
}

// ---- Resume ---------------------------------------------------------------------

template <class R>
ResumeHead& RoomInstance<R>::resumeHead() {
  if (!resumeHead_) {
    resumeHead_.emplace();
    if (auto raw = host_.load(kResumeHeadKey); raw && !resumeHead_->decode(*raw)) {
      logError("stored resume head is not {\"seq\",\"first\",\"bytes\"}: " + *raw);
      resumeHead_.emplace();
    }
  }
  return *resumeHead_;
}

template <class R>
ResumeSelection RoomInstance<R>::selectionOf(const BroadcastOptions<R>& opts) {
  ResumeSelection sel;
  using B = ResumeSelection::Base;
  if (opts.to) {
    sel.base = B::To;
    for (auto* c : *opts.to)
      if (c && c->isOpen()) sel.ids.push_back(c->id_);
  } else if (opts.tag) {
    sel.base = B::Tag;
    sel.name = *opts.tag;
  } else if (opts.topic) {
    sel.base = B::Topic;
    sel.name = *opts.topic;
  }
  if (opts.except) sel.except.push_back(opts.except->id_);
  for (auto* c : opts.exceptAll)
    if (c) sel.except.push_back(c->id_);
  return sel;
}

template <class R>
std::string RoomInstance<R>::sequence(std::string_view bytes, const ResumeSelection& sel, const std::uint32_t*& slots,
                                      std::size_t& n) {
  ResumeHead& h = resumeHead();
  const std::uint64_t seq = ++h.seq;
  resumeHeadDirty_ = true;
  std::string framed = sequencedFrame(seq, bytes);
  std::string record = sel.encode();
  record += '\n';
  record += framed;
  out_->put(resumeFrameKey(seq), record);
  if (resumeSizes_.empty()) resumeSizesFrom_ = seq;
  resumeSizes_.push_back(record.size());
  h.bytes += record.size();
  // Trim from the oldest: by count, then by bytes.
  while (h.first <= h.seq && (h.seq - h.first + 1 > options_.resumeFrames || h.bytes > options_.resumeBytes)) {
    std::uint64_t size = 0;
    if (h.first >= resumeSizesFrom_ && h.first - resumeSizesFrom_ < resumeSizes_.size()) {
      size = resumeSizes_[h.first - resumeSizesFrom_];
    } else if (auto old = host_.load(resumeFrameKey(h.first))) {
      size = old->size();
    }
    out_->erase(resumeFrameKey(h.first));
    h.bytes -= std::min(size, h.bytes);
    ++h.first;
  }
  // Sizes of frames no longer buffered are dropped now and then.
  if (h.first > resumeSizesFrom_ + 256 && h.first - resumeSizesFrom_ <= resumeSizes_.size()) {
    resumeSizes_.erase(resumeSizes_.begin(), resumeSizes_.begin() + static_cast<std::ptrdiff_t>(h.first - resumeSizesFrom_));
    resumeSizesFrom_ = h.first;
  }
  // Sockets still waiting for their missed frames get this one after them.
  if (!resuming_.empty() && n > 0) {
    liveSlots_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      Conn* c = table_.bySlot(slots[i]);
      if (c && c->resumeFrom_) c->held_.push_back(framed);
      else liveSlots_.push_back(slots[i]);
    }
    slots = liveSlots_.data();
    n = liveSlots_.size();
  }
  return framed;
}

template <class R>
void RoomInstance<R>::resumeReplay(Conn& c) {
  resuming_.erase(std::remove(resuming_.begin(), resuming_.end(), &c), resuming_.end());
  const std::uint64_t from = *c.resumeFrom_;
  const std::uint64_t upTo = c.resumeUpTo_;
  c.resumeFrom_.reset();
  const ResumeHead& h = resumeHead();
  // The buffer must still hold every frame after `from` up to the accept.
  bool resync = from > upTo || (from < upTo && from + 1 < h.first);
  std::vector<std::string> missed;
  if (!resync) {
    json::Parser p;
    ResumeSelection sel;
    for (std::uint64_t s = from + 1; s <= upTo; ++s) {
      auto rec = host_.load(resumeFrameKey(s));
      auto nl = rec ? rec->find('\n') : std::string::npos;
      if (nl == std::string::npos || p.parse(std::string_view(*rec).substr(0, nl), nl + 1) || !sel.decode(p.root())) {
        logError("resume buffer: frame " + std::to_string(s) + " is missing or unreadable; sending ResyncRequired");
        resync = true;
        break;
      }
      if (sel.addressedTo(c.id_, c.tags_, c.runtime_.topics)) missed.push_back(rec->substr(nl + 1));
    }
  }
  if (resync) deliver(resyncFrame(upTo), &c.slot_, 1);
  else
    for (auto& f : missed) deliver(f, &c.slot_, 1);
  for (auto& f : c.held_) deliver(f, &c.slot_, 1);
  c.held_.clear();
}

template <class R>
void RoomInstance<R>::resumeFlush() {
  if (!resumeHeadDirty_) return;
  resumeHeadDirty_ = false;
  out_->put(kResumeHeadKey, resumeHead_->encode());
}

}  // namespace rooms
