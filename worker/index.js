// The chat example: the spec's chat room behind HTTP routes.
//
//   GET  /                                  the chat page
//   GET  /client.js                         the browser client (shim/browser/client.js,
//                                           a static asset: wrangler.jsonc "assets")
//   GET  /ws/chat/:roomId?userId=U[&resume=N]  WebSocket upgrade (id U, tag user:U);
//                                           resume: the last "$seq" the client saw
//   POST /api/chat/:roomId/say {"text"}     a Message from "system"
//   GET  /api/chat/:roomId/state            the room state, or null
//   GET  /api/chat/:roomId/connections      [{id, tags, state}] (?tag= filters)
//
// Refusals, all JSON {_tag, message, ...} without a stack:
//   400 BadRequest           a malformed percent-escape in any path segment;
//                            a room id over MAX_ROOM_ID_BYTES or holding a
//                            control character
//   413 PayloadTooLarge      a POST body over MAX_BODY_BYTES (not read whole)
//   400 RoomValidationError  a body that is not a JSON object, starts with a
//                            byte-order mark, is not UTF-8, or fails the
//                            room's event schema (a repeated key included)

import wasm from "../dist/wasm/core.wasm";
import factory from "../dist/wasm/core.mjs";
import { heartbeats, roomNames } from "../dist/wasm/rooms.meta.js";
import { makeRooms, RoomsError } from "../shim/index.js";
import { PAGE } from "./page.js";

const rooms = makeRooms({ wasm, factory, roomNames, heartbeats, binding: "ROOMS" });
export const RoomsDO = rooms.DO;

const STATUS = { RoomValidationError: 400, RoomNotFoundError: 404, UpgradeError: 400 };

// Limits of the HTTP routes, checked before anything reaches a room.
// A POST body: the room's inbound frame limit (RoomOptions::maxFrameBytes).
// The core applies that limit again to the event text, which is the body
// plus `"_tag":"Say",` (13 bytes): a body within 13 bytes of the limit gets
// the core's 400 rather than a 413.
const MAX_BODY_BYTES = 1 << 20;
// A room id, in UTF-8 bytes once percent-decoded. The id names the Durable
// Object ("chat:<id>"), travels in a header to it on upgrade and is kept in
// its storage; 256 bytes is plenty for a name and keeps all three small.
const MAX_ROOM_ID_BYTES = 256;

const encoder = new TextEncoder();

// A refusal decided here, answered as {_tag, message, ...} with `status`.
class HttpError extends Error {
  constructor(status, fields) {
    super(fields.message);
    this.status = status;
    this.fields = fields;
  }
}

const badRequest = (message, extra = {}) => new HttpError(400, { _tag: "BadRequest", message, ...extra });
const invalidBody = (message, expected, found) =>
  new RoomsError({ _tag: "RoomValidationError", message, path: "$", expected, found });
const tooLarge = () =>
  new HttpError(413, { _tag: "PayloadTooLarge", message: `request body over ${MAX_BODY_BYTES} bytes`, limit: MAX_BODY_BYTES });

// One line, no stack: the method, the path and what was thrown.
function logUnexpected(request, path, e) {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  console.error(`chat worker: ${request.method} ${JSON.stringify(path)} failed: ${JSON.stringify(what)}`);
}

function errorResponse(e, request, path) {
  if (e instanceof HttpError) return Response.json(e.fields, { status: e.status });
  if (e instanceof RoomsError) {
    const { stack, name, ...fields } = e;
    return Response.json({ ...fields, message: e.message }, { status: e.status ?? STATUS[e._tag] ?? 500 });
  }
  // An unexpected failure: log it here, answer without internals.
  logUnexpected(request, path, e);
  return Response.json({ _tag: "InternalError", message: "internal error" }, { status: 500 });
}

// The path's segments, percent-decoded; a malformed escape is a 400.
function pathSegments(path) {
  return path.split("/").map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw badRequest("malformed percent-escape in the URL path");
    }
  });
}

