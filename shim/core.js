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
  // Each frame's bytes become one string, whatever the number of recipients.
  effects(view) {
    const heap = this.m.HEAPU8;
    const dv = new DataView(heap.buffer);
    let p = dv.getUint32(view, true);
    const end = p + dv.getUint32(view + 4, true);
    const u32 = () => {
      const v = dv.getUint32(p, true);
      p += 4;
      return v;
    };
    const str = () => {
      const n = u32();
      const s = n === 0 ? "" : decoder.decode(heap.subarray(p, p + n));
      p += n;
      return s;
    };
    const out = [];
    while (p < end) {
      const kind = heap[p++];
      switch (kind) {
        case Effect.Accept: {
          const req = u32();
          const slot = u32();
          const tags = [];
          for (let n = u32(); n > 0; n--) tags.push(str());
          out.push({ kind, req, slot, tags, text: str() });
          break;
        }
        case Effect.Frame: {
          const text = str();
          const n = u32();
          const slots = new Uint32Array(n);
          for (let i = 0; i < n; i++) slots[i] = u32();
          out.push({ kind, text, slots });
          break;
        }
        case Effect.Close:
          out.push({ kind, slot: u32(), code: u32(), text: str() });
          break;
        case Effect.Attach:
          out.push({ kind, slot: u32(), text: str() });
          break;
        case Effect.Put:
          out.push({ kind, key: str(), text: str() });
          break;
        case Effect.Delete:
          out.push({ kind, key: str() });
          break;
        case Effect.SetAlarm: {
          const time = dv.getFloat64(p, true);
          p += 8;
          out.push({ kind, time });
          break;
        }
        case Effect.ClearAlarm:
          out.push({ kind });
          break;
        case Effect.Call:
          out.push({ kind, callId: u32(), room: str(), id: str(), op: CallOp[u32()], text: str() });
          break;
        case Effect.Reply:
          out.push({ kind, req: u32(), ok: u32() === 1, tag: str(), text: str() });
          break;
        case Effect.Log:
          out.push({ kind, level: u32(), text: str() });
          break;
        default:
          throw new Error(`durable-rooms: unknown effect kind ${kind} in batch`);
      }
    }
    return out;
  }
}
