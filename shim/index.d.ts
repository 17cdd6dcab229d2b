// Types of durable-rooms' JS side (hand-written; shim/index.js is the code).
//
//   import { makeRooms } from "durable-rooms";
//   import type { Rooms } from "./build/module/rooms";   // generated rooms.d.ts
//   const rooms = makeRooms<Rooms>({ wasm, factory, roomNames, binding: "ROOMS" });
//   rooms.client(env.ROOMS).room("chat").send(id, { _tag: "Say", text: "hi" });
//
// The type parameter is the generated `Rooms` interface: one entry per room
// type with its four schemas. With it, room() accepts only those names and
// each call takes and returns that room's types.

/** One room type's four schemas, as the generated `Rooms` interface lists them. */
export interface RoomSchemas {
  state: unknown;
  connection: unknown;
  event: unknown;
  broadcast: unknown;
}

/** Any generated `Rooms` interface (an interface has no index signature, hence the mapped form). */
export type RoomsMap<R> = { [K in keyof R]: RoomSchemas };

/** What makeRooms() gets when no `Rooms` interface is given: any name, unknown schemas. */
export interface UntypedRooms {
  [name: string]: RoomSchemas;
}

export interface RoomsConfig {
  /** dist/…/core.wasm, imported as a CompiledWasm module. */
  wasm: WebAssembly.Module;
  /** dist/…/core.mjs's default export (the Emscripten module factory). */
  factory: (options?: object) => Promise<unknown>;
  /** rooms.meta.js's roomNames. */
  roomNames: readonly string[];
  /** The env name of the Durable Object namespace binding (for sibling calls). */
  binding: string;
  /**
   * rooms.meta.js's heartbeats (room type → its auto-response pair), so a
   * woken object sets the platform's auto-response in its constructor.
   * Optional: without it the pair is set once the room's core has booted.
   */
  heartbeats?: Readonly<Record<string, { request: string; response: string }>>;
}

/** The Durable Object namespace binding, as far as durable-rooms uses it. */
export interface RoomsNamespace {
  idFromName(name: string): unknown;
  get(id: any): unknown;
}

/** getConnections() entry. */
export interface ConnectionInfo<C> {
  id: string;
  tags: string[];
  state: C;
}

export interface UpgradeOptions<C> {
  connection?: {
    /** Connection id; a random one when absent. */
    id?: string | null;
    tags?: readonly string[];
    /** Anything JSON, handed to onConnect. */
    meta?: unknown;
    /** The connection's first state, checked against the room's connection schema. */
    initialState?: C;
  };
  /** "allow" (default), "replace" (the older socket gets 1012) or "reject" (409). */
  onDuplicate?: "allow" | "replace" | "reject";
  /** The last "$seq" the client saw (rooms with resume): it first gets the frames it missed, or ResyncRequired. */
  resume?: number | null;
}

/** Calls to one room type; every call names the instance by id. */
export interface RoomHandle<S extends RoomSchemas> {
  /** A direct event (onEvent with ctx.connection null). */
  send(id: string, event: S["event"]): Promise<void>;
  /** The same, with the event already encoded as JSON (validated as a frame is). */
  sendText(id: string, jsonText: string): Promise<void>;
  /** The room state, or null before the first save. */
  getState(id: string): Promise<S["state"] | null>;
  getConnections(id: string, tag?: string): Promise<ConnectionInfo<S["connection"]>[]>;
  broadcast(id: string, message: S["broadcast"]): Promise<void>;
  /** Runs onAlarm now. */
  fireAlarm(id: string): Promise<void>;
  /** Upgrades `request` into a socket of this room: the 101 response, or 409 when onDuplicate is "reject". */
  upgrade(id: string, request: Request, options?: UpgradeOptions<S["connection"]>): Promise<Response>;
}

export interface RoomsClient<R extends RoomsMap<R>> {
  /** Throws RoomsError (RoomNotFoundError) at run time for a name the module lacks. */
  room<K extends keyof R & string>(name: K): RoomHandle<R[K]>;
}

export interface RoomsInstance<R extends RoomsMap<R>> {
  /** The Durable Object class to export under the binding's class_name. */
  DO: new (ctx: any, env: any) => object;
  client(namespace: RoomsNamespace): RoomsClient<R>;
}

export function makeRooms<R extends RoomsMap<R> = UntypedRooms>(config: RoomsConfig): RoomsInstance<R>;

/** Every failure: `_tag` is the core's error tag; the error's own fields ride along. */
export class RoomsError extends Error {
  constructor(fields: { _tag?: string; message?: string; [field: string]: unknown });
  _tag: string;
  [field: string]: unknown;
}
