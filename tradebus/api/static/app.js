// The dashboard: polls the read API every few seconds and renders each panel.

import { ApiError, getJson, getToken, itemsOf, setToken } from "./api.js";
import { CandleChart, normalizeCandle } from "./chart.js";
import { clock, pick, price, rowMillis, toMillis } from "./format.js";
import { failure, renderAlerts, renderHealth, renderMonitoring, renderPositions, renderProcesses } from "./views.js";

const POLL_MS = 3000;
const TIMEFRAMES = ["M1", "M5", "M15", "M30", "H1", "H4", "D1"];
const FEED_LIMIT = 50;
const PREFS_KEY = "tradebus.dashboard";

const $ = (id) => document.getElementById(id);

const state = {
  symbol: "",
  timeframe: "M1",
  symbols: [],
  symbolsShown: false,
  timer: 0,
  running: false,
  again: false,
  lastOk: 0,
};

function loadPrefs() {
  try {
    const prefs = JSON.parse(localStorage.getItem(PREFS_KEY) || "{}");
    if (TIMEFRAMES.includes(prefs.timeframe)) state.timeframe = prefs.timeframe;
    if (typeof prefs.symbol === "string") state.symbol = prefs.symbol;
  } catch {
    // no preferences
  }
}

function savePrefs() {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify({ symbol: state.symbol, timeframe: state.timeframe }));
  } catch {
    // storage disabled
  }
}

// ------------------------------------------------------------------ connection state and banner

function setConnection(kind, text) {
  $("conn").dataset.state = kind;
  $("conn-text").textContent = text;
}

function showBanner(kind, text, withTokenForm) {
  const banner = $("banner");
  banner.hidden = false;
  banner.dataset.kind = kind;
  $("banner-text").textContent = text;
  $("token-form").hidden = !withTokenForm;
}

function hideBanner() {
  $("banner").hidden = true;
}

/** The worst failure of a round decides the banner: no answer, then 401. */
function reportRound(errors) {
  const network = errors.find((e) => e.kind === "network");
  const auth = errors.find((e) => e.kind === "auth");
  const stale = state.lastOk ? ` The data shown is from ${clock(state.lastOk)} UTC.` : "";
  if (network) {
    setConnection("error", "offline");
    showBanner("error", `The API at ${location.host} cannot be reached: retrying every ${POLL_MS / 1000} s.${stale}`, false);
    return;
  }
  if (auth) {
    setConnection("auth", "token needed");
    const text = getToken()
      ? "The API refused the token (401 Unauthorized): enter the API's bearer token."
      : "The API needs a bearer token for reads (401 Unauthorized): enter it to see the data.";
    if ($("banner").hidden || $("banner").dataset.kind !== "auth") showBanner("auth", text, true);
    else $("banner-text").textContent = text;
    return;
  }
  if (!$("banner").hidden && $("banner").dataset.kind !== "info") hideBanner();
  state.lastOk = Date.now();
  setConnection("live", "live");
  $("updated").textContent = `updated ${clock(state.lastOk)} UTC`;
}

// ------------------------------------------------------------------ symbols, chart

function renderSymbols(rows) {
  const select = $("symbol");
  const names = rows.map((r) => pick(r, "symbol", "name")).filter(Boolean);
  if (!state.symbol || !names.includes(state.symbol)) state.symbol = names[0] || "";
  const same =
    state.symbolsShown && names.length === state.symbols.length && names.every((n, i) => n === state.symbols[i]);
  state.symbolsShown = true;
  if (!same) {
    state.symbols = names;
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (!names.length) select.replaceChildren(new Option("no symbols", ""));
  }
  select.value = state.symbol;
  select.disabled = !names.length;
  const row = rows.find((r) => pick(r, "symbol", "name") === state.symbol);
  const quote = $("quote");
  if (!row) {
    quote.replaceChildren();
    return;
  }
  const latest = pick(row, "latest", "latest_tick", "last_tick") || row;
  const bid = pick(latest, "bid");
  const ask = pick(latest, "ask");
  const when = rowMillis(latest, "time", "ts");
  const parts = [];
  if (bid !== undefined) parts.push("bid ", bold(price(bid)), "  ");
  if (ask !== undefined) parts.push("ask ", bold(price(ask)), "  ");
  if (when) parts.push(`at ${clock(when)}`);
  quote.replaceChildren(...parts);
}

