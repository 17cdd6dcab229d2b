// libFuzzer target: arbitrary bytes through the codec. Decoding must never
// crash, hang or leak; what decodes must encode, and decode again to the
// same encoding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "chat/chat.h"
#include "probe/probe.h"
#include "rooms/schema.h"

namespace {

template <class T>
void roundTrip(std::string_view text) {
  static rooms::Decoder decoder;
  static rooms::Decoder strict(rooms::CodecLimits{}, rooms::DecodeOptions{rooms::ExtraFields::Reject});
  T value;
  (void)strict.decode(text, value);
  if (decoder.decode(text, value)) return;
  auto first = rooms::encodeToString(value);
  if (!first) return;  // NaN cannot come from JSON, but a string may hold invalid UTF-8? It may not: abort below.
  T again;
  if (auto err = decoder.decode(*first, again)) std::abort();  // what we write, we must read
  auto second = rooms::encodeToString(again);
  if (!second || *second != *first) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  roundTrip<chat::Event>(text);
  roundTrip<chat::Broadcast>(text);
  roundTrip<chat::State>(text);
  roundTrip<chat::Connection>(text);
  roundTrip<probe::Event>(text);
  roundTrip<probe::Broadcast>(text);
  roundTrip<probe::Connection>(text);  // an optional key
  return 0;
}
