// Schemas: C++ types that describe JSON values, declared once, from which the
// codec derives decode (JSON → typed value, validated), encode (typed value →
// JSON), JSON Schema and TypeScript declarations.
//
//   JSON                      C++
//   string                    std::string
//   number                    double
//   integer                   int32_t, int64_t (|n| ≤ 2^53-1), uint32_t
//   boolean                   bool
//   null                      rooms::Null
//   "literal"                 rooms::Literal<"literal">
//   T | null (nullable)       std::optional<T>  (key required, value may be null)
//   optional key              rooms::optionalField("k", &S::k) on a std::optional<T>
//   T[]                       std::vector<T>
//   Record<string, T>         std::map<std::string, T>
//   { ... } (struct)          a struct with `static constexpr auto schema()`
//   tagged union on `_tag`    std::variant<A, B, ...>, each alternative a struct
//                             with `static constexpr std::string_view tag`
//
// A struct declares its fields with member pointers:
//
//   struct Say {
//     static constexpr std::string_view tag = "Say";
//     std::string text;
//     static constexpr auto schema() { return rooms::fields(rooms::field("text", &Say::text)); }
//   };
//
// A struct with a `tag` encodes and requires `"_tag": tag`.
//
// Decode policy: unknown keys are dropped (the default of Effect Schema) or,
// with ExtraFields::Reject, refused; a duplicate of a key the schema reads is
// always refused, since JSON parsers disagree on which copy wins. (Duplicates
// among dropped keys are dropped with them.) An optional key, when present,
// must hold a value of its type: null only if that type is nullable.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "rooms/errors.h"
#include "rooms/json.h"

namespace rooms {

// ---- Declaration vocabulary ------------------------------------------------

template <std::size_t N>
struct FixedString {
  char data[N]{};
  constexpr FixedString(const char (&s)[N]) {
    for (std::size_t i = 0; i < N; ++i) data[i] = s[i];
  }
  constexpr std::string_view view() const { return {data, N - 1}; }
};

// A string that must equal S exactly.
template <FixedString S>
struct Literal {
  static constexpr std::string_view value = S.view();
  bool operator==(const Literal&) const = default;
};

// JSON null.
struct Null {
  bool operator==(const Null&) const = default;
};

template <class Owner, class T>
struct Field {
  using owner = Owner;
  using type = T;
  std::string_view name;
  T Owner::*member;
  bool optional;  // the key may be absent (T is then a std::optional)
};

template <class Owner, class T>
constexpr Field<Owner, T> field(std::string_view name, T Owner::*member) {
  return {name, member, false};
}

template <class Owner, class T>
constexpr Field<Owner, std::optional<T>> optionalField(std::string_view name,
                                                       std::optional<T> Owner::*member) {
  return {name, member, true};
}

template <class... F>
constexpr std::tuple<F...> fields(F... f) {
  return {f...};
}

// ---- Traits ----------------------------------------------------------------

namespace detail {
template <class T> struct IsOptional : std::false_type {};
template <class T> struct IsOptional<std::optional<T>> : std::true_type {};
template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type {};
template <class T> struct IsMap : std::false_type {};
template <class T> struct IsMap<std::map<std::string, T>> : std::true_type {};
template <class T> struct IsVariant : std::false_type {};
template <class... T> struct IsVariant<std::variant<T...>> : std::true_type {};
template <class T> struct IsLiteral : std::false_type {};
template <FixedString S> struct IsLiteral<Literal<S>> : std::true_type {};
template <class> inline constexpr bool kAlwaysFalse = false;

template <class T>
concept Struct = requires { T::schema(); };
template <class T>
concept Tagged = requires { { T::tag } -> std::convertible_to<std::string_view>; };

template <class Tuple, class Fn>
constexpr void forEach(const Tuple& t, Fn&& fn) {
  std::apply([&](const auto&... f) {
    std::size_t i = 0;
    (fn(f, i++), ...);
  }, t);
}

// Largest integer a JS number holds exactly.
inline constexpr double kMaxSafeInteger = 9007199254740991.0;
}  // namespace detail

// ---- Decode ----------------------------------------------------------------

enum class ExtraFields { Strip, Reject };

struct DecodeOptions {
  ExtraFields extraFields = ExtraFields::Strip;
};

// Collects the error of a failed decode. Path segments are pushed innermost
// first while the failure unwinds, so a successful decode builds no path.
class DecodeCtx {
 public:
  explicit DecodeCtx(DecodeOptions o = {}) : options(o) {}
  DecodeOptions options;

