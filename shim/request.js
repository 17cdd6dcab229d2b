// How a room instance is addressed and called: one Durable Object per
// (room type, id), named "type:id"; a request is one fetch whose JSON body
// names the operation, answered by the reply {ok, tag, text}.

export function stubOf(namespace, room, id) {
  return namespace.get(namespace.idFromName(`${room}:${id}`));
}

export async function roomRequest(namespace, room, id, op, arg) {
  const res = await stubOf(namespace, room, id).fetch("https://durable-rooms/request", {
    method: "POST",
    headers: { "x-rooms-op": op },
    body: JSON.stringify({ room, id, op, arg: arg ?? null }),
  });
  return res.json();
}
