// One chat Say through the core natively, for a profiler (the figures in
// BENCHMARKS.md "Where the time goes"). Not part of the CMake build:
//
//   g++ -O2 -g -std=c++20 -Iwasm/core/include -Iwasm/core/src -Iwasm/examples -Ibuild/release/durable_rooms_vendor wasm/examples/app.cpp \
//       bench/profile/core_event.cpp build/release/librooms_app.a build/release/libdurable_rooms_core.a \
//       -o /tmp/core_event
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/core_event 100 20000
//   callgrind_annotate /tmp/cg.out | head -40
//
// Arguments: sockets in the room (100), Says to run (20000).
#include <cstdio>
#include <string>
#include "rooms/module.h"
#include "../bench_host.h"
#include "chat/chat.h"
#include "rooms/room.h"
volatile std::size_t sink;
int main(int argc, char** argv) {
  int sockets = argc > 1 ? atoi(argv[1]) : 100;
  int iters = argc > 2 ? atoi(argv[2]) : 20000;
  const std::string say = R"({"_tag":"Say","text":"hello, world: a typical chat line of some length"})";
  BenchHost host(sockets);
  auto created = rooms::moduleRegistry().create("chat", "bench", host);
  auto& room = *created.value();
  rooms::EffectBatch batch;
  for (int i = 0; i < sockets; ++i) { batch.clear(); room.message(i, say, false, batch); }  // wake all
  for (int i = 0; i < iters; ++i) { batch.clear(); room.message(i % sockets, say, false, batch); sink = batch.size(); }
  return 0;
}
