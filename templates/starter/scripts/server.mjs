// Runs the bundled worker (dist/bundle) in a local workerd through Miniflare,
// with the Durable Object bindings of wrangler.jsonc.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export async function startServer({ port = 0, persistTo = false } = {}) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.jsonc"));
  const bundle = path.join(root, "dist/bundle");
  const mf = new Miniflare({
    ...workerOptions,
    modules: true,
    scriptPath: path.join(bundle, "index.js"),
    modulesRoot: bundle,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    host: "127.0.0.1",
    port,
    cf: false,
    durableObjectsPersist: persistTo,
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, close: () => mf.dispose() };
}
