// How a room instance is addressed and called: one Durable Object per
// (room type, id), named "type:id"; a request is one RPC call naming the
// operation (a RequestOp of shim/wire.js), answered by the reply
// {ok, tag, text}.

export function stubOf(namespace, room, id) {
  return namespace.get(namespace.idFromName(`${room}:${id}`));
}

export function roomRequest(namespace, room, id, op, arg) {
  return stubOf(namespace, room, id).roomsRequest(room, id, op, arg ?? null);
}
