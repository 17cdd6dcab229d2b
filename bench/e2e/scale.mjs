// The scale row: one room of 10,000 sockets (by default), held by several
// client processes (one node process cannot keep up with the frames of
// 10,000 sockets), each room kind in a fresh workerd so its memory is its own.
// The rooms are the chat rooms with joins and leaves unannounced
// (durable-rooms-quiet, plain-js-quiet; bench/e2e/worker.js): announced, the
// 10,000 joins alone would be 50 million frames (at 1,000 sockets, the
// 500,000 of the join storm take ~20 s here).
//
//   node bench/e2e/scale.mjs [--sockets 10000] [--procs 4]
//        [--rooms durable-rooms-quiet,plain-js-quiet] [--seconds 8] [--window 2]
//        [--no-wake] [--json FILE]
//
// Per room:
//   join      every socket opened (upgrade answered), 16 upgrades in flight
//             per process
//   memory    workerd's resident set (VmRSS) before the first socket and once
//             the joins settled: bytes per socket
//   broadcast `window` Says in flight from the first process; a Say is done
//             when its last socket, in any process, got it: msgs/s, p50, p99
//   wake      the room idles until workerd hibernates it, then one Say: time to
//             its first and last delivery (and that the room was rebuilt)
// Ends with `SCALE <room> <sockets> <join_s> <msgs_per_s> <p50_ms> <p99_ms>
// <rss_bytes_per_socket> <wake_first_ms> <wake_last_ms>` lines.
import fs from "node:fs";
import { ClientProc } from "./run.mjs";
import { cpuSeconds, startBenchServer } from "./server.mjs";

const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const N = Number(opt("sockets", 10000));
const PROCS = Number(opt("procs", 4));
const ROOMS = opt("rooms", "durable-rooms-quiet,plain-js-quiet").split(",");
const SECONDS = Number(opt("seconds", 8));
const WINDOW = Number(opt("window", 2));
const WAKE = !process.argv.includes("--no-wake");
const JSON_OUT = opt("json", null);

const log = (...a) => console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");

function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]) * 1024;
}

// Says in flight from process 0; each completes when every process reported
// it done. Resolves with the latencies of the Says sent in the window.
function broadcastLoad(procs, key, seconds, window) {
  return new Promise((resolve, reject) => {
    const pending = new Map(); // seq → {t, left, last}
    const lat = [];
    let stop = false;
    let inFlight = 0;
    const t0 = Date.now();
    const send = async () => {
      inFlight++;
      const { seq, t } = await procs[0].call("say", { key });
      const p = pending.get(seq) ?? { left: procs.length, last: 0 };
      p.t = t;
      pending.set(seq, p);
      finish(seq, p);
    };
    const finish = (seq, p) => {
      if (p.left > 0 || p.t === undefined) return;
      pending.delete(seq);
      inFlight--;
      lat.push(p.last - p.t);
      if (Date.now() - t0 >= seconds * 1000) stop = true;
      if (!stop) send().catch(reject);
      else if (inFlight === 0) resolve({ lat, seconds: (Date.now() - t0) / 1000 });
    };
    for (const proc of procs) {
      proc.onEvent = (m) => {
        if (m.event !== "done" || m.key !== key) return;
        const p = pending.get(m.seq) ?? { left: procs.length, last: 0 };
        p.left--;
        p.last = Math.max(p.last, m.t);
        pending.set(m.seq, p);
        finish(m.seq, p);
      };
    }
    for (let i = 0; i < window; i++) send().catch(reject);
    setTimeout(() => reject(new Error(`broadcast load on ${key} did not finish (${inFlight} in flight)`)), (seconds + 120) * 1000).unref();
  });
}

// One Say alone: its send, and its first and last delivery over all processes.
function probe(procs, key) {
  return new Promise((resolve, reject) => {
    let first = Infinity;
    let last = 0;
    let left = procs.length;
    let sent = null;
    const maybe = () => left === 0 && sent !== null && resolve({ firstMs: first - sent, lastMs: last - sent });
    for (const proc of procs) {
      proc.onEvent = (m) => {
        if (m.key !== key) return;
        if (m.event === "first") first = Math.min(first, m.t);
        if (m.event === "done") {
          last = Math.max(last, m.t);
          left--;
          maybe();
        }
      };
    }
    procs[0].call("say", { key }).then(({ t }) => ((sent = t), maybe()), reject);
    setTimeout(() => reject(new Error(`the probe Say in ${key} was not delivered within 120 s`)), 120_000).unref();
  });
}

