// What the browser client's types accept and refuse, against the chat
// example's generated declarations. Each `@ts-expect-error` line must fail to
// type-check (tsc reports an unused one), every other line must pass.
import { connect, backoffDelay, DEFAULTS, RoomClient, type ClientError, type ClientStatus } from "durable-rooms/client";
import type { Rooms, chat } from "../../dist/wasm/rooms";

const room = connect<Rooms, "chat">("wss://example.com/ws/chat/lobby?userId=ada", {
  backoff: { base: 250, cap: 10_000, factor: 2 },
  bufferSize: 50,
  heartbeat: { interval: 5000, timeout: 2000, ping: "ping", pong: "pong" },
  validate: Object.assign((frame: unknown) => typeof frame === "object", { errors: null }),
});
const same: RoomClient<Rooms["chat"]> = new RoomClient<Rooms["chat"]>(() => "ws://x/", { heartbeat: false });

export function uses() {
  const ok: boolean = room.send({ _tag: "Say", text: "hi" });
  room.send({ _tag: "Typing" });
  room.on("Message", (m) => {
    const text: string = m.text;
    const ts: number = m.ts;
    const whole: chat.Message = m;
    void text, ts, whole;
  });
  // The broadcast tagged "Typing" is TypingBy (it has userId), not the Typing event.
  room.on("Typing", (m) => {
    const who: string = m.userId;
    void who;
  });
  room.on("message", (m) => {
    if (m._tag === "UserJoined") {
      const u: string = m.userId;
      void u;
    }
  });
  const off: () => void = room.on("status", (s) => {
    const status: ClientStatus = s;
    void status;
  });
  room.on("open", ({ reconnected }) => void (reconnected satisfies boolean));
  room.on("close", ({ code, reason, willReconnect }) => void [code satisfies number, reason satisfies string, willReconnect]);
  room.on("error", (e: ClientError) => {
    if (e._tag === "RateLimitError") void (e.retryAfterMs satisfies number);
    if (e._tag === "ResyncRequired") void (e.seq satisfies number);
    if (e._tag === "SendBufferFull") void (e.limit satisfies number);
  });
  room.onRuntime((f) => {
    if (f.$rooms === "Presence") void (f.self satisfies string);
  });
  room.onJoin((key, joined, all) => void [key satisfies string, joined[0].ref satisfies string, all.length]);
  room.onLeave((key) => void key);
  const others = room.others;
  for (const [key, entries] of Object.entries(others)) void [key, entries[0].meta];
  const seq: number | null = room.lastSeq;
  const n: number = backoffDelay(3, { base: 100 }, () => 0.5) + DEFAULTS.bufferSize + DEFAULTS.heartbeat.interval;
  room.close(1000, "bye");
  // Without the generated types: any tagged object, any tag.
  const loose = connect("ws://x/");
  loose.send({ _tag: "Anything", n: 1 });
  loose.on("Whatever", (m) => void (m._tag satisfies string));
  void ok, off, seq, n, same;
}

export function refusals() {
  // @ts-expect-error: an event of another shape (Say needs text: string)
  room.send({ _tag: "Say", text: 5 });
  // @ts-expect-error: an event tag the room does not have
  room.send({ _tag: "Shout", text: "hi" });
  // @ts-expect-error: a broadcast is not an event
  room.send({ _tag: "UserLeft", userId: "x" });
  // @ts-expect-error: on() with a tag no broadcast has
  room.on("Shout", () => {});
  // @ts-expect-error: Say is an event, never a broadcast
  room.on("Say", () => {});
  room.on("Message", (m) => {
    // @ts-expect-error: a field Message lacks
    void m.userName;
  });
  room.on("UserJoined", (m) => {
    // @ts-expect-error: narrowed to UserJoined, which has no text
    void m.text;
  });
  // @ts-expect-error: a room type the module lacks
  connect<Rooms, "lobby">("ws://x/");
  // @ts-expect-error: the buffer size is a number
  connect<Rooms, "chat">("ws://x/", { bufferSize: "100" });
  // @ts-expect-error: heartbeat options are named
  connect<Rooms, "chat">("ws://x/", { heartbeat: { every: 1000 } });
  // @ts-expect-error: status is read-only
  room.status = "open";
  // @ts-expect-error: even untyped, an event is a tagged object
  connect("ws://x/").send("ping");
}
