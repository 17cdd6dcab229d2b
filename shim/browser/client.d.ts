// Types of durable-rooms/client (hand-written; client.js is the code).
//
//   import { connect } from "durable-rooms/client";
//   import type { Rooms } from "./dist/wasm/rooms";      // generated rooms.d.ts
//   const room = connect<Rooms, "chat">("wss://…/ws/chat/lobby?userId=ada");
//   room.on("Message", (m) => m.text);                    // m: chat.Message
//   room.send({ _tag: "Say", text: "hi" });               // only chat.Event

/** One room type's schemas, as the generated `Rooms` interface lists them (`presence` once the room declares it). */
export interface RoomSchemas {
  state: unknown;
  connection: unknown;
  event: unknown;
  broadcast: unknown;
}

/** What connect() gets when no `Rooms` interface is given: any room, any frames. */
export interface UntypedRooms {
  [name: string]: { state: unknown; connection: unknown; event: { _tag: string; [field: string]: unknown }; broadcast: { _tag: string; [field: string]: unknown } };
}

type EventOf<S> = S extends { event: infer E } ? E : never;
type BroadcastOf<S> = S extends { broadcast: infer B } ? B : never;
/** The presence meta of a room (unknown until the generated types declare one). */
export type PresenceMetaOf<S> = S extends { presence: infer P } ? P : unknown;
type TagOf<B> = B extends { readonly _tag: infer T extends string } ? T : never;
// The broadcast of tag T (an untyped room's `_tag: string` frames stay whole).
type ByTag<B, T> = [Extract<B, { readonly _tag: T }>] extends [never] ? B : Extract<B, { readonly _tag: T }>;

/** One socket in presence: `ref` names it, `meta` is the room's projection of its connection state. */
export interface PresenceEntry<M = unknown> {
  ref: string;
  meta: M;
}
/** Presence key → that key's entries. */
export type PresenceState<M = unknown> = Record<string, PresenceEntry<M>[]>;

/** A frame the runtime sent on its own (docs/PROTOCOL.md §1), `$seq` removed. */
export type RuntimeFrame<M = unknown> =
  | { $rooms: "Presence"; self: string; state: PresenceState<M> }
  | { $rooms: "PresenceDiff"; joins: PresenceState<M>; leaves: PresenceState<M> }
  | { $rooms: "RateLimitError"; limit: "frames" | "bytes" | "room"; retryAfterMs: number }
  | { $rooms: "ResyncRequired"; seq: number };

/** What the "error" handlers get; nothing here closes the client. */
export type ClientError =
  /** A frame that is not JSON, not an object, binary, or refused by `validate`. */
  | { _tag: "InvalidFrame"; message: string; frame: unknown; errors?: unknown }
  /** send() while offline with `bufferSize` frames already waiting: this event was not kept. */
  | { _tag: "SendBufferFull"; message: string; limit: number; event: unknown }
  | { _tag: "ClientClosed"; message: string; event: unknown }
  | { _tag: "ConnectError"; message: string }
  /** The room dropped a frame of ours (its inbound limit, `drop` policy); sends wait in the buffer for retryAfterMs. */
  | { _tag: "RateLimitError"; message: string; limit: "frames" | "bytes" | "room"; retryAfterMs: number }
  /** A resume reached back before the room's buffer: frames were missed; reload what you show. */
  | { _tag: "ResyncRequired"; message: string; seq: number };

export type ClientStatus = "connecting" | "open" | "reconnecting" | "closed";

export interface CloseInfo {
  code: number;
  reason: string;
  /** False after close(), and after a close code `shouldReconnect` refuses (default: 1000 and 1012). */
  willReconnect: boolean;
}

export interface BackoffOptions {
  /** ms; default 500. */
  base?: number;
  /** ms; default 30000. */
  cap?: number;
  /** default 2. */
  factor?: number;
}

export interface HeartbeatOptions {
  /** ms between pings; default 10000. */
  interval?: number;
  /** ms after a ping within which any frame must arrive; default 5000. */
  timeout?: number;
  /** The room's auto-response request; default "ping". */
  ping?: string;
  /** Its response (never reaches a handler); default "pong". */
  pong?: string;
}

/** The constructor the client uses: the browser's WebSocket, or ws's in node. */
export type WebSocketLike = new (url: string, protocols?: string | string[]) => {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
};

