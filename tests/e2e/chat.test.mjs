// End-to-end tests of the chat example (worker/index.js) in workerd through
// Miniflare: real WebSocket clients (ws) and HTTP requests against one local
// server for the whole file. Each test uses its own room ids and closes every
// socket it opens.
//
//   cd /work/main && node --test --test-concurrency=1 tests/e2e/chat.test.mjs
//
// Not covered here: onDuplicate "replace"/"reject" and server-side close codes
// (the chat routes do not expose those options; a test worker covers them).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "./server.mjs";
import {
  clientPool,
  closeAllClients,
  delay,
  fetchJson,
  getJson,
  openChat,
  openClientCount,
  openSocket,
  postJson,
  tagged,
  toWsUrl,
  uniqueId,
} from "./helpers.mjs";

// How long to watch for something that must NOT arrive, after a later
// message has already proved ordering.
const QUIET_MS = 300;
// Slack for comparing server timestamps with this process's clock.
const CLOCK_SLACK_MS = 5000;
const TEST = { timeout: 15_000 };

let server;
let base;

before(async () => {
  server = await startServer({ port: 0 });
  base = server.url;
});

after(async () => {
  const leaked = openClientCount();
  await closeAllClients();
  await server?.close();
  assert.equal(leaked, 0, `${leaked} socket(s) were left open by a test`);
});

// ---- helpers specific to the chat room --------------------------------------------

const api = (room, what, query = "") => `${base}/api/chat/${encodeURIComponent(room)}/${what}${query}`;
const getState = async (room) => {
  const r = await getJson(api(room, "state"));
  assert.equal(r.status, 200, `GET state: ${r.text}`);
  return r.body;
};
const getConnections = async (room, tag) => {
  const r = await getJson(api(room, "connections", tag === undefined ? "" : `?tag=${encodeURIComponent(tag)}`));
  assert.equal(r.status, 200, `GET connections: ${r.text}`);
  assert.ok(Array.isArray(r.body), `connections is an array: ${r.text}`);
  return [...r.body].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
};

// Opens a member and waits for its Presence (the last frame of its join).
async function openMember(pool, room, userId) {
  const c = await pool.add(openChat(base, room, userId));
  await c.waitFor((m) => m.$rooms === "Presence");
  return c;
}

// Opens the users one after the other (each joined before the next connects).
async function joinInOrder(pool, room, users) {
  const clients = [];
  for (const u of users) clients.push(await openMember(pool, room, u));
  return clients;
}

// A PresenceDiff in which `userId` joined.
const joined = (userId) => {
  const pred = (m) => m?.$rooms === "PresenceDiff" && m.joins[userId] !== undefined;
  pred.description = `PresenceDiff joining ${userId}`;
  return pred;
};

// Waits until every client saw the UserJoined and the PresenceDiff of every
// later client (the diff comes last, at the end of the join's event).
async function settleJoins(clients, users) {
  await Promise.all(
    clients.map((c, i) =>
      Promise.all(users.slice(i + 1).flatMap((u) => [c.waitFor(tagged("UserJoined", { userId: u })), c.waitFor(joined(u))])),
    ),
  );
}

function assertTimestamp(ts, what) {
  assert.equal(typeof ts, "number", `${what} is a number`);
  assert.ok(Number.isFinite(ts), `${what} is finite`);
  assert.ok(Math.abs(ts - Date.now()) < 60_000, `${what} (${ts}) is a current epoch-ms timestamp`);
}

// The chat room has presence and resume (docs/PROTOCOL.md): every schema
// frame leads with "$seq", and runtime frames ({"$rooms": ...}) tell who is
// online. strip() drops the "$seq" of one frame; schemaFrames() keeps the
// schema frames of a list, asserting their sequence numbers grow, without
// "$seq"; runtimeFrames() keeps the others.
const strip = (m) => {
  const { $seq, ...rest } = m;
  assert.equal(typeof $seq, "number", `a schema frame with "$seq": ${JSON.stringify(m)}`);
  return rest;
};
function schemaFrames(list) {
  const frames = list.filter((m) => m.$rooms === undefined);
  frames.forEach((m, i) => i === 0 || assert.ok(m.$seq > frames[i - 1].$seq, "sequence numbers grow"));
  return frames.map(strip);
}
const runtimeFrames = (list) => list.filter((m) => m.$rooms !== undefined);

