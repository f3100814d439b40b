// app.js: the mgrid dashboard single-page app.
//
// One EventSource (/api/events) drives everything live: each `block` event
// updates the header and, debounced, refetches the JSON of the active view
// (at most one request in flight; the old render stays until new data
// arrives). Views are hash routes; each view is {load, render} plus an
// optional shell (controls that must survive re-renders, e.g. the search box).
// All markup goes through the `html` tagged template, which escapes every
// interpolated value unless it is explicitly `raw` (chart SVG built by
// charts.js, which escapes its own text).

import {
  COLORS,
  curveChart,
  esc,
  flowChart,
  installHover,
  networkChart,
  resetCharts,
  slotChart,
} from "./charts.js";

// ---------------------------------------------------------------- markup

class Raw {
  constructor(s) {
    this.s = s;
  }
  toString() {
    return this.s;
  }
}
const raw = (s) => new Raw(String(s));
const part = (v) => {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(part).join("");
  if (v == null || v === false) return "";
  return esc(v);
};
/** Tagged template: interpolations are escaped unless wrapped in raw(). */
function html(strings, ...vals) {
  let out = strings[0];
  for (let i = 0; i < vals.length; i += 1) out += part(vals[i]) + strings[i + 1];
  return new Raw(out);
}

// ---------------------------------------------------------------- formatting

const NF = new Intl.NumberFormat("en-US");
const DASH = "\u2013";

