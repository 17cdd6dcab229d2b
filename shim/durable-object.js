// The Durable Object class: one instance is one room (room type, id). It
// forwards hibernatable WebSocket events, client requests and alarms into the
// room's Wasm core and applies the effect batch the core hands back. It
// decides nothing about rooms.
//
// Wasm: one small instance per room (see loadCore), so a trap in one room
// rebuilds that room's core only, and one room's memory never reaches another.
// Storage: the synchronous KV API of SQLite-backed objects, so writes join the
// implicit transaction and the output gate holds every frame that follows a
// write until the write is durable.

import { DurableObject } from "cloudflare:workers";
import { loadCore } from "./core.js";
import { errorJson, RoomsError } from "./errors.js";
import { roomRequest } from "./request.js";
import { EffectKind, LogLevel } from "./wire.js";

const IDENTITY_KEY = "rooms:identity";
// The reply of requests lost to a trap. The client sees no stack.
const TRAPPED = Object.freeze({
  ok: false,
  tag: "RoomExecutionError",
  text: JSON.stringify({
    _tag: "RoomExecutionError",
    message: "the room's core trapped while handling this request; it was rebuilt",
    phase: "core",
    cause: "trap",
  }),
});
const CONSOLE = Object.freeze({ [LogLevel.Info]: "log", [LogLevel.Warn]: "warn", [LogLevel.Error]: "error" });

// Close codes a server may not send back (workerd throws on them).
function answerableCode(code) {
  return code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

// Binary frames reach the core as bytes: with the standard binaryType
// ("blob") they would arrive as Blobs.
function pinBinaryType(ws) {
  try {
    ws.binaryType = "arraybuffer";
  } catch {
    // Runtimes without a settable binaryType deliver ArrayBuffers already.
  }
}

function escapeTag(t) {
  return t.replace(/[\\\t\n]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : "\\n"));
}

