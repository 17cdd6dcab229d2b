// The runtime's own frames: JSON objects whose "$rooms" names their kind
// (docs/PROTOCOL.md), never a member of a room's Broadcast union. Every kind
// is named here once; presence.h builds the two presence frames.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rooms::detail {

inline constexpr std::string_view kPresenceFrame = "Presence";
inline constexpr std::string_view kPresenceDiffFrame = "PresenceDiff";
inline constexpr std::string_view kRateLimitFrame = "RateLimitError";
inline constexpr std::string_view kResyncFrame = "ResyncRequired";

// {"$rooms":"RateLimitError","limit":"frames"|"bytes"|"room","retryAfterMs":N}
inline std::string rateLimitFrame(std::string_view limit, std::uint64_t retryAfterMs) {
  return R"({"$rooms":")" + std::string(kRateLimitFrame) + R"(","limit":")" + std::string(limit) +
         R"(","retryAfterMs":)" + std::to_string(retryAfterMs) + "}";
}

// {"$rooms":"ResyncRequired","seq":N}
inline std::string resyncFrame(std::uint64_t seq) {
  return R"({"$rooms":")" + std::string(kResyncFrame) + R"(","seq":)" + std::to_string(seq) + "}";
}

}  // namespace rooms::detail
