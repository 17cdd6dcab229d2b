// Serves a bundled worker in a local workerd through Miniflare, on loopback:
// by default the chat example (dist/bundle, from `wrangler deploy --dry-run`
// with wrangler.jsonc); with `{ worker: "test" }` the end-to-end test worker
// (dist/test-bundle, tests/e2e/worker/wrangler.jsonc). Durable Object
// bindings come from the wrangler config, so tests run what a deploy runs.
//
// The returned server also tells when workerd dies: `exited` resolves (with
// {pid}) once the workerd process ends other than through close(), and
// `onExit` (an option) is called then. workerd's output goes to this
// process's stdout/stderr with `log` (or ROOMS_LOG set), and to
// `onOutput(text, "stdout" | "stderr")` when given.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const WORKERS = {
  chat: { config: "wrangler.jsonc", bundle: "dist/bundle" },
  test: { config: "tests/e2e/worker/wrangler.jsonc", bundle: "dist/test-bundle" },
};

// Linux: the workerd processes descended from `ancestor` (default: this
// process; Miniflare spawns the workerd binary itself), from a scan of
// /proc. [] elsewhere.
export function workerdPids(ancestor = process.pid) {
  const parent = new Map();
  const comm = new Map();
  let entries = [];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return [];
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      comm.set(Number(d), stat.slice(stat.indexOf("(") + 1, close));
      parent.set(Number(d), Number(stat.slice(close + 2).split(" ")[1]));
    } catch {
      // Gone.
    }
  }
  const mine = (pid) => {
    for (let p = parent.get(pid); p; p = parent.get(p)) if (p === ancestor) return true;
    return false;
  };
  return [...comm].filter(([pid, c]) => c.startsWith("workerd") && mine(pid)).map(([pid]) => pid);
}

// True while `pid` runs (a zombie counts as gone).
function running(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

export async function startServer({ port = 0, persistTo, log = false, worker = "chat", onOutput, onExit } = {}) {
  const { config, bundle } = WORKERS[worker];
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, config));
  const echo = log || Boolean(process.env.ROOMS_LOG);
  let closing = false;
  let pids = [];
  let resolveExited;
  const exited = new Promise((resolve) => (resolveExited = resolve));
  let reported = false;
  const died = (how) => {
    if (closing || reported) return;
    reported = true;
    const info = { pid: pids[0] ?? null, how };
    resolveExited(info);
    onExit?.(info);
  };
  const before = workerdPids();
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
    // Called with workerd's stdout and stderr each time Miniflare starts it.
    // Its stdout ends when the process does: that is the exit signal (the
    // child process itself is private to Miniflare).
    handleRuntimeStdio(stdout, stderr) {
      for (const [stream, name, sink] of [[stdout, "stdout", process.stdout], [stderr, "stderr", process.stderr]]) {
        readline.createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
          if (echo) sink.write(`${line}\n`);
          onOutput?.(`${line}\n`, name);
        });
      }
      stdout.once("end", () => died("its output closed"));
    },
  });
  const url = await mf.ready;
  pids = workerdPids().filter((p) => !before.includes(p));
  // Belt and braces, on Linux: poll the process too.
  const poll = setInterval(() => {
    if (pids.length > 0 && !pids.every(running)) died("the process is gone");
  }, 500);
  poll.unref();
  return {
    mf,
    url: url.toString().replace(/\/$/, ""),
    /** The workerd process ids (Linux; [] elsewhere). */
    pids: () => pids.slice(),
    exited,
    close: async () => {
      closing = true;
      clearInterval(poll);
      await mf.dispose();
    },
  };
}
