// The Wasm face of the core: the only file that includes Emscripten headers.
//
// One Wasm instance serves one room instance (one Durable Object). The JS
// shim (shim/core.js) drives it:
//   - hot and per-event entry points are plain C exports taking numbers; any
//     text (frame, options, reply) is first written by JS into the input
//     buffer (rooms_input) with TextEncoder.encodeInto;
//   - every entry point returns a pointer to {u32 ptr, u32 len}: the effect
//     batch of that crossing (rooms/effects.h), valid until the next call;
//   - the core reads from the platform through `Module.host` (WasmHost below),
//     only on cold paths: storage, the socket list after a wake, attachments.
// Every number both sides must agree on (effect kinds, request and host
// operations, log levels) is in rooms/wire.h; the shim imports the same
// values from the generated shim/wire.js.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <emscripten/emscripten.h>

#include "rooms/json.h"
#include "rooms/module.h"
#include "runtime/instance.h"
#include "runtime/wire.h"

namespace {

// `Module.host` is the shim's table of reads, keyed by rooms::HostOp (the
// generated HostOp of shim/wire.js); each entry takes (key, arg).
// JS → C++ strings come back as malloc'd {u32 len, bytes}; 0 means none.
EM_JS(std::uint8_t*, js_host_call, (std::uint32_t op, std::uint32_t arg, const char* key, std::uint32_t keyLen), {
  var k = keyLen ? UTF8ToString(key, keyLen) : "";
  var s = Module["host"][op](k, arg);
  if (s === null || s === undefined) return 0;
  // TextEncoder, not Emscripten's byte-by-byte copy: the socket list of a
  // large room is long.
  var cap = s.length * 3;
  var p = _malloc(cap + 4);
  var enc = Module["hostEncoder"] || (Module["hostEncoder"] = new TextEncoder());
  HEAPU32[p >> 2] = enc.encodeInto(s, HEAPU8.subarray(p + 4, p + 4 + cap)).written;
  return p;
});

EM_JS(double, js_now, (), { return Date.now(); });

std::optional<std::string> hostCall(rooms::HostOp op, std::uint32_t arg = 0, std::string_view key = {}) {
  std::uint8_t* p = js_host_call(static_cast<std::uint32_t>(op), arg, key.data(), static_cast<std::uint32_t>(key.size()));
  if (!p) return std::nullopt;
  std::uint32_t n;
  std::memcpy(&n, p, 4);
  std::string s(reinterpret_cast<const char*>(p + 4), n);
  std::free(p);
  return s;
}

class WasmHost final : public rooms::Host {
 public:
  double now() override { return js_now(); }
  std::string randomId() override { return hostCall(rooms::HostOp::RandomId).value_or("anon"); }
  std::optional<std::string> load(std::string_view key) override { return hostCall(rooms::HostOp::Load, 0, key); }
  // The shim answers with lines: "slot\ttag\ttag...\n" per socket. Tags never
  // hold tabs or newlines? They may; so the shim escapes \t, \n and \\.
  std::vector<rooms::ConnectionRecord> loadConnections() override {
    std::vector<rooms::ConnectionRecord> out;
    auto text = hostCall(rooms::HostOp::LoadConnections);
    if (!text) return out;
    rooms::ConnectionRecord rec;
    std::string field;
    bool first = true;
    auto endField = [&] {
      if (first) rec.slot = static_cast<std::uint32_t>(std::strtoul(field.c_str(), nullptr, 10));
      else rec.tags.push_back(field);
      field.clear();
      first = false;
    };
    for (std::size_t i = 0; i < text->size(); ++i) {
      char ch = (*text)[i];
      if (ch == '\\' && i + 1 < text->size()) {
        char e = (*text)[++i];
        field += e == 't' ? '\t' : e == 'n' ? '\n' : e;
      } else if (ch == '\t') {
        endField();
      } else if (ch == '\n') {
        endField();
        out.push_back(std::move(rec));
        rec = {};
        first = true;
      } else {
        field += ch;
      }
    }
    return out;
  }
  std::string loadAttachment(std::uint32_t slot) override { return hostCall(rooms::HostOp::LoadAttachment, slot).value_or(""); }
  std::optional<std::string> env(std::string_view key) override { return hostCall(rooms::HostOp::Env, 0, key); }
  // The shim answers with the time in ms as text, or null.
  std::optional<double> autoResponseTime(std::uint32_t slot) override {
    auto t = hostCall(rooms::HostOp::AutoResponseTime, slot);
    if (!t || t->empty()) return std::nullopt;
    // RapidJSON's number parser (already in the module; libc's strtod is not).
    rooms::json::Parser p;
    if (p.parse(*t, t->size() + 1) || !p.root().IsNumber()) return std::nullopt;
    return p.root().GetDouble();
  }
};

struct BatchView {
  std::uint32_t ptr;
  std::uint32_t len;
};

WasmHost host;
std::unique_ptr<rooms::RoomInstanceBase> room;
rooms::EffectBatch batch;
BatchView view;
std::vector<char> input;

BatchView* done() {
  view.ptr = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(batch.data()));
  view.len = static_cast<std::uint32_t>(batch.size());
  return &view;
}

std::string_view in(std::uint32_t offset, std::uint32_t len) { return {input.data() + offset, len}; }

}  // namespace