export interface ClientOptions {
  /** Default: globalThis.WebSocket (node 20 has none: pass ws's). */
  WebSocket?: WebSocketLike | (new (...args: any[]) => any);
  protocols?: string | string[];
  backoff?: BackoffOptions;
  /** Frames kept while offline, default 100; beyond that send() returns false (SendBufferFull). 0: no buffering. */
  bufferSize?: number;
  /** true or omitted: the defaults; false: no pings (a room without the heartbeat on). */
  heartbeat?: boolean | HeartbeatOptions;
  /** Reconnect with `resume=<lastSeq>`; default true. */
  resume?: boolean;
  /** The query parameter for it; default "resume". */
  resumeParam?: string;
  /** A sequence number to resume from on the first connect (e.g. kept from an earlier page). */
  seq?: number;
  /** Inbound broadcasts it refuses go to "error" (InvalidFrame) instead of handlers; `.errors` (ajv's) rides along. */
  validate?: ((frame: unknown) => boolean) & { errors?: unknown };
  /** Whether to reconnect after a close; default: unless the code is 1000 or 1012. */
  shouldReconnect?: (info: { code: number; reason: string }) => boolean;
  /** For tests: default Math.random. */
  random?: () => number;
  /** For tests: default the global timers. */
  timers?: { setTimeout(f: () => void, ms: number): unknown; clearTimeout(handle: any): void };
}

export interface RoomClient<S = UntypedRooms[string]> {
  readonly status: ClientStatus;
  readonly lastSeq: number | null;
  readonly self: string | null;
  readonly presence: PresenceState<PresenceMetaOf<S>>;
  readonly others: PresenceState<PresenceMetaOf<S>>;
  readonly buffered: number;
  /** False when refused (buffer full, or closed); see ClientError. */
  send(event: EventOf<S>): boolean;
  on(name: "open", handler: (info: { reconnected: boolean }) => void): () => void;
  on(name: "close", handler: (info: CloseInfo) => void): () => void;
  on(name: "status", handler: (status: ClientStatus) => void): () => void;
  on(name: "error", handler: (error: ClientError) => void): () => void;
  on(name: "runtime", handler: (frame: RuntimeFrame<PresenceMetaOf<S>>) => void): () => void;
  on(name: "presence", handler: (state: PresenceState<PresenceMetaOf<S>>) => void): () => void;
  on(name: "join" | "leave", handler: PresenceHandler<PresenceMetaOf<S>>): () => void;
  on(name: "message", handler: (frame: BroadcastOf<S>) => void): () => void;
  on<T extends TagOf<BroadcastOf<S>>>(tag: T, handler: (frame: ByTag<BroadcastOf<S>, T>) => void): () => void;
  onJoin(handler: PresenceHandler<PresenceMetaOf<S>>): () => void;
  onLeave(handler: PresenceHandler<PresenceMetaOf<S>>): () => void;
  onRuntime(handler: (frame: RuntimeFrame<PresenceMetaOf<S>>) => void): () => void;
  close(code?: number, reason?: string): void;
}

/** (key, the entries that joined or left, the key's entries now). */
export type PresenceHandler<M> = (key: string, changed: PresenceEntry<M>[], current: PresenceEntry<M>[]) => void;

/** `connect<Rooms, "chat">(url)`: a client typed by the generated `Rooms` interface. */
export function connect<R = UntypedRooms, K extends keyof R = keyof R>(
  url: string | URL | (() => string | URL),
  options?: ClientOptions,
): RoomClient<R[K]>;

/** The wait before reconnect attempt `attempt` (0-based), in [0, min(cap, base * factor^attempt)). */
export function backoffDelay(attempt: number, backoff?: BackoffOptions, random?: () => number): number;

export const DEFAULTS: {
  readonly backoff: Required<BackoffOptions>;
  readonly bufferSize: number;
  readonly heartbeat: Required<HeartbeatOptions>;
  readonly resumeParam: string;
};

/** The class behind connect() (`new RoomClient<Rooms["chat"]>(url, options)` is the same). */
export const RoomClient: new <S = UntypedRooms[string]>(url: string | URL | (() => string | URL), options?: ClientOptions) => RoomClient<S>;
