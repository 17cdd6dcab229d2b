// The schema layer: decode (JSON text → validated value), encode, JSON Schema
// and TypeScript output, for every schema type, for the chat example's
// schemas, and for hostile input (bad JSON, bad UTF-8, deep nesting, limits).
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "app.h"
#include "chat/chat.h"
#include "probe/probe.h"
#include "rooms/rooms.h"
#include "rooms/schema.h"
#include "rooms/testing.h"
#include "support/support.h"

namespace {

using namespace std::string_literals;
using rooms::Decoder;
using rooms::RoomValidationError;

// ---- Test schemas ------------------------------------------------------------

struct Item {
  std::string name;
  std::int32_t qty = 0;
};
ROOMS_STRUCT(Item, name, qty)

struct Shelf {
  std::vector<Item> items;
};
ROOMS_STRUCT(Shelf, items)

// Every kind of field: literal, record of structs of arrays of structs,
// nullable, optional key. (It also had a key that is not an identifier,
// "weird key"; field names are the JSON keys now, so that key is the
// hand-written Schema of Labelled below.)
struct Store {
  rooms::Literal<"v1"> version;
  std::map<std::string, Shelf> shelves;
  std::optional<std::string> note;
  rooms::Optional<double> discount;
  std::string label;
};
ROOMS_STRUCT(Store, version, shelves, note, discount, label)

struct Circle {
  double r = 0;
};
ROOMS_TAGGED(Circle, r)
struct Rect {
  double w = 0, h = 0;
};
ROOMS_TAGGED(Rect, w, h)
struct Blank {};
ROOMS_TAGGED(Blank)
using Shape = std::variant<Circle, Rect, Blank>;

struct Drawing {
  std::map<std::string, std::vector<Shape>> layers;
};
ROOMS_STRUCT(Drawing, layers)

// The scalar odds and ends, and an optional key whose value is nullable: three
// states (absent, null, a number).
struct Misc {
  bool on = false;
  rooms::Null nothing;
  rooms::Optional<std::optional<double>> maybe;
};
ROOMS_STRUCT(Misc, on, nothing, maybe)

struct Note {
  std::optional<std::string> note;
};
ROOMS_STRUCT(Note, note)

// A struct whose JSON key is not a C++ identifier. ROOMS_STRUCT keys are the
// member names, so it is a rooms::Schema written by hand (after this
// namespace).
struct Labelled {
  std::string label;
  bool operator==(const Labelled&) const = default;
};

// A user's own schema type: a point on the wire as [x, y].
struct Point {
  double x = 0, y = 0;
  bool operator==(const Point&) const = default;
};

// The newer schema types, as fields.
enum class Role { X, O, spectator };
ROOMS_ENUM(Role, X, O, spectator)
using Mark = rooms::OneOf<"X", "O", "spectator">;


// A recursive struct.
struct Tree {
  std::string label;
  std::vector<Tree> children;
};
ROOMS_STRUCT(Tree, label, children)

}  // namespace

// Two declared types with the same C++ name (in different namespaces).
namespace other {
struct Item {
  bool ok = false;
};
ROOMS_STRUCT(Item, ok)
}  // namespace other

namespace {
struct Both {
  Item mine;
  other::Item theirs;
};
ROOMS_STRUCT(Both, mine, theirs)
}  // namespace

template <>
struct rooms::Schema<Labelled> {
  static constexpr std::string_view kKey = "weird key";
  static std::string name() { return "object"; }
  static bool decode(const json::Value& v, Labelled& out, DecodeCtx& c) {
    if (!v.IsObject()) return c.fail("object", &v);
    if (!v.HasMember("weird key")) {
      c.key(kKey);
      return c.fail(schemaTypeName<std::string>(), nullptr);
    }
    if (!decodeValue(v["weird key"], out.label, c)) {
      c.key(kKey);
      return false;
    }
    return true;
  }
  static bool encode(json::Writer& w, const Labelled& v) {
    return w.StartObject() && w.Key(kKey.data(), static_cast<json::SizeType>(kKey.size())) &&
           encodeValue(w, v.label) && w.EndObject();
  }
  static void jsonSchema(SchemaWriter& s) {
    s.out += R"({"type":"object","properties":{)";
    s.appendJsonString(kKey);
    s.out += ":";
    s.write<std::string>();
    s.out += R"(},"required":[)";
    s.appendJsonString(kKey);
    s.out += "]}";
  }
  static void typeScript(SchemaWriter& s) {
    s.out += "{ readonly ";
    s.appendKey(kKey);
    s.out += ": ";
    s.write<std::string>();
    s.out += "; }";
  }
};

template <>
struct rooms::Schema<Point> {
  static std::string name() { return "point [x, y]"; }
  static bool decode(const json::Value& v, Point& out, DecodeCtx& c) {
    std::array<double, 2> xy{};
    if (!Schema<std::array<double, 2>>::decode(v, xy, c)) return false;
    out = {xy[0], xy[1]};
    return true;
  }
  static bool encode(json::Writer& w, const Point& p) { return encodeValue(w, std::array<double, 2>{p.x, p.y}); }
  static void jsonSchema(SchemaWriter& s) { s.write<std::array<double, 2>>(); }
  static void typeScript(SchemaWriter& s) { s.out += "readonly [x: number, y: number]"; }
};

namespace {

// Every newer schema type as a field; declared after Point's Schema, which it uses.
struct Seat {
  Role role = Role::spectator;
  Mark mark;
  std::array<std::int32_t, 2> cell{};
  rooms::Timestamp since;
  rooms::Optional<std::string> nick;
  Point at;
};
ROOMS_STRUCT(Seat, role, mark, cell, since, nick, at)

// ---- Helpers -----------------------------------------------------------------

template <class T> struct IsVariant : std::false_type {};
template <class... A> struct IsVariant<std::variant<A...>> : std::true_type {};
template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type {};
template <class T, std::size_t N> struct IsVector<std::array<T, N>> : std::true_type {};
template <class T> struct IsOptional : std::false_type {};
template <class T> struct IsOptional<std::optional<T>> : std::true_type {};
template <class T> struct IsOptional<rooms::Optional<T>> : std::true_type {};
template <class T> struct IsMap : std::false_type {};
template <class T> struct IsMap<std::map<std::string, T>> : std::true_type {};

// Structural equality driven by the declared fields, so the chat structs
// (which have no operator==) can be compared too.
template <class T>
bool same(const T& a, const T& b) {
  if constexpr (boost::describe::has_describe_members<T>::value) {
    bool eq = true;
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>(
        [&](auto d) { eq = eq && same(a.*d.pointer, b.*d.pointer); });
    return eq;
  } else if constexpr (IsVariant<T>::value) {
    return std::visit(
        [](const auto& x, const auto& y) {
          if constexpr (std::is_same_v<decltype(x), decltype(y)>) return same(x, y);
          else return false;
        },
        a, b);
  } else if constexpr (IsOptional<T>::value) {
    return a.has_value() == b.has_value() && (!a || same(*a, *b));
  } else if constexpr (IsVector<T>::value || IsMap<T>::value) {
    if (a.size() != b.size()) return false;
    auto i = a.begin();
    for (auto j = b.begin(); j != b.end(); ++i, ++j)
      if constexpr (IsMap<T>::value) {
        if (i->first != j->first || !same(i->second, j->second)) return false;
      } else {
        if (!same(*i, *j)) return false;
      }
    return true;
  } else {
    return a == b;
  }
}

// Decodes `text` as a T that must be accepted; a refusal fails the check.
template <class T>
T decoded(std::string_view text, Decoder& d) {
  T v{};
  auto err = d.decode(text, v);
  if (err) FAIL_CHECK("refused " << text << ": " << rooms::describe(*err));
  return v;
}
template <class T>
T decoded(std::string_view text) {
  Decoder d;
  return decoded<T>(text, d);
}

// Decodes `text` as a T that must be refused and returns the error (one that
// matches nothing when it was accepted).
template <class T>
RoomValidationError refusal(std::string_view text, Decoder& d) {
  T v{};
  auto err = d.decode(text, v);
  if (!err) {
    FAIL_CHECK("accepted " << text);
    return {"(accepted)", "(accepted)", "(accepted)", {"(accepted)"}};
  }
  return *err;
}
template <class T>
RoomValidationError refusal(std::string_view text) {
  Decoder d;
  return refusal<T>(text, d);
}

// "at <path>: expected <expected>, found <found>": all three in one string,
// so a failed CHECK shows the whole error.
template <class T>
std::string why(std::string_view text) {
  return rooms::describe(refusal<T>(text));
}

// Input the parser must refuse: the error is at `$`, names JSON, and the
// decoder stays usable.
template <class T>
void checkMalformed(std::string_view text) {
  CAPTURE(text);
  Decoder d;
  auto e = refusal<T>(text, d);
  CHECK(e.path == "$");
  CHECK(e.expected == "valid JSON");
  CHECK(e.found.rfind("invalid JSON (", 0) == 0);
  CHECK(e.allowedTags.empty());
  CHECK(decoded<std::vector<double>>("[1,2]", d) == std::vector<double>{1, 2});
}

template <class T>
std::string encoded(const T& v) {
  auto s = rooms::encodeToString(v);
  if (!s) FAIL_CHECK("encode refused the value");
  return s.value_or("(refused)");
}

// decode(encode(v)) == v; returns the encoded text.
template <class T>
std::string roundTrip(const T& v) {
  std::string text = encoded(v);
  CAPTURE(text);
  CHECK(same(decoded<T>(text), v));
  return text;
}

std::string toJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  v.Accept(w);
  return b.GetString();
}

