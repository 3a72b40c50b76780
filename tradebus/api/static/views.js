// The dashboard's panels: each renders what one endpoint answered, or says what is missing.

import { age, clock, el, fullTime, pick, price, priceDigits, rowMillis, signed, volume } from "./format.js";

function setCount(id, n) {
  document.getElementById(id).textContent = n === undefined ? "" : String(n);
}

/** A panel's note in place of its rows: nothing to show, or why it could not be loaded. */
function note(list, text, isError = false) {
  list.replaceChildren(el("li", { class: isError ? "error-note" : "empty" }, text));
}

/** Why a panel has no data: a refused token is the banner's to explain. */
export function failure(what, error) {
  if (error.kind === "auth") return { text: `${what}: waiting for the API's token`, isError: false };
  return { text: `${what} could not be loaded: ${error.message}`, isError: true };
}

function noteError(list, what, error) {
  const { text, isError } = failure(what, error);
  note(list, text, isError);
}

function pillClass(status) {
  const s = String(status || "").toLowerCase();
  if (["ok", "running", "live", "healthy", "info", "closed"].includes(s)) return s === "info" ? "info" : "good";
  if (["degraded", "stopping", "warning", "modified", "starting", "late"].includes(s)) return "warn";
  if (s.includes("alert") || s.includes("hit") || s.includes("trigger")) return "warn";
  if (["down", "dead", "critical", "error", "failed", "stopped", "missing"].includes(s)) return "bad";
  return "none";
}

// ------------------------------------------------------------------ positions

function markTitle(p) {
  const at = rowMillis(p, "mark_at", "mark_ts");
  return at ? `latest tick at ${fullTime(at)}` : "";
}

export function renderPositions(body, error) {
  const table = document.getElementById("positions");
  const tbody = table.tBodies[0];
  const empty = document.getElementById("positions-empty");
  const total = document.getElementById("positions-total");
  document.getElementById("positions-total-label").hidden = !(body && body.length);
  if (error) {
    tbody.replaceChildren();
    table.hidden = true;
    empty.hidden = false;
    const { text, isError } = failure("Open positions", error);
    empty.className = isError ? "error-note" : "empty";
    empty.textContent = text;
    setCount("positions-count", undefined);
    total.textContent = "";
    return;
  }
  const rows = body;
  setCount("positions-count", rows.length);
  if (!rows.length) {
    tbody.replaceChildren();
    table.hidden = true;
    empty.hidden = false;
    empty.className = "empty";
    empty.textContent = "No open positions";
    total.textContent = "";
    total.className = "num total";
    return;
  }
  table.hidden = false;
  empty.hidden = true;
  let sum = 0;
  let known = false;
  const trs = rows.map((p) => {
    const direction = String(pick(p, "direction", "side") || "").toUpperCase();
    const pnl = pick(p, "unrealized_pnl", "pnl");
    if (pnl !== undefined && Number.isFinite(Number(pnl))) {
      sum += Number(pnl);
      known = true;
    }
    const money = signed(pnl);
    const entry = pick(p, "entry_price", "open_price");
    const mark = pick(p, "mark_price", "current_price", "price");
    const digits = priceDigits(entry ?? mark);
    const digitsOf = (v) => price(v, digits);
    const opened = rowMillis(p, "opened_at", "opened_ts", "open_time", "time", "ts");
    return el(
      "tr",
      { "data-ticket": pick(p, "ticket") },
      el("td", { class: "num" }, String(pick(p, "ticket") ?? "")),
      el("td", { class: "sym" }, pick(p, "symbol") ?? ""),
      el("td", {}, direction ? el("span", { class: `side ${direction === "BUY" ? "buy" : "sell"}` }, direction) : ""),
      el("td", { class: "num" }, volume(pick(p, "volume"))),
      el("td", { class: "num" }, digitsOf(entry)),
      el("td", { class: "num", title: markTitle(p) }, digitsOf(mark)),
      el("td", { class: "num muted" }, digitsOf(pick(p, "stop_loss"))),
      el("td", { class: "num muted" }, digitsOf(pick(p, "take_profit"))),
      el("td", { class: `num pnl ${money.cls}` }, money.text),
      el("td", { class: "num muted", title: fullTime(opened) }, opened ? age(opened) : ""),
    );
  });
  tbody.replaceChildren(...trs);
  const totalMoney = signed(known ? sum : undefined);
  total.textContent = totalMoney.text;
  total.className = `num total ${totalMoney.cls}`;
}

// ------------------------------------------------------------------ processes and health

/** The processes, whatever the shape: a list, {items}, or {processes: {id: entry}}. */
export function processList(body) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.items)) return body.items;
  if (body && body.processes && typeof body.processes === "object") {
    return Object.entries(body.processes).map(([id, entry]) => ({ id, ...entry }));
  }
  return [];
}

