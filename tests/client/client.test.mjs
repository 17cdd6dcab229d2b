// The typed client's logic (shim/browser/client.js) against a fake WebSocket
// and a virtual clock: backoff with jitter, the offline buffer, heartbeat,
// sequence numbers and resume, coalesced frames, presence, validation.
//
//   node --test tests/client/

import { beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import Ajv from "ajv";

import { backoffDelay, connect, DEFAULTS } from "../../shim/browser/client.js";
import { FakeSocket, fakeTimers } from "./fakes.mjs";

const URL_ = "ws://rooms.test/ws/chat/lobby?userId=ada";

beforeEach(() => FakeSocket.reset());

// A client on fakes, with every event recorded in `log`.
function setup(options = {}) {
  const clock = fakeTimers();
  const log = [];
  const client = connect(options.url ?? URL_, { WebSocket: FakeSocket, timers: clock.timers, heartbeat: false, ...options });
  for (const name of ["open", "close", "status", "error", "runtime", "message", "join", "leave"]) {
    client.on(name, (...args) => log.push([name, ...args]));
  }
  const events = (name) => log.filter((e) => e[0] === name).map((e) => e.slice(1));
  return { client, clock, log, events };
}

// ---- backoff ------------------------------------------------------------------

test("backoffDelay: full jitter within [0, min(cap, base * factor^n))", () => {
  const b = { base: 100, cap: 5000, factor: 3 };
  for (let n = 0; n < 10; n++) {
    const ceiling = Math.min(5000, 100 * 3 ** n);
    assert.equal(backoffDelay(n, b, () => 0), 0, `n=${n} at random 0`);
    const top = backoffDelay(n, b, () => 0.999999);
    assert.ok(top < ceiling && top >= ceiling * 0.99, `n=${n}: ${top} just under ${ceiling}`);
    assert.equal(backoffDelay(n, b, () => 0.5), Math.floor(ceiling / 2));
  }
  // With Math.random: many draws spread over the range, none outside it.
  const draws = Array.from({ length: 2000 }, () => backoffDelay(4, b));
  assert.ok(draws.every((d) => d >= 0 && d < 5000 && Number.isInteger(d)));
  assert.ok(Math.min(...draws) < 500 && Math.max(...draws) > 4500, "full jitter spreads over [0, ceiling)");
  assert.deepEqual(DEFAULTS.backoff, { base: 500, cap: 30_000, factor: 2 });
});

test("reconnects after each drop with the backoff delays, resetting them once a socket opens", () => {
  const { client, clock, events } = setup({ backoff: { base: 100, cap: 1000, factor: 2 }, random: () => 0.5 });
  assert.equal(client.status, "connecting");
  FakeSocket.last.drop(); // never opened
  assert.equal(client.status, "connecting");
  assert.deepEqual(clock.pendingDelays(), [50]);
  clock.advance(49);
  assert.equal(FakeSocket.instances.length, 1);
  clock.advance(1);
  assert.equal(FakeSocket.instances.length, 2);
  // Failures: 100, 200, 400, then capped at 1000 → 500 with random 0.5.
  const waits = [];
  for (let i = 0; i < 5; i++) {
    FakeSocket.last.drop();
    waits.push(...clock.pendingDelays());
    clock.advance(1000);
  }
  assert.deepEqual(waits, [100, 200, 400, 500, 500]);
  FakeSocket.last.open();
  assert.equal(client.status, "open");
  FakeSocket.last.drop(1001, "going away");
  assert.equal(client.status, "reconnecting");
  assert.deepEqual(clock.pendingDelays(), [50], "the attempt count starts over after an open");
  assert.deepEqual(events("close").at(-1), [{ code: 1001, reason: "going away", willReconnect: true }]);
  assert.deepEqual(events("status").map((s) => s[0]), ["open", "reconnecting"]);
});

test("does not reconnect after close(), nor after codes 1000 and 1012 by default; shouldReconnect decides otherwise", () => {
  for (const code of [1000, 1012]) {
    FakeSocket.reset();
    const { client, clock } = setup();
    FakeSocket.last.open();
    FakeSocket.last.drop(code);
    assert.equal(client.status, "closed", `code ${code}`);
    clock.advance(60_000);
    assert.equal(FakeSocket.instances.length, 1);
  }
  FakeSocket.reset();
  const { client, clock } = setup({ shouldReconnect: (info) => info.code !== 4001 });
  FakeSocket.last.open();
  FakeSocket.last.drop(1000);
  clock.advance(60_000);
  assert.equal(FakeSocket.instances.length, 2);
  FakeSocket.last.open();
  FakeSocket.last.drop(4001);
  assert.equal(client.status, "closed");

  FakeSocket.reset();
  const s = setup();
  FakeSocket.last.open();
  s.client.close();
  assert.deepEqual(FakeSocket.last.closedWith, { code: 1000, reason: "" });
  assert.equal(s.client.status, "closed");
  s.clock.advance(60_000);
  assert.equal(FakeSocket.instances.length, 1);
  assert.equal(s.client.send({ _tag: "Say", text: "late" }), false);
  assert.equal(s.events("error").at(-1)[0]._tag, "ClientClosed");
});

// ---- the offline buffer -------------------------------------------------------

test("sends while offline wait in order in a bounded buffer; beyond bufferSize a send is refused", () => {
  const { client, clock, events } = setup({ bufferSize: 3, random: () => 0 });
  assert.equal(client.send({ _tag: "Say", text: "1" }), true);
  assert.equal(client.send({ _tag: "Say", text: "2" }), true);
  assert.equal(client.send({ _tag: "Say", text: "3" }), true);
  assert.equal(client.send({ _tag: "Say", text: "4" }), false, "the fourth is refused");
  assert.equal(client.buffered, 3);
  const [err] = events("error").at(-1);
  assert.equal(err._tag, "SendBufferFull");
  assert.equal(err.limit, 3);
  assert.deepEqual(err.event, { _tag: "Say", text: "4" });
  FakeSocket.last.open();
  assert.deepEqual(FakeSocket.last.sent.map((t) => JSON.parse(t).text), ["1", "2", "3"]);
  assert.equal(client.buffered, 0);
  client.send({ _tag: "Say", text: "5" });
  assert.equal(JSON.parse(FakeSocket.last.sent.at(-1)).text, "5", "sent at once while open");
  // Offline again: buffered, flushed on the next socket.
  FakeSocket.last.drop();
  client.send({ _tag: "Say", text: "6" });
  clock.advance(0);
  FakeSocket.last.open();
  assert.deepEqual(FakeSocket.last.sent, ['{"_tag":"Say","text":"6"}']);
});

test("bufferSize 0 refuses every send while offline; close() drops the buffer", () => {
  const a = setup({ bufferSize: 0 });
  assert.equal(a.client.send({ _tag: "Typing" }), false);
  FakeSocket.reset();
  const b = setup();
  b.client.send({ _tag: "Typing" });
  b.client.close();
  assert.equal(b.client.buffered, 0);
});

// ---- heartbeat ----------------------------------------------------------------

test("heartbeat: pings every interval; a ping with no frame back within the timeout replaces the socket", () => {
  const { client, clock, events } = setup({ heartbeat: { interval: 1000, timeout: 400 }, random: () => 0.5 });
  const first = FakeSocket.last;
  first.open();
  clock.advance(999);
  assert.deepEqual(first.sent, []);
  clock.advance(1);
  assert.deepEqual(first.sent, ["ping"]);
  clock.advance(300);
  first.receive("pong"); // answered in time
  clock.advance(700);
  assert.deepEqual(first.sent, ["ping", "ping"], "pings go on while the room answers");
  clock.advance(300);
  first.receive({ _tag: "Message", text: "x", userId: "u", ts: 1 }); // any frame counts
  clock.advance(700);
  assert.equal(first.sent.length, 3);
  // The third ping goes unanswered.
  clock.advance(399);
  assert.equal(FakeSocket.instances.length, 1);
  clock.advance(1);
  assert.ok(first.terminated, "the dead socket is dropped");
  assert.equal(client.status, "reconnecting");
  assert.deepEqual(events("close").at(-1), [{ code: 4000, reason: "heartbeat timeout", willReconnect: true }]);
  assert.deepEqual(clock.pendingDelays(), [250], "after the first backoff wait");
  clock.advance(250);
  assert.equal(FakeSocket.instances.length, 2, "a new socket replaces it");
  // The dead socket's late events change nothing.
  first.receive({ _tag: "Message", text: "late", userId: "u", ts: 2 });
  first.drop();
  assert.equal(FakeSocket.instances.length, 2);
  assert.equal(events("message").length, 1);
  assert.ok(!events("message").some(([m]) => m === "pong"));
});

test("heartbeat: pong never reaches a handler; custom ping and pong texts; heartbeat:false sends nothing", () => {
  const a = setup({ heartbeat: { interval: 100, timeout: 50, ping: "hb?", pong: "hb!" } });
  FakeSocket.last.open();
  a.clock.advance(100);
  assert.deepEqual(FakeSocket.last.sent, ["hb?"]);
  FakeSocket.last.receive("hb!");
  assert.deepEqual(a.events("message"), []);
  assert.deepEqual(a.events("error"), []);
  FakeSocket.reset();
  const b = setup({ heartbeat: false });
  FakeSocket.last.open();
  b.clock.advance(3_600_000);
  assert.deepEqual(FakeSocket.last.sent, []);
  assert.equal(b.client.status, "open");
});

test("heartbeat is on by default (ping/pong, 10 s, 5 s)", () => {
  const clock = fakeTimers();
  connect(URL_, { WebSocket: FakeSocket, timers: clock.timers });
  FakeSocket.last.open();
  clock.advance(10_000);
  assert.deepEqual(FakeSocket.last.sent, ["ping"]);
  clock.advance(5_000);
  assert.ok(FakeSocket.last.terminated);
});

// ---- sequence numbers and resume ---------------------------------------------

test("$seq: remembered (the highest), stripped before handlers, sent back as resume=<seq> on reconnect", () => {
  const { client, clock, events } = setup({ random: () => 0 });
  assert.equal(FakeSocket.last.url, URL_, "no resume on the first connect");
  FakeSocket.last.open();
  FakeSocket.last.receive('{"$seq":7,"_tag":"Message","text":"a","userId":"u","ts":1}');
  FakeSocket.last.receive('{"$seq":9,"_tag":"UserJoined","userId":"bob"}');
  assert.deepEqual(events("message").map((e) => e[0]), [
    { _tag: "Message", text: "a", userId: "u", ts: 1 },
    { _tag: "UserJoined", userId: "bob" },
  ]);
  assert.equal(client.lastSeq, 9);
  FakeSocket.last.drop();
  clock.advance(0);
  const u = new URL(FakeSocket.last.url);
  assert.equal(u.searchParams.get("resume"), "9");
  assert.equal(u.searchParams.get("userId"), "ada", "the same connection identity");
  assert.equal(u.pathname, "/ws/chat/lobby");
  // The replay, then live frames; a reconnect after that resumes from the newest.
  FakeSocket.last.open();
  FakeSocket.last.receive('{"$seq":12,"_tag":"Message","text":"missed","userId":"bob","ts":2}');
  FakeSocket.last.drop();
  clock.advance(0);
  assert.equal(new URL(FakeSocket.last.url).searchParams.get("resume"), "12");
  assert.equal([...new URL(FakeSocket.last.url).searchParams.keys()].filter((k) => k === "resume").length, 1);
});

test("resume: the seq option resumes on the first connect; resume:false and resumeParam; a URL function", () => {
  setup({ seq: 41 });
  assert.equal(new URL(FakeSocket.last.url).searchParams.get("resume"), "41");
  FakeSocket.reset();
  const off = setup({ resume: false, random: () => 0 });
  FakeSocket.last.open();
  FakeSocket.last.receive({ $seq: 3, _tag: "UserLeft", userId: "x" });
  FakeSocket.last.drop();
  off.clock.advance(0);
  assert.equal(FakeSocket.last.url, URL_);
  FakeSocket.reset();
  let n = 0;
  const fn = setup({ url: () => `http://rooms.test/ws/chat/r?token=t${++n}`, resumeParam: "from", random: () => 0 });
  FakeSocket.last.open();
  FakeSocket.last.receive({ $seq: 5, _tag: "UserLeft", userId: "x" });
  FakeSocket.last.drop();
  fn.clock.advance(0);
  assert.equal(FakeSocket.last.url, "ws://rooms.test/ws/chat/r?token=t2&from=5", "http: becomes ws:, the function is called per attempt");
});

test("ResyncRequired: reported as an error and a runtime frame; the next resume starts from the room's seq", () => {
  const { client, clock, events } = setup({ seq: 3, random: () => 0 });
  FakeSocket.last.open();
  FakeSocket.last.receive({ $rooms: "ResyncRequired", seq: 900 });
  assert.equal(client.lastSeq, 900);
  assert.deepEqual(events("runtime"), [[{ $rooms: "ResyncRequired", seq: 900 }]]);
  const [err] = events("error")[0];
  assert.equal(err._tag, "ResyncRequired");
  assert.equal(err.seq, 900);
  assert.deepEqual(events("message"), []);
  FakeSocket.last.drop();
  clock.advance(0);
  assert.equal(new URL(FakeSocket.last.url).searchParams.get("resume"), "900");
});

test("RateLimitError goes to error and runtime handlers, never to broadcast handlers; sends wait out retryAfterMs", () => {
  const { client, clock, events } = setup();
  FakeSocket.last.open();
  FakeSocket.last.receive('{"$rooms":"RateLimitError","limit":"frames","retryAfterMs":250}');
  const [err] = events("error")[0];
  assert.deepEqual([err._tag, err.limit, err.retryAfterMs], ["RateLimitError", "frames", 250]);
  assert.deepEqual(events("runtime")[0][0], { $rooms: "RateLimitError", limit: "frames", retryAfterMs: 250 });
  assert.deepEqual(events("message"), []);
  // The room would drop these: they wait in the buffer, in order.
  assert.equal(client.send({ _tag: "Say", text: "a" }), true);
  assert.equal(client.send({ _tag: "Say", text: "b" }), true);
  assert.equal(client.buffered, 2);
  clock.advance(249);
  assert.deepEqual(FakeSocket.last.sent, []);
  clock.advance(1);
  assert.deepEqual(FakeSocket.last.sent.map((t) => JSON.parse(t).text), ["a", "b"]);
  client.send({ _tag: "Say", text: "c" });
  assert.equal(FakeSocket.last.sent.length, 3, "sent at once after the pause");
});

// ---- coalesced frames ---------------------------------------------------------

test("a JSON array is unpacked into its frames, in order, each with its $seq", () => {
  const { client, events } = setup();
  const byTag = [];
  client.on("Message", (m) => byTag.push(m.text));
  FakeSocket.last.open();
  FakeSocket.last.receive(
    '[{"$seq":1,"_tag":"Message","text":"a","userId":"u","ts":1},{"$seq":2,"$rooms":"PresenceDiff","joins":{},"leaves":{}},{"$seq":4,"_tag":"Message","text":"b","userId":"u","ts":2}]',
  );
  assert.deepEqual(byTag, ["a", "b"]);
  assert.equal(events("runtime").length, 1);
  assert.equal(client.lastSeq, 4);
  FakeSocket.last.receive("[]");
  FakeSocket.last.receive('[1, {"_tag":"Message","text":"c","userId":"u","ts":3}]');
  assert.deepEqual(byTag, ["a", "b", "c"]);
  assert.equal(events("error").at(-1)[0]._tag, "InvalidFrame");
});

test("frames that are not JSON objects go to error handlers; a throwing handler stops nothing", () => {
  const { client, events } = setup();
  const seen = [];
  client.on("Message", () => {
    throw new Error("handler bug");
  });
  client.on("Message", (m) => seen.push(m.text));
  const reported = [];
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e.message);
  try {
    FakeSocket.last.open();
    FakeSocket.last.receive("not json");
    FakeSocket.last.receive('"a string"');
    FakeSocket.last.onmessage({ data: new ArrayBuffer(2) });
    FakeSocket.last.receive({ _tag: "Message", text: "still here", userId: "u", ts: 1 });
  } finally {
    if (saved) globalThis.reportError = saved;
    else delete globalThis.reportError;
  }
  assert.deepEqual(events("error").map(([e]) => e.message), ["frame is not JSON", "frame is not a JSON object", "binary frame"]);
  assert.deepEqual(seen, ["still here"]);
  assert.deepEqual(reported, ["handler bug"], "the handler's error is reported outside the client");
});

