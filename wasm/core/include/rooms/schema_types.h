// Every schema type the library knows, one rooms::Schema<T> block each
// (the interface is described in schema.h). A new type is one more block
// here, and its test in tests/native/schema_test.cpp.
//
//   JSON / TypeScript            C++
//   string                       std::string
//   number                       double
//   integer                      int32_t, uint32_t, int64_t (|n| <= 2^53-1), ...
//   boolean                      bool
//   null                         rooms::Null
//   "literal"                    rooms::Literal<"literal">
//   "a" | "b"                    rooms::OneOf<"a", "b">, or an enum with ROOMS_ENUM
//   number (epoch ms)            rooms::Timestamp
//   T | null (key required)      std::optional<T>
//   k?: T (key may be absent)    rooms::Optional<T>, as a struct field
//   T[]                          std::vector<T>
//   [T, T, T] (length checked)   std::array<T, 3>
//   Record<string, T>            std::map<std::string, T>
//   { ... }                      a struct with ROOMS_STRUCT
//   tagged union on `_tag`       std::variant<A, B, ...> of ROOMS_TAGGED structs
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rooms {

namespace detail {
// Largest integer a JS number holds exactly.
inline constexpr double kMaxSafeInteger = 9007199254740991.0;
void appendJsonString(std::string& out, std::string_view s);
std::string quoted(std::string_view s);
}  // namespace detail

// ---- Scalars -------------------------------------------------------------------

template <>
struct Schema<std::string> {
  static std::string name() { return "string"; }
  static bool decode(const json::Value& v, std::string& out, DecodeCtx& c) {
    if (!v.IsString()) return c.fail("string", &v);
    out.assign(v.GetString(), v.GetStringLength());
    return true;
  }
  static bool encode(json::Writer& w, const std::string& v) {
    return w.String(v.data(), static_cast<json::SizeType>(v.size()));
  }
  static void jsonSchema(SchemaWriter& s) { s.out += R"({"type":"string"})"; }
  static void typeScript(SchemaWriter& s) { s.out += "string"; }
};

template <>
struct Schema<bool> {
  static std::string name() { return "boolean"; }
  static bool decode(const json::Value& v, bool& out, DecodeCtx& c) {
    if (!v.IsBool()) return c.fail("boolean", &v);
    out = v.GetBool();
    return true;
  }
  static bool encode(json::Writer& w, bool v) { return w.Bool(v); }
  static void jsonSchema(SchemaWriter& s) { s.out += R"({"type":"boolean"})"; }
  static void typeScript(SchemaWriter& s) { s.out += "boolean"; }
};

template <>
struct Schema<double> {
  static std::string name() { return "number"; }
  static bool decode(const json::Value& v, double& out, DecodeCtx& c) {
    if (!v.IsNumber()) return c.fail("number", &v);
    out = v.GetDouble();
    return true;
  }
  // Integral values print as integers (`3`, not `3.0`), as JSON.stringify
  // does; -0 keeps its sign (`-0.0`).
  static bool encode(json::Writer& w, double v) {
    if (std::trunc(v) == v && std::fabs(v) <= detail::kMaxSafeInteger && !(v == 0 && std::signbit(v)))
      return w.Int64(static_cast<std::int64_t>(v));
    return w.Double(v);
  }
  static void jsonSchema(SchemaWriter& s) { s.out += R"({"type":"number"})"; }
  static void typeScript(SchemaWriter& s) { s.out += "number"; }
};

// Integers: the JSON number must be integral and within both the C++ type's
// range and ±(2^53-1), so JavaScript reads it exactly.
template <class T>
struct Schema<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static_assert(sizeof(T) <= 8);
  static constexpr double lo = std::max<double>(static_cast<double>(std::numeric_limits<T>::min()), -detail::kMaxSafeInteger);
  static constexpr double hi = std::min<double>(static_cast<double>(std::numeric_limits<T>::max()), detail::kMaxSafeInteger);

  static std::string name() {
    return std::is_signed_v<T> ? (sizeof(T) <= 4 ? "int32" : "safe integer")
                               : (sizeof(T) <= 4 ? "uint32" : "non-negative safe integer");
  }
  static bool decode(const json::Value& v, T& out, DecodeCtx& c) {
    if (!v.IsNumber()) return c.fail(name(), &v);
    double d = v.GetDouble();
    if (std::trunc(d) != d || d < lo || d > hi) return c.fail(name(), &v);
    out = v.IsInt64() ? static_cast<T>(v.GetInt64()) : static_cast<T>(d);
    return true;
  }
  static bool encode(json::Writer& w, T v) {
    if (static_cast<double>(v) > hi || static_cast<double>(v) < lo) return false;
    if constexpr (std::is_signed_v<T>) return w.Int64(v);
    else return w.Uint64(v);
  }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"type":"integer","minimum":)" + std::to_string(static_cast<long long>(lo)) +
             R"(,"maximum":)" + std::to_string(static_cast<unsigned long long>(hi)) + "}";
  }
  static void typeScript(SchemaWriter& s) { s.out += "number"; }
};

