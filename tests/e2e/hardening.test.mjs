// End-to-end tests of the chat example's HTTP hardening (worker/index.js):
// request body limits, malformed URLs, room id length, and one validation
// path for events whether they come over HTTP or WebSocket. One local server
// (workerd through Miniflare, loopback) for the file; its output is captured
// so tests can check that nothing logged a stack.
//
//   node --test --test-concurrency=1 tests/e2e/hardening.test.mjs

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";

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

const MiB = 1024 * 1024;
const MAX_BODY_BYTES = MiB; // worker/index.js
const MAX_ROOM_ID_BYTES = 256; // worker/index.js
const QUIET_MS = 300;
const TEST = { timeout: 60_000 };

let server;
let base;
let output = "";

before(async () => {
  server = await startServer({ port: 0, onOutput: (text) => (output += text) });
  base = server.url;
});

after(async () => {
  const leaked = openClientCount();
  await closeAllClients();
  await server?.close();
  assert.equal(leaked, 0, `${leaked} socket(s) were left open by a test`);
});

const api = (room, what) => `${base}/api/chat/${encodeURIComponent(room)}/${what}`;
const messageCount = async (room) => {
  const r = await getJson(api(room, "state"));
  assert.equal(r.status, 200, r.text);
  return r.body?.messageCount ?? 0;
};

// What workerd printed while `fn` ran.
async function outputDuring(fn) {
  const from = output.length;
  await fn();
  await delay(100); // let the last lines through the pipe
  return output.slice(from);
}

// A stack trace in text: V8's "    at f (file:1:2)" frames.
const STACK_LINE = /^\s+at\s.+[:(]/m;

function assertJsonError(r, status, what) {
  assert.equal(r.status, status, `${what} → ${r.status} ${r.text.slice(0, 300)}`);
  assert.match(r.contentType, /application\/json/, `${what} content-type`);
  assert.ok(r.body && typeof r.body === "object", `${what}: JSON body, got ${r.text.slice(0, 300)}`);
  assert.equal(typeof r.body._tag, "string", `${what}: _tag in ${r.text}`);
  assert.equal(typeof r.body.message, "string", `${what}: message in ${r.text}`);
  assert.ok(!("stack" in r.body), `${what}: no stack field`);
  assert.doesNotMatch(r.text, STACK_LINE, `${what}: no stack in the body`);
}

/**
 * POSTs `total` bytes of `fill` to `url` with node:http, without buffering
 * them: with `contentLength` the request declares its size, otherwise it is
 * sent chunked. With `expect`, it sends `Expect: 100-continue` and holds the
 * body until the server asks for it or 1 s passes (as curl does). Stops
 * writing once a response arrives. Resolves with { status, text, body,
 * sentAtResponse } (bytes handed to the socket when the response began), or
 * with { reset: code, sent } when the connection failed before any response.
 */
function streamPost(url, total, { contentLength = true, expect = false, chunk = 64 * 1024, fill = "a" } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = { "content-type": "application/json" };
    if (contentLength) headers["content-length"] = String(total);
    if (expect) headers.expect = "100-continue";
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers, agent: false });
    let sent = 0;
    let started = false;
    let responded = false;
    const block = Buffer.alloc(chunk, fill);
    const pump = () => {
      started = true;
      while (!responded && sent < total) {
        const n = Math.min(chunk, total - sent);
        sent += n;
        if (!req.write(n === chunk ? block : block.subarray(0, n))) return void req.once("drain", pump);
      }
      if (!responded) req.end();
    };
    req.on("response", (res) => {
      responded = true;
      const sentAtResponse = sent;
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let body;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        req.destroy();
        resolve({ status: res.statusCode, contentType: res.headers["content-type"] ?? "", text, body, sentAtResponse });
      });
      res.on("error", reject);
    });
    req.on("error", (e) => {
      if (!responded) resolve({ reset: e.code ?? String(e), sent });
    });
    if (expect) {
      req.flushHeaders();
      req.once("continue", () => started || pump());
      setTimeout(() => started || responded || pump(), 1000);
    } else {
      pump();
    }
  });
}

// ---- 1. request bodies -----------------------------------------------------------