  bool fail(std::string expected, const json::Value* found);
  bool failFound(std::string expected, std::string found);
  void key(std::string_view k);
  void index(std::size_t i);
  RoomValidationError take();

  RoomValidationError error;

 private:
  std::vector<std::string> reversedPath_;
};

// A short description of a JSON value for error messages: `number 3`,
// `string "abc"`, `object`, `missing`.
std::string describeValue(const json::Value* v);

template <class T>
bool decodeValue(const json::Value& v, T& out, DecodeCtx& c);

template <class T>
std::string schemaTypeName();

namespace detail {

template <class S>
bool decodeStruct(const json::Value& v, S& out, DecodeCtx& c) {
  if (!v.IsObject()) return c.fail("object", &v);
  constexpr auto fs = S::schema();
  constexpr std::size_t n = std::tuple_size_v<std::remove_const_t<decltype(fs)>>;
  static_assert(n <= 63, "a struct schema holds at most 63 fields");
  std::uint64_t seen = 0;
  bool seenTag = false;
  for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
    std::string_view k(m->name.GetString(), m->name.GetStringLength());
    if constexpr (Tagged<S>) {
      if (k == "_tag") {
        if (seenTag) {
          c.key(k);
          return c.failFound("a single \"_tag\" key", "duplicate key");
        }
        seenTag = true;
        if (!m->value.IsString() ||
            std::string_view(m->value.GetString(), m->value.GetStringLength()) != S::tag) {
          c.key(k);
          c.error.allowedTags = {std::string(S::tag)};
          return c.fail("\"" + std::string(S::tag) + "\"", &m->value);
        }
        continue;
      }
    }
    int found = -1;
    bool ok = true;
    forEach(fs, [&](const auto& f, std::size_t i) {
      if (found >= 0 || f.name != k) return;
      found = static_cast<int>(i);
      if (seen & (1ull << i)) {
        c.key(k);
        ok = c.failFound("a single \"" + std::string(k) + "\" key", "duplicate key");
        return;
      }
      seen |= 1ull << i;
      auto& member = out.*(f.member);
      bool decoded;
      // An optional key, when present, holds the value itself: null is not
      // "absent" (it would be dropped by an optional nullable field).
      if constexpr (IsOptional<std::decay_t<decltype(member)>>::value) {
        decoded = f.optional ? decodeValue(m->value, member.emplace(), c) : decodeValue(m->value, member, c);
      } else {
        decoded = decodeValue(m->value, member, c);
      }
      if (!decoded) {
        c.key(k);
        ok = false;
      }
    });
    if (!ok) return false;
    if (found < 0 && c.options.extraFields == ExtraFields::Reject) {
      c.key(k);
      return c.failFound("no such key", "unexpected key");
    }
  }
  if constexpr (Tagged<S>) {
    if (!seenTag) {
      c.key("_tag");
      c.error.allowedTags = {std::string(S::tag)};
      return c.failFound("\"" + std::string(S::tag) + "\"", "missing");
    }
  }
  bool ok = true;
  forEach(fs, [&](const auto& f, std::size_t i) {
    if (!ok || (seen & (1ull << i))) return;
    if (f.optional) {
      // `out` may hold an earlier value; an absent key leaves no trace of it.
      if constexpr (IsOptional<typename std::decay_t<decltype(f)>::type>::value) (out.*(f.member)).reset();
      return;
    }
    c.key(f.name);
    ok = c.fail(schemaTypeName<typename std::decay_t<decltype(f)>::type>(), nullptr);
  });
  return ok;
}

template <class V, std::size_t... I>
bool decodeVariant(const json::Value& v, V& out, DecodeCtx& c, std::index_sequence<I...>) {
  if (!v.IsObject()) return c.fail("object with \"_tag\"", &v);
  auto allowed = [] {
    return std::vector<std::string>{std::string(std::variant_alternative_t<I, V>::tag)...};
  };
  auto t = v.FindMember("_tag");
  if (t == v.MemberEnd() || !t->value.IsString()) {
    c.key("_tag");
    c.error.allowedTags = allowed();
    std::string expected;
    for (auto& a : c.error.allowedTags) expected += (expected.empty() ? "" : " | ") + ("\"" + a + "\"");
    return c.fail(expected, t == v.MemberEnd() ? nullptr : &t->value);
  }
  std::string_view tag(t->value.GetString(), t->value.GetStringLength());
  bool matched = false, ok = false;
  ((!matched && std::variant_alternative_t<I, V>::tag == tag
        ? (matched = true, ok = decodeValue(v, out.template emplace<I>(), c))
        : false),
   ...);
  if (matched) return ok;
  c.key("_tag");
  c.error.allowedTags = allowed();
  std::string expected;
  for (auto& a : c.error.allowedTags) expected += (expected.empty() ? "" : " | ") + ("\"" + a + "\"");
  return c.fail(expected, &t->value);
}

}  // namespace detail

