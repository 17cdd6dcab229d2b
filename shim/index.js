// durable-rooms on Cloudflare: from the built core, the Durable Object class
// to export for wrangler and a client for its namespace binding.
//
//   import wasm from "../dist/wasm/core.wasm";
//   import factory from "../dist/wasm/core.mjs";
//   import { roomNames } from "../dist/wasm/rooms.meta.js";
//   const rooms = makeRooms({ wasm, factory, roomNames, binding: "ROOMS" });
//   export const RoomsDO = rooms.DO;
//   ... rooms.client(env.ROOMS).room("chat").send("r1", { _tag: "Say", text: "hi" })

import { makeClient } from "./client.js";
import { makeRoomsDurableObject } from "./durable-object.js";

export { RoomsError } from "./errors.js";

export function makeRooms(config) {
  return {
    DO: makeRoomsDurableObject(config),
    client: (namespace) => makeClient(namespace, config.roomNames),
  };
}
