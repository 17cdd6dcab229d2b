// Schemas: C++ types that describe JSON values. Each schema type has one
// specialisation of rooms::Schema<T> (schema_types.h) that holds everything
// the library knows about it:
//
//   template <> struct rooms::Schema<T> {
//     static std::string name();                                   // in messages: "string", "int32", ...
//     static bool decode(const json::Value&, T&, DecodeCtx&);      // validate + convert
//     static bool encode(json::Writer&, const T&);                 // false: no JSON form
//     static void jsonSchema(SchemaWriter&);                       // JSON Schema
//     static void typeScript(SchemaWriter&);                       // TypeScript type
//   };
//
// A new schema type, the library's or a user's, is one such block. Structs,
// enums and tagged unions come from declare.h's macros.
//
// Decode policy: unknown keys are dropped (the default of Effect Schema) or,
// with ExtraFields::Reject, refused; a duplicate of a key the schema reads is
// always refused, since JSON parsers disagree on which copy wins.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "rooms/declare.h"
#include "rooms/errors.h"
#include "rooms/json.h"

namespace rooms {

// Undefined for types that are not schema types.
template <class T, class Enable = void>
struct Schema;

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

// True when rooms::Schema<T> is defined.
template <class T>
concept SchemaType = requires(const json::Value& v, T& t, const T& ct, DecodeCtx& c, json::Writer& w) {
  { Schema<T>::decode(v, t, c) } -> std::same_as<bool>;
  { Schema<T>::encode(w, ct) } -> std::same_as<bool>;
};

// A short description of a JSON value for error messages: `number 3`,
// `string "abc"`, `object`, `missing`.
std::string describeValue(const json::Value* v);

template <SchemaType T>
bool decodeValue(const json::Value& v, T& out, DecodeCtx& c) {
  return Schema<T>::decode(v, out, c);
}

// Returns false when the value has no JSON form (NaN, infinities, strings
// that are not UTF-8); the writer's output is then unusable.
template <SchemaType T>
bool encodeValue(json::Writer& w, const T& v) {
  return Schema<T>::encode(w, v);
}

// The name used in messages: "string", "int32", "object", ...
template <SchemaType T>
std::string schemaTypeName() {
  return Schema<T>::name();
}

// ---- JSON Schema and TypeScript --------------------------------------------

// Writes JSON Schema or TypeScript text. Declared types (structs, enums) are
// written once as named definitions and referred to by name, so a nested
// struct is `Item` in TypeScript and `{"$ref":"#/$defs/Item"}` in JSON
// Schema. Recursive types work: a definition is registered before its body
// is written.
class SchemaWriter {
 public:
  enum class Language { JsonSchema, TypeScript };
  explicit SchemaWriter(Language l) : language(l) {}

  const Language language;
  std::string out;

  template <SchemaType T>
  void write() {
    if constexpr (detail::Declared<T>) {
      writeRef(defineName(typeKey<T>(), detail::typeInfo<T>().name, [this] { writeBody<T>(); }));
    } else {
      writeBody<T>();
    }
  }
  // The definitions written so far, in order: {name, text}.
  const std::vector<std::pair<std::string, std::string>>& definitions() const { return defs_; }

  void appendJsonString(std::string_view s);
  // A property name: bare when it is an identifier, quoted otherwise.
  void appendKey(std::string_view k);

 private:
  template <class T>
  void writeBody() {
    if (language == Language::JsonSchema) Schema<T>::jsonSchema(*this);
    else Schema<T>::typeScript(*this);
  }
  // The name of a declared type's definition (made unique if two types share
  // a C++ name); writes the body on first use.
  template <class Body>
  std::string defineName(const void* type, std::string_view base, Body&& body) {
    for (auto& [t, n] : names_)
      if (t == type) return n;
    std::string name(base);
    for (int i = 2; taken(name); ++i) name = std::string(base) + std::to_string(i);
    names_.emplace_back(type, name);
    std::size_t at = defs_.size();
    defs_.emplace_back(name, std::string());
    std::string saved = std::move(out);
    out.clear();
    body();
    defs_[at].second = std::move(out);
    out = std::move(saved);
    return name;
  }
  bool taken(const std::string& name) const;
  void writeRef(const std::string& name);

  template <class T>
  static const void* typeKey() {
    static const char key = 0;
    return &key;
  }

  std::vector<std::pair<const void*, std::string>> names_;
  std::vector<std::pair<std::string, std::string>> defs_;
};

// A standalone JSON Schema of T: its definitions under "$defs".
template <SchemaType T>
std::string jsonSchema() {
  SchemaWriter w(SchemaWriter::Language::JsonSchema);
  w.write<T>();
  if (w.definitions().empty()) return w.out;
  std::string s = R"({"$defs":{)";
  bool first = true;
  for (auto& [name, body] : w.definitions()) {
    if (!first) s += ",";
    first = false;
    s += "\"" + name + "\":" + body;
  }
  s += "},";
  // w.out is an object ({"$ref":...} or an inline schema): merge into it.
  s.append(w.out, 1, std::string::npos);
  return s;
}

// The TypeScript type of T, with named types inlined by name only (for
// tests and messages); Registry::typeScript() writes the definitions.
template <SchemaType T>
std::string typeScript() {
  SchemaWriter w(SchemaWriter::Language::TypeScript);
  w.write<T>();
  return w.out;
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
  explicit Decoder(CodecLimits limits = {}, DecodeOptions options = {}) : limits_(limits), options_(options) {}

  template <SchemaType T>
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
  template <SchemaType T>
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
template <SchemaType T>
std::optional<std::string> encodeToString(const T& v) {
  Encoder e;
  auto s = e.encode(v);
  if (!s) return std::nullopt;
  return std::string(*s);
}

}  // namespace rooms

#include "rooms/schema_types.h"
