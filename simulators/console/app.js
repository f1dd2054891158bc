// The simulator's console. Every action is one call of the control API (README: "The console");
// live updates come from GET /v1/events. No framework, no build step: plain DOM.
"use strict";

const SCREEN_WAIT_S = 10; // ?wait_s= of USSD calls: the answer comes once the next screen did
const $ = (id) => document.getElementById(id);
const state = {
  clockOffsetS: 0, // the simulator's clock minus ours (its times are its reactor's seconds)
  ussdTimers: { session_timeout_s: 180, answer_timeout_s: 10 },
  phones: [],
  selected: null,
  session: null,
  faultTypes: [],
  active: {},
  runs: new Map(),
};

// --- the API --------------------------------------------------------------------------------

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["content-type"] = "application/json";
  }
  const response = await fetch(path, options);
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || `${method} ${path}: ${response.status}`);
  return payload;
}

function notice(text, isError) {
  const box = $("notice");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

// Run an action; a refusal shows in the notice line (never a console error).
function act(work) {
  return work().then(() => notice(""), (error) => notice(error.message, true));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

const nowS = () => Date.now() / 1000 + state.clockOffsetS;
const clock = (seconds) => new Date((seconds - state.clockOffsetS) * 1000).toLocaleTimeString();

// --- phones and their threads ---------------------------------------------------------------

async function loadPhones() {
  state.phones = (await api("GET", "/v1/phones")).phones;
  renderPhones();
}

function renderPhones() {
  const list = $("phone-list");
  list.replaceChildren();
  for (const phone of state.phones) {
    const pick = el("button", { type: "button", class: "pick", "data-msisdn": phone.msisdn },
      phone.name || phone.msisdn, phone.name ? el("small", { text: phone.msisdn }) : null);
    if (phone.msisdn === state.selected) pick.classList.add("selected");
    pick.addEventListener("click", () => act(() => select(phone.msisdn)));
    const remove = el("button", { type: "button", title: "remove", text: "×" });
    remove.addEventListener("click", () => act(async () => {
      await api("DELETE", `/v1/phones/${encodeURIComponent(phone.msisdn)}`);
      if (state.selected === phone.msisdn) state.selected = null;
      await loadPhones();
    }));
    list.append(el("li", {}, pick, remove));
  }
}

async function select(msisdn) {
  const scenario = $("scenario-toml");
  if (scenario.value === EXAMPLE(state.selected || "254712000001")) scenario.value = EXAMPLE(msisdn);
  state.selected = msisdn;
  state.session = null;
  renderPhones();
  renderSession();
  await loadThread();
}

async function loadThread() {
  if (!state.selected) return;
  const asked = state.selected;
  const thread = await api("GET", `/v1/phones/${encodeURIComponent(asked)}/thread`);
  if (asked === state.selected) renderThread(thread);
}

function renderThread(thread) {
  $("phone-title").textContent = thread.name ? `${thread.name} (${thread.msisdn})` : thread.msisdn;
  const list = $("thread");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.replaceChildren(...thread.items.map(threadItem));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function threadItem(item) {
  if (item.kind === "mo") {
    const copies = item.copies > 1 ? ` ×${item.copies}` : "";
    return el("li", { class: "mo", "data-id": item.id }, item.text,
      el("span", { class: "meta" }, `to ${item.to}${copies} · ${clock(item.sent_at)} · `,
        el("span", { class: `state ${item.state}`, text: item.state }),
        item.error ? ` · ${item.error}` : ""));
  }
  const receipts = item.parts.filter((part) => part.receipt !== "none");
  const receipt = receipts.length === 0 ? "no receipt asked"
    : receipts.every((part) => part.receipt === "sent") ? "receipt sent" : "receipt asked";
  const meta = el("span", { class: "meta" }, `from ${item.from} · ${clock(item.submitted_at)} · `,
    el("span", { class: `state ${item.state}`, text: item.state }), ` · ${receipt}`);
  const node = el("li", { class: "mt", "data-id": item.id, "data-state": item.state }, item.text, meta);
  if (item.total_parts > 1) {
    node.append(el("ol", { class: "parts" }, ...item.parts.map((part) =>
      el("li", { text: `${part.message_id}: ${part.state} (${part.stat})` }))));
  }
  return node;
}

// --- USSD -----------------------------------------------------------------------------------

function renderSession() {
  const session = state.session;
  const open = session && (session.state === "waiting_answer" || session.state === "waiting_screen");
  $("ussd-screen").textContent = session ? (session.screen ?? "…") : "Dial a code";
  $("ussd-state").textContent = session ? `${session.code}: ${session.state.replace("_", " ")}`
    + (session.end_reason ? ` (${session.end_reason})` : "") : "";
  $("ussd-send").disabled = !(session && session.state === "waiting_answer");
  $("hang-up").disabled = !open;
  $("dial-button").disabled = !state.selected || Boolean(open);
  renderTimer();
}

// The network's timers, as simulators/ussd.py runs them: the dialogue is released
// session_timeout_s after the dial; each screen is due answer_timeout_s after the dial or answer.
function renderTimer() {
  const session = state.session;
  const line = $("ussd-timer");
  if (!session || !(session.state === "waiting_answer" || session.state === "waiting_screen")) {
    line.textContent = "";
    return;
  }
  const sessionLeft = session.started_at + state.ussdTimers.session_timeout_s - nowS();
  let text = `network releases in ${Math.max(0, Math.ceil(sessionLeft))} s`;
  if (session.state === "waiting_screen") {
    const since = session.asked_at ?? session.started_at;
    const screenLeft = since + state.ussdTimers.answer_timeout_s - nowS();
    text += ` · screen due in ${Math.max(0, Math.ceil(screenLeft))} s`;
  }
  line.textContent = text;
  if (sessionLeft < -1 && !session.refreshing) {
    session.refreshing = true; // the network timed it out: show it (one call)
    act(() => ussd("GET", `/v1/ussd/sessions/${session.id}`));
  }
}

async function ussd(method, path, body) {
  const sep = path.includes("?") ? "&" : "?";
  const waits = method !== "DELETE";
  const asked = nowS();
  const session = await api(method, waits ? `${path}${sep}wait_s=${SCREEN_WAIT_S}` : path, body);
  if (session.state === "waiting_screen") session.asked_at = asked;
  if (session.msisdn === state.selected) state.session = session;
  renderSession();
}

// --- binds, counters, faults ----------------------------------------------------------------

function renderStats(stats, binds) {
  const body = $("binds").tBodies[0];
  body.replaceChildren(...binds.map((bind) => el("tr", { "data-system-id": bind.system_id },
    el("td", { text: bind.system_id }), el("td", { text: bind.bind_type }),
    el("td", { text: `${bind.window_in_use}/${bind.window}` }), el("td", { text: String(bind.tps) }))));
  if (binds.length === 0) body.append(el("tr", {}, el("td", { colspan: "4", text: "no ESME bound" })));
  const counters = [];
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value === "number") counters.push([key, value]);
  }
  for (const [kind, count] of Object.entries(stats.fault_actions || {})) {
    counters.push([`fault_${kind}`, count]);
  }
  $("counters").replaceChildren(...counters.flatMap(([key, value]) => [
    el("dt", { text: key.replaceAll("_", " ") }),
    el("dd", { "data-counter": key, class: key.startsWith("fault_") && value ? "hot" : "", text: String(value) }),
  ]));
  state.active = stats.faults_active || {};
  syncFaults();
}

async function loadFaultTypes() {
  state.faultTypes = (await api("GET", "/v1/faults/types")).faults;
  $("faults").replaceChildren(...state.faultTypes.map(faultRow));
  state.active = await api("GET", "/v1/faults");
  syncFaults();
}

function faultRow(fault) {
  const toggle = el("input", { type: "checkbox", id: `fault-${fault.name}` });
  const inputs = fault.params.map((param) => el("input", {
    "data-param": param.name, "aria-label": `${fault.name} ${param.name}`,
    placeholder: `${param.name}${param.default === null ? "" : ` (${param.default})`}`,
    inputmode: param.type === "status" ? "text" : "decimal",
  }));
  const apply = () => act(async () => {
    const params = {};
    for (const input of inputs) {
      if (input.value.trim() === "") continue;
      const number = Number(input.value);
      params[input.dataset.param] = Number.isNaN(number) ? input.value.trim() : number;
    }
    const answer = await api("POST", "/v1/faults", { [fault.name]: toggle.checked ? params : null });
    state.active = answer.active;
    syncFaults();
  }).then(() => { toggle.checked = fault.name in state.active; });
  toggle.addEventListener("change", apply);
  for (const input of inputs) input.addEventListener("change", () => { if (toggle.checked) apply(); });
  return el("div", { class: "fault", "data-fault": fault.name },
    el("label", { class: "switch" }, toggle, fault.name), el("p", { text: fault.doc }),
    inputs.length ? el("div", { class: "params" }, ...inputs) : null);
}

function syncFaults() {
  for (const fault of state.faultTypes) {
    const toggle = $(`fault-${fault.name}`);
    if (toggle && document.activeElement !== toggle) toggle.checked = fault.name in state.active;
  }
}

// --- runs -----------------------------------------------------------------------------------

function renderRun(run) {
  state.runs.set(run.id, run);
  let progress = "";
  if (run.kind === "scenario") {
    progress = `step ${run.progress.step} of ${run.progress.steps}` + (run.progress.doing ? `: ${run.progress.doing}` : "");
  } else {
    progress = `sent ${run.progress.sent ?? 0} of ${run.progress.total ?? "?"}, replies ${run.progress.replies ?? 0}`;
  }
  const node = el("li", { id: `run-${run.id}`, "data-state": run.state },
    el("span", { class: `state ${run.state}`, text: run.state }), ` ${run.kind} ${run.name}: ${progress}`,
    run.error ? el("pre", { class: "error", text: run.error }) : null,
    run.result ? el("pre", { text: JSON.stringify(run.result, null, 1) }) : null);
  const old = $(`run-${run.id}`);
  if (old) old.replaceWith(node);
  else $("run-list").prepend(node);
}

const EXAMPLE = (msisdn) => `name = "ping"

[[step]]
from = "${msisdn}"
to = "12345"
text = "PING"
expect = "^PONG$"
within_s = 10
`;

// --- live events ----------------------------------------------------------------------------

function connect() {
  const events = new EventSource("/v1/events");
  events.onopen = () => { $("live").textContent = "live"; $("live").className = "live on"; };
  events.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "live off"; };
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "hello") state.clockOffsetS = event.now - Date.now() / 1000;
    else if (event.type === "stats") renderStats(event.stats, event.binds);
    else if (event.type === "phones") act(loadPhones);
    else if (event.type === "phone" && event.msisdn === state.selected) act(loadThread);
    else if (event.type === "run") renderRun(event.run);
  };
}