function bold(text) {
  const b = document.createElement("b");
  b.textContent = text;
  return b;
}

function renderTimeframes() {
  const group = $("timeframes");
  if (!group.children.length) {
    for (const tf of TIMEFRAMES) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = tf;
      button.dataset.timeframe = tf;
      button.addEventListener("click", () => {
        state.timeframe = tf;
        savePrefs();
        renderTimeframes();
        chart.message(`loading ${state.symbol} ${tf} candles`, "loading");
        refreshSoon();
      });
      group.append(button);
    }
  }
  for (const button of group.children) button.setAttribute("aria-pressed", String(button.dataset.timeframe === state.timeframe));
}

let chart;

async function loadChart() {
  if (!state.symbol) {
    chart.message("No symbols with ticks yet: the chart appears once ticks are stored");
    return;
  }
  const symbol = state.symbol;
  const timeframe = state.timeframe;
  const body = await getJson("candles", { symbol, timeframe, limit: chart.capacity() });
  if (symbol !== state.symbol || timeframe !== state.timeframe) return; // changed meanwhile
  const bars = itemsOf(body)
    .map((row) => normalizeCandle(row, toMillis))
    .sort((a, b) => a.t - b.t);
  if (!bars.length) chart.message(`No ${timeframe} candles for ${symbol} yet`);
  else chart.show(bars, `${symbol} \u00b7 ${timeframe}`);
}

function chartFailure(what, error) {
  const { text, isError } = failure(what, error);
  chart.message(text, isError ? "error" : "empty");
}

// ------------------------------------------------------------------ the polling round

async function part(load, render) {
  try {
    const body = await load();
    render(body, null);
    return null;
  } catch (error) {
    const failure = error instanceof ApiError ? error : new ApiError("http", 0, String(error));
    // No answer at all: what is shown stays (the banner says since when); any other
    // failure is the panel's to show.
    if (failure.kind !== "network" || !state.lastOk) render(undefined, failure);
    return failure;
  }
}

async function refresh() {
  if (state.running) return;
  state.running = true;
  clearTimeout(state.timer);
  try {
    const errors = [];
    const symbolsError = await part(
      async () => itemsOf(await getJson("symbols")),
      (rows, error) => {
        if (!error) renderSymbols(rows);
      },
    );
    if (symbolsError) errors.push(symbolsError);
    const results = await Promise.all([
      part(() => getJson("processes"), renderProcesses),
      part(async () => itemsOf(await getJson("health")), renderHealth),
      part(async () => itemsOf(await getJson("positions", { state: "open", limit: 200 })), renderPositions),
      part(async () => itemsOf(await getJson("alerts", { limit: FEED_LIMIT })), renderAlerts),
      part(async () => itemsOf(await getJson("monitoring", { limit: FEED_LIMIT })), renderMonitoring),
      symbolsError
        ? Promise.resolve(
            symbolsError.kind !== "network" || !state.lastOk
              ? chartFailure("The chart", symbolsError)
              : null,
          )
        : part(loadChart, (_, error) => {
            if (error) chartFailure("Candles", error);
          }),
    ]);
    for (const error of results) if (error) errors.push(error);
    reportRound(errors);
  } finally {
    state.running = false;
    state.timer = setTimeout(refresh, state.again ? 0 : POLL_MS);
    state.again = false;
  }
}

function refreshSoon() {
  if (state.running) state.again = true;
  else refresh();
}

// ------------------------------------------------------------------ start

function start() {
  loadPrefs();
  chart = new CandleChart($("chart"), $("chart-legend"));
  renderTimeframes();
  $("symbol").addEventListener("change", (event) => {
    state.symbol = event.target.value;
    savePrefs();
    chart.message(`loading ${state.symbol} ${state.timeframe} candles`, "loading");
    refreshSoon();
  });
  $("token-button").addEventListener("click", () => {
    if (!$("banner").hidden && !$("token-form").hidden) {
      hideBanner();
      return;
    }
    showBanner("info", getToken() ? "A token is set for this tab." : "No token is set: reads are open unless the server asks for one.", true);
    $("token-input").focus();
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    setToken(value);
    $("token-input").value = "";
    hideBanner();
    setConnection("connecting", "connecting");
    refreshSoon();
  });
  $("token-clear").addEventListener("click", () => {
    setToken("");
    $("token-input").value = "";
    hideBanner();
    refreshSoon();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshSoon();
  });
  refresh();
}

start();
