// Shared helpers for the end-to-end suites (tests/e2e/*.test.mjs): WebSocket
// clients that record what they receive and wait on conditions, and small
// fetch wrappers for the JSON routes. Nothing here knows a room's schemas.
//
//   import { startServer } from "./server.mjs";
//   import { clientPool, fetchJson, openChat, tagged, uniqueId } from "./helpers.mjs";
//
//   test("say", async (t) => {
//     const pool = clientPool(t);              // closes its sockets after t
//     const room = uniqueId("say");
//     const alice = await pool.add(openChat(base, room, "alice"));
//     alice.send({ _tag: "Say", text: "hi" });
//     const msg = await alice.waitFor(tagged("Message", { text: "hi" }));
//   });
//
// Waits never sleep a fixed time: they resolve as soon as the condition holds
// and fail after a timeout (DEFAULT_TIMEOUT_MS unless given) with a message
// that lists what was received. A wait on a client fails at once when its
// socket closes, since nothing more can arrive.

import WebSocket from "ws";

export { WebSocket };

/** Timeout of every wait in this module unless a call passes `timeout`. */
export const DEFAULT_TIMEOUT_MS = 3000;

/** Resolves after `ms` milliseconds. Use only for short, bounded quiet periods. */
export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
/** A room (or user) id unique to this process and call: `${prefix}-<pid>-<n>-<random>`. */
export function uniqueId(prefix = "room") {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** `http://host:port` (or https) → `ws://host:port` (or wss), plus `path`. */
export function toWsUrl(baseUrl, path = "") {
  return baseUrl.replace(/^http/, "ws").replace(/\/$/, "") + path;
}

/** Short, printable form of a value for failure messages. */
export function preview(value, max = 300) {
  let s;
  try {
    s = typeof value === "string" ? value : JSON.stringify(value);
  } catch {
    s = String(value);
  }
  if (s === undefined) s = String(value);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

/**
 * Rejects with `Error("timed out after <ms> ms: <what>")` unless `promise`
 * settles first. `what` may be a function, called only on timeout.
 */
export function withTimeout(promise, ms, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${typeof what === "function" ? what() : what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `predicate` (sync or async) every `interval` ms until it returns a
 * truthy value, which it resolves with. Fails after `timeout` ms; the error
 * names `message` and the last value or error the predicate gave.
 */
export async function waitUntil(predicate, { timeout = DEFAULT_TIMEOUT_MS, interval = 20, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await predicate();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message}; last: ${preview(last instanceof Error ? last.message : last)}`);
    }
    await delay(interval);
  }
}

// ---- Message predicates ------------------------------------------------------

/**
 * A predicate for parsed messages: `_tag === tag` and every key of `fields`
 * strictly equal. `tagged("Message", { text: "hi" })`.
 */
export function tagged(tag, fields = {}) {
  const pred = (m) =>
    m !== null && typeof m === "object" && m._tag === tag && Object.entries(fields).every(([k, v]) => m[k] === v);
  pred.description = `${tag} ${preview(fields)}`;
  return pred;
}

// ---- WebSocket client ----------------------------------------------------------

/** Every Client still open, for suites that want a last sweep in after(). */
const live = new Set();

/**
 * One WebSocket with a record of what it received.
 *
 *   messages  parsed JSON of every text frame, in arrival order (a text frame
 *             that is not JSON is kept as { _unparsed: text })
 *   frames    every frame as received: strings for text, Buffers for binary
 *   closed    Promise<{ code, reason }> of the close event (1006 if the
 *             connection dropped without a close frame); never rejects
 *   closeInfo the same once closed, else null
 *
 * Cursor helpers: `mark()` returns the number of messages so far; pass it as
 * `from` to waitFor or to `since()` to look only at what came later. `next()`
 * consumes messages in order through an internal cursor.
 */
export class Client {
  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    this.messages = [];
    this.frames = [];
    this.errors = [];
    this.closeInfo = null;
    this.cursor = 0;
    this.waiters = new Set();
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        live.delete(this);
        for (const w of this.waiters) w.onClose(this.closeInfo);
        resolve(this.closeInfo);
      });
    });
    ws.on("error", (e) => this.errors.push(e));
    ws.on("message", (data, isBinary) => {
      let msg;
      if (isBinary) {
        this.frames.push(Buffer.from(data));
        msg = { _binary: Buffer.from(data) };
      } else {
        const text = data.toString();
        this.frames.push(text);
        try {
          msg = JSON.parse(text);
        } catch {
          msg = { _unparsed: text };
        }
      }
      this.messages.push(msg);
      for (const w of this.waiters) w.onMessage(msg, this.messages.length - 1);
    });
    live.add(this);
  }

  /** True while the socket is OPEN. */
  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends `value` as a JSON text frame. */
  send(value) {
    this.ws.send(JSON.stringify(value));
  }

  /**
   * Sends `data` as is: a string as a text frame, a Buffer/TypedArray as a
   * binary frame (override with `{ binary }`). Resolves once written.
   */
  sendRaw(data, { binary } = {}) {
    return new Promise((resolve, reject) => {
      const opts = binary === undefined ? {} : { binary };
      this.ws.send(data, opts, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Number of messages received so far (a position for `from`/`since`). */
  mark() {
    return this.messages.length;
  }

  /** Messages received at or after position `mark`. */
  since(mark) {
    return this.messages.slice(mark);
  }

  /**
   * Resolves with the first message at position >= `from` for which
   * `predicate(msg, index)` holds, already received or yet to come. Rejects
   * after `timeout` ms, or as soon as the socket closes.
   */
  waitFor(predicate, { from = 0, timeout = DEFAULT_TIMEOUT_MS, description } = {}) {
    const what = description ?? predicate.description ?? predicate.toString();
    for (let i = from; i < this.messages.length; i++) {
      if (predicate(this.messages[i], i)) return Promise.resolve(this.messages[i]);
    }
    if (this.closeInfo) {
      return Promise.reject(new Error(`${this.label()}: socket closed ${preview(this.closeInfo)} before ${what}; got ${preview(this.since(from))}`));
    }
    return new Promise((resolve, reject) => {
      const w = {
        onMessage: (msg, i) => {
          if (i >= from && predicate(msg, i)) finish(() => resolve(msg));
        },
        onClose: (info) =>
          finish(() => reject(new Error(`${this.label()}: socket closed ${preview(info)} before ${what}; got ${preview(this.since(from))}`))),
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${this.label()}: timed out after ${timeout} ms waiting for ${what}; got ${preview(this.since(from), 1000)}`))),
        timeout,
      );
      const finish = (fn) => {
        clearTimeout(timer);
        this.waiters.delete(w);
        fn();
      };
      this.waiters.add(w);
    });
  }

  /** Resolves when at least `count` messages at position >= `from` match `predicate`; with them. */
  async waitForCount(predicate, count, { from = 0, timeout = DEFAULT_TIMEOUT_MS, description } = {}) {
    const what = description ?? predicate.description ?? "messages";
    await this.waitFor(
      (_m, i) => this.messages.slice(from, i + 1).filter((x) => predicate(x)).length >= count,
      { from, timeout, description: `${count} × ${what}` },
    );
    return this.since(from).filter((x) => predicate(x));
  }

  /** The next message not yet consumed by next(), waiting for it if needed. */
  async next({ timeout = DEFAULT_TIMEOUT_MS } = {}) {
    const i = this.cursor;
    const msg = await this.waitFor((_m, j) => j >= i, { from: i, timeout, description: `message #${i}` });
    this.cursor = i + 1;
    return msg;
  }

  /** Moves next()'s cursor past everything received so far. */
  skipAll() {
    this.cursor = this.messages.length;
  }

  /**
   * Closes with `code`/`reason` and resolves with the close event's
   * { code, reason } (what the server answered). Rejects if no close event
   * comes within `timeout` ms (the socket is then terminated).
   */
  async close(code = 1000, reason = "", { timeout = DEFAULT_TIMEOUT_MS } = {}) {
    if (this.closeInfo) return this.closeInfo;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    else if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    try {
      return await withTimeout(this.closed, timeout, () => `${this.label()}: close event after close(${code})`);
    } catch (e) {
      this.ws.terminate();
      throw e;
    }
  }

  /** Drops the connection without a close handshake. */
  terminate() {
    this.ws.terminate();
    return this.closed;
  }

  label() {
    return `ws ${this.url.replace(/^wss?:\/\/[^/]+/, "")}`;
  }
}

