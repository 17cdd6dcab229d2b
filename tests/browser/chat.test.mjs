// The chat page (worker/page.js on durable-rooms/client) in a real browser:
// headless Chromium from Debian's `chromium` package driven by playwright-core
// (nothing downloaded), against the chat worker in workerd (Miniflare) on
// loopback, reached through a TCP proxy that can cut one user's connection.
//
//   node --test tests/browser/          (needs the build's dist/)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

import { startServer } from "../e2e/server.mjs";
import { startProxy } from "./proxy.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Generous: npm test runs this beside the e2e suite and a sanitizer build on
// 2 cores, where one page's join can take seconds.
const WAIT_MS = 20_000;
const TEST = { timeout: 90_000 };

let server;
let proxy;
let browser;
let rooms = 0;
const pageErrors = [];

before(async () => {
  server = await startServer({ port: 0 });
  proxy = await startProxy(server.url);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.close();
  assert.deepEqual(pageErrors, [], "no page threw");
});

const uniqueRoom = (prefix) => `${prefix}-${process.pid}-${++rooms}`;

// A fresh browser context (its own storage) with the page joined to `room` as `user`.
async function join(t, room, user) {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${user}: ${e.message}`));
  await page.goto(`${proxy.url}/`);
  await page.fill("#room", room);
  await page.fill("#user", user);
  await page.click("#join button");
  await waitStatus(page, "open");
  return page;
}

const waitStatus = (page, status) =>
  page.waitForFunction((s) => document.getElementById("status").dataset.status === s, status, { timeout: WAIT_MS });

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

// The texts of the messages shown in #log, in order.
const messages = (page) => page.$$eval("#log .msg", (els) => els.map((e) => e.textContent));

async function waitMessages(page, expected) {
  try {
    await page.waitForFunction(
      (want) => {
        const got = [...document.querySelectorAll("#log .msg")].map((e) => e.textContent);
        return want.every((w) => got.includes(w));
      },
      expected,
      { timeout: WAIT_MS },
    );
  } catch (e) {
    const log = await page.$$eval("#log > div", (els) => els.map((d) => d.textContent));
    throw new Error(`${e.message}\nwanted ${JSON.stringify(expected)}\nthe log: ${JSON.stringify(log)}`);
  }
}

// The tests run side by side (each in its own room and browser contexts;
// only the resume test's users are ever cut): the wall time is the slowest.
// Chat, typing and markup share one pair of pages (fewer renderers on 2 cores).
describe("the chat page", { concurrency: true }, () => {
  it("two pages", TEST, async (t) => {
    const room = uniqueRoom("two");
    const alice = await join(t, room, "alice");
    const bob = await join(t, room, "bob");

    await t.test("chat", async () => {
      assert.equal(await alice.textContent("#status"), "connected");
      await alice.waitForFunction(() => document.getElementById("log").textContent.includes("bob joined"), null, { timeout: WAIT_MS });
      await say(alice, "hello bob");
      await waitMessages(bob, ["alice: hello bob"]);
      await say(bob, "hi alice");
      await waitMessages(alice, ["alice: hello bob", "bob: hi alice"]);
      assert.deepEqual(await messages(alice), ["alice: hello bob", "bob: hi alice"]);
      assert.deepEqual(await messages(bob), ["alice: hello bob", "bob: hi alice"]);
      assert.equal(await alice.inputValue("#text"), "", "the input is cleared once sent");
    });

    await t.test("the typing indicator shows who types, to the others only", async () => {
      await bob.type("#text", "wri");
      await alice.waitForFunction(() => document.getElementById("typing").textContent === "bob is typing…", null, { timeout: WAIT_MS });
      // bob may still see alice's notice from her last message (it fades
      // after 2 s); never his own.
      assert.ok(!(await bob.textContent("#typing")).includes("bob"), "not to the one typing");
      await bob.fill("#text", "");
    });

    await t.test("markup in a message shows as text", async () => {
      const markup = `<img src=x onerror="window.pwned=1"><b>bold</b><script>window.pwned=2</script>`;
      await say(alice, markup);
      await waitMessages(bob, [`alice: ${markup}`]);
      await waitMessages(alice, [`alice: ${markup}`]);
      for (const page of [alice, bob]) {
        assert.equal(await page.$$eval("#log img, #log b, #log script", (els) => els.length), 0, "no element was made from it");
        assert.equal(await page.evaluate(() => window.pwned), undefined);
      }
    });
  });

  // The online list renders the client's presence state (the room's Presence
  // and PresenceDiff frames, docs/PROTOCOL.md §1), which the chat room sends
  // once presence is on.
  it("the online list shows who is in the room", TEST, async (t) => {
    const room = uniqueRoom("online");
    const alice = await join(t, room, "alice");
    const bob = await join(t, room, "bob");
    const online = (page) => page.$$eval("#online li", (els) => els.map((e) => e.textContent));
    await alice.waitForFunction(() => document.querySelectorAll("#online li").length === 2, null, { timeout: WAIT_MS });
    assert.deepEqual(await online(alice), ["alice (you)", "bob"]);
    await bob.waitForFunction(() => document.querySelectorAll("#online li").length === 2, null, { timeout: WAIT_MS });
    assert.deepEqual(await online(bob), ["alice", "bob (you)"]);
    await bob.context().close();
    await alice.waitForFunction(() => document.querySelectorAll("#online li").length === 1, null, { timeout: WAIT_MS });
    assert.deepEqual(await online(alice), ["alice (you)"]);
  });

  // Carol's connection is cut (the TCP connection ends, and her reconnects are
  // refused) while dave writes; once she can reconnect, the client resumes with
  // the last $seq it saw and the room replays what she missed.
  it("a page that lost its connection comes back with the messages it missed", TEST, async (t) => {
    const room = uniqueRoom("resume");
    const carol = await join(t, room, "carol");
    const dave = await join(t, room, "dave");
    await say(carol, "before");
    await waitMessages(dave, ["carol: before"]);
    await waitMessages(carol, ["carol: before"]);

    proxy.cut("carol");
    await waitStatus(carol, "reconnecting");
    assert.equal(await carol.textContent("#status"), "reconnecting…");
    await say(dave, "missed 1");
    await say(dave, "missed 2");
    await waitMessages(dave, ["dave: missed 1", "dave: missed 2"]);
    // Written while away: waits in the client's buffer, sent on reconnect.
    await say(carol, "from the tunnel");
    assert.deepEqual(await messages(carol), ["carol: before"], "nothing arrived while cut");

    proxy.restore("carol");
    await waitStatus(carol, "open");
    await waitMessages(carol, ["dave: missed 1", "dave: missed 2", "carol: from the tunnel"]);
    await waitMessages(dave, ["carol: from the tunnel"]);
    assert.deepEqual(await messages(carol), ["carol: before", "dave: missed 1", "dave: missed 2", "carol: from the tunnel"], "each once, in order");
  });
});
