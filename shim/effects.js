// The effect applier: walks one batch the core handed back and applies it to
// the platform, in order. It decides nothing about rooms.
//
// Storage: the synchronous KV API of SQLite-backed objects, so writes join the
// implicit transaction and the output gate holds every frame that follows a
// write until the write is durable. Alarms and sibling calls are platform
// I/O: their promises go to `io`, which the Durable Object awaits before the
// event ends.

import { unknownKind } from "./core.js";
import { EffectKind, LogLevel } from "./wire.js";

const CONSOLE = Object.freeze({ [LogLevel.Info]: "log", [LogLevel.Warn]: "warn", [LogLevel.Error]: "error" });

// Control characters (U+0000-U+001F, U+007F), the JS line separators
// U+2028/U+2029, which a log line may not hold raw, and the backslash that
// starts every escape.
const CONTROL = /[\\\u0000-\u001f\u007f\u2028\u2029]/g;
const SHORT = Object.freeze({ "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\" });

// Text for one log line: user input inside it (connection ids, room ids,
// frames quoted in errors) cannot start a line of its own, so it cannot
// forge one. \n, \r and \t become their escapes, the others \u00XX, and a
// backslash becomes two, so an escape in the line always stands for the
// character it names (a client's own backslash and "n" read as "\\n").
export function logSafe(text) {
  return String(text).replace(CONTROL, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export class EffectApplier {
  // `room`, given once per Durable Object:
  //   ctx        the DurableObjectState
  //   sockets    its SocketTable
  //   requests   its Requests
  //   io         the platform promises of the current events (appended to)
  //   call(e)    starts the sibling call of a Call effect; returns its promise
  //   claim()    called before the first effect that writes anything of the
  //              room (a Put, an alarm, an accepted socket)
  //   flushAfter(ms)  the core asks for its flush entry point after `ms`
  //   label()    "name/id" of the room, for logs
  constructor(room) {
    this.ctx = room.ctx;
    this.sockets = room.sockets;
    this.requests = room.requests;
    this.io = room.io;
    this.call = room.call;
    this.claim = room.claim;
    this.flushAfter = room.flushAfter;
    this.label = room.label;
  }

  // Applies the batch at `view` of `core`, reading each record once
  // (core.batch: no record objects).
  apply(core, view) {
    const ctx = this.ctx;
    const r = core.batch(view);
    while (r.more()) {
      const kind = r.kind();
      switch (kind) {
        case EffectKind.Accept: {
          const req = r.u32();
          const slot = r.u32();
          const tags = r.strs();
          this.claim();
          this.sockets.accept(this.requests.socket(req), slot, tags, r.str());
          break;
        }
        case EffectKind.Frame: {
          const text = r.str();
          const n = r.u32();
          const heap32 = r.heap32;
          const sockets = this.sockets.sockets;
          for (let i = r.slots(n), end = i + n; i < end; i++) {
            const slot = heap32[i];
            try {
              sockets[slot].send(text);
            } catch (err) {
              console.warn(logSafe(`durable-rooms: send to slot ${slot} failed: ${err?.message ?? err}`));
            }
          }
          break;
        }
        case EffectKind.Close: {
          const slot = r.u32();
          const code = r.u32();
          const reason = r.str();
          try {
            this.sockets.at(slot).close(code, reason);
          } catch (err) {
            console.warn(logSafe(`durable-rooms: close of slot ${slot} failed: ${err?.message ?? err}`));
          }
          break;
        }
        case EffectKind.Attach: {
          const slot = r.u32();
          const text = r.str();
          try {
            this.sockets.at(slot).serializeAttachment(text);
          } catch (err) {
            console.warn(logSafe(`durable-rooms: attachment of slot ${slot} not written: ${err?.message ?? err}`));
          }
          break;
        }
        case EffectKind.Put: {
          const key = r.str();
          this.claim();
          ctx.storage.kv.put(key, r.str());
          break;
        }
        case EffectKind.Delete:
          ctx.storage.kv.delete(r.str());
          break;
        case EffectKind.SetAlarm: {
          const time = r.f64();
          this.claim();
          this.io.push(ctx.storage.setAlarm(time));
          break;
        }
        case EffectKind.ClearAlarm:
          this.io.push(ctx.storage.deleteAlarm());
          break;
        case EffectKind.Call: {
          const e = { callId: r.u32(), room: r.str(), id: r.str(), op: r.u32(), text: r.str() };
          this.io.push(this.call(e));
          break;
        }
        case EffectKind.Reply: {
          const req = r.u32();
          const ok = r.u32() === 1;
          const tag = r.str();
          this.requests.reply(req, ok, tag, r.str());
          break;
        }
        case EffectKind.Log: {
          const level = r.u32();
          console[CONSOLE[level] ?? "log"](logSafe(`[durable-rooms ${this.label()}] ${r.str()}`));
          break;
        }
        case EffectKind.FlushAfter:
          this.flushAfter(r.f64());
          break;
        default:
          throw unknownKind(kind);
      }
    }
  }
}