// Asserts a Message as the chat room broadcasts it; returns it.
function assertMessage(msg, text, userId) {
  assert.deepEqual(strip(msg), { _tag: "Message", text, userId, ts: msg?.ts });
  assertTimestamp(msg.ts, "Message.ts");
  return msg;
}

function assertConnection(conn, userId, { notBefore, notAfter }) {
  assert.deepEqual(conn, { id: userId, tags: [`user:${userId}`], state: { userId, joinedAt: conn?.state?.joinedAt } });
  assert.equal(typeof conn.state.joinedAt, "number", "joinedAt is a number");
  assert.ok(
    conn.state.joinedAt >= notBefore - CLOCK_SLACK_MS && conn.state.joinedAt <= notAfter + CLOCK_SLACK_MS,
    `joinedAt ${conn.state.joinedAt} within [${notBefore}, ${notAfter}]`,
  );
}

// ---- HTTP routes ----------------------------------------------------------------

test("GET / serves the chat page on the typed client, GET /client.js the client", TEST, async () => {
  const r = await fetchJson(`${base}/`);
  assert.equal(r.status, 200);
  assert.match(r.contentType, /^text\/html/);
  assert.match(r.text, /<html/i);
  assert.match(r.text, /import \{ connect \} from "\/client\.js"/);
  assert.match(r.text, /\/ws\/chat\//);
  const c = await fetchJson(`${base}/client.js`);
  assert.equal(c.status, 200);
  assert.match(c.contentType, /javascript/);
  assert.match(c.text, /export function connect\(/);
  assert.equal((await fetchJson(`${base}/client.d.ts`)).status, 404, "only the script is served");
});

test("unknown routes answer 404 with a JSON error", TEST, async () => {
  const room = uniqueId("404");
  const cases = [
    ["GET", "/nope"],
    ["GET", "/index.html"],
    ["GET", "/api/chat"],
    ["GET", `/api/chat/${room}`],
    ["GET", `/api/chat/${room}/unknown`],
    ["GET", `/api/chat/${room}/say`],
    ["POST", `/api/chat/${room}/state`],
    ["POST", `/api/chat/${room}/connections`],
    ["GET", `/api/chat/${room}/state/extra`],
    ["GET", "/ws/chat/"],
    ["GET", `/ws/chat/${room}/extra`],
    ["POST", `/ws/chat/${room}`],
    ["POST", "/"],
  ];
  for (const [method, path] of cases) {
    const r = await fetchJson(`${base}${path}`, { method });
    assert.equal(r.status, 404, `${method} ${path} → ${r.status} ${r.text}`);
    assert.match(r.contentType, /application\/json/, `${method} ${path} content-type`);
    assert.equal(r.body?._tag, "NotFound", `${method} ${path} body ${r.text}`);
  }
});

test("GET /ws/chat/:room without an Upgrade header answers 426", TEST, async () => {
  const r = await fetchJson(`${base}/ws/chat/${uniqueId("no-upgrade")}?userId=u`);
  assert.equal(r.status, 426, r.text);
  assert.match(r.contentType, /application\/json/);
  assert.equal(r.body?._tag, "UpgradeError");
  assert.equal(typeof r.body?.message, "string");
});

// ---- membership ----------------------------------------------------------------

test("join order with 5 clients: each UserJoined reaches the earlier members only, never the joiner", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("join");
  const users = ["u1", "u2", "u3", "u4", "u5"];
  const clients = await joinInOrder(pool, room, users);
  await settleJoins(clients, users);

  // A later message proves nothing else (e.g. an own UserJoined) is queued before it.
  clients[0].send({ _tag: "Say", text: "roll call" });
  const got = await Promise.all(clients.map((c) => c.waitFor(tagged("Message", { text: "roll call" }))));
  const ts = got[0].ts;
  clients.forEach((c, i) => {
    assert.deepEqual(
      schemaFrames(c.messages),
      [
        ...users.slice(i + 1).map((u) => ({ _tag: "UserJoined", userId: u })),
        { _tag: "Message", text: "roll call", userId: "u1", ts },
      ],
      `messages of ${users[i]}`,
    );
    // The online list: the joiner's Presence first (everyone up to itself),
    // then each later join's UserJoined followed by its PresenceDiff.
    const kinds = c.messages.map((m) => m.$rooms ?? m._tag);
    assert.deepEqual(
      kinds,
      ["Presence", ...users.slice(i + 1).flatMap(() => ["UserJoined", "PresenceDiff"]), "Message"],
      `frame kinds of ${users[i]}`,
    );
    const [presence, ...diffs] = runtimeFrames(c.messages);
    assert.equal(presence.self, users[i]);
    assert.deepEqual(Object.keys(presence.state).sort(), users.slice(0, i + 1));
    for (const [k, list] of Object.entries(presence.state)) {
      assert.equal(list.length, 1);
      assert.equal(list[0].meta.userId, k);
      assertTimestamp(list[0].meta.joinedAt, "meta.joinedAt");
      assert.equal(typeof list[0].ref, "string");
    }
    assert.deepEqual(diffs.map((d) => [Object.keys(d.joins), d.leaves]), users.slice(i + 1).map((u) => [[u], {}]));
  });
});

test("leaving broadcasts UserLeft to the remaining members", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("leave");
  const users = ["u1", "u2", "u3", "u4", "u5"];
  const clients = await joinInOrder(pool, room, users);
  await settleJoins(clients, users);
  const marks = clients.map((c) => c.mark());
  const [c1, c2, c3, c4, c5] = clients;

  assert.deepEqual(await c3.close(1000, "bye"), { code: 1000, reason: "bye" });
  await Promise.all([c1, c2, c4, c5].map((c) => c.waitFor(tagged("UserLeft", { userId: "u3" }), { from: marks[clients.indexOf(c)] })));

  await c5.close(1000);
  await Promise.all([c1, c2, c4].map((c) => c.waitFor(tagged("UserLeft", { userId: "u5" }), { from: marks[clients.indexOf(c)] })));

  c1.send({ _tag: "Say", text: "who is left" });
  const msgs = await Promise.all([c1, c2, c4].map((c) => c.waitFor(tagged("Message", { text: "who is left" }))));
  for (const [i, c] of [[0, c1], [1, c2], [3, c4]]) {
    // Each UserLeft is followed by the PresenceDiff of the same close.
    assert.deepEqual(c.since(marks[i]).map((m) => m.$rooms ?? m._tag), ["UserLeft", "PresenceDiff", "UserLeft", "PresenceDiff", "Message"]);
    assert.deepEqual(runtimeFrames(c.since(marks[i])).map((d) => [d.joins, Object.keys(d.leaves)]), [[{}, ["u3"]], [{}, ["u5"]]]);
    assert.deepEqual(
      schemaFrames(c.since(marks[i])),
      [
        { _tag: "UserLeft", userId: "u3" },
        { _tag: "UserLeft", userId: "u5" },
        { _tag: "Message", text: "who is left", userId: "u1", ts: msgs[0].ts },
      ],
      `messages of ${users[i]} after the joins`,
    );
  }
  // u5 saw u3 leave before leaving itself, and nothing of its own leave.
  assert.deepEqual(schemaFrames(c5.since(marks[4])), [{ _tag: "UserLeft", userId: "u3" }]);
  assert.deepEqual(c3.since(marks[2]), []);

  const conns = await getConnections(room);
  assert.deepEqual(conns.map((c) => c.id), ["u1", "u2", "u4"]);
});

