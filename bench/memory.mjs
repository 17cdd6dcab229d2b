// How much memory workerd holds for large request bodies and for a socket
// that stops reading. Not a test and not timed: it prints workerd's resident
// set (VmRSS, and the peak VmHWM, from /proc/<pid>/status; Linux only) at
// each step, for the chat example (dist/bundle; run scripts/build.sh first).
//
//   node bench/memory.mjs                 # all steps
//   POSTS=10 POST_MB=30 OWED=100 node bench/memory.mjs
//
// Steps:
//   1. baseline, after one room has served a Say (its core is instantiated);
//   2. ten 30 MB POSTs (valid Says) to /api/chat/:room/say with Content-Length, then ten
//      sent chunked (no Content-Length); each client stops sending once the
//      answer arrives or the connection is reset;
//   3. one socket that stops reading (its TCP socket paused) while another
//      reads, and 100 Says of ~1 MiB posted over HTTP: the paused socket is
//      owed ~100 MiB of broadcasts; then the paused socket resumes and drains,
//      and finally closes.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import WebSocket from "ws";
import { startServer } from "../tests/e2e/server.mjs";

const POSTS = Number(process.env.POSTS ?? 10);
const POST_BYTES = Number(process.env.POST_MB ?? 30) * 1e6;
const OWED = Number(process.env.OWED ?? 100);
const MiB = 1024 * 1024;
// A Say whose body fits the 1 MiB limit once the worker splices in
// "_tag":"Say" (13 bytes), and whose Message is ~1 MiB. Random base64, so no
// compression anywhere shrinks it; the sockets also refuse permessage-deflate.
const SAY_TEXT = crypto.randomBytes(Math.floor(((MiB - 64) * 3) / 4)).toString("base64").slice(0, MiB - 64);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function status(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number(text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

const server = await startServer({ port: 0 });
const pids = server.pids();
if (pids.length === 0) {
  console.error("memory.mjs: no workerd process found under this one (Linux /proc needed)");
  await server.close();
  process.exit(1);
}
const mb = (kb) => `${(kb / 1024).toFixed(1)} MiB`;
const rows = [];
async function report(step) {
  await sleep(500); // let frees settle
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    const s = status(pid);
    rss += s.rss;
    hwm += s.hwm;
  }
  rows.push({ step, rss, hwm });
  console.log(`${step.padEnd(62)} RSS ${mb(rss).padStart(11)}   peak ${mb(hwm).padStart(11)}`);
}

// POSTs `total` bytes without buffering them, with `Expect: 100-continue`
// (the body goes once the server asks for it, or after 1 s, as curl does);
// stops once answered. Resolves with { status, sent }; status "reset" when
// the connection failed before an answer.
function streamPost(url, total, contentLength) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const headers = { "content-type": "application/json", expect: "100-continue" };
    if (contentLength) headers["content-length"] = String(total);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers, agent: false });
    const block = Buffer.alloc(64 * 1024, "a");
    let sent = 0;
    let started = false;
    let answered = false;
    // A valid Say: {"text":"aaa…"}, so a server that reads it all hands it on.
    const head = Buffer.from('{"text":"');
    const tail = Buffer.from('"}');
    const pump = () => {
      started = true;
      while (!answered && sent < total) {
        let chunk = sent === 0 ? Buffer.concat([head, block.subarray(head.length)]) : block;
        if (total - sent <= chunk.length) chunk = Buffer.concat([chunk.subarray(0, total - sent - tail.length), tail]);
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    req.on("response", (res) => {
      answered = true;
      res.resume();
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode, sent });
      });
    });
    req.on("error", () => {
      if (!answered) resolve({ status: "reset", sent });
    });
    req.flushHeaders();
    req.once("continue", () => started || pump());
    setTimeout(() => started || answered || pump(), 1000);
  });
}

async function postSay(url, text) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text }) });
  if (res.status !== 200) throw new Error(`POST say → ${res.status} ${(await res.text()).slice(0, 200)}`);
}

function openWs(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 4 * MiB, perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

const room = `memory-${process.pid}`;
const say = `${server.url}/api/chat/${room}/say`;
try {
  console.log(`workerd pid(s) ${pids.join(", ")}; ${server.url}`);
  await postSay(say, "warm up");
  await report("1. baseline (room served one Say)");

  for (const contentLength of [true, false]) {
    const statuses = new Map();
    let sent = 0;
    for (let i = 0; i < POSTS; i++) {
      const r = await streamPost(say, POST_BYTES, contentLength);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      sent += r.sent;
    }
    const how = contentLength ? "with Content-Length" : "chunked";
    const answers = [...statuses].map(([s, n]) => `${n}×${s}`).join(" ");
    await report(`2. after ${POSTS} × ${POST_BYTES / 1e6} MB POSTs ${how} (${answers})`);
    console.log(`   client sent ${(sent / 1e6).toFixed(1)} MB of ${((POSTS * POST_BYTES) / 1e6).toFixed(0)} MB before the answers or resets`);
  }

  const reader = await openWs(`${server.url.replace(/^http/, "ws")}/ws/chat/${room}?userId=reader`);
  const paused = await openWs(`${server.url.replace(/^http/, "ws")}/ws/chat/${room}?userId=paused`);
  let readerGot = 0;
  let pausedGot = 0;
  reader.on("message", (d) => d.length > MiB / 2 && readerGot++);
  paused.on("message", (d) => d.length > MiB / 2 && pausedGot++);
  await sleep(300);
  paused._socket.pause(); // stops reading from TCP: workerd's sends to it back up
  await report("3a. reader + paused socket connected");
  for (let i = 0; i < OWED; i++) await postSay(say, SAY_TEXT);
  const deadline = Date.now() + 60_000;
  while (readerGot < OWED && Date.now() < deadline) await sleep(50);
  console.log(`   reader got ${readerGot}/${OWED} ~1 MiB Messages; paused socket got ${pausedGot}`);
  await report(`3b. paused socket owed ${OWED} × ~1 MiB of broadcasts`);
  paused._socket.resume();
  const drainBy = Date.now() + 60_000;
  while (pausedGot < OWED && Date.now() < drainBy) await sleep(50);
  console.log(`   paused socket resumed and got ${pausedGot}/${OWED}`);
  await report("3c. after the paused socket resumed and drained");
  reader.close();
  paused.close();
  await sleep(500);
  await report("3d. after both sockets closed");
} finally {
  await server.close();
}