// ---- handlers -----------------------------------------------------------------

test("on(tag) gets only that tag's broadcasts; the returned function unsubscribes", () => {
  const { client } = setup();
  const got = [];
  const off = client.on("UserJoined", (m) => got.push(m.userId));
  client.on("Typing", (m) => got.push(`typing:${m.userId}`));
  FakeSocket.last.open();
  FakeSocket.last.receive({ _tag: "UserJoined", userId: "bob" });
  FakeSocket.last.receive({ _tag: "Typing", userId: "bob" });
  FakeSocket.last.receive({ _tag: "UserLeft", userId: "bob" });
  off();
  FakeSocket.last.receive({ _tag: "UserJoined", userId: "carol" });
  assert.deepEqual(got, ["bob", "typing:bob"]);
});

test("open reports reconnected; status walks connecting → open → reconnecting → open → closed", () => {
  const { client, clock, events } = setup({ random: () => 0 });
  FakeSocket.last.open();
  FakeSocket.last.drop();
  clock.advance(0);
  FakeSocket.last.open();
  client.close(4001, "bye");
  assert.deepEqual(events("open"), [[{ reconnected: false }], [{ reconnected: true }]]);
  assert.deepEqual(events("status").map((s) => s[0]), ["open", "reconnecting", "open", "closed"]);
  assert.deepEqual(FakeSocket.last.closedWith, { code: 4001, reason: "bye" });
});

