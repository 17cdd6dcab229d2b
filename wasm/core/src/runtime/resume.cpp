#include "runtime/resume.h"

#include <algorithm>

#include "runtime/frames.h"
#include "runtime/instance.h"

namespace rooms::detail {

ResumeHead& ResumeLog::head() {
  if (!head_) {
    head_.emplace();
    if (auto raw = rt_.host().load(kResumeHeadKey); raw && !head_->decode(*raw)) {
      rt_.logError("stored resume head is not {\"seq\",\"first\",\"bytes\"}: " + *raw);
      head_.emplace();
    }
  }
  return *head_;
}

ResumeLog::Waiting* ResumeLog::waitingOf(const ConnRecord* c) {
  for (auto& w : waiting_)
    if (w.c == c) return &w;
  return nullptr;
}

void ResumeLog::begin(ConnRecord& c, std::uint64_t from) { waiting_.push_back(Waiting{&c, from, head().seq, {}}); }

std::string ResumeLog::sequence(std::string_view bytes, const ResumeSelection& sel, const std::uint32_t*& slots,
                                std::size_t& n) {
  ResumeHead& h = head();
  const RoomOptions& o = rt_.options();
  const std::uint64_t seq = ++h.seq;
  headDirty_ = true;
  std::string framed = sequencedFrame(seq, bytes);
  std::string record = sel.encode();
  record += '\n';
  record += framed;
  rt_.out().put(resumeFrameKey(seq), record);
  if (sizes_.empty()) sizesFrom_ = seq;
  sizes_.push_back(record.size());
  h.bytes += record.size();
  // Trim from the oldest: by count, then by bytes.
  while (h.first <= h.seq && (h.seq - h.first + 1 > o.resumeFrames || h.bytes > o.resumeBytes)) {
    std::uint64_t size = 0;
    if (h.first >= sizesFrom_ && h.first - sizesFrom_ < sizes_.size()) {
      size = sizes_[h.first - sizesFrom_];
    } else if (auto old = rt_.host().load(resumeFrameKey(h.first))) {
      size = old->size();
    }
    rt_.out().erase(resumeFrameKey(h.first));
    h.bytes -= std::min(size, h.bytes);
    ++h.first;
  }
  // Sizes of frames no longer buffered are dropped now and then.
  if (h.first > sizesFrom_ + 256 && h.first - sizesFrom_ <= sizes_.size()) {
    sizes_.erase(sizes_.begin(), sizes_.begin() + static_cast<std::ptrdiff_t>(h.first - sizesFrom_));
    sizesFrom_ = h.first;
  }
  // Sockets still waiting for their missed frames get this one after them.
  if (!waiting_.empty() && n > 0) {
    live_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      Waiting* w = waitingOf(rt_.bySlot(slots[i]));
      if (w) w->held.push_back(framed);
      else live_.push_back(slots[i]);
    }
    slots = live_.data();
    n = live_.size();
  }
  return framed;
}

void ResumeLog::connectEnded(ConnRecord& c, bool ok) {
  auto it = std::find_if(waiting_.begin(), waiting_.end(), [&](const Waiting& w) { return w.c == &c; });
  if (it == waiting_.end()) return;
  Waiting w = std::move(*it);
  waiting_.erase(it);
  // The order a resuming socket sees: the frames it missed, the live frames
  // addressed to it during its onConnect, then (end of crossing) Presence.
  if (ok) replay(std::move(w));
}

void ResumeLog::forget(ConnRecord& c) {
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), [&](const Waiting& w) { return w.c == &c; }),
                 waiting_.end());
}

void ResumeLog::replay(Waiting w) {
  ConnRecord& c = *w.c;
  const ResumeHead& h = head();
  // The buffer must still hold every frame after `from` up to the accept.
  bool resync = w.from > w.upTo || (w.from < w.upTo && w.from + 1 < h.first);
  std::vector<std::string> missed;
  if (!resync) {
    json::Parser p;
    ResumeSelection sel;
    const auto& topics = rt_.topicsOf(c);
    for (std::uint64_t s = w.from + 1; s <= w.upTo; ++s) {
      auto rec = rt_.host().load(resumeFrameKey(s));
      auto nl = rec ? rec->find('\n') : std::string::npos;
      if (nl == std::string::npos || p.parse(std::string_view(*rec).substr(0, nl), nl + 1) || !sel.decode(p.root())) {
        rt_.logError("resume buffer: frame " + std::to_string(s) + " is missing or unreadable; sending ResyncRequired");
        resync = true;
        break;
      }
      if (sel.addressedTo(c.id, c.tags, topics)) missed.push_back(rec->substr(nl + 1));
    }
  }
  if (resync) rt_.deliver(resyncFrame(w.upTo), &c.slot, 1);
  else
    for (auto& f : missed) rt_.deliver(f, &c.slot, 1);
  for (auto& f : w.held) rt_.deliver(f, &c.slot, 1);
}

void ResumeLog::crossingEnded() {
  if (!headDirty_) return;
  headDirty_ = false;
  rt_.out().put(kResumeHeadKey, head_->encode());
}

}  // namespace rooms::detail
