// Liveness and control on workerd: the heartbeat answered while
// the room hibernates, the stale-socket sweep, named timers with the spec's
// schedule on one alarm, and the inbound limit's Drop policy. The rooms are
// the test worker's "live" and "stale" room types
// (tests/support/probe/liveness.h). The subtests run side by side, so their
// hibernation waits overlap.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "./server.mjs";
import { clientPool, delay, getJson, openSocket, tagged, toWsUrl, uniqueId, waitUntil, WebSocket, withTimeout } from "./helpers.mjs";

// workerd hibernates an idle Durable Object after 10 s (hard-coded locally).
const IDLE_MS = 12_000;

let server;
before(async () => {
  server = await startServer({ worker: "test" });
});
after(async () => {
  await server?.close();
});

const join = (base, type, room, id) =>
  openSocket(
    toWsUrl(base, `/ws/${type}/${encodeURIComponent(room)}?opts=${encodeURIComponent(JSON.stringify({ connection: { id, initialState: { name: id } } }))}`),
  );
const constructed = async (base, type, room) =>
  (await getJson(`${base}/debug/constructed/${type}/${encodeURIComponent(room)}`)).body.constructed;
const pong = (m) => m._unparsed === "pong";
pong.description = "pong";
const rateLimited = (m) => m.$rooms === "RateLimitError";
rateLimited.description = "RateLimitError";

describe("liveness on workerd", { concurrency: true }, () => {
  test("the platform answers ping with pong during hibernation, constructing nothing", async (t) => {
    const base = server.url;
    const pool = clientPool(t);
    const room = uniqueId("hb");
    const a = await pool.add(join(base, "live", room, "a"));
    a.send({ _tag: "Hello" });
    await a.waitFor(tagged("Hi"));
    const built = await constructed(base, "live", room);
    assert.equal(built, 1);
    await delay(IDLE_MS);

    const from = a.mark();
    for (let i = 0; i < 3; i++) await a.sendRaw("ping");
    await a.waitForCount(pong, 3, { from });
    assert.equal(await constructed(base, "live", room), built, "pings constructed the object");
    // It had hibernated: the next event constructs it again.
    a.send({ _tag: "Hello" });
    await a.waitFor(tagged("Hi"), { from });
    assert.equal(await constructed(base, "live", room), built + 1, "a frame after the idle wakes the room");
  });

  test("a silent socket is swept with 4000 stale within its timeout and its onClose runs", async (t) => {
    const base = server.url;
    const pool = clientPool(t);
    const room = uniqueId("stale");
    const silent = await pool.add(join(base, "stale", room, "silent"));
    const t0 = Date.now();
    const pinger = await pool.add(join(base, "stale", room, "pinger"));
    // The pinger only pings (every second; staleAfter is 3 s): the platform
    // answers and the sweep reads the time of the answer.
    const timer = setInterval(() => pinger.sendRaw("ping").catch(() => {}), 1000);
    try {
      // The silent socket's onClose runs once it answers the room's close
      // frame: the room tells the pinger.
      await pinger.waitFor(tagged("Left", { id: "silent" }), { timeout: 12_000 });
      const after = Date.now() - t0;
      // staleAfter 3 s; at most staleAfter + sweepEvery (1 s) awake, plus
      // staleAfter/4 across a wake, plus the machine's delays.
      assert.ok(after >= 2900, `swept after ${after} ms of silence, before staleAfter`);
      assert.ok(after <= 3000 + 1000 + 750 + 3000, `swept after ${after} ms`);
      // The room's close frame has reached it (the socket is closing).
      assert.equal(silent.ws.readyState, WebSocket.CLOSING);
      assert.ok(pinger.isOpen, "a socket that only pings is kept");
    } finally {
      clearInterval(timer);
    }
    await pinger.close();
    // Its close event comes when the TCP connection ends: under local workerd
    // a socket closed outside its own event ends when the room next
    // hibernates, ~10 s later (README, Known issues).
    const info = await withTimeout(silent.closed, 16_000, "the silent socket's close event");
    assert.deepEqual(info, { code: 4000, reason: "stale" });
    // No sockets: no sweep pending, so nothing wakes the room.
    await waitUntil(async () => (await getJson(`${base}/debug/storage/stale/${encodeURIComponent(room)}`)).body.alarm === null, {
      timeout: 5000,
      message: "no alarm once the room has no sockets",
    });
  });

  test("two named timers and the schedule fire in time order across a hibernation", async (t) => {
    const base = server.url;
    const pool = clientPool(t);
    const room = uniqueId("timers");
    const a = await pool.add(join(base, "live", room, "a"));
    a.send({ _tag: "SetTimer", name: "second", inMs: IDLE_MS + 1000 });
    a.send({ _tag: "Schedule", inMs: IDLE_MS + 500 });
    a.send({ _tag: "SetTimer", name: "first", inMs: IDLE_MS });
    await a.waitForCount(tagged("TimerSet", { outcome: "ok" }), 2);
    const built = await constructed(base, "live", room);
    const fired = await a.waitForCount(tagged("Fired"), 3, { timeout: IDLE_MS + 8000 });
    assert.deepEqual(
      fired.map((f) => f.name),
      ["first", "$schedule", "second"],
    );
    assert.ok((await constructed(base, "live", room)) > built, "the room hibernated before its timers fired");
  });

  test("a burst over the limit gets the drop policy while other clients are served", async (t) => {
    const base = server.url;
    const pool = clientPool(t);
    const room = uniqueId("limit");
    const flooder = await pool.add(join(base, "live", room, "flooder"));
    const other = await pool.add(join(base, "live", room, "other"));
    const started = Date.now();
    for (let n = 0; n < 40; n++) flooder.send({ _tag: "Echo", n });
    const notice = await flooder.waitFor(rateLimited);
    assert.equal(notice.limit, "frames");
    assert.ok(Number.isInteger(notice.retryAfterMs) && notice.retryAfterMs > 0, JSON.stringify(notice));
    assert.deepEqual(Object.keys(notice), ["$rooms", "limit", "retryAfterMs"]);
    other.send({ _tag: "Echo", n: 99 });
    await other.waitFor(tagged("Echoed", { n: 99 }));
    assert.equal(other.messages.filter(rateLimited).length, 0, "only the sender is told");
    // After a refill, a later frame is answered: the flood is all handled or dropped by then.
    await delay(1200);
    flooder.send({ _tag: "Hello" });
    await flooder.waitFor(tagged("Hi"), { timeout: 5000 });
    const echoed = flooder.messages.filter(tagged("Echoed")).length;
    assert.ok(echoed >= 10 && echoed < 40, `${echoed} of 40 echoed (burst 10, 5/s)`);
    const notices = flooder.messages.filter(rateLimited).length;
    const seconds = Math.ceil((Date.now() - started) / 1000);
    assert.ok(notices >= 1 && notices <= seconds + 1, `${notices} notices in ${seconds} s: at most one a second`);
    assert.ok(flooder.isOpen, "policy drop keeps the socket");
  });
});
