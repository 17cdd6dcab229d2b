#include "rooms/json.h"

#include <string>

#include <rapidjson/error/en.h>

namespace rooms::json {

namespace {
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
}

Parser::Parser() { reset(); }
Parser::~Parser() {
  doc_.reset();
  stackPool_.reset();
  valuePool_.reset();
}

void Parser::reset() {
  doc_.reset();
  stackPool_.reset();
  valuePool_.reset();
  valuePool_.emplace(valueBuffer_, kValueBufferBytes);
  stackPool_.emplace(stackBuffer_, kStackBufferBytes);
  doc_.emplace(&*valuePool_, kStackBufferBytes / 2, &*stackPool_);
}

std::optional<RoomValidationError> Parser::parse(std::string_view text, std::size_t maxBytes) {
  reset();
  if (text.empty()) return RoomValidationError{"$", "a JSON value", "empty frame", {}};
  if (text.size() > maxBytes) {
    return RoomValidationError{"$", "at most " + std::to_string(maxBytes) + " bytes",
                               std::to_string(text.size()) + " bytes", {}};
  }
  doc_->Parse<kParseFlags>(text.data(), text.size());
  if (doc_->HasParseError()) {
    std::string found = std::string("invalid JSON (") + rapidjson::GetParseError_En(doc_->GetParseError()) +
                        ") at byte " + std::to_string(doc_->GetErrorOffset());
    RoomValidationError e{"$", "valid JSON", std::move(found), {}};
    reset();
    return e;
  }
  return std::nullopt;
}

}  // namespace rooms::json
