// The registry a module serves: written once, in the user's own sources.
//
//   // rooms/module.cpp (any one .cpp of your module)
//   #include <rooms/module.h>
//   #include "chat.h"
//
//   ROOMS_MODULE(rooms::Registry().add<chat::Chat>(chat::handlers()))
//
// The argument is any expression that yields a rooms::Registry (a value or a
// reference; it is copied once, on first use). For a registry built in
// statements, an immediately invoked lambda:
//
//   ROOMS_MODULE([] {
//     rooms::Registry reg;
//     reg.add<chat::Chat>(chat::handlers());
//     reg.add<game::Game>(game::handlers(), {.maxConnections = 2});
//     return reg;
//   }())
//
// ROOMS_MODULE defines rooms::moduleRegistry(), the accessor everything else
// uses: the Wasm bindings (which room type a Durable Object instance
// becomes), the metadata exporter (rooms.meta.js, rooms.d.ts) that
// durable_rooms_add_module() runs, and your own tests:
//
//   rooms::testing::InMemoryRuntime rt(rooms::moduleRegistry());
//
// Exactly one ROOMS_MODULE per linked program: none is a link error naming
// rooms::moduleRegistry(), two are a duplicate definition of it.
#pragma once

#include "rooms/registry.h"

namespace rooms {

// The registry of this program's ROOMS_MODULE, built on first call
// (thread-safe, as any function-local static).
const Registry& moduleRegistry();

}  // namespace rooms

#define ROOMS_MODULE(...)                                  \
  const ::rooms::Registry& ::rooms::moduleRegistry() {     \
    static const ::rooms::Registry rooms_module_registry_{ \
        static_cast<const ::rooms::Registry&>(__VA_ARGS__)}; \
    return rooms_module_registry_;                         \
  }                                                        \
  static_assert(true, "ROOMS_MODULE(...) takes a trailing semicolon or none")
