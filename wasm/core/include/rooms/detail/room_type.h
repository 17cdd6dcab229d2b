// What the runtime knows of a room type, without its types. The runtime
// (wasm/core/src/runtime) is compiled once, into the library; each room type
// adds only its adapter, TypedRoom<R> (rooms/registry.h): the codecs of its
// four schemas, the calls into its handlers and its features' projections.
// Everything here is an implementation detail of the author's API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rooms/errors.h"
#include "rooms/json.h"
#include "rooms/task.h"

namespace rooms {

class ConnectionBase;
class CtxBase;
class Encoder;
class Decoder;
class DecodeCtx;

namespace detail {

class Runtime;
struct ConnRecord;

// A value of one of a room type's schema types, owned without naming the
// type: the runtime holds the room state, connection states and events this
// way; only the room type's adapter and the typed facades name the type.
// Values of up to kInline bytes (most events) live inside it, with no
// allocation.
class AnyValue {
 public:
  static constexpr std::size_t kInline = 64;

  AnyValue() = default;
  template <class T, class... A>
  static AnyValue make(A&&... a) {
    AnyValue v;
    if constexpr (fitsInline<T>()) {
      v.p_ = new (v.buf_) T(std::forward<A>(a)...);
      v.ops_ = &kInlineOps<T>;
    } else {
      v.p_ = new T(std::forward<A>(a)...);
      v.ops_ = &kHeapOps<T>;
    }
    return v;
  }
  AnyValue(AnyValue&& o) noexcept { take(o); }
  AnyValue& operator=(AnyValue&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  AnyValue(const AnyValue&) = delete;
  AnyValue& operator=(const AnyValue&) = delete;
  ~AnyValue() { reset(); }
  void reset() {
    if (p_) ops_->destroy(p_);
    p_ = nullptr;
  }
  explicit operator bool() const { return p_ != nullptr; }
  const void* get() const { return p_; }
  void* get() { return p_; }

 private:
  struct Ops {
    void (*destroy)(void*);
    // Moves the value at `from` into `to`'s buffer (inline values only).
    void* (*move)(void* from, unsigned char* to);
  };
  template <class T>
  static constexpr bool fitsInline() {
    return sizeof(T) <= kInline && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }
  template <class T>
  static constexpr Ops kInlineOps = {
      [](void* p) { static_cast<T*>(p)->~T(); },
      [](void* from, unsigned char* to) -> void* {
        T* moved = new (to) T(std::move(*static_cast<T*>(from)));
        static_cast<T*>(from)->~T();
        return moved;
      }};
  template <class T>
  static constexpr Ops kHeapOps = {[](void* p) { delete static_cast<T*>(p); }, nullptr};

  void take(AnyValue& o) noexcept {
    ops_ = o.ops_;
    if (!o.p_) p_ = nullptr;
    else if (ops_->move) p_ = ops_->move(o.p_, buf_);
    else p_ = o.p_;
    o.p_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char buf_[kInline];
  void* p_ = nullptr;
  const Ops* ops_ = nullptr;
};

// Which handler a flight runs.
enum class Phase : std::uint8_t { Connect, Event, DecodeError, Close, Alarm };

// The adapter of one room type. Decoders report the first schema error;
// encoders return nullopt for a value with no JSON form (NaN, infinity,
// invalid UTF-8). `const void*` values are of the named role's type.
class RoomType {
 public:
  virtual ~RoomType() = default;
  virtual std::string_view name() const = 0;
  virtual bool hasPresence() const = 0;
  virtual bool hasResume() const = 0;

  virtual std::optional<RoomValidationError> decodeEvent(Decoder& d, std::string_view text, AnyValue& out) const = 0;
  // `out` holds a std::optional<State>, empty when `text` fails the schema.
  virtual std::optional<RoomValidationError> decodeState(std::string_view text, AnyValue& out) const = 0;
  virtual AnyValue noState() const = 0;
  // Whether a std::optional<State> holds a state.
  virtual bool stateSet(const void* state) const = 0;
  // The connection state, from an attachment's state part (on a schema
  // error `out` holds a default-constructed state) or from a parsed value.
  virtual std::optional<RoomValidationError> decodeConnection(std::string_view text, AnyValue& out) const = 0;
  virtual bool decodeConnection(const json::Value& v, DecodeCtx& c, AnyValue& out) const = 0;
  virtual std::optional<RoomValidationError> decodeBroadcast(Decoder& d, std::string_view text, AnyValue& out) const = 0;

  // `state` is a std::optional<State> holding a value.
  virtual std::optional<std::string_view> encodeState(Encoder& e, const void* state) const = 0;
  virtual std::optional<std::string_view> encodeConnection(Encoder& e, const void* conn) const = 0;
  virtual std::optional<std::string_view> encodeBroadcast(Encoder& e, const void* msg) const = 0;
  virtual bool writeConnection(json::Writer& w, const void* conn) const = 0;

  // Presence (hasPresence()): a connection's presence key and its meta's JSON.
  virtual void presence(const void* conn, std::string_view id, std::string& key, std::string& meta) const = 0;

  virtual bool hasHandler(Phase p) const = 0;
  virtual bool hasErrorHandler(Phase p) const = 0;
  // Starts the handler of `p` (a lazy task). `event` is the decoded Event
  // (Phase::Event); `raw` and `decodeError` are for Phase::DecodeError.
  virtual Task<Status> run(Phase p, CtxBase& ctx, const void* event, std::string_view raw,
                           const RoomValidationError& decodeError) const = 0;
  virtual Task<Status> runError(Phase p, CtxBase& ctx, const Error& e) const = 0;

  // The typed facades (Connection<R>, RoomCtx<R>), which add no data.
  virtual std::unique_ptr<ConnectionBase> newConnection() const = 0;
  virtual std::unique_ptr<CtxBase> newCtx() const = 0;
};

// A key per type, for services (Registry::provide).
template <class T>
const void* typeKey() {
  static const char key = 0;
  return &key;
}

}  // namespace detail
}  // namespace rooms

namespace rooms {

// What a client asks when a second socket connects with an id already
// connected: allow both, close the older one (kCloseReplaced), or refuse.
enum class OnDuplicate { Allow, Replace, Reject };

namespace detail {
// The upgrade, once its options are read: the JSON options of the
// worker-side client (runtime/upgrade.h) or the in-memory runtime's typed
// connect<R>.
struct Upgrade {
  std::optional<std::string> id;
  std::vector<std::string> tags;
  std::string metaJson;
  AnyValue initialState;  // of the room type's Connection
  OnDuplicate onDuplicate = OnDuplicate::Allow;
  std::optional<std::uint64_t> resume;
};
}  // namespace detail
}  // namespace rooms
