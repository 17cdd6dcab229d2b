#include "rooms/schema.h"

#include <cstdio>

namespace rooms {

namespace detail {
void appendJsonString(std::string& out, std::string_view s) {
  json::Buffer b;
  json::Writer w(b);
  w.String(s.data(), static_cast<json::SizeType>(s.size()));
  out.append(b.GetString(), b.GetSize());
}
}  // namespace detail

std::string detail::quoted(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

static bool isIdentifier(std::string_view k);

void SchemaWriter::appendJsonString(std::string_view s) { detail::appendJsonString(out, s); }

void SchemaWriter::appendKey(std::string_view k) {
  if (isIdentifier(k)) out += k;
  else detail::appendJsonString(out, k);
}

bool SchemaWriter::taken(const std::string& name) const {
  for (auto& [t, n] : names_)
    if (n == name) return true;
  return false;
}

void SchemaWriter::writeRef(const std::string& name) {
  if (language == Language::TypeScript) out += name;
  else out += R"({"$ref":"#/$defs/)" + name + R"("})";
}

std::string describeValue(const json::Value* v) {
  if (!v) return "missing";
  switch (v->GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType: return "boolean false";
    case rapidjson::kTrueType: return "boolean true";
    case rapidjson::kObjectType: return "object";
    case rapidjson::kArrayType: return "array";
    case rapidjson::kStringType: {
      std::string_view s(v->GetString(), v->GetStringLength());
      std::string out = "string ";
      if (s.size() > 40) {
        // Cut on a UTF-8 boundary so the message itself stays valid UTF-8.
        std::size_t cut = 40;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
        detail::appendJsonString(out, s.substr(0, cut));
        out += "…";
      } else {
        detail::appendJsonString(out, s);
      }
      return out;
    }
    case rapidjson::kNumberType: {
      // RapidJSON's own number text (shortest round trip): no printf in the module.
      if (v->IsInt64()) return "number " + std::to_string(v->GetInt64());
      if (v->IsUint64()) return "number " + std::to_string(v->GetUint64());
      json::Buffer buf;
      json::Writer w(buf);
      w.Double(v->GetDouble());
      return "number " + std::string(buf.GetString(), buf.GetSize());
    }
  }
  return "value";
}

bool DecodeCtx::fail(std::string expected, const json::Value* found) {
  return failFound(std::move(expected), describeValue(found));
}

bool DecodeCtx::failFound(std::string expected, std::string found) {
  error.expected = std::move(expected);
  error.found = std::move(found);
  return false;
}

static bool isIdentifier(std::string_view k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  for (char ch : k) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '$';
    if (!ok) return false;
  }
  return true;
}

void DecodeCtx::key(std::string_view k) {
  if (isIdentifier(k)) {
    reversedPath_.push_back("." + std::string(k));
  } else {
    std::string seg = "[";
    detail::appendJsonString(seg, k);
    reversedPath_.push_back(seg + "]");
  }
}

void DecodeCtx::index(std::size_t i) { reversedPath_.push_back("[" + std::to_string(i) + "]"); }

RoomValidationError DecodeCtx::take() {
  error.path = "$";
  for (auto it = reversedPath_.rbegin(); it != reversedPath_.rend(); ++it) error.path += *it;
  reversedPath_.clear();
  return std::move(error);
}

}  // namespace rooms