test("POST say: a body over 1 MiB → 413 PayloadTooLarge, with or without Content-Length; nothing broadcast or counted", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("too-large");
  const member = await pool.add(openChat(base, room, "m"));
  const mark = member.mark();
  const before = await messageCount(room);

  await t.test("Content-Length: 1 MiB + 1", async () => {
    const r = await streamPost(api(room, "say"), MAX_BODY_BYTES + 1, { contentLength: true, expect: true });
    assert.ok(!r.reset, `connection failed (${r.reset}) before an answer`);
    assertJsonError(r, 413, "1 MiB + 1");
    assert.equal(r.body._tag, "PayloadTooLarge");
    assert.equal(r.body.limit, MAX_BODY_BYTES);
    assert.equal(r.sentAtResponse, 0, "refused on Content-Length alone");
  });
  await t.test("chunked, 1 MiB + 1", async () => {
    // Read up to the limit, then refused. workerd closes the connection
    // right after the answer with the rest unread, so the client may see
    // a reset instead; never anything else.
    let answered = 0;
    for (let i = 0; i < 3; i++) {
      const r = await streamPost(api(room, "say"), MAX_BODY_BYTES + 1, { contentLength: false, expect: true });
      if (r.reset) {
        assert.match(r.reset, /ECONNRESET|EPIPE/);
        continue;
      }
      answered += 1;
      assertJsonError(r, 413, "1 MiB + 1");
      assert.equal(r.body._tag, "PayloadTooLarge");
      assert.equal(r.body.limit, MAX_BODY_BYTES);
    }
    assert.ok(answered >= 1, "at least one of three chunked posts got its 413");
  });
  await t.test("exactly at the limit is not a 413 (the room's schema decides)", async () => {
    const text = "a".repeat(MAX_BODY_BYTES - 11);
    const body = `{"text":"${text}"}`; // 1 MiB exactly
    assert.equal(Buffer.byteLength(body), MAX_BODY_BYTES);
    const r = await postJson(api(room, "say"), body);
    assert.notEqual(r.status, 413, r.text.slice(0, 300));
    assert.ok(r.status === 200 || r.status === 400, `200 or 400: ${r.status} ${r.text.slice(0, 300)}`);
  });
  const ok = await postJson(api(room, "say"), { text: "after" });
  assert.equal(ok.status, 200, ok.text);
  const msg = await member.waitFor(tagged("Message", { text: "after" }), { from: mark, timeout: 10_000 });
  const got = member.since(mark).filter((m) => m._tag === "Message");
  assert.ok(got.length <= 2, "at most the at-the-limit Say and the last one");
  assert.deepEqual(got.at(-1), msg);
  assert.ok((await messageCount(room)) - before <= 2);
});

test("POST say: 33 MiB bodies → 413 without reading them whole; no 500 and no logged stack", TEST, async () => {
  const room = uniqueId("huge");
  const total = 33 * MiB;
  const log = await outputDuring(async () => {
    // Content-Length over the limit: answered before any of the body is asked for.
    for (let i = 0; i < 3; i++) {
      const r = await streamPost(api(room, "say"), total, { contentLength: true, expect: true });
      assert.ok(!r.reset, `Content-Length: 33 MiB: connection failed (${r.reset}) before an answer`);
      assertJsonError(r, 413, "Content-Length: 33 MiB");
      assert.equal(r.body._tag, "PayloadTooLarge");
      assert.equal(r.sentAtResponse, 0, "refused on Content-Length alone: no body byte was read");
    }
    // Chunked: refused once the running count passes the limit. workerd
    // closes the connection right after the answer, so a client still
    // writing may see the reset first; either way it could not send it all.
    for (let i = 0; i < 3; i++) {
      const r = await streamPost(api(room, "say"), total, { contentLength: false, expect: true });
      if (r.reset) {
        assert.match(r.reset, /ECONNRESET|EPIPE/, "chunked 33 MiB");
        assert.ok(r.sent < total / 2, `chunked 33 MiB: the server stopped reading (${r.sent} of ${total} bytes sent)`);
      } else {
        assertJsonError(r, 413, "chunked 33 MiB");
        assert.equal(r.body._tag, "PayloadTooLarge");
        assert.ok(r.sentAtResponse < total / 2, `chunked 33 MiB: answered after ${r.sentAtResponse} of ${total} bytes were sent`);
      }
    }
  });
  assert.doesNotMatch(log, STACK_LINE, `no stack logged:\n${log}`);
  assert.equal(await messageCount(room), 0);
  assert.equal((await postJson(api(room, "say"), { text: "still serving" })).status, 200);
});

