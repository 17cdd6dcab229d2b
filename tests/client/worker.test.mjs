// The typed client in node (ws as its WebSocket) against the chat example in
// workerd (Miniflare, loopback): real frames of the room's schema, the
// room's heartbeat auto-response, and resume after a server-side loss.
//
//   node --test tests/client/worker.test.mjs     (needs the build's dist/)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { connect } from "../../shim/browser/client.js";
import { startServer } from "../e2e/server.mjs";

const DEADLINE_MS = 10_000;
let server;
let base;
let n = 0;
const clients = [];

before(async () => {
  server = await startServer({ port: 0 });
  base = server.url.replace(/^http/, "ws");
});

after(async () => {
  for (const c of clients) c.close();
  await server?.close();
});

function open(room, user, options = {}) {
  const c = connect(`${base}/ws/chat/${encodeURIComponent(room)}?userId=${encodeURIComponent(user)}`, {
    WebSocket,
    heartbeat: false,
    backoff: { base: 100, cap: 400 },
    ...options,
  });
  clients.push(c);
  const seen = [];
  c.on("message", (m) => seen.push(m));
  return { c, seen };
}

async function until(predicate, what) {
  const end = Date.now() + DEADLINE_MS;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${DEADLINE_MS} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

const texts = (seen) => seen.filter((m) => m._tag === "Message").map((m) => `${m.userId}: ${m.text}`);

describe("the client against the chat worker", { concurrency: true }, () => {
  it("two clients chat; frames reach handlers by tag, as the room's schema", async () => {
    const room = `c-${process.pid}-${++n}`;
    const ada = open(room, "ada");
    await until(() => ada.c.status === "open", "ada open");
    const bob = open(room, "bob");
    await until(() => ada.seen.some((m) => m._tag === "UserJoined" && m.userId === "bob"), "bob's UserJoined at ada");
    const joined = [];
    ada.c.on("UserJoined", (m) => joined.push(m.userId));
    bob.c.send({ _tag: "Say", text: "hello" });
    ada.c.send({ _tag: "Typing" });
    await until(() => texts(ada.seen).includes("bob: hello"), "the Message at ada");
    await until(() => bob.seen.some((m) => m._tag === "Typing" && m.userId === "ada"), "ada's Typing at bob");
    const msg = ada.seen.find((m) => m._tag === "Message");
    assert.deepEqual(Object.keys(msg).sort(), ["_tag", "text", "ts", "userId"], "no $seq or other runtime key reaches a handler");
    ada.c.close();
    bob.c.close();
  });

  // The chat room has the heartbeat on (chat::options()): the platform
  // answers "ping" with "pong"; without it the pings would go unanswered and
  // the client would replace the socket after each timeout.
  it("heartbeat: the room's auto-response keeps the socket; no pong reaches a handler", async () => {
    const room = `hb-${process.pid}-${++n}`;
    // A generous timeout (npm test runs this beside the builds, and a pong
    // can take a second under that load); unanswered, the first ping would
    // replace the socket 2.75 s in, well inside the 4 s watched.
    const { c, seen } = open(room, "ada", { heartbeat: { interval: 250, timeout: 2500 } });
    const closes = [];
    c.on("close", (info) => closes.push(info));
    await until(() => c.status === "open", "open");
    await new Promise((r) => setTimeout(r, 4000)); // about sixteen pings, each with 2.5 s for its pong
    assert.deepEqual(closes, [], "every ping was answered in time");
    assert.equal(c.status, "open");
    assert.deepEqual(seen, []);
    c.close();
  });
});
