// The bench worker: six chat rooms with the same semantics, side by side in
// one workerd, each on its own Durable Object class (SQLite-backed), and the
// floor, which does the least any room can:
//
//   durable-rooms   the chat example: the real shim and the Wasm core
//   durable-rooms-coalesced  the same with coalesced delivery (20 ms window):
//                   what each socket is owed leaves as one JSON array
//   durable-rooms-full  the chat example as it deploys (chat::Chat: presence,
//                   resume, the heartbeat), budgets off: each frame carries
//                   "$seq", joins and leaves also send Presence/PresenceDiff
//                   runtime frames, "ping" is answered "pong" by the platform
//   plain-js        hand-written JSON.parse + checks, hibernatable sockets
//   partyserver     a PartyServer `Server` with hibernation on
//   effect-schema   like plain-js, but decoding and encoding with Effect Schema
//   floor           no parse, no storage, no encoding: each inbound frame is
//                   sent as it came to every socket (the platform's limit)
//   durable-rooms-quiet, plain-js-quiet
//                   the first and the third with joins and leaves
//                   unannounced, for the 10,000-socket row (bench/e2e/scale.mjs)
//
// Semantics (wasm/examples/chat/chat.cpp): join → UserJoined to the others
// (the first join creates the state {createdAt, messageCount: 0});
// Say {text} → messageCount + 1 saved to storage, then Message {text, userId,
// ts} to everyone including the sender; Typing → Typing {userId} to the
// others; close → UserLeft to the others. Bad frames are dropped silently.
//
//   GET /ws/<room>/<id>?userId=U    WebSocket upgrade into room <id>
//   GET /state/<room>/<id>          {messageCount, createdAt} or null
//   GET /stats                      constructions per class (this isolate)
//
// /stats reads module globals only, so it never wakes a room: a count that
// grew across an idle period proves the room hibernated and was rebuilt.

import { DurableObject } from "cloudflare:workers";
import { Server } from "partyserver";
import wasm from "../../dist/wasm-bench/core.wasm";
import factory from "../../dist/wasm-bench/core.mjs";
import { heartbeats, roomNames } from "../../dist/wasm-bench/rooms.meta.js";
import coalescedWasm from "../../dist/wasm-bench-coalesced/core.wasm";
import coalescedFactory from "../../dist/wasm-bench-coalesced/core.mjs";
import { makeRooms } from "../../shim/index.js";
import { effectCodec, plainCodec } from "./chat-codecs.js";

const STATE_KEY = "state";
const MAX_FRAME = 1 << 20; // the chat example's limit (rooms_max_frame)
const constructed = {
  "durable-rooms": 0,
  "durable-rooms-coalesced": 0,
  "durable-rooms-full": 0,
  "plain-js": 0,
  partyserver: 0,
  "effect-schema": 0,
  floor: 0,
  "durable-rooms-quiet": 0,
  "plain-js-quiet": 0,
};

// Close codes a server may not send back (workerd throws on them).
const answerable = (code) =>
  code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

// ---- 1. durable-rooms ---------------------------------------------------------

// heartbeats: chat-full's ping/pong, set as its object is constructed (as the
// example worker does), not only once its core is up.
const rooms = makeRooms({ wasm, factory, roomNames, heartbeats, binding: "ROOMS" });

export class RoomsDO extends rooms.DO {
  constructor(ctx, env) {
    super(ctx, env);
    constructed["durable-rooms"]++;
  }
}

// The same module's "chat-quiet" room, on a class of its own so that its
// constructions are counted apart (ctx.id.name is not always there after a wake).
export class QuietRoomsDO extends rooms.DO {
  constructor(ctx, env) {
    super(ctx, env);
    constructed["durable-rooms-quiet"]++;
  }
}

// The same module's "chat-full" room (the example's own declaration).
export class FullRoomsDO extends rooms.DO {
  constructor(ctx, env) {
    super(ctx, env);
    constructed["durable-rooms-full"]++;
  }
}

const coalesced = makeRooms({ wasm: coalescedWasm, factory: coalescedFactory, roomNames, binding: "COALESCED" });

export class CoalescedRoomsDO extends coalesced.DO {
  constructor(ctx, env) {
    super(ctx, env);
    constructed["durable-rooms-coalesced"]++;
  }
}

// ---- 2. plain JS ----------------------------------------------------------------

// The floor: one JSON.parse, hand-written checks, one JSON.stringify per
// broadcast, the socket table cached in memory per wake (like the shim's).
export class PlainRoom extends DurableObject {
  // The room's frames, attachments and state go through this codec.
  static codec = plainCodec;
  static label = "plain-js";