template <>
struct Schema<Null> {
  static std::string name() { return "null"; }
  static bool decode(const json::Value& v, Null&, DecodeCtx& c) { return v.IsNull() || c.fail("null", &v); }
  static bool encode(json::Writer& w, Null) { return w.Null(); }
  static void jsonSchema(SchemaWriter& s) { s.out += R"({"type":"null"})"; }
  static void typeScript(SchemaWriter& s) { s.out += "null"; }
};

template <FixedString S>
struct Schema<Literal<S>> {
  static std::string name() { return detail::quoted(S.view()); }
  static bool decode(const json::Value& v, Literal<S>&, DecodeCtx& c) {
    if (!v.IsString() || std::string_view(v.GetString(), v.GetStringLength()) != S.view()) return c.fail(name(), &v);
    return true;
  }
  static bool encode(json::Writer& w, Literal<S>) {
    return w.String(S.view().data(), static_cast<json::SizeType>(S.view().size()));
  }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"const":)";
    s.appendJsonString(S.view());
    s.out += "}";
  }
  static void typeScript(SchemaWriter& s) { s.appendJsonString(S.view()); }
};

namespace detail {
// The shared form of string-literal unions (OneOf and enums): names[i] is
// the wire form of value i.
struct StringSet {
  static std::string name(const std::string_view* names, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += (i ? " | " : "") + quoted(names[i]);
    return out;
  }
  // The index of the string v holds, or fails.
  static std::optional<std::size_t> decode(const json::Value& v, const std::string_view* names, std::size_t n,
                                           DecodeCtx& c) {
    if (v.IsString()) {
      std::string_view s(v.GetString(), v.GetStringLength());
      for (std::size_t i = 0; i < n; ++i)
        if (names[i] == s) return i;
    }
    c.fail(name(names, n), &v);
    return std::nullopt;
  }
  static void jsonSchema(SchemaWriter& s, const std::string_view* names, std::size_t n) {
    s.out += R"({"enum":[)";
    for (std::size_t i = 0; i < n; ++i) {
      if (i) s.out += ",";
      s.appendJsonString(names[i]);
    }
    s.out += "]}";
  }
  static void typeScript(SchemaWriter& s, const std::string_view* names, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (i) s.out += " | ";
      s.appendJsonString(names[i]);
    }
  }
};
}  // namespace detail

template <FixedString... S>
struct Schema<OneOf<S...>> {
  using T = OneOf<S...>;
  static std::string name() { return detail::StringSet::name(T::values, T::size); }
  static bool decode(const json::Value& v, T& out, DecodeCtx& c) {
    auto i = detail::StringSet::decode(v, T::values, T::size, c);
    if (i) out = *T::parse(T::values[*i]);
    return i.has_value();
  }
  static bool encode(json::Writer& w, const T& v) {
    return w.String(v.value().data(), static_cast<json::SizeType>(v.value().size()));
  }
  static void jsonSchema(SchemaWriter& s) { detail::StringSet::jsonSchema(s, T::values, T::size); }
  static void typeScript(SchemaWriter& s) { detail::StringSet::typeScript(s, T::values, T::size); }
};

