// JS-side micro-benchmark of the core (node, no workerd):
//
//   1. per inbound Say in a chat room of 100 connections:
//      - the Wasm core through the shim's own Core class (shim/core.js):
//        encodeInto + one crossing (decode, validate, handler, encode once,
//        effect batch with 100 recipients), then the batch decoded in JS the
//        way the Durable Object does (core.effects)
//      - Effect Schema (npm effect 4): decode the same frame from JSON and
//        validate, the same handler, encode the Message to JSON
//      - plain JS for reference: JSON.parse + hand-written checks + JSON.stringify
//   2. the raw cost of one JS → Wasm → JS crossing with a small frame
//   3. start: compiling the module, new WebAssembly.Instance + the Emscripten
//      factory (loadCore), and binding the instance to a chat room; warm (in
//      this process) and cold (fresh node processes, first Say included)
//
//   node bench/micro.mjs [--quick] [--json FILE]
//
// Prints ns/event and the ratios, then `MICRO <name> <value> <unit>` lines.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { effectCodec, plainCodec } from "./e2e/chat-codecs.js";
import factory from "../dist/wasm-bench/core.mjs";
import { hostTable, loadCore } from "../shim/core.js";
import { EffectKind } from "../shim/wire.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WASM = path.join(root, "dist/wasm-bench/core.wasm");
const quick = process.argv.includes("--quick");
const jsonOut = (() => {
  const i = process.argv.indexOf("--json");
  return i >= 0 ? process.argv[i + 1] : null;
})();
const SOCKETS = 100;
const SAY = JSON.stringify({ _tag: "Say", text: "hello, world: a typical chat line of some length" });
const SMALL = JSON.stringify({ _tag: "Typing" });
const BUDGET_MS = quick ? 150 : 400; // per sample
const SAMPLES = quick ? 3 : 7;

let sink = 0;
const out = {};

// --cold-child: one fresh isolate, nothing compiled yet. Times compile,
// instantiate (+ factory), init, and the first Say through the core
// (which includes V8 compiling the functions it calls for the first time).
if (process.argv.includes("--cold-child")) {
  const bytes = fs.readFileSync(WASM);
  const t0 = performance.now();
  const mod = new WebAssembly.Module(bytes);
  const t1 = performance.now();
  const core = await loadCore(mod, factory, memoryHost());
  const t2 = performance.now();
  core.init("chat", "cold");
  core.effects(core.upgrade(1, JSON.stringify({ id: "u0", tags: [], meta: null, initialState: { userId: "u0", joinedAt: 1 }, onDuplicate: "allow" })));
  const t3 = performance.now();
  core.effects(core.message(0, SAY));
  const t4 = performance.now();
  console.log(JSON.stringify({ compile: t1 - t0, instantiate: t2 - t1, initJoin: t3 - t2, firstSay: t4 - t3, total: t4 - t0 }));
  process.exit(0);
}