// ---- presence -----------------------------------------------------------------

const entry = (ref, name) => ({ ref, meta: { name } });

test("presence: Presence sets the state, PresenceDiff folds joins and leaves; others leaves out self", () => {
  const { client, events } = setup();
  FakeSocket.last.open();
  FakeSocket.last.receive({ $seq: 1, $rooms: "Presence", self: "ada", state: { ada: [entry("r1", "Ada")], bob: [entry("r2", "Bob")] } });
  assert.equal(client.self, "ada");
  assert.deepEqual(Object.keys(client.presence).sort(), ["ada", "bob"]);
  assert.deepEqual(client.others, { bob: [entry("r2", "Bob")] });
  assert.deepEqual(events("join").map((e) => e[0]).sort(), ["ada", "bob"], "the first state joins everyone");

  // bob opens a second tab; carol arrives.
  FakeSocket.last.receive({ $rooms: "PresenceDiff", joins: { bob: [entry("r3", "Bob")], carol: [entry("r4", "Carol")] }, leaves: {} });
  assert.deepEqual(client.others.bob.map((e) => e.ref), ["r2", "r3"]);
  assert.deepEqual(events("join").slice(-2), [
    ["bob", [entry("r3", "Bob")], [entry("r2", "Bob"), entry("r3", "Bob")]],
    ["carol", [entry("r4", "Carol")], [entry("r4", "Carol")]],
  ]);
  // carol changes her meta: a leave and a join of the same ref in one diff.
  FakeSocket.last.receive({ $rooms: "PresenceDiff", joins: { carol: [entry("r4", "Caro")] }, leaves: { carol: [entry("r4", "Carol")] } });
  assert.deepEqual(client.others.carol, [entry("r4", "Caro")]);
  // bob closes one tab, then the other.
  FakeSocket.last.receive({ $rooms: "PresenceDiff", joins: {}, leaves: { bob: [entry("r2", "Bob")] } });
  assert.deepEqual(client.others.bob, [entry("r3", "Bob")]);
  FakeSocket.last.receive({ $rooms: "PresenceDiff", joins: {}, leaves: { bob: [entry("r3", "Bob")] } });
  assert.ok(!("bob" in client.others), "a key with no entries left is gone");
  assert.deepEqual(events("leave").map((e) => [e[0], e[1].map((x) => x.ref), e[2].length]), [
    ["carol", ["r4"], 1],
    ["bob", ["r2"], 1],
    ["bob", ["r3"], 0],
  ]);
  assert.equal(events("runtime").length, 5);
  assert.deepEqual(events("message"), []);
});