// An enum declared with ROOMS_ENUM: the enumerators' names on the wire.
template <class E>
struct Schema<E, std::enable_if_t<std::is_enum_v<E> && detail::Declared<E>>> {
  using Enumerators = boost::describe::describe_enumerators<E>;
  static constexpr std::size_t size = boost::mp11::mp_size<Enumerators>::value;
  static_assert(size > 0, "ROOMS_ENUM: an enum needs at least one enumerator");
  static constexpr auto table() {
    struct Table {
      std::array<std::string_view, size> names{};
      std::array<E, size> values{};
    } t;
    std::size_t i = 0;
    boost::mp11::mp_for_each<Enumerators>([&](auto d) {
      t.names[i] = d.name;
      t.values[i] = d.value;
      ++i;
    });
    return t;
  }
  static constexpr auto kTable = table();

  static std::string name() { return detail::StringSet::name(kTable.names.data(), size); }
  static bool decode(const json::Value& v, E& out, DecodeCtx& c) {
    auto i = detail::StringSet::decode(v, kTable.names.data(), size, c);
    if (i) out = kTable.values[*i];
    return i.has_value();
  }
  static bool encode(json::Writer& w, E v) {
    for (std::size_t i = 0; i < size; ++i)
      if (kTable.values[i] == v) return w.String(kTable.names[i].data(), static_cast<json::SizeType>(kTable.names[i].size()));
    return false;  // a value outside the declared enumerators has no JSON form
  }
  static void jsonSchema(SchemaWriter& s) { detail::StringSet::jsonSchema(s, kTable.names.data(), size); }
  static void typeScript(SchemaWriter& s) { detail::StringSet::typeScript(s, kTable.names.data(), size); }
};

template <>
struct Schema<Timestamp> {
  static std::string name() { return "timestamp (integer milliseconds since the epoch)"; }
  static bool decode(const json::Value& v, Timestamp& out, DecodeCtx& c) {
    std::int64_t ms = 0;
    if (!Schema<std::int64_t>::decode(v, ms, c)) return c.fail(name(), &v);
    out = fromEpochMs(ms);
    return true;
  }
  static bool encode(json::Writer& w, Timestamp t) { return Schema<std::int64_t>::encode(w, epochMs(t)); }
  static void jsonSchema(SchemaWriter& s) { Schema<std::int64_t>::jsonSchema(s); }
  static void typeScript(SchemaWriter& s) { s.out += "number"; }
};

// ---- Wrappers ------------------------------------------------------------------

template <SchemaType T>
struct Schema<std::optional<T>> {
  static std::string name() { return Schema<T>::name() + " or null"; }
  static bool decode(const json::Value& v, std::optional<T>& out, DecodeCtx& c) {
    if (v.IsNull()) {
      out.reset();
      return true;
    }
    return decodeValue(v, out.emplace(), c);
  }
  static bool encode(json::Writer& w, const std::optional<T>& v) { return v ? encodeValue(w, *v) : w.Null(); }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"anyOf":[)";
    s.write<T>();
    s.out += R"(,{"type":"null"}]})";
  }
  static void typeScript(SchemaWriter& s) {
    s.out += "(";
    s.write<T>();
    s.out += ") | null";
  }
};

// As a struct field the key may be absent (the struct's block handles
// that); a present key holds a T. Outside a struct an empty one has no JSON
// form.
template <SchemaType T>
struct Schema<Optional<T>> {
  static std::string name() { return Schema<T>::name(); }
  static bool decode(const json::Value& v, Optional<T>& out, DecodeCtx& c) { return decodeValue(v, out.emplace(), c); }
  static bool encode(json::Writer& w, const Optional<T>& v) { return v && encodeValue(w, *v); }
  static void jsonSchema(SchemaWriter& s) { s.write<T>(); }
  static void typeScript(SchemaWriter& s) { s.write<T>(); }
};

