// @ts-check
// The worker: routes to the counter rooms.
//
//   GET  /ws/counter/:room?user=U        WebSocket upgrade (frames: {"_tag":"Add","by":1}, {"_tag":"Reset"})
//   POST /api/counter/:room/add {"by"}   an Add from the worker ("api")
//   GET  /api/counter/:room              the room state ({"count"}), or null
//   GET  /api/counter/:room/connections  [{id, tags, state}]
import wasm from "../build/wasm/module/core.wasm";
import factory from "../build/wasm/module/core.mjs";
import { roomNames } from "../build/wasm/module/rooms.meta.js";
import { makeRooms, RoomsError } from "durable-rooms";

/** @type {import("durable-rooms").RoomsInstance<import("../build/wasm/module/rooms").Rooms>} */
const rooms = makeRooms({ wasm, factory, roomNames, binding: "ROOMS" });
export const RoomsDO = rooms.DO;

const STATUS = { RoomValidationError: 400, RoomNotFoundError: 404, UpgradeError: 400 };
const json = (value, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const counter = rooms.client(env.ROOMS).room("counter");
    try {
      if (parts[0] === "ws" && parts[1] === "counter" && parts.length === 3) {
        if (request.headers.get("upgrade") !== "websocket") return json({ _tag: "BadRequest", message: "expected a WebSocket upgrade" }, 426);
        const user = url.searchParams.get("user") || "anon";
        return await counter.upgrade(parts[2], request, {
          connection: { id: user, tags: [`user:${user}`], initialState: { userId: user } },
        });
      }
      if (parts[0] === "api" && parts[1] === "counter" && parts.length >= 3) {
        const id = parts[2];
        if (request.method === "POST" && parts[3] === "add") {
          const body = await request.json().catch(() => null);
          const by = typeof body?.by === "number" ? body.by : 1;
          await counter.send(id, { _tag: "Add", by });
          return json(await counter.getState(id));
        }
        if (request.method === "GET" && parts.length === 3) return json(await counter.getState(id));
        if (request.method === "GET" && parts[3] === "connections") return json(await counter.getConnections(id));
      }
      return json({ _tag: "NotFound", message: `no route for ${request.method} ${url.pathname}` }, 404);
    } catch (e) {
      if (e instanceof RoomsError) {
        const { stack, ...fields } = e;
        return json({ ...fields, message: e.message }, e.status ?? STATUS[e._tag] ?? 500);
      }
      throw e;
    }
  },
};
