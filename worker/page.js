// The chat page: plain HTML and JS, no framework.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>durable-rooms chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  form { display: flex; gap: .5rem; margin: .5rem 0; }
  input { flex: 1; padding: .4rem; }
  #log { border: 1px solid #ccc; height: 22rem; overflow-y: auto; padding: .5rem; }
  .sys { color: #777; font-style: italic; }
  #typing { color: #777; height: 1.4em; }
</style>
</head>
<body>
<h1>durable-rooms chat</h1>
<form id="join">
  <input id="room" placeholder="room" value="lobby" required>
  <input id="user" placeholder="your name" required>
  <button>Join</button>
</form>
<div id="log" aria-live="polite"></div>
<div id="typing"></div>
<form id="say">
  <input id="text" placeholder="message" autocomplete="off" disabled>
  <button disabled>Send</button>
</form>
<script>
const $ = (id) => document.getElementById(id);
let ws = null, typingTimer = null, lastTyping = 0;
function line(text, cls) {
  const div = document.createElement("div");
  div.textContent = text;
  if (cls) div.className = cls;
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
}
function showTyping(user) {
  $("typing").textContent = user + " is typing…";
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($("typing").textContent = ""), 2000);
}
$("join").onsubmit = (ev) => {
  ev.preventDefault();
  if (ws) ws.close(1000, "left");
  const room = $("room").value.trim(), user = $("user").value.trim();
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + "/ws/chat/" + encodeURIComponent(room) + "?userId=" + encodeURIComponent(user));
  $("log").textContent = "";
  ws.onopen = () => {
    line("joined " + room + " as " + user, "sys");
    for (const el of $("say").elements) el.disabled = false;
    $("text").focus();
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg._tag === "Message") line(msg.userId + ": " + msg.text);
    else if (msg._tag === "UserJoined") line(msg.userId + " joined", "sys");
    else if (msg._tag === "UserLeft") line(msg.userId + " left", "sys");
    else if (msg._tag === "Typing") showTyping(msg.userId);
  };
  ws.onclose = (ev) => {
    line("disconnected (" + ev.code + (ev.reason ? " " + ev.reason : "") + ")", "sys");
    for (const el of $("say").elements) el.disabled = true;
  };
};
$("text").oninput = () => {
  const now = Date.now();
  if (ws && ws.readyState === 1 && now - lastTyping > 1000) {
    lastTyping = now;
    ws.send(JSON.stringify({ _tag: "Typing" }));
  }
};
$("say").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("text").value;
  if (!text || !ws) return;
  ws.send(JSON.stringify({ _tag: "Say", text }));
  $("text").value = "";
};
</script>
</body>
</html>
`;
