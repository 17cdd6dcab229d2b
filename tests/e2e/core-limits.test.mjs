// The shim's Core (shim/core.js) over the built test core (dist/wasm-test),
// in node, no workerd: whatever the length of a text, the shim reserves at
// most the room's limit (plus one byte) of Wasm memory for it, and the core
// still refuses the text with its own typed error. Memory a Wasm instance
// grows is never given back, so an uncapped copy would stay for the life of
// the room.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import factory from "../../dist/wasm-test/core.mjs";
import { loadCore } from "../../shim/core.js";
import { EffectKind, RequestOp } from "../../shim/wire.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIMIT = 1 << 20; // the chat room's maxFrameBytes (RoomOptions default)
// Growth allowed over the first call: the input buffer up to the limit, the
// batch and the parser's buffers; far below what one copy of the text takes.
const SLACK = 4 * LIMIT;
const BIG = 30_000_000; // characters; up to 90 MB when reserved at 3 bytes each

let wasmModule;
before(() => {
  wasmModule = new WebAssembly.Module(fs.readFileSync(path.join(root, "dist/wasm-test/core.wasm")));
});

function memoryHost() {
  const store = new Map();
  return {
    randomId: () => "r",
    load: (key) => store.get(key) ?? null,
    loadConnections: () => "",
    loadAttachment: () => "",
    env: () => null,
  };
}

async function chatCore() {
  const core = await loadCore(wasmModule, factory, memoryHost());
  assert.ok(core.init("chat", "limits"));
  assert.equal(core.maxFrame, LIMIT);
  return core;
}

function reply(core, view) {
  const replies = core.effects(view).filter((e) => e.kind === EffectKind.Reply);
  assert.equal(replies.length, 1);
  return replies[0];
}

test("a send of 30 M characters is refused as RoomValidationError without reserving its size", async () => {
  const core = await chatCore();
  const start = core.m.HEAPU8.length;
  for (const ch of ["x", "é", "😀"]) {
    const text = JSON.stringify({ _tag: "Say", text: ch.repeat(BIG / ch.length) });
    const r = reply(core, core.request(RequestOp.Send, 1, text));
    assert.equal(r.ok, false);
    assert.equal(r.tag, "RoomValidationError");
    assert.equal(JSON.parse(r.text).expected, `at most ${LIMIT} bytes`);
  }
  const grown = core.m.HEAPU8.length - start;
  assert.ok(grown <= SLACK, `Wasm memory grew by ${grown} bytes (allowed ${SLACK})`);
});

test("every text path is capped: broadcast, upgrade options, tags, close reasons, sibling replies", async () => {
  const core = await chatCore();
  const start = core.m.HEAPU8.length;
  const huge = "y".repeat(BIG);

  const cast = reply(core, core.request(RequestOp.Broadcast, 1, JSON.stringify({ _tag: "Message", text: huge, userId: "u", ts: 1 })));
  assert.equal(cast.tag, "RoomValidationError");

  const opts = JSON.stringify({ id: "u", tags: [], meta: { huge }, initialState: { userId: "u", joinedAt: 1 }, onDuplicate: "allow" });
  const up = reply(core, core.upgrade(2, opts));
  assert.equal(up.ok, false);
  assert.equal(up.tag, "UpgradeError");
  assert.match(JSON.parse(up.text).message, new RegExp(`at most ${LIMIT} bytes`));

  const tagged = reply(core, core.request(RequestOp.GetConnections, 3, huge));
  assert.equal(tagged.ok, true);
  assert.equal(tagged.text, "[]");

  core.effects(core.closed(0, 1000, huge)); // no such slot: nothing to do, nothing kept
  core.effects(core.resume(99, true, "", huge)); // no such call: dropped

  const grown = core.m.HEAPU8.length - start;
  assert.ok(grown <= SLACK, `Wasm memory grew by ${grown} bytes (allowed ${SLACK})`);
});

test("text up to the limit still reaches the core whole", async () => {
  const core = await chatCore();
  const skeleton = JSON.stringify({ _tag: "Say", text: "" });
  const text = JSON.stringify({ _tag: "Say", text: "z".repeat(LIMIT - skeleton.length) });
  assert.equal(Buffer.byteLength(text), LIMIT);
  const r = reply(core, core.request(RequestOp.Send, 1, text));
  assert.equal(r.ok, true, r.text);
  const over = JSON.stringify({ _tag: "Say", text: "é".repeat((LIMIT - skeleton.length) / 2) + "z" });
  assert.equal(Buffer.byteLength(over), LIMIT + 1);
  const refused = reply(core, core.request(RequestOp.Send, 2, over));
  assert.equal(refused.tag, "RoomValidationError");
  assert.equal(JSON.parse(refused.text).found, `${LIMIT + 1} bytes`);
});
