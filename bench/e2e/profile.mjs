// A V8 CPU profile of the bench worker in workerd (through its inspector)
// while one room is under load: where a room's time goes on the platform.
//
//   node bench/e2e/profile.mjs <room> [sockets=10] [seconds=4] [out.cpuprofile]
//   node bench/e2e/profile.mjs --wake <room> [sockets=1000]
//   node bench/e2e/profile.mjs --perf <room> [sockets=10] [seconds=4] [out.data]
//   node bench/e2e/profile.mjs --perf --syscalls <room> [sockets=10] [seconds=4]
//
// With --wake: the room idles until workerd hibernates it (13 s), then the
// profile covers the one Say that wakes it, until its last delivery.
// Prints the top functions by self time (share of all samples) and writes
// the .cpuprofile (open it in Chrome DevTools).
//
// With --perf: Linux `perf record` of the workerd process instead of V8's
// profiler, and no inspector attached. The inspector is not free: with it,
// the Wasm core's share of a Say came out ~10× what workerd spends on it
// unobserved. perf sees workerd's own C++ (storage, sockets, the output gate,
// V8's runtime); JS and Wasm code show as one "[JIT]" bucket, as workerd
// gives V8 no perf map. With --syscalls as well: `perf stat` counts the
// system calls workerd makes per Say instead (writev: deliveries; pwrite64
// and fsync/fdatasync: storage commits; read: inbound frames).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import WebSocket from "ws";
import { startBenchServer } from "./server.mjs";

const wake = process.argv.includes("--wake");
const perf = process.argv.includes("--perf");
const syscalls = process.argv.includes("--syscalls");
const [room = "durable-rooms", n = wake ? "1000" : "10", secs = "4", outFile] = process.argv
  .slice(2)
  .filter((a) => !a.startsWith("--"));
