// The Durable Object class: one instance is one room (room type, id). It
// forwards hibernatable WebSocket events, client requests and alarms into the
// room's Wasm core and hands the effect batch the core gives back to the
// applier. It decides nothing about rooms. The parts live apart:
//   core.js       the Wasm core: text in, effect batch out
//   sockets.js    the socket table (slot ↔ WebSocket)
//   effects.js    the effect applier (a batch → the platform)
//   requests.js   request numbers → pending replies
//   inbox.js      messages received and not yet handled
//
// Group commit: a message is not handled when the platform delivers it but
// on the room's next turn (a zero-delay timer), together with every message
// that arrived before that turn, one after another in arrival order. Their
// storage writes join one implicit transaction, so they share one commit,
// and each frame still waits behind the output gate until the writes before
// it are durable. Every other event (a close, a request, an upgrade, an
// alarm, a sibling's reply, a coalescing flush) first handles the messages
// that arrived before it, so the room sees events in arrival order.
//
// Wasm: one small instance per room (see loadCore), so a trap in one room
// rebuilds that room's core only, and one room's memory never reaches another.

import { DurableObject } from "cloudflare:workers";
import { loadCore } from "./core.js";
import { EffectApplier, logSafe } from "./effects.js";
import { errorJson, RoomsError } from "./errors.js";
import { Inbox } from "./inbox.js";
import { roomRequest } from "./request.js";
import { Requests, TRAPPED } from "./requests.js";
import { SocketTable } from "./sockets.js";

// The room's (name, id), for events that carry neither: socket events after a
// wake, alarms (locally an alarm after eviction has no ctx.id.name).
const IDENTITY_KEY = "rooms:identity";

