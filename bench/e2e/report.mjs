// The closing summary of `npm run bench` (scripts/bench.sh), from the JSON
// the steps left in dist/bench-results: the end-to-end table, the wake, the
// targets each marked met or missed with its figure, the plot data, and the
// RESULT lines.
//
//   node bench/e2e/report.mjs --results DIR [--plot-data FILE] [--quiet-results]
//   node bench/e2e/report.mjs --results DIR --results-only

import fs from "node:fs";
import path from "node:path";
import { ROOMS, f, printTable, resultLines } from "./table.mjs";

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : null;
};
const dir = opt("results") ?? "dist/bench-results";
const read = (f) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  } catch {
    return null;
  }
};
const e2e = read("e2e.json");
const micro = read("micro.json");
const sizes = read("sizes.json");
const scale = read("scale.json");
const rooms = e2e?.args?.rooms ?? ROOMS;
const sockets = e2e?.args?.sockets ?? [10, 100, 1000];

if (argv.includes("--results-only")) {
  if (!e2e) throw new Error(`no ${dir}/e2e.json`);
  for (const l of resultLines(e2e, rooms, sockets)) console.log(l);
  process.exit(0);
}

const plotFile = opt("plot-data");
if (plotFile && e2e) {
  const lines = [`# sockets ${rooms.join(" ")}  (delivered messages/s, median of rounds)`];
  for (const n of sockets) lines.push([n, ...rooms.map((r) => f(e2e.results[r]?.[n]?.msgsPerS))].join(" "));
  fs.mkdirSync(path.dirname(plotFile), { recursive: true });
  fs.writeFileSync(plotFile, lines.join("\n") + "\n");
}

const out = [];
const p = (s = "") => out.push(s);
p("");
p("================================ summary ================================");
if (e2e) {
  const a = e2e.args;
  p(`end to end: ${a.quick ? "--quick, " : ""}${a.warmup} s warm-up, then ${a.rounds} rounds of two ${a.slice} s slices per room (ABBA) and socket count; ` +
    `run took ${f(e2e.seconds)} s (${f(e2e.gateWaitedS)} s of it waiting for other work to pause); machine busy before it: ${f(e2e.idleLoad, 2)} cores`);
  for (const l of printTable(e2e, rooms, sockets)) p(l);
  for (const n of sockets) {
    const r = e2e.results[rooms[0]]?.[n];
    if (r) p(`  ${n} sockets: ${r.roundsUsed} of ${a.rounds} rounds used${r.roundsQuiet ? " (the rounds without other load)" : " (all: fewer than 2 were free of other load)"}`);
  }
  p("(msgs/s: median of the rounds used; p50/p99: all their Says, send to last delivery; µs/msg: workerd CPU per");
  p(" delivered message, median of rounds; cpu: cores busy during the measured windows, other = rest of the machine)");
  p("");
  const ci = (x) => (x ? `${f(x.geoMean, 2)} [${f(x.ciLow, 2)}, ${f(x.ciHigh, 2)}]` : "n/a");
  p("ratio to plain-js, paired within rounds: geometric mean [95% confidence interval]; median (min–max):");
  for (const n of sockets) {
    p(`  ${String(n).padStart(5)} sockets: ` + rooms.filter((r) => r !== "plain-js").map((r) => {
      const x = e2e.results[r]?.[n]?.pairedRatio;
      return x ? `${r} ${ci(x)}; ${f(x.median, 2)} (${f(x.min, 2)}–${f(x.max, 2)})` : `${r} n/a`;
    }).join("\n                  "));
  }
  if (rooms.includes("floor")) {
    p("ratio to the floor (each inbound frame sent as is to every socket), paired within rounds:");
    for (const n of sockets) {
      p(`  ${String(n).padStart(5)} sockets: ` + rooms.filter((r) => r !== "floor").map((r) => `${r} ${ci(e2e.results[r]?.[n]?.floorRatio)}`).join(", "));
    }
  }
  const wake = e2e.wake ?? {};
  if (Object.keys(wake).length) {
    p("");
    p(`wake of a room with ${Math.max(...sockets)} sockets after hibernation (one Say; first / last delivery):`);
    for (const r of rooms) {
      const w = wake[r];
      if (w) p(`  ${r.padEnd(14)} cold ${f(w.firstMs, 1)} / ${f(w.lastMs, 1)} ms, warm ${f(w.warmFirstMs, 1)} / ${f(w.warmLastMs, 1)} ms${w.hibernated ? "" : "  (did NOT hibernate)"}`);
    }
  } else {
    p("");
    p("wake: not measured in this run (--quick skips it; pass --wake to bench/e2e/run.mjs)");
  }
}