// A JSON string's text, or any other value serialized.
std::string text(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : toJson(v);
}

rapidjson::Document parsed(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  if (d.HasParseError()) FAIL("not JSON: " << json);
  return d;
}

// Deep equality with `expected` (object key order does not matter).
void checkJson(const rapidjson::Value& actual, std::string_view expected) {
  rapidjson::Document e = parsed(std::string(expected));
  CHECK_MESSAGE(actual == e, "actual:   " << toJson(actual) << "\nexpected: " << expected);
}

// Replaces every {"$ref":"#/$defs/Name"} in v by a copy of that definition.
void inlineRefs(rapidjson::Value& v, const rapidjson::Value& defs, rapidjson::Document::AllocatorType& a,
                int depth = 0) {
  REQUIRE_MESSAGE(depth < 64, "a recursive type cannot be inlined");
  if (v.IsObject()) {
    if (v.HasMember("$ref")) {
      REQUIRE(v.MemberCount() == 1);
      std::string target = text(v["$ref"]);
      REQUIRE(target.rfind("#/$defs/", 0) == 0);
      std::string name = target.substr(8);
      REQUIRE_MESSAGE(defs.HasMember(name.c_str()), "no definition " << name);
      v.CopyFrom(defs[name.c_str()], a);
      inlineRefs(v, defs, a, depth + 1);
      return;
    }
    for (rapidjson::SizeType i = 0; i < v.MemberCount(); ++i) inlineRefs((v.MemberBegin() + i)->value, defs, a, depth);
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) inlineRefs(e, defs, a, depth);
  }
}

// The JSON Schema of T as jsonSchema<T>() writes it: named types under
// "$defs", referred to by "$ref".
template <class T>
rapidjson::Document rawSchemaOf() {
  return parsed(rooms::jsonSchema<T>());
}

// The same with every "$ref" replaced by its definition (for non-recursive
// types), so a test can look at the whole shape in one place.
template <class T>
rapidjson::Document schemaOf() {
  rapidjson::Document d = parsed(rooms::jsonSchema<T>());
  if (!d.IsObject() || !d.HasMember("$defs")) return d;
  rapidjson::Document defs;
  defs.CopyFrom(d["$defs"], defs.GetAllocator());
  d.RemoveMember("$defs");
  inlineRefs(d, defs, d.GetAllocator());
  return d;
}

using Defs = std::vector<std::pair<std::string, std::string>>;

