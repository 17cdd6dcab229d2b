// Serves the bench worker bundle (dist/bench-bundle, made by scripts/bench.sh
// with `wrangler deploy --dry-run --config bench/e2e/wrangler.jsonc`) in one
// local workerd through Miniflare, on loopback. Same shape as
// tests/e2e/server.mjs; its own copy so the bench can find workerd's pid.
import { spawnSync } from "node:child_process";
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

// What the bundle is made of: the bench worker, the shim, the bench modules.
function bundleInputs() {
  const files = [];
  const walk = (dir, keep) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, keep);
      else if (keep(e.name)) files.push(p);
    }
  };
  for (const f of ["worker.js", "chat-codecs.js", "wrangler.jsonc"]) files.push(path.join(root, "bench/e2e", f));
  walk(path.join(root, "shim"), (n) => n.endsWith(".js"));
  for (const d of ["dist/wasm-bench", "dist/wasm-bench-coalesced"]) walk(path.join(root, d), (n) => /\.(wasm|mjs|js)$/.test(n));
  return files;
}

// Bundles the bench worker (`wrangler deploy --dry-run`) when the bundle is
// missing or older than any of its inputs: a stale bundle would measure code
// that is no longer there.
export function ensureBundle() {
  const out = path.join(BUNDLE, "worker.js");
  const built = fs.existsSync(out) ? fs.statSync(out).mtimeMs : 0;
  const newer = bundleInputs().find((f) => fs.statSync(f).mtimeMs > built);
  if (built > 0 && newer === undefined) return;
  if (!fs.existsSync(path.join(root, "dist/wasm-bench/core.wasm"))) {
    throw new Error("no dist/wasm-bench; run scripts/bench.sh (it builds the bench modules first)");
  }
  process.stderr.write(`bench: bundling the bench worker (${built ? `${path.relative(root, newer)} changed` : "no bundle yet"})\n`);
  fs.rmSync(BUNDLE, { recursive: true, force: true });
  const r = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--config", CONFIG, "--outdir", BUNDLE], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${r.stdout}${r.stderr}`);
}

export async function startBenchServer({ log = false, inspectorPort } = {}) {
  ensureBundle();
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