// ---- messages ----------------------------------------------------------------------

test("Say fans out to all 5 members, sender included, with userId = sender and a numeric ts", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("say");
  const users = ["a", "b", "c", "d", "e"];
  const clients = await joinInOrder(pool, room, users);
  await settleJoins(clients, users);
  const marks = clients.map((c) => c.mark());

  clients[2].send({ _tag: "Say", text: "hello everyone" });
  const got = await Promise.all(clients.map((c, i) => c.waitFor(tagged("Message", { text: "hello everyone" }), { from: marks[i] })));
  for (const msg of got) assertMessage(msg, "hello everyone", "c");
  assert.ok(got.every((m) => m.ts === got[0].ts), "one broadcast: the same ts for everyone");
  clients.forEach((c, i) => assert.deepEqual(schemaFrames(c.since(marks[i])), [strip(got[0])], `nothing else reached ${users[i]}`));
});

test("Typing reaches the other members and is not echoed to the sender", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("typing");
  const users = ["t1", "t2", "t3", "t4", "t5"];
  const clients = await joinInOrder(pool, room, users);
  await settleJoins(clients, users);
  const marks = clients.map((c) => c.mark());
  const [sender, ...others] = clients;

  sender.send({ _tag: "Typing" });
  await Promise.all(others.map((c, i) => c.waitFor(tagged("Typing", { userId: "t1" }), { from: marks[i + 1] })));
  // The sender's next message must be its own Say, not a Typing.
  sender.send({ _tag: "Say", text: "done typing" });
  const msgs = await Promise.all(clients.map((c, i) => c.waitFor(tagged("Message", { text: "done typing" }), { from: marks[i] })));

  assert.deepEqual(schemaFrames(sender.since(marks[0])), [strip(msgs[0])]);
  others.forEach((c, i) =>
    assert.deepEqual(schemaFrames(c.since(marks[i + 1])), [{ _tag: "Typing", userId: "t1" }, strip(msgs[0])], `messages of ${users[i + 1]}`),
  );
  assert.equal((await getState(room)).messageCount, 1, "Typing is not counted");
});