/** Integer (or decimal string of any size) with thousands separators. */
function num(v) {
  if (v == null || v === "") return DASH;
  if (typeof v === "string") {
    if (!/^-?\d+$/.test(v)) return v;
    const neg = v.startsWith("-");
    const digits = neg ? v.slice(1) : v;
    return (neg ? "-" : "") + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  return NF.format(v);
}
// Intl formatters are costly to build: make each one once (a week of
// intervals formats tens of thousands of numbers per render).
const FIXED = [0, 1, 2, 3].map(
  (d) => new Intl.NumberFormat("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }),
);
const UPTO = [0, 1, 2, 3].map((d) => new Intl.NumberFormat("en-US", { maximumFractionDigits: d }));
const TIME = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const DAY_HM = new Intl.DateTimeFormat("en-GB", { day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", hour12: false });
function fixed(v, digits) {
  return FIXED[digits].format(v);
}
/** Energy given in Wh, shown in kWh (Wh precision below 100 kWh). */
function kwhNum(wh) {
  if (wh == null) return DASH;
  const k = Number(wh) / 1000;
  return fixed(k, Math.abs(k) >= 100 ? 1 : 3);
}
function kwh(wh) {
  return wh == null ? DASH : `${kwhNum(wh)} kWh`;
}
/** Compact energy for axes and tiles. */
function kwhShort(wh) {
  if (wh == null) return DASH;
  const k = Number(wh) / 1000;
  const f = (v, d) => UPTO[d].format(v);
  if (Math.abs(k) >= 10000) return `${f(k / 1000, 1)} MWh`;
  if (Math.abs(k) >= 100) return `${f(k, 0)} kWh`;
  if (Math.abs(k) >= 10) return `${f(k, 1)} kWh`;
  return `${f(k, 2)} kWh`;
}
function pct(ppm, digits = 1) {
  if (ppm == null) return DASH;
  return `${fixed(Number(ppm) / 10000, digits)} %`;
}
function denom() {
  return S.denom || "";
}
function money(v) {
  return v == null ? DASH : `${num(v)} ${denom()}`;
}
function signedMoney(v) {
  if (v == null) return DASH;
  return `${Number(v) > 0 ? "+" : ""}${num(v)} ${denom()}`;
}
function price(v) {
  return v == null ? DASH : `${num(v)} ${denom()}/kWh`;
}
function signCls(v) {
  return v > 0 ? "pos" : v < 0 ? "neg" : "";
}
function hms(unix) {
  if (unix == null || unix === "") return DASH;
  return TIME.format(new Date(Number(unix) * 1000));
}
function hmsMs(unix) {
  if (unix == null) return DASH;
  const d = new Date(Number(unix) * 1000);
  return `${TIME.format(d)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}
function dayHm(unix) {
  return DAY_HM.format(new Date(Number(unix) * 1000));
}
function dur(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
/** Start time of an interval id (ids count intervals since the epoch). */
function intervalStart(id) {
  const len = S.status && S.status.interval_seconds;
  return len ? Number(id) * len : null;
}
function intervalText(id, start) {
  const t = start ?? intervalStart(id);
  return t == null ? `#${id}` : `#${id} \u00b7 ${hms(t)}`;
}
function intervalLink(id, start) {
  return html`<a href="#/interval/${encodeURIComponent(id)}">${intervalText(id, start)}</a>`;
}
function shortAddr(a) {
  const s = String(a ?? "");
  return s.length > 20 ? `${s.slice(0, 9)}\u2026${s.slice(-6)}` : s;
}
function addrLink(a) {
  if (!a) return html`<span class="muted">${DASH}</span>`;
  return html`<a class="addr" href="#/participant/${encodeURIComponent(a)}" title="${a}">${shortAddr(a)}</a>`;
}
function badge(text, cls) {
  return html`<span class="badge ${cls ?? String(text).toLowerCase()}">${text}</span>`;
}
function yesNo(v) {
  return v ? html`<span class="agree-yes">yes</span>` : html`<span class="agree-no">no</span>`;
}
/** A table cell carrying the raw JSON value for tests and tooling. */
function fcell(field, value, text, cls = "n") {
  return html`<td class="${cls}" data-field="${field}" data-value="${value ?? ""}">${text}</td>`;
}
function legend(items) {
  return html`<div class="legend">${items.map(
    ([label, color, kind]) =>
      html`<span><i class="${kind || ""}" style="background:${color}"></i>${label}</span>`,
  )}</div>`;
}
function empty(text, big = false) {
  return html`<div class="empty${big ? " big" : ""}">${text}</div>`;
}
function sum(list, f) {
  let s = 0;
  for (const x of list) s += Number(f(x) || 0);
  return s;
}

// ---------------------------------------------------------------- state

const S = {
  status: null,
  denom: "",
  height: null,
  blockTime: null,
  nodeOk: null,
  serverOk: true,
  route: null,
  data: null,
  inflight: null,
  pending: false,
  timer: null,
  firstDone: false,
  pview: { offset: 0, limit: 50, q: "", sort: "rank" },
  ilimit: 96,
  netFit: false,
  allRows: false,
  nodeError: "",
};

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => document.getElementById("view");

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, signal) {
  let res;
  try {
    res = await fetch(path, { signal, headers: { Accept: "application/json" } });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `dashboard server unreachable (${path})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    if (e.name === "AbortError") throw e;
    body = null;
  }
  if (!res.ok) {
    const msg = body && body.error ? body.error : res.statusText;
    throw new ApiError(res.status, `${res.status} ${msg} (${path})`);
  }
  if (body == null) throw new ApiError(res.status, `invalid JSON from ${path}`);
  return body;
}

/** Usable chart width for a card spanning `frac` of the content width. */
function chartWidth(frac = 1) {
  const m = main();
  const content = Math.max(320, (m ? m.clientWidth : 1200) - 40);
  const f = window.innerWidth < 1100 ? 1 : frac;
  return Math.floor((content + 14) * f - 14 - 30);
}

// ---------------------------------------------------------------- views

/** Large amounts in a tile: 4,740,240 -> "4.74 M" (the exact value is in the title). */
function compact(v) {
  if (v == null) return DASH;
  const n = Number(v);
  if (Math.abs(n) >= 1e9) return `${fixed(n / 1e9, 2)} G`;
  if (Math.abs(n) >= 1e7) return `${fixed(n / 1e6, 1)} M`;
  if (Math.abs(n) >= 1e6) return `${fixed(n / 1e6, 2)} M`;
  return num(v);
}
function tile(cls, k, v, unit, d, extra, exact) {
  return html`<div class="tile ${cls}"><div class="k">${k}</div>
    <div class="v" title="${exact ?? ""}"><span>${v}</span>${unit ? html`<small>${unit}</small>` : ""}</div>
    ${d ? html`<div class="d">${d}</div>` : ""}${extra || ""}</div>`;
}
function ppmBar(ppm, color) {
  const w = Math.max(0, Math.min(100, Number(ppm || 0) / 10000));
  return html`<div class="bar-ppm"><span style="width:${w}%;background:${color}"></span></div>`;
}
function splitUnit(text) {
  const i = text.indexOf(" ");
  return i < 0 ? [text, ""] : [text.slice(0, i), text.slice(i + 1)];
}

function kpiTiles(t, status) {
  if (!t) return "";
  const retail = status ? status.retail_tariff : null;
  const feed = status ? status.feed_in_tariff : null;
  const [lv, lu] = splitUnit(kwhShort(t.local_traded_wh));
  const [pv, pu] = splitUnit(kwhShort(t.peak_import_wh));
  const gen = Number(t.generation_wh || 0) / 1000;
  const con = Number(t.consumption_wh || 0) / 1000;
  const short = (v) => UPTO[v >= 100 ? 0 : 1].format(v);
  const imp = Number(t.pcc_import_wh || 0) / 1000;
  const exp = Number(t.pcc_export_wh || 0) / 1000;
  return html`<div class="tiles">
    ${tile("supply", "Self-sufficiency", pct(t.self_sufficiency).replace(" %", ""), "%",
      "consumption met from local generation", ppmBar(t.self_sufficiency, COLORS.supply))}
    ${tile("supply", "Self-consumption", pct(t.self_consumption).replace(" %", ""), "%",
      "local generation used locally", ppmBar(t.self_consumption, COLORS.slate))}
    ${tile("demand", "Generation / use", `${short(gen)} / ${short(con)}`, "kWh",
      `over ${num(t.intervals)} intervals; ${kwhShort(t.locally_used_wh)} used locally`)}
    ${tile("price", "Local volume", lv, lu, `${compact(t.local_amount)} ${denom()} traded locally`, "", kwh(t.local_traded_wh))}
    ${tile("price", "Avg local price", compact(t.average_local_price), `${denom()}/kWh`,
      `retail ${num(retail)} \u00b7 feed-in ${num(feed)}`, "", price(t.average_local_price))}
    ${tile("good", "Savings", compact(t.savings), denom(), "vs. buying all at the retail tariff", "", money(t.savings))}
    ${tile("import", "Import / export at PCC", `${short(imp)} / ${short(exp)}`, "kWh",
      "metered at the point of common coupling")}
    ${tile("import", "Peak import at PCC", pv, pu,
      t.peak_import_interval != null && t.peak_import_wh
        ? html`in ${intervalLink(t.peak_import_interval)}`
        : "no import")}
    ${tile("bad", "Penalties", compact(t.penalties), denom(), "imbalance penalties charged", "", money(t.penalties))}
  </div>`;
}

/** Interval table rows (DOM contract: tr[data-interval], td[data-field][data-value]). */
function intervalTable(rows, { compact = false } = {}) {
  if (!rows.length) return empty("No cleared intervals yet.");
  const body = rows.map((r) => {
    const curt = sum(Object.values(r.curtailments || {}), (x) => x);
    const k = r.kpis || {};
    return html`<tr data-interval="${r.id}">
      <td class="nowrap">${intervalLink(r.id, r.start_time)}</td>
      <td>${r.mechanism}${r.fallback ? html` ${badge(r.fallback, "warn")}` : ""}</td>
      ${fcell("clearing_price", r.clearing_price, r.clearing_price == null ? DASH : num(r.clearing_price))}
      ${fcell("matched_wh", r.matched_wh, kwhNum(r.matched_wh))}
      ${fcell("grid_import_wh", r.grid_import_wh, kwhNum(r.grid_import_wh))}
      ${fcell("grid_export_wh", r.grid_export_wh, kwhNum(r.grid_export_wh))}
      ${fcell("curtailed_wh", curt, curt ? kwhNum(curt) : DASH, curt ? "n neg" : "n")}
      ${compact ? "" : fcell("order_count", r.order_count, num(r.order_count))}
      ${fcell("trade_count", r.trade_count, num(r.trade_count))}
      ${fcell("self_sufficiency", k.self_sufficiency, pct(k.self_sufficiency))}
      ${compact ? "" : fcell("savings", k.savings, num(k.savings))}
      ${compact ? "" : fcell("penalties", r.penalties, num(r.penalties))}
      <td>${r.settled ? badge("settled", "good") : badge("pending", "pending")}</td>
    </tr>`;
  });
  return html`<div class="table-wrap${compact ? "" : " tall"}" id="${compact ? "recent-scroll" : "intervals-scroll"}" data-keep-scroll>
    <table class="t intervals"><thead><tr>
      <th>Interval</th><th>Mechanism</th><th class="n" title="clearing price, ${denom()}/kWh">Price</th>
      <th class="n" title="matched locally, kWh">Matched</th><th class="n" title="grid import, kWh">Import</th>
      <th class="n" title="grid export, kWh">Export</th><th class="n" title="curtailed by line limits, kWh">Curtailed</th>
      ${compact ? "" : html`<th class="n">Orders</th>`}<th class="n">Trades</th>
      <th class="n">Self-suff.</th>${compact ? "" : html`<th class="n" title="${denom()}">Savings</th><th class="n" title="${denom()}">Penalties</th>`}
      <th>Settlement</th></tr></thead>
    <tbody>${body}</tbody></table></div>`;
}

/** Shared x-axis helpers for charts over a list of intervals (oldest first). */
function intervalAxis(list) {
  const span = list.length > 1 ? list[list.length - 1].start_time - list[0].start_time : 0;
  const multiDay = span > 20 * 3600;
  return {
    n: list.length,
    xLabel: (i) => (multiDay ? dayHm(list[i].start_time) : hms(list[i].start_time).slice(0, 5)),
    xTickPx: multiDay ? 110 : 70,
    tipTitle: (i) => `interval #${list[i].id} \u00b7 ${hms(list[i].start_time)}\u2013${hms(list[i].end_time)}`,
    href: (i) => `#/interval/${list[i].id}`,
  };
}

function priceChart(list, width, height = 190) {
  return slotChart({
    ...intervalAxis(list),
    width,
    height,
    label: "clearing price",
    series: [
      { name: "retail tariff", color: COLORS.tariff, values: list.map((r) => r.retail_tariff), dash: "6 4", width: 1.3, dots: false },
      { name: "feed-in tariff", color: COLORS.tariff, values: list.map((r) => r.feed_in_tariff), dash: "2 3", width: 1.3, dots: false },
      { name: "clearing price", color: COLORS.price, values: list.map((r) => r.clearing_price), width: 2.2 },
    ],
    yFmt: (v) => num(Math.round(v)),
    ml: 48,
    emptyText: "no cleared intervals yet",
  }).toString();
}

function volumeChart(list, width, height = 190) {
  return slotChart({
    ...intervalAxis(list),
    width,
    height,
    label: "local volume and grid exchange",
    series: [
      { name: "local matched", color: COLORS.supply, type: "bar", stack: "v", values: list.map((r) => r.matched_wh), fmt: kwh },
      { name: "grid import", color: COLORS.import, type: "bar", stack: "v", values: list.map((r) => r.grid_import_wh), fmt: kwh },
      { name: "grid export", color: COLORS.export, type: "bar", stack: "v", values: list.map((r) => -(r.grid_export_wh || 0)), fmt: (v) => kwh(-v) },
    ],
    yFmt: kwhShort,
    ml: 62,
    emptyText: "no cleared intervals yet",
  }).toString();
}

// ---- overview

const overview = {
  title: "Overview",
  async load(_arg, signal) {
    const [status, iv, market] = await Promise.all([
      api("/api/status", signal),
      api("/api/intervals?limit=96", signal),
      api("/api/market", signal),
    ]);
    setStatus(status);
    return { height: Math.max(status.height, iv.height, market.height), status, iv, market };
  },
  render(d) {
    const list = d.iv.intervals || [];
    const books = d.market.books || [];
    const next = books.find((b) => b.role === "next") || books.find((b) => b.status === "open") || books[0];
    const recent = list.slice(-10).reverse();
    const W5 = chartWidth(5 / 12);
    const W7 = chartWidth(7 / 12);
    return html`
      <h1>Overview <span class="sub">${d.status.chain_id} \u00b7 ${d.status.mechanism} auction \u00b7
        ${dur(d.status.interval_seconds)} intervals \u00b7 last ${num(list.length)} cleared intervals</span></h1>
      ${kpiTiles(d.iv.totals, d.status)}
      <div class="grid">
        <div class="card span-5">
          ${next ? html`<h2>Next book: ${intervalLink(next.interval, next.start_time)}
              ${badge(next.status)} ${countdown(next, d.market.block_time)}</h2>
            ${raw(bookChart(next, d.market.params, W5, 230, true))}
            ${bookStats(next, true)}`
            : html`<h2>Next book</h2>${empty("No open book.")}`}
        </div>
        <div class="card span-7">
          <h2>Price &amp; volume <span class="sub">last ${num(list.length)} cleared intervals</span></h2>
          ${legend([["clearing price", COLORS.price, "line"], ["retail / feed-in tariff", COLORS.tariff, "dash"]])}
          ${raw(priceChart(list, W7, 150))}
          ${legend([["local matched", COLORS.supply], ["grid import", COLORS.import], ["grid export (down)", COLORS.export]])}
          ${raw(volumeChart(list, W7, 150))}
        </div>
      </div>
      <div class="card"><h2>Recent intervals <span class="sub">last 10 cleared, newest first \u00b7 prices in ${denom()}/kWh, energy in kWh \u00b7
        <a href="#/intervals">all intervals</a></span></h2>${intervalTable(recent, { compact: true })}</div>`;
  },
};

// ---- market

function countdown(book, blockTime) {
  if (book.status !== "open" || book.gate_closure_time == null) return "";
  return html`<span class="countdown" data-gate="${book.gate_closure_time}">${countdownText(book.gate_closure_time, blockTime)}</span>`;
}
function countdownText(gate, blockTime) {
  const bt = S.blockTime ?? blockTime;
  if (bt == null) return "";
  const left = gate - bt;
  return left > 0 ? `gate closes in ${dur(Math.ceil(left))}` : "gate closed \u00b7 clearing";
}
function updateCountdowns() {
  for (const el of document.querySelectorAll("[data-gate]")) {
    const gate = Number(el.getAttribute("data-gate"));
    el.textContent = countdownText(gate, null);
    el.classList.toggle("closed", S.blockTime != null && gate - S.blockTime <= 0);
  }
}

function bookChart(book, params, width, height, compact) {
  const p = { ...(params || {}) };
  if (book.min_price != null) p.min_price = book.min_price;
  if (book.max_price != null) p.max_price = book.max_price;
  const hl = [
    { y: p.retail_tariff, label: compact ? "retail" : `retail tariff ${num(p.retail_tariff)}`, cls: "tariff" },
    { y: p.feed_in_tariff, label: compact ? "feed-in" : `feed-in tariff ${num(p.feed_in_tariff)}`, cls: "tariff" },
  ];
  if (p.max_price != null && p.max_price !== p.retail_tariff) hl.push({ y: p.max_price, label: compact ? "" : "max price", cls: "limit" });
  if (p.min_price != null && p.min_price !== p.feed_in_tariff) hl.push({ y: p.min_price, label: compact ? "" : "min price", cls: "limit" });
  const c = book.crossing;
  return curveChart({
    demand: book.demand,
    supply: book.supply,
    crossing: c,
    crossLabel: c ? `${num(c.price)} ${denom()}/kWh \u00b7 ${kwhShort(c.quantity_wh)}` : "",
    hlines: hl,
    xFmt: kwhShort,
    yFmt: (v) => num(Math.round(v)),
    tipFmt: price,
    width,
    height,
    compact,
    xTitle: "cumulative energy (kWh)",
  });
}

function bookStats(b, compact) {
  const c = b.crossing;
  return html`<div class="stats">
    <div class="stat"><div class="k">Crossing price</div><div class="v">
      <span data-field="crossing_price" data-value="${c ? c.price : ""}">${c ? price(c.price) : "no crossing"}</span></div></div>
    <div class="stat"><div class="k">Crossing volume</div><div class="v">${c ? kwh(c.quantity_wh) : DASH}</div></div>
    <div class="stat"><div class="k">Orders</div><div class="v">${num(b.orders)}
      <span class="muted">(${num(b.buy_orders)} buy / ${num(b.sell_orders)} sell)</span></div></div>
    <div class="stat"><div class="k" style="color:${COLORS.demand}">Demand</div><div class="v">${kwh(b.buy_wh)}</div></div>
    <div class="stat"><div class="k" style="color:${COLORS.supply}">Supply</div><div class="v">${kwh(b.sell_wh)}</div></div>
    ${compact ? "" : html`<div class="stat"><div class="k">Unpriced</div><div class="v">
      ${kwhShort(b.unpriced_buy_wh)} buy / ${kwhShort(b.unpriced_sell_wh)} sell</div></div>`}
  </div>`;
}

function clearedBox(cl) {
  if (!cl) return html`<div class="result none">Not cleared yet: clears at gate closure.</div>`;
  return html`<div class="result"><div class="stats">
    <div class="stat"><div class="k">Clearing price</div><div class="v"><span data-field="clearing_price"
      data-value="${cl.clearing_price ?? ""}">${price(cl.clearing_price)}</span></div></div>
    <div class="stat"><div class="k">Matched</div><div class="v">${kwh(cl.matched_wh)}</div></div>
    <div class="stat"><div class="k" style="color:${COLORS.import}">Grid import</div><div class="v">${kwh(cl.grid_import_wh)}</div></div>
    <div class="stat"><div class="k" style="color:${COLORS.export}">Grid export</div><div class="v">${kwh(cl.grid_export_wh)}</div></div>
    <div class="stat"><div class="k">Trades</div><div class="v">${num(cl.trade_count)}</div></div>
    <div class="stat"><div class="k">Mechanism</div><div class="v">${cl.mechanism}
      ${cl.fallback ? badge(`fallback: ${cl.fallback}`, "warn") : ""}</div></div>
  </div>${Object.keys(cl.curtailments || {}).length ? html`<div class="neg">Curtailed by line limits:
    ${Object.entries(cl.curtailments).map(([line, wh], i) => html`${i ? ", " : ""}${line} ${kwh(wh)}`)}</div>` : ""}</div>`;
}

const market = {
  title: "Market",
  async load(_arg, signal) {
    return api("/api/market", signal);
  },
  render(d) {
    const p = d.params || {};
    const books = d.books || [];
    const W = books.length > 1 && window.innerWidth >= 1180 ? chartWidth(0.5) : chartWidth(1);
    const bookHtml = books.map((b) => {
      const unpriced = (b.unpriced_buy_wh || 0) + (b.unpriced_sell_wh || 0);
      return html`<section class="book card" data-interval="${b.interval}" data-status="${b.status}">
        <div class="head"><h2>Interval ${intervalLink(b.interval, b.start_time)}</h2>
          ${badge(b.role)} ${badge(b.status)}
          <span class="muted">delivery ${hms(b.start_time)}\u2013${hms(b.end_time)} \u00b7 gate closure ${hms(b.gate_closure_time)}</span>
          ${countdown(b, d.block_time)}</div>
        ${legend([["demand (bids)", COLORS.demand], ["supply (asks)", COLORS.supply], ["crossing", COLORS.price],
          ["tariffs", COLORS.tariff, "dash"]])}
        ${raw(bookChart(b, p, W, 300, false))}
        ${bookStats(b, false)}
        ${unpriced ? html`<div class="muted">Orders without a limit price are drawn at the max price (buy) and
          the min price (sell): ${kwh(b.unpriced_buy_wh)} buy, ${kwh(b.unpriced_sell_wh)} sell.</div>` : ""}
        ${clearedBox(b.cleared)}
      </section>`;
    });
    return html`<h1>Market <span class="sub">${p.mechanism} auction${p.k ? ` (k = ${p.k})` : ""} \u00b7
        current interval ${intervalText(d.current_interval)} \u00b7 next to clear ${intervalText(d.next_to_clear)}</span></h1>
      <div class="card" style="margin-bottom:14px"><div class="stats">
        <div class="stat"><div class="k">Mechanism</div><div class="v">${p.mechanism}</div></div>
        <div class="stat"><div class="k">Retail tariff</div><div class="v">${price(p.retail_tariff)}</div></div>
        <div class="stat"><div class="k">Feed-in tariff</div><div class="v">${price(p.feed_in_tariff)}</div></div>
        <div class="stat"><div class="k">Price band</div><div class="v">${num(p.min_price)}\u2013${num(p.max_price)} ${denom()}/kWh</div></div>
        <div class="stat"><div class="k">Interval</div><div class="v">${dur(p.interval_seconds)}</div></div>
        <div class="stat"><div class="k">Gate closure</div><div class="v">${dur(p.gate_closure_seconds)} before start</div></div>
        <div class="stat"><div class="k">Block time</div><div class="v">${hms(d.block_time)}</div></div>
      </div></div>
      ${books.length ? html`<div class="books">${bookHtml}</div>` : empty("No order books.", true)}`;
  },
};

// ---- intervals

const intervals = {
  title: "Intervals",
  shell() {
    return html`<h1>Intervals <span class="sub">cleared delivery intervals, settlement and KPIs</span></h1>
      <div class="controls"><span class="muted">Show last</span>
        <div class="seg" id="interval-limit">${[96, 288, 672].map(
          (n) => html`<button type="button" data-limit="${n}" class="${S.ilimit === n ? "on" : ""}">${n}</button>`,
        )}</div><span class="muted">intervals</span></div>
      <div id="view-body"><p class="muted">Loading\u2026</p></div>`;
  },
  bind(root) {
    root.addEventListener("click", (ev) => {
      if (!ev.target.closest("#show-all-intervals")) return;
      S.allRows = true;
      renderCurrent();
    });
    root.querySelector("#interval-limit").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-limit]");
      if (!b) return;
      S.ilimit = Number(b.dataset.limit);
      for (const x of root.querySelectorAll("#interval-limit button")) x.classList.toggle("on", x === b);
      reload();
    });
  },
  async load(_arg, signal) {
    return api(`/api/intervals?limit=${S.ilimit}`, signal);
  },
  render(d) {
    const list = d.intervals || [];
    const W = chartWidth(0.5);
    const ax = intervalAxis(list);
    const k = (f) => list.map((r) => (r.kpis ? r.kpis[f] : null));
    const t = d.totals || {};
    // a long table costs layout time on every refresh: show 96 rows unless asked
    const shown = S.allRows ? list.length : Math.min(list.length, 96);
    return html`
      <div class="stats card" style="margin-bottom:14px">
        <div class="stat"><div class="k">Intervals</div><div class="v">${num(t.intervals ?? list.length)}</div></div>
        <div class="stat"><div class="k">Local traded</div><div class="v">${kwhShort(t.local_traded_wh)}</div></div>
        <div class="stat"><div class="k">Avg local price</div><div class="v">${price(t.average_local_price)}</div></div>
        <div class="stat"><div class="k">Self-sufficiency</div><div class="v">${pct(t.self_sufficiency)}</div></div>
        <div class="stat"><div class="k">Self-consumption</div><div class="v">${pct(t.self_consumption)}</div></div>
        <div class="stat"><div class="k" style="color:${COLORS.import}">PCC import</div><div class="v">${kwhShort(t.pcc_import_wh)}</div></div>
        <div class="stat"><div class="k" style="color:${COLORS.export}">PCC export</div><div class="v">${kwhShort(t.pcc_export_wh)}</div></div>
        <div class="stat"><div class="k">Savings</div><div class="v">${money(t.savings)}</div></div>
        <div class="stat"><div class="k">Penalties</div><div class="v">${money(t.penalties)}</div></div>
      </div>
      <div class="grid">
        <div class="card span-6"><h2>Clearing price vs tariffs <span class="sub">${denom()}/kWh</span></h2>
          ${legend([["clearing price", COLORS.price, "line"], ["retail (long dash) / feed-in (short dash)", COLORS.tariff, "dash"]])}
          ${raw(priceChart(list, W))}</div>
        <div class="card span-6"><h2>Local volume vs main grid <span class="sub">matched, import, export</span></h2>
          ${legend([["local matched", COLORS.supply], ["grid import", COLORS.import], ["grid export (down)", COLORS.export]])}
          ${raw(volumeChart(list, W))}</div>
        <div class="card span-6"><h2>Generation vs consumption <span class="sub">metered</span></h2>
          ${legend([["generation", COLORS.supply, "line"], ["consumption", COLORS.demand, "line"], ["locally used (dashed)", COLORS.slate, "line"]])}
          ${raw(slotChart({ ...ax, width: W, height: 190, series: [
            { name: "generation", color: COLORS.supply, values: k("generation_wh"), fmt: kwh },
            { name: "consumption", color: COLORS.demand, values: k("consumption_wh"), fmt: kwh },
            { name: "locally used", color: COLORS.slate, values: k("locally_used_wh"), fmt: kwh, width: 1.4, dash: "4 3" },
          ], yFmt: kwhShort, zero: true }))}</div>
        <div class="card span-6"><h2>Self-sufficiency &amp; self-consumption</h2>
          ${legend([["self-sufficiency", COLORS.supply, "line"], ["self-consumption", COLORS.slate, "line"]])}
          ${raw(slotChart({ ...ax, width: W, height: 190, series: [
            { name: "self-sufficiency", color: COLORS.supply, values: k("self_sufficiency") },
            { name: "self-consumption", color: COLORS.slate, values: k("self_consumption") },
          ], yFmt: (v) => pct(v, 0), yMin: 0, yMax: 1000000, ml: 48 }))}</div>
        <div class="card span-6"><h2>Penalties <span class="sub">${denom()} per interval</span></h2>
          ${legend([["penalties", COLORS.bad], ["interval with missing meter readings", COLORS.neutral]])}
          ${raw(slotChart({ ...ax, width: W, height: 160, series: [
            { name: "penalties", color: COLORS.bad, type: "bar", values: list.map((r) => r.penalties), fmt: money },
            { name: "missing readings", color: COLORS.neutral, type: "points", values: list.map((r) => (r.missing_readings ? 0 : null)), tip: false },
          ], yFmt: (v) => num(Math.round(v)), tipExtra: (i) => (list[i].missing_readings ? `<br>missing readings: ${esc(num(list[i].missing_readings))}` : "") }))}</div>
        <div class="card span-6"><h2>Orders &amp; trades <span class="sub">per interval</span></h2>
          ${legend([["orders", COLORS.score], ["trades", COLORS.price, "line"]])}
          ${raw(slotChart({ ...ax, width: W, height: 160, series: [
            { name: "orders", color: COLORS.score, type: "bar", values: list.map((r) => r.order_count), opacity: 0.45 },
            { name: "trades", color: COLORS.price, values: list.map((r) => r.trade_count) },
          ], yFmt: (v) => num(Math.round(v)), ml: 48 }))}</div>
      </div>
      <div class="card"><h2>Intervals <span class="sub">newest first \u00b7 prices in ${denom()}/kWh, energy in kWh, money in ${denom()} \u00b7 click for trades and settlement</span></h2>
        ${intervalTable(list.slice(-shown).reverse())}
        ${list.length > shown ? html`<div class="controls" style="margin:8px 0 0"><span class="muted">newest ${num(shown)} of ${num(list.length)} rows shown</span>
          <button type="button" id="show-all-intervals">Show all ${num(list.length)} rows</button></div>` : ""}</div>`;
  },
};

