// End-to-end tests of the core's hardening on workerd (Miniflare), through
// the e2e test worker and its probe room (tests/support/registry.cpp gives
// the probe room an inbound budget of 50 frames/s with a burst of 100):
//   - a connection flooding frames is closed with 1008 while the others are
//     served;
//   - sibling calls that fail on the real RPC path: a callee that traps (a
//     real Wasm trap: the worker's core has no exceptions) and a callee type
//     that does not exist; the caller gets a typed error and keeps serving.
//
//   node --test --test-concurrency=1 tests/e2e/hardening-core.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "./server.mjs";
import { clientPool, openSocket, tagged, toWsUrl, uniqueId, waitForClose, waitUntil } from "./helpers.mjs";

const PROBE_BURST = 100; // tests/support/registry.cpp
const OVER_BUDGET = { code: 1008, reason: "inbound rate limit exceeded" }; // rooms::kCloseOverBudget, kOverBudgetReason
const TEST = { timeout: 30_000 };

let server;
let output = "";
before(async () => {
  server = await startServer({ worker: "test", onOutput: (text) => (output += text) });
});
after(async () => {
  await server?.close();
});

function probe(room, id) {
  const opts = { connection: { id, initialState: { name: id } } };
  return openSocket(toWsUrl(server.url, `/ws/probe/${encodeURIComponent(room)}?opts=${encodeURIComponent(JSON.stringify(opts))}`));
}

async function call(room, id, op, arg) {
  const res = await fetch(`${server.url}/call/${room}/${encodeURIComponent(id)}/${op}`, {
    method: "POST",
    body: arg === undefined ? "" : JSON.stringify(arg),
  });
  return res.json();
}

// A Ping answered with a Pong to `c` (the room serves it).
async function served(c) {
  const mark = c.mark();
  c.send({ _tag: "Ping" });
  return c.waitFor(tagged("Pong"), { from: mark, timeout: 5_000 });
}

describe("inbound budget", () => {
  test("a client flooding frames is closed with 1008 and leaves the room; another client keeps being served", TEST, async (t) => {
    const pool = clientPool(t);
    const room = uniqueId("flood");
    const calm = await pool.add(probe(room, "calm"));
    const flooder = await pool.add(probe(room, "flooder"));
    const from = output.length;

    // Far more than the burst, as fast as the socket takes them.
    for (let i = 0; i < PROBE_BURST * 10; i++) flooder.send({ _tag: "Ping" });
    const closed = await waitForClose(flooder, { timeout: 10_000 });
    assert.deepEqual(closed, OVER_BUDGET);

    // The calm client is served, and the room forgot the flooder (its close
    // was reported, as for any close; onClose itself is checked natively).
    const pong = await served(calm);
    assert.ok(pong.events < PROBE_BURST * 2, `about the burst was handled, not the flood (${pong.events} events)`);
    const conns = await call("probe", room, "getConnections");
    assert.deepEqual(conns.value.map((c) => c.id), ["calm"]);
    for (let i = 0; i < 5; i++) await served(calm);
    assert.ok(calm.isOpen);

    // The room logged it once, naming the budget.
    await waitUntil(() => output.slice(from).includes("over its inbound budget"), { timeout: 5_000, message: "the budget warning" });
    assert.equal(output.slice(from).split("over its inbound budget").length - 1, 1, output.slice(from));
  });

  test("a client under the budget is never closed", TEST, async (t) => {
    const pool = clientPool(t);
    const room = uniqueId("steady");
    const c = await pool.add(probe(room, "steady"));
    // 60 frames over ~1.5 s: under the burst of 100 plus 50 frames/s.
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 10; j++) c.send({ _tag: "Ping" });
      await new Promise((r) => setTimeout(r, 250));
    }
    const pong = await served(c);
    assert.equal(pong.events, 61);
    assert.ok(c.isOpen);
  });
});

describe("sibling calls that fail, over the real RPC path", { concurrency: true }, () => {
  for (const kind of ["abort", "unreachable"]) {
    test(`the callee traps (${kind}): the caller gets RoomExecutionError and keeps serving`, TEST, async (t) => {
      const pool = clientPool(t);
      const room = uniqueId("relay");
      const target = uniqueId("trapped");
      const asker = await pool.add(probe(room, "asker"));
      const bystander = await pool.add(probe(target, "bystander"));
      await served(bystander);

      const mark = asker.mark();
      asker.send({ _tag: "Relay", roomId: target, kind });
      const relayed = await asker.waitFor(tagged("Relayed"), { from: mark, timeout: 10_000 });
      assert.equal(relayed.outcome, "RoomExecutionError", JSON.stringify(relayed));
      assert.equal(relayed.asker, "asker");

      // The caller's room is healthy: its state counts the Relay, it serves.
      const pong = await served(asker);
      assert.equal(pong.events, 2);
      assert.equal(pong.connection, "asker/asker");
      assert.ok(asker.isOpen);
      // The callee's core was rebuilt; its socket survived and is served.
      const again = await served(bystander);
      assert.equal(again.connection, "bystander/bystander");
      // A direct send of Relay succeeds too: the caller handled the error.
      const direct = await call("probe", room, "send", { _tag: "Relay", roomId: target, kind });
      assert.equal(direct.ok, true, JSON.stringify(direct));
    });
  }

  test("the callee's room type does not exist: the caller gets RoomNotFoundError and keeps serving", TEST, async (t) => {
    const pool = clientPool(t);
    const room = uniqueId("missing");
    const asker = await pool.add(probe(room, "asker"));
    const mark = asker.mark();
    asker.send({ _tag: "AskMissing" });
    const seen = await asker.waitFor(tagged("ErrorSeen"), { from: mark, timeout: 5_000 });
    assert.equal(seen.errorTag, "RoomNotFoundError", JSON.stringify(seen));
    assert.match(seen.message, /missing/);
    const pong = await served(asker);
    assert.equal(pong.events, 2);
    assert.ok(asker.isOpen);
    const direct = await call("probe", room, "send", { _tag: "AskMissing" });
    assert.equal(direct.ok, false);
    assert.equal(direct.error._tag, "RoomExecutionError");
    assert.match(direct.error.cause, /RoomNotFoundError/);
    await served(asker);
  });
});
