// Presence, topics and resume on workerd (Miniflare), through the e2e test
// worker and its lobby room (tests/support/probe/lobby.h: presence keyed by
// the connection state's `user`, topics, a resume buffer of 32 frames).
// The subtests use rooms of their own and run side by side, so their
// hibernation idles overlap.
//
//   node --test --test-concurrency=1 tests/e2e/presence.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "./server.mjs";
import { clientPool, delay, openSocket, tagged, toWsUrl, uniqueId } from "./helpers.mjs";

// workerd hibernates an idle Durable Object after 10 s (hard-coded locally).
const IDLE_MS = 12_500;
const T = { timeout: 60_000 };

let server;
before(async () => {
  server = await startServer({ worker: "test" });
});
after(async () => {
  await server?.close();
});

// A lobby socket: id, user (the presence key), and upgrade extras (resume, meta).
function lobby(room, id, { user = id, status = "here", resume, topics } = {}) {
  const opts = { connection: { id, initialState: { user, status } } };
  if (topics) opts.connection.meta = { topics };
  if (resume !== undefined) opts.resume = resume;
  return openSocket(toWsUrl(server.url, `/ws/lobby/${encodeURIComponent(room)}?opts=${encodeURIComponent(JSON.stringify(opts))}`));
}

const runtime = (kind) => {
  const pred = (m) => m?.$rooms === kind;
  pred.description = `runtime frame ${kind}`;
  return pred;
};
// {key: [ref, ...]} of a presence state, joins or leaves.
const refs = (side) => Object.fromEntries(Object.entries(side).map(([k, list]) => [k, list.map((e) => e.ref)]));
// The schema frames' sequence numbers, in order.
const seqs = (msgs) => msgs.filter((m) => m.$rooms === undefined).map((m) => m.$seq);

// Asks the room for a topic's members; `sinceWake` is 1 right after a wake.
async function members(c, topic) {
  const from = c.mark();
  c.send({ _tag: "Members", topic });
  return c.waitFor(tagged("MembersAre", { topic }), { from });
}

