// A connection as the runtime keeps it: one record per slot, behind the
// typed facade Connection<R> that handlers see (rooms/room.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rooms/room.h"
#include "runtime/attachment.h"

namespace rooms::detail {

// A connection's life. Only Connecting and Open sockets are in the
// table's indexes; a Gone record stays in its slot while a running handler
// still holds it, and is freed after the last one.
enum class Life : std::uint8_t {
  Connecting,  // accepted; its onConnect has not ended
  Open,        // its onConnect ended well, or it was here before a wake
  Closed,      // a close was sent (or its onConnect failed); not yet reported
  Gone,        // the platform reported the socket closed
};

struct ConnRecord {
  std::uint32_t slot = 0;
  Life life = Life::Open;
  std::string id;
  std::vector<std::string> tags;  // the user's (the reserved id tag is not listed)
  std::uint32_t flights = 0;      // running handlers whose ctx.connection() is this
  std::string meta;               // the upgrade's meta, during onConnect only

  // The attachment (attachment.h), read on first need after a wake (known
  // from the start for a connection accepted this wake): the state's JSON
  // exactly as stored, so rewriting the runtime part never re-encodes the
  // state, and the runtime part.
  bool attachmentRead = false;
  std::string stateText;
  RuntimeRecord runtime;
  AnyValue state;  // the decoded connection state, once read

  // The typed facade, made on first need (RoomType::newConnection).
  std::unique_ptr<ConnectionBase> handle;

  bool isOpen() const { return life == Life::Connecting || life == Life::Open; }
};

}  // namespace rooms::detail
