// Reproduces a local workerd behaviour with a plain JS Durable Object (no
// durable-rooms code): a hibernatable socket closed by the object outside that
// socket's own event completes its close handshake only after ~10 s; closed
// from its own event it completes at once.
//   node scripts/repro/close-handshake.mjs
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import WebSocket from "ws";

const here = path.dirname(fileURLToPath(import.meta.url));
const mf = new Miniflare({ modules: true, scriptPath: path.join(here, "close-handshake.worker.js"), compatibilityDate: "2026-04-20", durableObjects: { ROOM: { className: "Room", useSQLite: true } }, port: 0, host: "127.0.0.1", cf: false });
const url = (await mf.ready).toString().replace("http", "ws");
const open = (tag) => new Promise((res) => { const ws = new WebSocket(url + "?tag=" + tag); ws.on("open", () => res(ws)); ws.on("close", (c, r) => (ws.done = [c, r.toString(), Date.now()])); });
const time = async (ws, t0) => { for (let i = 0; i < 300 && !ws.done; i++) await new Promise((r) => setTimeout(r, 50)); return ws.done ? [ws.done[0], ws.done[1], ws.done[2] - t0] : "not closed in 15s"; };
let a = await open("a"), b = await open("b"); let t0 = Date.now(); a.send("kick a"); console.log("self via own message:", await time(a, t0));
a = await open("a2"); b = await open("b2"); t0 = Date.now(); a.send("kick b2"); console.log("peer via other's message:", await time(b, t0));
b = await open("b3"); t0 = Date.now(); await fetch(url.replace("ws", "http") + "kick?tag=b3"); console.log("via fetch:", await time(b, t0));
await mf.dispose(); process.exit(0);
