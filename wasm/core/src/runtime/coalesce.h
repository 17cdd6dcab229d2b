// Coalesced delivery (RoomOptions::coalesce, limits.h): the frames a room
// owes each recipient wait up to a window and then leave as one frame, a
// JSON array of them. Not for room authors.
//
// Cost model. A frame is copied once when it is queued, whatever the number
// of recipients; each recipient holds indices into the queued frames. At a
// flush, recipients owed the same list of frames form one group, and each
// group's array is built once and leaves as one Frame effect with all of the
// group's slots: a broadcast to everyone stays one encode and one effect per
// window, however many messages the window held. Grouping is linear in the
// recipients' list lengths.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/effects.h"
#include "rooms/limits.h"

namespace rooms {

class Coalescer {
 public:
  explicit Coalescer(CoalesceOptions opts) : opts_(opts) {}

  bool on() const { return opts_.windowMs > 0; }

  // Queues `frame` for `slots`. The first frame of a window asks the
  // platform for a flush after the window (a FlushAfter effect); a recipient
  // reaching maxFrames or maxBytes flushes everything now. `latest`: the
  // broadcast's latest-value-wins key, or empty.
  void add(std::string_view frame, const std::uint32_t* slots, std::size_t n, std::string_view latest,
           EffectBatch& out) {
    if (n == 0) return;
    auto index = static_cast<std::uint32_t>(frames_.size());
    frames_.push_back(Queued{std::string(frame), std::string(latest)});
    bool full = false;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t s = slots[i];
      if (s >= owed_.size()) owed_.resize(s + 1);
      Owed& o = owed_[s];
      if (o.frames.empty()) waiting_.push_back(s);
      o.frames.push_back(index);
      o.bytes += frame.size() + 1;
      full |= o.frames.size() >= opts_.maxFrames || o.bytes >= opts_.maxBytes;
    }
    if (full) {
      flush(out);
    } else if (!armed_) {
      armed_ = true;
      out.flushAfter(static_cast<double>(opts_.windowMs));
    }
  }

  // The platform's timer fired (or a cap was reached): every recipient gets
  // what it is owed.
  void timerFired(EffectBatch& out) {
    armed_ = false;
    flush(out);
  }

  // Sends what `slot` is owed now, ahead of a frame that must follow it (a
  // close). Other recipients keep waiting.
  void flushSlot(std::uint32_t slot, EffectBatch& out) {
    if (slot >= owed_.size() || owed_[slot].frames.empty()) return;
    std::string bytes;
    build(owed_[slot].frames, bytes);
    out.frame(bytes, &slot, 1);
    forget(slot);
  }

  // The socket at `slot` is gone: what it was owed is dropped, so a new
  // connection given the slot never receives it.
  void drop(std::uint32_t slot) {
    if (slot < owed_.size() && !owed_[slot].frames.empty()) forget(slot);
  }

  void flush(EffectBatch& out) {
    if (waiting_.empty()) {
      frames_.clear();
      return;
    }
    // Recipients owed the same frames (after latest-value-wins) share one
    // array. std::map keeps the groups in a stable order.
    groups_.clear();
    std::vector<std::uint32_t> kept;
    for (std::uint32_t s : waiting_) {
      Owed& o = owed_[s];
      if (o.frames.empty()) continue;  // flushed alone since (flushSlot)
      keepLatest(o.frames, kept);
      groups_[kept].push_back(s);
      o.frames.clear();
      o.bytes = 0;
    }
    waiting_.clear();
    std::string bytes;
    for (auto& [list, slots] : groups_) {
      build(list, bytes);
      out.frame(bytes, slots.data(), slots.size());
    }
    groups_.clear();
    frames_.clear();
  }

 private:
  struct Queued {
    std::string bytes;
    std::string latest;  // key, or empty
  };
  struct Owed {
    std::vector<std::uint32_t> frames;  // indices into frames_, oldest first
    std::size_t bytes = 0;              // their bytes, plus one separator each
  };

  // `frames` without those a later frame of the same latest-value key
  // replaces. Keys are rare and windows short: a linear look-back suffices.
  void keepLatest(const std::vector<std::uint32_t>& frames, std::vector<std::uint32_t>& kept) const {
    kept.clear();
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const std::string& key = frames_[frames[i]].latest;
      bool replaced = false;
      if (!key.empty()) {
        for (std::size_t j = i + 1; j < frames.size() && !replaced; ++j) replaced = frames_[frames[j]].latest == key;
      }
      if (!replaced) kept.push_back(frames[i]);
    }
  }

  // One frame as it is, several as a JSON array of them.
  void build(const std::vector<std::uint32_t>& list, std::string& bytes) const {
    bytes.clear();
    if (list.size() == 1) {
      bytes = frames_[list.front()].bytes;
      return;
    }
    std::size_t total = 2;
    for (auto i : list) total += frames_[i].bytes.size() + 1;
    bytes.reserve(total);
    bytes.push_back('[');
    for (std::size_t k = 0; k < list.size(); ++k) {
      if (k > 0) bytes.push_back(',');
      bytes += frames_[list[k]].bytes;
    }
    bytes.push_back(']');
  }

  void forget(std::uint32_t slot) {
    owed_[slot].frames.clear();
    owed_[slot].bytes = 0;
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), slot), waiting_.end());
  }

  CoalesceOptions opts_;
  bool armed_ = false;                  // a FlushAfter is outstanding
  std::vector<Queued> frames_;          // queued since the last flush
  std::vector<Owed> owed_;              // by slot
  std::vector<std::uint32_t> waiting_;  // slots owed something, first-owed first
  std::map<std::vector<std::uint32_t>, std::vector<std::uint32_t>> groups_;  // frame list → slots
};

}  // namespace rooms
