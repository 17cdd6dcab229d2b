// Wake cost: how long the first event after hibernation takes to produce its
// first frame, for a room holding 10 and 1,000 sockets, against the same
// event in a room that is awake. Measured from a node client on loopback
// (workerd's clock does not advance inside an event, so the server cannot
// time itself). Each wake needs workerd's 10 s idle eviction, so a run takes
// about a minute.
//
//   node bench/wake-cost.mjs [--sockets 10,1000] [--wakes 2]
import { startServer } from "../tests/e2e/server.mjs";
import { openSocket, tagged, toWsUrl } from "../tests/e2e/helpers.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SOCKETS = arg("sockets", "10,1000").split(",").map(Number);
const WAKES = Number(arg("wakes", "2"));
const IDLE_MS = 12_000;
const WARM_ROUNDS = 30;

const delay = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Time from sending a Ping on `sender` to its Pong arriving back (the Pong is
// broadcast to every socket; the sender is the first recipient).
async function pingRoundTrip(sender) {
  const mark = sender.mark();
  const t0 = performance.now();
  sender.send({ _tag: "Ping" });
  const pong = await sender.waitFor(tagged("Pong"), { from: mark, timeout: 30_000 });
  return { ms: performance.now() - t0, pong };
}

const server = await startServer({ worker: "test" });
const rows = [];
try {
  for (const n of SOCKETS) {
    const room = `wake-${n}-${process.pid}`;
    const url = (i) =>
      toWsUrl(server.url, `/ws/probe/${room}?opts=${encodeURIComponent(JSON.stringify({ connection: { id: `s${i}`, initialState: { name: `socket ${i}` } } }))}`);
    const clients = [];
    for (let i = 0; i < n; i += 50) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 50); j++) batch.push(openSocket(url(j), { timeout: 30_000 }));
      clients.push(...(await Promise.all(batch)));
    }
    const sender = clients[0];
    const warm = [];
    for (let r = 0; r < WARM_ROUNDS; r++) warm.push((await pingRoundTrip(sender)).ms);
    for (const c of clients) c.skipAll?.();
    const wakes = [];
    for (let w = 0; w < WAKES; w++) {
      await delay(IDLE_MS);
      const { ms, pong } = await pingRoundTrip(sender);
      if (pong.sinceWake !== 1) throw new Error(`room of ${n} did not hibernate (sinceWake ${pong.sinceWake})`);
      wakes.push(ms);
    }
    rows.push({ sockets: n, warm: median(warm), wake: median(wakes), wakes });
    await Promise.all(clients.map((c) => c.close(1000, "", { timeout: 15_000 }).catch(() => c.terminate())));
  }
} finally {
  await server.close();
}

console.log("wake cost (first Ping after hibernation → its Pong at the sender), loopback, workerd via Miniflare");
console.log("sockets   awake p50 ms   after wake ms (median of runs)   wake extra ms");
for (const r of rows) {
  console.log(
    `${String(r.sockets).padStart(7)}   ${r.warm.toFixed(2).padStart(12)}   ${r.wake.toFixed(2).padStart(10)} (${r.wakes.map((x) => x.toFixed(1)).join(", ")})`.padEnd(62) +
      `${(r.wake - r.warm).toFixed(2).padStart(12)}`,
  );
}
for (const r of rows) console.log(`WAKE ${r.sockets} ${r.warm.toFixed(3)} ${r.wake.toFixed(3)}`);
