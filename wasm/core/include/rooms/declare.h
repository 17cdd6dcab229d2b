// How a room author declares schema types: plain structs and enums, each
// followed by one macro line that lists its fields once.
//
//   struct Say { std::string text; };
//   ROOMS_TAGGED(Say, text)                 // a union member: "_tag": "Say"
//
//   struct State { rooms::Timestamp createdAt; std::int64_t messageCount = 0; };
//   ROOMS_STRUCT(State, createdAt, messageCount)
//
//   enum class Role { X, O, spectator };
//   ROOMS_ENUM(Role, X, O, spectator)       // "X" | "O" | "spectator" on the wire
//
// The field list is Boost.Describe's (BOOST_DESCRIBE_STRUCT / _ENUM); the
// macros add the type's name (for the named types of the generated JSON
// Schema and TypeScript), its `_tag` when it is a union member, and a check
// at the declaration that every field has a schema type. Use them at
// namespace scope, after the type, like BOOST_DESCRIBE_STRUCT.
//
// Field names are the JSON keys. A field of type rooms::Optional<T> may be
// absent; a std::optional<T> field is required and may be null.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/describe/class.hpp>
#include <boost/describe/detail/pp_for_each.hpp>
#include <boost/describe/enum.hpp>
#include <boost/describe/enumerators.hpp>
#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>

namespace rooms {

// ---- Value types with no C++ standard counterpart ---------------------------

template <std::size_t N>
struct FixedString {
  char data[N]{};
  constexpr FixedString(const char (&s)[N]) {
    for (std::size_t i = 0; i < N; ++i) data[i] = s[i];
  }
  constexpr std::string_view view() const { return {data, N - 1}; }
};

// A string that must equal S exactly (a TypeScript literal type).
template <FixedString S>
struct Literal {
  static constexpr std::string_view value = S.view();
  bool operator==(const Literal&) const = default;
};

// One of a fixed set of strings: `"X" | "O" | "spectator"`. Holds the index
// of its value; built from a literal the set holds (checked at compile
// time) or parsed from run-time text.
template <FixedString... S>
class OneOf {
 public:
  static_assert(sizeof...(S) > 0, "rooms::OneOf needs at least one string");
  static constexpr std::string_view values[sizeof...(S)] = {S.view()...};
  static constexpr std::size_t size = sizeof...(S);

  constexpr OneOf() = default;
  consteval OneOf(const char* s) : index_(indexOf(s)) {}
  static constexpr std::optional<OneOf> parse(std::string_view s) {
    for (std::size_t i = 0; i < size; ++i)
      if (values[i] == s) return OneOf(Index{i});
    return std::nullopt;
  }
  constexpr std::string_view value() const { return values[index_]; }
  constexpr std::size_t index() const { return index_; }
  constexpr bool operator==(const OneOf&) const = default;
  constexpr bool operator==(std::string_view s) const { return value() == s; }
  constexpr bool operator==(const char* s) const { return value() == s; }

 private:
  struct Index {
    std::size_t i;
  };
  constexpr explicit OneOf(Index i) : index_(i.i) {}
  static consteval std::size_t indexOf(std::string_view s) {
    for (std::size_t i = 0; i < size; ++i)
      if (values[i] == s) return i;
    throw "rooms::OneOf: the string is not one of the allowed values";
  }
  std::size_t index_ = 0;
};

// JSON null.
struct Null {
  bool operator==(const Null&) const = default;
};

// A struct field whose key may be absent (`k?: T` in TypeScript). When the
// key is present its value must be a T (null only if T is nullable).
template <class T>
struct Optional : std::optional<T> {
  using std::optional<T>::optional;
  Optional() = default;
  Optional& operator=(std::nullopt_t) {
    this->reset();
    return *this;
  }
  template <class U, class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<U>, Optional> &&
                                              std::is_constructible_v<T, U&&>>>
  Optional& operator=(U&& v) {
    this->emplace(std::forward<U>(v));
    return *this;
  }
};

// A point in time with millisecond precision; a number of milliseconds since
// the Unix epoch on the wire (what Date.now() returns).
using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

inline constexpr Timestamp fromEpochMs(std::int64_t ms) { return Timestamp(std::chrono::milliseconds(ms)); }
inline constexpr std::int64_t epochMs(Timestamp t) { return t.time_since_epoch().count(); }

// ---- What the macros record ------------------------------------------------

// The name of a declared type and, for union members, its `_tag` (empty
// otherwise). Found by argument-dependent lookup on `rooms_type_info(T*)`.
struct TypeInfo {
  std::string_view name;
  std::string_view tag;
};

namespace detail {
template <class T>
concept Declared = requires(T* p) {
  { rooms_type_info(p) } -> std::same_as<TypeInfo>;
};
template <class T>
constexpr TypeInfo typeInfo() {
  return rooms_type_info(static_cast<T*>(nullptr));
}
}  // namespace detail

// A declared struct that is a union member.
template <class T>
concept Tagged = detail::Declared<T> && std::is_class_v<T> && !detail::typeInfo<T>().tag.empty();

// True when T may be the type of a declared struct's field (schema.h).
template <class T>
struct IsFieldType;

}  // namespace rooms

// One static_assert per field, so the error names the struct and the field.
#define ROOMS_DETAIL_CHECK_FIELD(T, f)                                                                      \
  static_assert(::rooms::IsFieldType<decltype(T::f)>::value,                                             \
                "ROOMS_STRUCT(" #T "): field '" #f "' has a type that is not a schema type (declare "  \
                "that struct with ROOMS_STRUCT or ROOMS_TAGGED, that enum with ROOMS_ENUM, or "         \
                "specialise rooms::Schema for it)");

#define ROOMS_DETAIL_DESCRIBE(T, NAME, TAG, ...)                                         \
  BOOST_DESCRIBE_STRUCT(T, (), (__VA_ARGS__))                                             \
  [[maybe_unused]] constexpr ::rooms::TypeInfo rooms_type_info(T*) { return {NAME, TAG}; } \
  BOOST_DESCRIBE_PP_FOR_EACH(ROOMS_DETAIL_CHECK_FIELD, T __VA_OPT__(, ) __VA_ARGS__)

// A struct: its fields, in order.
#define ROOMS_STRUCT(T, ...) ROOMS_DETAIL_DESCRIBE(T, #T, "", __VA_ARGS__)
// A member of a tagged union: encoded with `"_tag": "<T>"`.
#define ROOMS_TAGGED(T, ...) ROOMS_DETAIL_DESCRIBE(T, #T, #T, __VA_ARGS__)
// The same with a `_tag` other than the type's name.
#define ROOMS_TAGGED_AS(T, TAG, ...) ROOMS_DETAIL_DESCRIBE(T, #T, TAG, __VA_ARGS__)
// An enum carried as the names of its enumerators.
#define ROOMS_ENUM(E, ...)                                                                 \
  BOOST_DESCRIBE_ENUM(E, __VA_ARGS__)                                                      \
  [[maybe_unused]] constexpr ::rooms::TypeInfo rooms_type_info(E*) { return {#E, ""}; }