test("POST /api/chat/:room/say → 200 {status: ok} and every member gets a Message from system", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("post");
  const users = ["p1", "p2", "p3", "p4", "p5"];
  const clients = await joinInOrder(pool, room, users);
  await settleJoins(clients, users);
  const marks = clients.map((c) => c.mark());

  const r = await postJson(api(room, "say"), { text: "x" });
  assert.equal(r.status, 200, r.text);
  assert.match(r.contentType, /application\/json/);
  assert.deepEqual(r.body, { status: "ok" });

  const got = await Promise.all(clients.map((c, i) => c.waitFor(tagged("Message", { text: "x" }), { from: marks[i] })));
  for (const msg of got) assertMessage(msg, "x", "system");
  clients.forEach((c, i) => assert.deepEqual(schemaFrames(c.since(marks[i])), [strip(got[0])], `nothing else reached ${users[i]}`));
});

test("POST say to a room nobody has joined creates the room and counts the message", TEST, async () => {
  const room = uniqueId("fresh");
  const before = Date.now();
  const r = await postJson(api(room, "say"), { text: "into the void" });
  assert.equal(r.status, 200, r.text);
  const state = await getJson(api(room, "state"));
  assert.equal(state.status, 200, state.text);
  assert.equal(state.body.messageCount, 1);
  assert.ok(state.body.createdAt >= before - CLOCK_SLACK_MS && state.body.createdAt <= Date.now() + CLOCK_SLACK_MS);
  assert.equal((await postJson(api(room, "say"), { text: "again" })).status, 200);
  assert.equal((await getJson(api(room, "state"))).body.messageCount, 2);
});

