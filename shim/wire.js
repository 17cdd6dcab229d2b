// Generated from wasm/core/src/runtime/wire.h by tools/gen_wire; do not edit.
// The numbers of the wire protocol between the core and the shim.

export const EffectKind = Object.freeze({
  Accept: 1,
  Frame: 2,
  Close: 3,
  Attach: 4,
  Put: 5,
  Delete: 6,
  SetAlarm: 7,
  ClearAlarm: 8,
  Call: 9,
  Reply: 10,
  Log: 11,
  FlushAfter: 12,
});

export const RequestOp = Object.freeze({
  Send: 1,
  GetState: 2,
  Broadcast: 3,
  GetConnections: 4,
  FireAlarm: 5,
});

export const CallOp = Object.freeze({
  Send: 1,
  GetState: 2,
  Broadcast: 3,
});

export const LogLevel = Object.freeze({
  Info: 0,
  Warn: 1,
  Error: 2,
});

export const HostOp = Object.freeze({
  RandomId: 0,
  Load: 1,
  LoadConnections: 2,
  LoadAttachment: 3,
  Env: 4,
  AutoResponseTime: 5,
});