// ---- interval detail

const intervalDetail = {
  title: "Interval",
  async load(arg, signal) {
    return api(`/api/interval/${encodeURIComponent(arg)}`, signal);
  },
  render(d, arg) {
    const r = d.interval || {};
    const k = r.kpis || {};
    const id = r.id ?? arg;
    const trades = d.trades || [];
    const setts = d.settlements || [];
    const curts = d.curtailments || [];
    const f = (field, text) => html`<span data-field="${field}" data-value="${r[field] ?? ""}">${text}</span>`;
    const prev = Number(id) - 1;
    const next = Number(id) + 1;
    return html`<section id="interval-detail" data-interval="${id}">
      <h1>Interval #${id} <span class="sub">${hms(r.start_time)}\u2013${hms(r.end_time)}</span>
        ${badge(r.status || (r.settled ? "settled" : "cleared"), r.settled ? "good" : "cleared")}
        ${r.settled ? "" : badge("settlement pending", "pending")}
        <span class="sub"><a href="#/interval/${prev}">\u2190 #${prev}</a> \u00b7 <a href="#/interval/${next}">#${next} \u2192</a></span></h1>
      <div class="grid">
        <div class="card span-4"><h2>Clearing</h2><dl class="kv">
          <dt>Mechanism</dt><dd>${r.mechanism}${r.fallback ? html` ${badge(`fallback: ${r.fallback}`, "warn")}` : ""}</dd>
          <dt>Clearing price</dt><dd>${f("clearing_price", price(r.clearing_price))}</dd>
          <dt>Matched locally</dt><dd>${f("matched_wh", kwh(r.matched_wh))}</dd>
          <dt>Grid import</dt><dd>${f("grid_import_wh", kwh(r.grid_import_wh))}</dd>
          <dt>Grid export</dt><dd>${f("grid_export_wh", kwh(r.grid_export_wh))}</dd>
          <dt>Grid curtailed</dt><dd>${f("grid_curtailed_wh", kwh(r.grid_curtailed_wh))}</dd>
          <dt>Orders / trades</dt><dd>${num(r.order_count)} / ${num(r.trade_count)}</dd>
          <dt>Tariffs</dt><dd>retail ${price(r.retail_tariff)}, feed-in ${price(r.feed_in_tariff)}</dd>
          <dt>Inter-microgrid</dt><dd>import ${kwh(r.inter_import_wh)}, export ${kwh(r.inter_export_wh)}</dd>
        </dl></div>
        <div class="card span-4"><h2>Settlement KPIs</h2>${r.settled ? html`<dl class="kv">
          <dt>Generation</dt><dd>${kwh(k.generation_wh)}</dd>
          <dt>Consumption</dt><dd>${kwh(k.consumption_wh)}</dd>
          <dt>Locally used</dt><dd>${kwh(k.locally_used_wh)}</dd>
          <dt>Self-sufficiency</dt><dd>${pct(k.self_sufficiency)}</dd>
          <dt>Self-consumption</dt><dd>${pct(k.self_consumption)}</dd>
          <dt>Avg local price</dt><dd>${price(k.average_local_price)}</dd>
          <dt>Savings</dt><dd>${money(k.savings)}</dd>
          <dt>PCC import / export</dt><dd>${kwh(k.pcc_import_wh)} / ${kwh(k.pcc_export_wh)}</dd>
          <dt>Penalties / rebates</dt><dd>${money(r.penalties)} / ${money(r.rebates)}</dd>
          <dt>Missing readings</dt><dd>${num(r.missing_readings)}</dd></dl>`
          : empty("Settlement pending: meter readings are still coming in.")}</div>
        <div class="card span-4"><h2>Curtailments <span class="sub">network limits, re-cleared</span></h2>
          ${curts.length ? html`<div class="table-wrap"><table class="t"><thead><tr><th class="n">Round</th><th>Line</th>
            <th title="matched pair: buy order / sell order">Pair</th><th class="n" title="order cut back">Order</th><th class="n">kWh</th></tr></thead><tbody>
            ${curts.map((c) => html`<tr><td class="n">${num(c.round)}</td><td>${c.line}</td><td>#${c.buy_order} / #${c.sell_order}</td>
              <td class="n">#${c.order}</td><td class="n neg">${kwhNum(c.quantity_wh)}</td></tr>`)}
            </tbody></table></div>` : empty("No curtailments: the cleared result was within every line limit.")}</div>
      </div>
      ${trades.length ? html`<div class="card" style="margin-bottom:14px"><h2>Who traded with whom
          <span class="sub">ribbon width = energy${d.trades_more ? " \u00b7 first 200 trades" : ""}</span></h2>
        ${raw(flowChart({ trades, width: chartWidth(1), kwh: kwhShort, short: shortAddr }))}</div>` : ""}
      <div class="card" style="margin-bottom:14px"><h2>Trades <span class="sub">${num(trades.length)}${d.trades_more ? " shown (more not listed)" : ""}</span></h2>
        ${trades.length ? html`<div class="table-wrap tall" id="trades-scroll" data-keep-scroll><table class="t"><thead><tr>
          <th class="n">#</th><th>Buyer</th><th></th><th>Seller</th><th class="n">kWh</th><th class="n">Price ${denom()}/kWh</th>
          <th class="n">Amount</th><th class="n">Seller price</th><th class="n">Fee</th><th class="n">Tax</th></tr></thead><tbody>
          ${trades.map((t) => html`<tr><td class="n">${num(t.index)}</td><td>${addrLink(t.buyer)}</td><td class="arrow">\u2190</td>
            <td>${addrLink(t.seller)}</td><td class="n">${kwhNum(t.quantity_wh)}</td><td class="n">${num(t.price)}</td>
            <td class="n">${num(t.amount)}</td><td class="n">${num(t.seller_price)}</td><td class="n">${num(t.fee)}</td>
            <td class="n">${num(t.tax)}</td></tr>`)}
          </tbody></table></div>` : empty("No local trades in this interval.")}</div>
      <div class="card"><h2>Settlements <span class="sub">contracted vs metered, per participant${d.settlements_more ? " \u00b7 first 200" : ""}</span></h2>
        ${setts.length ? settlementTable(setts, false) : empty(r.settled ? "No settlements." : "Not settled yet.")}</div>
    </section>`;
  },
};

