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
//     only on cold paths: storage, the socket list after a wake, attachments;
//   - embind carries the set-up calls (schemas, names).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <emscripten/bind.h>
#include <emscripten/emscripten.h>

#include "app.h"
#include "rooms/room.h"

namespace {

// JS → C++ strings come back as malloc'd {u32 len, bytes}; 0 means none.
EM_JS(std::uint8_t*, js_host_call, (int op, std::uint32_t arg, const char* key, std::uint32_t keyLen), {
  var host = Module["host"];
  var k = keyLen ? UTF8ToString(key, keyLen) : "";
  var s;
  switch (op) {
    case 0: s = host.randomId(); break;
    case 1: s = host.load(k); break;
    case 2: s = host.loadConnections(); break;
    case 3: s = host.loadAttachment(arg); break;
    case 4: s = host.env(k); break;
  }
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

std::optional<std::string> hostCall(int op, std::uint32_t arg = 0, std::string_view key = {}) {
  std::uint8_t* p = js_host_call(op, arg, key.data(), static_cast<std::uint32_t>(key.size()));
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
  std::string randomId() override { return hostCall(0).value_or("anon"); }
  std::optional<std::string> load(std::string_view key) override { return hostCall(1, 0, key); }
  // The shim answers with lines: "slot\ttag\ttag...\n" per socket. Tags never
  // hold tabs or newlines? They may; so the shim escapes \t, \n and \\.
  std::vector<rooms::ConnectionRecord> loadConnections() override {
    std::vector<rooms::ConnectionRecord> out;
    auto text = hostCall(2);
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
  std::string loadAttachment(std::uint32_t slot) override { return hostCall(3, slot).value_or(""); }
  std::optional<std::string> env(std::string_view key) override { return hostCall(4, 0, key); }
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

std::string jsonSchemas() { return app::registry().jsonSchemas(); }
std::string typeScript() { return app::registry().typeScript(); }

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
  auto created = app::registry().create(in(0, nameLen), std::string(in(nameLen, idLen)), host);
  if (!created) return 1;
  room = std::move(created.value());
  return 0;
}

// Longest inbound frame the room accepts (after rooms_init); the shim copies
// at most one byte more.
EMSCRIPTEN_KEEPALIVE std::uint32_t rooms_max_frame() {
  return room ? static_cast<std::uint32_t>(room->maxFrameBytes()) : 0;
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

EMSCRIPTEN_KEEPALIVE BatchView* rooms_fire_alarm(std::uint32_t req) {
  batch.clear();
  room->fireAlarm(req, batch);
  return done();
}

EMSCRIPTEN_KEEPALIVE BatchView* rooms_send(std::uint32_t req, std::uint32_t len) {
  batch.clear();
  room->send(req, in(0, len), batch);
  return done();
}

EMSCRIPTEN_KEEPALIVE BatchView* rooms_get_state(std::uint32_t req) {
  batch.clear();
  room->getState(req, batch);
  return done();
}

// hasTag = 0: all connections; otherwise the tag is in the input buffer.
EMSCRIPTEN_KEEPALIVE BatchView* rooms_get_connections(std::uint32_t req, int hasTag, std::uint32_t len) {
  batch.clear();
  std::optional<std::string_view> tag;
  if (hasTag) tag = in(0, len);
  room->getConnections(req, tag, batch);
  return done();
}

EMSCRIPTEN_KEEPALIVE BatchView* rooms_broadcast(std::uint32_t req, std::uint32_t len) {
  batch.clear();
  room->broadcast(req, in(0, len), batch);
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

EMSCRIPTEN_BINDINGS(durable_rooms) {
  emscripten::function("jsonSchemas", &jsonSchemas);
  emscripten::function("typeScript", &typeScript);
}
