// The typed client in node 20 against a real WebSocket server (ws, loopback):
// the ws package as the WebSocket option, a server-side close followed by a
// reconnect that resumes from the last $seq with the same identity, sends
// buffered meanwhile, and a heartbeat that replaces a socket whose peer went
// silent. Short real timers; every wait has a deadline.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket, { WebSocketServer } from "ws";

import { connect } from "../../shim/browser/client.js";

const DEADLINE_MS = 5000;
let server;
let base;
// Every server-side socket, with its request URL and what it received.
const peers = [];

before(async () => {
  server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (socket, req) => {
    const peer = { socket, url: new URL(req.url, "ws://x"), received: [], silent: false };
    peers.push(peer);
    socket.on("message", (data) => {
      const text = data.toString();
      peer.received.push(text);
      if (text === "ping" && !peer.silent) socket.send("pong");
    });
  });
  await new Promise((resolve) => server.once("listening", resolve));
  base = `ws://127.0.0.1:${server.address().port}`;
});

after(async () => {
  for (const p of peers) p.socket.terminate();
  await new Promise((resolve) => server.close(resolve));
});

async function until(predicate, what) {
  const end = Date.now() + DEADLINE_MS;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const peersOf = (user) => peers.filter((p) => p.url.searchParams.get("userId") === user);

test("a server-side close: reconnect with resume=<last $seq> and the same identity; offline sends arrive after", async () => {
  const client = connect(`${base}/ws/chat/r1?userId=ada`, {
    WebSocket,
    heartbeat: false,
    backoff: { base: 200, cap: 200 },
  });
  const got = [];
  client.on("Message", (m) => got.push(m));
  try {
    await until(() => client.status === "open", "the first open");
    const [first] = peersOf("ada");
    assert.equal(first.url.searchParams.get("resume"), null);
    first.socket.send('{"$seq":5,"_tag":"Message","text":"one","userId":"bob","ts":1}');
    first.socket.send('[{"$seq":6,"_tag":"Message","text":"two","userId":"bob","ts":2},{"$seq":8,"_tag":"Message","text":"three","userId":"bob","ts":3}]');
    await until(() => got.length === 3, "three messages");
    assert.deepEqual(got.map((m) => m.text), ["one", "two", "three"]);
    assert.ok(got.every((m) => !("$seq" in m)));

    first.socket.close(1001, "going away");
    await until(() => client.status === "reconnecting", "reconnecting");
    assert.equal(client.send({ _tag: "Say", text: "while away" }), true);
    await until(() => peersOf("ada").length === 2 && client.status === "open", "the second socket");
    const second = peersOf("ada")[1];
    assert.equal(second.url.pathname, "/ws/chat/r1");
    assert.equal(second.url.searchParams.get("resume"), "8");
    await until(() => second.received.length === 1, "the buffered send");
    assert.deepEqual(JSON.parse(second.received[0]), { _tag: "Say", text: "while away" });
  } finally {
    client.close();
  }
});

test("heartbeat against a silent peer: the socket is declared dead and replaced", async () => {
  const client = connect(`${base}/ws/chat/r2?userId=hb`, {
    WebSocket,
    // A timeout well above the load npm test puts on this process (a
    // stalled event loop runs the expired deadline before it reads the pong).
    heartbeat: { interval: 100, timeout: 1500 },
    backoff: { base: 50, cap: 50 },
  });
  const closes = [];
  client.on("close", (c) => closes.push(c));
  const messages = [];
  client.on("message", (m) => messages.push(m));
  try {
    await until(() => client.status === "open", "the first open");
    const [first] = peersOf("hb");
    await until(() => first.received.filter((t) => t === "ping").length >= 3, "three answered pings");
    assert.equal(peersOf("hb").length, 1, "answered pings keep the socket");
    first.silent = true;
    await until(() => peersOf("hb").length === 2 && client.status === "open", "a replacement socket");
    assert.deepEqual(closes[0], { code: 4000, reason: "heartbeat timeout", willReconnect: true });
    await until(() => first.socket.readyState === WebSocket.CLOSED, "the dead socket closed on the server too");
    assert.deepEqual(messages, [], "no pong reached a handler");
  } finally {
    client.close();
  }
});
