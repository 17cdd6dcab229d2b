// The end-to-end benchmark: the chat rooms and the floor (bench/e2e/worker.js) in one
// local workerd, loaded in turn from a separate node client process
// (bench/e2e/client.mjs), at 10, 100 and 1,000 sockets in one room. Each
// room is warmed up first; then every round runs each room in two short
// slices in ABBA order, and each ratio (to plain-js, and to the floor) is
// paired within rounds and reported with a 95% confidence interval.
//
//   node bench/e2e/run.mjs [--quick] [--sockets 10,100,1000] [--rounds R]
//        [--slice S] [--warmup S] [--tierup S] [--rooms a,b] [--window W] [--no-wake|--wake]
//        [--json FILE] [--no-summary]
//
// Per room and socket count it prints delivered messages/s (Message frames
// received by clients per second), p50/p99 latency from a Say's send to its
// LAST delivery, each figure's ratio to plain-js, and the CPU that workerd
// and the client used during the measured windows (workerd near 1.0 core and
// the client below it means the server is the bottleneck), workerd CPU per
// delivered message, and the load the rest of the machine put on it; rounds
// disturbed by other work are left out when enough clean ones remain. Ends with
//   RESULT <room> <sockets> <msgs_per_s> <p50_ms> <p99_ms> <ratio_to_plain_js>
// (the ratio is that of msgs/s).

import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cpuSeconds, machineBusySeconds, startBenchServer } from "./server.mjs";
import { ROOMS, f, printTable, resultLines } from "./table.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const quick = argv.includes("--quick");
  const opt = (name, def) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : def;
  };
  return {
    quick,
    sockets: opt("sockets", "10,100,1000").split(",").map(Number),
    rounds: Number(opt("rounds", quick ? 4 : 24)),
    // Seconds per slice; each room runs two slices per round (ABBA).
    slice: Number(opt("slice", quick ? 0.3 : 0.5)),
    // Seconds each room runs, unmeasured, before the rounds of a socket count.
    warmup: Number(opt("warmup", quick ? 1 : 3)),
    // Seconds added to the first socket count's warm-up: V8 tiers a Wasm
    // function up (Liftoff → TurboFan) only once it ran hot for a while, and
    // in workerd the chat core got there only after 100,000–150,000 events
    // (measured in one workerd request looping over the core: 18 µs per
    // event for the first 20,000, 5 µs by 100,000, 2.5 µs from 140,000 on;
    // node reaches its 1.9 µs within 40,000).
    tierup: Number(opt("tierup", quick ? 4 : 10)),
    rooms: opt("rooms", ROOMS.join(",")).split(","),
    // The wake needs 13 s of idling: only in full runs unless asked for.
    wake: quick ? argv.includes("--wake") : !argv.includes("--no-wake"),
    summary: !argv.includes("--no-summary"),
    json: opt("json", null),
    window: opt("window", null),
    // Says in flight in the coalesced room, as a multiple of the others'.
    coalescedLoad: Number(opt("coalesced-load", 24)),
  };
}

// Says in flight per room: enough that the room always has one queued
// behind the one it handles (the hops from client to Durable Object take
// longer than a small room's work), the same for every room.
const WINDOW = { 10: 16, 100: 4, 1000: 2 };
const windowFor = (n) => WINDOW[n] ?? Math.max(2, Math.round(160 / n));
// The coalesced room holds each message up to its 20 ms window, so a few
// Says in flight would leave it idle: it runs at saturation instead, with
// enough in flight to fill its windows (the latency then includes the wait).
let SATURATE = { "durable-rooms-coalesced": 24 };
const inFlight = (room, n, window) => window * (SATURATE[room] ?? 1);
// Rooms with a heartbeat close a socket that sent nothing for 60 s
// (chat::options()): in a room of 1,000, most sockets send no Say for
// minutes, so the client pings each one silent for 20 s (a third of the
// timeout, as docs/PROTOCOL.md advises); the platform answers without waking
// the room.
const PING = { "durable-rooms-full": { request: "ping", response: "pong", everyMs: 20_000 } };

export class ClientProc {
  constructor() {
    this.child = fork(path.join(here, "client.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.pending = new Map();
    this.seq = 0;
    this.onEvent = () => {};
    this.child.on("message", (m) => {
      if (m.reply !== undefined) {
        const p = this.pending.get(m.reply);
        this.pending.delete(m.reply);
        if (m.ok) p.resolve(m);
        else p.reject(new Error(`client: ${m.error}`));
      } else {
        this.onEvent(m);
      }
    });
    this.child.on("exit", (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`client process exited (${code})`));
      this.pending.clear();
    });
  }
  call(op, args = {}) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...args, op, id });
    });
  }
  stop() {
    if (this.child.exitCode === null) {
      try {
        this.child.send({ op: "exit" });
      } catch {
        // Already gone.
      }
      setTimeout(() => this.child.exitCode === null && this.child.kill("SIGKILL"), 3000).unref();
    }
  }
}