test("POST say with a bad body → 400 with a JSON error naming the problem; nothing broadcast or counted", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("post-bad");
  const member = await openMember(pool, room, "m");
  const mark = member.mark();
  const before = await getState(room);

  const cases = [
    { name: "non-JSON body", body: "this is not json{", path: "$", message: /JSON/i },
    { name: '{"text":5}', body: { text: 5 }, path: "$.text", expected: "string", found: /number/ },
    { name: "missing text", body: {}, path: "$.text", expected: "string", found: /missing/ },
    { name: "missing text, other fields", body: { message: "hi" }, path: "$.text", found: /missing/ },
    { name: "array body", body: [{ text: "x" }], path: "$", found: /array/ },
    { name: "empty array body", body: [], path: "$", found: /array/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const r = await postJson(api(room, "say"), c.body);
      assert.equal(r.status, 400, `status for ${c.name}: ${r.text}`);
      assert.match(r.contentType, /application\/json/);
      assert.ok(r.body && typeof r.body === "object", `JSON error body: ${r.text}`);
      assert.equal(r.body._tag, "RoomValidationError", r.text);
      assert.equal(r.body.path, c.path, `path in ${r.text}`);
      assert.equal(typeof r.body.message, "string");
      if (c.message) assert.match(r.body.message, c.message);
      if (c.expected) assert.equal(r.body.expected, c.expected, r.text);
      if (c.found) assert.match(String(r.body.found), c.found, r.text);
      assert.ok(!("stack" in r.body), "no stack in the error");
    });
  }

  // A good POST after the bad ones is the next (and only) thing the member gets.
  const ok = await postJson(api(room, "say"), { text: "after the bad ones" });
  assert.equal(ok.status, 200, ok.text);
  const msg = await member.waitFor(tagged("Message", { text: "after the bad ones" }), { from: mark });
  assert.deepEqual(member.since(mark), [msg]);  // no runtime frame either
  assertMessage(msg, "after the bad ones", "system");
  assert.deepEqual(await getState(room), { ...before, messageCount: before.messageCount + 1 });
});

// ---- state and connections ------------------------------------------------------------

test("GET state: null before the first connection, then {createdAt, messageCount} counting Says over WS and POST", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("state");
  const r = await getJson(api(room, "state"));
  assert.equal(r.status, 200, r.text);
  assert.match(r.contentType, /application\/json/);
  assert.equal(r.text, "null");
  assert.equal(await getState(room), null, "still null on a second read");

  const beforeConnect = Date.now();
  const alice = await openMember(pool, room, "alice");
  const s0 = await getState(room);
  assert.deepEqual(s0, { createdAt: s0?.createdAt, messageCount: 0 });
  assert.equal(typeof s0.createdAt, "number");
  assert.ok(
    s0.createdAt >= beforeConnect - CLOCK_SLACK_MS && s0.createdAt <= Date.now() + CLOCK_SLACK_MS,
    `createdAt ${s0.createdAt} is about the first connection's time`,
  );

  alice.send({ _tag: "Say", text: "one" });
  await alice.waitFor(tagged("Message", { text: "one" }));
  assert.deepEqual(await getState(room), { createdAt: s0.createdAt, messageCount: 1 });

  assert.equal((await postJson(api(room, "say"), { text: "two" })).status, 200);
  await alice.waitFor(tagged("Message", { text: "two" }));
  assert.deepEqual(await getState(room), { createdAt: s0.createdAt, messageCount: 2 });

  // A second member does not reset the room.
  const bob = await openMember(pool, room, "bob");
  bob.send({ _tag: "Say", text: "three" });
  await alice.waitFor(tagged("Message", { text: "three" }));
  assert.deepEqual(await getState(room), { createdAt: s0.createdAt, messageCount: 3 });
});

test("GET connections lists [{id, tags, state: {userId, joinedAt}}]; ?tag=user:U filters", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("conns");
  const t0 = Date.now();
  await openMember(pool, room, "alice");
  const t1 = Date.now();
  await openMember(pool, room, "bob");
  const t2 = Date.now();

  const all = await getConnections(room);
  assert.equal(all.length, 2, JSON.stringify(all));
  assertConnection(all[0], "alice", { notBefore: t0, notAfter: t1 });
  assertConnection(all[1], "bob", { notBefore: t1, notAfter: t2 });

  const bobs = await getConnections(room, "user:bob");
  assert.equal(bobs.length, 1, JSON.stringify(bobs));
  assert.deepEqual(bobs[0], all[1]);
  const alices = await getConnections(room, "user:alice");
  assert.deepEqual(alices, [all[0]]);
  assert.deepEqual(await getConnections(room, "user:nobody"), []);
});

