// The guarantees of durable-rooms, proved on workerd (Miniflare): hibernation,
// alarms, durability across a restart, crash recovery, purge, duplicates,
// close codes and typed client errors. Driven through the e2e test worker
// (tests/e2e/worker), which exposes the whole client API, with the probe room
// (wasm/examples/probe) and the chat room.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { startServer } from "./server.mjs";
import { clientPool, delay, openSocket, tagged, toWsUrl, uniqueId, waitUntil } from "./helpers.mjs";

// workerd hibernates an idle Durable Object after 10 s (hard-coded locally).
const IDLE_MS = 12_500;

let server;
before(async () => {
  server = await startServer({ worker: "test" });
});
after(async () => {
  await server?.close();
});

function connect(base, room, id, opts) {
  return openSocket(toWsUrl(base, `/ws/${room}/${encodeURIComponent(id)}?opts=${encodeURIComponent(JSON.stringify(opts))}`));
}
const probe = (base, room, id, name = id, extra = {}) =>
  connect(base, "probe", room, { connection: { id, initialState: { name }, ...extra } });
const chat = (base, room, userId) =>
  connect(base, "chat", room, { connection: { id: userId, tags: [`user:${userId}`], initialState: { userId, joinedAt: Date.now() } } });

async function call(base, room, id, op, arg) {
  const res = await fetch(`${base}/call/${room}/${encodeURIComponent(id)}/${op}`, {
    method: "POST",
    body: arg === undefined ? "" : JSON.stringify(arg),
  });
  return res.json();
}
async function value(base, room, id, op, arg) {
  const r = await call(base, room, id, op, arg);
  assert.equal(r.ok, true, `${op} failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

// A burst in one tick of this process, so the frames reach the room together
// and it handles them in one turn (group commit): bob and carol interleave
// Says, and carol closes right after her last. `alice` watches from
// `aliceMark`. Every Say counts, each sender's Messages come in the order
// sent, and carol's UserLeft only after all of hers: the close waited for the
// messages that arrived before it.
// alice, bob and carol in a chat room of their own, each having seen the
// others join.
async function threeInChat(t, prefix) {
  const pool = clientPool(t);
  const chatRoom = uniqueId(prefix);
  const alice = await pool.add(chat(server.url, chatRoom, "alice"));
  const bob = await pool.add(chat(server.url, chatRoom, "bob"));
  const carol = await pool.add(chat(server.url, chatRoom, "carol"));
  await alice.waitFor(tagged("UserJoined", { userId: "carol" }));
  await bob.waitFor(tagged("UserJoined", { userId: "carol" }));
  return { chatRoom, alice, bob, carol };
}

async function burstOfSaysAndAClose(base, chatRoom, { alice, aliceMark, bob, carol, countBefore }) {
  const sent = { bob: [], carol: [] };
  for (let i = 0; i < 8; i++) {
    for (const [who, c] of [["bob", bob], ["carol", carol]]) {
      if (who === "carol" && i >= 5) continue;
      const text = `${who} ${i}`;
      sent[who].push(text);
      c.send({ _tag: "Say", text });
    }
  }
  carol.ws.close(1000);
  await alice.waitFor(tagged("UserLeft", { userId: "carol" }), { from: aliceMark });
  await alice.waitForCount(tagged("Message", { userId: "bob" }), sent.bob.length, { from: aliceMark });
  const seen = alice.since(aliceMark);
  for (const who of ["bob", "carol"]) {
    const texts = seen.filter((m) => m._tag === "Message" && m.userId === who).map((m) => m.text);
    assert.deepEqual(texts, sent[who], `${who}'s Messages at alice`);
  }
  const left = seen.findIndex((m) => m._tag === "UserLeft" && m.userId === "carol");
  const lastOfCarol = seen.findLastIndex((m) => m._tag === "Message" && m.userId === "carol");
  assert.ok(lastOfCarol < left, "carol's UserLeft came before one of her Messages");
  const state = await value(base, "chat", chatRoom, "getState");
  assert.equal(state.messageCount, countBefore + sent.bob.length + sent.carol.length);
}

