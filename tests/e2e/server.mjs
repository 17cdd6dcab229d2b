// Serves a bundled worker in a local workerd through Miniflare, on loopback:
// by default the chat example (dist/bundle, from `wrangler deploy --dry-run`
// with wrangler.jsonc); with `{ worker: "test" }` the end-to-end test worker
// (dist/test-bundle, tests/e2e/worker/wrangler.jsonc). Durable Object
// bindings come from the wrangler config, so tests run what a deploy runs.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const WORKERS = {
  chat: { config: "wrangler.jsonc", bundle: "dist/bundle" },
  test: { config: "tests/e2e/worker/wrangler.jsonc", bundle: "dist/test-bundle" },
};

export async function startServer({ port = 0, persistTo, log = false, worker = "chat" } = {}) {
  const { config, bundle } = WORKERS[worker];
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, config));
  const mf = new Miniflare({
    ...workerOptions,
    modules: true,
    scriptPath: path.join(root, bundle, "index.js"),
    modulesRoot: path.join(root, bundle),
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