// The TypeScript definitions written for T, in order: {name, type}.
template <class T>
Defs tsDefs() {
  rooms::SchemaWriter w(rooms::SchemaWriter::Language::TypeScript);
  w.write<T>();
  return w.definitions();
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

// ---- Scalars -----------------------------------------------------------------

TEST_CASE("schema: string") {
  CHECK(decoded<std::string>(R"("hi")") == "hi");
  CHECK(decoded<std::string>(R"("")") == "");
  CHECK(decoded<std::string>(R"("a\"b\\c\n\t\/")") == "a\"b\\c\n\t/");
  CHECK(decoded<std::string>(R"("\u00e9")") == "\xc3\xa9");
  CHECK(decoded<std::string>("\"\xc3\xa9\"") == "\xc3\xa9");
  CHECK(decoded<std::string>(R"("\ud83d\ude00")") == "\xf0\x9f\x98\x80");
  CHECK(decoded<std::string>(R"("a\u0000b")") == std::string("a\0b", 3));

  CHECK(why<std::string>("3") == "at $: expected string, found number 3");
  CHECK(why<std::string>("null") == "at $: expected string, found null");
  CHECK(why<std::string>("true") == "at $: expected string, found boolean true");
  CHECK(why<std::string>("{}") == "at $: expected string, found object");
  CHECK(why<std::string>("[]") == "at $: expected string, found array");

  CHECK(roundTrip("quote\" slash\\ nl\n nul\0 \xf0\x9f\x98\x80"s) ==
        "\"quote\\\" slash\\\\ nl\\n nul\\u0000 \xf0\x9f\x98\x80\""s);
  CHECK(encoded(std::string("a\"b")) == R"("a\"b")");
}

TEST_CASE("schema: double") {
  CHECK(decoded<double>("1.5") == 1.5);
  CHECK(decoded<double>("3") == 3.0);
  CHECK(decoded<double>("-2e3") == -2000.0);
  CHECK(decoded<double>("1e-400") == 0.0);  // underflows to 0, as in JS
  CHECK(std::signbit(decoded<double>("-0.0")));
  CHECK(why<double>(R"("1")") == R"(at $: expected number, found string "1")");
  CHECK(why<double>("null") == "at $: expected number, found null");

  SUBCASE("round trips exactly") {
    // 0.9936527282127801 and 96510.95041539271 came back an ulp off before
    // the parser used full precision.
    for (double v : {0.1, 1.0 / 3, 0.9936527282127801, 96510.95041539271, 1.3927926388013963e-143, 5e-324,
                     std::numeric_limits<double>::max(), -std::numeric_limits<double>::max(),
                     std::numeric_limits<double>::min(), 1700000000123.0, -0.0}) {
      CAPTURE(v);
      std::string text = encoded(v);
      double back = decoded<double>(text);
      CHECK(back == v);
      CHECK(std::signbit(back) == std::signbit(v));
    }
    // A spread of values from an LCG over [0, 1).
    std::uint64_t x = 12345;
    int mismatches = 0;
    for (int i = 0; i < 20000; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      double v = static_cast<double>(x >> 11) / 9007199254740992.0;
      if (decoded<double>(encoded(v)) != v) ++mismatches;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("schema: integers are integral and in range") {
  SUBCASE("int32") {
    CHECK(decoded<std::int32_t>("2147483647") == 2147483647);
    CHECK(decoded<std::int32_t>("-2147483648") == std::numeric_limits<std::int32_t>::min());
    CHECK(decoded<std::int32_t>("1.0") == 1);
    CHECK(decoded<std::int32_t>("1e2") == 100);
    CHECK(decoded<std::int32_t>("-0") == 0);
    CHECK(why<std::int32_t>("2147483648") == "at $: expected int32, found number 2147483648");
    CHECK(why<std::int32_t>("-2147483649") == "at $: expected int32, found number -2147483649");
    CHECK(why<std::int32_t>("1.5") == "at $: expected int32, found number 1.5");
    CHECK(why<std::int32_t>(R"("7")") == R"(at $: expected int32, found string "7")");
    CHECK(encoded(std::numeric_limits<std::int32_t>::min()) == "-2147483648");
  }
  SUBCASE("int64 stops at the safe-integer bound 2^53-1") {
    CHECK(decoded<std::int64_t>("9007199254740991") == 9007199254740991);
    CHECK(decoded<std::int64_t>("-9007199254740991") == -9007199254740991);
    CHECK(why<std::int64_t>("9007199254740992") == "at $: expected safe integer, found number 9007199254740992");
    CHECK(why<std::int64_t>("-9007199254740992") == "at $: expected safe integer, found number -9007199254740992");
    CHECK(why<std::int64_t>("9223372036854775807").find("expected safe integer") != std::string::npos);
    CHECK(why<std::int64_t>("1e300").find("expected safe integer") != std::string::npos);
    CHECK(why<std::int64_t>("0.5") == "at $: expected safe integer, found number 0.5");

    CHECK(encoded(std::int64_t{9007199254740991}) == "9007199254740991");
    CHECK(encoded(std::int64_t{-9007199254740991}) == "-9007199254740991");
    CHECK_FALSE(rooms::encodeToString(std::int64_t{9007199254740992}));
    CHECK_FALSE(rooms::encodeToString(std::int64_t{-9007199254740992}));
    CHECK_FALSE(rooms::encodeToString(std::numeric_limits<std::int64_t>::max()));
  }
  SUBCASE("uint32") {
    CHECK(decoded<std::uint32_t>("0") == 0u);
    CHECK(decoded<std::uint32_t>("4294967295") == 4294967295u);
    CHECK(why<std::uint32_t>("-1") == "at $: expected uint32, found number -1");
    CHECK(why<std::uint32_t>("4294967296") == "at $: expected uint32, found number 4294967296");
    CHECK(encoded(std::uint32_t{4294967295u}) == "4294967295");
  }
}

TEST_CASE("schema: bool, Null and Literal") {
  CHECK(decoded<bool>("true"));
  CHECK_FALSE(decoded<bool>("false"));
  CHECK(why<bool>("0") == "at $: expected boolean, found number 0");
  CHECK(why<bool>(R"("true")") == R"(at $: expected boolean, found string "true")");
  CHECK(encoded(true) == "true");

  CHECK(decoded<rooms::Null>("null") == rooms::Null{});
  CHECK(why<rooms::Null>("0") == "at $: expected null, found number 0");
  CHECK(why<rooms::Null>("{}") == "at $: expected null, found object");
  CHECK(encoded(rooms::Null{}) == "null");

  using V1 = rooms::Literal<"v1">;
  CHECK(decoded<V1>(R"("v1")") == V1{});
  CHECK(why<V1>(R"("v2")") == R"(at $: expected "v1", found string "v2")");
  CHECK(why<V1>(R"("V1")") == R"(at $: expected "v1", found string "V1")");
  CHECK(why<V1>("1") == R"(at $: expected "v1", found number 1)");
  CHECK(encoded(V1{}) == R"("v1")");
}

TEST_CASE("schema: a long string in an error is cut on a UTF-8 boundary") {
  std::string found = refusal<double>("\"" + std::string(39, 'a') + "\xc3\xa9" + "tail\"").found;
  CHECK(found == "string \"" + std::string(39, 'a') + "\"\xe2\x80\xa6");  // "…"
  CHECK(refusal<double>("\"" + std::string(60, 'b') + "\"").found ==
        "string \"" + std::string(40, 'b') + "\"\xe2\x80\xa6");
}

// ---- Nullable and optional -----------------------------------------------------

TEST_CASE("schema: std::optional is nullable, its key required") {
  CHECK(decoded<Note>(R"({"note":null})").note == std::nullopt);
  CHECK(decoded<Note>(R"({"note":"x"})").note == "x");
  CHECK(why<Note>("{}") == "at $.note: expected string or null, found missing");
  CHECK(why<Note>(R"({"note":3})") == "at $.note: expected string, found number 3");

  CHECK(encoded(Note{}) == R"({"note":null})");
  CHECK(roundTrip(Note{"x"}) == R"({"note":"x"})");
  CHECK(encoded(std::optional<double>{}) == "null");
  CHECK(decoded<std::optional<double>>("2") == 2.0);
}

TEST_CASE("schema: a rooms::Optional field may be absent and is omitted when empty") {
  const std::string base = R"({"version":"v1","shelves":{},"note":null,"label":"w")";
  CHECK(decoded<Store>(base + "}").discount == std::nullopt);
  CHECK(decoded<Store>(base + R"(,"discount":0.25})").discount == 0.25);
  Store s;
  s.label = "w";
  CHECK(encoded(s) == base + "}");
  // `s.discount = 0.5` is ambiguous for an Optional of a scalar (see the report); emplace is not.
  s.discount = 0.5;
  CHECK(roundTrip(s) == R"({"version":"v1","shelves":{},"note":null,"discount":0.5,"label":"w"})");

  SUBCASE("a present key holds a value of its type; null only if that is nullable") {
    CHECK(why<Store>(base + R"(,"discount":null})") == "at $.discount: expected number, found null");
    CHECK(why<Store>(base + R"(,"discount":"1"})") == R"(at $.discount: expected number, found string "1")");

    // std::optional<std::optional<T>>: absent, null and a value are distinct
    // and each survives a round trip.
    CHECK(decoded<Misc>(R"({"on":true,"nothing":null})").maybe == std::nullopt);
    auto null = decoded<Misc>(R"({"on":true,"nothing":null,"maybe":null})").maybe;
    CHECK((null.has_value() && !null->has_value()));
    auto four = decoded<Misc>(R"({"on":true,"nothing":null,"maybe":4})").maybe;
    CHECK((four.has_value() && *four == 4.0));
    Misc m;
    CHECK(roundTrip(m) == R"({"on":false,"nothing":null})");
    m.maybe.emplace();
    CHECK(roundTrip(m) == R"({"on":false,"nothing":null,"maybe":null})");
    m.maybe.emplace(4.5);
    CHECK(roundTrip(m) == R"({"on":false,"nothing":null,"maybe":4.5})");
  }
  SUBCASE("decoding into a used value leaves no trace of an absent key") {
    Decoder d;
    Store reused;
    reused.discount = 9.0;
    reused.note = "old";
    REQUIRE_FALSE(d.decode(base + "}", reused));
    CHECK(reused.discount == std::nullopt);
    CHECK(reused.note == std::nullopt);
  }
}

// ---- Containers and structs ----------------------------------------------------

TEST_CASE("schema: std::vector") {
  CHECK(decoded<std::vector<double>>("[]").empty());
  CHECK(decoded<std::vector<double>>("[1, 2.5, -3]") == std::vector<double>{1, 2.5, -3});
  CHECK(why<std::vector<double>>(R"([1, 2, "3"])") == R"(at $[2]: expected number, found string "3")");
  CHECK(why<std::vector<double>>(R"({"0":1})") == "at $: expected array, found object");
  CHECK(why<std::vector<std::vector<bool>>>("[[true],[false,1]]") == "at $[1][1]: expected boolean, found number 1");
  CHECK(roundTrip(std::vector<bool>{true, false, true}) == "[true,false,true]");  // bits, not bools
  CHECK(roundTrip(std::vector<std::string>{"a", "", "c"}) == R"(["a","","c"])");
  CHECK(encoded(std::vector<double>{}) == "[]");
}

TEST_CASE("schema: std::map is a record") {
  using Rec = std::map<std::string, std::int32_t>;
  CHECK(decoded<Rec>("{}").empty());
  CHECK(decoded<Rec>(R"({"b":2,"a":1})") == Rec{{"a", 1}, {"b", 2}});
  CHECK(why<Rec>(R"({"a":1,"b":1.5})") == "at $.b: expected int32, found number 1.5");
  CHECK(why<Rec>(R"({"weird key":null})") == R"(at $["weird key"]: expected int32, found null)");
  CHECK(why<Rec>(R"({"2x":true})") == R"(at $["2x"]: expected int32, found boolean true)");
  CHECK(why<Rec>(R"({"q\"":true})") == R"(at $["q\""]: expected int32, found boolean true)");
  CHECK(why<Rec>("[]") == "at $: expected object, found array");
  CHECK(roundTrip(Rec{{"z", 1}, {"a b", -2}}) == R"({"a b":-2,"z":1})");
  CHECK(roundTrip(Rec{}) == "{}");
}

TEST_CASE("schema: structs, nested, with full error paths") {
  const std::string good =
      R"({"version":"v1","note":"n","label":"w","discount":1,)"
      R"("shelves":{"fruit":{"items":[{"name":"apple","qty":3},{"name":"pear","qty":0}]},"empty":{"items":[]}}})";
  Store s = decoded<Store>(good);
  CHECK(s.note == "n");
  CHECK(s.label == "w");
  REQUIRE(s.shelves.size() == 2);
  REQUIRE(s.shelves["fruit"].items.size() == 2);
  CHECK(s.shelves["fruit"].items[0].name == "apple");
  CHECK(s.shelves["fruit"].items[0].qty == 3);
  CHECK(s.shelves["empty"].items.empty());
  roundTrip(s);

  CHECK(encoded(Item{"a", 2}) == R"({"name":"a","qty":2})");  // schema order

  CHECK(why<Item>(R"({"name":"a"})") == "at $.qty: expected int32, found missing");
  CHECK(why<Item>(R"({"qty":1})") == "at $.name: expected string, found missing");
  CHECK(why<Item>("[]") == "at $: expected object, found array");
  CHECK(why<Store>(R"({"version":"v2"})") == R"(at $.version: expected "v1", found string "v2")");
  CHECK(why<Store>(R"({"version":"v1","shelves":{},"note":null})") ==
        R"(at $.label: expected string, found missing)");
  // A key that is not an identifier is quoted in the path (Labelled's
  // hand-written schema has the key "weird key").
  CHECK(why<Labelled>("{}") == R"(at $["weird key"]: expected string, found missing)");
  CHECK(why<std::vector<Labelled>>(R"([{"weird key":"a"},{"weird key":1}])") ==
        R"(at $[1]["weird key"]: expected string, found number 1)");
  CHECK(roundTrip(Labelled{"w"}) == R"({"weird key":"w"})");
  CHECK(why<Store>(R"({"shelves":{"fruit":{"items":[{"name":"a","qty":1},{"name":"b","qty":2},{"qty":3}]}}})") ==
        "at $.shelves.fruit.items[2].name: expected string, found missing");
  CHECK(why<Store>(R"({"shelves":{"dry goods":{"items":[{"name":7}]}}})") ==
        R"(at $.shelves["dry goods"].items[0].name: expected string, found number 7)");
}

// ---- Tagged unions -------------------------------------------------------------

TEST_CASE("schema: std::variant is a union tagged on _tag") {
  Shape c = decoded<Shape>(R"({"_tag":"Circle","r":2})");
  REQUIRE(std::holds_alternative<Circle>(c));
  CHECK(std::get<Circle>(c).r == 2);
  Shape r = decoded<Shape>(R"({"w":1,"h":2,"_tag":"Rect"})");  // _tag need not come first
  REQUIRE(std::holds_alternative<Rect>(r));
  CHECK(std::get<Rect>(r).h == 2);
  CHECK(decoded<Shape>(R"({"_tag":"Blank"})").index() == 2);

  CHECK(roundTrip(Shape{Rect{1, 2}}) == R"({"_tag":"Rect","w":1,"h":2})");
  CHECK(roundTrip(Shape{Blank{}}) == R"({"_tag":"Blank"})");

  const std::vector<std::string> all{"Circle", "Rect", "Blank"};
  SUBCASE("unknown tag") {
    auto e = refusal<Shape>(R"({"_tag":"Hexagon","r":1})");
    CHECK(rooms::describe(e) == R"(at $._tag: expected "Circle" | "Rect" | "Blank", found string "Hexagon")");
    CHECK(e.allowedTags == all);
  }
  SUBCASE("missing tag") {
    auto e = refusal<Shape>(R"({"r":1})");
    CHECK(e.path == "$._tag");
    CHECK(e.found == "missing");
    CHECK(e.allowedTags == all);
  }
  SUBCASE("tag that is not a string") {
    auto e = refusal<Shape>(R"({"_tag":1})");
    CHECK(e.found == "number 1");
    CHECK(e.allowedTags == all);
  }
  SUBCASE("not an object") {
    CHECK(why<Shape>(R"(["Circle"])") == R"(at $: expected object with "_tag", found array)");
  }
  SUBCASE("a bad field of the chosen alternative") {
    auto e = refusal<Shape>(R"({"_tag":"Rect","w":1})");
    CHECK(rooms::describe(e) == "at $.h: expected number, found missing");
    CHECK(e.allowedTags.empty());
  }
  SUBCASE("nested in a record of arrays") {
    CHECK(why<Drawing>(R"({"layers":{"top":[{"_tag":"Blank"},{"_tag":"Circle","r":"big"}]}})") ==
          R"(at $.layers.top[1].r: expected number, found string "big")");
    auto e = refusal<Drawing>(R"({"layers":{"top":[{"_tag":"Blank"}],"bottom":[{"_tag":"Star"}]}})");
    CHECK(e.path == "$.layers.bottom[0]._tag");
    CHECK(e.allowedTags == all);
    Drawing d;
    d.layers["top"] = {Circle{1.5}, Blank{}};
    d.layers["empty"] = {};
    roundTrip(d);
  }
  SUBCASE("a tagged struct on its own requires its tag") {
    CHECK(decoded<Circle>(R"({"_tag":"Circle","r":1})").r == 1);
    auto e = refusal<Circle>(R"({"r":1})");
    CHECK(rooms::describe(e) == R"(at $._tag: expected "Circle", found missing)");
    CHECK(e.allowedTags == std::vector<std::string>{"Circle"});
    CHECK(why<Circle>(R"({"_tag":"Rect","r":1})") == R"(at $._tag: expected "Circle", found string "Rect")");
  }
}

// ---- Decode policy ---------------------------------------------------------------

TEST_CASE("schema: extra fields are dropped by default, refused with ExtraFields::Reject") {
  const std::string text = R"({"name":"a","qty":1,"colour":"red"})";
  Item kept = decoded<Item>(text);
  CHECK(kept.name == "a");
  CHECK(encoded(kept) == R"({"name":"a","qty":1})");
  CHECK(decoded<Shape>(R"({"_tag":"Blank","x":{"deep":[1,2,3]}})").index() == 2);

  Decoder strict(rooms::CodecLimits{}, rooms::DecodeOptions{rooms::ExtraFields::Reject});
  CHECK(rooms::describe(refusal<Item>(text, strict)) == "at $.colour: expected no such key, found unexpected key");
  CHECK(refusal<Shelf>(R"({"items":[{"name":"a","qty":1,"my key":0}]})", strict).path == R"($.items[0]["my key"])");
  CHECK(refusal<Item>(R"({"_tag":"Item","name":"a","qty":1})", strict).path == "$._tag");
  // What the schema declares still decodes; records take any key.
  CHECK(decoded<Item>(R"({"qty":1,"name":"a"})", strict).qty == 1);
  CHECK(decoded<Shape>(R"({"_tag":"Circle","r":1})", strict).index() == 0);
  CHECK(decoded<std::map<std::string, double>>(R"({"any":1})", strict).size() == 1);
}

TEST_CASE("schema: duplicate keys are refused") {
  CHECK(why<Item>(R"({"name":"a","qty":1,"name":"b"})") ==
        R"(at $.name: expected a single "name" key, found duplicate key)");
  CHECK(why<Shape>(R"({"_tag":"Circle","r":1,"_tag":"Circle"})") ==
        R"(at $._tag: expected a single "_tag" key, found duplicate key)");
  CHECK(why<Shape>(R"({"_tag":"Circle","_tag":"Rect","r":1})") ==
        R"(at $._tag: expected a single "_tag" key, found duplicate key)");
  CHECK(why<std::map<std::string, double>>(R"({"a":1,"b":2,"a":1})") ==
        R"(at $.a: expected a single "a" key, found duplicate key)");
  CHECK(refusal<Shelf>(R"({"items":[{"name":"a","qty":1,"qty":1}]})").path == "$.items[0].qty");
}

// ---- Hostile input -----------------------------------------------------------------

TEST_CASE("schema: malformed JSON is refused") {
  for (std::string_view text : {"{", "[1,]", "{'a':1}", "nul", "tru", "01", "+1", ".5", "1.", "\"abc", "\"\\x\"",
                                "{\"a\" 1}", "{\"a\":1,}", "NaN", "Infinity", "-Infinity", "// c\n1", "\"\t\""})
    checkMalformed<chat::Event>(text);
  CHECK(refusal<chat::Event>("  \n").found.find("empty") != std::string::npos);
}

TEST_CASE("schema: numbers beyond double range are refused") {
  checkMalformed<double>("1e400");
  checkMalformed<double>("-1e400");
  checkMalformed<std::int64_t>("1e400");
  checkMalformed<std::vector<double>>("[1, 1e999]");
}

TEST_CASE("schema: trailing content after the value is refused") {
  checkMalformed<std::string>(R"("a" x)");
  checkMalformed<chat::Event>(R"({"_tag":"Typing"} {})");
  checkMalformed<chat::Event>(R"({"_tag":"Typing"}})");
  checkMalformed<std::vector<double>>("[1][2]");
  // A NUL byte used to end the stream early: everything after it was ignored.
  checkMalformed<chat::Event>(std::string_view("{\"_tag\":\"Typing\"}\0garbage", 25));
  checkMalformed<std::string>(std::string_view("\"a\"\0", 4));
  CHECK(refusal<double>(std::string_view("1\0", 2)).found == "invalid JSON (NUL byte) at byte 1");
  // Whitespace around the value is fine.
  CHECK(decoded<chat::Event>(" \r\n\t{\"_tag\":\"Typing\"} \n").index() == 1);
}

TEST_CASE("schema: invalid UTF-8 and lone surrogates are refused") {
  for (std::string_view text : {
           "\"\xff\"",                  // never valid
           "\"\xc0\x80\"",              // overlong NUL
           "\"\xe0\x80\xaf\"",          // overlong '/'
           "\"\xed\xa0\x80\"",          // an encoded surrogate
           "\"\xf4\x90\x80\x80\"",      // beyond U+10FFFF
           "\"\xe2\x82\"",              // truncated
           "\"\x80\"",                  // lone continuation byte
           "{\"\xff\":1}",              // in a key
           R"("\ud800")",               // lone high surrogate escape
           R"("\ud800x")",              // high surrogate, then not an escape
           R"("\ud800\u0041")",         // high surrogate, then not a low one
           R"("\ud800\ud800")",         // two highs
           R"("\udc00")",               // lone low surrogate escape
           R"("a\ude00b")",             // lone low surrogate escape, inside
           R"("\ud83d\ude00\ude00")",   // a pair, then a lone low
           R"({"\udfff":1})",           // lone low surrogate escape in a key
       })
    checkMalformed<std::map<std::string, std::string>>(text);
  CHECK(refusal<std::string>(R"("ab\udc00")").found == "invalid JSON (lone surrogate escape) at byte 3");
  // Escaped backslashes are not escapes: "\\udc00" is the text \udc00.
  CHECK(decoded<std::string>(R"("\\udc00")") == "\\udc00");
  CHECK(decoded<std::string>(R"("\\\ud83d\ude00")") == "\\\xf0\x9f\x98\x80");
}

TEST_CASE("schema: deep nesting never overflows the stack") {
  constexpr std::size_t depth = 100000;
  const std::string arrays = repeat("[", depth) + repeat("]", depth);
  const std::string objects = repeat(R"({"a":)", depth) + "1" + repeat("}", depth);

  CHECK(why<std::vector<double>>(arrays) == "at $[0]: expected number, found array");
  CHECK(why<std::vector<std::vector<std::vector<double>>>>(arrays) == "at $[0][0][0]: expected number, found array");
  CHECK(why<std::map<std::string, double>>(objects) == "at $.a: expected number, found object");
  CHECK(refusal<chat::Event>(objects).path == "$._tag");
  CHECK(why<std::string>(arrays) == "at $: expected string, found array");

  // Unclosed.
  checkMalformed<std::vector<double>>(repeat("[", depth));
  checkMalformed<chat::Event>(repeat(R"({"a":)", depth));
  checkMalformed<chat::Event>(repeat(R"({"a":[)", depth / 2));
}

TEST_CASE("schema: frame limits") {
  SUBCASE("empty frame") {
    auto e = refusal<std::string>("");
    CHECK(rooms::describe(e) == "at $: expected a JSON value, found empty frame");
  }
  SUBCASE("default limit is 1 MiB") {
    Decoder d;
    CHECK(d.limits().maxFrameBytes == 1u << 20);
    std::string fits = "\"" + std::string((1u << 20) - 2, 'x') + "\"";
    CHECK(decoded<std::string>(fits, d).size() == (1u << 20) - 2);
    fits.insert(1, "y");
    CHECK(rooms::describe(refusal<std::string>(fits, d)) ==
          "at $: expected at most 1048576 bytes, found 1048577 bytes");
  }
  SUBCASE("a chosen limit, checked before parsing") {
    Decoder d(rooms::CodecLimits{.maxFrameBytes = 8});
    CHECK(decoded<std::string>(R"("abcdef")", d) == "abcdef");
    CHECK(rooms::describe(refusal<std::string>(R"("abcdefg")", d)) == "at $: expected at most 8 bytes, found 9 bytes");
    CHECK(refusal<std::string>("[[[[[[[[[", d).found == "9 bytes");  // not a parse error
  }
}

TEST_CASE("schema: a Decoder is reusable after errors and after frames larger than its buffers") {
  Decoder d;
  Shelf big;
  for (int i = 0; i < 5000; ++i) big.items.push_back({"item" + std::to_string(i), i});
  const std::string bigText = encoded(big);
  REQUIRE(bigText.size() > 64 * 1024);

  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    CHECK(decoded<Item>(R"({"name":"a","qty":1})", d).qty == 1);
    CHECK(same(decoded<Shelf>(bigText, d), big));
    CHECK(refusal<Item>("{\"name\":", d).expected == "valid JSON");
    CHECK(refusal<Item>(R"({"name":"a"})", d).path == "$.qty");
    CHECK(decoded<Item>(R"({"name":"b","qty":2})", d).name == "b");
  }
}

// ---- The chat schemas ----------------------------------------------------------------

TEST_CASE("schema: chat::Event decodes exactly the spec's frames") {
  chat::Event say = decoded<chat::Event>(R"({"_tag":"Say","text":"hi"})");
  REQUIRE(std::holds_alternative<chat::Say>(say));
  CHECK(std::get<chat::Say>(say).text == "hi");
  CHECK(std::holds_alternative<chat::Typing>(decoded<chat::Event>(R"({"_tag":"Typing"})")));

  CHECK(why<chat::Event>(R"({"_tag":"Say"})") == "at $.text: expected string, found missing");
  CHECK(why<chat::Event>(R"({"_tag":"Say","text":5})") == "at $.text: expected string, found number 5");
  auto e = refusal<chat::Event>(R"({"_tag":"Nope"})");
  CHECK(rooms::describe(e) == R"(at $._tag: expected "Say" | "Typing", found string "Nope")");
  CHECK(e.allowedTags == std::vector<std::string>{"Say", "Typing"});
  CHECK(refusal<chat::Event>("{}").allowedTags == std::vector<std::string>{"Say", "Typing"});
  CHECK(why<chat::Event>(R"("Say")") == R"(at $: expected object with "_tag", found string "Say")");
}

TEST_CASE("schema: chat schemas round trip") {
  CHECK(roundTrip(chat::Event{chat::Say{"hi \xf0\x9f\x91\x8b"}}) ==
        "{\"_tag\":\"Say\",\"text\":\"hi \xf0\x9f\x91\x8b\"}");
  CHECK(roundTrip(chat::Event{chat::Typing{}}) == R"({"_tag":"Typing"})");

  // ts is a rooms::Timestamp: integer milliseconds (it was a double, and the
  // test used 1700000000000.5).
  CHECK(roundTrip(chat::Broadcast{chat::Message{"hello", "u1", rooms::fromEpochMs(1700000000001)}}) ==
        R"({"_tag":"Message","text":"hello","userId":"u1","ts":1700000000001})");
  CHECK(roundTrip(chat::Broadcast{chat::UserJoined{"u1"}}) == R"({"_tag":"UserJoined","userId":"u1"})");
  CHECK(roundTrip(chat::Broadcast{chat::UserLeft{"u2"}}) == R"({"_tag":"UserLeft","userId":"u2"})");
  // Broadcast's "Typing" is TypingBy, which carries the user.
  CHECK(roundTrip(chat::Broadcast{chat::TypingBy{"u3"}}) == R"({"_tag":"Typing","userId":"u3"})");
  CHECK(decoded<chat::Broadcast>(R"({"_tag":"Typing","userId":"u3"})").index() == 3);
  CHECK(why<chat::Broadcast>(R"({"_tag":"Typing"})") == "at $.userId: expected string, found missing");
  CHECK(refusal<chat::Broadcast>(R"({"_tag":"Say","text":"x"})").allowedTags ==
        std::vector<std::string>{"Message", "UserJoined", "UserLeft", "Typing"});

  CHECK(roundTrip(chat::State{rooms::fromEpochMs(1700000000000), 42}) ==
        R"({"createdAt":1700000000000,"messageCount":42})");
  CHECK(roundTrip(chat::Connection{"alice", rooms::fromEpochMs(25)}) == R"({"userId":"alice","joinedAt":25})");
  CHECK(why<chat::State>(R"({"createdAt":1})") == "at $.messageCount: expected safe integer, found missing");
  CHECK(why<chat::Connection>(R"({"userId":"a","joinedAt":0.25})") ==
        "at $.joinedAt: expected timestamp (integer milliseconds since the epoch), found number 0.25");
}

// ---- Encode --------------------------------------------------------------------------

TEST_CASE("schema: encode refuses values with no JSON form") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_FALSE(rooms::encodeToString(nan));
  CHECK_FALSE(rooms::encodeToString(inf));
  CHECK_FALSE(rooms::encodeToString(-inf));
  // A Timestamp cannot be NaN or infinite; beyond the safe integers it has
  // no JSON form either.
  const rooms::Timestamp never = rooms::fromEpochMs(std::numeric_limits<std::int64_t>::max());
  CHECK_FALSE(rooms::encodeToString(chat::State{rooms::fromEpochMs(9007199254740992), 0}));
  CHECK_FALSE(rooms::encodeToString(chat::Broadcast{chat::Message{"x", "u", never}}));
  CHECK_FALSE(rooms::encodeToString(std::vector<double>{1, 2, nan}));
  CHECK_FALSE(rooms::encodeToString(std::optional<double>{nan}));

  for (const char* bad : {"\xff", "ok\xc0\x80", "\xed\xa0\x80", "\xe2\x82", "\x80"}) {
    CAPTURE(bad);
    CHECK_FALSE(rooms::encodeToString(std::string(bad)));
    CHECK_FALSE(rooms::encodeToString(chat::Event{chat::Say{bad}}));
    CHECK_FALSE(rooms::encodeToString(std::map<std::string, double>{{bad, 1}}));  // as a key
  }
}

TEST_CASE("schema: an Encoder reused across calls gives independent, correct output") {
  rooms::Encoder enc;
  auto a = enc.encode(chat::Event{chat::Say{"first"}});
  REQUIRE(a);
  const std::string first(*a);
  CHECK(first == R"({"_tag":"Say","text":"first"})");

  auto b = enc.encode(chat::Event{chat::Typing{}});
  REQUIRE(b);
  CHECK(*b == R"({"_tag":"Typing"})");  // nothing left over from the longer first frame

  CHECK_FALSE(enc.encode(chat::State{rooms::fromEpochMs(std::numeric_limits<std::int64_t>::min()), 1}));  // a failure mid-object...
  auto c = enc.encode(chat::Event{chat::Say{"first"}});   // ...leaves nothing behind either
  REQUIRE(c);
  CHECK(*c == first);
  auto d = enc.encode(std::int32_t{7});
  REQUIRE(d);
  CHECK(*d == "7");
}

// ---- JSON Schema ---------------------------------------------------------------------

TEST_CASE("schema: JSON Schema output") {
  SUBCASE("scalars") {
    checkJson(schemaOf<std::string>(), R"({"type":"string"})");
    checkJson(schemaOf<double>(), R"({"type":"number"})");
    checkJson(schemaOf<bool>(), R"({"type":"boolean"})");
    checkJson(schemaOf<rooms::Null>(), R"({"type":"null"})");
    checkJson(schemaOf<std::int32_t>(), R"({"type":"integer","minimum":-2147483648,"maximum":2147483647})");
    checkJson(schemaOf<std::uint32_t>(), R"({"type":"integer","minimum":0,"maximum":4294967295})");
    checkJson(schemaOf<std::int64_t>(),
              R"({"type":"integer","minimum":-9007199254740991,"maximum":9007199254740991})");
    checkJson(schemaOf<rooms::Literal<"v1">>(), R"({"const":"v1"})");
    checkJson(schemaOf<rooms::Literal<"say \"hi\"">>(), R"({"const":"say \"hi\""})");
  }
  SUBCASE("nullable, array, record") {
    checkJson(schemaOf<std::optional<std::string>>(), R"({"anyOf":[{"type":"string"},{"type":"null"}]})");
    checkJson(schemaOf<std::vector<double>>(), R"({"type":"array","items":{"type":"number"}})");
    checkJson(schemaOf<std::map<std::string, bool>>(),
              R"({"type":"object","additionalProperties":{"type":"boolean"}})");
  }
  SUBCASE("struct: properties, required, optional keys") {
    auto s = schemaOf<Store>();
    CHECK(text(s["type"]) == "object");
    checkJson(s["properties"]["version"], R"({"const":"v1"})");
    checkJson(s["properties"]["note"], R"({"anyOf":[{"type":"string"},{"type":"null"}]})");
    checkJson(s["properties"]["discount"], R"({"type":"number"})");  // optional key: not nullable
    checkJson(s["properties"]["label"], R"({"type":"string"})");
    checkJson(s["properties"]["shelves"],
              R"({"type":"object","additionalProperties":{"type":"object",
                  "properties":{"items":{"type":"array","items":{"type":"object",
                    "properties":{"name":{"type":"string"},
                                  "qty":{"type":"integer","minimum":-2147483648,"maximum":2147483647}},
                    "required":["name","qty"]}}},
                  "required":["items"]}})");
    checkJson(s["required"], R"(["version","shelves","note","label"])");
    checkJson(schemaOf<Labelled>(),
              R"({"type":"object","properties":{"weird key":{"type":"string"}},"required":["weird key"]})");
    CHECK(s["properties"].MemberCount() == 5);

    auto m = schemaOf<Misc>();
    checkJson(m["properties"]["maybe"], R"({"anyOf":[{"type":"number"},{"type":"null"}]})");
    checkJson(m["required"], R"(["on","nothing"])");
  }
  SUBCASE("tagged union: oneOf, _tag const and required") {
    checkJson(schemaOf<chat::Event>(),
              R"({"oneOf":[
                   {"type":"object","properties":{"_tag":{"const":"Say"},"text":{"type":"string"}},
                    "required":["_tag","text"]},
                   {"type":"object","properties":{"_tag":{"const":"Typing"}},"required":["_tag"]}],
                  "discriminator":{"propertyName":"_tag"}})");
    auto b = schemaOf<chat::Broadcast>();
    REQUIRE(b["oneOf"].Size() == 4);
    const char* tags[] = {"Message", "UserJoined", "UserLeft", "Typing"};
    for (rapidjson::SizeType i = 0; i < 4; ++i) {
      CAPTURE(i);
      const auto& alt = b["oneOf"][i];
      CHECK(text(alt["properties"]["_tag"]["const"]) == tags[i]);
      CHECK(text(alt["required"][0]) == "_tag");
      checkJson(alt["properties"]["userId"], R"({"type":"string"})");
    }
    checkJson(b["oneOf"][0]["required"], R"(["_tag","text","userId","ts"])");
  }
  SUBCASE("chat state and connection") {
    // Both fields are integers now: createdAt a Timestamp, messageCount an int64.
    const char* safe = R"({"type":"integer","minimum":-9007199254740991,"maximum":9007199254740991})";
    checkJson(schemaOf<chat::State>(),
              R"({"type":"object","properties":{"createdAt":)" + std::string(safe) + R"(,"messageCount":)" + safe +
                  R"(},"required":["createdAt","messageCount"]})");
    checkJson(schemaOf<chat::Connection>(),
              R"({"type":"object","properties":{"userId":{"type":"string"},"joinedAt":)" + std::string(safe) +
                  R"(},"required":["userId","joinedAt"]})");
  }
}

