// The Durable Object of close-handshake.mjs: sockets tagged by the client;
// "kick <tag>" (a frame) or GET /kick?tag= (a request) closes the tagged sockets.
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/kick") { for (const ws of this.ctx.getWebSockets(url.searchParams.get("tag"))) ws.close(4000, "kicked by request"); return new Response("ok"); }
    const [c, s] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(s, [url.searchParams.get("tag")]);
    return new Response(null, { status: 101, webSocket: c });
  }
  webSocketMessage(ws, msg) { const [cmd, tag] = msg.split(" "); if (cmd === "kick") for (const w of this.ctx.getWebSockets(tag)) w.close(4000, "kicked by " + (w === ws ? "self" : "peer")); }
  webSocketClose(ws, code, reason) { try { ws.close(code, reason); } catch {} }
}
export default { fetch(req, env) { return env.ROOM.get(env.ROOM.idFromName("x")).fetch(req); } };
