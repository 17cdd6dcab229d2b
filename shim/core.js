// The Wasm core of one room, as the Durable Object sees it: numbers and
// strings in, a batch of effects out. No room logic lives here.
//
// Each call writes its text into the core's input buffer with
// TextEncoder.encodeInto, crosses into Wasm once, and reads the effect batch
// the core left in linear memory (layout: wasm/core/src/runtime/effects.h).

import { EffectKind, HostOp } from "./wire.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Instantiates the compiled module (imported by the worker as CompiledWasm)
// without compiling from bytes or fetching, both of which workerd forbids.
// `host`: what the core may read from the platform, {randomId(),
// load(key), loadConnections(), loadAttachment(slot), env(key),
// autoResponseTime(slot)}, each answering a string or null (rooms::Host,
// wasm/core/src/runtime/host.h).
export async function loadCore(wasmModule, factory, host) {
  const mod = await factory({
    host: hostTable(host),
    instantiateWasm(imports, receive) {
      const instance = new WebAssembly.Instance(wasmModule, imports);
      receive(instance);
      return instance.exports;
    },
  });
  return new Core(mod);
}

// The bindings call `Module.host[op](key, arg)` with op a HostOp: the table
// of `host`'s reads, keyed by the generated constants.
export function hostTable(host) {
  return {
    [HostOp.RandomId]: () => host.randomId(),
    [HostOp.Load]: (key) => host.load(key),
    [HostOp.LoadConnections]: () => host.loadConnections(),
    [HostOp.LoadAttachment]: (_key, slot) => host.loadAttachment(slot),
    [HostOp.Env]: (key) => host.env(key),
    [HostOp.AutoResponseTime]: (_key, slot) => host.autoResponseTime(slot),
  };
}

export class Core {
  constructor(mod) {
    this.m = mod;
    this.maxFrame = 0; // the room's limits, known after init
    this.maxReply = 0;
    this.reader = new BatchReader();
  }

  // Writes `text` into the input buffer at byte `at` and returns its UTF-8
  // length, keeping at most `limit` bytes: longer text is cut and reported as
  // `limit` bytes long (the bytes past the cut are whatever the buffer held),
  // so a core that accepts at most `limit - 1` refuses it with its own typed
  // error, and this side decides nothing. Reserves at most `limit` bytes of
  // Wasm memory, whatever the length of `text`: memory a Wasm instance grows
  // is never given back.
  put(at, text, limit) {
    const cap = Math.min(text.length * 3, limit);
    const ptr = this.m._rooms_input(at + cap);
    const { read, written } = encoder.encodeInto(text, this.m.HEAPU8.subarray(ptr + at, ptr + at + cap));
    return read < text.length ? limit : written;
  }

  // Before init the room's limits are unknown; name and id are copied whole.
  init(name, id) {
    const n = this.put(0, name, Infinity);
    const i = this.put(n, id, Infinity);
    if (this.m._rooms_init(n, i) !== 0) return false;
    this.maxFrame = this.m._rooms_max_frame();
    this.maxReply = this.m._rooms_max_reply();
    return true;
  }

  // The room type's heartbeat, {request, response}, or null (after init).
  heartbeat() {
    const view = this.m._rooms_heartbeat();
    const dv = new DataView(this.m.HEAPU8.buffer);
    let p = dv.getUint32(view, true);
    if (dv.getUint32(view + 4, true) === 0) return null;
    const part = () => {
      const n = dv.getUint32(p, true);
      const s = decoder.decode(this.m.HEAPU8.subarray(p + 4, p + 4 + n));
      p += 4 + n;
      return s;
    };
    const request = part();
    return { request, response: part() };
  }

  // Every text below is copied up to the room's frame limit plus one byte
  // (a frame, upgrade options, a request's event, message or tag, a close
  // reason), a sibling's reply up to the longest reply the core decodes plus
  // one: the core refuses the excess with its own typed error.

  // A WebSocket frame, text or binary.
  message(slot, data) {
    if (typeof data === "string") return this.m._rooms_message(slot, this.put(0, data, this.maxFrame + 1), 0);
    const bytes = new Uint8Array(data);
    const len = Math.min(bytes.length, this.maxFrame + 1);
    const ptr = this.m._rooms_input(len);
    this.m.HEAPU8.set(bytes.subarray(0, len), ptr);
    return this.m._rooms_message(slot, len, 1);
  }

  closed(slot, code, reason) {
    return this.m._rooms_closed(slot, code, this.put(0, reason ?? "", this.maxFrame + 1));
  }

  upgrade(req, optsJson) {
    return this.m._rooms_upgrade(req, this.put(0, optsJson, this.maxFrame + 1));
  }

  alarm(req, retryCount, isRetry) {
    return this.m._rooms_alarm(req, retryCount, isRetry ? 1 : 0);
  }