test("presence after a reconnect: the new Presence replaces the state, reporting only what changed", () => {
  const { client, clock, events } = setup({ random: () => 0 });
  FakeSocket.last.open();
  FakeSocket.last.receive({ $rooms: "Presence", self: "ada", state: { ada: [entry("a1", "Ada")], bob: [entry("b1", "Bob")] } });
  FakeSocket.last.drop();
  assert.deepEqual(Object.keys(client.others), ["bob"], "kept while reconnecting");
  clock.advance(0);
  FakeSocket.last.open();
  const before = events("join").length;
  // bob left while we were away, carol came; our own socket has a new ref.
  FakeSocket.last.receive({ $rooms: "Presence", self: "ada", state: { ada: [entry("a2", "Ada")], carol: [entry("c1", "Carol")] } });
  assert.deepEqual(Object.keys(client.others), ["carol"]);
  assert.deepEqual(events("join").slice(before).map((e) => e[0]).sort(), ["ada", "carol"]);
  assert.deepEqual(events("leave").map((e) => e[0]).sort(), ["ada", "bob"]);
});

// ---- validation ----------------------------------------------------------------

test("validate (ajv with the generated JSON Schema): invalid broadcasts go to error, valid ones to handlers", async () => {
  const { schemas } = await import("../../dist/wasm/rooms.meta.js");
  const ajv = new Ajv({ discriminator: true, strictTypes: false });
  const validate = ajv.compile(schemas.chat.broadcast);
  const { events } = setup({ validate });
  FakeSocket.last.open();
  FakeSocket.last.receive({ $seq: 1, _tag: "Message", text: "ok", userId: "u", ts: 5 });
  FakeSocket.last.receive({ $seq: 2, _tag: "Message", text: 5, userId: "u", ts: 5 });
  FakeSocket.last.receive({ _tag: "Shout", text: "x" });
  FakeSocket.last.receive({ $rooms: "RateLimitError", limit: "bytes", retryAfterMs: 1 }); // runtime frames are not the room's schema
  assert.deepEqual(events("message"), [[{ _tag: "Message", text: "ok", userId: "u", ts: 5 }]]);
  const invalid = events("error").map(([e]) => e).filter((e) => e._tag === "InvalidFrame");
  assert.equal(invalid.length, 2);
  assert.deepEqual(invalid[0].frame, { _tag: "Message", text: 5, userId: "u", ts: 5 }, "$seq stripped before validation");
  assert.ok(Array.isArray(invalid[0].errors) && invalid[0].errors.length > 0, "ajv's errors ride along");
});

test("a URL that does not parse throws at connect(); no WebSocket implementation: a TypeError naming the option", () => {
  assert.throws(() => connect("/ws/chat/r", { WebSocket: FakeSocket }), TypeError, "a relative URL without a page");
  assert.equal(FakeSocket.instances.length, 0);
  const saved = globalThis.WebSocket;
  try {
    delete globalThis.WebSocket;
    assert.throws(() => connect(URL_), /WebSocket option/);
  } finally {
    if (saved) globalThis.WebSocket = saved;
  }
});
