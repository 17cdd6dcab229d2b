// The chat room's frames as the two JS baselines of the benchmarks read and
// write them: by hand (JSON.parse + checks, JSON.stringify) and through
// Effect Schema codecs (the spec's own stack). Shared by the bench worker
// (bench/e2e/worker.js) and the micro-benchmark (bench/micro.mjs).
import { Schema } from "effect";

// Hand-written: an inbound event {_tag: "Say", text} | {_tag: "Typing"}, or null.
export const plainCodec = {
  decode(text) {
    let ev;
    try {
      ev = JSON.parse(text);
    } catch {
      return null;
    }
    if (ev === null || typeof ev !== "object" || Array.isArray(ev)) return null;
    if (ev._tag === "Say") return typeof ev.text === "string" ? ev : null;
    return ev._tag === "Typing" ? ev : null;
  },
  encode: (msg) => JSON.stringify(msg),
  readAttachment: (value) => value,
  readState: (value) => value,
  writeState: (state) => state,
};

const Say = Schema.TaggedStruct("Say", { text: Schema.String });
const Typing = Schema.TaggedStruct("Typing", {});
const Inbound = Schema.fromJsonString(Schema.Union([Say, Typing]));
const Outbound = Schema.fromJsonString(
  Schema.Union([
    Schema.TaggedStruct("Message", { text: Schema.String, userId: Schema.String, ts: Schema.Number }),
    Schema.TaggedStruct("UserJoined", { userId: Schema.String }),
    Schema.TaggedStruct("UserLeft", { userId: Schema.String }),
    Schema.TaggedStruct("Typing", { userId: Schema.String }),
  ]),
);
const Connection = Schema.Struct({ userId: Schema.String, joinedAt: Schema.Number });
const State = Schema.Struct({ createdAt: Schema.Number, messageCount: Schema.Number });
const decodeInbound = Schema.decodeUnknownExit(Inbound);

// Effect Schema: every frame decoded and validated, every message encoded.
export const effectCodec = {
  decode(text) {
    const ev = decodeInbound(text);
    return ev._tag === "Success" ? ev.value : null;
  },
  encode: Schema.encodeSync(Outbound),
  readAttachment: Schema.decodeUnknownSync(Connection),
  readState: Schema.decodeUnknownSync(State),
  writeState: Schema.encodeSync(State),
};
