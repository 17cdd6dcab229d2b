// The load generator's client process (forked by bench/e2e/run.mjs, driven
// over IPC). It holds the WebSockets of the rooms under test and runs the
// closed-loop load: `window` Says in flight in one room, each from the next
// socket in turn; a Say is complete when all N sockets got its Message, and
// its latency is from send to that LAST delivery.
//
// Kept lean so that workerd, not this process, is the bottleneck: no JSON
// parsing of received frames (the Say's sequence number is read from the
// raw bytes), no UTF-8 validation, no compression, one clock read per Say.
//
// What counts as a delivery: a Message, found by the Say's `"text":"b<seq>`
// (only a Message carries it; a "$seq" key before it changes nothing). Frames
// of a room with presence, resume and the heartbeat (durable-rooms-full) are
// told apart by their first bytes: runtime frames ({"$rooms":"Presence"...},
// PresenceDiff) and the platform's "pong" are counted apart, never scanned.
// UserJoined is counted for the join wait; UserLeft and Typing are strays.
//
// IPC requests (each answered by {reply: id, ...}):
//   {op: "open",  key, url, n, ping?}  open n sockets (users u0..u(n-1)), wait for every UserJoined;
//                                    ping: {request, response, everyMs} for a room with a heartbeat:
//                                    a socket that sent nothing for everyMs sends `request`
//   {op: "run",   key, warmupMs, durationMs, window}
//   {op: "probe", key}               one Say alone: first and last delivery times
//   {op: "close", key}               terminate the room's sockets
//   {op: "watch", key} / {op: "say", key} / {op: "joined", key}
//                                    a room shared by several processes (scale.mjs)
// During "run" it also sends {event: "window", phase: "start"|"end"} so the
// parent can sample workerd's CPU over exactly the measured window.

import WebSocket from "ws";

const rooms = new Map(); // key → Room
const TEXT = Buffer.from('"text":"b');
const USER_JOINED = Buffer.from('"_tag":"UserJoined"');
const RUNTIME = Buffer.from('{"$rooms":');
const now = () => performance.now();

class Room {
  constructor(key, n) {
    this.key = key;
    this.n = n;
    this.sockets = [];
    this.joined = 0; // UserJoined frames received, all sockets
    this.seq = 0;
    this.says = 0; // Says sent, ever (to check the room's messageCount)
    this.counts = new Map(); // seq → deliveries so far
    this.sent = new Map(); // seq → send time
    this.onComplete = null; // (seq, sentAt, doneAt)
    this.onFirst = null; // (seq, t) for probes
    this.delivered = 0; // Message frames received, all sockets
    this.strays = 0; // frames that are neither bench Messages nor UserJoined (UserLeft, Typing)
    this.runtime = 0; // runtime frames ({"$rooms":...}: Presence, PresenceDiff, ...)
    this.pongs = 0; // heartbeat answers
    this.ping = null; // {request, response: Buffer, everyMs}, or null
    this.lastSent = []; // per socket: when it last sent a frame (for the heartbeat)
    this.pinger = null;
  }

  // Keeps every socket of a room with a heartbeat from going stale: each
  // one that sent nothing for `everyMs` sends the heartbeat request, which
  // the platform answers without waking the room.
  keepAlive({ request, response, everyMs }) {
    this.ping = { request, response: Buffer.from(response), everyMs };
    this.pinger = setInterval(() => {
      const t = now();
      for (let i = 0; i < this.sockets.length; i++) {
        const last = this.lastSent[i];
        if (last === undefined) this.lastSent[i] = t; // opened since the last look
        if (last === undefined || t - last < everyMs) continue;
        this.lastSent[i] = t;
        try {
          this.sockets[i].send(request);
        } catch {
          // Closing; reported by its close event.
        }
      }
    }, Math.max(250, everyMs / 4));
  }

