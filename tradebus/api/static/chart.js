// A candlestick chart drawn as SVG: price axis on the right, time axis below, the last
// close marked, a crosshair with the bar's values in the legend.

import { amount, el, fullTime, price, priceDigits, shortTime, volume } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { top: 10, bottom: 24, left: 6 };

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** About `count` round steps covering [lo, hi]. */
function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}

/** What a bar holds, whatever its field names: {t (ms), o, h, l, c, v, n, complete}. */
export function normalizeCandle(row, toMillis) {
  return {
    t: toMillis(row.ts_open ?? row.open_ts ?? row.opened_at ?? row.open_time ?? row.ts ?? row.time),
    o: Number(row.open),
    h: Number(row.high),
    l: Number(row.low),
    c: Number(row.close),
    v: Number(row.volume ?? 0),
    n: Number(row.tick_count ?? row.count ?? 0),
    complete: row.complete !== false,
  };
}

export class CandleChart {
  constructor(container, legend) {
    this.container = container;
    this.legend = legend;
    this.bars = [];
    this.label = "";
    this.hover = -1;
    this.observer = new ResizeObserver(() => this.draw());
    this.observer.observe(container);
  }

  /** How many bars fit at a readable width. */
  capacity() {
    const width = this.container.clientWidth - MARGIN.left - 80;
    return Math.max(20, Math.min(300, Math.floor(width / 9)));
  }

  show(bars, label) {
    this.bars = bars.filter((b) => [b.o, b.h, b.l, b.c].every(Number.isFinite) && b.t !== undefined);
    this.label = label;
    this.draw();
  }

  message(text, state = "empty") {
    this.bars = [];
    this.container.dataset.state = state;
    this.container.dataset.candles = "0";
    this.container.replaceChildren(el("p", { class: state === "error" ? "empty error-note" : "empty" }, text));
    this.legend.replaceChildren();
  }