template <SchemaType T>
struct Schema<std::vector<T>> {
  static std::string name() { return "array"; }
  static bool decode(const json::Value& v, std::vector<T>& out, DecodeCtx& c) {
    if (!v.IsArray()) return c.fail("array", &v);
    out.clear();
    out.reserve(v.Size());
    for (json::SizeType i = 0; i < v.Size(); ++i) {
      bool ok;
      if constexpr (std::is_same_v<T, bool>) {  // vector<bool> elements are bits
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
  }
  static bool encode(json::Writer& w, const std::vector<T>& v) {
    if (!w.StartArray()) return false;
    for (auto it = v.begin(); it != v.end(); ++it) {  // libc++ yields bit references for bool
      const T& e = *it;
      if (!encodeValue(w, e)) return false;
    }
    return w.EndArray();
  }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"type":"array","items":)";
    s.write<T>();
    s.out += "}";
  }
  static void typeScript(SchemaWriter& s) {
    s.out += "ReadonlyArray<";
    s.write<T>();
    s.out += ">";
  }
};

template <SchemaType T, std::size_t N>
struct Schema<std::array<T, N>> {
  // Longer arrays are typed ReadonlyArray<T> in TypeScript, not as tuples.
  static constexpr std::size_t kMaxTuple = 16;
  static std::string name() { return "array of " + std::to_string(N); }
  static bool decode(const json::Value& v, std::array<T, N>& out, DecodeCtx& c) {
    if (!v.IsArray()) return c.fail(name(), &v);
    if (v.Size() != N) return c.failFound(name(), "array of " + std::to_string(v.Size()));
    for (json::SizeType i = 0; i < N; ++i) {
      if (!decodeValue(v[i], out[i], c)) {
        c.index(i);
        return false;
      }
    }
    return true;
  }
  static bool encode(json::Writer& w, const std::array<T, N>& v) {
    if (!w.StartArray()) return false;
    for (const auto& e : v)
      if (!encodeValue(w, e)) return false;
    return w.EndArray();
  }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"type":"array","items":)";
    s.write<T>();
    s.out += R"(,"minItems":)" + std::to_string(N) + R"(,"maxItems":)" + std::to_string(N) + "}";
  }
  static void typeScript(SchemaWriter& s) {
    if (N > kMaxTuple) {
      s.out += "ReadonlyArray<";
      s.write<T>();
      s.out += ">";
      return;
    }
    s.out += "readonly [";
    for (std::size_t i = 0; i < N; ++i) {
      if (i) s.out += ", ";
      s.write<T>();
    }
    s.out += "]";
  }
};

template <SchemaType T>
struct Schema<std::map<std::string, T>> {
  static std::string name() { return "object"; }
  static bool decode(const json::Value& v, std::map<std::string, T>& out, DecodeCtx& c) {
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
  }
  static bool encode(json::Writer& w, const std::map<std::string, T>& v) {
    if (!w.StartObject()) return false;
    for (const auto& [k, e] : v)
      if (!w.Key(k.data(), static_cast<json::SizeType>(k.size())) || !encodeValue(w, e)) return false;
    return w.EndObject();
  }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"type":"object","additionalProperties":)";
    s.write<T>();
    s.out += "}";
  }
  static void typeScript(SchemaWriter& s) {
    s.out += "Readonly<Record<string, ";
    s.write<T>();
    s.out += ">>";
  }
};

// ---- Structs -------------------------------------------------------------------

template <class T>
struct IsFieldType : std::bool_constant<SchemaType<T>> {};

// A struct declared with ROOMS_STRUCT / ROOMS_TAGGED. Its fields were checked
// at the declaration; a tagged one encodes and requires `"_tag": tag`.
template <class S>
struct Schema<S, std::enable_if_t<std::is_class_v<S> && detail::Declared<S>>> {
  using Members = boost::describe::describe_members<S, boost::describe::mod_public>;
  static constexpr std::size_t size = boost::mp11::mp_size<Members>::value;
  static_assert(size <= 63, "a struct schema holds at most 63 fields");
  static constexpr std::string_view tag = detail::typeInfo<S>().tag;