  constructor(ctx, env) {
    super(ctx, env);
    constructed[this.constructor.label]++;
    this.codec = this.constructor.codec;
    this.conns = null; // Map<WebSocket, {userId, joinedAt}>, rebuilt lazily after a wake
    this.state = null;
  }

  table() {
    if (this.conns === null) {
      this.conns = new Map();
      for (const ws of this.ctx.getWebSockets()) this.conns.set(ws, null); // attachment read on demand
    }
    return this.conns;
  }

  conn(ws) {
    const t = this.table();
    let c = t.get(ws);
    if (c === null) {
      c = this.codec.readAttachment(ws.deserializeAttachment());
      t.set(ws, c);
    }
    return c;
  }

  loadState() {
    if (this.state === null) {
      const stored = this.ctx.storage.kv.get(STATE_KEY);
      this.state = stored === undefined ? null : this.codec.readState(stored);
    }
    return this.state;
  }

  saveState(st) {
    this.state = st;
    this.ctx.storage.kv.put(STATE_KEY, this.codec.writeState(st));
  }

  broadcast(msg, except) {
    const text = this.codec.encode(msg);
    for (const ws of this.table().keys()) {
      if (ws === except) continue;
      try {
        ws.send(text);
      } catch {
        // Closing; its close event cleans up.
      }
    }
  }

  async fetch(request) {
    if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      return Response.json(this.loadState());
    }
    const userId = new URL(request.url).searchParams.get("userId") || "anon";
    const [client, server] = Object.values(new WebSocketPair());
    const conn = { userId, joinedAt: Date.now() };
    this.ctx.acceptWebSocket(server, [`user:${userId}`]);
    server.serializeAttachment(conn);
    this.table().set(server, conn);
    if (this.loadState() === null) this.saveState({ createdAt: Date.now(), messageCount: 0 });
    if (!this.constructor.quiet) this.broadcast({ _tag: "UserJoined", userId }, server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, data) {
    if (typeof data !== "string" || data.length > MAX_FRAME) return;
    const ev = this.codec.decode(data);
    if (ev === null) return;
    const conn = this.conn(ws);
    if (conn === undefined) return;
    if (ev._tag === "Say") {
      const st = this.loadState();
      this.saveState({ ...st, messageCount: st.messageCount + 1 });
      this.broadcast({ _tag: "Message", text: ev.text, userId: conn.userId, ts: Date.now() });
    } else {
      this.broadcast({ _tag: "Typing", userId: conn.userId }, ws);
    }
  }

  webSocketClose(ws, code, reason) {
    this.gone(ws);
    try {
      ws.close(answerable(code) ? code : 1000, answerable(code) ? reason : "");
    } catch {
      // Already closed.
    }
  }

  webSocketError(ws) {
    this.gone(ws);
  }

  gone(ws) {
    const t = this.table();
    if (!t.has(ws)) return;
    const conn = this.conn(ws);
    t.delete(ws);
    if (conn && !this.constructor.quiet) this.broadcast({ _tag: "UserLeft", userId: conn.userId }, ws);
  }
}

// Joins and leaves unannounced: the scale row's plain room.
export class QuietPlainRoom extends PlainRoom {
  static quiet = true;
  static label = "plain-js-quiet";
}

// ---- 3. PartyServer -------------------------------------------------------------

// Written the way PartyServer's README shows: state on the connection,
// this.broadcast with an exclusion list of connection ids.
export class PartyRoom extends Server {
  static options = { hibernate: true };

  constructor(ctx, env) {
    super(ctx, env);
    constructed.partyserver++;
    this.state = null;
  }

  loadState() {
    this.state ??= this.ctx.storage.kv.get(STATE_KEY) ?? null;
    return this.state;
  }

  getConnectionTags(_connection, ctx) {
    return [`user:${new URL(ctx.request.url).searchParams.get("userId") || "anon"}`];
  }

  onConnect(connection, ctx) {
    const userId = new URL(ctx.request.url).searchParams.get("userId") || "anon";
    connection.setState({ userId, joinedAt: Date.now() });
    if (this.loadState() === null) {
      this.state = { createdAt: Date.now(), messageCount: 0 };
      this.ctx.storage.kv.put(STATE_KEY, this.state);
    }
    this.broadcast(JSON.stringify({ _tag: "UserJoined", userId }), [connection.id]);
  }