describe("presence, topics and resume on workerd", { concurrency: true }, () => {
  test("presence: full state to a joiner, diffs to the others, two tabs under one key, across a hibernation", T, async (t) => {
    const pool = clientPool(t);
    const room = uniqueId("presence");
    const a1 = await pool.add(lobby(room, "a1", { user: "alice" }));
    const p1 = await a1.waitFor(runtime("Presence"));
    assert.equal(p1.self, "alice");
    const refA1 = p1.state.alice[0].ref;
    assert.deepEqual(p1.state, { alice: [{ ref: refA1, meta: { user: "alice", status: "here" } }] });
    // onConnect's own frame comes first, then the Presence.
    assert.deepEqual(a1.messages.map((m) => m.$rooms ?? m._tag), ["Welcome", "Presence"]);

    const bob = await pool.add(lobby(room, "bob"));
    const pb = await bob.waitFor(runtime("Presence"));
    const refBob = pb.state.bob[0].ref;
    assert.deepEqual(refs(pb.state), { alice: [refA1], bob: [refBob] });
    const d1 = await a1.waitFor(runtime("PresenceDiff"));
    assert.deepEqual(d1, { $rooms: "PresenceDiff", joins: { bob: [{ ref: refBob, meta: { user: "bob", status: "here" } }] }, leaves: {} });

    const carol = await pool.add(lobby(room, "carol"));
    const pc = await carol.waitFor(runtime("Presence"));
    const refCarol = pc.state.carol[0].ref;
    for (const c of [a1, bob]) await c.waitFor((m) => m.$rooms === "PresenceDiff" && m.joins.carol !== undefined);

    // A second tab of alice: one key, two entries.
    const marks = [a1.mark(), bob.mark(), carol.mark()];
    const a2 = await pool.add(lobby(room, "a2", { user: "alice" }));
    const pa2 = await a2.waitFor(runtime("Presence"));
    const refA2 = pa2.state.alice[1].ref;
    assert.deepEqual(refs(pa2.state), { alice: [refA1, refA2], bob: [refBob], carol: [refCarol] });
    for (const [i, c] of [a1, bob, carol].entries()) {
      const d = await c.waitFor(runtime("PresenceDiff"), { from: marks[i] });
      assert.deepEqual(refs(d.joins), { alice: [refA2] });
      assert.deepEqual(d.leaves, {});
    }

    // Idle: the room hibernates.
    const before = [a1, a2, bob, carol].map((c) => c.mark());
    await delay(IDLE_MS);
    const m = await members(carol, "none");
    assert.equal(m.sinceWake, 1, "the room did not hibernate");

    // After the wake: a meta change is a leave and a join of the same ref,
    // to everyone, bob included (waited for at bob too, or his copy could
    // arrive after the marks below and be taken for alice's leave).
    bob.send({ _tag: "SetStatus", status: "away" });
    for (const c of [a1, a2, bob, carol]) {
      const d = await c.waitFor(runtime("PresenceDiff"), { from: before[[a1, a2, bob, carol].indexOf(c)] });
      assert.deepEqual(d.leaves, { bob: [{ ref: refBob, meta: { user: "bob", status: "here" } }] });
      assert.deepEqual(d.joins, { bob: [{ ref: refBob, meta: { user: "bob", status: "away" } }] });
    }
    // One tab closes: alice stays with the other.
    const afterStatus = [a2, bob, carol].map((c) => c.mark());
    await a1.close();
    for (const [i, c] of [a2, bob, carol].entries()) {
      const d = await c.waitFor(runtime("PresenceDiff"), { from: afterStatus[i] });
      assert.deepEqual(d, { $rooms: "PresenceDiff", joins: {}, leaves: { alice: [{ ref: refA1, meta: { user: "alice", status: "here" } }] } });
    }
    // A joiner after all that: the refs survived the hibernation.
    const dave = await pool.add(lobby(room, "dave"));
    const pd = await dave.waitFor(runtime("Presence"));
    assert.deepEqual(refs(pd.state), { alice: [refA2], bob: [refBob], carol: [refCarol], dave: [pd.state.dave[0].ref] });
    assert.equal(pd.state.bob[0].meta.status, "away");
  });

  test("topics: joined, broadcast to and left across hibernations", T, async (t) => {
    const pool = clientPool(t);
    const room = uniqueId("topics");
    const a = await pool.add(lobby(room, "a"));
    const b = await pool.add(lobby(room, "b"));
    const c = await pool.add(lobby(room, "c", { topics: ["games"] }));  // joined in onConnect
    a.send({ _tag: "Join", topic: "games" });
    assert.deepEqual((await members(a, "games")).ids, ["a", "c"]);

    await delay(IDLE_MS);
    // After the wake the membership comes back from the attachments.
    const m = await members(b, "games");
    assert.equal(m.sinceWake, 1, "the room did not hibernate");
    assert.deepEqual(m.ids, ["a", "c"]);
    const marks = [a.mark(), b.mark(), c.mark()];
    b.send({ _tag: "ToTopic", topic: "games", text: "gg" });
    for (const x of [a, c]) await x.waitFor(tagged("TopicSaid", { text: "gg", from: "b" }), { from: marks[[a, b, c].indexOf(x)] });
    a.send({ _tag: "Leave", topic: "games" });
    assert.deepEqual((await members(a, "games")).mine, []);

    await delay(IDLE_MS);
    const m2 = await members(b, "games");
    assert.equal(m2.sinceWake, 1, "the room did not hibernate the second time");
    assert.deepEqual(m2.ids, ["c"]);
    const aMark = a.mark();
    const bMark = b.mark();
    b.send({ _tag: "ToTopic", topic: "games", text: "again" });
    await c.waitFor(tagged("TopicSaid", { text: "again" }));
    // a left: a Say after the topic frame proves a saw nothing of it.
    b.send({ _tag: "Say", text: "later" });
    await a.waitFor(tagged("Said", { text: "later" }), { from: aMark });
    assert.deepEqual(a.since(aMark).filter((x) => x._tag === "TopicSaid"), []);
    assert.deepEqual(b.since(bMark).filter((x) => x._tag === "TopicSaid"), []);
  });

  test("resume: a client that drops while 20 messages are sent gets exactly those 20, in order, before live frames", T, async (t) => {
    const pool = clientPool(t);
    const room = uniqueId("resume");
    const a = await pool.add(lobby(room, "a"));
    const b = await pool.add(lobby(room, "b"));
    await a.waitFor(runtime("PresenceDiff"));
    a.send({ _tag: "Say", text: "before" });
    await b.waitFor(tagged("Said", { text: "before" }));
    const lastSeen = Math.max(...seqs(b.messages));
    assert.ok(b.frames.find((f) => f.includes('"before"')).startsWith(`{"$seq":${lastSeen},"_tag":"Said",`));

    // b drops without a close handshake; 20 messages go out meanwhile.
    b.terminate();
    a.send({ _tag: "Burst", count: 20, prefix: "m" });
    await a.waitFor(tagged("Said", { text: "m20" }));
    await delay(IDLE_MS);  // and the room hibernates before b comes back

    const b2 = await pool.add(lobby(room, "b", { resume: lastSeen }));
    await b2.waitFor(runtime("Presence"));
    const upTo = b2.messages.findIndex((m) => m.$rooms === "Presence") + 1;
    const kinds = b2.messages.slice(0, upTo).map((m) => m.$rooms ?? (m._tag === "Said" ? m.text : m._tag));
    assert.deepEqual(kinds, [...Array.from({ length: 20 }, (_, i) => `m${i + 1}`), "Welcome", "Presence"]);
    const s = seqs(b2.messages);
    assert.deepEqual(s.slice(0, 20), Array.from({ length: 20 }, (_, i) => lastSeen + 1 + i));
    assert.ok(s[20] > s[19]);
    // Live frames follow.
    a.send({ _tag: "Say", text: "live" });
    const live = await b2.waitFor(tagged("Said", { text: "live" }));
    assert.ok(live.$seq > s[20]);
  });

  test("resume: a client that missed more than the buffer gets ResyncRequired", T, async (t) => {
    const pool = clientPool(t);
    const room = uniqueId("resync");
    const a = await pool.add(lobby(room, "a"));
    const b = await pool.add(lobby(room, "b"));
    await b.waitFor(runtime("Presence"));
    const lastSeen = Math.max(...seqs(b.messages));
    await b.close();
    a.send({ _tag: "Burst", count: 40, prefix: "m" });  // the buffer keeps 32
    const last = await a.waitFor(tagged("Said", { text: "m40" }));
    const b2 = await pool.add(lobby(room, "b", { resume: lastSeen }));
    await b2.waitFor(runtime("Presence"));
    const upTo = b2.messages.findIndex((m) => m.$rooms === "Presence") + 1;
    assert.deepEqual(b2.messages.slice(0, upTo).map((m) => m.$rooms ?? m._tag), ["ResyncRequired", "Welcome", "Presence"]);
    assert.deepEqual(b2.messages[0], { $rooms: "ResyncRequired", seq: last.$seq });
  });

  test("a bad resume option is refused with 400", T, async () => {
    await assert.rejects(lobby(uniqueId("badresume"), "x", { resume: -1 }), (e) => e.status === 400);
  });
});
