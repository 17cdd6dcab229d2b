// One chat Say through the core natively, for a profiler (the figures in
// BENCHMARKS.md "Where the time goes"). Not part of the CMake build:
//
//   g++ -O2 -g -std=c++20 -Iwasm/core -Iwasm/examples -Ibuild/release/vendor wasm/examples/app.cpp \
//       bench/profile/core_event.cpp build/release/librooms_app.a build/release/librooms_core.a \
//       -o /tmp/core_event
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/core_event 100 20000
//   callgrind_annotate /tmp/cg.out | head -40
//
// Arguments: sockets in the room (100), Says to run (20000).
#include <cstdio>
#include <string>
#include "app.h"
#include "chat/chat.h"
#include "rooms/room.h"
class BenchHost final : public rooms::Host {
 public:
  explicit BenchHost(int sockets) : sockets_(sockets) {}
  double now() override { return 1.7e12; }
  std::string randomId() override { return "r"; }
  std::optional<std::string> load(std::string_view key) override {
    if (key == rooms::kStateKey) return std::string(R"({"createdAt":1,"messageCount":0})");
    return std::nullopt;
  }
  std::vector<rooms::ConnectionRecord> loadConnections() override {
    std::vector<rooms::ConnectionRecord> out;
    for (int i = 0; i < sockets_; ++i)
      out.push_back({static_cast<std::uint32_t>(i), {std::string(rooms::kIdTagPrefix) + "u" + std::to_string(i)}});
    return out;
  }
  std::string loadAttachment(std::uint32_t slot) override {
    return R"({"userId":"u)" + std::to_string(slot) + R"(","joinedAt":1700000000000})";
  }
  std::optional<std::string> env(std::string_view) override { return std::nullopt; }
 private:
  int sockets_;
};
volatile std::size_t sink;
int main(int argc, char** argv) {
  int sockets = argc > 1 ? atoi(argv[1]) : 100;
  int iters = argc > 2 ? atoi(argv[2]) : 20000;
  const std::string say = R"({"_tag":"Say","text":"hello, world: a typical chat line of some length"})";
  BenchHost host(sockets);
  auto created = app::registry().create("chat", "bench", host);
  auto& room = *created.value();
  rooms::EffectBatch batch;
  for (int i = 0; i < sockets; ++i) { batch.clear(); room.message(i, say, false, batch); }  // wake all
  for (int i = 0; i < iters; ++i) { batch.clear(); room.message(i % sockets, say, false, batch); sink = batch.size(); }
  return 0;
}