// ---- 2. URLs ------------------------------------------------------------------------

test("malformed percent-escapes in any path segment → 400 JSON {_tag, message}, no stack logged", TEST, async () => {
  const room = uniqueId("esc");
  const cases = [
    ["POST", "/api/chat/%/say", '{"text":"x"}'],
    ["POST", "/api/chat/%FF/say", '{"text":"x"}'],
    ["POST", "/api/chat/a%zz/say", '{"text":"x"}'],
    ["GET", "/api/chat/%/state"],
    ["GET", "/api/chat/%FF/state"],
    ["GET", "/api/chat/a%zz/connections"],
    ["GET", "/api/chat/%E2%82/state"], // a truncated UTF-8 sequence
    ["GET", `/api/chat/${room}/%zz`],
    ["GET", "/%"],
    ["GET", "/ws/chat/%FF"],
    ["GET", "/ws/chat/a%zz"],
  ];
  const log = await outputDuring(async () => {
    for (const [method, path, body] of cases) {
      const r = await fetchJson(`${base}${path}`, { method, body });
      assertJsonError(r, 400, `${method} ${path}`);
      assert.equal(r.body._tag, "BadRequest", `${method} ${path}: ${r.text}`);
    }
    for (const id of ["%", "%FF", "a%zz"]) {
      await assert.rejects(openSocket(toWsUrl(base, `/ws/chat/${id}?userId=u`)), (e) => {
        assert.equal(e.status, 400, `upgrade of /ws/chat/${id}: ${e.message}`);
        assert.equal(JSON.parse(e.body)._tag, "BadRequest");
        return true;
      });
    }
  });
  assert.doesNotMatch(log, STACK_LINE, `no stack logged:\n${log}`);
  assert.doesNotMatch(log, /URIError/, `nothing logged about a URIError:\n${log}`);
});

test(`room ids: up to ${MAX_ROOM_ID_BYTES} UTF-8 bytes are served, longer ones → 400 on every route`, TEST, async (t) => {
  const pool = clientPool(t);
  const tag = uniqueId("id");
  const fits = [tag + "a".repeat(MAX_ROOM_ID_BYTES - tag.length), "é".repeat(MAX_ROOM_ID_BYTES / 2)];
  const over = [tag + "a".repeat(MAX_ROOM_ID_BYTES + 1 - tag.length), "é".repeat(MAX_ROOM_ID_BYTES / 2) + "a", "x".repeat(10_000)];
  for (const id of fits) {
    assert.equal(Buffer.byteLength(id), MAX_ROOM_ID_BYTES);
    assert.equal((await getJson(api(id, "state"))).status, 200);
    assert.equal((await postJson(api(id, "say"), { text: "fits" })).status, 200);
    assert.equal((await getJson(api(id, "connections"))).status, 200);
  }
  const c = await pool.add(openChat(base, fits[0], "u"));
  await c.close();
  for (const id of over) {
    const n = Buffer.byteLength(id);
    for (const [method, what, body] of [["GET", "state"], ["GET", "connections"], ["POST", "say", '{"text":"x"}']]) {
      const r = await fetchJson(api(id, what), { method, body });
      assertJsonError(r, 400, `${method} ${what} with a ${n}-byte id`);
      assert.equal(r.body._tag, "BadRequest");
      assert.equal(r.body.limit, MAX_ROOM_ID_BYTES);
    }
    await assert.rejects(openChat(base, id, "u"), (e) => e.status === 400 && JSON.parse(e.body)._tag === "BadRequest");
  }
});