async function scaleRoom(room) {
  log(`\n== ${room}: ${N} sockets in one room, ${PROCS} client processes ==`);
  const server = await startBenchServer();
  const procs = Array.from({ length: PROCS }, () => new ClientProc());
  const key = `${room}/scale`;
  const url = `${server.url.replace(/^http/, "ws")}/ws/${room}/scale-${N}`;
  const pid = server.workerdPids[0];
  try {
    // Wake the worker and the room's class with one socket, so the baseline
    // holds the isolate and the room's code (and its Wasm instance), not sockets.
    await fetch(`${server.url}/state/${room}/warm`);
    const rss0 = rss(pid);
    const cpu0 = cpuSeconds(pid);
    const t0 = Date.now();
    const share = Math.ceil(N / PROCS);
    await Promise.all(
      procs.map((p, i) => p.call("open", { key, url, n: Math.min(share, N - i * share), first: i * share, wait: false })),
    );
    const joinS = (Date.now() - t0) / 1000;
    const joinCpu = cpuSeconds(pid) - cpu0;
    await sleep(1000);
    const rss1 = rss(pid);
    const perSocket = (rss1 - rss0) / N;
    log(`  join: ${N} sockets open in ${f(joinS, 1)} s (workerd CPU ${f(joinCpu, 1)} s)`);
    log(`  memory: workerd RSS ${f(rss0 / 2 ** 20)} MiB before, ${f(rss1 / 2 ** 20)} MiB after: ${f(perSocket / 1024, 1)} KiB per socket`);

    await Promise.all(procs.map((p) => p.call("watch", { key })));
    await broadcastLoad(procs, key, 1, WINDOW); // warm-up
    const c0 = cpuSeconds(pid);
    const { lat, seconds } = await broadcastLoad(procs, key, SECONDS, WINDOW);
    const cpu = (cpuSeconds(pid) - c0) / seconds;
    lat.sort((a, b) => a - b);
    const msgs = (lat.length * N) / seconds;
    const res = { sockets: N, procs: PROCS, joinS, joinCpuS: joinCpu, rssBefore: rss0, rssAfter: rss1, rssPerSocket: perSocket };
    Object.assign(res, { says: lat.length, msgsPerS: msgs, p50: pct(lat, 50), p99: pct(lat, 99), workerdCpu: cpu });
    log(`  broadcast: ${lat.length} Says in ${f(seconds, 1)} s, ${f(msgs)} msgs/s, p50 ${f(res.p50, 1)} ms, p99 ${f(res.p99, 1)} ms (workerd ${f(cpu, 2)} cores)`);

    if (WAKE) {
      const stats = async () => (await (await fetch(`${server.url}/stats`)).json()).constructed[room];
      const before = await stats();
      await sleep(13_000);
      const cold = await probe(procs, key);
      const rebuilt = (await stats()) > before;
      const warm = await probe(procs, key);
      Object.assign(res, { wakeFirstMs: cold.firstMs, wakeLastMs: cold.lastMs, warmFirstMs: warm.firstMs, warmLastMs: warm.lastMs, hibernated: rebuilt });
      log(
        `  wake: first delivery ${f(cold.firstMs, 1)} ms, last ${f(cold.lastMs, 1)} ms (awake: ${f(warm.firstMs, 1)} / ${f(warm.lastMs, 1)} ms)` +
          (rebuilt ? "" : "  [did NOT hibernate: the constructor did not run again]"),
      );
    }
    return res;
  } finally {
    await Promise.all(procs.map((p) => p.call("close", { key }).catch(() => {})));
    for (const p of procs) p.stop();
    await server.close();
  }
}

const results = {};
for (const room of ROOMS) results[room] = await scaleRoom(room);
log("");
for (const [room, r] of Object.entries(results)) {
  log(
    `SCALE ${room} ${r.sockets} ${f(r.joinS, 1)} ${f(r.msgsPerS)} ${f(r.p50, 2)} ${f(r.p99, 2)} ${f(r.rssPerSocket)} ${f(r.wakeFirstMs, 1)} ${f(r.wakeLastMs, 1)}`,
  );
}
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(results, null, 1));
process.exit(0);