// --- wiring ---------------------------------------------------------------------------------

function wire() {
  $("add-phone").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      const phone = await api("POST", "/v1/phones", { msisdn: $("add-msisdn").value.trim(), name: $("add-name").value.trim() });
      $("add-msisdn").value = $("add-name").value = "";
      await loadPhones();
      await select(phone.msisdn);
    });
  });
  $("compose").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.selected) return notice("pick a phone first", true);
    const text = $("compose-text").value;
    $("compose-text").value = "";
    act(() => api("POST", "/v1/mo", { from: state.selected, to: $("compose-to").value.trim(), text, wait: true }));
  });
  $("dial").addEventListener("submit", (event) => {
    event.preventDefault();
    act(() => ussd("POST", "/v1/ussd/sessions", { msisdn: state.selected, code: $("dial-code").value.trim() }));
  });
  $("ussd-answer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("ussd-text").value;
    $("ussd-text").value = "";
    act(() => ussd("POST", `/v1/ussd/sessions/${state.session.id}/answer`, { text }));
  });
  $("hang-up").addEventListener("click", () => act(() => ussd("DELETE", `/v1/ussd/sessions/${state.session.id}`)));
  $("scenario-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => renderRun(await api("POST", "/v1/runs", { kind: "scenario", toml: $("scenario-toml").value })));
  });
  $("load-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => renderRun(await api("POST", "/v1/runs", {
      kind: "load", subscribers: Number($("load-subscribers").value), rate_per_s: Number($("load-rate").value),
      duration_s: Number($("load-duration").value), to: $("load-to").value.trim(), text: $("load-text").value,
    })));
  });
  setInterval(renderTimer, 1000);
}

async function start() {
  wire();
  const info = await api("GET", "/v1/info");
  state.clockOffsetS = info.now - Date.now() / 1000;
  state.ussdTimers = info.ussd;
  $("system-id").textContent = `SMSC ${info.system_id}`;
  $("scenario-toml").value = EXAMPLE("254712000001");
  renderSession();
  await Promise.all([loadPhones(), loadFaultTypes()]);
  for (const run of (await api("GET", "/v1/runs")).runs) renderRun(run);
  connect();
}

document.addEventListener("DOMContentLoaded", () => act(start));