  template <class F>
  struct IsOptionalKey : std::false_type {};
  template <class F>
  struct IsOptionalKey<Optional<F>> : std::true_type {};

  static std::string name() { return "object"; }

  static bool decode(const json::Value& v, S& out, DecodeCtx& c) {
    if (!v.IsObject()) return c.fail("object", &v);
    std::uint64_t seen = 0;
    bool seenTag = false;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      std::string_view k(m->name.GetString(), m->name.GetStringLength());
      if constexpr (!tag.empty()) {
        if (k == "_tag") {
          if (seenTag) {
            c.key(k);
            return c.failFound("a single \"_tag\" key", "duplicate key");
          }
          seenTag = true;
          if (!m->value.IsString() || std::string_view(m->value.GetString(), m->value.GetStringLength()) != tag) {
            c.key(k);
            c.error.allowedTags = {std::string(tag)};
            return c.fail(detail::quoted(tag), &m->value);
          }
          continue;
        }
      }
      bool found = false, ok = true;
      std::size_t i = 0;
      boost::mp11::mp_for_each<Members>([&](auto d) {
        std::size_t at = i++;
        if (found || k != d.name) return;
        found = true;
        if (seen & (1ull << at)) {
          c.key(k);
          ok = c.failFound("a single \"" + std::string(k) + "\" key", "duplicate key");
          return;
        }
        seen |= 1ull << at;
        if (!decodeValue(m->value, out.*d.pointer, c)) {
          c.key(k);
          ok = false;
        }
      });
      if (!ok) return false;
      if (!found && c.options.extraFields == ExtraFields::Reject) {
        c.key(k);
        return c.failFound("no such key", "unexpected key");
      }
    }
    if constexpr (!tag.empty()) {
      if (!seenTag) {
        c.key("_tag");
        c.error.allowedTags = {std::string(tag)};
        return c.failFound(detail::quoted(tag), "missing");
      }
    }
    bool ok = true;
    std::size_t i = 0;
    boost::mp11::mp_for_each<Members>([&](auto d) {
      std::size_t at = i++;
      if (!ok || (seen & (1ull << at))) return;
      auto& member = out.*d.pointer;
      using F = std::remove_reference_t<decltype(member)>;
      if constexpr (IsOptionalKey<F>::value) {
        member.reset();  // `out` may hold an earlier value; an absent key leaves no trace
      } else {
        c.key(d.name);
        ok = c.fail(schemaTypeName<F>(), nullptr);
      }
    });
    return ok;
  }

  static bool encode(json::Writer& w, const S& v) {
    if (!w.StartObject()) return false;
    if constexpr (!tag.empty()) {
      if (!w.Key("_tag", 4) || !w.String(tag.data(), static_cast<json::SizeType>(tag.size()))) return false;
    }
    bool ok = true;
    boost::mp11::mp_for_each<Members>([&](auto d) {
      if (!ok) return;
      const auto& member = v.*d.pointer;
      using F = std::remove_cvref_t<decltype(member)>;
      if constexpr (IsOptionalKey<F>::value) {
        if (!member) return;  // absent key
      }
      std::string_view k = d.name;
      ok = w.Key(k.data(), static_cast<json::SizeType>(k.size())) && encodeValue(w, member);
    });
    return ok && w.EndObject();
  }

  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"type":"object","properties":{)";
    std::string required;
    auto addRequired = [&](std::string_view k) {
      if (!required.empty()) required += ",";
      detail::appendJsonString(required, k);
    };
    bool first = true;
    if constexpr (!tag.empty()) {
      s.out += R"("_tag":{"const":)";
      s.appendJsonString(tag);
      s.out += "}";
      addRequired("_tag");
      first = false;
    }
    boost::mp11::mp_for_each<Members>([&](auto d) {
      using F = std::remove_cvref_t<decltype(std::declval<S&>().*d.pointer)>;
      if (!first) s.out += ",";
      first = false;
      s.appendJsonString(d.name);
      s.out += ":";
      s.write<F>();
      if constexpr (!IsOptionalKey<F>::value) addRequired(d.name);
    });
    s.out += R"(},"required":[)" + required + "]}";
  }

  static void typeScript(SchemaWriter& s) {
    s.out += "{ ";
    if constexpr (!tag.empty()) {
      s.out += "readonly _tag: ";
      s.appendJsonString(tag);
      s.out += "; ";
    }
    boost::mp11::mp_for_each<Members>([&](auto d) {
      using F = std::remove_cvref_t<decltype(std::declval<S&>().*d.pointer)>;
      s.out += "readonly ";
      s.appendKey(d.name);
      s.out += IsOptionalKey<F>::value ? "?: " : ": ";
      s.write<F>();
      s.out += "; ";
    });
    s.out += "}";
  }
};