const SYSCALLS = ["writev", "write", "pwrite64", "fsync", "fdatasync", "read"];
const N = Number(n);
const port = 9300 + Math.floor(Math.random() * 500);
const server = await startBenchServer(perf ? {} : { inspectorPort: port });
const sockets = [];
try {
  let call = null;
  let insp = null;
  if (!perf) {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const target = targets.find((t) => /bench/.test(t.title ?? t.id ?? "")) ?? targets[0];
    insp = new WebSocket(target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/${target.id}`);
    await new Promise((r, j) => (insp.once("open", r), insp.once("error", j)));
    let id = 0;
    const pending = new Map();
    insp.on("message", (d) => {
      const m = JSON.parse(d);
      if (m.id && pending.has(m.id)) pending.get(m.id)(m), pending.delete(m.id);
    });
    call = (method, params = {}) =>
      new Promise((r) => {
        pending.set(++id, r);
        insp.send(JSON.stringify({ id, method, params }));
      });
  }

  const url = `${server.url.replace(/^http/, "ws")}/ws/${room}/prof`;
  let done = 0;
  let inflight = 0;
  let stop = false;
  const counts = new Map();
  for (let i = 0; i < N; i++) {
    const ws = new WebSocket(`${url}?userId=u${i}`, { perMessageDeflate: false });
    await new Promise((r) => ws.once("open", r));
    ws.on("message", (d) => {
      const m = /"text":"b(\d+)/.exec(d.toString());
      if (!m) return;
      const c = (counts.get(m[1]) ?? 0) + 1;
      if (c < N) return void counts.set(m[1], c);
      counts.delete(m[1]);
      done++;
      inflight--;
      if (!stop) say();
    });
    sockets.push(ws);
  }
  await new Promise((r) => setTimeout(r, N >= 1000 ? 15_000 : 500)); // join storm
  let seq = 0;
  const say = () => {
    inflight++;
    sockets[seq % N].send(`{"_tag":"Say","text":"b${++seq}"}`);
  };
  if (perf) {
    for (let i = 0; i < Number(process.env.INFLIGHT ?? 16); i++) say();
    // Long enough for workerd to tier the Wasm core up (bench/e2e/run.mjs --tierup).
    await new Promise((r) => setTimeout(r, 12_000));
    const out = outFile ?? "/tmp/durable-rooms-perf.data";
    const d0 = done;
    if (syscalls) {
      const events = SYSCALLS.map((c) => `syscalls:sys_enter_${c}`).join(",");
      // Not spawnSync: this process is also the load.
      const st = spawn("perf", ["stat", "-x", ",", "-e", events, "-p", String(server.workerdPids[0]), "--", "sleep", secs]);
      let stderr = "";
      st.stderr.on("data", (d) => (stderr += d));
      await new Promise((r) => st.on("exit", r));
      stop = true;
      const says = done - d0;
      console.log(`${room}, ${N} sockets: ${says} Says in ${secs} s; system calls of workerd per Say:`);
      for (const line of stderr.split("\n")) {
        const [count, , event] = line.split(",");
        if (event?.startsWith("syscalls:")) console.log(`  ${event.replace("syscalls:sys_enter_", "").padEnd(10)} ${(Number(count) / says).toFixed(2)}`);
      }
      process.exitCode = 0;
      throw Symbol.for("done");
    }
    const rec = spawn("perf", ["record", "-F", "997", "-g", "-p", String(server.workerdPids[0]), "-o", out, "--", "sleep", secs], { stdio: "ignore" });
    await new Promise((r) => rec.on("exit", r));
    stop = true;
    console.log(`${room}, ${N} sockets: ${done - d0} Says in ${secs} s while recording (${out})`);
    for (const sort of ["dso", "sym"]) {
      const rep = spawnSync("perf", ["report", "-i", out, "--no-children", "--sort", sort, "--stdio", "--percent-limit", "1"], { encoding: "utf8" });
      const lines = rep.stdout.split("\n").filter((l) => /^\s+\d/.test(l)).slice(0, 25);
      console.log(`by ${sort}:`);
      for (const l of lines) console.log(`  ${l.trim().slice(0, 150)}`);
    }
    process.exitCode = 0;
    throw Symbol.for("done");
  }
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: wake ? 50 : 100 });
  let result;
  if (wake) {
    stop = true; // one Say at a time
    await new Promise((r) => setTimeout(r, 13_000));
    await call("Profiler.start");
    const t0 = performance.now();
    const d0 = done;
    say();
    while (done === d0) await new Promise((r) => setTimeout(r, 1));
    const ms = performance.now() - t0;
    ({ result } = await call("Profiler.stop"));
    console.log(`${room}, ${N} sockets: the Say that woke the room took ${ms.toFixed(1)} ms to its last delivery`);
  } else {
    for (let i = 0; i < Number(process.env.INFLIGHT ?? 16); i++) say();
    await new Promise((r) => setTimeout(r, 1000)); // warm up
    await call("Profiler.start");
    const d0 = done;
    await new Promise((r) => setTimeout(r, Number(secs) * 1000));
    ({ result } = await call("Profiler.stop"));
    stop = true;
    console.log(`${room}, ${N} sockets: ${done - d0} Says in ${secs} s while profiling`);
  }
  const prof = result.profile;
  if (outFile) fs.writeFileSync(outFile, JSON.stringify(prof));
  const self = new Map();
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  for (const s of prof.samples) {
    const node = byId.get(s);
    const cf = node.callFrame;
    const key = `${cf.functionName || "(anonymous)"} ${cf.url ? cf.url.split("/").pop() : ""}:${cf.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = prof.samples.length;
  let wasm = 0;
  for (const [k, v] of self) if (k.startsWith("wasm-function")) wasm += v;
  console.log(`${((100 * wasm) / total).toFixed(1).padStart(5)}%  (all wasm-function[...] together)`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
  insp.close();
} catch (e) {
  if (e !== Symbol.for("done")) throw e;
} finally {
  for (const ws of sockets) ws.terminate();
  await server.close();
}
