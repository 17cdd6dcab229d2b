// The one place that names RapidJSON. Everything else speaks json::Value,
// json::Writer and json::Parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "rooms/errors.h"

namespace rooms::json {

using SizeType = rapidjson::SizeType;
using Pool = rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool>;
using Value = Document::ValueType;
using Buffer = rapidjson::StringBuffer;

// RapidJSON's writer, refusing invalid UTF-8 and NaN/Infinity instead of
// emitting bad JSON. Strings of printable ASCII without quotes or
// backslashes (most keys and chat text) are copied in one block; the others
// go through RapidJSON's escaping and UTF-8 validation, one character at a
// time.
class Writer : public rapidjson::Writer<Buffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                                        rapidjson::kWriteValidateEncodingFlag> {
  using Base = rapidjson::Writer<Buffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                                 rapidjson::kWriteValidateEncodingFlag>;

 public:
  explicit Writer(Buffer& b) : Base(b) {}
  bool String(const char* s, SizeType n);
  bool String(const char* s) { return String(s, static_cast<SizeType>(std::strlen(s))); }
  bool Key(const char* s, SizeType n) { return String(s, n); }
  bool Key(const char* s) { return String(s); }
  // The SAX handler signatures (Value::Accept).
  bool String(const char* s, SizeType n, bool) { return String(s, n); }
  bool Key(const char* s, SizeType n, bool) { return String(s, n); }

 private:
  static bool plain(const char* s, SizeType n);
};

// Parses UTF-8 JSON text into a DOM whose nodes live in pools the parser
// reuses; a frame whose DOM fits the inline buffers allocates nothing. The
// parse is iterative (no recursion, so any nesting depth is safe), validates
// UTF-8 (lone surrogate escapes included), and refuses trailing content and
// numbers beyond double range. The DOM is valid until the next parse.
class Parser {
 public:
  Parser();
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // `maxBytes` bounds the text length; longer text is refused unparsed.
  std::optional<RoomValidationError> parse(std::string_view text, std::size_t maxBytes);
  const Value& root() const { return *doc_; }

 private:
  void reset();

  // One heap block, allocated once per parser, holds both pools' first
  // chunks (not inline: a parser on a small Wasm stack must stay small).
  static constexpr std::size_t kValueBufferBytes = 16 * 1024;
  static constexpr std::size_t kStackBufferBytes = 4 * 1024;
  std::unique_ptr<std::uint64_t[]> buffer_;
  std::optional<Pool> valuePool_;
  std::optional<Pool> stackPool_;
  std::optional<Document> doc_;
};

}  // namespace rooms::json