// ---- TypeScript ----------------------------------------------------------------------

TEST_CASE("schema: TypeScript output") {
  CHECK(rooms::typeScript<std::string>() == "string");
  CHECK(rooms::typeScript<double>() == "number");
  CHECK(rooms::typeScript<std::int64_t>() == "number");
  CHECK(rooms::typeScript<bool>() == "boolean");
  CHECK(rooms::typeScript<rooms::Null>() == "null");
  CHECK(rooms::typeScript<rooms::Literal<"v1">>() == R"("v1")");
  CHECK(rooms::typeScript<std::optional<std::string>>() == "(string) | null");
  CHECK(rooms::typeScript<std::vector<double>>() == "ReadonlyArray<number>");
  CHECK(rooms::typeScript<std::map<std::string, bool>>() == "Readonly<Record<string, boolean>>");

  // Declared types are written by name; their definitions come with them.
  CHECK(rooms::typeScript<chat::Event>() == "Say | Typing");
  CHECK(tsDefs<chat::Event>() == Defs{{"Say", R"({ readonly _tag: "Say"; readonly text: string; })"},
                                      {"Typing", R"({ readonly _tag: "Typing"; })"}});
  CHECK(rooms::typeScript<chat::Broadcast>() == "Message | UserJoined | UserLeft | TypingBy");
  CHECK(tsDefs<chat::Broadcast>() ==
        Defs{{"Message",
              R"({ readonly _tag: "Message"; readonly text: string; readonly userId: string; readonly ts: number; })"},
             {"UserJoined", R"({ readonly _tag: "UserJoined"; readonly userId: string; })"},
             {"UserLeft", R"({ readonly _tag: "UserLeft"; readonly userId: string; })"},
             {"TypingBy", R"({ readonly _tag: "Typing"; readonly userId: string; })"}});
  CHECK(rooms::typeScript<chat::State>() == "State");
  CHECK(tsDefs<chat::State>() == Defs{{"State", "{ readonly createdAt: number; readonly messageCount: number; }"}});
  CHECK(rooms::typeScript<Store>() == "Store");
  CHECK(tsDefs<Store>() ==
        Defs{{"Store", R"({ readonly version: "v1"; readonly shelves: Readonly<Record<string, Shelf>>; )"
                       R"(readonly note: (string) | null; readonly discount?: number; readonly label: string; })"},
             {"Shelf", "{ readonly items: ReadonlyArray<Item>; }"},
             {"Item", "{ readonly name: string; readonly qty: number; }"}});
  // A key that is not an identifier is quoted.
  CHECK(rooms::typeScript<Labelled>() == R"({ readonly "weird key": string; })");
  CHECK(tsDefs<Misc>() ==
        Defs{{"Misc", "{ readonly on: boolean; readonly nothing: null; readonly maybe?: (number) | null; }"}});
  CHECK(rooms::typeScript<std::vector<Shape>>() == "ReadonlyArray<Circle | Rect | Blank>");
  CHECK(tsDefs<std::vector<Shape>>() == Defs{{"Circle", R"({ readonly _tag: "Circle"; readonly r: number; })"},
                                             {"Rect", R"({ readonly _tag: "Rect"; readonly w: number; readonly h: number; })"},
                                             {"Blank", R"({ readonly _tag: "Blank"; })"}});
}