extern "C" {

// The input buffer, grown to at least `size` bytes. Its address may change
// (and memory may grow): JS must re-read its views after this call.
EMSCRIPTEN_KEEPALIVE char* rooms_input(std::uint32_t size) {
  if (input.size() < size) input.resize(size);
  return input.data();
}

// Binds this Wasm instance to one room: name and id are in the input buffer.
// Returns 0, or 1 when the registry has no such room type.
EMSCRIPTEN_KEEPALIVE int rooms_init(std::uint32_t nameLen, std::uint32_t idLen) {
  auto created = rooms::moduleRegistry().create(in(0, nameLen), std::string(in(nameLen, idLen)), host);
  if (!created) return 1;
  room = std::move(created.value());
  return 0;
}

// Longest inbound frame the room accepts (after rooms_init); the shim copies
// at most one byte more.
EMSCRIPTEN_KEEPALIVE std::uint32_t rooms_max_frame() {
  return room ? static_cast<std::uint32_t>(room->maxFrameBytes()) : 0;
}

// Longest sibling reply (rooms_resume payload) the shim must pass whole: a
// reply is decoded with the codec's default limit (CallAwaitable), which may
// be above this room's own frame limit. The shim copies at most one byte
// more, so a longer reply still fails as the core decides.
EMSCRIPTEN_KEEPALIVE std::uint32_t rooms_max_reply() {
  if (!room) return 0;
  return static_cast<std::uint32_t>(std::max(room->maxFrameBytes(), rooms::CodecLimits{}.maxFrameBytes));
}

// The room type's heartbeat (after rooms_init), for the shim's
// setWebSocketAutoResponse: {u32 len, request bytes, u32 len, response
// bytes}; an empty view when the heartbeat is off.
EMSCRIPTEN_KEEPALIVE BatchView* rooms_heartbeat() {
  static std::string text;
  text.clear();
  if (const rooms::Heartbeat* hb = room ? room->heartbeat() : nullptr) {
    for (const std::string* part : {&hb->request, &hb->response}) {
      std::uint32_t n = static_cast<std::uint32_t>(part->size());
      text.append(reinterpret_cast<const char*>(&n), 4);
      text.append(*part);
    }
  }
  view.ptr = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(text.data()));
  view.len = static_cast<std::uint32_t>(text.size());
  return &view;
}

EMSCRIPTEN_KEEPALIVE BatchView* rooms_message(std::uint32_t slot, std::uint32_t len, int binary) {
  batch.clear();
  room->message(slot, in(0, len), binary != 0, batch);
  return done();
}

EMSCRIPTEN_KEEPALIVE BatchView* rooms_closed(std::uint32_t slot, std::uint32_t code, std::uint32_t reasonLen) {
  batch.clear();
  room->closed(slot, code, in(0, reasonLen), batch);
  return done();
}

EMSCRIPTEN_KEEPALIVE BatchView* rooms_upgrade(std::uint32_t req, std::uint32_t len) {
  batch.clear();
  room->upgrade(req, in(0, len), batch);
  return done();
}

EMSCRIPTEN_KEEPALIVE BatchView* rooms_alarm(std::uint32_t req, int retryCount, int isRetry) {
  batch.clear();
  room->alarm(req, retryCount, isRetry != 0, batch);
  return done();
}

// The timer of a FlushAfter effect fired (coalesced delivery).
EMSCRIPTEN_KEEPALIVE BatchView* rooms_flush() {
  batch.clear();
  room->flush(batch);
  return done();
}

// A request to the room (rooms::RequestOp): the client's calls and sibling
// rooms' calls, each answered by one Reply. The argument, if `hasArg`, is in
// the input buffer: the event (Send) or message (Broadcast) JSON, or the tag
// of GetConnections (without it, all connections). GetState and FireAlarm
// take none.
EMSCRIPTEN_KEEPALIVE BatchView* rooms_request(std::uint32_t op, std::uint32_t req, std::uint32_t len, int hasArg) {
  batch.clear();
  std::string_view arg = hasArg ? in(0, len) : std::string_view();
  switch (static_cast<rooms::RequestOp>(op)) {
    case rooms::RequestOp::Send: room->send(req, arg, batch); break;
    case rooms::RequestOp::GetState: room->getState(req, batch); break;
    case rooms::RequestOp::GetConnections:
      room->getConnections(req, hasArg ? std::optional<std::string_view>(arg) : std::nullopt, batch);
      break;
    case rooms::RequestOp::Broadcast: room->broadcast(req, arg, batch); break;
    case rooms::RequestOp::FireAlarm: room->fireAlarm(req, batch); break;
    default: {
      rooms::Error e = rooms::RoomError{"unknown request operation " + std::to_string(op)};
      batch.reply(req, false, rooms::tagOf(e), rooms::errorToJson(e));
    }
  }
  return done();
}

// The outcome of a sibling call: tag then payload, back to back in the input.
EMSCRIPTEN_KEEPALIVE BatchView* rooms_resume(std::uint32_t callId, int ok, std::uint32_t tagLen,
                                             std::uint32_t payloadLen) {
  batch.clear();
  room->resume(callId, ok != 0, in(0, tagLen), in(tagLen, payloadLen), batch);
  return done();
}

}  // extern "C"