test("room ids with control characters (CR, LF, NUL, ...) → 400 on every route, upgrade included", TEST, async () => {
  const log = await outputDuring(async () => {
    for (const id of ["a\nb", "a\rb", "a\u0000b", "a\u001fb", "a\u007fb"]) {
      for (const [method, what, body] of [["GET", "state"], ["GET", "connections"], ["POST", "say", '{"text":"x"}']]) {
        const r = await fetchJson(api(id, what), { method, body });
        assertJsonError(r, 400, `${method} ${what} with id ${JSON.stringify(id)}`);
        assert.equal(r.body._tag, "BadRequest");
      }
      await assert.rejects(openChat(base, id, "u"), (e) => {
        assert.equal(e.status, 400, `upgrade with id ${JSON.stringify(id)}: ${e.message}`);
        assert.equal(JSON.parse(e.body)._tag, "BadRequest");
        return true;
      });
    }
  });
  assert.doesNotMatch(log, STACK_LINE, `no stack logged:\n${log}`);
});

// ---- 3. one validation path ---------------------------------------------------------

test("a duplicate key is refused over HTTP (400 RoomValidationError) as it is over WebSocket", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("dup");
  const ws = await pool.add(openChat(base, room, "ws"));
  const before = await messageCount(room);

  // Over WebSocket: dropped; the next Say is the first thing anyone gets.
  let mark = ws.mark();
  await ws.sendRaw('{"_tag":"Say","text":"a","text":"b"}');
  ws.send({ _tag: "Say", text: "token-ws" });
  await ws.waitFor(tagged("Message", { text: "token-ws" }), { from: mark });
  assert.deepEqual(ws.since(mark).map((m) => m.text), ["token-ws"], "the duplicate-key frame broadcast nothing");

  // Over HTTP: the same refusal, as a 400.
  mark = ws.mark();
  for (const body of ['{"text":"a","text":"b"}', '{"_tag":"Say","text":"a"}', '{"_tag":"Typing"}']) {
    const r = await postJson(api(room, "say"), body);
    assertJsonError(r, 400, body);
    assert.equal(r.body._tag, "RoomValidationError", r.text);
  }
  const ok = await postJson(api(room, "say"), { text: "token-http" });
  assert.equal(ok.status, 200, ok.text);
  await ws.waitFor(tagged("Message", { text: "token-http" }), { from: mark });
  assert.deepEqual(ws.since(mark).map((m) => m.text), ["token-http"], "the refused POSTs broadcast nothing");
  assert.equal(await messageCount(room), before + 2);
});

test("POST say: the body text reaches the room as sent (whitespace, {}, a byte-order mark, invalid UTF-8)", TEST, async (t) => {
  const pool = clientPool(t);
  const room = uniqueId("text");
  const ws = await pool.add(openChat(base, room, "ws"));
  const post = (body) =>
    fetchJson(api(room, "say"), { method: "POST", headers: { "content-type": "application/json" }, body });

  const mark = ws.mark();
  for (const [body, text] of [
    [' \t\r\n{"text":"spaced"} \n', "spaced"],
    ['{ "text" : "inner spaces" }', "inner spaces"],
    ['{"text":"é \\u00e9 \\ud83d\\ude00"}', "é é 😀"],
  ]) {
    const r = await post(body);
    assert.equal(r.status, 200, `${JSON.stringify(body)}: ${r.text}`);
    await ws.waitFor(tagged("Message", { text }), { from: mark });
  }
  for (const [name, body, path] of [
    ["{}", "{}", "$.text"],
    ["{ } with whitespace", " {\n} ", "$.text"],
    ["an unclosed object", '{"text":"x"', undefined],
    ["trailing text after the object", '{"text":"x"} {}', undefined],
    ["a byte-order mark", '\uFEFF{"text":"bom"}', "$"],
    ["invalid UTF-8", Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), "$"],
  ]) {
    await t.test(name, async () => {
      const r = await post(body);
      assertJsonError(r, 400, name);
      assert.equal(r.body._tag, "RoomValidationError", r.text);
      if (path) assert.equal(r.body.path, path, r.text);
    });
  }
  const m2 = ws.mark();
  await delay(QUIET_MS);
  assert.deepEqual(ws.since(m2), [], "nothing broadcast for the refused bodies");
  assert.equal(await messageCount(room), 3);
});
