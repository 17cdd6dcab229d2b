// The registry of room types a module serves, and the one piece of code each
// room type adds to it: TypedRoom<R>, the adapter between the runtime (compiled
// once) and R's schemas, handlers and features.
//
//   rooms::Registry().add<chat::Chat>(chat::handlers(), {.heartbeat = rooms::Heartbeat{}})
//
// add() checks the options against the room type; options that make no sense
// (a zero staleAfter, a byte burst below maxFrameBytes, ...) are listed in
// problems(), each naming the option and its value, and a registry with
// problems serves nothing: the build's metadata step (durable_rooms_add_module)
// fails with them, and so do the in-memory runtime and the Wasm module.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rooms/features.h"
#include "rooms/limits.h"
#include "rooms/room.h"
#include "rooms/schema.h"

namespace rooms {

class RoomInstanceBase;
class Host;

namespace detail {
// The TypeScript of one room type: its namespace (named types and the four
// roles) and its line of the Rooms interface.
std::pair<std::string, std::string> roomTypeScript(std::string_view room,
                                                   const std::vector<std::pair<std::string, std::string>>& definitions,
                                                   const std::string (&roles)[4],
                                                   const std::string* presenceMeta = nullptr);
// A TypeScript identifier for a room type name.
std::string tsNamespace(std::string_view room);

// What is wrong with `o` for a room type `name`, one line per option.
struct OptionFacts {
  bool hasOnEvent = false;
  bool objectBroadcast = false;  // Broadcast encodes as a JSON object
};
std::vector<std::string> checkOptions(std::string_view name, const RoomOptions& o, const OptionFacts& facts);

class RegistryView;
// The runtime of one instance of a room type (runtime/instance.h).
std::unique_ptr<RoomInstanceBase> newRuntime(std::shared_ptr<const RoomType> type, const RoomOptions& options,
                                             std::string id, Host& host, const RegistryView& registry);

template <class R>
inline constexpr bool kObjectBroadcast =
    IsVariant<typename R::Broadcast>::value || (Declared<typename R::Broadcast> && std::is_class_v<typename R::Broadcast>);

template <class R>
class TypedRoom final : public RoomType {
 public:
  using State = typename R::State;
  using Conn = typename R::Connection;
  using Event = typename R::Event;
  using Broadcast = typename R::Broadcast;

  explicit TypedRoom(Handlers<R> h) : h_(std::move(h)) {}

  std::string_view name() const override { return R::name; }
  bool hasPresence() const override { return kHasPresence<R>; }
  bool hasResume() const override { return kHasResume<R>; }

  std::optional<RoomValidationError> decodeEvent(Decoder& d, std::string_view text, AnyValue& out) const override {
    out = AnyValue::make<Event>();
    return d.decode(text, *static_cast<Event*>(out.get()));
  }
  std::optional<RoomValidationError> decodeState(std::string_view text, AnyValue& out) const override {
    Decoder d(CodecLimits{text.size() + 1});
    State s;
    auto err = d.decode(text, s);
    out = err ? noState() : AnyValue::make<std::optional<State>>(std::move(s));
    return err;
  }
  AnyValue noState() const override { return AnyValue::make<std::optional<State>>(); }
  bool stateSet(const void* s) const override { return static_cast<const std::optional<State>*>(s)->has_value(); }
  std::optional<RoomValidationError> decodeConnection(std::string_view text, AnyValue& out) const override {
    Decoder d(CodecLimits{text.size() + 1});
    out = AnyValue::make<Conn>();
    return d.decode(text, *static_cast<Conn*>(out.get()));
  }
  bool decodeConnection(const json::Value& v, DecodeCtx& c, AnyValue& out) const override {
    out = AnyValue::make<Conn>();
    return decodeValue(v, *static_cast<Conn*>(out.get()), c);
  }
  std::optional<RoomValidationError> decodeBroadcast(Decoder& d, std::string_view text, AnyValue& out) const override {
    out = AnyValue::make<Broadcast>();
    return d.decode(text, *static_cast<Broadcast*>(out.get()));
  }
  std::optional<std::string_view> encodeState(Encoder& e, const void* s) const override {
    return e.encode(**static_cast<const std::optional<State>*>(s));
  }
  std::optional<std::string_view> encodeConnection(Encoder& e, const void* c) const override {
    return e.encode(*static_cast<const Conn*>(c));
  }
  std::optional<std::string_view> encodeBroadcast(Encoder& e, const void* m) const override {
    return e.encode(*static_cast<const Broadcast*>(m));
  }
  bool writeConnection(json::Writer& w, const void* c) const override {
    return encodeValue(w, *static_cast<const Conn*>(c));
  }
  void presence(const void* c, std::string_view id, std::string& key, std::string& meta) const override {
    if constexpr (kHasPresence<R>) {
      using P = PresenceOf<R>;
      const Conn& st = *static_cast<const Conn*>(c);
      if constexpr (P::keyedById) key.assign(id);
      else key = std::string(P::key(st));
      auto m = encodeToString(P::project(st));
      meta = m ? std::move(*m) : std::string("null");
    }
  }

