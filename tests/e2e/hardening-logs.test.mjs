// End-to-end test of the log policy on the chat example (workerd through
// Miniflare): text the shim logs carries user input (here a connection id,
// the chat route's userId) with its control characters escaped, so no input
// can start a log line of its own; and repeated warnings of one kind are
// rate-limited per room. workerd's output is captured with startServer's
// onOutput.
//
//   node --test --test-concurrency=1 tests/e2e/hardening-logs.test.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "./server.mjs";
import { clientPool, delay, openChat, tagged, uniqueId, waitUntil } from "./helpers.mjs";

const TEST = { timeout: 30_000 };

let server;
let output = "";
before(async () => {
  server = await startServer({ onOutput: (text) => (output += text) });
});
after(async () => {
  await server?.close();
});

test("a connection id holding \\n, \\r and backslashes is logged escaped: no forged line, no look-alike escape", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("logs");
  const marker = uniqueId("FORGED");
  // The last part is a backslash and an "n", not a newline: it must not
  // read as the escape of one.
  const userId = `evil\n[durable-rooms chat/${room}] ${marker} line\r\n${marker} again\u2028${marker} sep\\nnot a newline`;
  const from = output.length;
  const evil = await pool.add(openChat(server.url, room, userId));
  const mark = evil.mark();
  await evil.sendRaw("not json"); // logged: "connection <id> sent a frame that failed the event schema"
  evil.send({ _tag: "Say", text: "after" });
  await evil.waitFor(tagged("Message", { text: "after" }), { from: mark });
  await waitUntil(() => output.slice(from).includes(marker), { timeout: 5_000, message: "the warning in workerd's output" });
  await delay(100);

  const lines = output.slice(from).split("\n");
  const withMarker = lines.filter((l) => l.includes(marker));
  assert.equal(withMarker.length, 1, `one line holds the whole id:\n${withMarker.join("\n")}`);
  const line = withMarker[0];
  assert.ok(!line.includes("\r") && !line.includes("\u2028"), JSON.stringify(line));
  assert.ok(
    line.includes(`evil\\n[durable-rooms chat/${room}] ${marker} line\\r\\n${marker} again\\u2028${marker} sep\\\\nnot a newline`),
    line,
  );
  assert.match(line, /failed the event schema/);
  // No line starts with the forged prefix.
  assert.ok(!lines.some((l) => l.startsWith(`[durable-rooms chat/${room}] ${marker}`)));
});

// 50, not more: the chat example's inbound limit (20 frames/s, burst 60)
// closes a connection that sends more at once.
test("50 bad frames in one room log one line", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("quiet");
  const c = await pool.add(openChat(server.url, room, "noisy"));
  const from = output.length;
  const mark = c.mark();
  for (let i = 0; i < 50; i++) c.ws.send(`bad frame ${i}`);
  c.send({ _tag: "Say", text: "done" });
  await c.waitFor(tagged("Message", { text: "done" }), { from: mark, timeout: 10_000 });
  await delay(200);
  const lines = output.slice(from).split("\n").filter((l) => l.includes(`chat/${room}`));
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0], /connection noisy sent a frame that failed the event schema/);
  assert.ok(c.isOpen);
});
