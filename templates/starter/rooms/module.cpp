// The room types this worker serves. Add yours here.
#include <rooms/module.h>

#include "counter.h"

ROOMS_MODULE(rooms::Registry().add<counter::Counter>(counter::handlers()));
