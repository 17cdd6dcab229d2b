// A host for driving the chat room's core directly (benchmarks, profiles):
// N open sockets whose attachments are chat connection states, and a saved
// room state. Reads only; the effects a room writes are left in its batch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/instance.h"
#include "rooms/limits.h"

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
