// A loopback TCP proxy in front of the worker, for cutting one user's
// WebSocket connections the way a network does (the TCP connection simply
// ends: the browser sees 1006, workerd sees the socket close) and refusing
// that user's new ones until restored. Everything else passes through.
//
//   const proxy = await startProxy(server.url);   // http://127.0.0.1:<port>
//   proxy.cut("alice");  ...  proxy.restore("alice");

import net from "node:net";

const HEAD_LIMIT = 64 * 1024;

export async function startProxy(target) {
  const upstream = new URL(target);
  const blocked = new Set();
  const sockets = new Map(); // userId → Set of [client, server] pairs
  const all = new Set();

  const server = net.createServer((client) => {
    all.add(client);
    client.on("close", () => all.delete(client));
    client.on("error", () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0 && head.length < HEAD_LIMIT) return;
      client.off("data", onData);
      client.pause();
      const text = head.subarray(0, end < 0 ? head.length : end).toString("latin1");
      const [requestLine, ...headers] = text.split("\r\n");
      const isUpgrade = headers.some((h) => /^upgrade:\s*websocket/i.test(h));
      const path = requestLine.split(" ")[1] ?? "/";
      const user = isUpgrade ? new URL(path, "http://x").searchParams.get("userId") : null;
      if (user !== null && blocked.has(user)) {
        client.destroy();
        return;
      }
      const up = net.connect(Number(upstream.port), upstream.hostname, () => {
        up.write(head);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
      all.add(up);
      up.on("close", () => {
        all.delete(up);
        client.destroy();
      });
      up.on("error", () => client.destroy());
      client.on("close", () => up.destroy());
      if (user !== null) {
        if (!sockets.has(user)) sockets.set(user, new Set());
        const pair = [client, up];
        sockets.get(user).add(pair);
        client.on("close", () => sockets.get(user)?.delete(pair));
      }
    };
    client.on("data", onData);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Ends `user`'s WebSocket connections and refuses new ones until restore(user). */
    cut(user) {
      blocked.add(user);
      for (const [c, u] of sockets.get(user) ?? []) {
        c.destroy();
        u.destroy();
      }
    },
    restore(user) {
      blocked.delete(user);
    },
    /** `user`'s WebSocket connections now open through the proxy. */
    open: (user) => sockets.get(user)?.size ?? 0,
    close: () =>
      new Promise((resolve) => {
        for (const s of all) s.destroy();
        server.close(() => resolve());
      }),
  };
}
