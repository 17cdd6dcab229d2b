// Prints the JSON Schemas (--json) or TypeScript declarations (--ts) of every
// room type in the application's registry.
#include <cstdio>
#include <cstring>

#include "app.h"

int main(int argc, char** argv) {
  bool ts = argc > 1 && std::strcmp(argv[1], "--ts") == 0;
  std::string out = ts ? app::registry().typeScript() : app::registry().jsonSchemas() + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
