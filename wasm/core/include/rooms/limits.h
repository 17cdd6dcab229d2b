// Platform limits, enforced by the core with errors that quote the limit and
// the actual value.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
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

// Budgets (RoomOptions below). A Durable Object sees nothing of a socket's
// outgoing backlog (workerd has no bufferedAmount, and send() never blocks),
// so a slow reader cannot be detected; what the core bounds instead is the
// amplification: how much one connection may send in, and how many bytes a
// room may hand the platform to send out, per second. The defaults sit far
// above a chat user (a few frames a second) and above the project's
// benchmark, whose busiest socket sends ~1,250 frames/s of ~30 bytes and
// whose busiest room sends ~9 MB/s of frames on the build machine.
//
// Per connection, inbound: frames per second and a burst of frames ...
inline constexpr std::uint32_t kDefaultInboundFramesPerSecond = 2000;
inline constexpr std::uint32_t kDefaultInboundFrameBurst = 10000;
// ... and bytes per second with a burst (at least 8 frames of the default
// 1 MiB maxFrameBytes back to back).
inline constexpr std::size_t kDefaultInboundBytesPerSecond = std::size_t(2) << 20;
inline constexpr std::size_t kDefaultInboundByteBurst = std::size_t(8) << 20;
// Per room, outbound: frame bytes × recipients per second, for every frame
// the room sends (broadcasts and single sends); at most one second's worth
// at once.
inline constexpr std::size_t kDefaultOutboundBytesPerSecond = std::size_t(64) << 20;

// A connection over its inbound budget is closed with this code (RFC 6455
// "policy violation") and reason; its onClose runs as for any close.
inline constexpr std::uint32_t kCloseOverBudget = 1008;
inline constexpr std::string_view kOverBudgetReason = "inbound rate limit exceeded";

// Topics (Connection::join): per connection at most this many topics, each 1
// to kMaxTopicLength bytes. Membership lives in the runtime part of the
// socket's attachment, so it also counts against kMaxRuntimeAttachmentBytes
// (1 KiB: about 7 topics of 128 bytes, or 32 of 20).
inline constexpr std::size_t kMaxTopicsPerConnection = 32;
inline constexpr std::size_t kMaxTopicLength = 128;

// Resume buffer defaults (RoomOptions::resumeFrames, resumeBytes).
inline constexpr std::size_t kDefaultResumeFrames = 128;
inline constexpr std::size_t kDefaultResumeBytes = std::size_t(256) << 10;
// Coalesced delivery (RoomOptions::coalesce). Off by default. When on, the
// frames a room owes one recipient within `windowMs` leave as one frame: a
// JSON array of the frames as they would have been sent alone, in order (a
// single frame leaves as it is). Recipients owed the same frames share one
// array, encoded once. A broadcast with a `latest` key (BroadcastOptions)
// replaces an earlier frame of that key still waiting for the same
// recipient: only the newest per key per window is sent.
struct CoalesceOptions {
  // How long a frame may wait for others; 0 turns coalescing off.
  std::uint32_t windowMs = 0;
  // Everything waiting leaves at once when one recipient is owed this many
  // frames or bytes, whatever the window.
  std::uint32_t maxFrames = 100;
  std::size_t maxBytes = std::size_t(64) << 10;
};

// ---- Liveness and control ----------------------------------------------------

// A heartbeat that never wakes the room: the platform answers the text frame
// `request` with `response` (setWebSocketAutoResponse) while the room sleeps,
// and records when. With it on, the room closes sockets that sent neither a
// frame nor a ping for `staleAfter` with kCloseStale / kStaleReason, and
// their onClose runs when the platform reports the close. The sweep is an
// internal timer on the room's alarm: it wakes the room at most once per
// `sweepEvery`, and only while the room has sockets.
//
// A silent socket is closed after between staleAfter and staleAfter +
// sweepEvery of silence while the room stays awake, and after at most
// staleAfter × 5/4 + sweepEvery across hibernations (the last frame's time
// is persisted coarsely, to a quarter of staleAfter, and read back as late as
// it can have been: never early). Plus the platform's alarm delay.
struct Heartbeat {
  // Each at most 2,048 characters (the platform's limit), not empty.
  std::string request = "ping";
  std::string response = "pong";
  std::chrono::milliseconds staleAfter{60'000};
  // 0: a quarter of staleAfter.
  std::chrono::milliseconds sweepEvery{0};
};
inline constexpr std::uint32_t kCloseStale = 4000;
inline constexpr std::string_view kStaleReason = "stale";
inline constexpr std::size_t kMaxHeartbeatTextLength = 2048;

// What happens to a frame over an inbound limit (per connection or room-wide).
enum class OverLimit : std::uint8_t {
  // The sender is closed with kCloseOverBudget (1008); the default.
  Close,
  // The frame is dropped and the sender alone gets the runtime frame
  // {"$rooms":"RateLimitError","limit":"frames"|"bytes"|"room","retryAfterMs":N}
  // (docs/PROTOCOL.md), at most one per connection per kRateLimitNoticeMs.
  Drop,
};
inline constexpr double kRateLimitNoticeMs = 1000;

// The shortest hibernation: the platform hibernates an object after 10 s
// without events. A bucket that refills completely in that time needs no
// persistence; one that lacks more keeps a snapshot in its attachment.
inline constexpr double kMinHibernationIdleMs = 10'000;

// Named timers (ctx.timers()): at most this many per room, names of 1 to
// kMaxTimerNameLength bytes not starting with '$' (reserved for the runtime).
inline constexpr std::size_t kMaxTimers = 64;
inline constexpr std::size_t kMaxTimerNameLength = 64;
// An alarm that fires up to this early still runs its earliest entry.
inline constexpr double kAlarmEarlyMs = 1000;
// The platform retries a failed alarm at most this many times.
inline constexpr int kMaxAlarmRetries = 6;

// Per room type, configurable.
struct RoomOptions {
  // Cap on the encoded per-connection state. 2 KiB is the documented
  // attachment limit on Cloudflare (newer runtimes allow 16 KiB).
  std::size_t maxAttachmentBytes = 2048;
  // Inbound frames (and direct-API payloads) longer than this are refused.
  std::size_t maxFrameBytes = 1 << 20;
  // Unknown keys in inbound objects: dropped (default) or refused.
  bool rejectUnknownKeys = false;