  // Called for every frame on every socket of the room. A coalesced frame
  // (a JSON array of frames) holds several messages: each counts.
  frame(buf) {
    if (buf[0] === 0x7b && buf[1] === 0x22 && buf[2] === 0x24 && buf.subarray(0, RUNTIME.length).equals(RUNTIME)) {
      this.runtime++;
      return;
    }
    if (this.ping && buf.equals(this.ping.response)) {
      this.pongs++;
      return;
    }
    let i = buf.indexOf(TEXT);
    if (i < 0) {
      let j = buf.indexOf(USER_JOINED);
      if (j < 0) this.strays++;
      for (; j >= 0; j = buf.indexOf(USER_JOINED, j + USER_JOINED.length)) this.joined++;
      return;
    }
    for (; i >= 0; i = buf.indexOf(TEXT, i + TEXT.length)) this.message(buf, i);
  }

  // One Message whose "text":"b<seq> starts at `i`.
  message(buf, i) {
    let seq = 0;
    for (let p = i + TEXT.length; p < buf.length; p++) {
      const c = buf[p];
      if (c < 48 || c > 57) break;
      seq = seq * 10 + (c - 48);
    }
    this.delivered++;
    const count = (this.counts.get(seq) ?? 0) + 1;
    if (count === 1 && this.onFirst) this.onFirst(seq, now());
    if (count === this.n) {
      this.counts.delete(seq);
      const sentAt = this.sent.get(seq);
      this.sent.delete(seq);
      this.onComplete?.(seq, sentAt, now());
    } else {
      this.counts.set(seq, count);
    }
  }

  say() {
    const seq = ++this.seq;
    const ws = this.sockets[seq % this.n];
    const t = now();
    this.sent.set(seq, t);
    if (this.ping) this.lastSent[seq % this.n] = t;
    this.says++;
    ws.send(`{"_tag":"Say","text":"b${seq}"}`);
    return seq;
  }
}

function openSocket(url, room) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 30000 });
    ws.on("message", (data) => room.frame(data));
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    ws.once("error", (e) => reject(e));
    ws.on("close", (code) => {
      if (!room.closing) process.send({ event: "closed", key: room.key, code });
    });
  });
}

async function waitFor(pred, timeoutMs, what) {
  const deadline = now() + timeoutMs;
  while (!pred()) {
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// `first`: the first user's number (u<first>...), when several processes
// share one room; `wait: false` returns once the sockets are open, without
// waiting for the n(n-1)/2 UserJoined frames of a room this process holds alone.
async function open({ key, url, n, first = 0, wait = true, ping = null }) {
  const room = new Room(key, n);
  rooms.set(key, room);
  const t0 = now();
  if (ping) room.keepAlive(ping); // before the sockets open: a 1,000-socket join takes a while
  // A few upgrades in flight at once; the room handles them one by one anyway.
  const CONCURRENCY = 16;
  for (let i = 0; i < n; i += CONCURRENCY) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + CONCURRENCY); j++) batch.push(openSocket(`${url}?userId=u${first + j}`, room));
    room.sockets.push(...(await Promise.all(batch)));
  }
  if (!wait) return { ms: now() - t0, joined: room.joined };
  const expected = (n * (n - 1)) / 2;
  await waitFor(() => room.joined >= expected, 600_000, `${expected} UserJoined frames in ${key} (got ${room.joined})`);
  return { ms: now() - t0, joined: room.joined };
}

// ---- A room shared by several processes (bench/e2e/scale.mjs) ---------------------
// Times are epoch milliseconds (performance.timeOrigin + now()), comparable
// across the processes of one machine.
const epoch = () => performance.timeOrigin + now();

// Reports {event: "done", key, seq, t} when every socket of this process got
// Say `seq`, and {event: "first", ...} at its first delivery here.
function watch({ key }) {
  const room = rooms.get(key);
  room.onComplete = (seq) => process.send({ event: "done", key, seq, t: epoch() });
  room.onFirst = (seq) => process.send({ event: "first", key, seq, t: epoch() });
  return {};
}

