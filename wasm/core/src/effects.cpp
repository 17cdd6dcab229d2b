#include "runtime/effects.h"

namespace rooms {

std::uint32_t EffectReader::u32() {
  std::uint32_t v = std::uint32_t(p_[0]) | std::uint32_t(p_[1]) << 8 | std::uint32_t(p_[2]) << 16 |
                    std::uint32_t(p_[3]) << 24;
  p_ += 4;
  return v;
}

std::string_view EffectReader::str() {
  std::uint32_t n = u32();
  std::string_view s(reinterpret_cast<const char*>(p_), n);
  p_ += n;
  return s;
}

bool EffectReader::next(Effect& e) {
  if (p_ >= end_) return false;
  e = Effect{};
  e.kind = static_cast<EffectKind>(*p_++);
  switch (e.kind) {
    case EffectKind::Accept: {
      e.req = u32();
      e.slot = u32();
      std::uint32_t n = u32();
      for (std::uint32_t i = 0; i < n; ++i) e.tags.push_back(str());
      e.bytes = str();
      break;
    }
    case EffectKind::Frame: {
      e.bytes = str();
      std::uint32_t n = u32();
      p_ = begin_ + ((p_ - begin_ + 3) & ~std::ptrdiff_t(3));
      e.slots.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) e.slots.push_back(u32());
      break;
    }
    case EffectKind::Close:
      e.slot = u32();
      e.code = u32();
      e.reason = str();
      break;
    case EffectKind::Attach:
      e.slot = u32();
      e.bytes = str();
      break;
    case EffectKind::Put:
      e.key = str();
      e.bytes = str();
      break;
    case EffectKind::Delete:
      e.key = str();
      break;
    case EffectKind::SetAlarm:
    case EffectKind::FlushAfter: {
      std::uint64_t lo = u32(), hi = u32();
      std::uint64_t v = lo | hi << 32;
      std::memcpy(&e.time, &v, 8);
      break;
    }
    case EffectKind::ClearAlarm:
      break;
    case EffectKind::Call:
      e.callId = u32();
      e.room = str();
      e.id = str();
      e.op = u32();
      e.bytes = str();
      break;
    case EffectKind::Reply:
      e.req = u32();
      e.ok = u32() != 0;
      e.tag = str();
      e.bytes = str();
      break;
    case EffectKind::Log:
      e.level = u32();
      e.bytes = str();
      break;
  }
  return true;
}

}  // namespace rooms
