// The effect batch: what one crossing into the core asks the platform to do,
// in order. The core writes it into one flat little-endian buffer; the JS
// shim walks it with a DataView in one loop, and native hosts (the in-memory
// runtime) read it with EffectReader, so both hosts exercise the same format.
//
// Layout: a sequence of records, each `u8 kind` followed by its fields.
// Integers are little-endian u32 unless noted; `str` is `u32 length` + UTF-8
// bytes; `f64` is an IEEE double.
//
//   Accept   req, slot, u32 ntags, str tag × ntags, str attachment
//   Frame    str bytes, u32 n, pad, u32 slot × n   (one encode, n recipients;
//            `pad` is 0-3 zero bytes so the slots start 4-byte aligned from
//            the batch start, and a reader can view them in place)
//   Close    slot, u32 code, str reason
//   Attach   slot, str attachment
//   Put      str key, str value                    (room storage)
//   Delete   str key
//   SetAlarm f64 epochMs
//   ClearAlarm
//   Call     callId, str room, str id, u32 op, str payload   (sibling room)
//   Reply    req, u32 ok, str tag (empty when ok), str payload
//   Log      u32 level, str text
//   FlushAfter f64 ms     call the core's flush entry point after `ms`
//                         (coalesced delivery; one outstanding at a time)
//
// The numbers (kinds, call operations, log levels) are in wire.h, shared with
// the shim through the generated shim/wire.js.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/wire.h"

namespace rooms {

static_assert(std::endian::native == std::endian::little, "the effect batch is written in host order");

class EffectBatch {
 public:
  void clear() { bytes_.clear(); count_ = 0; }
  bool empty() const { return count_ == 0; }
  std::size_t count() const { return count_; }
  const std::uint8_t* data() const { return bytes_.data(); }
  std::size_t size() const { return bytes_.size(); }

  void accept(std::uint32_t req, std::uint32_t slot, const std::vector<std::string>& tags,
              std::string_view attachment) {
    kind(EffectKind::Accept);
    u32(req);
    u32(slot);
    u32(static_cast<std::uint32_t>(tags.size()));
    for (const auto& t : tags) str(t);
    str(attachment);
  }
  void frame(std::string_view bytes, const std::uint32_t* slots, std::size_t n) {
    kind(EffectKind::Frame);
    str(bytes);
    u32(static_cast<std::uint32_t>(n));
    bytes_.resize((bytes_.size() + 3) & ~std::size_t(3));
    std::size_t at = bytes_.size();
    bytes_.resize(at + 4 * n);
    if (n > 0) std::memcpy(bytes_.data() + at, slots, 4 * n);  // little-endian, as the format
  }
  void close(std::uint32_t slot, std::uint32_t code, std::string_view reason) {
    kind(EffectKind::Close);
    u32(slot);
    u32(code);
    str(reason);
  }
  void attach(std::uint32_t slot, std::string_view attachment) {
    kind(EffectKind::Attach);
    u32(slot);
    str(attachment);
  }
  void put(std::string_view key, std::string_view value) {
    kind(EffectKind::Put);
    str(key);
    str(value);
  }
  void erase(std::string_view key) {
    kind(EffectKind::Delete);
    str(key);
  }
  void setAlarm(double epochMs) {
    kind(EffectKind::SetAlarm);
    f64(epochMs);
  }
  void clearAlarm() { kind(EffectKind::ClearAlarm); }
  void call(std::uint32_t callId, std::string_view room, std::string_view id, CallOp op,
            std::string_view payload) {
    kind(EffectKind::Call);
    u32(callId);
    str(room);
    str(id);
    u32(static_cast<std::uint32_t>(op));
    str(payload);
  }
  void reply(std::uint32_t req, bool ok, std::string_view tag, std::string_view payload) {
    kind(EffectKind::Reply);
    u32(req);
    u32(ok ? 1 : 0);
    str(tag);
    str(payload);
  }
  void log(LogLevel level, std::string_view text) {
    kind(EffectKind::Log);
    u32(static_cast<std::uint32_t>(level));
    str(text);
  }
  void flushAfter(double ms) {
    kind(EffectKind::FlushAfter);
    f64(ms);
  }

 private:
  void kind(EffectKind k) {
    bytes_.push_back(static_cast<std::uint8_t>(k));
    ++count_;
  }
  void u32(std::uint32_t v) {
    std::uint8_t b[4] = {std::uint8_t(v), std::uint8_t(v >> 8), std::uint8_t(v >> 16), std::uint8_t(v >> 24)};
    bytes_.insert(bytes_.end(), b, b + 4);
  }
  void f64(double d) {
    std::uint64_t v;
    std::memcpy(&v, &d, 8);
    u32(static_cast<std::uint32_t>(v));
    u32(static_cast<std::uint32_t>(v >> 32));
  }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }

  std::vector<std::uint8_t> bytes_;
  std::size_t count_ = 0;
};

// One decoded record. Views point into the batch's buffer.
struct Effect {
  EffectKind kind{};
  std::uint32_t req = 0, slot = 0, code = 0, callId = 0, op = 0, level = 0;
  bool ok = false;
  double time = 0;
  std::string_view bytes, key, reason, tag, room, id;
  std::vector<std::string_view> tags;
  std::vector<std::uint32_t> slots;
};

// Walks a batch for native hosts.
class EffectReader {
 public:
  EffectReader(const std::uint8_t* data, std::size_t size) : begin_(data), p_(data), end_(data + size) {}
  bool next(Effect& e);

 private:
  std::uint32_t u32();
  std::string_view str();
  const std::uint8_t* begin_;
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

}  // namespace rooms