test("a socket without userId joins as id \"anon\"", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("anon");
  const t0 = Date.now();
  const anon = await openMember(pool, room, undefined);
  const t1 = Date.now();

  const conns = await getConnections(room);
  assert.equal(conns.length, 1, JSON.stringify(conns));
  assertConnection(conns[0], "anon", { notBefore: t0, notAfter: t1 });
  assert.deepEqual(await getConnections(room, "user:anon"), conns);

  anon.send({ _tag: "Say", text: "who am i" });
  assertMessage(await anon.waitFor(tagged("Message", { text: "who am i" })), "who am i", "anon");
});

// ---- robustness -----------------------------------------------------------------------

test("bad frames change nothing and keep the socket open", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("bad-frames");
  const sender = await openMember(pool, room, "sender");
  const observer = await openMember(pool, room, "observer");
  await sender.waitFor(joined("observer"));
  let count = (await getState(room)).messageCount;

  const deep = 100_000;
  const cases = [
    { name: "non-JSON text", frame: "this is not json" },
    { name: "truncated JSON", frame: '{"_tag":"Say","text":"x"' },
    { name: "unknown _tag", frame: JSON.stringify({ _tag: "Shout", text: "x" }) },
    { name: "outbound tag sent inbound", frame: JSON.stringify({ _tag: "Message", text: "x", userId: "admin", ts: 1 }) },
    { name: "missing _tag", frame: JSON.stringify({ text: "x" }) },
    { name: "_tag of the wrong type", frame: JSON.stringify({ _tag: 1, text: "x" }) },
    { name: "text of the wrong type (number)", frame: JSON.stringify({ _tag: "Say", text: 5 }) },
    { name: "text of the wrong type (object)", frame: JSON.stringify({ _tag: "Say", text: { s: "x" } }) },
    { name: "text null", frame: JSON.stringify({ _tag: "Say", text: null }) },
    { name: "missing text", frame: JSON.stringify({ _tag: "Say" }) },
    { name: "JSON array", frame: JSON.stringify([{ _tag: "Say", text: "x" }]) },
    { name: "JSON string", frame: JSON.stringify("Say") },
    // RFC 8259 lets a parser skip a byte-order mark or refuse it; the core
    // refuses it on every transport (the HTTP route too).
    { name: "a valid Say after a byte-order mark", frame: "\uFEFF" + JSON.stringify({ _tag: "Say", text: "bom" }) },
    { name: "binary frame (holding a valid Say)", frame: Buffer.from(JSON.stringify({ _tag: "Say", text: "binary" })), binary: true },
    { name: `${deep}-deep nesting "[[[[…" (unclosed)`, frame: "[".repeat(deep) },
    { name: `${deep}-deep nesting "[[…]]" (balanced)`, frame: "[".repeat(deep) + "]".repeat(deep) },
    { name: `${deep}-deep nesting inside a Say`, frame: '{"_tag":"Say","text":' + "[".repeat(deep) + "]".repeat(deep) + "}" },
    {
      name: "a frame over 1 MiB (a valid Say otherwise)",
      frame: JSON.stringify({ _tag: "Say", text: "a".repeat(1024 * 1024) }),
    },
  ];

  for (const [i, c] of cases.entries()) {
    await t.test(c.name, async () => {
      const sMark = sender.mark();
      const oMark = observer.mark();
      await sender.sendRaw(c.frame, c.binary ? { binary: true } : {});
      // Frames of one socket are handled in order: the Say's Message is the
      // first thing anyone receives if the bad frame broadcast nothing.
      const token = `still works ${i}`;
      sender.send({ _tag: "Say", text: token });
      const [s, o] = await Promise.all([
        sender.waitFor(tagged("Message", { text: token }), { from: sMark }),
        observer.waitFor(tagged("Message", { text: token }), { from: oMark }),
      ]);
      assertMessage(s, token, "sender");
      assert.deepEqual(sender.since(sMark), [s], "the sender got only its Say");
      assert.deepEqual(observer.since(oMark), [s], "the observer got only the Say (one encoding: the same $seq)");
      assert.ok(sender.isOpen, `sender still open (close: ${JSON.stringify(sender.closeInfo)})`);
      assert.ok(observer.isOpen, "observer still open");
      count += 1;
      assert.equal((await getState(room)).messageCount, count, "only the following Say was counted");
    });
  }

  // Nothing late either.
  const sMark = sender.mark();
  const oMark = observer.mark();
  await delay(QUIET_MS);
  assert.deepEqual(sender.since(sMark), []);
  assert.deepEqual(observer.since(oMark), []);
  assert.deepEqual((await getConnections(room)).map((c) => c.id), ["observer", "sender"]);
});