// A room id: 1 to MAX_ROOM_ID_BYTES UTF-8 bytes, no control characters
// (the id travels in a header on upgrade, where CR, LF and NUL are invalid).
function checkRoomId(roomId) {
  const bytes = encoder.encode(roomId).length;
  if (bytes > MAX_ROOM_ID_BYTES) {
    throw badRequest(`room id of ${bytes} bytes; the limit is ${MAX_ROOM_ID_BYTES} (UTF-8)`, { limit: MAX_ROOM_ID_BYTES });
  }
  if (/[\u0000-\u001f\u007f]/.test(roomId)) throw badRequest("room id holds a control character");
  return roomId;
}

// The request body as bytes, refused with 413 once over MAX_BODY_BYTES
// without reading the rest: by Content-Length when the client sent one,
// otherwise by counting while reading, cancelling the stream once over.
async function readBody(request) {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\s*\d+\s*$/.test(declared) && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.byteLength;
  }
  return bytes;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const isJsonSpace = (c) => c === " " || c === "\t" || c === "\n" || c === "\r";

// The Say event as JSON text: the body's own object text with "_tag":"Say"
// spliced in after its opening brace. The core then validates exactly what
// the client sent, as it does a WebSocket frame: a repeated key (a `_tag` of
// the body's own included) is refused there. Nothing is parsed or
// re-serialised here except to describe a body that is not an object.
async function readSay(request) {
  const bytes = await readBody(request);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw invalidBody("body starts with a byte-order mark (U+FEFF); send JSON text without one", "JSON object", "byte-order mark");
  }
  let text;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw invalidBody("body is not valid UTF-8", "JSON object", "invalid UTF-8");
  }
  let i = 0;
  while (i < text.length && isJsonSpace(text[i])) i++;
  if (text[i] !== "{") {
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw invalidBody("body is not JSON", "JSON object", "invalid JSON");
    }
    const found = body === null ? "null" : Array.isArray(body) ? "array" : typeof body;
    throw invalidBody("body must be a JSON object with a text field", "object", found);
  }
  let j = i + 1;
  while (j < text.length && isJsonSpace(text[j])) j++;
  const empty = text[j] === "}";
  return `${text.slice(0, i)}{"_tag":"Say"${empty ? "" : ","}${text.slice(i + 1)}`;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname;
    try {
      const chat = rooms.client(env.ROOMS).room("chat");
      const seg = pathSegments(path); // ["", "api", "chat", roomId, "say"], ...
      if (path === "/" && request.method === "GET") {
        return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      if (seg.length === 4 && seg[1] === "ws" && seg[2] === "chat" && seg[3] !== "" && request.method === "GET") {
        const roomId = checkRoomId(seg[3]);
        if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
          return Response.json({ _tag: "UpgradeError", message: "expected a WebSocket upgrade" }, { status: 426 });
        }
        const userId = url.searchParams.get("userId") || "anon";
        const resumeParam = url.searchParams.get("resume");
        if (resumeParam !== null && !/^\d{1,15}$/.test(resumeParam)) {
          throw badRequest("resume must be the last \"$seq\" seen: a non-negative integer");
        }
        return await chat.upgrade(roomId, request, {
          connection: { id: userId, tags: [`user:${userId}`], initialState: { userId, joinedAt: Date.now() } },
          resume: resumeParam === null ? null : Number(resumeParam),
        });
      }
      if (seg.length === 5 && seg[1] === "api" && seg[2] === "chat" && seg[3] !== "") {
        const op = seg[4];
        if (op === "say" && request.method === "POST") {
          const roomId = checkRoomId(seg[3]);
          await chat.sendText(roomId, await readSay(request));
          return Response.json({ status: "ok" });
        }
        if (op === "state" && request.method === "GET") return Response.json(await chat.getState(checkRoomId(seg[3])));
        if (op === "connections" && request.method === "GET") {
          return Response.json(await chat.getConnections(checkRoomId(seg[3]), url.searchParams.get("tag") ?? undefined));
        }
      }
      return Response.json({ _tag: "NotFound", message: "not found" }, { status: 404 });
    } catch (e) {
      return errorResponse(e, request, path);
    }
  },
};
