// The in-memory runtime: the same room code as on Cloudflare, driven by a
// host that keeps sockets, storage and the alarm in memory, with a clock the
// test controls. It applies the effect batches exactly as the Durable Object
// shim does (same wire format), so handler tests exercise the real path.
//
//   rooms::testing::InMemoryRuntime rt(registry);
//   auto alice = rt.connect<Chat>("room-1", {.id = "alice", .initialState = {"alice", rt.now()}});
//   alice->receive(chat::Event{chat::Say{"hi"}});
//   rt.room("chat").getState("room-1");
//   rt.advance(std::chrono::seconds(30));   // fires due alarms, with retries
//   rt.hibernate();                         // drop every instance; sockets and storage stay
#pragma once

#include <chrono>
#include <functional>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rooms/registry.h"

namespace rooms {
class RoomInstanceBase;
class EffectBatch;
}  // namespace rooms

namespace rooms::testing {

class InMemoryRuntime;
struct Instance;

// The options of InMemoryRuntime::connect<R>, as the worker-side client
// gives them.
template <class R>
struct ConnectOptions {
  std::optional<std::string> id;
  std::vector<std::string> tags;
  std::string metaJson;
  typename R::Connection initialState;
  OnDuplicate onDuplicate = OnDuplicate::Allow;
  std::optional<std::uint64_t> resume;
};

// What a request to a room answered.
struct Reply {
  bool ok = false;
  std::string tag;      // error _tag, empty when ok
  std::string payload;  // the value's JSON, or the error's JSON
  explicit operator bool() const { return ok; }
};

// The client end of a socket.
class TestConnection {
 public:
  const std::string& id() const { return id_; }
  const std::vector<std::string>& tags() const { return tags_; }
  // Frames the server sent, as JSON text, oldest first.
  const std::vector<std::string>& received() const { return received_; }
  // The `_tag` of each received frame.
  std::vector<std::string> receivedTags() const;
  template <class B>
  std::vector<B> receivedAs() const {
    std::vector<B> out;
    Decoder d;
    for (auto& f : received_) {
      B v;
      if (!d.decode(f, v)) out.push_back(std::move(v));
    }
    return out;
  }
  void clearReceived() { received_.clear(); }
  bool isOpen() const { return open_; }
  // The socket's attachment as the platform holds it (attachment.h).
  const std::string& attachment() const { return attachment_; }
  std::optional<std::uint32_t> closeCode() const { return closeCode_; }
  const std::string& closeReason() const { return closeReason_; }

  // The client closes; the room runs onClose.
  void close(std::uint32_t code = 1000, std::string_view reason = "");
  // A typed event, encoded as the client would send it.
  template <class E>
  void receive(const E& event) {
    auto text = encodeToString(event);
    receiveRaw(text ? *text : std::string());
  }
  // Raw text, as received from the wire (for validation tests). When the
  // room type has a heartbeat and `text` is its request, the platform
  // answers it (the response lands in received()) and records the time,
  // without constructing or waking the room.
  void receiveRaw(std::string_view text);
  // When the platform last answered this socket's heartbeat, or none.
  std::optional<double> autoResponseAt() const { return pingAt_; }
  void receiveBinary(std::string_view bytes);

 private:
  friend class InMemoryRuntime;
  friend struct Instance;
  InMemoryRuntime* rt_ = nullptr;
  Instance* inst_ = nullptr;
  std::uint32_t slot_ = 0;
  std::string id_;
  std::vector<std::string> tags_;
  std::vector<std::string> received_;
  std::string attachment_;
  std::optional<double> pingAt_;
  bool open_ = true;
  // Set while the platform reports this client's close: the socket is still
  // listed then, so a core woken by the close finds it and runs onClose.
  bool closing_ = false;
  std::optional<std::uint32_t> closeCode_;
  std::string closeReason_;
};

// Direct calls to one room type, as the worker-side client makes them.
class RoomClient {
 public:
  Reply send(std::string_view id, std::string_view eventJson);
  template <class E>
  Reply sendEvent(std::string_view id, const E& event) {
    auto text = encodeToString(event);
    return send(id, text ? *text : std::string());
  }
  Reply getState(std::string_view id);
  Reply getConnections(std::string_view id, std::optional<std::string_view> tag = std::nullopt);
  Reply broadcast(std::string_view id, std::string_view msgJson);
  Reply fireAlarm(std::string_view id);
  // The upgrade with options as JSON (as the JS client sends them).
  Reply upgrade(std::string_view id, std::string_view optsJson, TestConnection** conn = nullptr);

 private:
  friend class InMemoryRuntime;
  RoomClient(InMemoryRuntime* rt, std::string name) : rt_(rt), name_(std::move(name)) {}
  InMemoryRuntime* rt_;
  std::string name_;
};

class InMemoryRuntime {
 public:
  explicit InMemoryRuntime(const Registry& registry, double startMs = 1'700'000'000'000.0);
  ~InMemoryRuntime();

  // Connects a test client; runs onConnect. On failure returns the error
  // reply (UpgradeError etc.) and no connection; RoomNotFoundError when the
  // registry has no room type R.
  template <class R>
  Result<TestConnection*> connect(std::string_view id, ConnectOptions<R> up);
  // The last reply of connect(), for its error details.
  const Reply& lastReply() const { return last_; }

  RoomClient room(std::string_view name) { return RoomClient(this, std::string(name)); }

  // The clock, as handlers see it (RoomCtx::now()).
  Timestamp now() const { return fromEpochMs(static_cast<std::int64_t>(std::llround(now_))); }
  // Moves the clock and runs every alarm that falls due, retrying failed
  // ones after 2 s, 4 s, 8 s ... up to 6 retries, as the platform does, and
  // every flush of coalesced frames that falls due.
  void advance(std::chrono::milliseconds d);
  void setEnv(std::string key, std::string value) { env_[std::move(key)] = std::move(value); }

