// The narrow, synchronous interface through which a room instance reads from
// its platform. Everything the room *does* (deliver frames, close sockets,
// write attachments, storage and alarms, call sibling rooms) leaves as an
// effect in the batch instead (effects.h). Two hosts implement this: the
// Durable Object shim (through the Wasm bindings) and the in-memory runtime.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rooms {

// A live socket as the platform knows it after a wake: no attachment yet.
struct ConnectionRecord {
  std::uint32_t slot = 0;
  std::vector<std::string> tags;  // as accepted, the reserved id tag included
};

class Host {
 public:
  virtual ~Host() = default;
  // Milliseconds since the Unix epoch.
  virtual double now() = 0;
  // A fresh connection id for upgrades that name none.
  virtual std::string randomId() = 0;
  // Room storage (written through Put/Delete effects).
  virtual std::optional<std::string> load(std::string_view key) = 0;
  // The sockets the platform holds for this room. Called at most once per
  // wake, the first time a handler needs the connection list.
  virtual std::vector<ConnectionRecord> loadConnections() = 0;
  // The attachment of one socket. Called at most once per socket per wake,
  // the first time its state is read.
  virtual std::string loadAttachment(std::uint32_t slot) = 0;
  // A string value of the Worker's environment (vars, secrets).
  virtual std::optional<std::string> env(std::string_view key) = 0;
  // When the platform last answered the heartbeat request on this socket
  // (ms since the epoch; getWebSocketAutoResponseTimestamp), or none.
  virtual std::optional<double> autoResponseTime(std::uint32_t) { return std::nullopt; }
};

}  // namespace rooms