function settlementTable(rows, byInterval) {
  return html`<div class="table-wrap tall" id="${byInterval ? "psett-scroll" : "sett-scroll"}" data-keep-scroll><table class="t"><thead><tr>
    ${byInterval ? html`<th>Interval</th>` : html`<th>Participant</th>`}
    <th class="n">Contracted sell</th><th class="n">Contracted buy</th><th class="n">Exported</th><th class="n">Imported</th>
    <th class="n">Deviation kWh</th><th class="n">Accuracy</th><th class="n">Penalty</th><th class="n">Net ${denom()}</th>
    <th class="n">Savings</th><th class="n">Score</th><th class="n">Change</th><th class="n">Missing</th></tr></thead><tbody>
    ${rows.map((s) => {
      const ch = s.score_after != null && s.score_before != null ? s.score_after - s.score_before : null;
      return html`<tr${s.missing_readings ? raw(' class="sus"') : ""}>
        <td>${byInterval ? intervalLink(s.interval) : addrLink(s.participant)}</td>
        <td class="n">${kwhNum(s.contracted_sell_wh)}</td><td class="n">${kwhNum(s.contracted_buy_wh)}</td>
        <td class="n">${kwhNum(s.exported_wh)}</td><td class="n">${kwhNum(s.imported_wh)}</td>
        <td class="n ${s.deviation_wh ? "neg" : ""}">${kwhNum(s.deviation_wh)}</td><td class="n">${pct(s.accuracy)}</td>
        <td class="n ${s.penalty ? "neg" : ""}">${num(s.penalty)}</td><td class="n ${signCls(s.net)}">${num(s.net)}</td>
        <td class="n">${num(s.savings)}</td><td class="n">${pct(s.score_after)}</td>
        <td class="n ${signCls(ch)}">${ch == null ? DASH : `${ch > 0 ? "+" : ""}${fixed(ch / 10000, 1)} pt`}</td>
        <td class="n">${num(s.missing_readings)}</td></tr>`;
    })}</tbody></table></div>`;
}

