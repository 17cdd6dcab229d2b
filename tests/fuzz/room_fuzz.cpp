// libFuzzer target: a chat and a probe room driven by an arbitrary sequence
// of operations through the in-memory runtime: connects (typed and JSON
// upgrades), raw and binary frames, closes, direct sends and broadcasts,
// hibernation, time. Nothing may crash, and the rooms must keep answering.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "rooms/module.h"
#include "rooms/testing.h"

using rooms::testing::InMemoryRuntime;
using rooms::testing::TestConnection;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InMemoryRuntime rt(rooms::moduleRegistry());
  std::vector<TestConnection*> conns;
  std::size_t i = 0;
  auto byte = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  // A chunk of the input as text: a length byte, then that many bytes.
  auto text = [&]() {
    std::size_t n = byte();
    std::string s(reinterpret_cast<const char*>(data + i), std::min(n, size - i));
    i += s.size();
    return s;
  };
  const char* rooms[] = {"chat", "probe"};
  while (i < size) {
    std::uint8_t op = byte();
    const char* room = rooms[op & 1];
    std::string id = "r" + std::to_string(byte() % 3);
    switch ((op >> 1) % 9) {
      case 0: {
        TestConnection* c = nullptr;
        auto r = rt.room(room).upgrade(id, text(), &c);
        if (r.ok && c) conns.push_back(c);
        break;
      }
      case 1: {
        std::string who = "u" + std::to_string(byte() % 4);
        std::string opts = std::string(R"({"id":")") + who + R"(","tags":["t"],"initialState":)" +
                           ((op & 1) ? R"({"name":")" + who + "\"}" : R"({"userId":")" + who + R"(","joinedAt":1})") +
                           R"(,"onDuplicate":")" + (byte() % 3 == 0 ? "replace" : "allow") + "\"}";
        TestConnection* c = nullptr;
        if (rt.room(room).upgrade(id, opts, &c).ok && c) conns.push_back(c);
        break;
      }
      case 2:
        if (!conns.empty()) conns[byte() % conns.size()]->receiveRaw(text());
        break;
      case 3:
        if (!conns.empty()) conns[byte() % conns.size()]->receiveBinary(text());
        break;
      case 4:
        if (!conns.empty()) conns[byte() % conns.size()]->close(1000 + byte() % 20, text());
        break;
      case 5:
        (void)rt.room(room).send(id, text());
        break;
      case 6:
        (void)rt.room(room).broadcast(id, text());
        break;
      case 7:
        rt.hibernate();
        break;
      case 8:
        rt.advance(std::chrono::milliseconds(byte() * 100));
        break;
    }
  }
  // Every room still answers.
  for (const char* room : rooms)
    for (int r = 0; r < 3; ++r)
      if (!rt.room(room).getState("r" + std::to_string(r)).ok) std::abort();
  return 0;
}
