// The chat page: one websocket to the thread's protocol stream (docs/thread-protocol.md §1.3).
// Commands go over the socket and are paired with their replies by id; events are deduped by
// seq, so a reconnect can resume with `since` = the highest seq seen. Every string from the
// server reaches the page through textContent or append(), never as HTML.

const $ = (id) => document.getElementById(id);

const SUBSCRIPTION = {
  channels: ["messages", "lifecycle", "input", "values"],
  namespaces: [[]],
  depth: 0,
};
// Close codes after which reconnecting cannot help (docs/thread-protocol.md §1.3).
const FINAL_CLOSES = {
  1000: "closed",
  4401: "auth error: unauthenticated (4401)",
  4403: "auth error: forbidden (4403)",
  4404: "not your thread (4404)",
};
const MAX_BACKOFF_MS = 10000;
const KEY_STORAGE = "agentserver.apiKey";
const ROLES = { human: "user", ai: "ai", tool: "tool", system: "system" };
const RUN_STATES = {
  started: "running",
  completed: "completed",
  failed: "failed",
  interrupted: "interrupted",
};

class ConnectionClosed extends Error {}

class CommandError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

const state = {
  threadId: threadFromUrl(),
  socket: null,
  nextId: 1,
  pending: new Map(), // command id: {resolve, reject}
  lastSeq: null,
  retries: 0,
  retryTimer: null,
  currentRun: null, // the run the status line follows: the one that started last
  messages: new Map(), // message id: the element its text goes into
  runs: new Map(), // run id: its row
  interruptId: null,
};

function threadFromUrl() {
  const url = new URL(location.href);
  const threadId = url.searchParams.get("thread") || crypto.randomUUID();
  url.searchParams.set("thread", threadId);
  history.replaceState(null, "", url); // a reload stays on this thread
  return threadId;
}

// --- the socket ----------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const path = `/threads/${state.threadId}/stream/events`;
  const socket = new WebSocket(`${scheme}//${location.host}${path}`);
  state.socket = socket;
  setConnection("connecting");
  socket.onopen = () => subscribe(socket);
  socket.onmessage = (message) => socket === state.socket && onFrame(JSON.parse(message.data));
  socket.onclose = (closed) => onClose(socket, closed.code);
}

async function subscribe(socket) {
  const since = state.lastSeq === null ? {} : { since: state.lastSeq };
  try {
    const key = apiKey();
    if (key) await call("auth", { api_key: key });
    await call("subscription.subscribe", { ...SUBSCRIPTION, ...since });
  } catch (error) {
    if (!(error instanceof ConnectionClosed)) showError(error.message);
    return; // onClose says why and decides whether to retry
  }
  if (socket === state.socket) {
    state.retries = 0;
    const resumed = since.since === undefined ? "" : ` (resumed after event ${since.since})`;
    setConnection(`connected${resumed}`, "connected");
  }
}

function onClose(socket, code) {
  if (socket !== state.socket) return; // replaced on purpose by reconnect()
  state.socket = null;
  for (const { reject } of state.pending.values()) {
    reject(new ConnectionClosed("connection closed"));
  }
  state.pending.clear();
  if (code in FINAL_CLOSES) {
    setConnection(FINAL_CLOSES[code], "refused");
  } else {
    retryLater(code);
  }
}

function retryLater(reason) {
  const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** state.retries++);
  const delay = backoff / 2 + (Math.random() * backoff) / 2; // jitter: tabs don't return in step
  setConnection(`reconnecting in ${(delay / 1000).toFixed(1)}s (${reason})`, "reconnecting");
  state.retryTimer = setTimeout(connect, delay);
}

function reconnect() {
  clearTimeout(state.retryTimer);
  const old = state.socket;
  state.socket = null;
  if (old) old.close(1000);
  state.retries = 0;
  connect();
}

function call(method, params) {
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    return Promise.reject(new CommandError("not_connected", "the socket is not connected"));
  }
  const id = state.nextId++;
  socket.send(JSON.stringify({ id, method, params }));
  return new Promise((resolve, reject) => state.pending.set(id, { resolve, reject }));
}

function onFrame(frame) {
  if (frame.type === "event") {
    onEvent(frame);
  } else if (frame.type === "success" || frame.type === "error") {
    const waiter = state.pending.get(frame.id);
    state.pending.delete(frame.id);
    if (frame.type === "success") waiter?.resolve(frame.result);
    else if (waiter) waiter.reject(new CommandError(frame.error, frame.message));
    else showError(`${frame.error}: ${frame.message}`); // rate_limited, resume_gap, ...
  } // heartbeats need nothing
}

// --- events ----------------------------------------------------------------------------------

function onEvent(frame) {
  if (state.lastSeq !== null && frame.seq <= state.lastSeq) return; // seen before a reconnect
  state.lastSeq = frame.seq;
  const data = frame.params.data;
  if (frame.method === "messages") onMessage(data);
  else if (frame.method === "lifecycle") onLifecycle(data);
  else if (frame.method === "input.requested") showInterrupt(data);
  else if (frame.method === "values") onValues(data);
}

