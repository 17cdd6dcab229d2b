// One round trip through the deployed shape: the bundled worker on workerd,
// a ws client, the REST routes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { startServer } from "../scripts/server.mjs";

let server;
before(async () => (server = await startServer()));
after(async () => server?.close());

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const frames = [];
    const waiters = [];
    ws.on("message", (data) => {
      frames.push(JSON.parse(String(data)));
      while (waiters.length && waiters[0].n <= frames.length) waiters.shift().resolve(frames.slice());
    });
    ws.once("open", () => resolve({ ws, frames, next: (n) => new Promise((r) => (n <= frames.length ? r(frames.slice()) : waiters.push({ n, resolve: r }))) }));
    ws.once("error", reject);
  });
}

test("a client joins, adds, and everyone (and the REST route) sees the count", async () => {
  const ws = server.url.replace(/^http/, "ws");
  const alice = await open(`${ws}/ws/counter/r1?user=alice`);
  assert.deepEqual((await alice.next(1))[0], { _tag: "Count", count: 0, by: "join" });
  const bob = await open(`${ws}/ws/counter/r1?user=bob`);
  await bob.next(1);
  bob.ws.send(JSON.stringify({ _tag: "Add", by: 3 }));
  assert.deepEqual((await alice.next(2))[1], { _tag: "Count", count: 3, by: "bob" });
  assert.deepEqual((await bob.next(2))[1], { _tag: "Count", count: 3, by: "bob" });

  const added = await fetch(`${server.url}/api/counter/r1/add`, { method: "POST", body: JSON.stringify({ by: 2 }) });
  assert.deepEqual(await added.json(), { count: 5 });
  assert.deepEqual((await alice.next(3))[2], { _tag: "Count", count: 5, by: "api" });
  const conns = await (await fetch(`${server.url}/api/counter/r1/connections`)).json();
  assert.deepEqual(conns.map((c) => c.id).sort(), ["alice", "bob"]);

  // A frame that fails the event schema changes nothing.
  alice.ws.send(JSON.stringify({ _tag: "Add", by: "two" }));
  assert.deepEqual(await (await fetch(`${server.url}/api/counter/r1`)).json(), { count: 5 });
  alice.ws.close();
  bob.ws.close();
});