// ---- network

const network = {
  title: "Network",
  async load(_arg, signal) {
    return api("/api/network", signal);
  },
  bind(root) {
    root.addEventListener("click", (ev) => {
      const b = ev.target.closest("#net-size button[data-fit]");
      if (!b) return;
      S.netFit = b.dataset.fit === "1";
      for (const x of root.querySelectorAll("#net-size button")) x.classList.toggle("on", x === b);
      root.querySelector("#net-scroll").classList.toggle("fit", S.netFit);
    });
  },
  after(_d, first) {
    // the first time, show the point of common coupling rather than the far left
    const box = document.getElementById("net-scroll");
    if (!first || !box) return;
    box.scrollLeft = Math.max(0, Number(box.dataset.rootX) - box.clientWidth / 2);
  },
  render(d) {
    const buses = d.buses || [];
    const cur = d.curtailed_wh || {};
    const last = d.last_curtailed_wh || {};
    const totalCurt = sum(Object.values(cur), (x) => x);
    const win = d.window || [];
    const chart = buses.length
      ? networkChart({ buses, curtailed: cur, last, kwh: kwhShort, pct: (p) => pct(p, 1), minWidth: chartWidth(1) - 4 })
      : null;
    const sorted = buses.slice().sort((a, b) => String(a.id).localeCompare(String(b.id), "en", { numeric: true }));
    return html`<h1>Network <span class="sub">radial distribution network \u00b7 ${num(buses.length)} buses \u00b7
        curtailments over ${win.length === 2 ? html`${intervalLink(win[0])} \u2013 ${intervalLink(win[1])}` : "the window"}</span></h1>
      <div class="card" style="margin-bottom:14px">
        <h2>Single-line diagram <span class="sub">lines labelled with capacity per interval and loss;
          red = curtailed in the window (total ${kwh(totalCurt)})</span></h2>
        ${chart && chart.width > chartWidth(1) + 30 ? html`<div class="controls"><div class="seg" id="net-size">
          <button type="button" data-fit="0" class="${S.netFit ? "" : "on"}">Actual size</button>
          <button type="button" data-fit="1" class="${S.netFit ? "on" : ""}">Fit to width</button></div>
          <span class="muted">${num(chart.width)} px wide: scroll sideways, or fit it to the window</span></div>` : ""}
        ${chart ? html`<div class="chart-scroll${S.netFit ? " fit" : ""}" id="net-scroll" data-keep-scroll
          data-root-x="${chart.rootX}">${raw(chart.svg)}</div>` : empty("No buses configured.")}
      </div>
      <div class="card"><h2>Buses and lines</h2>
        <div class="table-wrap tall" id="bus-scroll" data-keep-scroll><table class="t"><thead><tr><th>Bus</th><th>Parent</th>
          <th class="n">Line capacity</th><th class="n">Loss</th><th class="n">Participants</th>
          <th class="n">Curtailed (window)</th><th class="n">Curtailed (${d.last_interval != null ? `#${d.last_interval}` : "last"})</th></tr></thead>
          <tbody>${sorted.map((b) => html`<tr data-bus="${b.id}"><td>${b.parent ? b.id : html`<b>${b.id}</b> ${badge("PCC", "current")}`}</td>
            <td>${b.parent || "main grid"}</td><td class="n">${kwh(b.capacity_wh)}</td><td class="n">${pct(b.loss_ppm, 2)}</td>
            <td class="n">${num(b.participants)}</td><td class="n ${cur[b.id] ? "neg" : ""}">${cur[b.id] ? kwh(cur[b.id]) : DASH}</td>
            <td class="n ${last[b.id] ? "neg" : ""}">${last[b.id] ? kwh(last[b.id]) : DASH}</td></tr>`)}</tbody></table></div></div>`;
  },
};

// ---- participants (ranking)

let searchTimer = null;
const participants = {
  title: "Participants",
  shell() {
    const p = S.pview;
    return html`<h1>Participants <span class="sub">reputation ranking</span></h1>
      <div class="controls">
        <input id="participant-search" type="search" placeholder="Search address (substring)\u2026" value="${p.q}"
          spellcheck="false" autocomplete="off" aria-label="Search participants by address">
        <label class="muted">sort <select id="participant-sort">
          <option value="rank"${p.sort === "rank" ? raw(" selected") : ""}>by rank</option>
          <option value="address"${p.sort === "address" ? raw(" selected") : ""}>by address</option></select></label>
        <button type="button" id="page-prev">\u2190 Prev</button>
        <span id="page-range"></span>
        <button type="button" id="page-next">Next \u2192</button>
      </div>
      <div id="view-body"><p class="muted">Loading\u2026</p></div>`;
  },
  bind(root) {
    const input = root.querySelector("#participant-search");
    input.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        const q = input.value.trim();
        if (q === S.pview.q) return;
        S.pview.q = q;
        S.pview.offset = 0;
        reload();
      }, 300);
    });
    input.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      const q = input.value.trim();
      const rows = (S.data && S.data.rows) || [];
      const hit = rows.find((r) => r.address === q) || (rows.length === 1 && q ? rows[0] : null);
      if (hit) window.location.hash = `#/participant/${encodeURIComponent(hit.address)}`;
    });
    root.querySelector("#participant-sort").addEventListener("change", (ev) => {
      S.pview.sort = ev.target.value;
      S.pview.offset = 0;
      reload();
    });
    root.querySelector("#page-prev").addEventListener("click", () => {
      S.pview.offset = Math.max(0, S.pview.offset - S.pview.limit);
      reload();
    });
    root.querySelector("#page-next").addEventListener("click", () => {
      const total = S.data ? S.data.total : 0;
      if (S.pview.offset + S.pview.limit >= total) return;
      S.pview.offset += S.pview.limit;
      reload();
    });
    updatePager();
  },
  async load(_arg, signal) {
    const p = S.pview;
    const qs = new URLSearchParams({ offset: String(p.offset), limit: String(p.limit), q: p.q, sort: p.sort });
    return api(`/api/participants?${qs}`, signal);
  },
  after(d) {
    // the server may clamp the offset (e.g. a search shrank the result)
    if (typeof d.offset === "number") S.pview.offset = d.offset;
    updatePager();
  },
  render(d) {
    const rows = d.rows || [];
    const hist = d.histogram || [];
    const movers = d.movers || [];
    const W4 = chartWidth(4 / 12);
    return html`<div class="grid">
      <div class="card span-8 flush"><h2>Ranking <span class="sub">${num(d.total)} participants${S.pview.q ? html` matching \u201c${S.pview.q}\u201d` : ""}</span></h2>
        ${rows.length ? html`<div class="table-wrap"><table class="t"><thead><tr><th class="n">Rank</th><th>Address</th>
          <th class="n">Score</th><th class="n" title="settled intervals">Intervals</th><th class="n" title="suspensions">Susp.</th>
          <th>State</th><th class="n" title="rebates, ${denom()}">Rebates</th><th>Role</th><th>Bus</th></tr></thead><tbody>
          ${rows.map((r) => html`<tr data-address="${r.address}"${r.suspended ? raw(' class="sus"') : ""}>
            <td class="n">${num(r.rank)}</td><td>${addrLink(r.address)}</td>
            ${fcell("score", r.score, pct(r.score))}
            <td class="n">${num(r.intervals)}</td><td class="n">${num(r.suspensions)}</td>
            <td>${r.suspended ? html`<span class="badge suspended" title="${r.suspended_until ? `until ${intervalText(r.suspended_until)}` : ""}">suspended</span>` : badge("active", "active")}
              ${r.status && r.status !== "approved" ? badge(r.status) : ""}</td>
            <td class="n">${num(r.rebates)}</td><td>${r.role}</td><td>${r.bus}</td></tr>`)}
          </tbody></table></div>` : empty(S.pview.q ? "No participant matches this search." : "No participants yet.")}
      </div>
      <div class="span-4" style="display:flex;flex-direction:column;gap:14px">
        <div class="card"><h2>Score distribution <span class="sub">${num(d.suspended)} suspended</span></h2>
          ${raw(slotChart({
            n: hist.length,
            width: W4,
            height: 170,
            series: [{ name: "participants", color: COLORS.score, type: "bar", values: hist.map((h) => h[1]), fmt: num }],
            xLabel: (i) => `${Math.round(hist[i][0] / 10000)}%`,
            xTickPx: 34,
            tipTitle: (i) => `score ${pct(hist[i][0], 0)} \u2013 ${pct(hist[i][0] + 100000, 0)}`,
            yFmt: (v) => num(Math.round(v)),
            ml: 44,
          }))}</div>
        <div class="card"><h2>Movers <span class="sub">${d.movers_interval != null ? html`in ${intervalLink(d.movers_interval)}` : ""}</span></h2>
          ${movers.length ? html`<ul class="movers">${movers.map((m) => html`<li>${addrLink(m.address)}
            <span>${pct(m.score)} <span class="${signCls(m.change)}">${m.change > 0 ? "+" : ""}${fixed(m.change / 10000, 1)} pt</span></span></li>`)}</ul>`
            : empty("No score changes yet.")}</div>
      </div></div>`;
  },
};

function updatePager() {
  const prev = document.getElementById("page-prev");
  const next = document.getElementById("page-next");
  const range = document.getElementById("page-range");
  if (!prev || !next || !range) return;
  const d = S.route && S.route.name === "participants" ? S.data : null;
  if (!d) {
    prev.disabled = true;
    next.disabled = true;
    range.textContent = "";
    return;
  }
  const n = (d.rows || []).length;
  const off = d.offset ?? S.pview.offset;
  range.textContent = n ? `${num(off + 1)}\u2013${num(off + n)} of ${num(d.total)}` : `0 of ${num(d.total)}`;
  prev.disabled = off <= 0;
  next.disabled = off + n >= d.total;
}