// ---- Errors as JSON ------------------------------------------------------------------

TEST_CASE("schema: errorToJson carries the validation details") {
  auto e = refusal<chat::Event>(R"({"_tag":"Nope"})");
  auto j = parsed(rooms::errorToJson(rooms::Error{e}));
  checkJson(j, R"({"_tag":"RoomValidationError",
                   "message":"at $._tag: expected \"Say\" | \"Typing\", found string \"Nope\"",
                   "path":"$._tag","expected":"\"Say\" | \"Typing\"","found":"string \"Nope\"",
                   "allowedTags":["Say","Typing"]})");

  auto plain = parsed(rooms::errorToJson(rooms::Error{refusal<Store>(R"({"shelves":{}})")}));
  CHECK(text(plain["path"]) == "$.version");
  CHECK(text(plain["found"]) == "missing");
  CHECK_FALSE(plain.HasMember("allowedTags"));

  // Offending text is quoted into the message and stays valid JSON.
  auto quoted = parsed(rooms::errorToJson(rooms::Error{refusal<double>(R"("\"}\u00e9\n")")}));
  CHECK(text(quoted["found"]) == "string \"\\\"}\xc3\xa9\\n\"");
}

// ---- OneOf, enums, fixed-size arrays, timestamps -------------------------------------

TEST_CASE("schema: rooms::OneOf is one of a fixed set of strings") {
  CHECK(decoded<Mark>(R"("X")").value() == "X");
  CHECK(decoded<Mark>(R"("O")").index() == 1);
  CHECK(decoded<Mark>(R"("spectator")") == Mark("spectator"));
  CHECK(decoded<Mark>(R"("O")") == std::string_view("O"));
  CHECK(Mark().value() == "X");  // the first value by default
  CHECK(Mark::parse("O") == Mark("O"));
  CHECK_FALSE(Mark::parse("o"));  // case matters

  const std::string expected = R"(expected "X" | "O" | "spectator")";
  CHECK(why<Mark>(R"("Y")") == "at $: " + expected + R"(, found string "Y")");
  CHECK(why<Mark>(R"("x")") == "at $: " + expected + R"(, found string "x")");
  CHECK(why<Mark>("1") == "at $: " + expected + ", found number 1");
  CHECK(why<Mark>("null") == "at $: " + expected + ", found null");
  auto e = refusal<Mark>(R"("Y")");
  CHECK(e.expected == R"("X" | "O" | "spectator")");
  CHECK(e.allowedTags.empty());  // allowedTags is for union _tags

  CHECK(encoded(Mark("O")) == R"("O")");
  CHECK(roundTrip(Mark("spectator")) == R"("spectator")");

  checkJson(rawSchemaOf<Mark>(), R"({"enum":["X","O","spectator"]})");
  checkJson(rawSchemaOf<rooms::OneOf<"say \"hi\"">>(), R"({"enum":["say \"hi\""]})");
  CHECK(rooms::typeScript<Mark>() == R"("X" | "O" | "spectator")");
  CHECK(tsDefs<Mark>().empty());  // not a named type

  // As a field: the probe's Trap.
  probe::Event trap = decoded<probe::Event>(R"({"_tag":"Trap","kind":"oob"})");
  REQUIRE(std::holds_alternative<probe::Trap>(trap));
  CHECK(std::get<probe::Trap>(trap).kind == std::string_view("oob"));
  CHECK(why<probe::Event>(R"({"_tag":"Trap","kind":"segfault"})") ==
        R"(at $.kind: expected "abort" | "unreachable" | "oob" | "throw", found string "segfault")");
  CHECK(encoded(probe::Event{probe::Trap{"throw"}}) == R"({"_tag":"Trap","kind":"throw"})");
}