const pct = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
// Milliseconds of load before a slice's measured window, so the pipeline is
// full (the room has a Say queued behind the one it handles) when it opens.
const SLICE_FILL_MS = 100;

// The order of a round's first half. The headline pair comes last, side by
// side, so its four slices are adjacent in the middle of the ABBA sequence
// (plain, durable-rooms, durable-rooms, plain; swapped every other round):
// its ratio is paired across seconds, not across the whole round. The other
// rooms rotate from round to round before it.
const HEADLINE = ["plain-js", "durable-rooms"];
export function roundOrder(rooms, round) {
  const pair = HEADLINE.filter((r) => rooms.includes(r));
  const others = rooms.filter((r) => !pair.includes(r));
  const rotated = others.map((_, i) => others[(i + round) % others.length]);
  return [...rotated, ...(round % 2 === 1 ? [...pair].reverse() : pair)];
}

// Two-sided 95% quantiles of Student's t, by degrees of freedom.
const T95 = [NaN, 12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086];
const t95 = (df) => T95[df] ?? 1.96 + 2.5 / df;

// Ratios paired within rounds: their median and range, and the geometric
// mean with a 95% confidence interval (t interval of the log ratios).
export function ratioSummary(ratios) {
  const logs = ratios.filter((r) => r > 0 && Number.isFinite(r)).map(Math.log);
  const n = logs.length;
  const mean = logs.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : NaN;
  const half = n > 1 ? t95(n - 1) * (sd / Math.sqrt(n)) : NaN;
  return {
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    geoMean: Math.exp(mean),
    ciLow: Math.exp(mean - half),
    ciHigh: Math.exp(mean + half),
    n,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const log = (...a) => console.log(...a);

export async function runE2E(args) {
  const t0 = Date.now();
  SATURATE = { "durable-rooms-coalesced": args.coalescedLoad };
  const server = await startBenchServer();
  const client = new ClientProc();
  // Ctrl-C: stop workerd and the client before leaving.
  const interrupted = async () => {
    client.stop();
    await server.close().catch(() => {});
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  const workerd = server.workerdPids;
  let windowCpu = null;
  client.onEvent = (m) => {
    if (m.event === "window") {
      const sample = {
        t: performance.now(),
        workerd: workerd.reduce((s, p) => s + cpuSeconds(p), 0),
        client: cpuSeconds(client.child.pid),
        self: process.cpuUsage(),
        machine: machineBusySeconds(),
      };
      if (m.phase === "start") windowCpu = { start: sample };
      else if (windowCpu) {
        const a = windowCpu.start;
        const secs = (sample.t - a.t) / 1000;
        const self = process.cpuUsage(a.self);
        const w = (sample.workerd - a.workerd) / secs;
        const c = (sample.client - a.client) / secs;
        const o = (self.user + self.system) / 1e6 / secs;
        // Everything else the machine ran meanwhile (other users' builds...).
        const other = Math.max(0, (sample.machine - a.machine) / secs - w - c - o);
        windowCpu.result = { workerd: w, orchestrator: o, other };
      }
    } else if (m.event === "closed") {
      log(`  ! a socket of ${m.key} closed (code ${m.code}) during the run`);
    }
  };
  // Before each measured slice, wait (a bounded time) for other work on the
  // machine to calm down; what is left shows in the "other cpu" column.
  let gateBudget = args.quick ? 0 : 120_000;
  let gateWaited = 0;
  const quietGate = async () => {
    if (gateBudget <= 0) return;
    const start = performance.now();
    const limit = Math.min(5000, gateBudget);
    for (;;) {
      const b0 = machineBusySeconds();
      const t = performance.now();
      await new Promise((r) => setTimeout(r, 300));
      const load = (machineBusySeconds() - b0) / ((performance.now() - t) / 1000);
      if (load < 0.25 || performance.now() - start >= limit) break;
    }
    const waited = Math.max(0, performance.now() - start - 300); // the first look is not waiting
    gateBudget -= waited;
    gateWaited += waited;
  };
  const results = {}; // room → sockets → {...}
  let idleLoad = NaN;
  const wake = {};
  try {
    const busy0 = machineBusySeconds();
    await new Promise((r) => setTimeout(r, 1000));
    idleLoad = machineBusySeconds() - busy0;
    log(`e2e: machine busy before the run (1 s, workerd idle): ${f(idleLoad, 2)} cores of ${os.cpus().length}` +
      (idleLoad > 0.2 ? "  — other work is running; figures will be lower and noisier" : ""));
    log(`e2e: workerd pid(s) ${workerd.join(",") || "?"}, server ${server.url}`);
    log(`e2e: rooms ${args.rooms.join(", ")}; sockets ${args.sockets.join(", ")}; ${args.warmup} s warm-up per room (${args.tierup} s more before the first count), then ${args.rounds} rounds of two ${args.slice} s slices per room (ABBA)`);
    for (const n of args.sockets) {
      const window = args.window ? Number(args.window) : windowFor(n);
      const ws = server.url.replace(/^http/, "ws");
      log(`\n== ${n} sockets in one room (${window} Says in flight) ==`);
      for (const room of args.rooms) {
        const r = await client.call("open", { key: `${room}/${n}`, url: `${ws}/ws/${room}/bench-${n}`, n, ping: PING[room] ?? null });
        log(`  joined ${room.padEnd(14)} ${n} sockets in ${f(r.ms)} ms`);
      }
      // Warm every room once per socket count, long enough for V8 to tier
      // up its Wasm and JS (Liftoff → TurboFan) before anything is measured.
      const warmup = args.warmup + (n === args.sockets[0] ? args.tierup : 0);
      for (const room of args.rooms) {
        await client.call("run", { key: `${room}/${n}`, warmupMs: warmup * 1000, durationMs: 100, window: inFlight(room, n, window) });
      }
      // Each round runs every room in short slices, in ABBA order (the order,
      // then reversed), so a drift of the machine's speed within a round
      // weighs on every room alike. A room's rate in a round is its
      // deliveries over its slices' time.
      const rounds = Object.fromEntries(args.rooms.map((r) => [r, []]));
      for (let round = 0; round < args.rounds; round++) {
        const order = roundOrder(args.rooms, round);
        const acc = Object.fromEntries(args.rooms.map((r) => [r, { delivered: 0, seconds: 0, lat: [], workerd: 0, client: 0, other: 0, says: 0 }]));
        await quietGate();
        for (const room of [...order, ...[...order].reverse()]) {
          windowCpu = null;
          const r = await client.call("run", {
            key: `${room}/${n}`,
            warmupMs: SLICE_FILL_MS,
            durationMs: args.slice * 1000,
            window: inFlight(room, n, window),
          });
          const cpu = windowCpu?.result ?? {};
          const a = acc[room];
          a.delivered += r.delivered;
          a.seconds += r.seconds;
          for (const x of r.lat) a.lat.push(x);
          a.workerd += (cpu.workerd ?? NaN) * r.seconds;
          a.client += r.clientCpu * r.seconds;
          a.other += (cpu.other ?? NaN) * r.seconds;
          a.says += r.completed;
        }
        for (const room of args.rooms) {
          const a = acc[room];
          const rate = a.delivered / a.seconds;
          const lat = [...a.lat].sort((x, y) => x - y);
          const workerdCpu = a.workerd / a.seconds;
          // workerd CPU per delivered message: what a message costs the
          // server, whatever share of the machine other work left it.
          const usPerMsg = (a.workerd * 1e6) / a.delivered;
          rounds[room].push({ rate, usPerMsg, lat: a.lat, clientCpu: a.client / a.seconds, workerdCpu, otherCpu: a.other / a.seconds, seconds: a.seconds });
          log(
            `  round ${round + 1} ${room.padEnd(24)} ${f(rate).padStart(7)} msgs/s  p50 ${f(pct(lat, 50), 2)} ms  p99 ${f(pct(lat, 99), 2)} ms  ${f(usPerMsg, 2)} µs/msg` +
              `  (${a.says} Says; CPU workerd ${f(workerdCpu, 2)}, client ${f(a.client / a.seconds, 2)}, other ${f(a.other / a.seconds, 2)} cores)`,
          );
        }
      }
      // Rounds in which other work took the machine (another build, a test
      // run) say more about that work than about the rooms: the figures come
      // from the rounds where every room ran with under 0.15 cores of other
      // load, if there are at least three; else from all rounds (flagged).
      const QUIET = 0.15;
      const quiet = [];
      for (let i = 0; i < args.rounds; i++) {
        if (args.rooms.every((room) => (rounds[room][i]?.otherCpu ?? 1) < QUIET)) quiet.push(i);
      }
      const used = quiet.length >= 3 ? quiet : [...Array(args.rounds).keys()];
      log(`  rounds used: ${used.length === args.rounds ? "all" : used.map((i) => i + 1).join(",")} of ${args.rounds}` +
        (quiet.length >= 3 ? "" : " (fewer than 3 rounds without other load: figures include it)"));
      for (const room of args.rooms) {
        const rs = used.map((i) => rounds[room][i]);
        // Ratios within each round (the rooms ran interleaved), so drifts in
        // background load cancel; summarised with a confidence interval.
        const pairedTo = (baseRoom) => {
          if (!rounds[baseRoom] || baseRoom === room) return null;
          return ratioSummary(used.map((i) => rounds[room][i].rate / rounds[baseRoom][i].rate));
        };
        const lat = rs.flatMap((x) => x.lat).sort((a, b) => a - b);
        (results[room] ??= {})[n] = {
          msgsPerS: median(rs.map((x) => x.rate)),
          usPerMsg: median(rs.map((x) => x.usPerMsg)),
          p50: pct(lat, 50),
          p99: pct(lat, 99),
          says: lat.length,
          roundsUsed: used.length,
          roundsQuiet: quiet.length >= 3,
          rounds: rounds[room].map((x) => ({ rate: x.rate, usPerMsg: x.usPerMsg, other: x.otherCpu })),
          workerdCpu: median(rs.map((x) => x.workerdCpu ?? NaN)),
          clientCpu: median(rs.map((x) => x.clientCpu)),
          otherCpu: median(rs.map((x) => x.otherCpu ?? NaN)),
          pairedRatio: pairedTo("plain-js"),
          floorRatio: pairedTo("floor"),
        };
      }
      if (n === Math.max(...args.sockets) && args.wake) await measureWake(server, client, args.rooms, n, wake);
      // The rooms' saved messageCount must equal the Says sent to them.
      for (const room of args.rooms) {
        const { says } = await client.call("says", { key: `${room}/${n}` });
        // The floor counts in memory only (it stores nothing): a hibernation
        // (the wake measurement) starts its count again.
        if (room === "floor" && wake.floor?.hibernated && wake.floor.n === n) {
          log(`  check ${room.padEnd(14)} not checked: its count is in memory and the room hibernated for the wake`);
          await client.call("close", { key: `${room}/${n}` });
          continue;
        }
        const state = await (await fetch(`${server.url}/state/${room}/bench-${n}`)).json();
        const ok = state?.messageCount === says;
        log(`  check ${room.padEnd(14)} messageCount ${state?.messageCount} for ${says} Says sent: ${ok ? "ok" : "MISMATCH"}`);
        if (!ok) throw new Error(`${room} at ${n} sockets saved messageCount ${state?.messageCount}, expected ${says}`);
        await client.call("close", { key: `${room}/${n}` });
      }
    }
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    client.stop();
    await server.close();
  }
  return { results, wake, seconds: (Date.now() - t0) / 1000, idleLoad, gateWaitedS: gateWaited / 1000 };
}

// Wake: every room idles until workerd hibernates it (10 s locally), then one
// Say; first and last delivery of that Say, against the same Say warm.
async function measureWake(server, client, rooms, n, out) {
  const stats = async () => (await (await fetch(`${server.url}/stats`)).json()).constructed;
  log(`\n== wake of a room with ${n} sockets (idle 13 s until hibernated) ==`);
  const before = await stats();
  await new Promise((r) => setTimeout(r, 13_000));
  for (const room of rooms) {
    const cold = await client.call("probe", { key: `${room}/${n}` });
    const after = await stats();
    const warm = [];
    for (let i = 0; i < 5; i++) warm.push(await client.call("probe", { key: `${room}/${n}` }));
    const hibernated = after[room] > before[room];
    out[room] = {
      n,
      hibernated,
      firstMs: cold.firstMs,
      lastMs: cold.lastMs,
      warmFirstMs: median(warm.map((w) => w.firstMs)),
      warmLastMs: median(warm.map((w) => w.lastMs)),
    };
    log(
      `  wake ${room.padEnd(14)} first frame ${f(cold.firstMs, 1)} ms, last ${f(cold.lastMs, 1)} ms` +
        ` (warm: ${f(out[room].warmFirstMs, 1)} / ${f(out[room].warmLastMs, 1)} ms)` +
        `${hibernated ? "" : "  [did NOT hibernate: constructor did not run again]"}`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const out = await runE2E(args);
  if (args.summary) {
    for (const l of printTable(out, args.rooms, args.sockets)) log(l);
    log("");
    for (const l of resultLines(out, args.rooms, args.sockets)) log(l);
  }
  if (args.json) {
    fs.mkdirSync(path.dirname(args.json), { recursive: true });
    fs.writeFileSync(args.json, JSON.stringify({ args, ...out }, null, 1));
  }
  process.exit(0);
}