// ---- one participant

const participant = {
  title: "Participant",
  async load(arg, signal) {
    return api(`/api/participant/${encodeURIComponent(arg)}`, signal);
  },
  render(d) {
    const p = d.participant;
    const sc = d.score;
    const hist = d.history || [];
    const setts = d.settlements || [];
    const orders = d.orders || [];
    const trades = d.trades || [];
    const meters = d.meters || [];
    const W6 = chartWidth(0.5);
    const suspended = sc && sc.suspended_until && S.status && sc.suspended_until > (S.status.current_interval || 0);
    const hx = {
      n: hist.length,
      xLabel: (i) => `#${hist[i].interval}`,
      xTickPx: 90,
      tipTitle: (i) => intervalText(hist[i].interval),
      href: (i) => `#/interval/${hist[i].interval}`,
    };
    return html`<section id="participant" data-address="${d.address}">
      <h1>Participant <span class="addr">${d.address}</span>
        ${p ? badge(p.status) : badge("not registered", "warn")} ${suspended ? badge("suspended", "suspended") : ""}</h1>
      <div class="grid">
        <div class="card span-4"><h2>Registration</h2>${p ? html`<dl class="kv">
          <dt>Role</dt><dd>${p.role}</dd><dt>Bus</dt><dd>${p.bus}</dd><dt>Technology</dt><dd>${p.technology || DASH}</dd>
          <dt>Status</dt><dd>${badge(p.status)}</dd><dt>Applied at</dt><dd>height ${num(p.applied_height)}</dd>
          <dt>Decided at</dt><dd>${p.decided_height ? `height ${num(p.decided_height)}` : DASH}</dd>
          ${p.reason ? html`<dt>Reason</dt><dd>${p.reason}</dd>` : ""}
          <dt>Meters</dt><dd>${meters.length ? meters.map((m) => html`<div><span class="hash" title="${m.pub_key}">${shortAddr(m.pub_key)}</span> ${badge(m.status)}</div>`) : "none"}</dd>
          </dl>` : empty("Not registered on this chain (has a balance only).")}</div>
        <div class="card span-4"><h2>Balances</h2>${(d.balances || []).length ? html`<dl class="kv">
          ${d.balances.map((b) => html`<dt>${b.denom}</dt><dd><span data-field="balance" data-denom="${b.denom}"
            data-value="${b.amount}">${num(b.amount)}</span> <span class="muted">${b.denom}</span></dd>`)}</dl>`
          : empty("No balances.")}</div>
        <div class="card span-4"><h2>Reputation</h2>${sc ? html`<div class="stats">
          <div class="stat"><div class="k">Score</div><div class="v"><span data-field="score" data-value="${sc.score}">${pct(sc.score)}</span></div></div>
          <div class="stat"><div class="k">Rank</div><div class="v">${num(sc.rank)}</div></div>
          <div class="stat"><div class="k">Intervals</div><div class="v">${num(sc.intervals)}</div></div></div>
          ${ppmBar(sc.score, COLORS.score)}
          <dl class="kv" style="margin-top:8px"><dt>Suspensions</dt><dd>${num(sc.suspensions)}</dd>
          <dt>Suspended until</dt><dd>${sc.suspended_until ? intervalText(sc.suspended_until) : DASH}</dd>
          <dt>Rebates</dt><dd>${money(sc.rebates)}</dd></dl>`
          : empty("No reputation score yet.")}</div>
      </div>
      <div class="grid">
        <div class="card span-6"><h2>Score history <span class="sub">score after each settled interval; red = suspended</span></h2>
          ${raw(slotChart({ ...hx, width: W6, height: 190, series: [
            { name: "score", color: COLORS.score, values: hist.map((h) => h.score_after), fmt: (v) => pct(v) },
            { name: "suspended", color: COLORS.bad, type: "points", radius: 4, values: hist.map((h) => (h.suspended ? h.score_after : null)), tip: false },
          ], yFmt: (v) => pct(v, 0), yMin: 0, yMax: 1000000, ml: 48,
            tipExtra: (i) => `<br>accuracy: ${esc(pct(hist[i].accuracy))}${hist[i].suspended ? "<br><b>suspended</b>" : ""}${hist[i].source ? `<br>source: ${esc(hist[i].source)}` : ""}`,
            emptyText: "no settled intervals yet" }))}</div>
        <div class="card span-6"><h2>Deviations <span class="sub">metered minus contracted, per interval</span></h2>
          ${raw(slotChart({ ...hx, width: W6, height: 190, series: [
            { name: "deviation", color: COLORS.demand, type: "bar", values: hist.map((h) => h.deviation_wh), fmt: kwh },
          ], yFmt: kwhShort, tipExtra: (i) => `<br>contracted: ${esc(kwh(hist[i].contracted_wh))}<br>accuracy: ${esc(pct(hist[i].accuracy))}`,
            emptyText: "no settled intervals yet" }))}</div>
      </div>
      <div class="card" style="margin-bottom:14px"><h2>Settlements <span class="sub">oldest first</span></h2>
        ${setts.length ? settlementTable(setts, true) : empty("No settlements yet.")}</div>
      <div class="grid">
        <div class="card span-6"><h2>Recent orders <span class="sub">newest first</span></h2>
          ${orders.length ? html`<div class="table-wrap tall" id="porders-scroll" data-keep-scroll><table class="t"><thead><tr><th class="n">Id</th><th>Side</th>
            <th>Interval</th><th class="n">kWh</th><th class="n">Limit</th><th>Status</th><th class="n">Matched</th><th class="n">Grid</th></tr></thead><tbody>
            ${orders.map((o) => html`<tr><td class="n">${num(o.id)}</td>
              <td><span style="color:${o.side === "buy" ? COLORS.demand : COLORS.supply};font-weight:600">${o.side}</span></td>
              <td>${intervalLink(o.interval)}</td><td class="n">${kwhNum(o.quantity_wh)}</td>
              <td class="n">${o.price == null || o.price === 0 ? html`<span class="muted">auto</span>` : num(o.price)}</td>
              <td>${badge(o.status)}</td><td class="n">${kwhNum(o.matched_wh)}</td><td class="n">${kwhNum(o.grid_wh)}</td></tr>`)}
            </tbody></table></div>` : empty("No orders.")}</div>
        <div class="card span-6"><h2>Recent trades <span class="sub">newest first</span></h2>
          ${trades.length ? html`<div class="table-wrap tall" id="ptrades-scroll" data-keep-scroll><table class="t"><thead><tr><th>Interval</th><th>Side</th>
            <th>Counterparty</th><th class="n">kWh</th><th class="n">Price</th><th class="n">Amount</th></tr></thead><tbody>
            ${trades.map((t) => {
              const buy = t.buyer === d.address;
              return html`<tr><td>${intervalLink(t.interval)}</td>
                <td>${buy ? html`<span style="color:${COLORS.demand}">bought from</span>` : html`<span style="color:${COLORS.supply}">sold to</span>`}</td>
                <td>${addrLink(buy ? t.seller : t.buyer)}</td><td class="n">${kwhNum(t.quantity_wh)}</td>
                <td class="n">${num(t.price)}</td><td class="n">${num(t.amount)}</td></tr>`;
            })}</tbody></table></div>` : empty("No trades.")}</div>
      </div>
    </section>`;
  },
};

// ---- chain

const chain = {
  title: "Chain",
  async load(_arg, signal) {
    return api("/api/chain", signal);
  },
  render(d) {
    const vals = d.validators || [];
    const blocks = d.blocks || [];
    const nodes = d.nodes || [];
    const ag = d.agreement || {};
    const names = new Map(vals.map((v) => [v.address, v.name]));
    const total = sum(vals, (v) => v.voting_power);
    const hashes = Object.entries(ag.app_hashes || {});
    const oldest = blocks.slice().reverse();
    return html`<h1>Chain <span class="sub">${d.chain_id} \u00b7 ${num(vals.length)} validators \u00b7 avg block time
        ${d.avg_block_time_s != null ? `${fixed(d.avg_block_time_s, 2)} s` : DASH}</span></h1>
      <div class="grid">
        <div class="card span-12"><h2>App hash agreement
          <span id="app-hash-agreement" data-value="${ag.agree ? "true" : "false"}" class="${ag.agree ? "agree-yes" : "agree-no"}">
            ${ag.agree ? "\u2714 all reachable nodes agree" : "\u2718 nodes DISAGREE"}</span>
          <span class="sub">at height ${num(ag.height)}</span></h2>
          ${hashes.map(([h, ns]) => html`<div><span class="hash">${h}</span> <span class="arrow">\u2190</span> ${ns.join(", ")}</div>`)}
        </div>
        <div class="card span-12"><h2>Nodes</h2><div class="table-wrap"><table class="t"><thead><tr><th>Node</th><th>Moniker</th>
          <th>State</th><th class="n">Height</th><th class="n" title="height of the last app hash the node reports">App height</th>
          <th>Catching up</th><th>App hash</th><th>Agrees</th><th>Error</th></tr></thead><tbody>
          ${nodes.map((n) => html`<tr data-node="${n.url}"><td class="mono">${n.url}</td><td>${n.moniker}</td>
            <td>${n.ok ? badge("up", "good") : badge("down", "bad")}</td><td class="n">${num(n.height)}</td>
            <td class="n">${num(n.app_height ?? (n.height != null ? n.height - 1 : null))}</td>
            <td>${n.catching_up ? badge("catching up", "warn") : "no"}</td>
            <td class="hash" data-field="app_hash" data-value="${n.app_hash}">${n.app_hash || DASH}</td>
            <td>${n.ok ? yesNo(n.agrees) : DASH}</td><td class="muted">${n.error}</td></tr>`)}</tbody></table></div></div>
        <div class="card span-5"><h2>Validators <span class="sub">total voting power ${num(total)}</span></h2>
          <div class="table-wrap"><table class="t"><thead><tr><th>Name</th><th>Address</th><th class="n">Power</th>
          <th class="n">Share</th><th class="n">Priority</th><th>Signed last</th></tr></thead><tbody>
          ${vals.map((v) => html`<tr data-validator="${v.address}"><td>${v.name || DASH}</td><td class="hash" title="${v.address}">${shortAddr(v.address)}</td>
            <td class="n">${num(v.voting_power)}</td><td class="n">${total ? `${fixed((100 * v.voting_power) / total, 1)} %` : DASH}</td>
            <td class="n">${num(v.proposer_priority)}</td><td>${v.signed_last ? html`<span class="agree-yes">\u2714 signed</span>` : html`<span class="agree-no">\u2718 missed</span>`}</td></tr>`)}
          </tbody></table></div></div>
        <div class="card span-7"><h2>Block intervals <span class="sub">seconds between the last ${num(blocks.length)} blocks; bars = txs</span></h2>
          ${legend([["block interval (s)", COLORS.price, "line"], ["txs per block (scaled)", COLORS.score]])}
          ${raw(blockChart(oldest, chartWidth(7 / 12)))}</div>
      </div>
      <div class="card"><h2>Last blocks</h2><div class="table-wrap"><table class="t"><thead><tr><th class="n">Height</th><th>Time</th>
        <th class="n">Txs</th><th>Proposer</th><th class="n">Interval</th><th>App hash</th></tr></thead><tbody>
        ${blocks.map((b) => html`<tr data-block="${b.height}"><td class="n">${num(b.height)}</td><td title="${b.time_iso}">${hmsMs(b.time)}</td>
          <td class="n">${num(b.txs)}</td><td>${names.get(b.proposer) || html`<span class="hash">${shortAddr(b.proposer)}</span>`}</td>
          <td class="n">${b.interval_s != null ? `${fixed(b.interval_s, 2)} s` : DASH}</td><td class="hash">${b.app_hash}</td></tr>`)}
        </tbody></table></div></div>`;
  },
};