TEST_CASE("schema: a ROOMS_ENUM enum travels as its enumerators' names") {
  CHECK(decoded<Role>(R"("X")") == Role::X);
  CHECK(decoded<Role>(R"("spectator")") == Role::spectator);
  CHECK(why<Role>(R"("Spectator")") == R"(at $: expected "X" | "O" | "spectator", found string "Spectator")");
  CHECK(why<Role>("0") == R"(at $: expected "X" | "O" | "spectator", found number 0)");  // not by value
  CHECK(encoded(Role::O) == R"("O")");
  CHECK(roundTrip(Role::spectator) == R"("spectator")");
  // A value that is not one of the declared enumerators has no JSON form.
  CHECK_FALSE(rooms::encodeToString(static_cast<Role>(7)));

  // A named type: a definition of its own.
  checkJson(rawSchemaOf<Role>(), R"({"$defs":{"Role":{"enum":["X","O","spectator"]}},"$ref":"#/$defs/Role"})");
  checkJson(schemaOf<Role>(), R"({"enum":["X","O","spectator"]})");
  CHECK(rooms::typeScript<Role>() == "Role");
  CHECK(tsDefs<Role>() == Defs{{"Role", R"("X" | "O" | "spectator")"}});
}

TEST_CASE("schema: std::array has a fixed length, checked when decoding") {
  using Triple = std::array<std::int32_t, 3>;
  CHECK(decoded<Triple>("[1, 2, 3]") == Triple{1, 2, 3});
  CHECK(why<Triple>("[1, 2]") == "at $: expected array of 3, found array of 2");
  CHECK(why<Triple>("[1, 2, 3, 4]") == "at $: expected array of 3, found array of 4");
  CHECK(why<Triple>("[]") == "at $: expected array of 3, found array of 0");
  CHECK(why<Triple>(R"({"0":1})") == "at $: expected array of 3, found object");
  CHECK(why<Triple>(R"([1, 2, "3"])") == R"(at $[2]: expected int32, found string "3")");
  CHECK(why<std::array<Triple, 2>>("[[1,2,3],[4,5]]") == "at $[1]: expected array of 3, found array of 2");
  CHECK(roundTrip(Triple{-1, 0, 7}) == "[-1,0,7]");
  CHECK(roundTrip(std::array<std::string, 2>{"a", "b"}) == R"(["a","b"])");
  CHECK_FALSE(rooms::encodeToString(std::array<double, 2>{1, std::nan("")}));

  checkJson(rawSchemaOf<Triple>(),
            R"({"type":"array","items":{"type":"integer","minimum":-2147483648,"maximum":2147483647},
                "minItems":3,"maxItems":3})");
  checkJson(rawSchemaOf<std::array<bool, 1>>(),
            R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":1})");
  CHECK(rooms::typeScript<Triple>() == "readonly [number, number, number]");
  CHECK(rooms::typeScript<std::array<std::string, 1>>() == "readonly [string]");
  CHECK(rooms::typeScript<std::array<Item, 2>>() == "readonly [Item, Item]");
  // Long ones are plain arrays in TypeScript (the length is still checked).
  CHECK(rooms::typeScript<std::array<double, 17>>() == "ReadonlyArray<number>");
  CHECK(rooms::typeScript<std::array<double, 16>>().rfind("readonly [number, ", 0) == 0);
  CHECK(why<std::array<double, 17>>("[1]") == "at $: expected array of 17, found array of 1");
}

