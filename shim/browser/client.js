// durable-rooms/client: a room's WebSocket, for browsers and node 20.
//
//   import { connect } from "durable-rooms/client";
//   const room = connect("wss://example.com/ws/chat/lobby?userId=ada");
//   room.on("Message", (m) => console.log(m.userId, m.text));
//   room.send({ _tag: "Say", text: "hi" });
//
// What it adds to a bare WebSocket, following docs/PROTOCOL.md: reconnects
// with exponential backoff and full jitter; buffers sends while offline (up
// to `bufferSize` frames; a send beyond that is refused); pings the room's
// auto-response and replaces a socket that stops answering; resumes with the
// last `$seq` it saw; unpacks coalesced frames; folds presence frames into
// `presence`/`others`; reports runtime frames (`$rooms`) apart from the
// room's own broadcasts. No dependencies; one file; ESM.

/** Defaults of every option (README "The client"). */
export const DEFAULTS = Object.freeze({
  /** Backoff before reconnect attempt n (0-based): random() * min(cap, base * factor^n) ms. */
  backoff: Object.freeze({ base: 500, cap: 30_000, factor: 2 }),
  /** Frames kept while offline; a send beyond them is refused (send() returns false). */
  bufferSize: 100,
  /** Ping every `interval` ms; no frame within `timeout` ms of a ping: the socket is dead. */
  heartbeat: Object.freeze({ interval: 10_000, timeout: 5_000, ping: "ping", pong: "pong" }),
  /** The query parameter that carries the last sequence number on reconnect. */
  resumeParam: "resume",
});

// Close codes after which the client does not reconnect: 1000 (the room
// closed it normally: it was sent away) and 1012 (another socket with the same
// connection id replaced this one; reconnecting would evict that one in turn).
const FINAL_CODES = new Set([1000, 1012]);
const OPEN = 1;

/** The wait before reconnect attempt `attempt` (0-based): full jitter, in [0, min(cap, base * factor^attempt)). */
export function backoffDelay(attempt, backoff = DEFAULTS.backoff, random = Math.random) {
  const { base, cap, factor } = { ...DEFAULTS.backoff, ...backoff };
  const ceiling = Math.min(cap, base * factor ** attempt);
  return Math.floor(random() * ceiling);
}

/** Opens a client on `url` (ws:, wss:, http:, https:, or a path resolved against the page's location). */
export function connect(url, options = {}) {
  return new RoomClient(url, options);
}

export class RoomClient {
  #source;
  #opts;
  #WebSocket;
  #timers;
  #random;
  #hb;
  #ws = null;
  #status = "connecting";
  #attempt = 0;
  #everOpen = false;
  #reconnectTimer = null;
  #pingTimer = null;
  #deadlineTimer = null;
  #holdTimer = null;
  #buffer = [];
  #seq;
  #self = null;
  #presence = {};
  #handlers = new Map();