/**
 * Opens a WebSocket to `url` (ws:// or wss://) and resolves with a Client once
 * it is open. Rejects on failure; for a non-101 answer the error carries
 * `status`, `headers` and `body` (text) of the response.
 * `options`: { headers, protocols, timeout }.
 */
export function openSocket(url, { headers, protocols, timeout = DEFAULT_TIMEOUT_MS } = {}) {
  const ws = new WebSocket(url, protocols, { headers, handshakeTimeout: timeout });
  const client = new Client(ws, url);
  return new Promise((resolve, reject) => {
    const fail = (err) => {
      live.delete(client);
      reject(err);
    };
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (req, res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        const err = new Error(`${client.label()}: upgrade answered ${res.statusCode}: ${preview(body)}`);
        Object.assign(err, { status: res.statusCode, headers: res.headers, body });
        ws.terminate();
        fail(err);
      });
      res.on("error", (e) => {
        ws.terminate();
        fail(e);
      });
    });
    ws.once("error", (e) => {
      if (ws.readyState !== WebSocket.OPEN) fail(e);
    });
    ws.once("close", (code) => fail(new Error(`${client.label()}: closed (${code}) before opening`)));
  });
}

/** The chat example's socket URL: `/ws/chat/:room` with `?userId=` unless userId is undefined/null. */
export function chatSocketUrl(baseUrl, room, userId) {
  const q = userId === undefined || userId === null ? "" : `?userId=${encodeURIComponent(userId)}`;
  return toWsUrl(baseUrl, `/ws/chat/${encodeURIComponent(room)}${q}`);
}