// Sends one Say from the next socket of this process; returns its seq and send time.
function sayOne({ key }) {
  const room = rooms.get(key);
  const t = epoch();
  const seq = room.say();
  room.sent.delete(seq); // completion is judged by the parent, across processes
  return { seq, t };
}

async function run({ key, warmupMs, durationMs, window }) {
  const room = rooms.get(key);
  room.counts.clear();
  room.sent.clear();
  const lat = [];
  let phase = "warmup";
  let t0 = 0;
  let t1 = 0;
  let deliveredAt0 = 0;
  let deliveredAt1 = 0;
  let cpu0 = null;
  let cpu1 = null;
  let inFlight = 0;
  let completed = 0;
  const start = now();
  let resolveDrained;
  const drained = new Promise((r) => (resolveDrained = r));
  room.onComplete = (_seq, sentAt, doneAt) => {
    inFlight--;
    if (phase === "measure" && sentAt >= t0) {
      lat.push(doneAt - sentAt);
      completed++;
    }
    if (phase === "warmup" && doneAt - start >= warmupMs) {
      phase = "measure";
      t0 = now();
      deliveredAt0 = room.delivered;
      cpu0 = process.cpuUsage();
      process.send({ event: "window", phase: "start" });
    } else if (phase === "measure" && doneAt - t0 >= durationMs) {
      phase = "drain";
      t1 = now();
      deliveredAt1 = room.delivered;
      cpu1 = process.cpuUsage(cpu0);
      process.send({ event: "window", phase: "end" });
    }
    if (phase === "drain") {
      if (inFlight === 0) resolveDrained();
      return;
    }
    room.say();
    inFlight++;
  };
  for (let i = 0; i < window; i++) {
    room.say();
    inFlight++;
  }
  const limit = warmupMs + durationMs + 120_000;
  const timer = setTimeout(() => resolveDrained(new Error(`load on ${key} did not finish within ${limit} ms (${inFlight} in flight)`)), limit);
  const err = await drained;
  clearTimeout(timer);
  room.onComplete = null;
  if (err) throw err;
  const seconds = (t1 - t0) / 1000;
  return {
    seconds,
    delivered: deliveredAt1 - deliveredAt0,
    completed,
    lat,
    clientCpu: (cpu1.user + cpu1.system) / 1e6 / seconds, // cores busy
    strays: room.strays,
    runtime: room.runtime,
    pongs: room.pongs,
  };
}

// One Say with nothing else in flight: time to its first and last delivery.
async function probe({ key }) {
  const room = rooms.get(key);
  let first = null;
  let sentAt = 0;
  const done = new Promise((resolve) => {
    room.onFirst = (_seq, t) => {
      if (first === null) first = t;
    };
    room.onComplete = (_seq, s, t) => resolve(t);
  });
  sentAt = now();
  room.say();
  const timer = setTimeout(() => room.onComplete?.(0, 0, NaN), 60_000);
  const last = await done;
  clearTimeout(timer);
  room.onFirst = null;
  room.onComplete = null;
  return { firstMs: first - sentAt, lastMs: last - sentAt };
}

function close({ key }) {
  const room = rooms.get(key);
  if (!room) return {};
  room.closing = true;
  clearInterval(room.pinger);
  for (const ws of room.sockets) ws.terminate();
  rooms.delete(key);
  return { says: room.says };
}

const OPS = {
  open,
  run,
  probe,
  close,
  watch,
  say: sayOne,
  joined: ({ key }) => ({ joined: rooms.get(key)?.joined ?? 0 }),
  says: ({ key }) => ({ says: rooms.get(key)?.says ?? 0 }),
};

process.on("message", async (msg) => {
  if (msg.op === "exit") {
    for (const key of [...rooms.keys()]) close({ key });
    process.exit(0);
  }
  try {
    const result = await OPS[msg.op](msg);
    process.send({ reply: msg.id, ok: true, ...result });
  } catch (e) {
    process.send({ reply: msg.id, ok: false, error: String(e?.stack ?? e) });
  }
});
process.on("disconnect", () => process.exit(0));
