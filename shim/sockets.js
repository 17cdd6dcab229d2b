// The socket table of one Durable Object: slot ↔ WebSocket. A slot is how
// the core names a socket (the recipients of a frame, the sender of an
// event); the table is built once per wake from the platform's sockets, and
// accepted sockets join it at the slot the core gave them. It reads no tags
// or attachments until the core asks.

// Binary frames reach the core as bytes: with the standard binaryType
// ("blob") they would arrive as Blobs.
function pinBinaryType(ws) {
  try {
    ws.binaryType = "arraybuffer";
  } catch {
    // Runtimes without a settable binaryType deliver ArrayBuffers already.
  }
}

function escapeTag(t) {
  return t.replace(/[\\\t\n]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : "\\n"));
}

export class SocketTable {
  constructor(ctx) {
    this.ctx = ctx;
    this.sockets = null;     // slot → WebSocket, built on first use per wake
    this.slots = new Map();  // WebSocket → slot
  }

  // The table of this wake: slot = position in getWebSockets().
  // No tags or attachments are read here.
  build() {
    if (this.sockets) return;
    this.sockets = [];
    for (const ws of this.ctx.getWebSockets()) {
      pinBinaryType(ws);
      this.slots.set(ws, this.sockets.length);
      this.sockets.push(ws);
    }
  }

  // When the first event of a wake is a socket's close, getWebSockets() may
  // no longer list that socket; it still gets a slot (before the core reads
  // the table), so its onClose runs with its id, tags and state.
  slotOf(ws) {
    const fresh = this.sockets === null;
    this.build();
    let slot = this.slots.get(ws);
    if (slot === undefined && fresh) {
      slot = this.sockets.length;
      this.slots.set(ws, slot);
      this.sockets.push(ws);
    }
    return slot;
  }

  // The socket at `slot`, or undefined.
  at(slot) {
    return this.sockets?.[slot];
  }

  // Accepts a socket of an upgrade at the slot the core gave it. The table of
  // this wake is built first: once accepted, the socket would be listed by
  // getWebSockets() at a position that is not its slot.
  accept(ws, slot, tags, attachment) {
    this.build();
    pinBinaryType(ws);
    this.ctx.acceptWebSocket(ws, tags);
    ws.serializeAttachment(attachment);
    this.sockets[slot] = ws;
    this.slots.set(ws, slot);
  }

  // A socket that ended: no later event of it finds a slot. Its slot stays
  // until drop(), so the core can still read its attachment (onClose).
  forget(ws) {
    this.slots.delete(ws);
  }

  drop(slot) {
    delete this.sockets[slot];
  }

  // The host's loadConnections: a line "slot\ttag\ttag...\n" per socket,
  // with \t, \n and \\ in tags escaped (read by the Wasm bindings).
  describe() {
    this.build();
    let out = "";
    this.sockets.forEach((ws, slot) => {
      out += String(slot);
      for (const t of this.ctx.getTags(ws)) out += "\t" + escapeTag(t);
      out += "\n";
    });
    return out;
  }
}
