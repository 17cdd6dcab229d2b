// The numbers that cross between the core and its JS shim, written once.
//
// Each list below is an X-macro: `X(Name, value)`. C++ makes its enums from
// them here; tools/gen_wire prints the same lists as shim/wire.js, and a
// native CTest test (wire_js_current) fails when the committed shim/wire.js
// no longer matches this file. So a new effect kind, request or host
// operation is added here, and then handled on both sides:
//   C++   effects.h (EffectBatch writer), effects.cpp (EffectReader),
//         testing.cpp (the in-memory runtime applies it);
//   JS    shim/core.js (decodes it), shim/effects.js (applies it).
// Values are part of the wire format: never renumber one.
//
// Portable C++ (no Emscripten header): the native build includes it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

// The record kinds of an effect batch (layout in effects.h).
#define ROOMS_EFFECT_KINDS(X) \
  X(Accept, 1)                \
  X(Frame, 2)                 \
  X(Close, 3)                 \
  X(Attach, 4)                \
  X(Put, 5)                   \
  X(Delete, 6)                \
  X(SetAlarm, 7)              \
  X(ClearAlarm, 8)            \
  X(Call, 9)                  \
  X(Reply, 10)                \
  X(Log, 11)                  \
  X(FlushAfter, 12)

// What a request to a room instance asks (the client's calls, and sibling
// calls from other rooms): the `op` of the shim's roomsRequest RPC and of
// the Wasm export rooms_request.
#define ROOMS_REQUEST_OPS(X) \
  X(Send, 1)                 \
  X(GetState, 2)             \
  X(Broadcast, 3)            \
  X(GetConnections, 4)       \
  X(FireAlarm, 5)

// The requests a handler may make of a sibling room (the `op` of a Call
// effect). A sibling call is a request to another room, so each has the value
// of the request operation of the same name, and the shim forwards it as is.
#define ROOMS_CALL_OPS(X)                                   \
  X(Send, static_cast<std::uint32_t>(RequestOp::Send))      \
  X(GetState, static_cast<std::uint32_t>(RequestOp::GetState)) \
  X(Broadcast, static_cast<std::uint32_t>(RequestOp::Broadcast))

// The `level` of a Log effect.
#define ROOMS_LOG_LEVELS(X) \
  X(Info, 0)                \
  X(Warn, 1)                \
  X(Error, 2)

// What the core reads from the platform through the Wasm bindings (one entry
// per rooms::Host read, host.h); the shim's host table is keyed by these.
#define ROOMS_HOST_OPS(X) \
  X(RandomId, 0)          \
  X(Load, 1)              \
  X(LoadConnections, 2)   \
  X(LoadAttachment, 3)    \
  X(Env, 4)               \
  X(AutoResponseTime, 5)

namespace rooms {

#define ROOMS_WIRE_ENUMERATOR(name, value) name = value,
enum class EffectKind : std::uint8_t { ROOMS_EFFECT_KINDS(ROOMS_WIRE_ENUMERATOR) };
enum class RequestOp : std::uint32_t { ROOMS_REQUEST_OPS(ROOMS_WIRE_ENUMERATOR) };
enum class CallOp : std::uint32_t { ROOMS_CALL_OPS(ROOMS_WIRE_ENUMERATOR) };
enum class LogLevel : std::uint32_t { ROOMS_LOG_LEVELS(ROOMS_WIRE_ENUMERATOR) };
enum class HostOp : std::uint32_t { ROOMS_HOST_OPS(ROOMS_WIRE_ENUMERATOR) };
#undef ROOMS_WIRE_ENUMERATOR

namespace wire {

// One named value of a list, for tools that print the lists (tools/gen_wire).
struct Entry {
  std::string_view name;
  std::uint32_t value;
};

#define ROOMS_WIRE_ENTRY(name, value) Entry{#name, static_cast<std::uint32_t>(value)},
inline constexpr Entry effectKinds[] = {ROOMS_EFFECT_KINDS(ROOMS_WIRE_ENTRY)};
inline constexpr Entry requestOps[] = {ROOMS_REQUEST_OPS(ROOMS_WIRE_ENTRY)};
inline constexpr Entry callOps[] = {ROOMS_CALL_OPS(ROOMS_WIRE_ENTRY)};
inline constexpr Entry logLevels[] = {ROOMS_LOG_LEVELS(ROOMS_WIRE_ENTRY)};
inline constexpr Entry hostOps[] = {ROOMS_HOST_OPS(ROOMS_WIRE_ENTRY)};
#undef ROOMS_WIRE_ENTRY

// Every list, with the name it has on both sides.
struct List {
  std::string_view name;
  const Entry* entries;
  std::size_t size;
};
inline constexpr List lists[] = {
    {"EffectKind", effectKinds, std::size(effectKinds)},
    {"RequestOp", requestOps, std::size(requestOps)},
    {"CallOp", callOps, std::size(callOps)},
    {"LogLevel", logLevels, std::size(logLevels)},
    {"HostOp", hostOps, std::size(hostOps)},
};

// No two names or values of one list may collide.
constexpr bool distinct(const List& l) {
  for (std::size_t i = 0; i < l.size; ++i) {
    for (std::size_t j = i + 1; j < l.size; ++j) {
      if (l.entries[i].value == l.entries[j].value || l.entries[i].name == l.entries[j].name) return false;
    }
  }
  return true;
}
constexpr bool allDistinct() {
  for (const auto& l : lists) {
    if (!distinct(l)) return false;
  }
  return true;
}
static_assert(allDistinct(), "a wire list repeats a name or a value");

}  // namespace wire
}  // namespace rooms