  // Budgets, 0 = unlimited. Token buckets: they start full when a
  // connection is accepted; a connection's bucket that a hibernation could
  // not refill (one lacking more than kMinHibernationIdleMs of refill) is
  // kept in its attachment and read back after a wake, any other starts
  // full again. Time is the platform's clock (Host::now()); on Cloudflare
  // Date.now() advances only between I/O, which per-second buckets do not
  // mind.
  //
  // Per connection, checked before a frame is decoded: a connection over
  // either bucket is closed with kCloseOverBudget (1008, kOverBudgetReason)
  // and the frame is dropped. A burst of 0 holds one second's worth; keep
  // the byte burst at or above maxFrameBytes, or a frame that long can never
  // pass.
  std::uint32_t inboundFramesPerSecond = kDefaultInboundFramesPerSecond;
  std::uint32_t inboundFrameBurst = kDefaultInboundFrameBurst;
  std::size_t inboundBytesPerSecond = kDefaultInboundBytesPerSecond;
  std::size_t inboundByteBurst = kDefaultInboundByteBurst;
  // Per room: a broadcast or send whose bytes × recipients exceed what is
  // left of this second's budget is not sent; the call returns a RoomError
  // quoting the limit and the value, and the room logs a warning.
  std::size_t outboundBytesPerSecond = kDefaultOutboundBytesPerSecond;

  // Rooms declared with rooms::Resume: the buffer of the last frames the room
  // sent, kept in storage for clients that reconnect. A frame leaves the
  // buffer once it holds more than resumeFrames frames or resumeBytes bytes
  // (a frame's bytes plus its recipients' selection); a client that missed a
  // frame no longer in the buffer gets ResyncRequired.
  std::size_t resumeFrames = kDefaultResumeFrames;
  std::size_t resumeBytes = kDefaultResumeBytes;
  // Coalesced delivery; off unless coalesce.windowMs > 0.
  CoalesceOptions coalesce{};

  // Off by default (Heartbeat above): `.heartbeat = rooms::Heartbeat{}`.
  std::optional<Heartbeat> heartbeat;
  // The policy for frames over the inbound limits (per connection above,
  // room-wide below).
  OverLimit overLimit = OverLimit::Close;
  // Room-wide, inbound: frames per second across all connections, with a
  // burst (0 = one second's worth); 0 = unlimited. In memory: full again
  // after every wake.
  std::uint32_t roomInboundFramesPerSecond = 0;
  std::uint32_t roomInboundFrameBurst = 0;
};

// Storage keys the core owns.
inline constexpr std::string_view kStateKey = "rooms:state";
// The largest state a room may save, as JSON: the platform stores at most
// 2 MB (key and value together) under one key of a SQLite-backed object,
// and throws past it (local workerd only at 4 MiB). A larger save is refused
// with RoomValidationError and changes nothing.
inline constexpr std::size_t kMaxStateBytes = 2'000'000 - kStateKey.size();
inline constexpr std::string_view kAlarmKey = "rooms:alarm";
inline constexpr std::string_view kAlarmFailureKey = "rooms:alarm-failure";
// Resume: the head {"seq":last,"first":oldest buffered,"bytes":total} and one
// key per buffered frame, kResumeFramePrefix + its sequence number.
inline constexpr std::string_view kResumeHeadKey = "rooms:seq";
inline constexpr std::string_view kResumeFramePrefix = "rooms:seq:";
// Named timers and the runtime's own ("$sweep"): {"name": epoch ms, ...}.
inline constexpr std::string_view kTimersKey = "rooms:timers";
// The entries whose handler failed in the last platform alarm, for its
// retry: ["$alarm" (the spec's schedule), "name", ...].
inline constexpr std::string_view kAlarmRetryKey = "rooms:alarm-retry";

}  // namespace rooms
