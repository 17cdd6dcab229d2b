// The worker-side client: promise-based calls to room instances through a
// Durable Object namespace binding. One instance per (room type, id).

import { errorFromReply, RoomsError } from "./errors.js";
import { roomRequest, stubOf } from "./request.js";
import { RequestOp } from "./wire.js";

export function makeClient(namespace, roomNames) {
  const known = new Set(roomNames);
  const call = async (name, id, op, arg) => {
    const r = await roomRequest(namespace, name, String(id), op, arg);
    if (!r.ok) throw errorFromReply(r);
    return r.text;
  };
  const json = (text) => (text === "" ? undefined : JSON.parse(text));

  return {
    // Throws RoomNotFoundError for a name the registry lacks.
    room(name) {
      if (!known.has(name)) {
        throw new RoomsError({ _tag: "RoomNotFoundError", message: `no room type named "${name}"`, room: name });
      }
      return {
        // A direct event (no connection): onEvent with ctx.connection null.
        send: async (id, event) => void (await call(name, id, RequestOp.Send, JSON.stringify(event))),
        // The same, with the event already encoded: `jsonText` goes to the
        // core as is, so it is validated exactly as a WebSocket frame is.
        sendText: async (id, jsonText) => void (await call(name, id, RequestOp.Send, String(jsonText))),
        // The room state, or null before the first save.
        getState: async (id) => json(await call(name, id, RequestOp.GetState)),
        // [{id, tags, state}], optionally only connections with `tag`.
        getConnections: async (id, tag) => json(await call(name, id, RequestOp.GetConnections, tag ?? null)),
        broadcast: async (id, msg) => void (await call(name, id, RequestOp.Broadcast, JSON.stringify(msg))),
        fireAlarm: async (id) => void (await call(name, id, RequestOp.FireAlarm)),
        // Upgrades `request` into a socket of this room. Resolves with the 101
        // response, or with 409 when onDuplicate is "reject" and the id is
        // connected; other failures throw UpgradeError (with .status).
        upgrade: async (id, request, opts = {}) => {
          const c = opts.connection ?? {};
          const wire = {
            id: c.id ?? null,
            tags: c.tags ?? [],
            meta: c.meta ?? null,
            initialState: c.initialState,
            onDuplicate: opts.onDuplicate ?? "allow",
            // The last "$seq" the client saw (rooms with resume): it gets what it missed.
            resume: opts.resume ?? null,
          };
          const headers = new Headers(request.headers);
          // Percent-encoded: a header holds no newline, and workerd reads
          // its bytes as Latin-1; a room id may hold anything.
          headers.set("x-rooms-name", encodeURIComponent(name));
          headers.set("x-rooms-id", encodeURIComponent(String(id)));
          headers.set("x-rooms-upgrade", encodeURIComponent(JSON.stringify(wire)));
          const res = await stubOf(namespace, name, String(id)).fetch(new Request(request.url, { method: "GET", headers }));
          if (res.status === 101 || res.status === 409) return res;
          const body = await res.json().catch(() => ({ _tag: "UpgradeError", message: `status ${res.status}` }));
          throw new RoomsError({ ...body, status: res.status });
        },
      };
    },
  };
}