template <class T>
bool decodeValue(const json::Value& v, T& out, DecodeCtx& c) {
  using namespace detail;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.IsString()) return c.fail("string", &v);
    out.assign(v.GetString(), v.GetStringLength());
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.IsBool()) return c.fail("boolean", &v);
    out = v.GetBool();
    return true;
  } else if constexpr (std::is_same_v<T, double>) {
    if (!v.IsNumber()) return c.fail("number", &v);
    out = v.GetDouble();
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    static_assert(sizeof(T) <= 8 && !std::is_same_v<T, bool>);
    if (!v.IsNumber()) return c.fail(schemaTypeName<T>(), &v);
    double d = v.GetDouble();
    double lo = std::max<double>(static_cast<double>(std::numeric_limits<T>::min()), -kMaxSafeInteger);
    double hi = std::min<double>(static_cast<double>(std::numeric_limits<T>::max()), kMaxSafeInteger);
    if (std::trunc(d) != d || d < lo || d > hi) return c.fail(schemaTypeName<T>(), &v);
    out = v.IsInt64() ? static_cast<T>(v.GetInt64()) : static_cast<T>(d);
    return true;
  } else if constexpr (std::is_same_v<T, Null>) {
    if (!v.IsNull()) return c.fail("null", &v);
    return true;
  } else if constexpr (IsLiteral<T>::value) {
    if (!v.IsString() || std::string_view(v.GetString(), v.GetStringLength()) != T::value)
      return c.fail("\"" + std::string(T::value) + "\"", &v);
    return true;
  } else if constexpr (IsOptional<T>::value) {
    if (v.IsNull()) {
      out.reset();
      return true;
    }
    return decodeValue(v, out.emplace(), c);
  } else if constexpr (IsVector<T>::value) {
    if (!v.IsArray()) return c.fail("array", &v);
    out.clear();
    out.reserve(v.Size());
    for (json::SizeType i = 0; i < v.Size(); ++i) {
      bool ok;
      if constexpr (std::is_same_v<T, std::vector<bool>>) {  // elements are bits, not bools
        bool b = false;
        ok = decodeValue(v[i], b, c);
        out.push_back(b);
      } else {
        ok = decodeValue(v[i], out.emplace_back(), c);
      }
      if (!ok) {
        c.index(i);
        return false;
      }
    }
    return true;
  } else if constexpr (IsMap<T>::value) {
    if (!v.IsObject()) return c.fail("object", &v);
    out.clear();
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      std::string k(m->name.GetString(), m->name.GetStringLength());
      auto [it, inserted] = out.try_emplace(k);
      if (!inserted) {
        c.key(k);
        return c.failFound("a single \"" + k + "\" key", "duplicate key");
      }
      if (!decodeValue(m->value, it->second, c)) {
        c.key(k);
        return false;
      }
    }
    return true;
  } else if constexpr (IsVariant<T>::value) {
    return decodeVariant(v, out, c, std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (Struct<T>) {
    return decodeStruct(v, out, c);
  } else {
    static_assert(kAlwaysFalse<T>, "type is not a schema type");
  }
}

// ---- Encode ----------------------------------------------------------------

// Returns false when the value has no JSON form (NaN, infinities, strings
// that are not UTF-8); the writer's output is then unusable.
template <class T>
bool encodeValue(json::Writer& w, const T& v) {
  using namespace detail;
  if constexpr (std::is_same_v<T, std::string>) {
    return w.String(v.data(), static_cast<json::SizeType>(v.size()));
  } else if constexpr (std::is_same_v<T, bool>) {
    return w.Bool(v);
  } else if constexpr (std::is_same_v<T, double>) {
    // Integral values print as integers (`3`, not `3.0`), as JSON.stringify
    // does; -0 keeps its sign (`-0.0`).
    if (std::trunc(v) == v && std::fabs(v) <= kMaxSafeInteger && !(v == 0 && std::signbit(v)))
      return w.Int64(static_cast<std::int64_t>(v));
    return w.Double(v);
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_signed_v<T>) {
      if (static_cast<double>(v) > kMaxSafeInteger || static_cast<double>(v) < -kMaxSafeInteger) return false;
      return w.Int64(v);
    } else {
      if (static_cast<double>(v) > kMaxSafeInteger) return false;
      return w.Uint64(v);
    }
  } else if constexpr (std::is_same_v<T, Null>) {
    return w.Null();
  } else if constexpr (IsLiteral<T>::value) {
    return w.String(T::value.data(), static_cast<json::SizeType>(T::value.size()));
  } else if constexpr (IsOptional<T>::value) {
    return v ? encodeValue(w, *v) : w.Null();
  } else if constexpr (IsVector<T>::value) {
    if (!w.StartArray()) return false;
    if constexpr (std::is_same_v<T, std::vector<bool>>) {  // libc++ yields bit references
      for (bool e : v)
        if (!w.Bool(e)) return false;
    } else {
      for (const auto& e : v)
        if (!encodeValue(w, e)) return false;
    }
    return w.EndArray();
  } else if constexpr (IsMap<T>::value) {
    if (!w.StartObject()) return false;
    for (const auto& [k, e] : v)
      if (!w.Key(k.data(), static_cast<json::SizeType>(k.size())) || !encodeValue(w, e)) return false;
    return w.EndObject();
  } else if constexpr (IsVariant<T>::value) {
    return std::visit([&](const auto& alt) { return encodeValue(w, alt); }, v);
  } else if constexpr (Struct<T>) {
    if (!w.StartObject()) return false;
    if constexpr (Tagged<T>) {
      if (!w.Key("_tag", 4) || !w.String(T::tag.data(), static_cast<json::SizeType>(T::tag.size())))
        return false;
    }
    bool ok = true;
    forEach(T::schema(), [&](const auto& f, std::size_t) {
      if (!ok) return;
      const auto& m = v.*(f.member);
      if constexpr (IsOptional<std::decay_t<decltype(m)>>::value) {
        if (f.optional && !m) return;  // absent key
      }
      ok = w.Key(f.name.data(), static_cast<json::SizeType>(f.name.size())) && encodeValue(w, m);
    });
    return ok && w.EndObject();
  } else {
    static_assert(kAlwaysFalse<T>, "type is not a schema type");
  }
}

