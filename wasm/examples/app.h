// The application's registry: every room type this module serves. The Wasm
// bindings and the native tools take their rooms from here.
#pragma once

#include "rooms/room.h"

namespace app {
const rooms::Registry& registry();
}