// `config`: { wasm: WebAssembly.Module, factory: the Emscripten module
// factory, binding: the env name of this class's namespace (for sibling
// calls) }.
export function makeRoomsDurableObject(config) {
  const { wasm, factory, binding } = config;

  return class RoomsDurableObject extends DurableObject {
    constructor(ctx, env) {
      super(ctx, env);
      this.core = null;        // Core, or null until first use / after a trap
      this.booting = null;     // Promise<Core> while instantiating
      this.identity = ctx.storage.kv.get(IDENTITY_KEY) ?? null; // {name, id}
      this.sockets = null;     // slot → WebSocket, built on first use per wake
      this.slots = new Map();  // WebSocket → slot
      this.seq = 0;
      this.waiting = new Map(); // request number → resolve({ok, tag, text})
      this.upgrading = new Map(); // request number → server WebSocket
      this.io = [];            // platform promises of the current events
    }

    // ---- Requests from the client and from sibling rooms (RPC) ----------------

    // `op`: a RequestOp (shim/wire.js); `arg`: its text, or null.
    async roomsRequest(name, id, op, arg) {
      const ready = await this.ready(name, id);
      if (!ready.ok) return ready;
      return this.request((core, req) => core.request(op, req, arg));
    }

    // The upgrade: the room and the options come in headers.
    async fetch(request) {
      const name = request.headers.get("x-rooms-name");
      const id = request.headers.get("x-rooms-id");
      const opts = request.headers.get("x-rooms-upgrade");
      if (name === null || id === null || opts === null) {
        return Response.json({ _tag: "UpgradeError", message: "not a durable-rooms upgrade" }, { status: 400 });
      }
      if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
        return Response.json({ _tag: "UpgradeError", message: "expected Upgrade: websocket" }, { status: 426 });
      }
      const ready = await this.ready(name, id);
      if (!ready.ok) return Response.json(JSON.parse(ready.text), { status: 404 });
      const [client, server] = Object.values(new WebSocketPair());
      let req = 0;
      const result = await this.request((core, r) => {
        req = r;
        this.upgrading.set(r, server);
        return core.upgrade(r, decodeURIComponent(opts));
      });
      this.upgrading.delete(req);
      if (result.ok) return new Response(null, { status: 101, webSocket: client });
      const body = JSON.parse(result.text);
      return Response.json(body, { status: body.status ?? 500 });
    }

    // ---- Platform events ------------------------------------------------------

    // The hot path: no await unless the core must boot or the batch started
    // platform work (alarm, sibling call).
    async webSocketMessage(ws, message) {
      if (!this.core && !(await this.ready()).ok) return;
      const slot = this.slotOf(ws);
      if (slot === undefined) return;
      this.apply(this.guard((core) => core.message(slot, message)));
      if (this.io.length > 0) await this.settle();
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
      const ready = await this.ready(name, id);
      if (!ready.ok) return;
      const r = await this.request((core, req) => core.alarm(req, info?.retryCount ?? 0, info?.isRetry ?? false));
      // Throwing makes the platform retry; the retry sees ctx.systemFailure().
      if (!r.ok) throw new RoomsError(JSON.parse(r.text));
    }

    // ---- Plumbing -------------------------------------------------------------

    // The platform's report that a socket ended, handled once per socket.
    async ended(ws, code, reason) {
      if (!(await this.ready()).ok) return;
      const slot = this.slotOf(ws);
      if (slot === undefined) return;
      this.slots.delete(ws);
      // onClose may read the connection's attachment: drop the socket after.
      this.apply(this.guard((core) => core.closed(slot, code, reason)));
      delete this.sockets[slot];
      await this.settle();
    }

    // Boots the core for this room: with (name, id) from a request, or from
    // storage for socket events and alarms. Returns {ok} or an error reply.
    async ready(name, id) {
      if (name !== undefined && !this.identity) {
        this.identity = { name, id };
        this.ctx.storage.kv.put(IDENTITY_KEY, this.identity);
      }
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
      this.core = core;
      return core;
    }

    // What the core may read from the platform (cold paths only).
    host() {
      const ctx = this.ctx;
      const env = this.env;
      return {
        randomId: () => crypto.randomUUID(),
        load: (key) => {
          const v = ctx.storage.kv.get(key);
          return v === undefined ? null : String(v);
        },
        loadConnections: () => {
          this.table();
          let out = "";
          this.sockets.forEach((ws, slot) => {
            out += String(slot);
            for (const t of ctx.getTags(ws)) out += "\t" + escapeTag(t);
            out += "\n";
          });
          return out;
        },
        loadAttachment: (slot) => {
          const a = this.sockets?.[slot]?.deserializeAttachment();
          return typeof a === "string" ? a : "";
        },
        env: (key) => (typeof env[key] === "string" ? env[key] : null),
      };
    }

    // The socket table of this wake: slot = position in getWebSockets().
    // No tags or attachments are read here.
    table() {
      if (this.sockets) return;
      this.sockets = [];
      for (const ws of this.ctx.getWebSockets()) {
        pinBinaryType(ws);
        this.slots.set(ws, this.sockets.length);
        this.sockets.push(ws);
      }
    }

    // When the first event of a wake is a socket's close, getWebSockets() may
    // no longer list that socket; it still gets a slot (before the core reads
    // the table), so its onClose runs with its id, tags and state.
    slotOf(ws) {
      const fresh = this.sockets === null;
      this.table();
      let slot = this.slots.get(ws);
      if (slot === undefined && fresh) {
        slot = this.sockets.length;
        this.slots.set(ws, slot);
        this.sockets.push(ws);
      }
      return slot;
    }

    // Runs one core entry point that answers with a Reply; resolves with it.
    request(call) {
      if (!this.core) return Promise.resolve(TRAPPED);
      const req = ++this.seq;
      const reply = new Promise((resolve) => this.waiting.set(req, resolve));
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
        const name = this.identity ? `${this.identity.name}/${this.identity.id}` : "?";
        console.error(`durable-rooms: room ${name} trapped; rebuilding its core: ${e?.message ?? e}`);
        this.core = null;
        this.booting = null;
        for (const resolve of this.waiting.values()) resolve(TRAPPED);
        this.waiting.clear();
        return null;
      }
    }

    // Applies one batch, in order.
    apply(view) {
      if (view === null || !this.core) return;
      const core = this.core;
      for (const e of core.effects(view)) {
        switch (e.kind) {
          case EffectKind.Accept: {
            const ws = this.upgrading.get(e.req);
            this.table();
            pinBinaryType(ws);
            this.ctx.acceptWebSocket(ws, e.tags);
            ws.serializeAttachment(e.text);
            this.sockets[e.slot] = ws;
            this.slots.set(ws, e.slot);
            break;
          }
          case EffectKind.Frame:
            for (const slot of e.slots) {
              try {
                this.sockets[slot].send(e.text);
              } catch (err) {
                console.warn(`durable-rooms: send to slot ${slot} failed: ${err?.message ?? err}`);
              }
            }
            break;
          case EffectKind.Close:
            try {
              this.sockets[e.slot].close(e.code, e.text);
            } catch (err) {
              console.warn(`durable-rooms: close of slot ${e.slot} failed: ${err?.message ?? err}`);
            }
            break;
          case EffectKind.Attach:
            try {
              this.sockets[e.slot].serializeAttachment(e.text);
            } catch (err) {
              console.warn(`durable-rooms: attachment of slot ${e.slot} not written: ${err?.message ?? err}`);
            }
            break;
          case EffectKind.Put:
            this.ctx.storage.kv.put(e.key, e.text);
            break;
          case EffectKind.Delete:
            this.ctx.storage.kv.delete(e.key);
            break;
          case EffectKind.SetAlarm:
            this.io.push(this.ctx.storage.setAlarm(e.time));
            break;
          case EffectKind.ClearAlarm:
            this.io.push(this.ctx.storage.deleteAlarm());
            break;
          case EffectKind.Call:
            this.io.push(this.sibling(e));
            break;
          case EffectKind.Reply: {
            const resolve = this.waiting.get(e.req);
            this.waiting.delete(e.req);
            resolve?.({ ok: e.ok, tag: e.tag, text: e.text });
            break;
          }
          case EffectKind.Log:
            console[CONSOLE[e.level] ?? "log"](`[durable-rooms ${this.identity?.name}/${this.identity?.id}] ${e.text}`);
            break;
        }
      }
    }

    // A call to another room; the suspended handler resumes with its outcome.
    async sibling(e) {
      let r;
      try {
        r = await roomRequest(this.env[binding], e.room, e.id, e.op, e.text);
      } catch (err) {
        r = { ok: false, tag: "RoomError", text: JSON.stringify({ _tag: "RoomError", message: String(err?.message ?? err) }) };
      }
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
