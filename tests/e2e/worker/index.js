// A worker for end-to-end tests: the shim of the chat example over the test
// build of the core (dist/wasm-test: chat + probe), with the whole client API
// reachable over HTTP so tests can drive every room type with any options.
//
//   GET  /ws/:room/:id?opts=<UpgradeOpts JSON>   client.room(room).upgrade(id, request, opts)
//   POST /call/:room/:id/:op   body: the argument  client.room(room)[op](id, arg)
//        → 200 {ok: true, value} | {ok: false, error: {_tag, message, ...}}
//   GET  /debug/constructed/:room/:id             {constructed: n}: constructions
//        of that room's object in this isolate (module globals; wakes nothing)
//   GET  /debug/storage/:room/:id                 what the instance stored
//        → 200 {keys: [storage keys], alarm: epoch ms | null}; test-only,
//        through a subclass of the library's class (the library has no such op)

import wasm from "../../../dist/wasm-test/core.wasm";
import factory from "../../../dist/wasm-test/core.mjs";
import { heartbeats, roomNames } from "../../../dist/wasm-test/rooms.meta.js";
import { makeRooms, RoomsError } from "../../../shim/index.js";

const rooms = makeRooms({ wasm, factory, roomNames, heartbeats, binding: "ROOMS" });

// Constructions per room ("name:id"), in this isolate: module globals, so
// reading them (GET /debug/constructed/:room/:id) never wakes a room.
const constructed = new Map();

export class RoomsDO extends rooms.DO {
  constructor(ctx, env) {
    super(ctx, env);
    // A room's first construction learns its identity from its first
    // request (below); a woken one has it from storage.
    if (this.identity) count(this.identity);
  }

  async ready(name, id) {
    const known = this.identity !== null;
    const r = await super.ready(name, id);
    if (!known && this.identity) count(this.identity);
    return r;
  }

  // Reads only: listing the storage creates none.
  async debugStorage() {
    return { keys: [...this.ctx.storage.kv.list()].map(([k]) => k), alarm: await this.ctx.storage.getAlarm() };
  }
}

function count({ name, id }) {
  const key = `${name}:${id}`;
  constructed.set(key, (constructed.get(key) ?? 0) + 1);
}

const plain = (e) => {
  if (!(e instanceof RoomsError)) return { _tag: "NotARoomsError", message: String(e?.message ?? e) };
  const { stack, name, ...fields } = e;
  return { ...fields, message: e.message };
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const client = rooms.client(env.ROOMS);
    let m = url.pathname.match(/^\/ws\/([^/]+)\/([^/]+)$/);
    if (m) {
      try {
        const opts = JSON.parse(url.searchParams.get("opts") ?? "{}");
        return await client.room(m[1]).upgrade(decodeURIComponent(m[2]), request, opts);
      } catch (e) {
        return Response.json(plain(e), { status: e.status ?? 500 });
      }
    }
    m = url.pathname.match(/^\/debug\/constructed\/([^/]+)\/([^/]+)$/);
    if (m) return Response.json({ constructed: constructed.get(`${m[1]}:${decodeURIComponent(m[2])}`) ?? 0 });
    m = url.pathname.match(/^\/debug\/storage\/([^/]+)\/([^/]+)$/);
    if (m) {
      const stub = env.ROOMS.get(env.ROOMS.idFromName(`${m[1]}:${decodeURIComponent(m[2])}`));
      return Response.json(await stub.debugStorage());
    }
    m = url.pathname.match(/^\/call\/([^/]+)\/([^/]+)\/([a-zA-Z]+)$/);
    if (m && request.method === "POST") {
      const text = await request.text();
      try {
        const arg = text === "" ? undefined : JSON.parse(text);
        const value = await client.room(m[1])[m[3]](decodeURIComponent(m[2]), arg);
        return Response.json({ ok: true, value: value ?? null });
      } catch (e) {
        return Response.json({ ok: false, error: plain(e) });
      }
    }
    return new Response("not found", { status: 404 });
  },
};
