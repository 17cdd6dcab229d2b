// Coalesced delivery on workerd (RoomOptions::coalesce; docs/PROTOCOL.md §3):
// the test build's `cursors` room has a 20 ms window. What a socket is owed
// arrives as JSON arrays of schema frames, in order, with nothing lost; a
// cursor stream keeps only the newest per window; a close comes after what
// the socket was owed. Rooms without coalescing are covered byte for byte by
// the other suites (every frame there is one schema object).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "./server.mjs";
import { clientPool, openSocket, toWsUrl, uniqueId, waitForClose, waitUntil } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer({ worker: "test" });
});
after(async () => {
  await server?.close();
});

function join(pool, room, userId) {
  const opts = encodeURIComponent(JSON.stringify({ connection: { id: userId, initialState: { userId } } }));
  return pool.add(openSocket(toWsUrl(server.url, `/ws/cursors/${room}?opts=${opts}`)));
}

// Every schema frame a client got, arrays unpacked, in order.
function unpacked(client) {
  return client.frames.flatMap((f) => {
    const v = JSON.parse(f);
    return Array.isArray(v) ? v : [v];
  });
}

test("a burst of broadcasts arrives whole and in order, in fewer frames", async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("coalesce");
  const a = await join(pool, room, "a");
  const b = await join(pool, room, "b");
  const N = 60;
  for (let i = 0; i < N; i++) a.send({ _tag: "Say", text: `m${i}` });
  await waitUntil(() => unpacked(b).length >= N, { timeout: 5000, message: `${N} messages at b` });
  const texts = unpacked(b).map((m) => m.text);
  assert.deepEqual(texts, Array.from({ length: N }, (_, i) => `m${i}`));
  assert.ok(b.frames.length < N, `${N} messages came in ${b.frames.length} frames`);
  assert.ok(b.frames.some((f) => f.startsWith("[")), "at least one frame is an array");
  // Every element is a schema frame as it would have been sent alone.
  for (const m of unpacked(b)) assert.deepEqual(Object.keys(m), ["_tag", "userId", "text"]);
  assert.deepEqual(unpacked(a).map((m) => m.text), texts);
});

test("cursor moves: only the newest per user per window arrives, and the last one always does", async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("cursors");
  const a = await join(pool, room, "a");
  const c = await join(pool, room, "c");
  const MOVES = 300;
  for (let i = 1; i <= MOVES; i++) a.send({ _tag: "Move", x: i, y: -i });
  await waitUntil(() => unpacked(c).some((m) => m.x === MOVES), { timeout: 5000, message: "the last cursor at c" });
  const cursors = unpacked(c).filter((m) => m._tag === "Cursor");
  assert.ok(cursors.length < MOVES / 2, `${cursors.length} of ${MOVES} cursors were sent`);
  // Newer always follows older.
  for (let i = 1; i < cursors.length; i++) assert.ok(cursors[i].x > cursors[i - 1].x);
  // The sender is not among the recipients (except).
  assert.equal(unpacked(a).length, 0);
});

test("a close follows the frames the socket was owed", async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("bye");
  const a = await join(pool, room, "a");
  const b = await join(pool, room, "b");
  b.send({ _tag: "Say", text: "before" });
  await waitUntil(() => unpacked(a).length >= 1, { timeout: 3000, message: "the Say at a" });
  a.send({ _tag: "Say", text: "mine" });
  a.send({ _tag: "Bye" });
  const closed = await waitForClose(a);
  assert.equal(closed.code, 1000);
  assert.deepEqual(unpacked(a).map((m) => m._tag), ["Said", "Said", "Goodbye"]);
  assert.equal(unpacked(a)[1].text, "mine");
});
