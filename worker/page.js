// The chat page: plain HTML and one module script on the typed client
// (durable-rooms/client, served at /client.js from shim/browser as a static
// asset, see wrangler.jsonc). No framework; user data is only ever set as
// textContent.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>durable-rooms chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }
  form { display: flex; gap: .5rem; margin: .5rem 0; }
  input { flex: 1; padding: .4rem; }
  main { display: flex; gap: 1rem; }
  #log { flex: 1; border: 1px solid #ccc; height: 22rem; overflow-y: auto; padding: .5rem; }
  aside { width: 11rem; }
  aside h2 { font-size: 1rem; margin: 0 0 .3rem; }
  #online { list-style: none; margin: 0; padding: 0; }
  .sys { color: #777; font-style: italic; }
  #typing { color: #777; height: 1.4em; }
  #status { font-size: .9rem; }
  #status[data-status="open"]::before { content: "● "; color: #2a2; }
  #status[data-status="reconnecting"]::before, #status[data-status="connecting"]::before { content: "● "; color: #d90; }
  #status[data-status="closed"]::before { content: "● "; color: #c22; }
</style>
</head>
<body>
<h1>durable-rooms chat</h1>
<form id="join">
  <input id="room" placeholder="room" value="lobby" required>
  <input id="user" placeholder="your name" required>
  <button>Join</button>
</form>
<div id="status" data-status="idle">not joined</div>
<main>
  <div id="log" aria-live="polite"></div>
  <aside><h2>Online</h2><ul id="online"></ul></aside>
</main>
<div id="typing"></div>
<form id="say">
  <input id="text" placeholder="message" autocomplete="off" disabled>
  <button disabled>Send</button>
</form>
<script type="module">
import { connect } from "/client.js";

const $ = (id) => document.getElementById(id);
const STATUS = { connecting: "connecting…", open: "connected", reconnecting: "reconnecting…", closed: "disconnected" };
let room = null, me = "", typingTimer = null, lastTyping = 0;

function line(text, cls) {
  const div = document.createElement("div");
  div.textContent = text;
  div.className = cls;
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
}
function showStatus(status) {
  $("status").dataset.status = status;
  $("status").textContent = STATUS[status];
}
function showOnline(presence) {
  const items = Object.keys(presence).sort().map((key) => {
    const li = document.createElement("li");
    li.textContent = key === room.self ? key + " (you)" : key;
    return li;
  });
  $("online").replaceChildren(...items);
}
function showTyping(user) {
  $("typing").textContent = user + " is typing…";
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($("typing").textContent = ""), 2000);
}

$("join").onsubmit = (ev) => {
  ev.preventDefault();
  room?.close(1000, "left");
  const name = $("room").value.trim();
  me = $("user").value.trim();
  $("log").textContent = "";
  $("online").textContent = "";
  // At most 50 messages wait while offline: the chat room's inbound burst is
  // 60 frames, so flushing them on reconnect stays within it.
  room = connect("/ws/chat/" + encodeURIComponent(name) + "?userId=" + encodeURIComponent(me), { bufferSize: 50 });
  window.room = room; // for the console
  showStatus(room.status);
  room.on("status", showStatus);
  room.on("open", ({ reconnected }) => {
    line(reconnected ? "reconnected" : "joined " + name + " as " + me, "sys");
    for (const el of $("say").elements) el.disabled = false;
    $("text").focus();
  });
  room.on("close", ({ code, reason, willReconnect }) => {
    line("connection lost (" + code + (reason ? " " + reason : "") + ")" + (willReconnect ? "; reconnecting" : ""), "sys");
    if (!willReconnect) for (const el of $("say").elements) el.disabled = true;
  });
  room.on("Message", (m) => line(m.userId + ": " + m.text, "msg"));
  room.on("UserJoined", (m) => line(m.userId + " joined", "sys"));
  room.on("UserLeft", (m) => line(m.userId + " left", "sys"));
  room.on("Typing", (m) => m.userId !== me && showTyping(m.userId));
  room.on("presence", showOnline);
  room.on("error", (e) => {
    if (e._tag === "ResyncRequired") line("some messages were missed while away (the room's history no longer reaches back to them)", "sys");
    else if (e._tag === "RateLimitError") line("slow down: retry in " + e.retryAfterMs + " ms", "sys");
    else if (e._tag === "SendBufferFull") line("not sent: too many messages waiting for the connection", "sys");
  });
};
$("text").oninput = () => {
  const now = Date.now();
  // Typing is worth sending only live: never buffered while offline.
  if (room?.status === "open" && now - lastTyping > 1000) {
    lastTyping = now;
    room.send({ _tag: "Typing" });
  }
};
$("say").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("text").value;
  if (!text || !room) return;
  // While reconnecting the message waits in the client's buffer.
  if (room.send({ _tag: "Say", text })) $("text").value = "";
};
</script>
</body>
</html>
`;