function onMessage(data) {
  if (data.event === "message-start") {
    messageText(data.id, data.role);
  } else if (data.event === "content-block-delta" && data.delta?.type === "text-delta") {
    messageText(data.id, "ai").append(data.delta.text);
  } else if (data.event === "error") {
    showError(`message error: ${data.message}`);
  }
}

function onValues(data) {
  $("values").textContent = JSON.stringify(data, null, 2);
  if (!Array.isArray(data?.messages)) return;
  // The state is the final word on each message; streamed text only got there first.
  for (const message of data.messages) {
    if (!message?.id) continue;
    const text = messageText(message.id, ROLES[message.type] ?? String(message.type));
    const content = contentText(message.content);
    if (text.textContent !== content) text.textContent = content;
  }
}

function contentText(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((block) => (typeof block === "string" ? block : block?.text ?? "")).join("");
}

function messageText(id, role) {
  let text = state.messages.get(id);
  if (!text) {
    const item = element("div", {
      class: "message",
      "data-testid": "message",
      "data-role": role,
      "data-message-id": id,
    });
    text = element("span", { class: "text", "data-testid": "message-text" });
    item.append(element("span", { class: "role" }, role), text);
    $("transcript").append(item);
    state.messages.set(id, text);
  }
  text.scrollIntoView({ block: "end" });
  return text;
}

function onLifecycle(data) {
  const label = RUN_STATES[data.event] ?? String(data.event);
  const detail = [...new Set([data.reason, data.error].filter(Boolean))].join(": ");
  setRun(data.run_id, label, detail);
  if (data.event === "started" || state.currentRun === null) state.currentRun = data.run_id;
  // A superseded run ends after its successor started; the status line stays on the successor.
  if (data.run_id !== state.currentRun) return;
  const status = $("status");
  status.textContent = `${label} · run ${data.run_id}${detail ? ` (${detail})` : ""}`;
  status.dataset.state = label;
  status.dataset.runId = data.run_id;
  if (data.event !== "interrupted") hideInterrupt();
}

function setRun(runId, label, detail = "") {
  let row = state.runs.get(runId);
  if (!row) {
    row = element("li", { "data-testid": "run", "data-run-id": runId });
    $("runs").append(row);
    state.runs.set(runId, row);
  }
  row.dataset.state = label;
  row.textContent = `${runId} ${label}${detail ? ` (${detail})` : ""}`;
}

function showInterrupt(data) {
  state.interruptId = data.interrupt_id;
  $("interrupt-payload").textContent = JSON.stringify(data.payload, null, 2);
  $("interrupt").hidden = false;
  $("answer").focus();
}

function hideInterrupt() {
  state.interruptId = null;
  $("interrupt").hidden = true;
}

// --- the user's actions ----------------------------------------------------------------------

async function send(event) {
  event.preventDefault();
  clearError();
  const input = runInput();
  if (input === null) return;
  const params = {
    assistant_id: $("assistant").value.trim(),
    input,
    multitaskStrategy: $("strategy").value,
  };
  try {
    const { run_id: runId } = await call("run.start", params);
    if (!state.runs.has(runId)) setRun(runId, "pending"); // its lifecycle may have come first
    $("message").value = "";
  } catch (error) {
    showError(error.message);
  }
}

function runInput() {
  const json = $("input-json").value.trim();
  if (json) {
    try {
      return JSON.parse(json);
    } catch (error) {
      showError(`Input is not JSON: ${error.message}`);
      return null;
    }
  }
  const text = $("message").value.trim();
  return text ? { messages: [{ role: "user", content: text }] } : null;
}

async function answer(event) {
  event.preventDefault();
  clearError();
  try {
    await call("input.respond", { interrupt_id: state.interruptId, response: $("answer").value });
    $("answer").value = "";
    hideInterrupt();
  } catch (error) {
    showError(error.message);
  }
}

async function cancel() {
  clearError();
  try {
    const { run_ids: runIds } = await call("run.cancel", { action: "interrupt" });
    if (!runIds.length) showError("No active run to cancel");
  } catch (error) {
    showError(error.message);
  }
}

function saveSettings(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  clearError();
  reconnect();
}

// --- small helpers ---------------------------------------------------------------------------

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? "";
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function setConnection(text, stateName = text) {
  const line = $("connection");
  line.textContent = text;
  line.dataset.state = stateName;
}

function showError(message) {
  $("error").textContent = message;
}

function clearError() {
  $("error").textContent = "";
}

$("thread-id").textContent = state.threadId;
$("api-key").value = apiKey();
$("settings").addEventListener("submit", saveSettings);
$("composer").addEventListener("submit", send);
$("answer-form").addEventListener("submit", answer);
$("cancel").addEventListener("click", cancel);
connect();
