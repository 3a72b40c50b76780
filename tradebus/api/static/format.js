// Numbers, times and small DOM helpers shared by the dashboard's views.

/** The first of `names` that `obj` holds (not null), else undefined. */
export function pick(obj, ...names) {
  if (!obj) return undefined;
  for (const name of names) {
    if (obj[name] !== undefined && obj[name] !== null) return obj[name];
  }
  return undefined;
}

/** Milliseconds since the epoch from a ns integer, an ISO string or ms. */
export function toMillis(value) {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "number") {
    if (value > 1e17) return value / 1e6; // ns
    if (value > 1e14) return value / 1e3; // us
    if (value > 1e11) return value; // ms
    return value * 1e3; // s
  }
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : parsed;
}

/** The time of a row: its ISO twin if present, else its ns field. */
export function rowMillis(row, ...names) {
  return toMillis(pick(row, ...names));
}

const pad = (n) => String(n).padStart(2, "0");

/** HH:MM:SS in UTC. */
export function clock(ms) {
  if (ms === undefined) return "";
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** HH:MM in UTC, with the day when it is not today's. */
export function shortTime(ms, withDay = false) {
  if (ms === undefined) return "";
  const d = new Date(ms);
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return withDay ? `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)} ${hm}` : hm;
}

/** YYYY-MM-DD HH:MM:SS UTC, for titles. */
export function fullTime(ms) {
  if (ms === undefined) return "";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** "4 s", "3 min", "2 h", "5 d" since `ms`. */
export function age(ms, now = Date.now()) {
  if (ms === undefined) return "";
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** Digits for a price of this size. */
export function priceDigits(value) {
  const v = Math.abs(Number(value));
  if (!Number.isFinite(v) || v === 0) return 2;
  if (v >= 1000) return 2;
  if (v >= 100) return 3;
  if (v >= 1) return 5;
  return 6;
}

export function price(value, digits) {
  if (value === undefined || value === null || value === "") return "";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  const d = digits ?? priceDigits(n);
  return n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

export function amount(value, digits = 2) {
  if (value === undefined || value === null || value === "") return "";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A signed money amount: "+12.34", "\u221212.34" and its class (pos, neg or ""). */
export function signed(value) {
  if (value === undefined || value === null || value === "") return { text: "\u2014", cls: "muted" };
  let n = Number(value);
  if (!Number.isFinite(n)) return { text: String(value), cls: "" };
  if (Math.abs(n) < 0.00005) n = 0;
  const digits = n === 0 || Math.abs(n) >= 0.995 ? 2 : 4; // a small amount keeps its sign
  const text = Math.abs(n).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  if (n > 0) return { text: `+${text}`, cls: "pos" };
  if (n < 0) return { text: `\u2212${text}`, cls: "neg" };
  return { text, cls: "" };
}

export function volume(value) {
  if (value === undefined || value === null) return "";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toLocaleString("en-US", { maximumFractionDigits: 4 });
}

/** document.createElement with attributes and children (strings become text: never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