TEST_CASE("schema: rooms::Timestamp is integer milliseconds since the epoch") {
  using rooms::Timestamp;
  using namespace std::chrono_literals;
  CHECK(decoded<Timestamp>("1700000000000") == rooms::fromEpochMs(1700000000000));
  CHECK(decoded<Timestamp>("0") == Timestamp{});
  CHECK(decoded<Timestamp>("-1") == Timestamp{} - 1ms);
  CHECK(decoded<Timestamp>("1e3") == Timestamp{} + 1s);  // an integral number, however written
  CHECK(rooms::epochMs(decoded<Timestamp>("9007199254740991")) == 9007199254740991);

  const std::string expected = "expected timestamp (integer milliseconds since the epoch)";
  CHECK(why<Timestamp>("1.5") == "at $: " + expected + ", found number 1.5");
  CHECK(why<Timestamp>(R"("1700000000000")") == "at $: " + expected + R"(, found string "1700000000000")");
  CHECK(why<Timestamp>(R"("2024-01-01T00:00:00Z")") ==
        "at $: " + expected + R"(, found string "2024-01-01T00:00:00Z")");
  CHECK(why<Timestamp>("null") == "at $: " + expected + ", found null");
  CHECK(why<Timestamp>("9007199254740992") == "at $: " + expected + ", found number 9007199254740992");

  CHECK(encoded(rooms::fromEpochMs(1700000000123)) == "1700000000123");
  CHECK(roundTrip(rooms::fromEpochMs(-5)) == "-5");
  CHECK(encoded(Timestamp{} + 2s) == "2000");
  CHECK_FALSE(rooms::encodeToString(rooms::fromEpochMs(9007199254740992)));
  CHECK(rooms::epochMs(rooms::fromEpochMs(42)) == 42);

  checkJson(rawSchemaOf<Timestamp>(), R"({"type":"integer","minimum":-9007199254740991,"maximum":9007199254740991})");
  CHECK(rooms::typeScript<Timestamp>() == "number");
}

TEST_CASE("schema: a rooms::Optional field is a key that may be absent") {
  // probe::Connection: {name: string, pad?: string}.
  auto absent = decoded<probe::Connection>(R"({"name":"a"})");
  CHECK(absent.name == "a");
  CHECK_FALSE(absent.pad.has_value());
  CHECK(decoded<probe::Connection>(R"({"name":"a","pad":"xx"})").pad == std::string("xx"));
  // Present, the key holds a string: null is refused (string is not nullable).
  CHECK(why<probe::Connection>(R"({"name":"a","pad":null})") == "at $.pad: expected string, found null");
  CHECK(why<probe::Connection>(R"({"name":"a","pad":1})") == "at $.pad: expected string, found number 1");
  // Encode omits an empty one.
  CHECK(encoded(probe::Connection{"a", std::nullopt}) == R"({"name":"a"})");
  CHECK(roundTrip(probe::Connection{"a", "p"}) == R"({"name":"a","pad":"p"})");
  // Of a nullable type, null is a value.
  auto nul = decoded<Misc>(R"({"on":true,"nothing":null,"maybe":null})").maybe;
  CHECK((nul.has_value() && !nul->has_value()));
  // Outside a struct an empty one has no JSON form.
  CHECK_FALSE(rooms::encodeToString(rooms::Optional<double>{}));
  CHECK(encoded(rooms::Optional<double>{2.5}) == "2.5");

  checkJson(rawSchemaOf<probe::Connection>(),
            R"({"$defs":{"Connection":{"type":"object","properties":{"name":{"type":"string"},"pad":{"type":"string"}},
                                       "required":["name"]}},
                "$ref":"#/$defs/Connection"})");
  CHECK(tsDefs<probe::Connection>() == Defs{{"Connection", "{ readonly name: string; readonly pad?: string; }"}});
}

TEST_CASE("schema: every new type as a field, together") {
  Seat seat{Role::O, Mark("O"), {2, 1}, rooms::fromEpochMs(1000), std::nullopt, {0.5, -1}};
  CHECK(roundTrip(seat) == R"({"role":"O","mark":"O","cell":[2,1],"since":1000,"at":[0.5,-1]})");
  seat.nick = "neo";
  CHECK(roundTrip(seat) == R"({"role":"O","mark":"O","cell":[2,1],"since":1000,"nick":"neo","at":[0.5,-1]})");
  const std::string base = R"({"role":"X","mark":"X","since":1,"at":[0,0],"cell":)";
  CHECK(why<Seat>(base + "[1]}") == "at $.cell: expected array of 2, found array of 1");
  CHECK(why<Seat>(R"({"role":"X","mark":"X","cell":[0,0],"since":1,"at":[1]})") ==
        "at $.at: expected array of 2, found array of 1");
  CHECK(why<Seat>(R"({"role":"X","mark":"X","cell":[0,0],"since":1})") ==
        "at $.at: expected point [x, y], found missing");
  CHECK(why<Seat>(R"({"role":"Y","mark":"X","cell":[0,0],"since":1,"at":[0,0]})") ==
        R"(at $.role: expected "X" | "O" | "spectator", found string "Y")");

  auto s = rawSchemaOf<Seat>();
  const auto& props = s["$defs"]["Seat"]["properties"];
  checkJson(props["role"], R"({"$ref":"#/$defs/Role"})");
  checkJson(props["mark"], R"({"enum":["X","O","spectator"]})");
  checkJson(props["cell"]["minItems"], "2");
  checkJson(props["at"], R"({"type":"array","items":{"type":"number"},"minItems":2,"maxItems":2})");
  checkJson(s["$defs"]["Seat"]["required"], R"(["role","mark","cell","since","at"])");
  CHECK(tsDefs<Seat>() ==
        Defs{{"Seat", R"({ readonly role: Role; readonly mark: "X" | "O" | "spectator"; )"
                      R"(readonly cell: readonly [number, number]; readonly since: number; )"
                      R"(readonly nick?: string; readonly at: readonly [x: number, y: number]; })"},
             {"Role", R"("X" | "O" | "spectator")"}});
}

// ---- Named types ---------------------------------------------------------------------

TEST_CASE("schema: declared types are named: $defs and $ref in JSON Schema, names in TypeScript") {
  SUBCASE("nested structs are defined once and referred to") {
    checkJson(rawSchemaOf<Shelf>(),
              R"({"$defs":{
                   "Shelf":{"type":"object","properties":{"items":{"type":"array","items":{"$ref":"#/$defs/Item"}}},
                            "required":["items"]},
                   "Item":{"type":"object","properties":{"name":{"type":"string"},
                           "qty":{"type":"integer","minimum":-2147483648,"maximum":2147483647}},
                           "required":["name","qty"]}},
                  "$ref":"#/$defs/Shelf"})");
    // Item is used twice in Store's tree but defined once.
    auto d = rawSchemaOf<std::map<std::string, std::array<Shelf, 2>>>();
    CHECK(d["$defs"].MemberCount() == 2);
    checkJson(d["additionalProperties"]["items"], R"({"$ref":"#/$defs/Shelf"})");
    CHECK(rooms::typeScript<std::map<std::string, std::array<Shelf, 2>>>() ==
          "Readonly<Record<string, readonly [Shelf, Shelf]>>");
    CHECK(tsDefs<std::map<std::string, std::array<Shelf, 2>>>() ==
          Defs{{"Shelf", "{ readonly items: ReadonlyArray<Item>; }"},
               {"Item", "{ readonly name: string; readonly qty: number; }"}});
  }
  SUBCASE("a union's members are definitions") {
    auto u = rawSchemaOf<chat::Event>();
    checkJson(u["oneOf"], R"([{"$ref":"#/$defs/Say"},{"$ref":"#/$defs/Typing"}])");
    checkJson(u["discriminator"], R"({"propertyName":"_tag"})");
    checkJson(u["$defs"]["Typing"], R"({"type":"object","properties":{"_tag":{"const":"Typing"}},"required":["_tag"]})");
    // The Broadcast member TypingBy is named by its C++ name; its _tag is "Typing".
    auto b = rawSchemaOf<chat::Broadcast>();
    checkJson(b["oneOf"][3], R"({"$ref":"#/$defs/TypingBy"})");
    CHECK(text(b["$defs"]["TypingBy"]["properties"]["_tag"]["const"]) == "Typing");
  }
  SUBCASE("two types with the same C++ name get distinct names") {
    auto d = rawSchemaOf<Both>();
    checkJson(d["$defs"]["Both"]["properties"],
              R"({"mine":{"$ref":"#/$defs/Item"},"theirs":{"$ref":"#/$defs/Item2"}})");
    checkJson(d["$defs"]["Item2"]["properties"], R"({"ok":{"type":"boolean"}})");
    CHECK(tsDefs<Both>() == Defs{{"Both", "{ readonly mine: Item; readonly theirs: Item2; }"},
                                 {"Item", "{ readonly name: string; readonly qty: number; }"},
                                 {"Item2", "{ readonly ok: boolean; }"}});
  }
  SUBCASE("a recursive struct") {
    Tree t{"root", {{"a", {}}, {"b", {{"b1", {}}}}}};
    CHECK(roundTrip(t) ==
          R"({"label":"root","children":[{"label":"a","children":[]},)"
          R"({"label":"b","children":[{"label":"b1","children":[]}]}]})");
    CHECK(why<Tree>(R"({"label":"r","children":[{"label":"a","children":[{"label":1,"children":[]}]}]})") ==
          "at $.children[0].children[0].label: expected string, found number 1");
    checkJson(rawSchemaOf<Tree>(),
              R"({"$defs":{"Tree":{"type":"object","properties":{"label":{"type":"string"},
                                   "children":{"type":"array","items":{"$ref":"#/$defs/Tree"}}},
                                   "required":["label","children"]}},
                  "$ref":"#/$defs/Tree"})");
    CHECK(rooms::typeScript<Tree>() == "Tree");
    CHECK(tsDefs<Tree>() == Defs{{"Tree", "{ readonly label: string; readonly children: ReadonlyArray<Tree>; }"}});
  }
}