// ---- Tagged unions -------------------------------------------------------------

namespace detail {
// Instantiated per union member; the compiler's "In instantiation of
// ...UnionMember<YourType, false>" names a member declared without a tag.
template <class A, bool IsTagged>
struct UnionMember {
  static_assert(IsTagged,
                "rooms: every member of a union (std::variant) must be a struct declared with ROOMS_TAGGED or "
                "ROOMS_TAGGED_AS (it needs a _tag)");
  static constexpr bool ok = true;
};
// The same for a member whose _tag another member has too.
template <class A, bool Unique>
struct UnionTag {
  static_assert(Unique, "rooms: two members of a union (std::variant) have the same _tag");
  static constexpr bool ok = true;
};
template <class A, class... All>
inline constexpr int kTagCount = ((typeInfo<All>().tag == typeInfo<A>().tag ? 1 : 0) + ...);
}  // namespace detail

// The members must be ROOMS_TAGGED structs with distinct tags: both are
// checked here, where the union is first used as a schema.
template <class... A>
struct Schema<std::variant<A...>> {
  static_assert((detail::UnionMember<A, Tagged<A>>::ok && ...));
  static_assert((detail::UnionTag<A, detail::kTagCount<A, A...> == 1>::ok && ...));
  using V = std::variant<A...>;

  static std::string name() { return "object with \"_tag\""; }
  static std::vector<std::string> allowed() { return {std::string(detail::typeInfo<A>().tag)...}; }
  static bool failTag(const json::Value* found, DecodeCtx& c) {
    c.key("_tag");
    c.error.allowedTags = allowed();
    std::string expected;
    for (auto& a : c.error.allowedTags) expected += (expected.empty() ? "" : " | ") + detail::quoted(a);
    return c.fail(expected, found);
  }

  static bool decode(const json::Value& v, V& out, DecodeCtx& c) {
    if (!v.IsObject()) return c.fail(name(), &v);
    auto t = v.FindMember("_tag");
    if (t == v.MemberEnd() || !t->value.IsString()) return failTag(t == v.MemberEnd() ? nullptr : &t->value, c);
    std::string_view tag(t->value.GetString(), t->value.GetStringLength());
    bool matched = false, ok = false;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((!matched && detail::typeInfo<A>().tag == tag
            ? (matched = true, ok = decodeValue(v, out.template emplace<I>(), c))
            : false),
       ...);
    }(std::index_sequence_for<A...>{});
    return matched ? ok : failTag(&t->value, c);
  }
  static bool encode(json::Writer& w, const V& v) {
    return std::visit([&](const auto& alt) { return encodeValue(w, alt); }, v);
  }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"oneOf":[)";
    bool first = true;
    ((s.out += first ? "" : ",", first = false, s.write<A>()), ...);
    s.out += R"(],"discriminator":{"propertyName":"_tag"}})";
  }
  static void typeScript(SchemaWriter& s) {
    bool first = true;
    ((s.out += first ? "" : " | ", first = false, s.write<A>()), ...);
  }
};

}  // namespace rooms