/** Opens `/ws/chat/:room?userId=U` on `baseUrl` (http URL); resolves with the open Client. */
export function openChat(baseUrl, room, userId, options) {
  return openSocket(chatSocketUrl(baseUrl, room, userId), options);
}

/** Resolves with { code, reason } when `client` (a Client or a ws WebSocket) closes, or rejects after `timeout` ms. */
export function waitForClose(client, { timeout = DEFAULT_TIMEOUT_MS } = {}) {
  if (client instanceof Client) return withTimeout(client.closed, timeout, () => `${client.label()}: close`);
  if (client.readyState === WebSocket.CLOSED) return Promise.reject(new Error("socket already closed; its close event is gone"));
  return withTimeout(
    new Promise((resolve) => client.once("close", (code, reason) => resolve({ code, reason: reason.toString() }))),
    timeout,
    "close",
  );
}

/**
 * Closes every Client still open (with 1000, terminating any that do not
 * finish the close handshake within `timeout` ms). For after() hooks.
 */
export async function closeAllClients({ timeout = 1000 } = {}) {
  await Promise.all(
    [...live].map((c) => c.close(1000, "", { timeout }).catch(() => c.terminate())),
  );
}

/** Number of Clients opened through this module and not closed yet. */
export function openClientCount() {
  return live.size;
}

/**
 * A set of Clients closed together. With a node:test context `t`, closes
 * them in `t.after`, so a failing test still closes its sockets.
 *
 *   const pool = clientPool(t);
 *   const c = await pool.add(openChat(base, room, "u"));
 *   const [a, b] = await pool.all([openChat(...), openChat(...)]);
 */
export function clientPool(t) {
  const clients = new Set();
  const pool = {
    clients,
    /** Adds a Client (or a promise of one) and resolves with it. */
    async add(clientOrPromise) {
      const c = await clientOrPromise;
      clients.add(c);
      return c;
    },
    /** Adds several; resolves once all are open (in the given order). */
    async all(promises) {
      const settled = await Promise.allSettled(promises);
      for (const s of settled) if (s.status === "fulfilled") clients.add(s.value);
      const failed = settled.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
      return settled.map((s) => s.value);
    },
    /** Closes all (1000) and waits for their close events. */
    async closeAll({ timeout = 1000 } = {}) {
      await Promise.all([...clients].map((c) => c.close(1000, "", { timeout }).catch(() => c.terminate())));
    },
  };
  t?.after?.(() => pool.closeAll());
  return pool;
}

// ---- HTTP ------------------------------------------------------------------------

/**
 * fetch() that reads the body: resolves with { status, headers, contentType,
 * text, body }, `body` being the parsed JSON or undefined when the text is
 * not JSON. Never throws on HTTP error statuses.
 */
export async function fetchJson(url, init = {}) {
  const res = await fetch(url, { redirect: "manual", ...init });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, contentType: res.headers.get("content-type") ?? "", text, body };
}

/** GET `url` → fetchJson's result. */
export function getJson(url, init = {}) {
  return fetchJson(url, { ...init, method: "GET" });
}

/**
 * POST `body` to `url`: a string is sent as is (to test malformed bodies),
 * anything else as JSON. Content-Type is application/json unless overridden.
 */
export function postJson(url, body, init = {}) {
  return fetchJson(url, {
    ...init,
    method: "POST",
    headers: { "content-type": "application/json", ...(init.headers ?? {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}