  draw() {
    const bars = this.bars;
    if (!bars.length) return;
    const width = this.container.clientWidth - 12;
    const height = this.container.clientHeight - 4;
    if (width < 50 || height < 50) return;
    const digits = priceDigits(bars[bars.length - 1].c);
    const widest = Math.max(...bars.map((b) => price(b.h, digits).length));
    const right = Math.ceil(widest * 6.8 + 18); // the price axis: its labels and the last price's tag
    const plotW = width - MARGIN.left - right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const slots = Math.max(bars.length, Math.min(this.capacity(), 60));
    const slot = plotW / slots;
    const body = Math.max(1, Math.min(14, slot * 0.68));
    const x0 = MARGIN.left + plotW - bars.length * slot; // the newest bar is at the right edge
    let lo = Math.min(...bars.map((b) => b.l));
    let hi = Math.max(...bars.map((b) => b.h));
    if (hi === lo) {
      const pad = Math.abs(hi) * 0.001 || 1;
      lo -= pad;
      hi += pad;
    }
    const padY = (hi - lo) * 0.06;
    lo -= padY;
    hi += padY;
    const y = (v) => MARGIN.top + ((hi - v) / (hi - lo)) * plotH;
    const xc = (i) => x0 + i * slot + slot / 2;
    const crisp = (v) => Math.round(v) + 0.5;

    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img" });
    root.setAttribute("aria-label", `${this.label}: ${bars.length} candles`);

    const grid = svg("g", { class: "grid" });
    for (const v of niceTicks(lo, hi, Math.max(3, Math.floor(plotH / 48)))) {
      const yy = crisp(y(v));
      grid.append(svg("line", { x1: MARGIN.left, x2: MARGIN.left + plotW, y1: yy, y2: yy }));
      const text = svg("text", { x: width - right + 8, y: yy + 4 });
      text.textContent = price(v, digits);
      grid.append(text);
    }
    const span = bars[bars.length - 1].t - bars[0].t;
    const withDay = span > 20 * 3600 * 1000;
    const every = Math.max(1, Math.ceil(90 / slot));
    for (let i = bars.length - 1; i >= 0; i -= every) {
      const xx = crisp(xc(i));
      grid.append(svg("line", { x1: xx, x2: xx, y1: MARGIN.top, y2: MARGIN.top + plotH, opacity: 0.5 }));
      const text = svg("text", { x: xx, y: height - 6, "text-anchor": "middle" });
      text.textContent = shortTime(bars[i].t, withDay);
      grid.append(text);
    }
    root.append(grid);

    const candles = svg("g", { class: "candles" });
    bars.forEach((b, i) => {
      const up = b.c >= b.o;
      const g = svg("g", { class: `candle ${up ? "up" : "down"}${b.complete ? "" : " open"}` });
      const cx = crisp(xc(i));
      g.append(svg("line", { class: "wick", x1: cx, x2: cx, y1: y(b.h), y2: y(b.l) }));
      const top = y(Math.max(b.o, b.c));
      const bottom = y(Math.min(b.o, b.c));
      g.append(
        svg("rect", {
          x: xc(i) - body / 2,
          y: top,
          width: body,
          height: Math.max(1, bottom - top),
          rx: body > 4 ? 1 : 0,
        }),
      );
      candles.append(g);
    });
    root.append(candles);

    const last = bars[bars.length - 1];
    const lastUp = last.c >= last.o;
    const color = lastUp ? "var(--up)" : "var(--down)";
    const ly = crisp(y(last.c));
    root.append(
      svg("line", { class: "last-line", x1: MARGIN.left, x2: MARGIN.left + plotW, y1: ly, y2: ly, stroke: color }),
    );
    const tag = svg("g", { class: "last-tag" });
    tag.append(svg("rect", { x: width - right + 2, y: ly - 9, width: right - 4, height: 18, rx: 3, fill: color }));
    const tagText = svg("text", { x: width - right + 8, y: ly + 4 });
    tagText.textContent = price(last.c, digits);
    tag.append(tagText);
    root.append(tag);

    const cross = svg("g", { class: "cross", visibility: "hidden" });
    const vline = svg("line", { y1: MARGIN.top, y2: MARGIN.top + plotH });
    const hline = svg("line", { x1: MARGIN.left, x2: MARGIN.left + plotW });
    cross.append(vline, hline);
    root.append(cross);
    const overlay = svg("rect", { x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, fill: "transparent" });
    overlay.addEventListener("mousemove", (event) => {
      const box = root.getBoundingClientRect();
      const px = event.clientX - box.left;
      const py = event.clientY - box.top;
      const i = Math.floor((px - x0) / slot);
      if (i < 0 || i >= bars.length) return;
      this.hover = i;
      const xx = crisp(xc(i));
      vline.setAttribute("x1", xx);
      vline.setAttribute("x2", xx);
      hline.setAttribute("y1", crisp(py));
      hline.setAttribute("y2", crisp(py));
      cross.setAttribute("visibility", "visible");
      this.showLegend(bars[i], digits);
    });
    overlay.addEventListener("mouseleave", () => {
      this.hover = -1;
      cross.setAttribute("visibility", "hidden");
      this.showLegend(last, digits);
    });
    root.append(overlay);

    this.container.dataset.state = "drawn";
    this.container.dataset.candles = String(bars.length);
    this.container.replaceChildren(root);
    const shown = this.hover >= 0 && this.hover < bars.length ? bars[this.hover] : last;
    this.showLegend(shown, digits);
  }

  showLegend(b, digits) {
    const cls = b.c >= b.o ? "pos" : "neg";
    const change = b.o ? ((b.c - b.o) / b.o) * 100 : 0;
    const item = (name, value, c) => [name, " ", el("b", { class: c }, value)];
    this.legend.replaceChildren(
      el("b", { title: fullTime(b.t) }, `${this.label}  ${shortTime(b.t, true)}`),
      ...item("O", price(b.o, digits)),
      ...item("H", price(b.h, digits)),
      ...item("L", price(b.l, digits)),
      ...item("C", price(b.c, digits), cls),
      el("b", { class: cls }, `${change >= 0 ? "+" : "\u2212"}${amount(Math.abs(change))}%`),
      ...item("Vol", volume(b.v)),
      ...(b.n ? item("Ticks", volume(b.n)) : []),
      b.complete ? "" : el("span", { class: "muted" }, "in progress"),
    );
  }
}