// The tests use rooms of their own, so they run side by side: the idle waits
// of hibernation and of close handshakes overlap.
describe("guarantees on workerd", { concurrency: true }, () => {
  describe("hibernation", { concurrency: true }, () => {
    test("a room that hibernated with sockets open comes back whole", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("hib");
      const chatRoom = uniqueId("hibchat");
      const a = await pool.add(probe(base, room, "a", "Ann", { tags: ["team:red"] }));
      const b = await pool.add(probe(base, room, "b", "Bob", { tags: ["team:blue"] }));
      const alice = await pool.add(chat(base, chatRoom, "alice"));
      const bob = await pool.add(chat(base, chatRoom, "bob"));
      await alice.waitFor(tagged("UserJoined", { userId: "bob" }));

      a.send({ _tag: "Ping" });
      const before = await a.waitFor(tagged("Pong"));
      assert.equal(before.connection, "a/Ann");
      // An alarm that falls due after the idle period.
      const alarmAt = Date.now() + IDLE_MS + 2_000;
      a.send({ _tag: "Schedule", inMs: alarmAt - Date.now() });
      const scheduled = await waitUntil(async () => {
        a.send({ _tag: "Ping" });
        const p = await a.waitFor(tagged("Pong"), { from: a.mark() });
        return p.nextAlarm !== null && p;
      });
      const sinceWakeBefore = scheduled.sinceWake;
      assert.ok(sinceWakeBefore >= 2);

      // Nothing may keep the objects awake: no messages, no timers in them.
      const aMark = a.mark();
      const aliceMark = alice.mark();
      const bobMark = bob.mark();
      await delay(IDLE_MS);

      // The core was rebuilt (its in-memory ping counter restarted) and the
      // sender is the right typed connection, its state read from the attachment.
      a.send({ _tag: "Ping" });
      const woke = await a.waitFor(tagged("Pong"), { from: aMark });
      assert.equal(woke.sinceWake, 1, "the room did not hibernate (the core kept its counter)");
      assert.equal(woke.connection, "a/Ann");
      assert.equal(woke.nextAlarm, scheduled.nextAlarm, "nextAlarm after the wake");
      const bPong = await b.waitFor(tagged("Pong"), { from: 0, description: "broadcast after wake" });
      assert.ok(bPong);

      // Connections with ids, tags and attachment state; byTag.
      const all = await value(base, "probe", room, "getConnections");
      assert.deepEqual(all.map((c) => [c.id, c.tags, c.state.name]).sort(), [["a", ["team:red"], "Ann"], ["b", ["team:blue"], "Bob"]]);
      const red = await value(base, "probe", room, "getConnections", "team:red");
      assert.deepEqual(red.map((c) => c.id), ["a"]);

      // Chat after the wake: broadcasts work, onConnect did not run again.
      alice.send({ _tag: "Say", text: "after the wake" });
      await bob.waitFor(tagged("Message", { text: "after the wake", userId: "alice" }), { from: bobMark });
      assert.deepEqual(alice.since(aliceMark).filter((m) => m._tag === "UserJoined"), []);
      assert.deepEqual(bob.since(bobMark).filter((m) => m._tag === "UserJoined"), []);
      // onClose after the wake reports the right connection.
      await bob.close(1000);
      await alice.waitFor(tagged("UserLeft", { userId: "bob" }), { from: aliceMark });

      // The alarm scheduled before the hibernation runs.
      const ran = await a.waitFor(tagged("AlarmRan"), { from: aMark, timeout: 8_000 });
      assert.equal(ran.retryCount, 0);
    });

    test("messages and a close that reach a hibernated room together are handled in arrival order", async (t) => {
      const { chatRoom, alice, bob, carol } = await threeInChat(t, "hibburst");
      const aliceMark = alice.mark();
      await delay(IDLE_MS);
      await burstOfSaysAndAClose(server.url, chatRoom, { alice, aliceMark, bob, carol, countBefore: 0 });
    });
  });

  describe("alarms", { concurrency: true }, () => {
    test("scheduleIn runs onAlarm; cancelSchedule stops it; fireAlarm runs it now", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("alarm");
      const a = await pool.add(probe(base, room, "a"));
      a.send({ _tag: "Schedule", inMs: 200 });
      const ran = await a.waitFor(tagged("AlarmRan"));
      assert.deepEqual([ran.alarms, ran.retryCount, ran.failure], [1, 0, null]);

      // Far enough ahead that the Cancel is handled first even on a loaded
      // machine; then wait past the time it would have fired.
      let mark = a.mark();
      a.send({ _tag: "Schedule", inMs: 2000 });
      a.send({ _tag: "Cancel" });
      a.send({ _tag: "Ping" });
      const pong = await a.waitFor(tagged("Pong"), { from: mark });
      assert.equal(pong.nextAlarm, null);
      await delay(2600);
      assert.deepEqual(a.since(mark).filter((m) => m._tag === "AlarmRan"), []);

      mark = a.mark();
      await value(base, "probe", room, "fireAlarm");
      const fired = await a.waitFor(tagged("AlarmRan"), { from: mark });
      assert.equal(fired.alarms, 2);
    });

    test("a failing onAlarm is retried by the platform and the retry sees systemFailure", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("retry");
      const a = await pool.add(probe(base, room, "a"));
      a.send({ _tag: "FailAlarms", times: 1 });
      a.send({ _tag: "Schedule", inMs: 100 });
      const first = await a.waitFor(tagged("AlarmRan"));
      assert.deepEqual([first.retryCount, first.failure], [0, null]);
      // workerd retries after ~2 s (exponential backoff from 2 s).
      const retry = await a.waitFor(tagged("AlarmRan", { alarms: 2 }), { timeout: 8_000 });
      assert.ok(retry.retryCount >= 1, `retryCount ${retry.retryCount}`);
      assert.match(retry.failure ?? "", /alarm failure requested/);
    });
  });

  describe("durability", { concurrency: true }, () => {
    test("state and schedule survive a restart; a frame is only seen once its save is durable", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "rooms-persist-"));
      const room = uniqueId("durable");
      const pRoom = uniqueId("durable-probe");
      let s = await startServer({ worker: "test", persistTo: dir });
      try {
        const alice = await chat(s.url, room, "alice");
        for (const text of ["one", "two", "three"]) alice.send({ _tag: "Say", text });
        // The third Message arriving means its save was durable (output gate):
        // kill the runtime at once, without closing anything gracefully.
        await alice.waitFor(tagged("Message", { text: "three" }));
        const p = await probe(s.url, pRoom, "p");
        p.send({ _tag: "Schedule", inMs: 120_000 });
        p.send({ _tag: "Ping" });
        const pong = await p.waitFor(tagged("Pong"));
        alice.terminate();
        p.terminate();
        await s.close();

        s = await startServer({ worker: "test", persistTo: dir });
        const state = await value(s.url, "chat", room, "getState");
        assert.equal(state.messageCount, 3);
        const p2 = await probe(s.url, pRoom, "p2");
        p2.send({ _tag: "Ping" });
        const pong2 = await p2.waitFor(tagged("Pong"));
        assert.equal(pong2.nextAlarm, pong.nextAlarm);
        assert.equal(pong2.events, pong.events + 1);
        await p2.close();
      } finally {
        await s.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("messages that arrive together", { concurrency: true }, () => {
    test("are handled one by one in arrival order, and a close waits for those before it", async (t) => {
      const { chatRoom, alice, bob, carol } = await threeInChat(t, "burst");
      alice.send({ _tag: "Say", text: "before" });
      await carol.waitFor(tagged("Message", { text: "before" }));
      await burstOfSaysAndAClose(server.url, chatRoom, { alice, aliceMark: alice.mark(), bob, carol, countBefore: 1 });
    });

    test("a trap fails only its own message; the ones after it are handled by the rebuilt core", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("burst-trap");
      const a = await pool.add(probe(base, room, "a"));
      const b = await pool.add(probe(base, room, "b"));
      a.send({ _tag: "Ping" });
      await b.waitFor(tagged("Pong", { events: 1 }));
      const mark = b.mark();
      for (const m of [{ _tag: "Ping" }, { _tag: "Ping" }, { _tag: "Trap", kind: "oob" }, { _tag: "Ping" }, { _tag: "Ping" }]) a.send(m);
      const pongs = await b.waitForCount(tagged("Pong"), 4, { from: mark });
      assert.deepEqual(pongs.map((p) => p.events), [2, 3, 4, 5]);
      assert.deepEqual(pongs.map((p) => p.sinceWake), [2, 3, 1, 2], "the core was rebuilt once, after the trap");
      assert.equal((await value(base, "probe", room, "getState")).events, 5);
    });
  });

  describe("room ids", { concurrency: true }, () => {
    test("any string is a room id: an upgrade reaches the room requests reach, and the core sees the id as given", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      for (const prefix of ["a\nb", "café", "room😀", "100%", "%41", "tab\there"]) {
        const id = uniqueId(prefix);
        const c = await pool.add(probe(base, id, "u"));
        c.send({ _tag: "Ping" });
        const pong = await c.waitFor(tagged("Pong"));
        assert.equal(pong.room, id);
        assert.equal((await value(base, "probe", id, "getState")).events, 1, `the same room for ${JSON.stringify(id)}`);
      }
    });
  });

  describe("crash recovery", { concurrency: true }, () => {
    test("a trapping handler fails its event only; the room is rebuilt and keeps serving", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("crash");
      const ids = ["a", "b", "c"];
      const clients = await pool.all(ids.map((id) => probe(base, room, id, id.toUpperCase())));
      const pongFrom = (i) => tagged("Pong", { connection: `${ids[i]}/${ids[i].toUpperCase()}` });
      let served = 0;
      // Normal traffic from one client, a trap from another, traffic again.
      for (const [i, kind] of ["abort", "unreachable", "oob", "throw"].entries()) {
        const s = i % 3;
        const o = (i + 1) % 3;
        let mark = clients[o].mark();
        clients[o].send({ _tag: "Ping" });
        await clients[o].waitFor(pongFrom(o), { from: mark });
        served += 1;
        // The sender's Ping follows its Trap on the same socket; the others see
        // the Pong broadcast.
        mark = clients[o].mark();
        clients[s].send({ _tag: "Trap", kind });
        clients[s].send({ _tag: "Ping" });
        const pong = await clients[o].waitFor(pongFrom(s), { from: mark });
        served += 1;
        // The trapped event's effects were dropped; every served event counted.
        assert.equal(pong.events, served, `after ${kind}`);
        assert.equal(pong.sinceWake, 1, `core rebuilt after ${kind}`);
      }
      for (const cl of clients) assert.equal(cl.isOpen, true);
      const conns = await value(base, "probe", room, "getConnections");
      assert.deepEqual(conns.map((x) => [x.id, x.state.name]).sort(), [["a", "A"], ["b", "B"], ["c", "C"]]);

      // A direct send that traps answers RoomExecutionError, with no stack.
      const r = await call(base, "probe", room, "send", { _tag: "Trap", kind: "unreachable" });
      assert.equal(r.ok, false);
      assert.equal(r.error._tag, "RoomExecutionError");
      assert.doesNotMatch(JSON.stringify(r.error), /wasm-function|\.js:\d+|\bat \w/);
      assert.equal((await value(base, "probe", room, "getState")).events, served);
    });
  });

  describe("purge", { concurrency: true }, () => {
    test("purge clears state and alarm, keeps sockets, and the room starts from null", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("purge");
      const a = await pool.add(probe(base, room, "a"));
      a.send({ _tag: "Schedule", inMs: 60_000 });
      a.send({ _tag: "Ping" });
      const pong = await a.waitFor(tagged("Pong"));
      assert.notEqual(pong.nextAlarm, null);
      await value(base, "probe", room, "send", { _tag: "Purge" });
      assert.equal(await value(base, "probe", room, "getState"), null);
      assert.equal(a.isOpen, true);
      const mark = a.mark();
      a.send({ _tag: "Ping" });
      const after = await a.waitFor(tagged("Pong"), { from: mark });
      assert.deepEqual([after.events, after.nextAlarm], [1, null]);
    });
  });

  describe("connections", { concurrency: true }, () => {
    test("onDuplicate: allow keeps both, replace closes the old with 1012, reject answers 409", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("dup");
      // allow is the default: both stay.
      const first = await pool.add(probe(base, room, "u", "first"));
      const second = await pool.add(probe(base, room, "u", "second"));
      assert.equal((await value(base, "probe", room, "getConnections")).length, 2);

      await assert.rejects(
        connect(base, "probe", room, { connection: { id: "u", initialState: { name: "x" } }, onDuplicate: "reject" }),
        (e) => e.status === 409 && JSON.parse(e.body)._tag === "UpgradeError",
      );
      const replacing = await pool.add(
        connect(base, "probe", room, { connection: { id: "u", initialState: { name: "new" } }, onDuplicate: "replace" }),
      );
      // The old sockets get the close frame at once, but local workerd ends
      // the TCP connection of a socket closed outside its own event only after
      // ~10 s, and a client reports the close only then.
      for (const old of [first, second]) {
        const info = await waitUntil(() => old.closeInfo, { timeout: 15_000 });
        assert.equal(info.code, 1012);
      }
      const conns = await value(base, "probe", room, "getConnections");
      assert.deepEqual(conns.map((c) => [c.id, c.state.name]), [["u", "new"]]);
      assert.equal(replacing.isOpen, true);
    });

    test("a close code chosen by the room reaches the client", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("kick");
      const a = await pool.add(probe(base, room, "a"));
      a.send({ _tag: "Kick", id: "a", code: 4004, reason: "kicked" });
      const info = await waitUntil(() => a.closeInfo);
      assert.deepEqual([info.code, info.reason], [4004, "kicked"]);
    });

    test("client errors carry the core's _tag", async () => {
      const base = server.url;
      const room = uniqueId("errors");
      const cases = [
        [await call(base, "nope", room, "getState"), "RoomNotFoundError"],
        [await call(base, "probe", room, "send", { _tag: "Nope" }), "RoomValidationError"],
        [await call(base, "probe", room, "send", { _tag: "Fail", message: "boom" }), "RoomExecutionError"],
        [await call(base, "probe", room, "broadcast", { _tag: "Pong" }), "RoomValidationError"],
      ];
      for (const [r, tag] of cases) {
        assert.equal(r.ok, false);
        assert.equal(r.error._tag, tag, JSON.stringify(r.error));
        assert.equal(typeof r.error.message, "string");
      }
      const invalid = cases[1][0].error;
      assert.equal(invalid.path, "$._tag");
      assert.ok(invalid.allowedTags.includes("Ping"));
      const tooMany = await connect(base, "probe", room, {
        connection: { id: "t", tags: Array.from({ length: 10 }, (_, i) => `t${i}`), initialState: { name: "t" } },
      }).catch((e) => e);
      assert.equal(tooMany.status, 400);
      assert.equal(JSON.parse(tooMany.body)._tag, "UpgradeError");
    });
  });

  describe("sibling calls", { concurrency: true }, () => {
    test("a handler calls another room (getState, send) and resumes with the outcomes", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("asker");
      const chatRoom = uniqueId("asked");
      const a = await pool.add(probe(base, room, "a"));
      // A chat room that was never used: its state is null.
      a.send({ _tag: "AskChat", roomId: chatRoom, text: "first" });
      const seen = await a.waitFor(tagged("ChatSeen"));
      assert.deepEqual(seen, { _tag: "ChatSeen", messageCount: null, asker: "a" });
      // The first Say created the chat room and was counted. With a member:
      // the member gets the Message, and the state counts it too.
      const alice = await pool.add(chat(base, chatRoom, "alice"));
      const mark = a.mark();
      a.send({ _tag: "AskChat", roomId: chatRoom, text: "second" });
      await alice.waitFor(tagged("Message", { text: "second", userId: "system" }));
      const again = await a.waitFor(tagged("ChatSeen"), { from: mark });
      assert.equal(again.messageCount, 1, "getState ran before the second send");
      assert.equal((await value(base, "chat", chatRoom, "getState")).messageCount, 2);
    });
  });

  describe("reads and limits", { concurrency: true }, () => {
    // What the instance of (room, id) holds, through the test worker's probe.
    const stored = async (base, room, id) => (await fetch(`${base}/debug/storage/${room}/${encodeURIComponent(id)}`)).json();
    const nothing = { keys: [], alarm: null };

    test("reading a room that was never used stores nothing; connecting later works", async (t) => {
      const base = server.url;
      const pool = clientPool(t);
      const room = uniqueId("unused");
      assert.equal(await value(base, "chat", room, "getState"), null);
      assert.deepEqual(await value(base, "chat", room, "getConnections"), []);
      assert.deepEqual(await value(base, "chat", room, "getConnections", "user:alice"), []);
      assert.deepEqual(await value(base, "probe", room, "getConnections"), []);
      assert.deepEqual(await stored(base, "chat", room), nothing);
      assert.deepEqual(await stored(base, "probe", room), nothing);
      // Nor does a request to a room type the registry lacks.
      assert.equal((await call(base, "nope", room, "getState")).error._tag, "RoomNotFoundError");
      assert.deepEqual(await stored(base, "nope", room), nothing);

      const alice = await pool.add(chat(base, room, "alice"));
      alice.send({ _tag: "Say", text: "hi" });
      await alice.waitFor(tagged("Message", { text: "hi", userId: "alice" }));
      assert.equal((await value(base, "chat", room, "getState")).messageCount, 1);
      assert.ok((await stored(base, "chat", room)).keys.includes("rooms:identity"));
    });

    test("a room whose first write is a request's alarm runs onAlarm", async () => {
      const base = server.url;
      const room = uniqueId("firstalarm");
      assert.equal(await value(base, "probe", room, "getState"), null);
      await value(base, "probe", room, "send", { _tag: "Schedule", inMs: 200 });
      const st = await waitUntil(async () => {
        const s = await value(base, "probe", room, "getState");
        return s?.alarms === 1 && s;
      }, { timeout: 5_000, message: "onAlarm of a room first written by a request" });
      assert.equal(st.events, 1);
    });

    test("request text far over the frame limit is refused by the core, typed", async () => {
      const base = server.url;
      const room = uniqueId("huge");
      const text = "é".repeat(3 << 20); // 6 MiB of UTF-8; the limit is 1 MiB
      const sent = await call(base, "chat", room, "send", { _tag: "Say", text });
      assert.equal(sent.ok, false);
      assert.equal(sent.error._tag, "RoomValidationError", JSON.stringify(sent.error));
      assert.equal(sent.error.path, "$");
      assert.equal(sent.error.expected, `at most ${1 << 20} bytes`);
      const cast = await call(base, "chat", room, "broadcast", { _tag: "Message", text, userId: "x", ts: 1 });
      assert.equal(cast.error?._tag, "RoomValidationError", JSON.stringify(cast.error));
      assert.equal(cast.error.expected, `at most ${1 << 20} bytes`);
      // The room still serves, and nothing was stored.
      assert.deepEqual(await value(base, "chat", room, "getConnections", "x".repeat(2 << 20)), []);
      assert.equal(await value(base, "chat", room, "getState"), null);
      assert.deepEqual(await stored(base, "chat", room), nothing);
    });
  });
});