  onMessage(connection, data) {
    if (typeof data !== "string" || data.length > MAX_FRAME) return;
    let ev;
    try {
      ev = JSON.parse(data);
    } catch {
      return;
    }
    if (ev === null || typeof ev !== "object" || Array.isArray(ev)) return;
    const userId = connection.state?.userId;
    if (typeof userId !== "string") return;
    if (ev._tag === "Say") {
      if (typeof ev.text !== "string") return;
      const st = this.loadState();
      st.messageCount += 1;
      this.ctx.storage.kv.put(STATE_KEY, st);
      this.broadcast(JSON.stringify({ _tag: "Message", text: ev.text, userId, ts: Date.now() }));
    } else if (ev._tag === "Typing") {
      this.broadcast(JSON.stringify({ _tag: "Typing", userId }), [connection.id]);
    }
  }

  onClose(connection) {
    const userId = connection.state?.userId;
    if (typeof userId === "string") this.broadcast(JSON.stringify({ _tag: "UserLeft", userId }), [connection.id]);
  }

  onError(connection) {
    this.onClose(connection);
  }

  onRequest() {
    return Response.json(this.loadState());
  }
}

// ---- 4. Effect Schema -----------------------------------------------------------

// The spec's own stack: the plain room with every inbound frame decoded (JSON
// + validation) and every outbound message, attachment and state encoded
// through Effect Schema codecs.
export class EffectRoom extends PlainRoom {
  static codec = effectCodec;
  static label = "effect-schema";
}

// ---- 5. The floor ------------------------------------------------------------------

// What no room can beat: each inbound frame goes out as it came (the bench's
// Say carries the "text" its clients count deliveries by) to every socket,
// with no parse, no validation, no storage and no encoding. Joins send a
// fixed UserJoined to the others. The count of frames is kept in memory only,
// for the run's check that every Say arrived.
const FLOOR_JOINED = '{"_tag":"UserJoined","userId":"?"}';

export class FloorRoom extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    constructed.floor++;
    this.frames = 0;
    // The sockets of this wake, listed once (getWebSockets() makes a wrapper
    // per socket on every call: 1,000 of them per frame at 1,000 sockets).
    this.sockets = null;
  }

  all() {
    this.sockets ??= this.ctx.getWebSockets();
    return this.sockets;
  }

  fetch(request) {
    if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      return Response.json({ messageCount: this.frames });
    }
    const [client, server] = Object.values(new WebSocketPair());
    const others = this.all();
    this.ctx.acceptWebSocket(server);
    for (const ws of others) ws.send(FLOOR_JOINED);
    others.push(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(_ws, data) {
    this.frames++;
    for (const ws of this.all()) {
      try {
        ws.send(data);
      } catch {
        // Closing; nothing to clean up.
      }
    }
  }

  webSocketClose(ws, code, reason) {
    const i = this.all().indexOf(ws);
    if (i >= 0) this.sockets.splice(i, 1);
    try {
      ws.close(answerable(code) ? code : 1000, answerable(code) ? reason : "");
    } catch {
      // Already closed.
    }
  }
}

// ---- Routing ----------------------------------------------------------------------

const BINDINGS = { "plain-js": "PLAIN", partyserver: "PARTY", "effect-schema": "EFFECT", floor: "FLOOR", "plain-js-quiet": "PLAIN_QUIET" };

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/stats") return Response.json({ constructed });
    const m = url.pathname.match(/^\/(ws|state)\/([a-z-]+)\/([^/]+)$/);
    if (!m) return new Response("not found", { status: 404 });
    const [, kind, room, rawId] = m;
    const id = decodeURIComponent(rawId);
    const upgrade = kind === "ws";
    if (upgrade && (request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    switch (room) {
      case "durable-rooms":
      case "durable-rooms-quiet":
      case "durable-rooms-coalesced":
      case "durable-rooms-full": {
        const userId = url.searchParams.get("userId") || "anon";
        const chat =
          room === "durable-rooms"
            ? rooms.client(env.ROOMS).room("chat")
            : room === "durable-rooms-quiet"
              ? rooms.client(env.ROOMS_QUIET).room("chat-quiet")
              : room === "durable-rooms-full"
                ? rooms.client(env.ROOMS_FULL).room("chat-full")
                : coalesced.client(env.COALESCED).room("chat");
        if (!upgrade) return Response.json(await chat.getState(id));
        return chat.upgrade(id, request, {
          connection: { id: userId, tags: [`user:${userId}`], initialState: { userId, joinedAt: Date.now() } },
        });
      }
      // PartyServer reads its name from ctx.id.name, so addressing it by
      // name is all routePartykitRequest would do here.
      case "partyserver":
      case "plain-js":
      case "effect-schema":
      case "plain-js-quiet":
      case "floor": {
        const ns = env[BINDINGS[room]];
        return ns.get(ns.idFromName(id)).fetch(request);
      }
      default:
        return new Response("no such room kind", { status: 404 });
    }
  },
};