  constructor(url, options = {}) {
    this.#source = url;
    this.#opts = options;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== "function") {
      throw new TypeError("durable-rooms/client: no WebSocket implementation; pass one as the WebSocket option (e.g. ws's)");
    }
    const t = options.timers ?? {};
    this.#timers = {
      set: t.setTimeout ?? ((f, ms) => setTimeout(f, ms)),
      clear: t.clearTimeout ?? ((h) => clearTimeout(h)),
    };
    this.#random = options.random ?? Math.random;
    this.#hb = options.heartbeat === false ? null : { ...DEFAULTS.heartbeat, ...(options.heartbeat === true ? {} : options.heartbeat) };
    this.#seq = Number.isSafeInteger(options.seq) ? options.seq : null;
    // A URL that cannot be parsed is the caller's mistake: thrown here, not retried.
    if (typeof url !== "function") this.#url();
    this.#open();
  }

  /** "connecting" (before the first open), "open", "reconnecting", "closed". */
  get status() {
    return this.#status;
  }
  /** The last `$seq` received, or null (the room has resume off, or nothing arrived yet). */
  get lastSeq() {
    return this.#seq;
  }
  /** This socket's presence key (from the room's Presence frame), or null. */
  get self() {
    return this.#self;
  }
  /** Presence: key → entries ({ref, meta}), every socket of the room (this one too). */
  get presence() {
    return this.#presence;
  }
  /** Presence without this socket's key. */
  get others() {
    const out = {};
    for (const key of Object.keys(this.#presence)) if (key !== this.#self) out[key] = this.#presence[key];
    return out;
  }
  /** Frames waiting for a socket. */
  get buffered() {
    return this.#buffer.length;
  }

  /**
   * Sends an event of the room. Sent now when the socket is open, kept in
   * order otherwise (up to bufferSize frames). Returns false when refused: the
   * buffer is full (an error event `SendBufferFull`) or the client is closed.
   */
  send(event) {
    const text = JSON.stringify(event);
    if (this.#status === "closed") {
      this.#emit("error", { _tag: "ClientClosed", message: "send() after close()", event });
      return false;
    }
    if (this.#ws?.readyState === OPEN && this.#buffer.length === 0 && this.#holdTimer === null) {
      this.#ws.send(text);
      return true;
    }
    const limit = this.#opts.bufferSize ?? DEFAULTS.bufferSize;
    if (this.#buffer.length >= limit) {
      this.#emit("error", { _tag: "SendBufferFull", message: `send buffer full (${limit} frames) while offline`, limit, event });
      return false;
    }
    this.#buffer.push(text);
    return true;
  }

  /**
   * Subscribes `handler`; returns the unsubscribe function. Names: a
   * broadcast `_tag`, "message" (every broadcast), or one of "open", "close",
   * "status", "error", "runtime", "presence", "join", "leave".
   */
  on(name, handler) {
    let set = this.#handlers.get(name);
    if (!set) this.#handlers.set(name, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }
  /** (key, joined entries, all of key's entries). */
  onJoin(handler) {
    return this.on("join", handler);
  }
  /** (key, left entries, key's remaining entries). */
  onLeave(handler) {
    return this.on("leave", handler);
  }
  /** Every runtime frame (`$rooms`: Presence, PresenceDiff, RateLimitError, ResyncRequired, …). */
  onRuntime(handler) {
    return this.on("runtime", handler);
  }

  /** Closes for good: no reconnect, the buffer is dropped. */
  close(code = 1000, reason = "") {
    if (this.#status === "closed") return;
    this.#stopTimers();
    if (this.#holdTimer !== null) this.#timers.clear(this.#holdTimer);
    this.#holdTimer = null;
    this.#buffer = [];
    const ws = this.#ws;
    this.#ws = null;
    this.#setStatus("closed");
    if (ws) {
      detach(ws);
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
      this.#emit("close", { code, reason, willReconnect: false });
    }
  }

  // ---- one socket's life -------------------------------------------------------

  #open() {
    let ws;
    try {
      ws = new this.#WebSocket(this.#url(), this.#opts.protocols);
    } catch (e) {
      this.#emit("error", { _tag: "ConnectError", message: e instanceof Error ? e.message : String(e) });
      this.#lost(null, { code: 1006, reason: "could not connect" });
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      const reconnected = this.#everOpen;
      this.#everOpen = true;
      this.#attempt = 0;
      this.#setStatus("open");
      this.#armPing();
      this.#flush();
      this.#emit("open", { reconnected });
    };
    ws.onmessage = (ev) => this.#receive(ev.data);
    ws.onclose = (ev) => this.#lost(ws, { code: ev.code, reason: ev.reason });
    // An error is followed by close; nothing to do here but stay quiet.
    ws.onerror = () => {};
  }

  // Sends what waits, unless the room asked for a pause (RateLimitError).
  #flush() {
    const ws = this.#ws;
    if (ws?.readyState !== OPEN || this.#holdTimer !== null) return;
    const queued = this.#buffer;
    this.#buffer = [];
    for (const text of queued) ws.send(text);
  }

  #url() {
    const raw = typeof this.#source === "function" ? this.#source() : this.#source;
    const u = new URL(String(raw), globalThis.location?.href);
    if (u.protocol === "http:") u.protocol = "ws:";
    else if (u.protocol === "https:") u.protocol = "wss:";
    if (this.#opts.resume !== false && this.#seq !== null) {
      u.searchParams.set(this.#opts.resumeParam ?? DEFAULTS.resumeParam, String(this.#seq));
    }
    return u.toString();
  }

  // The socket `ws` is gone (null: it never was): report, then reconnect
  // unless closed for good.
  #lost(ws, { code, reason }) {
    if (ws !== null && ws !== this.#ws) return;
    if (ws) detach(ws);
    this.#ws = null;
    this.#stopTimers();
    const retry = this.#opts.shouldReconnect ?? ((info) => !FINAL_CODES.has(info.code));
    const willReconnect = this.#status !== "closed" && retry({ code, reason });
    this.#emit("close", { code, reason, willReconnect });
    if (!willReconnect) {
      this.#buffer = [];
      this.#setStatus("closed");
      return;
    }
    this.#setStatus(this.#everOpen ? "reconnecting" : "connecting");
    const wait = backoffDelay(this.#attempt++, this.#opts.backoff, this.#random);
    this.#reconnectTimer = this.#timers.set(() => {
      this.#reconnectTimer = null;
      this.#open();
    }, wait);
  }

  // ---- heartbeat ------------------------------------------------------------------

  // Pings every interval whatever arrives (the room's stale timer counts what
  // it receives); a ping with no frame of any kind back within the timeout
  // means the socket is dead.
  #armPing() {
    if (!this.#hb) return;
    this.#pingTimer = this.#timers.set(() => {
      this.#pingTimer = null;
      const ws = this.#ws;
      if (ws?.readyState !== OPEN) return;
      ws.send(this.#hb.ping);
      if (this.#deadlineTimer === null) {
        this.#deadlineTimer = this.#timers.set(() => {
          this.#deadlineTimer = null;
          this.#dead(ws);
        }, this.#hb.timeout);
      }
      this.#armPing();
    }, this.#hb.interval);
  }

  #dead(ws) {
    if (ws !== this.#ws) return;
    detach(ws);
    // ws's terminate() drops the TCP connection at once; a browser socket
    // only has close(), whose handshake may never finish: it is detached.
    try {
      if (typeof ws.terminate === "function") ws.terminate();
      else ws.close(4000, "heartbeat timeout");
    } catch {}
    this.#lost(ws, { code: 4000, reason: "heartbeat timeout" });
  }

  #stopTimers() {
    for (const h of [this.#reconnectTimer, this.#pingTimer, this.#deadlineTimer]) if (h !== null) this.#timers.clear(h);
    this.#reconnectTimer = this.#pingTimer = this.#deadlineTimer = null;
  }

  // ---- inbound ------------------------------------------------------------------

  #receive(data) {
    if (this.#deadlineTimer !== null) {
      this.#timers.clear(this.#deadlineTimer);
      this.#deadlineTimer = null;
    }
    if (typeof data !== "string") {
      this.#emit("error", { _tag: "InvalidFrame", message: "binary frame", frame: data });
      return;
    }
    if (this.#hb && data === this.#hb.pong) return;
    let value;
    try {
      value = JSON.parse(data);
    } catch {
      this.#emit("error", { _tag: "InvalidFrame", message: "frame is not JSON", frame: data });
      return;
    }
    // A JSON array is a coalesced frame: its elements, in order.
    if (Array.isArray(value)) for (const f of value) this.#frame(f);
    else this.#frame(value);
  }

  #frame(f) {
    if (f === null || typeof f !== "object" || Array.isArray(f)) {
      this.#emit("error", { _tag: "InvalidFrame", message: "frame is not a JSON object", frame: f });
      return;
    }
    if (Object.hasOwn(f, "$seq")) {
      const { $seq, ...rest } = f;
      if (Number.isSafeInteger($seq) && (this.#seq === null || $seq > this.#seq)) this.#seq = $seq;
      f = rest;
    }
    if (Object.hasOwn(f, "$rooms")) {
      this.#runtime(f);
      return;
    }
    const validate = this.#opts.validate;
    if (validate && !validate(f)) {
      this.#emit("error", { _tag: "InvalidFrame", message: "frame failed validation", frame: f, errors: validate.errors ?? null });
      return;
    }
    this.#emit(f._tag, f);
    this.#emit("message", f);
  }

  #runtime(f) {
    switch (f.$rooms) {
      case "Presence":
        this.#replacePresence(f.self ?? null, f.state ?? {});
        break;
      case "PresenceDiff":
        this.#applyDiff(f.joins ?? {}, f.leaves ?? {});
        break;
      case "RateLimitError":
        // The room drops what we send for retryAfterMs: hold sends until then.
        if (Number.isFinite(f.retryAfterMs) && f.retryAfterMs > 0 && this.#holdTimer === null) {
          this.#holdTimer = this.#timers.set(() => {
            this.#holdTimer = null;
            this.#flush();
          }, f.retryAfterMs);
        }
        this.#emit("error", { _tag: "RateLimitError", message: `over the room's inbound ${f.limit} limit; retry after ${f.retryAfterMs} ms`, limit: f.limit, retryAfterMs: f.retryAfterMs });
        break;
      case "ResyncRequired":
        // The frames since lastSeq are lost; resume from the room's latest.
        if (Number.isSafeInteger(f.seq)) this.#seq = f.seq;
        this.#emit("error", { _tag: "ResyncRequired", message: "the room's buffer no longer reaches the last frame seen; reload what you show", seq: f.seq });
        break;
    }
    this.#emit("runtime", f);
  }

  // ---- presence -----------------------------------------------------------------

  // A Presence frame (on every connect): the whole state. Against what was
  // known before (a reconnect), entries gone are leaves and new ones joins.
  #replacePresence(self, state) {
    const before = this.#presence;
    this.#self = self;
    this.#presence = {};
    for (const [key, entries] of Object.entries(state)) if (entries.length > 0) this.#presence[key] = [...entries];
    const refs = (m) => new Set(Object.values(m).flat().map((e) => e.ref));
    const now = refs(this.#presence);
    const was = refs(before);
    const leaves = {};
    for (const [key, entries] of Object.entries(before)) {
      const gone = entries.filter((e) => !now.has(e.ref));
      if (gone.length) leaves[key] = gone;
    }
    const joins = {};
    for (const [key, entries] of Object.entries(this.#presence)) {
      const come = entries.filter((e) => !was.has(e.ref));
      if (come.length) joins[key] = come;
    }
    this.#announce(joins, leaves);
  }

  // Leaves first: a changed meta is a leave and a join of the same ref.
  #applyDiff(joins, leaves) {
    for (const [key, gone] of Object.entries(leaves)) {
      const refs = new Set(gone.map((e) => e.ref));
      const kept = (this.#presence[key] ?? []).filter((e) => !refs.has(e.ref));
      if (kept.length) this.#presence[key] = kept;
      else delete this.#presence[key];
    }
    for (const [key, come] of Object.entries(joins)) this.#presence[key] = [...(this.#presence[key] ?? []), ...come];
    this.#announce(joins, leaves);
  }

  #announce(joins, leaves) {
    for (const [key, gone] of Object.entries(leaves)) this.#emit("leave", key, gone, this.#presence[key] ?? []);
    for (const [key, come] of Object.entries(joins)) this.#emit("join", key, come, this.#presence[key] ?? []);
    this.#emit("presence", this.#presence);
  }

  // ---- events -------------------------------------------------------------------

  #setStatus(status) {
    if (status === this.#status) return;
    this.#status = status;
    this.#emit("status", status);
  }

  // A handler that throws does not stop the others or the client; its error
  // goes to reportError (the browser's console) or, where there is none
  // (node), is rethrown outside the client as an uncaught exception.
  #emit(name, ...args) {
    const set = this.#handlers.get(name);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(...args);
      } catch (e) {
        if (typeof globalThis.reportError === "function") globalThis.reportError(e);
        else
          queueMicrotask(() => {
            throw e;
          });
      }
    }
  }
}

function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = null;
  ws.onerror = () => {};
}