test("rooms are isolated: messages and state of room A never reach room B", TEST, async (t) => {
  const pool = clientPool(t);
  const roomA = uniqueId("iso-a");
  const roomB = uniqueId("iso-b");
  // The same user in both rooms, plus one member each.
  const [samA, annA] = await joinInOrder(pool, roomA, ["sam", "ann"]);
  const [samB, benB] = await joinInOrder(pool, roomB, ["sam", "ben"]);
  await samA.waitFor(joined("ann"));
  await samB.waitFor(joined("ben"));
  const marks = new Map([samA, annA, samB, benB].map((c) => [c, c.mark()]));

  samA.send({ _tag: "Say", text: "in A" });
  annA.send({ _tag: "Typing" });
  assert.equal((await postJson(api(roomA, "say"), { text: "posted to A" })).status, 200);
  await Promise.all(
    [samA, annA].flatMap((c) => [
      c.waitFor(tagged("Message", { text: "in A" }), { from: marks.get(c) }),
      c.waitFor(tagged("Message", { text: "posted to A" }), { from: marks.get(c) }),
    ]),
  );
  await samA.waitFor(tagged("Typing", { userId: "ann" }), { from: marks.get(samA) });

  benB.send({ _tag: "Say", text: "in B" });
  const inB = await Promise.all([samB, benB].map((c) => c.waitFor(tagged("Message", { text: "in B" }), { from: marks.get(c) })));
  await delay(QUIET_MS);

  for (const c of [samB, benB]) assert.deepEqual(c.since(marks.get(c)), [inB[0]], "room B got only its own Message");
  // Each room numbers its own frames.
  assert.ok(inB[0].$seq < 10, `room B's own sequence: ${inB[0].$seq}`);
  for (const c of [samA, annA]) {
    assert.ok(!c.since(marks.get(c)).some((m) => m.text === "in B"), "room A never got B's Message");
  }
  assert.equal((await getState(roomA)).messageCount, 2);
  assert.equal((await getState(roomB)).messageCount, 1);
  assert.deepEqual((await getConnections(roomA)).map((c) => c.id), ["ann", "sam"]);
  assert.deepEqual((await getConnections(roomB)).map((c) => c.id), ["ben", "sam"]);
  assert.deepEqual((await getConnections(roomB, "user:ann")), []);
});

// ---- duplicates and closes ------------------------------------------------------------

