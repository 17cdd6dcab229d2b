// Platform limits, enforced by the core with errors that quote the limit and
// the actual value.
#pragma once

#include <cstddef>
#include <string_view>

namespace rooms {

// Cloudflare: at most 10 tags per hibernatable WebSocket. One is reserved for
// the connection id (kIdTagPrefix + id) so the id survives hibernation
// without reading the attachment; users get the other nine.
inline constexpr std::size_t kMaxTagsPerSocket = 10;
inline constexpr std::size_t kMaxUserTags = kMaxTagsPerSocket - 1;
// Cloudflare: at most 256 characters per tag.
inline constexpr std::size_t kMaxTagLength = 256;
// The id tag starts with U+001F, a control character no URL or form yields;
// user tags may not start with it.
inline constexpr std::string_view kIdTagPrefix = "\x1f" "id:";
inline constexpr std::size_t kMaxIdLength = kMaxTagLength - kIdTagPrefix.size();
// Cloudflare: at most 32,768 hibernatable WebSockets per Durable Object.
inline constexpr std::size_t kMaxSocketsPerRoom = 32768;

// Per room type, configurable.
struct RoomOptions {
  // Cap on the encoded per-connection state. 2 KiB is the documented
  // attachment limit on Cloudflare (newer runtimes allow 16 KiB).
  std::size_t maxAttachmentBytes = 2048;
  // Inbound frames (and direct-API payloads) longer than this are refused.
  std::size_t maxFrameBytes = 1 << 20;
  // Unknown keys in inbound objects: dropped (default) or refused.
  bool rejectUnknownKeys = false;
};

// Storage keys the core owns.
inline constexpr std::string_view kStateKey = "rooms:state";
inline constexpr std::string_view kAlarmKey = "rooms:alarm";
inline constexpr std::string_view kAlarmFailureKey = "rooms:alarm-failure";

}  // namespace rooms