// Close codes a server may not send back (workerd throws on them).
function answerableCode(code) {
  return code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

// A percent-encoded header value, decoded; null if absent or malformed.
function decoded(value) {
  try {
    return value === null ? null : decodeURIComponent(value);
  } catch {
    return null;
  }
}

// The heartbeat pairs the cores of this isolate reported (room type name →
// {request, response} or null), for constructions after the first.
const learnedHeartbeats = new Map();

// `config`: { wasm: WebAssembly.Module, factory: the Emscripten module
// factory, binding: the env name of this class's namespace (for sibling
// calls), heartbeats?: the generated meta's `heartbeats` (room type name →
// {request, response}) }.
export function makeRoomsDurableObject(config) {
  const { wasm, factory, binding } = config;
  const heartbeatOf = (name) => config.heartbeats?.[name] ?? learnedHeartbeats.get(name) ?? null;

  return class RoomsDurableObject extends DurableObject {
    constructor(ctx, env) {
      super(ctx, env);
      this.core = null;        // Core, or null until first use / after a trap
      this.booting = null;     // Promise<Core> while instantiating
      this.identity = ctx.storage.kv.get(IDENTITY_KEY) ?? null; // {name, id}
      this.claimed = this.identity !== null; // identity in storage
      this.autoResponding = false; // setWebSocketAutoResponse called by this construction
      if (this.identity) this.autoRespond(heartbeatOf(this.identity.name));
      this.sockets = new SocketTable(ctx);
      this.requests = new Requests();
      this.io = [];            // platform promises of the current events
      this.flushTimer = null;  // the pending FlushAfter timer (coalesced delivery)
      this.inbox = new Inbox(); // messages received, handled on the next turn
      this.turnTimer = null;   // the pending timer of that turn
      this.onTurn = () => this.turn();
      this.effects = new EffectApplier({
        ctx,
        sockets: this.sockets,
        requests: this.requests,
        io: this.io,
        call: (e) => this.sibling(e),
        claim: () => this.claim(),
        flushAfter: (ms) => this.flushAfter(ms),
        label: () => this.label(),
      });
    }

    // ---- Requests from the client and from sibling rooms (RPC) ----------------

    // `op`: a RequestOp (shim/wire.js); `arg`: its text, or null.
    async roomsRequest(name, id, op, arg) {
      const ready = await this.enter(name, id);
      if (!ready.ok) return ready;
      return this.request((core, req) => core.request(op, req, arg));
    }

    // The upgrade: the room and the options come in headers, each
    // percent-encoded by the client (shim/client.js).
    async fetch(request) {
      const [name, id, opts] = ["x-rooms-name", "x-rooms-id", "x-rooms-upgrade"].map((h) => decoded(request.headers.get(h)));
      if (name === null || id === null || opts === null) {
        return Response.json({ _tag: "UpgradeError", message: "not a durable-rooms upgrade" }, { status: 400 });
      }
      if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
        return Response.json({ _tag: "UpgradeError", message: "expected Upgrade: websocket" }, { status: 426 });
      }
      const ready = await this.enter(name, id);
      if (!ready.ok) return Response.json(JSON.parse(ready.text), { status: 404 });
      const [client, server] = Object.values(new WebSocketPair());
      const result = await this.request((core, req) => core.upgrade(req, opts), server);
      if (result.ok) return new Response(null, { status: 101, webSocket: client });
      const body = JSON.parse(result.text);
      return Response.json(body, { status: body.status ?? 500 });
    }

    // ---- Platform events ------------------------------------------------------

    // The hot path: queues the message for the room's next turn (group
    // commit, above) and answers the platform at once, with no promise.
    webSocketMessage(ws, message) {
      const slot = this.sockets.slotOf(ws);
      if (slot === undefined) return;
      this.inbox.push(slot, message);
      this.turnTimer ??= setTimeout(this.onTurn, 0);
    }

    // The room's turn: handles every queued message. Synchronous while the
    // core is up and the batches start no platform work (alarm, sibling
    // call); else it goes on asynchronously.
    turn() {
      this.turnTimer = null;
      this.handleQueued(this.inbox.received);
      if (this.inbox.size > 0 || this.io.length > 0) {
        this.catchUp(this.inbox.received)
          .then(() => this.settle())
          .catch((e) => console.error(logSafe(`durable-rooms: messages of ${this.label()} failed: ${e?.message ?? e}`)));
      }
    }

    // Handles the queued messages that arrived before `mark` (a count of
    // messages received) while the core is up; stops at a trap. A platform
    // call that throws while one message's batch is applied (a storage
    // limit, say) ends that batch only: the messages after it still run.
    handleQueued(mark) {
      while (this.core && this.inbox.handled < mark) {
        const slot = this.inbox.nextSlot();
        const message = this.inbox.take();
        try {
          this.apply(this.guard((core) => core.message(slot, message)));
        } catch (e) {
          console.error(logSafe(`durable-rooms: a message to ${this.label()} failed on the platform: ${e?.message ?? e}`));
        }
      }
    }

    // Handles the messages that arrived before `mark`, booting the core as
    // often as it must (a wake, a trap meanwhile). Resolves with {ok} and the
    // core up, or with the reply of a room that cannot boot (its queued
    // messages are then dropped, as they could never be handled).
    async catchUp(mark) {
      for (;;) {
        if (!this.core) {
          const ready = await this.ready();
          if (!ready.ok) {
            this.inbox.clear();
            return ready;
          }
        }
        this.handleQueued(mark);
        if (this.core) return { ok: true };
      }
    }

    // Every event but a message enters here: it boots the core if it must,
    // then handles the messages that arrived before it.
    async enter(name, id) {
      const mark = this.inbox.received;
      const ready = await this.ready(name, id);
      return ready.ok ? this.catchUp(mark) : ready;
    }

    async webSocketClose(ws, code, reason) {
      try {
        await this.ended(ws, code, reason);
      } finally {
        // Always answer the client's close, or it waits ~10 s and sees 1006.
        try {
          ws.close(answerableCode(code) ? code : 1000, answerableCode(code) ? reason : "");
        } catch {
          // Already closed.
        }
      }
    }

    async webSocketError(ws, error) {
      await this.ended(ws, 1006, String(error?.message ?? error ?? "error"));
    }

    async alarm(info) {
      if (!this.identity) return;
      const { name, id } = this.identity;
      const ready = await this.enter(name, id);
      if (!ready.ok) return;
      const r = await this.request((core, req) => core.alarm(req, info?.retryCount ?? 0, info?.isRetry ?? false));
      // Throwing makes the platform retry; the retry sees ctx.systemFailure().
      if (!r.ok) throw new RoomsError(JSON.parse(r.text));
    }

    // ---- Plumbing -------------------------------------------------------------

    // The platform's report that a socket ended, handled once per socket.
    // Its slot is taken at once: the first event of a wake may be a close,
    // and the socket table must hold the socket before anything builds it.
    async ended(ws, code, reason) {
      const slot = this.sockets.slotOf(ws);
      if (slot === undefined) return;
      this.sockets.forget(ws);
      if (!(await this.enter()).ok) return;
      // onClose may read the connection's attachment: drop the socket after.
      this.apply(this.guard((core) => core.closed(slot, code, reason)));
      this.sockets.drop(slot);
      await this.settle();
    }

    // Boots the core for this room: with (name, id) from a request, or from
    // storage for socket events and alarms. Returns {ok} or an error reply.
    // Stores nothing: a room that is only read leaves no storage (claim).
    async ready(name, id) {
      if (name !== undefined && !this.identity) this.identity = { name, id };
      if (!this.identity) return { ok: false };
      if (this.core) return { ok: true };
      this.booting ??= this.boot();
      try {
        await this.booting;
        return { ok: true };
      } catch (e) {
        this.booting = null;
        if (e instanceof RoomsError) return { ok: false, tag: e._tag, text: JSON.stringify(errorJson(e)) };
        throw e;
      }
    }

    async boot() {
      const core = await loadCore(wasm, factory, this.host());
      const { name, id } = this.identity;
      if (!core.init(name, id)) {
        throw new RoomsError({ _tag: "RoomNotFoundError", message: `no room type named "${name}"`, room: name });
      }
      const pair = core.heartbeat();
      learnedHeartbeats.set(name, pair);
      this.autoRespond(pair);
      this.core = core;
      return core;
    }

    // The room type's heartbeat: the platform answers `request` with
    // `response` without waking the object. Set once per construction, as
    // soon as the room type is known (workerd misbehaved when the pair was
    // set concurrently).
    autoRespond(pair) {
      if (this.autoResponding || !pair) return;
      this.autoResponding = true;
      try {
        this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(pair.request, pair.response));
      } catch (e) {
        console.error(logSafe(`durable-rooms: heartbeat of ${this.identity?.name} not set: ${e?.message ?? e}`));
      }
    }

    // Stores the room's identity before the room's first write (a Put, an
    // alarm, an accepted socket), in the same implicit transaction, so the
    // alarm handler and socket events after a wake can boot the room.
    claim() {
      if (this.claimed) return;
      this.ctx.storage.kv.put(IDENTITY_KEY, this.identity);
      this.claimed = true;
    }

    // "name/id" of the room, for logs.
    label() {
      return `${this.identity?.name}/${this.identity?.id}`;
    }

    // What the core may read from the platform (cold paths only).
    host() {
      const ctx = this.ctx;
      const env = this.env;
      const sockets = this.sockets;
      return {
        randomId: () => crypto.randomUUID(),
        load: (key) => {
          const v = ctx.storage.kv.get(key);
          return v === undefined ? null : String(v);
        },
        loadConnections: () => sockets.describe(),
        loadAttachment: (slot) => {
          const a = sockets.at(slot)?.deserializeAttachment();
          return typeof a === "string" ? a : "";
        },
        env: (key) => (typeof env[key] === "string" ? env[key] : null),
        autoResponseTime: (slot) => {
          const ws = sockets.at(slot);
          const t = ws ? ctx.getWebSocketAutoResponseTimestamp(ws) : null;
          return t ? String(t.getTime()) : null;
        },
      };
    }

    // Runs one core entry point that answers with a Reply; resolves with it.
    // `socket`: the server end of an upgrade, for the core's Accept.
    request(call, socket) {
      if (!this.core) return Promise.resolve(TRAPPED);
      const { req, reply } = this.requests.open(socket);
      this.apply(this.guard((core) => call(core, req)));
      return this.settle().then(() => reply);
    }

    // Calls into the core; a trap (abort, unreachable, out-of-bounds) drops
    // the core, fails the requests in flight, and the next event rebuilds it
    // from storage and the platform's sockets.
    guard(fn) {
      if (!this.core) return null;
      try {
        return fn(this.core);
      } catch (e) {
        console.error(logSafe(`durable-rooms: room ${this.label()} trapped; rebuilding its core: ${e?.message ?? e}`));
        this.core = null;
        this.booting = null;
        this.requests.trap();
        return null;
      }
    }

    // Applies one batch (none after a trap).
    apply(view) {
      if (view !== null && this.core) this.effects.apply(this.core, view);
    }

    // Coalesced delivery: the core asked to be called back after `ms` to send
    // what it holds. One timer at a time; a core rebuilt after a trap holds
    // nothing, so a timer that outlives its core flushes nothing.
    flushAfter(ms) {
      if (this.flushTimer !== null) return;
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.handleQueued(this.inbox.received);
        this.apply(this.guard((core) => core.flush()));
      }, ms);
    }

    // A call to another room; the suspended handler resumes with its outcome.
    async sibling(e) {
      let r;
      try {
        r = await roomRequest(this.env[binding], e.room, e.id, e.op, e.text);
      } catch (err) {
        r = { ok: false, tag: "RoomError", text: JSON.stringify({ _tag: "RoomError", message: String(err?.message ?? err) }) };
      }
      this.handleQueued(this.inbox.received);
      if (!this.core) return; // trapped meanwhile; the handler is gone
      this.apply(this.guard((core) => core.resume(e.callId, r.ok, r.tag, r.text)));
    }

    // Waits for every platform promise the applied batches started, so no
    // work is left unawaited when the event ends.
    async settle() {
      while (this.io.length > 0) await Promise.all(this.io.splice(0));
    }
  };
}
