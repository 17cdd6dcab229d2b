// Errors as the JS side sees them: one class, carrying the core's `_tag`
// (RoomError, UpgradeError, SendError, BroadcastError, AttachmentTooLargeError,
// RoomValidationError, RoomExecutionError, RoomNotFoundError, ...) and the
// error's own fields (path, expected, found, status, failures, ...).
// Never carries a stack from the Durable Object to a client.

export class RoomsError extends Error {
  constructor(fields) {
    super(fields?.message ?? fields?._tag ?? "durable-rooms error");
    Object.assign(this, fields);
    this._tag = fields?._tag ?? "RoomError";
    this.name = this._tag;
  }
}

export function errorJson(e) {
  const out = {};
  for (const [k, v] of Object.entries(e)) if (k !== "stack") out[k] = v;
  out._tag = e._tag;
  out.message = e.message;
  return out;
}

// From a reply of the Durable Object: {ok, tag, text}.
export function errorFromReply(r) {
  let fields;
  try {
    fields = JSON.parse(r.text);
  } catch {
    fields = { _tag: r.tag || "RoomError", message: r.text };
  }
  return new RoomsError(fields);
}
