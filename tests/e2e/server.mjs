// Serves the bundled example worker (dist/bundle, from `wrangler deploy
// --dry-run`) in a local workerd through Miniflare, on loopback. The Durable
// Object bindings come from wrangler.jsonc, so tests run what `wrangler dev`
// and a deploy run.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export async function startServer({ port = 0, persistTo, log = false } = {}) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.jsonc"));
  const mf = new Miniflare({
    ...workerOptions,
    name: "durable-rooms-chat",
    modules: true,
    scriptPath: path.join(root, "dist/bundle/index.js"),
    modulesRoot: path.join(root, "dist/bundle"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    host: "127.0.0.1",
    port,
    cf: false,
    durableObjectsPersist: persistTo ?? false,
    handleRuntimeStdio: log
      ? undefined
      : (stdout, stderr) => {
          stdout.on("data", (d) => process.env.ROOMS_LOG && process.stdout.write(d));
          stderr.on("data", (d) => process.env.ROOMS_LOG && process.stderr.write(d));
        },
  });
  const url = await mf.ready;
  return { mf, url: url.toString().replace(/\/$/, ""), close: () => mf.dispose() };
}
