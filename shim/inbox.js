// The messages a room received and has not handled yet, in arrival order
// (see "Group commit" in durable-object.js). Counts are of messages ever
// received, so an event can mark where it arrived and later handle exactly
// the messages before it.

export class Inbox {
  constructor() {
    this.items = [];   // slot, message, slot, message, ...
    this.head = 0;     // index of the oldest unhandled slot
    this.received = 0; // messages ever pushed
  }

  push(slot, message) {
    this.items.push(slot, message);
    this.received++;
  }

  // Messages waiting.
  get size() {
    return (this.items.length - this.head) >> 1;
  }

  // Messages handled (taken or cleared) so far.
  get handled() {
    return this.received - this.size;
  }

  // The slot of the oldest waiting message; take() removes it and returns
  // its message. Only while size > 0.
  nextSlot() {
    return this.items[this.head];
  }

  take() {
    const items = this.items;
    const message = items[this.head + 1];
    items[this.head] = items[this.head + 1] = undefined;
    this.head += 2;
    if (this.head === items.length) this.clear();
    return message;
  }

  clear() {
    this.items.length = 0;
    this.head = 0;
  }
}