// ---- JSON Schema and TypeScript --------------------------------------------

template <class T>
void writeJsonSchema(std::string& out);

template <class T>
void writeTypeScript(std::string& out);

template <class T>
std::string jsonSchema() {
  std::string s;
  writeJsonSchema<T>(s);
  return s;
}

template <class T>
std::string typeScript() {
  std::string s;
  writeTypeScript<T>(s);
  return s;
}

namespace detail {
void appendJsonString(std::string& out, std::string_view s);
// A property name: bare when it is an identifier, quoted otherwise.
void appendTsKey(std::string& out, std::string_view k);
}

template <class T>
void writeJsonSchema(std::string& out) {
  using namespace detail;
  if constexpr (std::is_same_v<T, std::string>) {
    out += R"({"type":"string"})";
  } else if constexpr (std::is_same_v<T, bool>) {
    out += R"({"type":"boolean"})";
  } else if constexpr (std::is_same_v<T, double>) {
    out += R"({"type":"number"})";
  } else if constexpr (std::is_integral_v<T>) {
    out += R"({"type":"integer","minimum":)";
    out += std::to_string(static_cast<long long>(
        std::max<double>(static_cast<double>(std::numeric_limits<T>::min()), -kMaxSafeInteger)));
    out += R"(,"maximum":)";
    out += std::to_string(static_cast<unsigned long long>(
        std::min<double>(static_cast<double>(std::numeric_limits<T>::max()), kMaxSafeInteger)));
    out += "}";
  } else if constexpr (std::is_same_v<T, Null>) {
    out += R"({"type":"null"})";
  } else if constexpr (IsLiteral<T>::value) {
    out += R"({"const":)";
    appendJsonString(out, T::value);
    out += "}";
  } else if constexpr (IsOptional<T>::value) {
    out += R"({"anyOf":[)";
    writeJsonSchema<typename T::value_type>(out);
    out += R"(,{"type":"null"}]})";
  } else if constexpr (IsVector<T>::value) {
    out += R"({"type":"array","items":)";
    writeJsonSchema<typename T::value_type>(out);
    out += "}";
  } else if constexpr (IsMap<T>::value) {
    out += R"({"type":"object","additionalProperties":)";
    writeJsonSchema<typename T::mapped_type>(out);
    out += "}";
  } else if constexpr (IsVariant<T>::value) {
    out += R"({"oneOf":[)";
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((out += (I ? "," : ""), writeJsonSchema<std::variant_alternative_t<I, T>>(out)), ...);
    }(std::make_index_sequence<std::variant_size_v<T>>{});
    out += R"(],"discriminator":{"propertyName":"_tag"}})";
  } else if constexpr (Struct<T>) {
    out += R"({"type":"object","properties":{)";
    std::string required;
    auto addRequired = [&](std::string_view k) {
      required += required.empty() ? "" : ",";
      appendJsonString(required, k);
    };
    bool first = true;
    if constexpr (Tagged<T>) {
      out += R"("_tag":{"const":)";
      appendJsonString(out, T::tag);
      out += "}";
      addRequired("_tag");
      first = false;
    }
    forEach(T::schema(), [&](const auto& f, std::size_t) {
      using F = typename std::decay_t<decltype(f)>::type;
      if (!first) out += ",";
      first = false;
      appendJsonString(out, f.name);
      out += ":";
      if (f.optional) {
        if constexpr (IsOptional<F>::value) writeJsonSchema<typename F::value_type>(out);
      } else {
        writeJsonSchema<F>(out);
        addRequired(f.name);
      }
    });
    out += R"(},"required":[)" + required + "]}";
  } else {
    static_assert(kAlwaysFalse<T>, "type is not a schema type");
  }
}