function blockChart(blocks, width) {
  const maxTx = Math.max(1, ...blocks.map((b) => b.txs || 0));
  const maxInt = Math.max(0.001, ...blocks.map((b) => b.interval_s || 0));
  const scale = maxInt / maxTx;
  return slotChart({
    n: blocks.length,
    width,
    height: 170,
    series: [
      { name: "txs", color: COLORS.score, type: "bar", opacity: 0.4, values: blocks.map((b) => (b.txs || 0) * scale), fmt: (v) => num(Math.round(v / scale)) },
      { name: "block interval", color: COLORS.price, values: blocks.map((b) => b.interval_s), fmt: (v) => `${fixed(v, 2)} s` },
    ],
    xLabel: (i) => `${blocks[i].height}`,
    tipTitle: (i) => `block ${blocks[i].height} \u00b7 ${hmsMs(blocks[i].time)}`,
    yFmt: (v) => `${fixed(v, 1)} s`,
    ml: 48,
  }).toString();
}

// ---- IBC

const ibc = {
  title: "IBC",
  async load(_arg, signal) {
    return api("/api/ibc", signal);
  },
  render(d) {
    const clients = d.clients || [];
    const chans = d.channels || [];
    const trades = d.trades || [];
    const head = html`<h1>Inter-microgrid <span class="sub">IBC light clients, channels and energy trades</span></h1>`;
    if (!clients.length && !chans.length && !trades.length) {
      return html`${head}<div class="card">${empty("No IBC channels on this chain.", true)}</div>`;
    }
    return html`${head}<div class="grid">
      <div class="card span-4"><h2>Light clients</h2>${clients.length ? html`<div class="table-wrap"><table class="t"><thead><tr>
        <th>Client</th><th>Counterparty chain</th><th class="n">Latest height</th><th>State</th></tr></thead><tbody>
        ${clients.map((c) => html`<tr><td class="mono">${c.client_id}</td><td>${c.chain_id}</td><td class="n">${num(c.latest_height)}</td>
          <td>${c.frozen ? badge("frozen") : badge("active")}</td></tr>`)}</tbody></table></div>` : empty("No light clients.")}</div>
      <div class="card span-8"><h2>Channels</h2>${chans.length ? html`<div class="table-wrap"><table class="t"><thead><tr>
        <th>Channel</th><th>Counterparty</th><th>Connection</th><th>State</th><th class="n" title="packets sent, not yet acknowledged">Pending</th>
        <th class="n" title="acknowledgements to relay">Acks</th><th class="n" title="next sequence to receive">Next recv</th></tr></thead><tbody>
        ${chans.map((c) => html`<tr><td class="mono">${c.port_id}/${c.channel_id}</td>
          <td>${c.counterparty_chain_id} <span class="mono muted">${c.counterparty_port_id}/${c.counterparty_channel_id}</span></td>
          <td class="mono">${c.connection}</td><td>${badge(c.state, c.state === "open" ? "good" : "warn")}</td>
          <td class="n ${c.pending_packets ? "neg" : ""}">${num(c.pending_packets)}</td><td class="n">${num(c.pending_acks ?? c.acknowledgements)}</td>
          <td class="n">${num(c.next_sequence_receive)}</td></tr>`)}</tbody></table></div>` : empty("No IBC channels on this chain.")}</div>
      </div>
      <div class="card"><h2>Inter-microgrid trades <span class="sub">newest first</span></h2>${trades.length ? html`<div class="table-wrap tall" id="ibc-scroll" data-keep-scroll>
        <table class="t"><thead><tr><th>Channel</th><th class="n">Seq</th><th>Direction</th><th>Status</th><th>Interval</th>
        <th class="n">kWh</th><th class="n">Price</th><th class="n">Height</th><th>Error</th></tr></thead><tbody>
        ${trades.map((t) => html`<tr><td class="mono">${t.channel_id}</td><td class="n">${num(t.sequence)}</td>
          <td>${t.outgoing ? html`<span style="color:${COLORS.export}">\u2192 out</span>` : html`<span style="color:${COLORS.import}">\u2190 in</span>`}</td>
          <td>${badge(t.status, t.status === "accepted" ? "good" : t.status === "pending" ? "pending" : "bad")}</td>
          <td>${intervalLink(t.interval)}</td><td class="n">${kwhNum(t.quantity_wh)}</td><td class="n">${num(t.price)}</td>
          <td class="n">${num(t.height)}</td><td class="muted">${t.error}</td></tr>`)}</tbody></table></div>` : empty("No inter-microgrid trades yet.")}</div>`;
  },
};

// ---- grid services (best effort: the server defines the shapes)

const PLAIN_KEYS = /(^id$|_id$|^interval|_interval$|height|sequence|^start|^end|^from|^to|index)/;
function cellHtml(key, v) {
  if (v == null) return DASH;
  if (typeof v === "number") return PLAIN_KEYS.test(key) ? String(v) : num(v);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return JSON.stringify(v);
  if (/^mg1[02-9ac-hj-np-z]{30,}$/.test(v)) return addrLink(v);
  return String(v);
}
function genericTable(list) {
  const rows = list.slice(0, 500);
  const cols = [];
  for (const row of rows) {
    if (row && typeof row === "object" && !Array.isArray(row)) {
      for (const k of Object.keys(row)) if (!cols.includes(k)) cols.push(k);
    }
  }
  if (!cols.length) return html`<pre class="json">${JSON.stringify(list, null, 1)}</pre>`;
  const numeric = new Set(cols.filter((c) => rows.every((r) => r[c] == null || typeof r[c] === "number")));
  const cls = (c) => (numeric.has(c) ? "n" : "");
  return html`<div class="table-wrap tall"><table class="t"><thead><tr>${cols.map((c) => html`<th class="${cls(c)}">${c.replace(/_/g, " ")}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${cols.map((c) => html`<td class="${cls(c)}">${cellHtml(c, r[c])}</td>`)}</tr>`)}</tbody></table></div>
    ${list.length > rows.length ? html`<div class="muted">first ${rows.length} of ${num(list.length)}</div>` : ""}`;
}
const grid = {
  title: "Grid",
  async load(_arg, signal) {
    return api("/api/grid", signal);
  },
  render(d) {
    const parts = Object.entries(d).filter(([k]) => k !== "height");
    if (parts.length && parts.every(([, v]) => Array.isArray(v) && !v.length)) {
      return html`<h1>Grid services <span class="sub">${parts.map(([k]) => k.replace(/_/g, " ")).join(", ")}</span></h1>
        <div class="card">${empty("No grid-service activity on this chain yet.", true)}</div>`;
    }
    const title = (k) => k.replace(/_/g, " ").replace(/^dr /, "DR ").replace(/^./, (c) => c.toUpperCase());
    return html`<h1>Grid services <span class="sub">demand response, flexibility, quotas, certificates, storage</span></h1>
      ${parts.length ? parts.map(([k, v]) => html`<div class="card" style="margin-bottom:14px"><h2>${title(k)}
          ${Array.isArray(v) ? html`<span class="sub">${num(v.length)}</span>` : ""}</h2>
        ${Array.isArray(v) ? (v.length ? genericTable(v) : html`<div class="empty small">None.</div>`)
          : v && typeof v === "object" ? html`<dl class="kv">${Object.entries(v).map(([kk, vv]) => html`<dt>${kk.replace(/_/g, " ")}</dt>
            <dd>${Array.isArray(vv) ? (vv.length ? genericTable(vv) : DASH) : cellHtml(kk, vv)}</dd>`)}</dl>`
          : cellHtml(k, v)}</div>`) : empty("No grid services data.", true)}`;
  },
};

const notFound = {
  title: "Not found",
  async load() {
    return { height: S.height ?? 0 };
  },
  render(_d, arg) {
    return html`<h1>Not found</h1>${empty(`There is no page \u201c${arg}\u201d. Use the navigation above.`, true)}`;
  },
};