if (scale) {
  p("");
  p("scale (bench/e2e/scale.mjs): one room, joins unannounced, each room kind in a fresh workerd:");
  p("room                  sockets  join s   msgs/s   p50 ms   p99 ms  RSS/socket  wake first / last ms  (awake)");
  for (const [r, x] of Object.entries(scale)) {
    p(`${r.padEnd(20)} ${String(x.sockets).padStart(8)} ${f(x.joinS, 1).padStart(7)} ${f(x.msgsPerS).padStart(8)} ${f(x.p50, 1).padStart(8)} ${f(x.p99, 1).padStart(8)}` +
      `  ${(f(x.rssPerSocket / 1024, 1) + " KiB").padStart(10)}  ${f(x.wakeFirstMs, 1).padStart(9)} / ${f(x.wakeLastMs, 1).padStart(7)}  (${f(x.warmFirstMs, 1)} / ${f(x.warmLastMs, 1)})` +
      (x.hibernated === false ? "  did NOT hibernate" : ""));
  }
}

p("");
p("targets:");
const mark = (ok) => (ok ? "met   " : "MISSED");
if (e2e) {
  const dr = e2e.results["durable-rooms"] ?? {};
  const pl = e2e.results["plain-js"] ?? {};
  const ps = e2e.results.partyserver ?? {};
  const vsPlain = sockets.map((n) => dr[n]?.pairedRatio?.geoMean ?? dr[n]?.msgsPerS / pl[n]?.msgsPerS);
  const lowPlain = sockets.map((n) => dr[n]?.pairedRatio?.ciLow);
  const vsParty = sockets.map((n) => dr[n]?.msgsPerS / ps[n]?.msgsPerS);
  const list = (xs) => sockets.map((n, i) => `${n}: ${f(xs[i], 2)}×`).join(", ");
  p(`  [${mark(vsPlain.every((x) => x >= 1.0))}] end to end ≥ 1.0× plain JS at every socket count       ${list(vsPlain)}`);
  p(`  [${mark(lowPlain.every((x) => x >= 0.95))}] ... with the 95% interval's lower end ≥ 0.95           ${list(lowPlain)}`);
  p(`  [${mark(vsParty.every((x) => x >= 1.0))}] end to end ≥ 1.0× PartyServer at every socket count     ${list(vsParty)}`);
  const co = e2e.results["durable-rooms-coalesced"]?.[100];
  if (co && pl[100]) {
    const x = co.msgsPerS / pl[100].msgsPerS;
    const ok = x >= 5 && co.p99 <= 20 + 20;
    p(`  [${mark(ok)}] coalesced ≥ 5× plain JS deliveries at 100 sockets, p99 ≤ 40 ms  ${f(x, 2)}×, p99 ${f(co.p99, 1)} ms (20 ms window)`);
  }
}
if (micro) {
  p(`  [${mark(micro.ratioEffectOverWasm >= 3)}] core ≥ 3× faster than Effect Schema per event           ` +
    `${f(micro.ratioEffectOverWasm, 2)}× (Effect ${f(micro.effectEvent)} ns vs core ${f(micro.wasmEvent)} ns, room of 100)`);
  p(`  [${mark(micro.loadCoreMs <= 5)}] instantiate ≤ 5 ms                                      ` +
    `${f(micro.loadCoreMs, 2)} ms (new WebAssembly.Instance + Emscripten factory, median)`);
}
if (sizes) {
  p(`  [${mark(sizes.wasmGzip9 <= 150 * 1024)}] .wasm ≤ 150 KiB gzip                                   ` +
    `${f(sizes.wasmGzip9 / 1024, 1)} KiB gzip -9 (${f(sizes.wasmBytes / 1024, 1)} KiB raw)`);
  p(`  deployable chat bundle: ${sizes.chatUpload}`);
  p(`  measured: commit ${sizes.commit}, core.wasm sha256 ${sizes.wasmSha256}…`);
}
p("");
console.log(out.join("\n"));
if (!argv.includes("--quiet-results") && e2e) for (const l of resultLines(e2e, rooms, sockets)) console.log(l);
