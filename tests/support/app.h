// The suites' name for the registry of the test builds: the one that
// tests/support/registry.cpp declares with ROOMS_MODULE.
#pragma once

#include "rooms/module.h"

namespace app {
inline const rooms::Registry& registry() { return rooms::moduleRegistry(); }
}  // namespace app