  // Simulates hibernation: every room instance is dropped; sockets,
  // attachments, storage and alarms stay. The next event rebuilds it. A
  // pending flush of coalesced frames runs first (on the platform its timer
  // keeps the object awake until it fires).
  void hibernate();

  // Inspection for tests.
  std::optional<Timestamp> alarmOf(std::string_view name, std::string_view id);
  std::optional<std::string> stored(std::string_view name, std::string_view id, std::string_view key);
  // Attachment reads since the last hibernate, across all rooms.
  std::size_t attachmentLoads() const { return attachmentLoads_; }
  // Clock reads (Host::now) across all rooms: each is a call out of the core.
  std::size_t clockReads() const { return clockReads_; }
  // Room instances constructed (at start and after every hibernate()), across
  // all rooms: a wake costs one.
  std::size_t constructions() const { return constructions_; }
  const std::vector<std::string>& logs() const { return logs_; }
  // Sibling calls applied (Call effects), across all rooms.
  std::size_t siblingCalls() const { return siblingCalls_; }
  // Storage writes applied (Put and Delete effects), across all rooms, and
  // the bytes of their keys and values.
  std::size_t storageOps() const { return storageOps_; }
  std::size_t storageBytes() const { return storageBytes_; }
  // The attachment a socket holds now (tests of its format).
  static const std::string& attachmentOf(const TestConnection& c) { return c.attachment_; }

  // A room's platform state as an earlier version of durable-rooms left it
  // (tests of stored formats): its storage, its alarm and its sockets, each
  // with its slot, connection id, user tags and attachment text. The room
  // is hibernated (no instance); the next event wakes it over this state.
  struct StoredSocket {
    std::uint32_t slot = 0;
    std::string id;
    std::vector<std::string> tags;
    std::string attachment;
  };
  void restore(std::string_view name, std::string_view id, std::map<std::string, std::string> storage,
               std::optional<double> alarm, std::vector<StoredSocket> sockets);
  // The client end of a restored (or any) socket, or null.
  TestConnection* socket(std::string_view name, std::string_view id, std::uint32_t slot);

  // While held, sibling calls wait (their handlers stay suspended) until
  // releaseSiblingCalls(), so tests can interleave events with them.
  void holdSiblingCalls() { holdCalls_ = true; }
  void releaseSiblingCalls();

 private:
  friend class TestConnection;
  friend class RoomClient;
  friend struct Instance;
  using Call = std::function<void(RoomInstanceBase&, EffectBatch&, std::uint32_t req)>;

  Instance& instance(std::string_view name, std::string_view id);
  RoomInstanceBase& core(Instance& inst);
  // Runs `fn(core, batch, req)`, applies the batch (and what follows from
  // it: sibling calls, client close replies) and returns the request's reply.
  Reply request(Instance& inst, const Call& fn);
  // connect<R> once the registry is known to hold R under its name.
  Result<TestConnection*> connectAs(const detail::RoomType& type, std::string_view id, detail::Upgrade up);
  void apply(Instance& inst, const EffectBatch& batch);
  void runFlush(Instance& inst);
  void drainCloses();
  // The error of a failed connect(): an UpgradeError keeps its message and
  // HTTP status; anything else becomes a RoomError naming the tag.
  static Error upgradeFailure(const Reply& r);

  const Registry& registry_;
  double now_;
  std::map<std::string, std::string, std::less<>> env_;
  std::map<std::string, std::unique_ptr<Instance>, std::less<>> instances_;
  std::uint32_t nextReq_ = 1;
  std::map<std::uint32_t, Reply> replies_;
  struct PendingClose {
    Instance* inst;
    std::uint32_t slot, code;
    std::string reason;
  };
  std::vector<PendingClose> pendingCloses_;
  std::size_t attachmentLoads_ = 0;
  std::size_t clockReads_ = 0;
  std::size_t constructions_ = 0;
  std::size_t siblingCalls_ = 0;
  std::size_t storageOps_ = 0;
  std::size_t storageBytes_ = 0;
  struct HeldCall {
    Instance* inst;
    std::uint32_t callId;
    std::uint32_t op;
    std::string room, id, payload;
  };
  bool holdCalls_ = false;
  std::vector<HeldCall> heldCalls_;
  void runCall(const HeldCall& call);
  std::uint32_t nextId_ = 1;
  std::vector<std::string> logs_;
  Reply last_;
  TestConnection* lastAccepted_ = nullptr;
};

template <class R>
Result<TestConnection*> InMemoryRuntime::connect(std::string_view id, ConnectOptions<R> up) {
  // Served only when the registry holds R under R::name; otherwise (no such
  // room type, or another type by that name) the upgrade is refused as the
  // platform refuses it.
  const detail::RoomType* type = registry_.typeOf(R::name);
  if (!dynamic_cast<const detail::TypedRoom<R>*>(type)) {
    Error e = RoomNotFoundError{std::string(R::name)};
    last_ = Reply{false, std::string(tagOf(e)), errorToJson(e)};
    return e;
  }
  detail::Upgrade u;
  u.id = std::move(up.id);
  u.tags = std::move(up.tags);
  u.metaJson = std::move(up.metaJson);
  u.initialState = detail::AnyValue::make<typename R::Connection>(std::move(up.initialState));
  u.onDuplicate = up.onDuplicate;
  u.resume = up.resume;
  return connectAs(*type, id, std::move(u));
}

}  // namespace rooms::testing
