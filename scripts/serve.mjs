// Serves the built chat example on 127.0.0.1:$PORT (default 8787) until
// Ctrl-C, then stops workerd before exiting.
import { startServer } from "../tests/e2e/server.mjs";

const port = Number(process.env.PORT ?? 8787);
const server = await startServer({ port, persistTo: ".wrangler/state/do", log: true });
console.log(`durable-rooms chat: ${server.url}/  (Ctrl-C to stop)`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
