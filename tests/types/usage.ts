// What the worker-side client's types accept and refuse, against the chat
// example's generated declarations. Each `@ts-expect-error` line must fail to
// type-check (tsc reports an unused one), every other line must pass.
import { makeRooms, RoomsError, type RoomHandle } from "durable-rooms";
import type { Rooms, chat } from "../../dist/wasm/rooms";

declare const wasm: WebAssembly.Module;
declare const factory: (options?: object) => Promise<unknown>;
declare const env: { ROOMS: { idFromName(name: string): unknown; get(id: unknown): unknown } };
declare const request: Request;

const rooms = makeRooms<Rooms>({ wasm, factory, roomNames: ["chat"], binding: "ROOMS" });
export const RoomsDO = rooms.DO;
const room = rooms.client(env.ROOMS).room("chat");
const typed: RoomHandle<Rooms["chat"]> = room;

export async function uses() {
  await room.send("r1", { _tag: "Say", text: "hi" });
  await room.send("r1", { _tag: "Typing" });
  await room.broadcast("r1", { _tag: "UserLeft", userId: "x" });
  const state = await room.getState("r1");
  if (state !== null) {
    const n: number = state.messageCount;
    const t: number = state.createdAt;
    void n, t;
  }
  const s: chat.State | null = state;
  const conns = await room.getConnections("r1", "user:alice");
  const who: string = conns[0].state.userId;
  const res: Response = await typed.upgrade("r1", request, {
    connection: { id: "alice", tags: ["user:alice"], initialState: { userId: "alice", joinedAt: Date.now() } },
    onDuplicate: "reject",
  });
  void s, who, res, RoomsError;
}

export async function refusals() {
  // @ts-expect-error: an event of another shape (Say needs text: string)
  await room.send("r1", { _tag: "Say", text: 5 });
  // @ts-expect-error: an event tag the room does not have
  await room.send("r1", { _tag: "Shout", text: "hi" });
  // @ts-expect-error: a broadcast is not an event
  await room.send("r1", { _tag: "UserLeft", userId: "x" });
  // @ts-expect-error: a room type the module lacks
  rooms.client(env.ROOMS).room("lobby");
  const state = await room.getState("r1");
  // @ts-expect-error: getState may resolve to null
  void state.messageCount;
  if (state) {
    // @ts-expect-error: a field the state lacks
    void state.topic;
  }
  await room.upgrade("r1", request, {
    // @ts-expect-error: the connection state's schema (userId is a string)
    connection: { initialState: { userId: 1, joinedAt: 0 } },
  });
  // @ts-expect-error: onDuplicate is one of three words
  await room.upgrade("r1", request, { onDuplicate: "kick" });
}