// ---- The registry's TypeScript -----------------------------------------------------

namespace {
// A room whose State role is not a declared type, while a declared type named
// State is among its definitions: the role is declared as State_.
using Odd = rooms::Room<"odd-room", std::vector<chat::State>, chat::Connection, chat::Event, Shape>;
}  // namespace

TEST_CASE("schema: Registry::typeScript writes a namespace per room and the Rooms interface") {
  rooms::Registry reg;
  reg.add<chat::Chat>(chat::handlers());
  const std::string ts = reg.typeScript();
  CAPTURE(ts);
  const std::string chatNs =
      "export namespace chat {\n"
      "  export type State = { readonly createdAt: number; readonly messageCount: number; };\n"
      "  export type Connection = { readonly userId: string; readonly joinedAt: number; };\n"
      "  export type Say = { readonly _tag: \"Say\"; readonly text: string; };\n"
      "  export type Typing = { readonly _tag: \"Typing\"; };\n"
      "  export type Message = { readonly _tag: \"Message\"; readonly text: string; readonly userId: string; "
      "readonly ts: number; };\n"
      "  export type UserJoined = { readonly _tag: \"UserJoined\"; readonly userId: string; };\n"
      "  export type UserLeft = { readonly _tag: \"UserLeft\"; readonly userId: string; };\n"
      "  export type TypingBy = { readonly _tag: \"Typing\"; readonly userId: string; };\n"
      "  export type Online = { readonly userId: string; readonly joinedAt: number; };\n"
      "  export type Event = Say | Typing;\n"
      "  export type Broadcast = Message | UserJoined | UserLeft | TypingBy;\n"
      "  export type PresenceMeta = Online;\n"
      "}\n";
  const std::string rooms =
      "export interface Rooms {\n"
      "  readonly \"chat\": { state: chat.State; connection: chat.Connection; event: chat.Event; "
      "broadcast: chat.Broadcast; presence: chat.PresenceMeta; };\n"
      "}\n";
  CHECK(ts.find(chatNs) != std::string::npos);
  CHECK(ts.size() >= rooms.size());
  CHECK(ts.compare(ts.size() - rooms.size(), rooms.size(), rooms) == 0);
  CHECK(ts.rfind("// Generated by durable-rooms", 0) == 0);

  SUBCASE("a room name that is not an identifier; a role named like a definition") {
    reg.add<Odd>({});
    const std::string two = reg.typeScript();
    CAPTURE(two);
    CHECK(two.find("export namespace odd_room {\n") != std::string::npos);
    CHECK(two.find("  export type State_ = ReadonlyArray<State>;\n") != std::string::npos);
    CHECK(two.find("  export type Broadcast = Circle | Rect | Blank;\n") != std::string::npos);
    CHECK(two.find("  readonly \"odd-room\": { state: odd_room.State_; connection: odd_room.Connection; "
                   "event: odd_room.Event; broadcast: odd_room.Broadcast; };\n") != std::string::npos);
    // Each room's namespace holds its own definitions.
    CHECK(two.find(chatNs) != std::string::npos);
  }
}

// ---- Exhaustive dispatch -------------------------------------------------------------

namespace {
using Disp = rooms::Room<"dispatch", probe::State, probe::Connection, probe::Event, probe::Broadcast>;
using DispCtx = rooms::RoomCtx<Disp>;

// By value: the coroutine keeps its own copy of the event.
rooms::Task<rooms::Status> report(DispCtx& ctx, std::string who, probe::Event ev) {
  auto text = rooms::encodeToString(ev);
  co_return ctx.broadcast(probe::ErrorSeen{std::move(who), "", text.value_or("?")});
}
rooms::Task<rooms::Status> onPing(DispCtx& ctx, const probe::Ping& p) { return report(ctx, "ping", p); }
rooms::Task<rooms::Status> onFail(DispCtx&, const probe::Fail& f) { co_return rooms::RoomError{f.message}; }
rooms::Task<rooms::Status> wholeUnion(DispCtx& ctx, const probe::Event& ev) {
  auto text = rooms::encodeToString(ev);  // after the suspension: ev must still be alive
  co_return ctx.broadcast(probe::ErrorSeen{"union", "", text.value_or("?")});
}

// A handler of the whole union gets the event itself, not a temporary union
// built from the member (its lazy coroutine would outlive that).
static_assert(rooms::detail::kTakesUnion<DispCtx, probe::Event, decltype(&wholeUnion)>);
static_assert(!rooms::detail::kTakesUnion<DispCtx, probe::Event, decltype(&onFail)>);
}  // namespace

TEST_CASE("schema: rooms::dispatch sends each event to the first handler that takes it") {
  auto rest = [](DispCtx& ctx, const auto& ev) -> rooms::Task<rooms::Status> {
    return report(ctx, "rest", probe::Event{ev});
  };
  rooms::Handlers<Disp> h;
  bool defaultFirst = false;
  SUBCASE("specific handlers, then a default") { h.onEvent = rooms::dispatch(onPing, onFail, rest); }
  SUBCASE("a default first takes everything") {
    defaultFirst = true;
    h.onEvent = rooms::dispatch(rest, onPing, onFail);
  }
  bool unionLast = false;
  SUBCASE("a handler of the whole union gets the event itself") {
    unionLast = true;
    h.onEvent = rooms::dispatch(onPing, wholeUnion);
  }
  rooms::Registry reg;
  reg.add<Disp>(h);
  support::InMemoryRuntime rt(reg);
  auto* a = rt.connect<Disp>("d", {.id = "a", .initialState = {"a", std::nullopt}}).value();

  auto seen = [&] {
    auto v = a->receivedAs<probe::Broadcast>();
    REQUIRE(v.size() == 1);
    REQUIRE(std::holds_alternative<probe::ErrorSeen>(v[0]));
    a->clearReceived();
    return std::get<probe::ErrorSeen>(v[0]);
  };
  a->receive(probe::Event{probe::Ping{}});
  auto ping = seen();
  CHECK(ping.phase == (defaultFirst ? "rest" : "ping"));
  CHECK(ping.message == R"({"_tag":"Ping"})");

  a->receive(probe::Event{probe::Kick{"x", 4001, "r"}});
  auto kick = seen();
  CHECK(kick.phase == (unionLast ? "union" : "rest"));
  CHECK(kick.message == R"({"_tag":"Kick","id":"x","code":4001,"reason":"r"})");

  auto r = rt.room("dispatch").sendEvent("d", probe::Event{probe::Fail{"boom"}});
  if (unionLast) {
    CHECK(r.ok);
    CHECK(seen().message == R"({"_tag":"Fail","message":"boom"})");
  } else if (defaultFirst) {
    CHECK(r.ok);
    CHECK(seen().message == R"({"_tag":"Fail","message":"boom"})");
  } else {
    CHECK_FALSE(r.ok);
    CHECK(r.tag == "RoomExecutionError");
    CHECK(r.payload.find("boom") != std::string::npos);
  }
}
