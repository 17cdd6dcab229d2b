// Tests of the local tooling around the example: scripts/serve.mjs (what
// `npm start` runs after building) and scripts/build.sh's handling of a
// build dir configured for another checkout. Servers listen on loopback
// only; every process a test starts is stopped in its `finally`.
//
//   node --test --test-concurrency=1 tests/e2e/tooling.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { workerdPids } from "./server.mjs";
import { waitUntil, withTimeout } from "./helpers.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

// Starts `node scripts/serve.mjs` on a free port (PORT=0) with `cwd` for its
// state; resolves once it printed its URL.
async function startServe(cwd) {
  const child = spawn(process.execPath, [path.join(root, "scripts/serve.mjs")], {
    cwd,
    env: { ...process.env, PORT: "0", ROOMS_LOG: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = await withTimeout(
    Promise.race([
      waitUntil(() => out.stdout.match(/durable-rooms chat: (http:\/\/127\.0\.0\.1:\d+)\//)?.[1], { timeout: 60_000, message: "serve.mjs URL" }),
      exit.then((e) => Promise.reject(new Error(`serve.mjs exited before serving: ${JSON.stringify(e)}\n${out.stderr}`))),
    ]),
    60_000,
    "serve.mjs start",
  );
  return { child, out, exit, url };
}

function killQuietly(pid, signal = "SIGKILL") {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

async function stopServe(s) {
  const workerd = workerdPids(s.child.pid);
  if (s.child.exitCode === null && s.child.signalCode === null) {
    killQuietly(s.child.pid, "SIGTERM");
    await withTimeout(s.exit, 5000, "serve.mjs stop").catch(() => killQuietly(s.child.pid));
  }
  for (const pid of workerd) killQuietly(pid);
}

test("serve.mjs exits non-zero with a clear message when its workerd dies", { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rooms-serve-"));
  const s = await startServe(dir);
  try {
    assert.equal((await fetch(`${s.url}/`)).status, 200);
    const pids = workerdPids(s.child.pid);
    assert.ok(pids.length >= 1, "found serve.mjs's workerd process");
    for (const pid of pids) process.kill(pid, "SIGKILL");
    const { code, signal } = await withTimeout(s.exit, 5000, () => `serve.mjs to exit after workerd was killed; stderr: ${s.out.stderr}`);
    assert.equal(signal, null, "exited by itself");
    assert.notEqual(code, 0, "exit status is non-zero");
    assert.match(s.out.stderr, /workerd.*exited unexpectedly/, `stderr: ${s.out.stderr}`);
  } finally {
    await stopServe(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("serve.mjs still stops cleanly on SIGTERM: exit 0, workerd gone", { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rooms-serve-"));
  const s = await startServe(dir);
  try {
    const pids = workerdPids(s.child.pid);
    assert.ok(pids.length >= 1);
    s.child.kill("SIGTERM");
    const { code } = await withTimeout(s.exit, 10_000, "serve.mjs to exit on SIGTERM");
    assert.equal(code, 0, `stderr: ${s.out.stderr}`);
    assert.doesNotMatch(s.out.stderr, /exited unexpectedly/);
    await waitUntil(() => pids.every((pid) => !fs.existsSync(`/proc/${pid}`)), { timeout: 5000, message: "workerd gone" });
  } finally {
    await stopServe(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("build.sh wipes a build dir whose CMakeCache.txt names another source tree, then configures", { timeout: 180_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rooms-copy-"));
  try {
    // A copy of the checkout's tracked files (what `cp -r` of a clean tree gives).
    execFileSync("bash", ["-c", `git ls-files -z | tar --null -T - -cf - | tar -xf - -C "${dir}"`], { cwd: root });
    // ...plus a CMake cache made in another folder.
    fs.mkdirSync(path.join(dir, "build/native"), { recursive: true });
    const foreign = path.join(os.tmpdir(), "rooms-elsewhere");
    fs.writeFileSync(
      path.join(dir, "build/native/CMakeCache.txt"),
      [
        "# This is the CMakeCache file.",
        `CMAKE_CACHEFILE_DIR:INTERNAL=${foreign}/build/native`,
        `CMAKE_HOME_DIRECTORY:INTERNAL=${foreign}`,
        "CMAKE_BUILD_TYPE:STRING=Release",
        "",
      ].join("\n"),
    );
    fs.writeFileSync(path.join(dir, "build/native/stale-artifact"), "");
    let out;
    try {
      out = execFileSync("bash", ["scripts/build.sh", "--configure-only"], { cwd: dir, encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      assert.fail(`build.sh --configure-only failed (${e.status}):\n${e.stdout}\n${e.stderr}`);
    }
    assert.match(out, /build\/native was configured for .*rooms-elsewhere.*wiping it/, out);
    assert.ok(!fs.existsSync(path.join(dir, "build/native/stale-artifact")), "the foreign build dir was wiped");
    const cache = fs.readFileSync(path.join(dir, "build/native/CMakeCache.txt"), "utf8");
    assert.equal(cache.match(/^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$/m)?.[1], fs.realpathSync(dir));

    // A second run leaves its own cache alone.
    const again = execFileSync("bash", ["scripts/build.sh", "--configure-only"], { cwd: dir, encoding: "utf8", stdio: "pipe" });
    assert.doesNotMatch(again, /wiping/, again);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