// Median over SAMPLES of ns per call, each sample running fn in batches for
// about BUDGET_MS after a warm-up.
function measure(fn) {
  for (let i = 0; i < 20000; i++) fn(i);
  const samples = [];
  for (let s = 0; s < SAMPLES; s++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < BUDGET_MS) {
      for (let i = 0; i < 1000; i++) fn(n + i);
      n += 1000;
      t = performance.now();
    }
    samples.push(((t - t0) * 1e6) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

const medianOf = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

// A host like shim/durable-object.js host(), over in-memory storage.
function memoryHost() {
  const store = new Map();
  return {
    store,
    randomId: () => crypto.randomUUID(),
    load: (key) => store.get(key) ?? null,
    loadConnections: () => "",
    loadAttachment: () => "",
    env: () => null,
  };
}

// A chat room in the Wasm core with `n` connections, joined the way the
// shim joins them (upgrade → Accept effects).
async function chatRoom(wasmModule, n) {
  const host = memoryHost();
  const core = await loadCore(wasmModule, factory, host);
  if (!core.init("chat", "bench")) throw new Error("no chat room in the core");
  for (let i = 0; i < n; i++) {
    const opts = { id: `u${i}`, tags: [`user:u${i}`], meta: null, initialState: { userId: `u${i}`, joinedAt: 1.7e12 }, onDuplicate: "allow" };
    for (const e of core.effects(core.upgrade(i + 1, JSON.stringify(opts)))) {
      if (e.kind === EffectKind.Put) host.store.set(e.key, e.text);
    }
  }
  return core;
}

// ---- Effect Schema and plain JS paths: the bench worker's rooms' codecs ----------

// The same handler over each codec: decode the frame, count a Say, encode the
// Message (or the Typing) once.
function jsEvent(codec, state, userId, frame) {
  const ev = codec.decode(frame);
  if (ev === null) return null;
  if (ev._tag !== "Say") return codec.encode({ _tag: "Typing", userId });
  state.messageCount += 1;
  return codec.encode({ _tag: "Message", text: ev.text, userId, ts: Date.now() });
}
const effectEvent = (state, userId, frame) => jsEvent(effectCodec, state, userId, frame);
const plainEvent = (state, userId, frame) => jsEvent(plainCodec, state, userId, frame);

// ---- Run ------------------------------------------------------------------------------

const line = (label, value, unit, note = "") =>
  console.log(`  ${label.padEnd(58)} ${value.toFixed(value < 10 ? 2 : 0).padStart(9)} ${unit}${note ? "  " + note : ""}`);

console.log(`core micro-benchmark: node ${process.version}, no workerd; Say frame ${Buffer.byteLength(SAY)} bytes; ${SAMPLES} samples × ${BUDGET_MS} ms, median`);

const bytes = fs.readFileSync(WASM);
// The first compile in this isolate; V8 caches a module by its bytes, so
// later compiles of the same bytes are cache hits and not reported.
const tCompile = performance.now();
const wasmModule = new WebAssembly.Module(bytes);
out.compileMs = performance.now() - tCompile;
const core = await chatRoom(wasmModule, SOCKETS);

// Sanity: one Say gives a Put and one Message frame to all 100 sockets.
{
  const effects = core.effects(core.message(0, SAY));
  const frame = effects.find((e) => e.kind === EffectKind.Frame);
  if (!frame || frame.n !== SOCKETS || !effects.some((e) => e.kind === EffectKind.Put)) {
    throw new Error(`unexpected effects for a Say: ${JSON.stringify(effects)}`);
  }
}

console.log(`\nper inbound Say, room of ${SOCKETS} connections (ns/event)`);
out.wasmCoreOnly = measure((i) => {
  sink ^= core.message(i % SOCKETS, SAY);
});
out.wasmEvent = measure((i) => {
  sink ^= core.effects(core.message(i % SOCKETS, SAY)).length;
});
const state = { createdAt: 1.7e12, messageCount: 0 };
out.effectEvent = measure(() => {
  sink ^= effectEvent(state, "u7", SAY).length;
});
out.plainEvent = measure(() => {
  sink ^= plainEvent(state, "u7", SAY).length;
});
out.effectDecodeOnly = measure(() => {
  sink ^= effectCodec.decode(SAY)._tag.length;
});
line("wasm core: encodeInto + crossing + decode/validate/handler/encode", out.wasmCoreOnly, "ns");
line("wasm core + effect batch decoded in JS (what the DO pays)", out.wasmEvent, "ns", `(batch decoding ${(out.wasmEvent - out.wasmCoreOnly).toFixed(0)} ns)`);
line("Effect Schema: decode + validate + handler + encode", out.effectEvent, "ns", `(decode alone ${out.effectDecodeOnly.toFixed(0)} ns)`);
line("plain JS: JSON.parse + checks + handler + JSON.stringify", out.plainEvent, "ns");
out.ratioEffectOverWasm = out.effectEvent / out.wasmEvent;
out.ratioPlainOverWasm = out.plainEvent / out.wasmEvent;
console.log(`  Effect Schema / wasm core: ${out.ratioEffectOverWasm.toFixed(2)}×   (target ≥ 3×: ${out.ratioEffectOverWasm >= 3 ? "met" : "missed"})`);
console.log(`  plain JS / wasm core:      ${out.ratioPlainOverWasm.toFixed(2)}×`);

console.log(`\none JS → Wasm → JS crossing with a small frame (${Buffer.byteLength(SMALL)} bytes)`);
const m = core.m;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
out.bareCall = measure(() => {
  sink ^= m._rooms_max_frame();
});
out.smallRoundTrip = measure(() => {
  const ptr = m._rooms_input(SMALL.length * 3);
  const heap = m.HEAPU8;
  const { written } = encoder.encodeInto(SMALL, heap.subarray(ptr, ptr + SMALL.length * 3));
  sink ^= decoder.decode(heap.subarray(ptr, ptr + written)).length;
});
out.smallMessage = measure(() => {
  sink ^= core.message(3, SMALL);
});
line("bare export call, no data (_rooms_max_frame)", out.bareCall, "ns");
line("frame in (encodeInto) + call + frame out (TextDecoder)", out.smallRoundTrip, "ns");
line("a Typing through the core (core.message, batch not decoded)", out.smallMessage, "ns");

console.log("\nstart (median)");
const N = quick ? 40 : 200;
let imports = null;
await factory({
  host: hostTable(memoryHost()),
  instantiateWasm(imp, receive) {
    imports = imp;
    const inst = new WebAssembly.Instance(wasmModule, imp);
    receive(inst);
    return inst.exports;
  },
});
const inst = [];
const load = [];
const init = [];
for (let i = 0; i < N; i++) {
  let t = performance.now();
  new WebAssembly.Instance(wasmModule, imports);
  inst.push(performance.now() - t);
  t = performance.now();
  const c = await loadCore(wasmModule, factory, memoryHost());
  load.push(performance.now() - t);
  t = performance.now();
  c.init("chat", `room-${i}`);
  init.push(performance.now() - t);
}
out.instanceMs = medianOf(inst);
out.loadCoreMs = medianOf(load);
const colds = [];
for (let i = 0; i < (quick ? 3 : 9); i++) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--cold-child"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cold child failed: ${r.stderr}`);
  colds.push(JSON.parse(r.stdout.trim().split("\n").pop()));
}
for (const k of ["compile", "instantiate", "initJoin", "firstSay", "total"]) {
  out[`cold${k[0].toUpperCase()}${k.slice(1)}Ms`] = medianOf(colds.map((c) => c[k]));
}
out.initMs = medianOf(init);
line(`compile: new WebAssembly.Module (${(bytes.length / 1024).toFixed(0)} KiB), in this process, once`, out.compileMs, "ms");
line("new WebAssembly.Instance alone", out.instanceMs, "ms");
line("new WebAssembly.Instance + Emscripten factory (loadCore)", out.loadCoreMs, "ms", `(target ≤ 5 ms: ${out.loadCoreMs <= 5 ? "met" : "missed"})`);
line("+ rooms_init(chat)", out.initMs, "ms");
console.log(`  cold, in a fresh node process (median of ${colds.length}):`);
line("  compile (new WebAssembly.Module)", out.coldCompileMs, "ms");
line("  instantiate + Emscripten factory", out.coldInstantiateMs, "ms");
line("  rooms_init(chat) + first join", out.coldInitJoinMs, "ms");
line("  first Say through the core (functions compiled lazily)", out.coldFirstSayMs, "ms");
line("  total, bytes to first Say handled", out.coldTotalMs, "ms");

console.log("");
for (const [k, v] of Object.entries(out)) console.log(`MICRO ${k} ${+v.toFixed(4)} ${k.endsWith("Ms") ? "ms" : k.startsWith("ratio") ? "x" : "ns"}`);
if (jsonOut) {
  fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
  fs.writeFileSync(jsonOut, JSON.stringify(out, null, 1));
}
if (sink === 0.5) console.log(sink);