  bool hasHandler(Phase p) const override {
    switch (p) {
      case Phase::Connect: return bool(h_.onConnect.handler);
      case Phase::Event: return bool(h_.onEvent.handler);
      case Phase::DecodeError: return bool(h_.onDecodeError);
      case Phase::Close: return bool(h_.onClose.handler);
      case Phase::Alarm: return bool(h_.onAlarm.handler);
    }
    return false;
  }
  bool hasErrorHandler(Phase p) const override { return errorHandler(p) && *errorHandler(p); }
  Task<Status> run(Phase p, CtxBase& base, const void* event, std::string_view raw,
                   const RoomValidationError& decodeError) const override {
    auto& ctx = static_cast<RoomCtx<R>&>(base);
    switch (p) {
      case Phase::Connect: return h_.onConnect.handler(ctx);
      case Phase::Event: return h_.onEvent.handler(ctx, *static_cast<const Event*>(event));
      case Phase::DecodeError: return h_.onDecodeError(ctx, raw, decodeError);
      case Phase::Close: return h_.onClose.handler(ctx);
      case Phase::Alarm: return h_.onAlarm.handler(ctx);
    }
    return {};
  }
  Task<Status> runError(Phase p, CtxBase& base, const Error& e) const override {
    return (*errorHandler(p))(static_cast<RoomCtx<R>&>(base), e);
  }
  std::unique_ptr<ConnectionBase> newConnection() const override { return std::make_unique<Connection<R>>(); }
  std::unique_ptr<CtxBase> newCtx() const override { return std::make_unique<RoomCtx<R>>(); }

 private:
  const ErrorHandler<R>* errorHandler(Phase p) const {
    switch (p) {
      case Phase::Connect: return &h_.onConnect.onError;
      case Phase::Event: return &h_.onEvent.onError;
      case Phase::Close: return &h_.onClose.onError;
      case Phase::Alarm: return &h_.onAlarm.onError;
      case Phase::DecodeError: return nullptr;
    }
    return nullptr;
  }
  Handlers<R> h_;
};

// What an instance may ask of its registry.
class RegistryView {
 public:
  virtual ~RegistryView() = default;
  virtual bool has(std::string_view name) const = 0;
  virtual void* serviceOf(const void* key) const = 0;
};
}  // namespace detail

class Registry final : public detail::RegistryView {
 public:
  Registry() = default;
  Registry(const Registry&) = default;
  Registry& operator=(const Registry&) = default;

  template <class R>
  Registry& add(Handlers<R> handlers, RoomOptions options = {});

  // Makes a service reachable from handlers as ctx.service<T>().
  template <class T>
  Registry& provide(std::shared_ptr<T> service) {
    services_[detail::typeKey<T>()] = std::move(service);
    return *this;
  }
  template <class T>
  T* service() const {
    return static_cast<T*>(serviceOf(detail::typeKey<T>()));
  }

