// Request correlation: each request into the core (a client or sibling call,
// an upgrade, an alarm) gets a number, and the core's Reply effect carrying
// that number resolves it. A trap fails every request in flight with TRAPPED.

// The reply of requests lost to a trap. The client sees no stack.
export const TRAPPED = Object.freeze({
  ok: false,
  tag: "RoomExecutionError",
  text: JSON.stringify({
    _tag: "RoomExecutionError",
    message: "the room's core trapped while handling this request; it was rebuilt",
    phase: "core",
    cause: "trap",
  }),
});

export class Requests {
  constructor() {
    this.seq = 0;
    this.waiting = new Map();   // request number → resolve({ok, tag, text})
    this.upgrading = new Map(); // request number → server WebSocket
  }

  // A new request number and the promise of its reply. `socket`: the server
  // end of an upgrade, which the core's Accept for this request accepts.
  open(socket) {
    const req = ++this.seq;
    const reply = new Promise((resolve) => this.waiting.set(req, resolve));
    if (socket) this.upgrading.set(req, socket);
    return { req, reply };
  }

  // The server WebSocket of upgrade request `req`.
  socket(req) {
    return this.upgrading.get(req);
  }

  // The core's Reply to `req`.
  reply(req, ok, tag, text) {
    const resolve = this.waiting.get(req);
    this.waiting.delete(req);
    this.upgrading.delete(req);
    resolve?.({ ok, tag, text });
  }

  // The core trapped: no reply will come for any request in flight.
  trap() {
    for (const resolve of this.waiting.values()) resolve(TRAPPED);
    this.waiting.clear();
    this.upgrading.clear();
  }
}
