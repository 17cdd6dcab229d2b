// Serves the built chat example on 127.0.0.1:$PORT (default 8787) until
// Ctrl-C, then stops workerd before exiting. If workerd dies on its own, this
// says so on stderr and exits with status 1 (nothing would answer any more).
import { startServer } from "../tests/e2e/server.mjs";

const port = Number(process.env.PORT ?? 8787);
let stopping = false;
let server;

const onExit = async ({ pid, how }) => {
  if (stopping) return;
  stopping = true;
  const where = server ? `${server.url}/` : `port ${port}`;
  console.error(`serve.mjs: workerd${pid ? ` (pid ${pid})` : ""} exited unexpectedly (${how}); ${where} no longer answers. Exiting with status 1.`);
  // Release what Miniflare still holds, but do not wait long for it.
  const timer = setTimeout(() => process.exit(1), 2000);
  timer.unref();
  await server?.close().catch(() => {});
  process.exit(1);
};

server = await startServer({ port, persistTo: ".wrangler/state/do", log: true, onExit });
console.log(`durable-rooms chat: ${server.url}/  (Ctrl-C to stop)`);
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
