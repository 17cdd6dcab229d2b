// The Wasm core of one room, as the Durable Object sees it: numbers and
// strings in, a batch of effects out. No room logic lives here.
//
// Each call writes its text into the core's input buffer with
// TextEncoder.encodeInto, crosses into Wasm once, and reads the effect batch
// the core left in linear memory (layout: wasm/core/rooms/effects.h).

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const Effect = Object.freeze({
  Accept: 1,
  Frame: 2,
  Close: 3,
  Attach: 4,
  Put: 5,
  Delete: 6,
  SetAlarm: 7,
  ClearAlarm: 8,
  Call: 9,
  Reply: 10,
  Log: 11,
});

export const CallOp = Object.freeze({ 1: "send", 2: "getState", 3: "broadcast" });

// Instantiates the compiled module (imported by the worker as CompiledWasm)
// without compiling from bytes or fetching, both of which workerd forbids.
export async function loadCore(wasmModule, factory, host) {
  const mod = await factory({
    host,
    instantiateWasm(imports, receive) {
      const instance = new WebAssembly.Instance(wasmModule, imports);
      receive(instance);
      return instance.exports;
    },
  });
  return new Core(mod);
}

export class Core {
  constructor(mod) {
    this.m = mod;
    this.maxFrame = 0;
    this.reader = new BatchReader();
  }

  // Writes the strings back to back into the input buffer; returns their
  // UTF-8 lengths.
  write(...strings) {
    let cap = 0;
    for (const s of strings) cap += s.length * 3;
    const ptr = this.m._rooms_input(cap);
    const heap = this.m.HEAPU8;
    const lens = [];
    let off = ptr;
    for (const s of strings) {
      const { written } = encoder.encodeInto(s, heap.subarray(off, ptr + cap));
      lens.push(written);
      off += written;
    }
    return lens;
  }

  init(name, id) {
    const [n, i] = this.write(name, id);
    if (this.m._rooms_init(n, i) !== 0) return false;
    this.maxFrame = this.m._rooms_max_frame();
    return true;
  }

  // A WebSocket frame. Text beyond the room's frame limit is cut at one byte
  // over it, so the core refuses it without this side deciding anything.
  message(slot, data) {
    const limit = this.maxFrame + 1;
    if (typeof data === "string") {
      const cap = Math.min(data.length * 3, limit);
      const ptr = this.m._rooms_input(cap);
      const { read, written } = encoder.encodeInto(data, this.m.HEAPU8.subarray(ptr, ptr + cap));
      const len = read < data.length ? limit : written;
      return this.m._rooms_message(slot, len, 0);
    }
    const bytes = new Uint8Array(data);
    const len = Math.min(bytes.length, limit);
    const ptr = this.m._rooms_input(len);
    this.m.HEAPU8.set(bytes.subarray(0, len), ptr);
    return this.m._rooms_message(slot, len, 1);
  }

  closed(slot, code, reason) {
    const [r] = this.write(reason ?? "");
    return this.m._rooms_closed(slot, code, r);
  }

  upgrade(req, optsJson) {
    const [n] = this.write(optsJson);
    return this.m._rooms_upgrade(req, n);
  }

  alarm(req, retryCount, isRetry) {
    return this.m._rooms_alarm(req, retryCount, isRetry ? 1 : 0);
  }

  fireAlarm(req) {
    return this.m._rooms_fire_alarm(req);
  }

  send(req, eventJson) {
    const [n] = this.write(eventJson);
    return this.m._rooms_send(req, n);
  }

  getState(req) {
    return this.m._rooms_get_state(req);
  }

  getConnections(req, tag) {
    if (tag === undefined || tag === null) return this.m._rooms_get_connections(req, 0, 0);
    const [n] = this.write(tag);
    return this.m._rooms_get_connections(req, 1, n);
  }

  broadcast(req, msgJson) {
    const [n] = this.write(msgJson);
    return this.m._rooms_broadcast(req, n);
  }

  resume(callId, ok, tag, payload) {
    const [t, p] = this.write(tag ?? "", payload ?? "");
    return this.m._rooms_resume(callId, ok ? 1 : 0, t, p);
  }

  // Decodes the batch at `view` ({u32 ptr, u32 len}) into plain records.
  // Each frame's bytes become one string, whatever the number of recipients;
  // its recipients are a view on Wasm memory, valid until the next call into
  // the core (apply them before that).
  effects(view) {
    const heap = this.m.HEAPU8;
    const r = this.reader;
    if (r.heap !== heap) {
      // Memory grew (or first use): new views.
      r.heap = heap;
      r.dv = new DataView(heap.buffer);
    }
    const start = r.dv.getUint32(view, true);
    const end = start + r.dv.getUint32(view + 4, true);
    r.p = start;
    const out = [];
    while (r.p < end) {
      const kind = heap[r.p++];
      switch (kind) {
        case Effect.Accept: {
          const req = r.u32();
          const slot = r.u32();
          const tags = [];
          for (let n = r.u32(); n > 0; n--) tags.push(r.str());
          out.push({ kind, req, slot, tags, text: r.str() });
          break;
        }
        case Effect.Frame: {
          const text = r.str();
          const n = r.u32();
          r.p = start + ((r.p - start + 3) & ~3);
          out.push({ kind, text, slots: new Uint32Array(heap.buffer, r.p, n) });
          r.p += 4 * n;
          break;
        }
        case Effect.Close:
          out.push({ kind, slot: r.u32(), code: r.u32(), text: r.str() });
          break;
        case Effect.Attach:
          out.push({ kind, slot: r.u32(), text: r.str() });
          break;
        case Effect.Put:
          out.push({ kind, key: r.str(), text: r.str() });
          break;
        case Effect.Delete:
          out.push({ kind, key: r.str() });
          break;
        case Effect.SetAlarm:
          out.push({ kind, time: r.f64() });
          break;
        case Effect.ClearAlarm:
          out.push({ kind });
          break;
        case Effect.Call:
          out.push({ kind, callId: r.u32(), room: r.str(), id: r.str(), op: CallOp[r.u32()], text: r.str() });
          break;
        case Effect.Reply:
          out.push({ kind, req: r.u32(), ok: r.u32() === 1, tag: r.str(), text: r.str() });
          break;
        case Effect.Log:
          out.push({ kind, level: r.u32(), text: r.str() });
          break;
        default:
          throw new Error(`durable-rooms: unknown effect kind ${kind} in batch`);
      }
    }
    return out;
  }
}

// A cursor over a batch in Wasm memory; one per core, reused by every call.
class BatchReader {
  constructor() {
    this.heap = null;
    this.dv = null;
    this.p = 0;
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
  str() {
    const n = this.u32();
    const s = n === 0 ? "" : decoder.decode(this.heap.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
}
