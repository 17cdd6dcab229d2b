// Boundary micro-benchmark: ns per JS → Wasm call, embind versus plain C
// exports, under node. Build first: bash bench/boundary/build.sh
// Usage: node bench/boundary/run.mjs [--samples N] [--batch N] [--module path/to/boundary.cjs]
//
// Four calls, in one module built with the flags workerd needs
// (-sDYNAMIC_EXECUTION=0: embind's invokers are its generic closures, not
// generated code):
//   embind int      Module.embind_noop(i)              int(int)
//   C export int    Module._c_noop(i)                  int(int)
//   embind string   Module.embind_str(frame)           size_t(const std::string&)
//   C export string encoder.encodeInto(frame, HEAPU8.subarray(ptr, ptr + cap))
//                   then Module._c_str(ptr, written)   — as shim/core.js put():
//                   a fresh subarray per call into a buffer allocated once.
// Each sample is one batch of calls; the figure is the median over samples of
// ns per call. The four are sampled in turn so that a load spike hits all.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const argv = process.argv.slice(2);
const modArg = argv.indexOf("--module"); // another build of boundary.cpp, for comparisons
const js = modArg >= 0 ? path.resolve(argv[modArg + 1]) : path.join(root, "build/boundary/boundary.cjs");
if (!existsSync(js)) {
  console.error(`missing ${path.relative(root, js)}: run bash bench/boundary/build.sh first`);
  process.exit(1);
}

const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const SAMPLES = opt("--samples", 25);
const BATCH = opt("--batch", 100_000);
const WARMUP = 5; // batches per call before sampling

// The Emscripten glue installs an uncaughtException handler that rethrows,
// which prints its whole minified source: report failures here instead.
const fail = (msg) => {
  console.error(`boundary: ${msg}`);
  process.exit(1);
};

const createModule = createRequire(import.meta.url)(js);
const M = await createModule();

// A chat-like frame, 141 bytes of UTF-8 (ASCII); 16 variants that differ in
// the id so that no call sees the very same string twice in a row.
const frames = [];
for (let k = 0; k < 16; k++) {
  const id = String(100000 + k);
  const f = `{"type":"chat","room":"lobby","id":"m-${id}","from":"alice","ts":1718000000000,"text":"hello everyone, the stand-up moves to 3 pm today!!!"}`;
  frames.push(f);
}
const FRAME_BYTES = Buffer.byteLength(frames[0]);
if (frames.some((f) => Buffer.byteLength(f) !== 141)) fail(`frame is ${FRAME_BYTES} bytes, not 141`);

const encoder = new TextEncoder();
const CAP = 141 * 3; // the shim reserves text.length * 3
const ptr = M._c_input(CAP); // allocated once

// Sanity: every path returns what it should.
if (M.embind_noop(41) !== 42 || M._c_noop(41) !== 42) fail("int no-op is wrong");
if (M.embind_str(frames[0]) !== 141) fail("embind_str is wrong");
{
  const { written } = encoder.encodeInto(frames[0], M.HEAPU8.subarray(ptr, ptr + CAP));
  if (M._c_str(ptr, written) !== 141) fail("c_str is wrong");
  if (Buffer.from(M.HEAPU8.subarray(ptr, ptr + written)).toString() !== frames[0]) fail("bytes differ");
}

// Each returns a checksum so the calls cannot be dropped.
const cases = [
  ["embind int call", "int", (n) => {
    const f = M.embind_noop;
    let s = 0;
    for (let i = 0; i < n; i++) s = (s + f(i)) | 0;
    return s;
  }],
  ["C export int call", "int", (n) => {
    const f = M._c_noop;
    let s = 0;
    for (let i = 0; i < n; i++) s = (s + f(i)) | 0;
    return s;
  }],
  [`embind string (${FRAME_BYTES} B) call`, "str", (n) => {
    const f = M.embind_str;
    let s = 0;
    for (let i = 0; i < n; i++) s = (s + f(frames[i & 15])) | 0;
    return s;
  }],
  [`C export encodeInto + (ptr,len) call (${FRAME_BYTES} B)`, "str", (n) => {
    const f = M._c_str;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const { written } = encoder.encodeInto(frames[i & 15], M.HEAPU8.subarray(ptr, ptr + CAP));
      s = (s + f(ptr, written)) | 0;
    }
    return s;
  }],
];

const t0 = process.hrtime.bigint();
let sink = 0;
for (const [, , fn] of cases) for (let w = 0; w < WARMUP; w++) sink = (sink + fn(BATCH)) | 0;
const samples = cases.map(() => []);
for (let s = 0; s < SAMPLES; s++) {
  cases.forEach(([, , fn], c) => {
    const a = process.hrtime.bigint();
    sink = (sink + fn(BATCH)) | 0;
    const b = process.hrtime.bigint();
    samples[c].push(Number(b - a) / BATCH);
  });
}
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const med = samples.map(median);
const lo = samples.map((xs) => Math.min(...xs));
const hi = samples.map((xs) => Math.max(...xs));

const os = await import("node:os");
console.log(`boundary micro-benchmark (${path.relative(root, js)}): node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), ` +
  `load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
console.log(`${SAMPLES} samples x ${BATCH.toLocaleString("en")} calls each, after ${WARMUP} warm-up batches; ns per call`);
const w = Math.max(...cases.map(([name]) => name.length));
console.log(`  ${"call".padEnd(w)}  ${"median".padStart(8)}  ${"min".padStart(8)}  ${"max".padStart(8)}`);
cases.forEach(([name], c) =>
  console.log(`  ${name.padEnd(w)}  ${med[c].toFixed(1).padStart(8)}  ${lo[c].toFixed(1).padStart(8)}  ${hi[c].toFixed(1).padStart(8)}`));
console.log(`  ratio embind / C export, int call:    ${(med[0] / med[1]).toFixed(1)}x`);
console.log(`  ratio embind / C export, string call: ${(med[2] / med[3]).toFixed(1)}x`);
console.log(`  (checksum ${sink}; ${elapsed.toFixed(1)} s)`);
console.log(`RESULT boundary_ns embind_int=${med[0].toFixed(1)} c_int=${med[1].toFixed(1)} ` +
  `embind_str=${med[2].toFixed(1)} c_str=${med[3].toFixed(1)} ratio_int=${(med[0] / med[1]).toFixed(2)} ratio_str=${(med[2] / med[3]).toFixed(2)}`);
