#include "rooms/errors.h"

#include "rooms/json.h"

namespace rooms {

std::string describe(const RoomValidationError& e) {
  return "at " + e.path + ": expected " + e.expected + ", found " + e.found;
}

std::string describe(const Error& e) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, RoomValidationError>) return describe(v);
        else if constexpr (std::is_same_v<T, SendError>) return "connection " + v.connectionId + ": " + v.message;
        else if constexpr (std::is_same_v<T, BroadcastError>) {
          std::string s = std::to_string(v.failures.size()) + " recipient(s) could not be reached";
          for (auto& f : v.failures) s += "; " + f.connectionId + ": " + f.message;
          return s;
        } else if constexpr (std::is_same_v<T, AttachmentTooLargeError>)
          return "encoded connection state is " + std::to_string(v.size) + " bytes; the limit is " +
                 std::to_string(v.limit) + " bytes";
        else if constexpr (std::is_same_v<T, RoomExecutionError>) return v.phase + " failed: " + v.cause;
        else if constexpr (std::is_same_v<T, RoomNotFoundError>) return "no room type named \"" + v.name + "\"";
        else if constexpr (std::is_same_v<T, PurgeSignal>) return "room purged";
        else if constexpr (std::is_same_v<T, SystemFailure>)
          return "alarm retry " + std::to_string(v.retryCount) + " after: " + v.cause;
        else return v.message;
      },
      e);
}

namespace {
void str(json::Writer& w, std::string_view k, std::string_view v) {
  w.Key(k.data(), static_cast<json::SizeType>(k.size()));
  w.String(v.data(), static_cast<json::SizeType>(v.size()));
}
void num(json::Writer& w, std::string_view k, double v) {
  w.Key(k.data(), static_cast<json::SizeType>(k.size()));
  w.Double(v);
}
}  // namespace

std::string errorToJson(const Error& e) {
  json::Buffer b;
  json::Writer w(b);
  w.StartObject();
  str(w, "_tag", tagOf(e));
  str(w, "message", describe(e));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, RoomValidationError>) {
          str(w, "path", v.path);
          str(w, "expected", v.expected);
          str(w, "found", v.found);
          if (!v.allowedTags.empty()) {
            w.Key("allowedTags");
            w.StartArray();
            for (auto& t : v.allowedTags) w.String(t.data(), static_cast<json::SizeType>(t.size()));
            w.EndArray();
          }
        } else if constexpr (std::is_same_v<T, UpgradeError>) {
          num(w, "status", v.status);
        } else if constexpr (std::is_same_v<T, SendError>) {
          str(w, "connectionId", v.connectionId);
        } else if constexpr (std::is_same_v<T, BroadcastError>) {
          w.Key("failures");
          w.StartArray();
          for (auto& f : v.failures) {
            w.StartObject();
            str(w, "connectionId", f.connectionId);
            str(w, "message", f.message);
            w.EndObject();
          }
          w.EndArray();
        } else if constexpr (std::is_same_v<T, AttachmentTooLargeError>) {
          num(w, "size", static_cast<double>(v.size));
          num(w, "limit", static_cast<double>(v.limit));
        } else if constexpr (std::is_same_v<T, RoomExecutionError>) {
          str(w, "phase", v.phase);
          str(w, "cause", v.cause);
        } else if constexpr (std::is_same_v<T, RoomNotFoundError>) {
          str(w, "room", v.name);  // not "name": JS errors own that property
        } else if constexpr (std::is_same_v<T, SystemFailure>) {
          num(w, "retryCount", v.retryCount);
          str(w, "cause", v.cause);
        }
      },
      e);
  w.EndObject();
  return std::string(b.GetString(), b.GetSize());
}

Error errorFromJson(std::string_view tag, std::string_view text) {
  json::Parser p;
  std::string message(text);
  std::string name;
  if (!p.parse(text, text.size() + 1) && p.root().IsObject()) {
    auto& v = p.root();
    if (auto m = v.FindMember("message"); m != v.MemberEnd() && m->value.IsString()) message = m->value.GetString();
    if (auto m = v.FindMember("room"); m != v.MemberEnd() && m->value.IsString()) name = m->value.GetString();
  }
  if (tag == RoomNotFoundError::tag) return RoomNotFoundError{name};
  if (tag == RoomExecutionError::tag) return RoomExecutionError{"sibling", message};
  if (tag == RoomValidationError::tag) return RoomValidationError{"$", "a value the sibling accepts", message, {}};
  return RoomError{std::string(tag.empty() ? "RoomError" : tag) + ": " + message};
}

bool isValidCloseCode(std::uint32_t code) {
  return code == 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace rooms
