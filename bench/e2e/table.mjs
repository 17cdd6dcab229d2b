// The end-to-end table and the RESULT lines, shared by run.mjs and report.mjs.

export const ROOMS = ["durable-rooms", "durable-rooms-coalesced", "durable-rooms-full", "plain-js", "partyserver", "effect-schema", "floor"];

export const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");

export function printTable({ results }, rooms, sockets) {
  const base = results["plain-js"];
  const lines = [];
  lines.push("");
  lines.push("room                     sockets    msgs/s   ×plain   p50 ms  ×plain   p99 ms  ×plain   µs/msg  ×plain  workerd cpu  client cpu  other cpu");
  for (const n of sockets) {
    for (const room of rooms) {
      const r = results[room]?.[n];
      if (!r) continue;
      const b = base?.[n];
      lines.push(
        `${room.padEnd(24)} ${String(n).padStart(7)} ${f(r.msgsPerS).padStart(9)} ${f(b ? r.msgsPerS / b.msgsPerS : NaN, 2).padStart(8)}` +
          ` ${f(r.p50, 2).padStart(8)} ${f(b ? r.p50 / b.p50 : NaN, 2).padStart(7)} ${f(r.p99, 2).padStart(8)} ${f(b ? r.p99 / b.p99 : NaN, 2).padStart(7)}` +
          ` ${f(r.usPerMsg, 2).padStart(8)} ${f(b ? r.usPerMsg / b.usPerMsg : NaN, 2).padStart(7)}` +
          ` ${f(r.workerdCpu, 2).padStart(12)} ${f(r.clientCpu, 2).padStart(11)} ${f(r.otherCpu, 2).padStart(10)}`,
      );
    }
  }
  return lines;
}

export function resultLines({ results }, rooms, sockets) {
  const base = results["plain-js"];
  const lines = [];
  for (const room of rooms) {
    for (const n of sockets) {
      const r = results[room]?.[n];
      if (!r) continue;
      // The ratio paired within rounds (geometric mean), or 1 for plain-js.
      const ratio = room === "plain-js" ? 1 : r.pairedRatio?.geoMean ?? (base?.[n] ? r.msgsPerS / base[n].msgsPerS : NaN);
      lines.push(`RESULT ${room} ${n} ${f(r.msgsPerS)} ${f(r.p50, 3)} ${f(r.p99, 3)} ${f(ratio, 3)}`);
    }
  }
  return lines;
}

