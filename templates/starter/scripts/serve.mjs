// `npm start`: serves the built worker on http://127.0.0.1:$PORT (default 8787)
// until Ctrl-C; Durable Object storage persists in .wrangler/state/do.
import { startServer } from "./server.mjs";

const server = await startServer({ port: Number(process.env.PORT ?? 8787), persistTo: ".wrangler/state/do" });
console.log(`my-rooms: ${server.url}/  ws: ${server.url.replace(/^http/, "ws")}/ws/counter/r1?user=alice  (Ctrl-C to stop)`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
