#include "rooms/json.h"

#include <cstring>
#include <string>

#include <rapidjson/error/en.h>

namespace rooms::json {

namespace {
// Full precision: the default algorithm is off by an ulp or two for about one
// double in seven (0.9936527282127801 among them), so values would drift on
// every save and load.
constexpr unsigned kParseAsciiFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag;
// Text with bytes ≥ 0x80 is validated as UTF-8 while parsing; pure ASCII
// cannot be invalid UTF-8 and skips that per-character work.
constexpr unsigned kParseFlags = kParseAsciiFlags | rapidjson::kParseValidateEncodingFlag;

bool isAscii(std::string_view t) {
  unsigned char any = 0;
  for (unsigned char ch : t) any |= ch;
  return any < 0x80;
}

// Two gaps in RapidJSON 1.1.0, checked on text it has accepted (so every
// backslash is inside a string and every \u has four hex digits). Returns the
// byte offset of the problem and its description, or npos.
//  - A NUL byte reads as the end of the stream: `1\0garbage` parses as `1`.
//    A raw NUL is never valid JSON, so any NUL is the problem.
//  - A high surrogate escape without its low half is refused, but a lone low
//    one (\uDC00-\uDFFF) is decoded into invalid UTF-8.
std::size_t findInvalid(std::string_view t, const char** what) {
  if (const void* nul = std::memchr(t.data(), '\0', t.size())) {
    *what = "NUL byte";
    return static_cast<std::size_t>(static_cast<const char*>(nul) - t.data());
  }
  std::size_t afterHigh = std::string_view::npos;  // end of the last high surrogate escape
  for (std::size_t i = t.find('\\'); i != std::string_view::npos; i = t.find('\\', i)) {
    if (t[i + 1] != 'u') {
      i += 2;
      continue;
    }
    unsigned cp = 0;
    for (std::size_t j = i + 2; j < i + 6; ++j) {
      char ch = t[j];
      cp = cp * 16 + static_cast<unsigned>(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF && afterHigh != i) {
      *what = "lone surrogate escape";
      return i;
    }
    afterHigh = cp >= 0xD800 && cp <= 0xDBFF ? i + 6 : std::string_view::npos;
    i += 6;
  }
  return std::string_view::npos;
}
}  // namespace

Parser::Parser() : buffer_(new std::uint64_t[(kValueBufferBytes + kStackBufferBytes) / 8]) { reset(); }
Parser::~Parser() {
  doc_.reset();
  stackPool_.reset();
  valuePool_.reset();
}

void Parser::reset() {
  doc_.reset();
  stackPool_.reset();
  valuePool_.reset();
  char* block = reinterpret_cast<char*>(buffer_.get());
  valuePool_.emplace(block, kValueBufferBytes);
  stackPool_.emplace(block + kValueBufferBytes, kStackBufferBytes);
  doc_.emplace(&*valuePool_, kStackBufferBytes / 2, &*stackPool_);
}

std::optional<RoomValidationError> Parser::parse(std::string_view text, std::size_t maxBytes) {
  reset();
  if (text.empty()) return RoomValidationError{"$", "a JSON value", "empty frame", {}};
  if (text.size() > maxBytes) {
    return RoomValidationError{"$", "at most " + std::to_string(maxBytes) + " bytes",
                               std::to_string(text.size()) + " bytes", {}};
  }
  // RFC 8259 lets a parser ignore a byte-order mark or refuse it; every
  // transport here (frames, direct sends, the example's HTTP route) refuses it.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return RoomValidationError{"$", "a JSON value", "a byte-order mark (U+FEFF) at byte 0", {}};
  }
  if (isAscii(text)) doc_->Parse<kParseAsciiFlags>(text.data(), text.size());
  else doc_->Parse<kParseFlags>(text.data(), text.size());
  if (doc_->HasParseError()) {
    std::string found = std::string("invalid JSON (") + rapidjson::GetParseError_En(doc_->GetParseError()) +
                        ") at byte " + std::to_string(doc_->GetErrorOffset());
    RoomValidationError e{"$", "valid JSON", std::move(found), {}};
    reset();
    return e;
  }
  const char* what = nullptr;
  if (std::size_t at = findInvalid(text, &what); at != std::string_view::npos) {
    reset();
    std::string found = std::string("invalid JSON (") + what + ") at byte " + std::to_string(at);
    return RoomValidationError{"$", "valid JSON", std::move(found), {}};
  }
  return std::nullopt;
}

}  // namespace rooms::json

namespace rooms::json {

bool Writer::String(const char* s, SizeType n) {
  if (!plain(s, n)) return Base::String(s, n);
  Prefix(rapidjson::kStringType);
  char* out = os_->Push(n + 2);
  out[0] = '"';
  std::memcpy(out + 1, s, n);
  out[n + 1] = '"';
  return EndValue(true);
}

namespace {
// 1 for the bytes a JSON string may hold unescaped and that are UTF-8 by
// themselves: printable ASCII but '"' and '\\'.
constexpr auto kPlain = [] {
  struct Table {
    unsigned char v[256]{};
  } t;
  for (int c = 0x20; c < 0x80; ++c) t.v[c] = c != '"' && c != '\\';
  return t;
}();
}  // namespace

bool Writer::plain(const char* s, SizeType n) {
  unsigned char all = 1;
  for (SizeType i = 0; i < n; ++i) all &= kPlain.v[static_cast<unsigned char>(s[i])];
  return all != 0;
}

}  // namespace rooms::json