  bool has(std::string_view name) const override { return types_.count(std::string(name)) != 0; }
  void* serviceOf(const void* key) const override {
    auto it = services_.find(key);
    return it == services_.end() ? nullptr : it->second.get();
  }
  // The heartbeat of a room type (RoomOptions::heartbeat), or null.
  const Heartbeat* heartbeatOf(std::string_view name) const {
    auto it = types_.find(name);
    return it == types_.end() || !it->second.options.heartbeat ? nullptr : &*it->second.options.heartbeat;
  }
  std::vector<std::string> names() const;
  // The adapter of a room type, or null.
  const detail::RoomType* typeOf(std::string_view name) const {
    auto it = types_.find(name);
    return it == types_.end() ? nullptr : it->second.type.get();
  }
  // What add() refused, one line per option ("room chat: heartbeat.staleAfter
  // is 0 ms; it must be positive"); empty when the registry is sound.
  const std::vector<std::string>& problems() const { return problems_; }
  // A new instance, or RoomNotFoundError (RoomError when problems() is not empty).
  Result<std::unique_ptr<RoomInstanceBase>> create(std::string_view name, std::string id, Host& host) const;

  // {"chat":{"state":<JSON Schema>,"connection":…,"event":…,"broadcast":…},…}
  std::string jsonSchemas() const;
  // `export type ChatState = …;` and so on for every room type.
  std::string typeScript() const;

 private:
  struct Entry {
    std::shared_ptr<const detail::RoomType> type;
    RoomOptions options;
    std::string (*jsonSchemas)() = nullptr;
    std::pair<std::string, std::string> (*typeScript)() = nullptr;  // {namespace, Rooms entry}
  };
  template <class R>
  static std::string jsonSchemasOf();
  template <class R>
  static std::pair<std::string, std::string> typeScriptOf();
  std::map<std::string, Entry, std::less<>> types_;
  std::unordered_map<const void*, std::shared_ptr<void>> services_;
  std::vector<std::string> problems_;
};

template <class R>
std::string Registry::jsonSchemasOf() {
  std::string presence;
  if constexpr (kHasPresence<R>) presence = R"(,"presence":)" + jsonSchema<PresenceMetaOf<R>>();
  return R"({"state":)" + jsonSchema<typename R::State>() + R"(,"connection":)" + jsonSchema<typename R::Connection>() +
         R"(,"event":)" + jsonSchema<typename R::Event>() + R"(,"broadcast":)" + jsonSchema<typename R::Broadcast>() +
         presence + "}";
}

template <class R>
std::pair<std::string, std::string> Registry::typeScriptOf() {
  SchemaWriter w(SchemaWriter::Language::TypeScript);
  std::string roles[4];
  w.write<typename R::State>();
  roles[0] = std::exchange(w.out, {});
  w.write<typename R::Connection>();
  roles[1] = std::exchange(w.out, {});
  w.write<typename R::Event>();
  roles[2] = std::exchange(w.out, {});
  w.write<typename R::Broadcast>();
  roles[3] = std::exchange(w.out, {});
  if constexpr (kHasPresence<R>) {
    w.write<PresenceMetaOf<R>>();
    std::string meta = std::exchange(w.out, {});
    return detail::roomTypeScript(R::name, w.definitions(), roles, &meta);
  }
  return detail::roomTypeScript(R::name, w.definitions(), roles);
}

template <class R>
Registry& Registry::add(Handlers<R> handlers, RoomOptions options) {
  detail::OptionFacts facts{bool(handlers.onEvent.handler), detail::kObjectBroadcast<R>};
  for (auto& p : detail::checkOptions(R::name, options, facts)) problems_.push_back(std::move(p));
  Entry e;
  e.type = std::make_shared<const detail::TypedRoom<R>>(std::move(handlers));
  e.options = std::move(options);
  e.jsonSchemas = &jsonSchemasOf<R>;
  e.typeScript = &typeScriptOf<R>;
  types_[std::string(R::name)] = std::move(e);
  return *this;
}

}  // namespace rooms