export function renderProcesses(body, error) {
  const list = document.getElementById("processes");
  if (error) {
    setCount("processes-count", undefined);
    noteError(list, "Processes", error);
    return;
  }
  const rank = { running: 0, stopping: 1, stopped: 2, dead: 3 };
  const processes = processList(body)
    .slice()
    .sort((a, b) => (rank[a.state] ?? 4) - (rank[b.state] ?? 4) || Number(b.heartbeat ?? 0) - Number(a.heartbeat ?? 0));
  setCount("processes-count", processes.length);
  if (!processes.length) {
    note(list, "No process has reported to this data directory's status file");
    return;
  }
  const now = Date.now();
  list.replaceChildren(
    ...processes.map((p) => {
      const roles = pick(p, "roles");
      const name = Array.isArray(roles) && roles.length ? roles.join(", ") : pick(p, "role", "id", "name") || "process";
      const state = pick(p, "state", "status") || "unknown";
      const beat = rowMillis(p, "heartbeat_at", "heartbeat");
      const ageSeconds = pick(p, "heartbeat_age", "heartbeat_age_seconds", "age_seconds");
      const beatText = ageSeconds !== undefined ? age(now - Number(ageSeconds) * 1000, now) : beat ? age(beat, now) : "";
      const writers = pick(p, "writers");
      const writerNames = writers && typeof writers === "object" ? Object.keys(writers) : [];
      const meta = [
        pick(p, "pid") !== undefined ? `pid ${pick(p, "pid")}` : "",
        pick(p, "host") || "",
        writerNames.length ? `writes ${writerNames.join(", ")}` : "",
        pick(p, "events_written") !== undefined ? `${volume(pick(p, "events_written"))} events` : "",
      ]
        .filter(Boolean)
        .join(" \u00b7 ");
      const problem = pick(p, "dead_reason", "last_error");
      return el(
        "li",
        { "data-process": name },
        el("span", { class: "name", title: problem || name }, name, el("span", { class: "meta" }, problem ? `${meta} \u00b7 ${problem}` : meta)),
        el("span", { class: "age num", title: beat ? `last heartbeat ${fullTime(beat)}` : "" }, beatText ? `beat ${beatText} ago` : ""),
        el("span", { class: `pill ${pillClass(state)}` }, state),
      );
    }),
  );
}

export function renderHealth(body, error) {
  const list = document.getElementById("health");
  if (error) {
    noteError(list, "Health", error);
    return;
  }
  const rows = body;
  if (!rows.length) {
    note(list, "No health beats recorded yet");
    return;
  }
  const now = Date.now();
  const rank = { down: 0, degraded: 1, ok: 2 };
  const sorted = rows.slice().sort((a, b) => (rank[a.status] ?? 0) - (rank[b.status] ?? 0) || String(a.component).localeCompare(String(b.component)));
  list.replaceChildren(
    ...sorted.map((h) => {
      const status = pick(h, "status") || "unknown";
      const when = rowMillis(h, "time", "ts");
      const details = pick(h, "details");
      const detailText = details && typeof details === "object" ? Object.entries(details).filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" \u00b7 ") : details || "";
      return el(
        "li",
        { "data-component": pick(h, "component") },
        el("span", { class: "name", title: detailText }, pick(h, "component") || "component", el("span", { class: "meta" }, detailText)),
        el("span", { class: "age num", title: fullTime(when) }, when ? `${age(when, now)} ago` : ""),
        el("span", { class: `pill ${pillClass(status)}` }, status),
      );
    }),
  );
}

// ------------------------------------------------------------------ alerts and monitoring

function feedItem(row, pillText, label, text, textClass) {
  const when = rowMillis(row, "time", "ts");
  const ref = [pick(row, "symbol"), pick(row, "ticket") !== undefined ? `#${pick(row, "ticket")}` : ""].filter(Boolean).join(" ");
  return el(
    "li",
    {},
    el("span", { class: "time", title: fullTime(when) }, clock(when)),
    el(
      "div",
      { class: "head" },
      pillText ? el("span", { class: `pill ${pillClass(pillText)}` }, pillText) : "",
      el("span", { class: "label" }, label),
      el("span", { class: "ref" }, ref),
    ),
    el("div", { class: textClass }, text),
  );
}

export function renderAlerts(body, error) {
  const list = document.getElementById("alerts");
  if (error) {
    setCount("alerts-count", undefined);
    noteError(list, "Alerts", error);
    return;
  }
  setCount("alerts-count", body.length || undefined);
  if (!body.length) {
    note(list, "No alerts");
    return;
  }
  list.replaceChildren(
    ...body.map((a) => feedItem(a, pick(a, "severity"), `${pick(a, "alert_type") || ""} alert`, pick(a, "message") || "", "message")),
  );
}

export function renderMonitoring(body, error) {
  const list = document.getElementById("monitoring");
  if (error) {
    setCount("monitoring-count", undefined);
    noteError(list, "Monitoring events", error);
    return;
  }
  setCount("monitoring-count", body.length || undefined);
  if (!body.length) {
    note(list, "No monitoring events");
    return;
  }
  list.replaceChildren(
    ...body.map((m) => {
      const type = String(pick(m, "monitoring_type") || "event").replaceAll("_", " ");
      return feedItem(m, String(pick(m, "status") || "").replaceAll("_", " "), type, pick(m, "details") || "", "text");
    }),
  );
}
