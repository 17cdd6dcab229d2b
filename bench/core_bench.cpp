// Core micro-benchmark: what one chat event costs inside the core, natively
// or compiled to Wasm (run under node). Prints figures, never asserts.
//
//   parse only         RapidJSON DOM parse of the Say frame (the floor)
//   decode Say         parse + validate into chat::Event
//   encode Message     chat::Broadcast → JSON text
//   event, N sockets   a Say from one of N connections through RoomInstance:
//                      decode, handler (update + broadcast), encode once,
//                      effect batch with N recipients
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "rooms/module.h"
#include "bench_host.h"
#include "chat/chat.h"
#include "rooms/json.h"
#include "rooms/room.h"
#include "runtime/instance.h"  // RoomInstanceBase, EffectBatch (wasm/core/src)

namespace {

using Clock = std::chrono::steady_clock;

// Runs fn in rounds until ~0.3 s have passed; returns ns per call.
template <class Fn>
double measure(Fn&& fn) {
  for (int i = 0; i < 1000; ++i) fn();  // warm up
  std::size_t n = 0;
  auto start = Clock::now();
  double elapsed = 0;
  std::size_t batch = 1000;
  while (elapsed < 0.3) {
    for (std::size_t i = 0; i < batch; ++i) fn();
    n += batch;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return elapsed * 1e9 / static_cast<double>(n);
}


volatile std::size_t sink;

}  // namespace

int main() {
#ifdef __EMSCRIPTEN__
  const char* target = "wasm (node)";
#else
  const char* target = "native";
#endif
  const std::string say = R"({"_tag":"Say","text":"hello, world: a typical chat line of some length"})";
  std::printf("durable-rooms core benchmark, %s\n", target);

  rooms::json::Parser parser;
  double parseNs = measure([&] { sink = parser.parse(say, 1 << 20).has_value(); });

  rooms::Decoder decoder;
  chat::Event ev;
  double decodeNs = measure([&] { sink = decoder.decode(say, ev).has_value(); });

  rooms::Encoder encoder;
  chat::Broadcast msg = chat::Message{"hello, world: a typical chat line of some length", "alice",
                                                rooms::fromEpochMs(1'700'000'000'000)};
  double encodeNs = measure([&] { sink = encoder.encode(msg)->size(); });

  std::printf("  %-28s %9.0f ns  %10.0f /s\n", "parse only (baseline)", parseNs, 1e9 / parseNs);
  std::printf("  %-28s %9.0f ns  %10.0f /s  (%.2fx parse)\n", "decode Say", decodeNs, 1e9 / decodeNs,
              decodeNs / parseNs);
  std::printf("  %-28s %9.0f ns  %10.0f /s\n", "encode Message", encodeNs, 1e9 / encodeNs);

  for (int sockets : {10, 100, 1000}) {
    BenchHost host(sockets);
    auto created = rooms::moduleRegistry().create("chat", "bench", host);
    auto& room = *created.value();
    rooms::EffectBatch batch;
    std::uint32_t slot = 0;
    double eventNs = measure([&] {
      batch.clear();
      room.message(slot, say, false, batch);
      slot = (slot + 1) % static_cast<std::uint32_t>(sockets);
      sink = batch.size();
    });
    std::printf("  %-28s %9.0f ns  %10.0f /s  (%.1f ns per recipient)\n",
                ("event, " + std::to_string(sockets) + " sockets").c_str(), eventNs, 1e9 / eventNs,
                eventNs / sockets);
  }
  return 0;
}
