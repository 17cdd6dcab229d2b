// Prints shim/wire.js, the JS side of wasm/core/src/runtime/wire.h: one frozen
// object per list, name → value, the names as in C++.
//   gen_wire                 the module, on stdout (scripts/build.sh writes it)
//   gen_wire --check FILE    exit 1, saying what to run, unless FILE holds
//                            exactly that module (CTest: wire_js_current)
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/wire.h"

namespace {

std::string module() {
  std::string out =
      "// Generated from wasm/core/src/runtime/wire.h by tools/gen_wire; do not edit.\n"
      "// The numbers of the wire protocol between the core and the shim.\n";
  for (const auto& list : rooms::wire::lists) {
    out += "\nexport const ";
    out += list.name;
    out += " = Object.freeze({\n";
    for (std::size_t i = 0; i < list.size; ++i) {
      out += "  ";
      out += list.entries[i].name;
      out += ": " + std::to_string(list.entries[i].value) + ",\n";
    }
    out += "});\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string text = module();
  if (argc == 3 && std::string(argv[1]) == "--check") {
    std::ifstream in(argv[2], std::ios::binary);
    std::ostringstream committed;
    committed << in.rdbuf();
    if (!in || committed.str() != text) {
      std::fprintf(stderr,
                   "%s is not what wasm/core/src/runtime/wire.h generates: the C++ and JS sides of the wire "
                   "protocol disagree.\nRegenerate it with `bash scripts/build.sh` (or `build/native/gen_wire > "
                   "shim/wire.js`) and commit it.\n",
                   argv[2]);
      return 1;
    }
    std::printf("%s matches wasm/core/src/runtime/wire.h\n", argv[2]);
    return 0;
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: gen_wire [--check shim/wire.js]\n");
    return 2;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}