template <class T>
void writeTypeScript(std::string& out) {
  using namespace detail;
  if constexpr (std::is_same_v<T, std::string>) {
    out += "string";
  } else if constexpr (std::is_same_v<T, bool>) {
    out += "boolean";
  } else if constexpr (std::is_same_v<T, double> || std::is_integral_v<T>) {
    out += "number";
  } else if constexpr (std::is_same_v<T, Null>) {
    out += "null";
  } else if constexpr (IsLiteral<T>::value) {
    appendJsonString(out, T::value);
  } else if constexpr (IsOptional<T>::value) {
    out += "(";
    writeTypeScript<typename T::value_type>(out);
    out += ") | null";
  } else if constexpr (IsVector<T>::value) {
    out += "ReadonlyArray<";
    writeTypeScript<typename T::value_type>(out);
    out += ">";
  } else if constexpr (IsMap<T>::value) {
    out += "Readonly<Record<string, ";
    writeTypeScript<typename T::mapped_type>(out);
    out += ">>";
  } else if constexpr (IsVariant<T>::value) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((out += (I ? " | " : ""), writeTypeScript<std::variant_alternative_t<I, T>>(out)), ...);
    }(std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (Struct<T>) {
    out += "{ ";
    if constexpr (Tagged<T>) {
      out += "readonly _tag: ";
      appendJsonString(out, T::tag);
      out += "; ";
    }
    forEach(T::schema(), [&](const auto& f, std::size_t) {
      using F = typename std::decay_t<decltype(f)>::type;
      out += "readonly ";
      appendTsKey(out, f.name);
      if (f.optional) {
        out += "?: ";
        if constexpr (IsOptional<F>::value) writeTypeScript<typename F::value_type>(out);
      } else {
        out += ": ";
        writeTypeScript<F>(out);
      }
      out += "; ";
    });
    out += "}";
  } else {
    static_assert(kAlwaysFalse<T>, "type is not a schema type");
  }
}

