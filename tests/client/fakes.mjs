// Fakes for the client's node tests: a WebSocket class whose instances the
// test opens, feeds and closes by hand, and timers the test advances. Nothing
// here waits for real time.

export class FakeSocket {
  static instances = [];
  static reset() {
    FakeSocket.instances = [];
  }
  static get last() {
    return FakeSocket.instances.at(-1);
  }

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.terminated = false;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.instances.push(this);
  }
  send(text) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(text);
  }
  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  terminate() {
    this.terminated = true;
    this.readyState = 3;
  }
  // ---- driven by the test ----
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(data) {
    this.onmessage?.({ data: typeof data === "string" ? data : JSON.stringify(data) });
  }
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** setTimeout/clearTimeout on a virtual clock; `advance(ms)` runs what falls due, in order. */
export function fakeTimers() {
  let now = 0;
  let next = 1;
  const pending = new Map();
  const timers = {
    setTimeout(f, ms) {
      const id = next++;
      pending.set(id, { at: now + ms, f, ms });
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
  };
  return {
    timers,
    get now() {
      return now;
    },
    /** The delays (ms) of the timers now pending, in creation order. */
    pendingDelays: () => [...pending.values()].map((t) => t.ms),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let first = null;
        for (const [id, t] of pending) if (t.at <= end && (first === null || t.at < pending.get(first).at)) first = id;
        if (first === null) break;
        const t = pending.get(first);
        pending.delete(first);
        now = t.at;
        t.f();
      }
      now = end;
    },
  };
}