test("duplicate userId (default onDuplicate \"allow\"): both sockets stay connected and both get Messages", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("dup");
  const first = await openMember(pool, room, "dup");
  const second = await openMember(pool, room, "dup");
  const other = await openMember(pool, room, "other");

  other.send({ _tag: "Say", text: "to both" });
  await Promise.all([first, second, other].map((c) => c.waitFor(tagged("Message", { text: "to both" }))));
  second.send({ _tag: "Say", text: "from the second" });
  const got = await Promise.all(
    [first, second, other].map((c) => c.waitFor(tagged("Message", { text: "from the second" }))),
  );
  assertMessage(got[0], "from the second", "dup");
  assert.ok(first.isOpen && second.isOpen, "both sockets of dup are open");
  assert.equal(first.closeInfo, null);
  assert.equal(second.closeInfo, null);

  const conns = await getConnections(room);
  assert.deepEqual(conns.map((c) => c.id), ["dup", "dup", "other"]);
  const dups = await getConnections(room, "user:dup");
  assert.equal(dups.length, 2, JSON.stringify(dups));
  for (const c of dups) {
    assert.deepEqual(c, { id: "dup", tags: ["user:dup"], state: { userId: "dup", joinedAt: c.state?.joinedAt } });
    assert.equal(typeof c.state.joinedAt, "number");
  }
});

test("client closes with 4001: the others get UserLeft; the closer sees 4001 echoed within 2 s", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("close-4001");
  const [leaver, stay1, stay2] = await joinInOrder(pool, room, ["leaver", "stay1", "stay2"]);
  await leaver.waitFor(joined("stay2"));
  await stay1.waitFor(joined("stay2"));
  const marks = [stay1.mark(), stay2.mark()];

  const t0 = Date.now();
  let info;
  try {
    info = await leaver.close(4001, "custom leave", { timeout: 2000 });
  } catch (e) {
    assert.fail(`no close event within 2 s of close(4001): ${e.message}`);
  }
  const ms = Date.now() - t0;
  assert.notEqual(info.code, 1006, "a clean close, not 1006");
  assert.deepEqual(info, { code: 4001, reason: "custom leave" });
  assert.ok(ms < 2000, `closed in ${ms} ms`);

  await Promise.all([stay1, stay2].map((c, i) => c.waitFor(tagged("UserLeft", { userId: "leaver" }), { from: marks[i] })));
  stay1.send({ _tag: "Say", text: "after leave" });
  const msgs = await Promise.all([stay1, stay2].map((c) => c.waitFor(tagged("Message", { text: "after leave" }))));
  [stay1, stay2].forEach((c, i) => {
    assert.deepEqual(schemaFrames(c.since(marks[i])), [{ _tag: "UserLeft", userId: "leaver" }, strip(msgs[0])]);
    assert.deepEqual(runtimeFrames(c.since(marks[i])).map((d) => Object.keys(d.leaves)), [["leaver"]]);
  });
  assert.deepEqual((await getConnections(room)).map((c) => c.id), ["stay1", "stay2"]);
});

// ---- resume ----------------------------------------------------------------------------

test("?resume=N: a member who was away gets the Messages it missed, then its Presence; a bad N is a 400", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("resume");
  const [alice, bob] = await joinInOrder(pool, room, ["alice", "bob"]);
  alice.send({ _tag: "Say", text: "seen" });
  const seen = await bob.waitFor(tagged("Message", { text: "seen" }));
  await bob.close();
  await alice.waitFor(tagged("UserLeft", { userId: "bob" }));
  for (const text of ["m1", "m2", "m3"]) alice.send({ _tag: "Say", text });
  await alice.waitFor(tagged("Message", { text: "m3" }));

  const url = (q) => toWsUrl(base, `/ws/chat/${encodeURIComponent(room)}?userId=bob&${q}`);
  const back = await pool.add(openSocket(url(`resume=${seen.$seq}`)));
  await back.waitFor((m) => m.$rooms === "Presence");
  // Not bob's own UserLeft (it went to everyone but bob), not alice's UserJoined.
  assert.deepEqual(back.messages.map((m) => m.$rooms ?? m.text), ["m1", "m2", "m3", "Presence"]);
  assert.deepEqual(back.messages.slice(0, 3).map((m) => m.$seq - seen.$seq), [2, 3, 4]);

  await assert.rejects(openSocket(url("resume=-1")), (e) => e.status === 400 && /resume/.test(e.body));
  await assert.rejects(openSocket(url("resume=abc")), (e) => e.status === 400);
});
