// The chat example: the spec's chat room behind HTTP routes.
//
//   GET  /                                  the chat page
//   GET  /ws/chat/:roomId?userId=U          WebSocket upgrade (id U, tag user:U)
//   POST /api/chat/:roomId/say {"text"}     a Message from "system"
//   GET  /api/chat/:roomId/state            the room state, or null
//   GET  /api/chat/:roomId/connections      [{id, tags, state}] (?tag= filters)

import wasm from "../dist/wasm/core.wasm";
import factory from "../dist/wasm/core.mjs";
import { roomNames } from "../dist/wasm/rooms.meta.js";
import { makeRooms, RoomsError } from "../shim/index.js";
import { PAGE } from "./page.js";

const rooms = makeRooms({ wasm, factory, roomNames, binding: "ROOMS" });
export const RoomsDO = rooms.DO;

const STATUS = { RoomValidationError: 400, RoomNotFoundError: 404, UpgradeError: 400 };

function errorResponse(e) {
  if (e instanceof RoomsError) {
    const { stack, name, ...fields } = e;
    return Response.json({ ...fields, message: e.message }, { status: e.status ?? STATUS[e._tag] ?? 500 });
  }
  // An unexpected failure: log it here, answer without internals.
  console.error("chat worker:", e);
  return Response.json({ _tag: "InternalError", message: "internal error" }, { status: 500 });
}

async function readSay(request) {
  let body;
  try {
    body = await request.json();
  } catch {
    throw new RoomsError({ _tag: "RoomValidationError", message: "body is not JSON", path: "$", expected: "JSON object", found: "invalid JSON" });
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new RoomsError({ _tag: "RoomValidationError", message: "body must be a JSON object with a text field", path: "$", expected: "object", found: body === null ? "null" : Array.isArray(body) ? "array" : typeof body });
  }
  // The room's event schema checks the rest (e.g. `$.text` must be a string).
  return { ...body, _tag: "Say" };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const chat = rooms.client(env.ROOMS).room("chat");
    const path = url.pathname;
    try {
      if (path === "/" && request.method === "GET") {
        return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      let m = path.match(/^\/ws\/chat\/([^/]+)$/);
      if (m && request.method === "GET") {
        if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
          return Response.json({ _tag: "UpgradeError", message: "expected a WebSocket upgrade" }, { status: 426 });
        }
        const roomId = decodeURIComponent(m[1]);
        const userId = url.searchParams.get("userId") || "anon";
        return await chat.upgrade(roomId, request, {
          connection: { id: userId, tags: [`user:${userId}`], initialState: { userId, joinedAt: Date.now() } },
        });
      }
      m = path.match(/^\/api\/chat\/([^/]+)\/(say|state|connections)$/);
      if (m) {
        const roomId = decodeURIComponent(m[1]);
        if (m[2] === "say" && request.method === "POST") {
          await chat.send(roomId, await readSay(request));
          return Response.json({ status: "ok" });
        }
        if (m[2] === "state" && request.method === "GET") return Response.json(await chat.getState(roomId));
        if (m[2] === "connections" && request.method === "GET") {
          return Response.json(await chat.getConnections(roomId, url.searchParams.get("tag") ?? undefined));
        }
      }
      return Response.json({ _tag: "NotFound", message: "not found" }, { status: 404 });
    } catch (e) {
      return errorResponse(e);
    }
  },
};
