// Boundary micro-benchmark: the cost of one JS → Wasm crossing, embind versus
// a plain C export, for a no-op on an int and for a 141-byte text frame.
// Built by bench/boundary/build.sh, run by bench/boundary/run.mjs. Not part of
// the core; nothing in wasm/ includes it.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <emscripten/bind.h>
#include <emscripten/emscripten.h>

namespace {
// Touched by every call so that neither side is a pure constant.
volatile std::uint32_t sink = 0;

int embind_noop(int x) {
  sink = sink + 1;
  return x + 1;
}

std::uint32_t embind_str(const std::string& s) {
  sink = sink + static_cast<std::uint8_t>(s.empty() ? 0 : s.back());
  return static_cast<std::uint32_t>(s.size());
}

// The input buffer: allocated once, as the core's rooms_input.
char* input = nullptr;
std::uint32_t inputCap = 0;
}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE int c_noop(int x) {
  sink = sink + 1;
  return x + 1;
}

EMSCRIPTEN_KEEPALIVE char* c_input(std::uint32_t cap) {
  if (cap > inputCap) {
    std::free(input);
    input = static_cast<char*>(std::malloc(cap));
    inputCap = input ? cap : 0;
  }
  return input;
}

EMSCRIPTEN_KEEPALIVE std::uint32_t c_str(const char* ptr, std::uint32_t len) {
  sink = sink + static_cast<std::uint8_t>(len ? ptr[len - 1] : 0);
  return len;
}

}  // extern "C"

EMSCRIPTEN_BINDINGS(boundary) {
  emscripten::function("embind_noop", &embind_noop);
  emscripten::function("embind_str", &embind_str);
}