const VIEWS = {
  overview,
  market,
  intervals,
  interval: intervalDetail,
  network,
  participants,
  participant,
  chain,
  ibc,
  grid,
  notfound: notFound,
};

// ---------------------------------------------------------------- routing

function parseHash() {
  const h = window.location.hash.replace(/^#\/?/, "");
  const slash = h.indexOf("/");
  const name = (slash < 0 ? h : h.slice(0, slash)) || "overview";
  let arg = slash < 0 ? "" : h.slice(slash + 1);
  try {
    arg = decodeURIComponent(arg);
  } catch {
    // keep the raw text if it is not valid percent-encoding
  }
  if (!Object.hasOwn(VIEWS, name) || name === "notfound") return { name: "notfound", arg: h };
  if ((name === "interval" || name === "participant") && !arg) return { name: "notfound", arg: h };
  return { name, arg };
}

function onRoute() {
  const r = parseHash();
  const key = `${r.name}/${r.arg}`;
  if (S.route && S.route.key === key) return;
  if (S.inflight) S.inflight.abort();
  S.inflight = null;
  S.pending = false;
  S.route = { ...r, key };
  S.data = null;
  S.sig = "";
  const m = main();
  m.dataset.route = r.name;
  m.dataset.ready = "false";
  m.dataset.height = "";
  for (const a of document.querySelectorAll("#nav a")) {
    const routeName = a.dataset.route;
    const active = routeName === r.name || (r.name === "interval" && routeName === "intervals") ||
      (r.name === "participant" && routeName === "participants");
    a.classList.toggle("active", active);
  }
  const view = VIEWS[r.name];
  document.title = `${view.title}${r.arg && r.name !== "notfound" ? ` ${r.arg}` : ""} \u00b7 mgrid dashboard`;
  resetCharts();
  m.innerHTML = view.shell ? String(view.shell(r.arg)) : '<p class="muted loading">Loading\u2026</p>';
  if (view.bind) view.bind(m);
  document.getElementById("tooltip").hidden = true;
  window.scrollTo(0, 0);
  refresh();
}

/** Abandon the request in flight (its answer is stale) and fetch again. */
function reload() {
  if (S.inflight) S.inflight.abort();
  S.inflight = null;
  S.pending = false;
  refresh();
}

async function refresh() {
  if (!S.route) return;
  if (S.inflight) {
    S.pending = true;
    return;
  }
  const route = S.route;
  const view = VIEWS[route.name];
  const ctrl = new AbortController();
  S.inflight = ctrl;
  try {
    const data = await view.load(route.arg, ctrl.signal);
    if (S.route !== route || ctrl.signal.aborted) return;
    const sig = signature(data);
    const same = S.data && sig === S.sig && main().dataset.ready === "true";
    S.data = data;
    S.sig = sig;
    if (same) {
      // nothing but the block moved on: keep the DOM (no churn for readers,
      // selections or tests holding elements), just record the height read
      main().dataset.height = String(data.height ?? "");
    } else {
      renderCurrent();
    }
    showError(null);
  } catch (e) {
    if (e.name === "AbortError" || S.route !== route || ctrl.signal.aborted) return;
    showError(e.message || String(e));
    if (main().dataset.ready !== "true") renderFailure(e);
  } finally {
    if (S.inflight === ctrl) {
      S.inflight = null;
      if (S.pending && S.route === route) {
        S.pending = false;
        if (!S.data || S.height == null || S.height > S.data.height) refresh();
      }
    }
  }
}

/** What a view shows, minus the fields that change with every block. */
const PER_BLOCK = new Set(["height", "block_time", "app_hash"]);
function signature(data) {
  return JSON.stringify(data, (k, v) => (PER_BLOCK.has(k) ? undefined : v));
}

function renderFailure(e) {
  const view = VIEWS[S.route.name];
  const target = view.shell ? document.getElementById("view-body") : main();
  const msg = e.status === 404 ? "Not found." : e.status === 400 ? "Malformed request." : "Could not load this view.";
  if (target) target.innerHTML = String(html`<div class="empty big">${msg} <span class="muted">${e.message}</span></div>`);
  main().dataset.ready = "true";
}

function renderCurrent() {
  if (!S.route || !S.data) return;
  const view = VIEWS[S.route.name];
  const m = main();
  const target = view.shell ? document.getElementById("view-body") : m;
  if (!target) return;
  // keep the reader's place: window scroll and scrollable boxes survive the swap
  const sy = window.scrollY;
  const sx = window.scrollX;
  const boxes = new Map();
  for (const el of m.querySelectorAll("[data-keep-scroll][id]")) boxes.set(el.id, [el.scrollLeft, el.scrollTop]);
  const first = m.dataset.ready !== "true";
  resetCharts();
  const t0 = performance.now();
  const markup = String(view.render(S.data, S.route.arg));
  const t1 = performance.now();
  target.innerHTML = markup;
  // exposed for performance checks: markup build and DOM swap of the last render
  m.dataset.renderMs = `${Math.round(t1 - t0)}+${Math.round(performance.now() - t1)}`;
  for (const [id, [l, t]] of boxes) {
    const el = document.getElementById(id);
    if (el) {
      el.scrollLeft = l;
      el.scrollTop = t;
    }
  }
  if (window.scrollY !== sy || window.scrollX !== sx) window.scrollTo(sx, sy);
  if (view.after) view.after(S.data, first);
  m.dataset.height = String(S.data.height ?? "");
  m.dataset.ready = "true";
  updateCountdowns();
}

// ---------------------------------------------------------------- header, live

function showError(msg) {
  const el = document.getElementById("error");
  if (!msg) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.textContent = msg;
  el.hidden = false;
}

function updateBanner() {
  const b = document.getElementById("banner");
  if (!S.serverOk) {
    b.textContent = "Lost the connection to the dashboard server: reconnecting\u2026 (figures below may be stale)";
    b.hidden = false;
  } else if (S.nodeOk === false) {
    b.textContent = `Node unreachable${S.nodeError ? `: ${S.nodeError}` : ""}. Showing the last data read; retrying.`;
    b.hidden = false;
  } else {
    b.hidden = true;
  }
  const ns = document.getElementById("node-state");
  const ok = S.serverOk && S.nodeOk === true;
  ns.dataset.ok = ok ? "true" : "false";
  ns.textContent = ok ? "node ok" : S.nodeOk === null && S.serverOk ? "connecting" : "node down";
  ns.title = ok ? (S.status ? S.status.node : "node ok") : S.nodeError || "no connection";
}

function setStatus(st) {
  S.status = st;
  if (st.denom) S.denom = st.denom;
  document.getElementById("chain-id").textContent = st.chain_id || "?";
  document.getElementById("chain-id").title = `chain id \u00b7 node ${st.node || ""} (${st.moniker || ""}) \u00b7 app ${st.app_version || ""} \u00b7 CometBFT ${st.cometbft_version || ""}`;
  if (S.height == null || st.height > S.height) setHeight(st.height, st.block_time);
}

function setHeight(h, time) {
  S.height = h;
  const el = document.getElementById("height");
  el.dataset.value = String(h);
  el.textContent = num(h);
  if (time != null) {
    S.blockTime = Number(time);
    const bt = document.getElementById("block-time");
    bt.dataset.value = String(time);
    bt.textContent = hms(time);
  }
}

let statusRetry = null;
async function loadStatus() {
  clearTimeout(statusRetry);
  try {
    setStatus(await api("/api/status"));
    if (S.nodeOk === null) S.nodeOk = true;
    updateBanner();
    // re-render: denoms and interval start times may have been unknown until now
    if (S.data) renderCurrent();
  } catch (e) {
    showError(e.message);
    statusRetry = setTimeout(loadStatus, 5000);
  }
}

function scheduleRefresh(height) {
  if (S.data && height != null && S.data.height >= height) return;
  clearTimeout(S.timer);
  S.timer = setTimeout(refresh, 300);
}

let polling = null;
function startPolling() {
  if (polling) return;
  polling = setInterval(async () => {
    try {
      const st = await api("/api/status");
      S.serverOk = true;
      S.nodeOk = true;
      updateBanner();
      if (S.height == null || st.height > S.height) {
        setStatus(st);
        updateCountdowns();
        scheduleRefresh(st.height);
      }
    } catch (e) {
      S.nodeOk = false;
      S.nodeError = e.message;
      updateBanner();
    }
  }, 3000);
}

function connectEvents() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => {
    if (!S.serverOk) {
      S.serverOk = true;
      updateBanner();
      loadStatus();
    }
  });
  es.addEventListener("block", (ev) => {
    let b;
    try {
      b = JSON.parse(ev.data);
    } catch {
      return;
    }
    setHeight(b.height, b.time);
    const bt = document.getElementById("block-time");
    if (b.time_iso) bt.title = b.time_iso;
    if (S.nodeOk !== true || !S.serverOk) {
      S.nodeOk = true;
      S.serverOk = true;
      updateBanner();
    }
    updateCountdowns();
    scheduleRefresh(b.height);
  });
  es.addEventListener("node", (ev) => {
    let n;
    try {
      n = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (n.live === false) {
      // the server has no block follower: poll its status instead of reconnecting
      es.close();
      startPolling();
    }
    const wasDown = S.nodeOk === false;
    S.nodeOk = !!n.ok;
    S.nodeError = n.error || "";
    updateBanner();
    if (n.ok && wasDown) {
      loadStatus();
      scheduleRefresh(null);
    }
  });
  es.addEventListener("error", () => {
    if (es.readyState !== EventSource.OPEN) {
      S.serverOk = false;
      updateBanner();
    }
  });
}

function init() {
  installHover(document.getElementById("tooltip"));
  document.getElementById("address-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = document.getElementById("address-go");
    const v = input.value.trim();
    if (!v) return;
    window.location.hash = `#/participant/${encodeURIComponent(v)}`;
    input.value = "";
    input.blur();
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderCurrent, 200);
  });
  window.addEventListener("hashchange", onRoute);
  loadStatus();
  connectEvents();
  onRoute();
}

init();
