// Serves the bench worker bundle (dist/bench-bundle, made by scripts/bench.sh
// with `wrangler deploy --dry-run --config bench/e2e/wrangler.jsonc`) in one
// local workerd through Miniflare, on loopback. Same shape as
// tests/e2e/server.mjs; its own copy so the bench can find workerd's pid.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { workerdPids } from "../../tests/e2e/server.mjs";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUNDLE = path.join(root, "dist/bench-bundle");
const CONFIG = path.join(root, "bench/e2e/wrangler.jsonc");

// Durable Object storage goes to a fresh directory on tmpfs (/dev/shm) when
// there is one. On this VM's disk, SQLite's fsync per commit caps every room
// at a few hundred Says/s and varies ~5× between runs (measured; see
// BENCHMARKS.md), so a disk-backed run measures the disk, not the rooms.
function storageDir() {
  const base = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  return fs.mkdtempSync(path.join(base, "durable-rooms-bench-"));
}

export async function startBenchServer({ log = false, inspectorPort } = {}) {
  if (!fs.existsSync(path.join(BUNDLE, "worker.js"))) {
    throw new Error(`no bench bundle at ${BUNDLE}; run scripts/bench.sh (it bundles first)`);
  }
  const { workerOptions } = unstable_getMiniflareWorkerOptions(CONFIG);
  const before = workerdPids();
  const persist = storageDir();
  const mf = new Miniflare({
    ...workerOptions,
    modules: true,
    scriptPath: path.join(BUNDLE, "worker.js"),
    modulesRoot: BUNDLE,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    host: "127.0.0.1",
    port: 0,
    cf: false,
    durableObjectsPersist: persist,
    ...(inspectorPort ? { inspectorPort } : {}),
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (d) => (log || process.env.ROOMS_LOG) && process.stderr.write(d));
      stderr.on("data", (d) => (log || process.env.ROOMS_LOG) && process.stderr.write(d));
    },
  });
  let url;
  try {
    url = await mf.ready;
  } catch (e) {
    await mf.dispose().catch(() => {});
    fs.rmSync(persist, { recursive: true, force: true });
    throw e;
  }
  const pids = workerdPids().filter((p) => !before.includes(p));
  const close = async () => {
    await mf.dispose();
    fs.rmSync(persist, { recursive: true, force: true });
  };
  return { mf, url: url.toString().replace(/\/$/, ""), workerdPids: pids, storage: persist, close };
}

// workerd processes that are descendants of this process (the e2e server's
// scan of /proc), re-exported for the bench scripts.
export { workerdPids };

// CPU seconds (user + system) a process has used so far, from /proc.
export function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

// CPU seconds the whole machine spent busy so far (all cores), from /proc/stat.
export function machineBusySeconds() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - f[3] - (f[4] ?? 0)) / 100; // minus idle and iowait
}