// The name used in messages: "string", "integer", "object", ...
template <class T>
std::string schemaTypeName() {
  using namespace detail;
  if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (std::is_same_v<T, bool>) return "boolean";
  else if constexpr (std::is_same_v<T, double>) return "number";
  else if constexpr (std::is_integral_v<T>) {
    return std::is_signed_v<T> ? (sizeof(T) <= 4 ? "int32" : "safe integer")
                               : (sizeof(T) <= 4 ? "uint32" : "non-negative safe integer");
  } else if constexpr (std::is_same_v<T, Null>) return "null";
  else if constexpr (IsLiteral<T>::value) return "\"" + std::string(T::value) + "\"";
  else if constexpr (IsOptional<T>::value) return schemaTypeName<typename T::value_type>() + " or null";
  else if constexpr (IsVector<T>::value) return "array";
  else if constexpr (IsMap<T>::value) return "object";
  else if constexpr (IsVariant<T>::value) return "object with \"_tag\"";
  else return "object";
}

// ---- The codec: bytes in, typed value out; typed value in, bytes out -------

struct CodecLimits {
  // Frames longer than this are refused before parsing.
  std::size_t maxFrameBytes = 1 << 20;
};

// Decodes UTF-8 JSON text into a typed value. Reuses its parse buffers: after
// the first few calls a frame that fits them allocates nothing for the DOM.
// Not thread-safe; one per room instance.
class Decoder {
 public:
  explicit Decoder(CodecLimits limits = {}, DecodeOptions options = {})
      : limits_(limits), options_(options) {}

  template <class T>
  std::optional<RoomValidationError> decode(std::string_view text, T& out) {
    if (auto err = parser_.parse(text, limits_.maxFrameBytes)) return err;
    DecodeCtx c(options_);
    if (!decodeValue(parser_.root(), out, c)) return c.take();
    return std::nullopt;
  }

  const CodecLimits& limits() const { return limits_; }

 private:
  CodecLimits limits_;
  DecodeOptions options_;
  json::Parser parser_;
};

// Encodes typed values into a buffer it reuses across calls. The view stays
// valid until the next encode.
class Encoder {
 public:
  template <class T>
  std::optional<std::string_view> encode(const T& v) {
    buffer_.Clear();
    json::Writer w(buffer_);
    if (!encodeValue(w, v) || !w.IsComplete()) return std::nullopt;
    return std::string_view(buffer_.GetString(), buffer_.GetSize());
  }

 private:
  json::Buffer buffer_;
};

// Encodes into a fresh string (for cold paths).
template <class T>
std::optional<std::string> encodeToString(const T& v) {
  Encoder e;
  auto s = e.encode(v);
  if (!s) return std::nullopt;
  return std::string(*s);
}

}  // namespace rooms