  // The timer of a FlushAfter effect fired: coalesced frames leave.
  flush() {
    return this.m._rooms_flush();
  }

  // A request to the room: `op` a RequestOp, `arg` its text (event or
  // message JSON, a tag) or null/undefined for none.
  request(op, req, arg) {
    if (arg === undefined || arg === null) return this.m._rooms_request(op, req, 0, 0);
    return this.m._rooms_request(op, req, this.put(0, arg, this.maxFrame + 1), 1);
  }

  // The outcome of a sibling call: its error tag (empty when ok) and payload.
  resume(callId, ok, tag, payload) {
    const t = this.put(0, tag ?? "", this.maxFrame + 1);
    const p = this.put(t, payload ?? "", this.maxReply + 1);
    return this.m._rooms_resume(callId, ok ? 1 : 0, t, p);
  }

  // The batch at `view` ({u32 ptr, u32 len}), as a cursor: `r.more()`, then
  // `r.kind()` and that kind's fields in their order (effects.h), each read
  // once, straight from Wasm memory. A frame's recipients are not copied:
  // after `r.str()` and `r.u32()` (their count n), `r.slots()` aligns and
  // returns the index of the first in `r.heap32` (valid until the next call
  // into the core: apply them before that). The applier (effects.js) walks
  // it; effects() below makes records of it for tests and benchmarks.
  batch(view) {
    const heap = this.m.HEAPU8;
    const r = this.reader;
    if (r.heap !== heap) {
      // Memory grew (or first use): new views.
      r.heap = heap;
      r.dv = new DataView(heap.buffer);
      r.heap32 = new Uint32Array(heap.buffer);
    }
    r.start = r.dv.getUint32(view, true);
    r.end = r.start + r.dv.getUint32(view + 4, true);
    r.p = r.start;
    return r;
  }

  // The batch at `view` as plain records (tests, benchmarks).
  effects(view) {
    const r = this.batch(view);
    const out = [];
    while (r.more()) {
      const kind = r.kind();
      switch (kind) {
        case EffectKind.Accept: {
          const req = r.u32();
          const slot = r.u32();
          const tags = r.strs();
          out.push({ kind, req, slot, tags, text: r.str() });
          break;
        }
        case EffectKind.Frame: {
          const text = r.str();
          const n = r.u32();
          out.push({ kind, text, heap32: r.heap32, at: r.slots(n), n });
          break;
        }
        case EffectKind.Close:
          out.push({ kind, slot: r.u32(), code: r.u32(), text: r.str() });
          break;
        case EffectKind.Attach:
          out.push({ kind, slot: r.u32(), text: r.str() });
          break;
        case EffectKind.Put:
          out.push({ kind, key: r.str(), text: r.str() });
          break;
        case EffectKind.Delete:
          out.push({ kind, key: r.str() });
          break;
        case EffectKind.SetAlarm:
          out.push({ kind, time: r.f64() });
          break;
        case EffectKind.ClearAlarm:
          out.push({ kind });
          break;
        case EffectKind.Call:
          out.push({ kind, callId: r.u32(), room: r.str(), id: r.str(), op: r.u32(), text: r.str() });
          break;
        case EffectKind.Reply:
          out.push({ kind, req: r.u32(), ok: r.u32() === 1, tag: r.str(), text: r.str() });
          break;
        case EffectKind.Log:
          out.push({ kind, level: r.u32(), text: r.str() });
          break;
        case EffectKind.FlushAfter:
          out.push({ kind, time: r.f64() });
          break;
        default:
          throw unknownKind(kind);
      }
    }
    return out;
  }
}

export function unknownKind(kind) {
  return new Error(`durable-rooms: unknown effect kind ${kind} in batch`);
}

// A cursor over a batch in Wasm memory; one per core, reused by every call.
class BatchReader {
  constructor() {
    this.heap = null;
    this.dv = null;
    this.heap32 = null;
    this.start = 0;
    this.end = 0;
    this.p = 0;
  }
  more() {
    return this.p < this.end;
  }
  kind() {
    return this.heap[this.p++];
  }
  // After a frame's count `n`: skips the padding and the n slots; returns
  // the index in heap32 of the first.
  slots(n) {
    this.p = this.start + ((this.p - this.start + 3) & ~3);
    const at = this.p >>> 2;
    this.p += 4 * n;
    return at;
  }
  u32() {
    const v = this.dv.getUint32(this.p, true);
    this.p += 4;
    return v;
  }
  f64() {
    const v = this.dv.getFloat64(this.p, true);
    this.p += 8;
    return v;
  }
  // A count, then that many strings.
  strs() {
    const out = [];
    for (let n = this.u32(); n > 0; n--) out.push(this.str());
    return out;
  }
  str() {
    const n = this.u32();
    const s = n === 0 ? "" : decoder.decode(this.heap.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
}
