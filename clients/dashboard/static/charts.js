// charts.js: hand-written SVG charts for the mgrid dashboard.
//
// Every builder returns SVG markup as a string (the caller inserts it with
// one innerHTML assignment per render). Series are drawn as one <path> each,
// so a week of 15-minute intervals (672 points) stays a handful of elements.
// Hover read-outs do not add elements per point either: a chart registers a
// small model under its id and one delegated mousemove listener maps the
// pointer position back to a data index (see installHover).

export const COLORS = {
  supply: "#2e9e5b",
  demand: "#e8833a",
  import: "#d64545",
  export: "#3a7fc8",
  price: "#6a4fc4",
  tariff: "#8a94a0",
  score: "#2f6fb3",
  bad: "#c53030",
  neutral: "#7b8794",
  teal: "#1f9e9a",
  slate: "#4a5968",
};

/** Escape text for HTML and SVG markup (element content and quoted attributes). */
export function esc(value) {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const models = new Map();
let chartSeq = 0;

/** Forget the hover models of the previous render (their SVGs are gone). */
export function resetCharts() {
  models.clear();
}

function newId(prefix) {
  chartSeq += 1;
  return `${prefix}${chartSeq}`;
}

const r1 = (v) => Math.round(v * 10) / 10;

/** Round [lo, hi] outwards to "nice" tick steps (1, 2, 5 x 10^k). */
export function niceTicks(lo, hi, count = 4) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi <= lo) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const start = Math.floor(lo / step + 1e-9) * step;
  const end = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = start; v <= end + step / 2; v += step) ticks.push(Math.abs(v) < step / 1e6 ? 0 : v);
  return { lo: start, hi: end, ticks };
}

/**
 * A chart over equally spaced slots (intervals, histogram bins, ...).
 *
 * o.n            number of slots
 * o.series       [{name, color, type: "line"|"bar"|"points", values, stack, dash, width, fmt}]
 *                bars with the same `stack` key stack (positive up, negative down)
 * o.hlines       [{y, label, cls}] horizontal reference lines (tariffs: cls "tariff")
 * o.xLabel(i)    tick label of slot i; o.tipTitle(i) tooltip heading; o.href(i) click target
 * o.yFmt(v)      axis label; series[k].fmt(v) tooltip value (defaults to yFmt)
 * o.width/height pixel size (the viewBox matches so text keeps its size)
 */
export function slotChart(o) {
  const W = Math.max(260, Math.round(o.width || 800));
  const H = o.height || 200;
  const m = { l: o.ml ?? 62, r: o.mr ?? 16, t: 12, b: 24 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const n = Math.max(0, o.n | 0);
  const bw = pw / Math.max(n, 1);
  const xc = (i) => m.l + bw * (i + 0.5);
  const id = newId("c");

  let lo = Infinity;
  let hi = -Infinity;
  let hasBars = false;
  const stacks = new Map();
  const barRects = [];
  for (const s of o.series) {
    if (s.type !== "bar") continue;
    hasBars = true;
    const key = s.stack ?? s.name;
    if (!stacks.has(key)) stacks.set(key, { pos: new Float64Array(n), neg: new Float64Array(n) });
    const st = stacks.get(key);
    const rects = [];
    for (let i = 0; i < n; i += 1) {
      const v = s.values[i];
      if (v == null || v === 0 || !Number.isFinite(v)) continue;
      const base = v > 0 ? st.pos[i] : st.neg[i];
      const top = base + v;
      if (v > 0) st.pos[i] = top;
      else st.neg[i] = top;
      rects.push([i, base, top]);
      lo = Math.min(lo, base, top);
      hi = Math.max(hi, base, top);
    }
    barRects.push([s, rects]);
  }
  for (const s of o.series) {
    if (s.type === "bar") continue;
    for (const v of s.values) {
      if (v == null || !Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  for (const h of o.hlines || []) {
    if (h.y == null) continue;
    lo = Math.min(lo, h.y);
    hi = Math.max(hi, h.y);
  }
  if (hasBars || o.zero) {
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
  }
  if (o.yMin != null) lo = Math.min(lo === Infinity ? o.yMin : lo, o.yMin);
  if (o.yMax != null) hi = Math.max(hi === -Infinity ? o.yMax : hi, o.yMax);
  if (lo === Infinity) {
    lo = 0;
    hi = 1;
  }
  const t = niceTicks(lo, hi, o.ticks || 4);
  const y = (v) => m.t + ph - ((v - t.lo) / (t.hi - t.lo)) * ph;
  const yFmt = o.yFmt || String;

  const out = [];
  out.push(
    `<svg class="chart ${esc(o.cls || "")}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
      `preserveAspectRatio="xMinYMin meet" role="img" aria-label="${esc(o.label || "chart")}">`,
  );
  for (const v of t.ticks) {
    const yy = r1(y(v));
    out.push(`<line class="gridline" x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}"/>`);
    out.push(`<text x="${m.l - 6}" y="${yy + 3.5}" text-anchor="end">${esc(yFmt(v))}</text>`);
  }
  // x tick labels: about one per 90 px
  if (n > 0 && o.xLabel) {
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / (o.xTickPx || 90)))));
    for (let i = 0; i < n; i += every) {
      out.push(
        `<text x="${r1(xc(i))}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel(i))}</text>`,
      );
    }
  }
  for (const [s, rects] of barRects) {
    const w = Math.max(0.8, bw * (n > 200 ? 0.92 : 0.78));
    const off = (bw - w) / 2;
    let d = "";
    for (const [i, base, top] of rects) {
      const x0 = r1(m.l + bw * i + off);
      const y0 = r1(y(base));
      const y1 = r1(y(top));
      d += `M${x0},${y0}V${y1}h${r1(w)}V${y0}Z`;
    }
    if (d) out.push(`<path d="${d}" fill="${esc(s.color)}" opacity="${s.opacity ?? 0.88}"/>`);
  }
  if (t.lo < 0 && t.hi > 0) {
    const y0 = r1(y(0));
    out.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${y0}" y2="${y0}"/>`);
  }
  for (const h of o.hlines || []) {
    if (h.y == null) continue;
    const yy = r1(y(h.y));
    out.push(`<line class="${esc(h.cls || "tariff")}" x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}"/>`);
    if (h.label) {
      out.push(
        `<text class="tariff-label" x="${W - m.r - 2}" y="${yy - 3}" text-anchor="end">${esc(h.label)}</text>`,
      );
    }
  }
  for (const s of o.series) {
    if (s.type === "bar") continue;
    let d = "";
    if (s.type === "points") {
      const rr = s.radius || 3;
      for (let i = 0; i < n; i += 1) {
        const v = s.values[i];
        if (v == null || !Number.isFinite(v)) continue;
        const cx = r1(xc(i));
        const cy = r1(y(v));
        d += `M${r1(cx - rr)},${cy}a${rr},${rr} 0 1,0 ${2 * rr},0a${rr},${rr} 0 1,0 ${-2 * rr},0`;
      }
      if (d) out.push(`<path d="${d}" fill="${esc(s.color)}" stroke="#fff" stroke-width="0.8"/>`);
      continue;
    }
    let pen = false;
    const lone = [];
    for (let i = 0; i < n; i += 1) {
      const v = s.values[i];
      if (v == null || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      const prevNull = i === 0 || s.values[i - 1] == null;
      const nextNull = i === n - 1 || s.values[i + 1] == null;
      if (prevNull && nextNull) lone.push(i);
      d += `${pen ? "L" : "M"}${r1(xc(i))},${r1(y(v))}`;
      pen = true;
    }
    const dash = s.dash ? ` stroke-dasharray="${esc(s.dash)}"` : "";
    if (d) {
      out.push(
        `<path d="${d}" fill="none" stroke="${esc(s.color)}" stroke-width="${s.width || 2}" ` +
          `stroke-linejoin="round"${dash}/>`,
      );
    }
    // isolated values (neighbours null) would be invisible as a line: draw a dot
    if (lone.length || (n <= 40 && s.dots !== false)) {
      const idx = n <= 40 && s.dots !== false ? [...Array(n).keys()] : lone;
      let dd = "";
      for (const i of idx) {
        const v = s.values[i];
        if (v == null || !Number.isFinite(v)) continue;
        dd += `M${r1(xc(i) - 2.5)},${r1(y(v))}a2.5,2.5 0 1,0 5,0a2.5,2.5 0 1,0 -5,0`;
      }
      if (dd) out.push(`<path d="${dd}" fill="${esc(s.color)}"/>`);
    }
  }
  out.push(`<line class="axis" x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}"/>`);
  if (n === 0) {
    out.push(
      `<text x="${m.l + pw / 2}" y="${m.t + ph / 2}" text-anchor="middle">${esc(o.emptyText || "no data yet")}</text>`,
    );
  }
  out.push(
    `<line class="hover-line" data-hover="${id}" x1="0" x2="0" y1="${m.t}" y2="${m.t + ph}" visibility="hidden"/>`,
  );
  out.push(
    `<rect data-chart="${id}" x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="transparent"` +
      `${o.href ? ' style="cursor:pointer"' : ""}/>`,
  );
  out.push("</svg>");
  models.set(id, {
    kind: "slot",
    W,
    n,
    x0: m.l,
    bw,
    series: o.series,
    yFmt,
    tipTitle: o.tipTitle,
    tipExtra: o.tipExtra,
    href: o.href,
  });
  return out.join("");
}

/** Price at cumulative quantity q on a step curve [[price, cumWh], ...]. */
function stepPrice(curve, q) {
  for (const [p, c] of curve) if (q <= c) return p;
  return null;
}

/**
 * Supply and demand step curves of one order book.
 *
 * o.demand, o.supply  [[price, cumulative Wh], ...] (demand price descending,
 *                     supply ascending), o.crossing {price, quantity_wh} | null,
 * o.hlines            [{y, label, cls}] (min/max price, tariffs),
 * o.xFmt(wh), o.yFmt(price), o.width, o.height, o.compact (fewer labels).
 */
export function curveChart(o) {
  const W = Math.max(260, Math.round(o.width || 600));
  const H = o.height || 260;
  const m = { l: o.compact ? 44 : 56, r: 22, t: 12, b: 22 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const id = newId("k");
  const demand = o.demand || [];
  const supply = o.supply || [];
  let maxQ = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const [p, c] of demand.concat(supply)) {
    maxQ = Math.max(maxQ, c);
    lo = Math.min(lo, p);
    hi = Math.max(hi, p);
  }
  if (o.crossing) maxQ = Math.max(maxQ, o.crossing.quantity_wh || 0);
  for (const h of o.hlines || []) {
    if (h.y == null) continue;
    lo = Math.min(lo, h.y);
    hi = Math.max(hi, h.y);
  }
  if (lo === Infinity) {
    lo = 0;
    hi = 1;
  }
  const pad = (hi - lo) * 0.06 || 1;
  const ty = niceTicks(Math.max(0, lo - pad), hi + pad, o.compact ? 3 : 5);
  const tx = niceTicks(0, maxQ > 0 ? maxQ * 1.06 : 1000, o.compact ? 3 : 6);
  const x = (q) => m.l + (q / tx.hi) * pw;
  const y = (p) => m.t + ph - ((p - ty.lo) / (ty.hi - ty.lo)) * ph;
  const xFmt = o.xFmt || String;
  const yFmt = o.yFmt || String;

  const out = [];
  out.push(
    `<svg class="chart curve" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
      `preserveAspectRatio="xMinYMin meet" role="img" aria-label="supply and demand curves">`,
  );
  for (const v of ty.ticks) {
    const yy = r1(y(v));
    out.push(`<line class="gridline" x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}"/>`);
    out.push(`<text x="${m.l - 6}" y="${yy + 3.5}" text-anchor="end">${esc(yFmt(v))}</text>`);
  }
  for (const v of tx.ticks) {
    const xx = r1(x(v));
    out.push(`<line class="gridline" x1="${xx}" x2="${xx}" y1="${m.t}" y2="${m.t + ph}"/>`);
    out.push(`<text x="${xx}" y="${H - 6}" text-anchor="middle">${esc(xFmt(v))}</text>`);
  }
  for (const h of o.hlines || []) {
    if (h.y == null) continue;
    const yy = r1(y(h.y));
    out.push(`<line class="${esc(h.cls || "tariff")}" x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}"/>`);
    if (h.label) {
      // tariffs labelled on the right, price limits on the left: they are often close
      const left = h.cls === "limit";
      out.push(
        `<text class="tariff-label" x="${left ? m.l + 4 : W - m.r - 2}" y="${yy - 3}" ` +
          `text-anchor="${left ? "start" : "end"}">${esc(h.label)}</text>`,
      );
    }
  }
  const stepPath = (curve) => {
    if (!curve.length) return "";
    let d = `M${r1(x(0))},${r1(y(curve[0][0]))}`;
    for (let i = 0; i < curve.length; i += 1) {
      const [p, c] = curve[i];
      if (i > 0) d += `V${r1(y(p))}`;
      d += `H${r1(x(c))}`;
    }
    return d;
  };
  const sd = stepPath(supply);
  const dd = stepPath(demand);
  if (sd) out.push(`<path d="${sd}" fill="none" stroke="${COLORS.supply}" stroke-width="2.4"/>`);
  if (dd) out.push(`<path d="${dd}" fill="none" stroke="${COLORS.demand}" stroke-width="2.4"/>`);
  if (!sd && !dd) {
    out.push(
      `<text x="${m.l + pw / 2}" y="${m.t + ph / 2}" text-anchor="middle">no orders in this book</text>`,
    );
  }
  if (o.crossing && o.crossing.price != null) {
    const cx = r1(x(o.crossing.quantity_wh || 0));
    const cy = r1(y(o.crossing.price));
    out.push(`<path class="cross-guide" d="M${m.l},${cy}H${cx}V${m.t + ph}"/>`);
    out.push(`<circle cx="${cx}" cy="${cy}" r="5" fill="${COLORS.price}" stroke="#fff" stroke-width="1.5"/>`);
    const right = cx < m.l + pw * 0.62;
    out.push(
      `<text class="cross-label" x="${right ? cx + 8 : cx - 8}" y="${cy - 8}" ` +
        `text-anchor="${right ? "start" : "end"}">${esc(o.crossLabel || yFmt(o.crossing.price))}</text>`,
    );
  }
  out.push(`<line class="axis" x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}"/>`);
  out.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${m.t + ph}" y2="${m.t + ph}"/>`);
  out.push(
    `<line class="hover-line" data-hover="${id}" x1="0" x2="0" y1="${m.t}" y2="${m.t + ph}" visibility="hidden"/>`,
  );
  out.push(`<rect data-chart="${id}" x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="transparent"/>`);
  out.push("</svg>");
  models.set(id, {
    kind: "curve",
    W,
    x0: m.l,
    pw,
    qmax: tx.hi,
    demand,
    supply,
    xFmt,
    tipFmt: o.tipFmt || yFmt,
  });
  return out.join("");
}

/**
 * Single-line diagram of a radial network, laid out as a tree by depth
 * (root = point of common coupling at the top, main grid above it).
 * Returns {svg, width, height, rootX}; the SVG has its natural pixel width so
 * a wide network scrolls inside its container (or is scaled to fit on request).
 *
 * o.buses [{id, parent, capacity_wh, loss_ppm, participants}],
 * o.curtailed {line: Wh}, o.last {line: Wh}, o.kwh(wh) formatter, o.pct(ppm) formatter.
 */
export function networkChart(o) {
  const SLOT = 96; // width of a leaf drawn side by side
  const GROUP = 168; // width of a column of stacked leaves
  const LEVEL = 112;
  const ROW = 46;
  const NW = 78;
  const NH = 34;
  const byId = new Map();
  for (const b of o.buses) byId.set(b.id, b);
  const kids = new Map();
  const roots = [];
  const natural = (a, b) => String(a.id).localeCompare(String(b.id), "en", { numeric: true });
  for (const b of o.buses) {
    if (!b.parent || !byId.has(b.parent) || b.parent === b.id) roots.push(b);
    else {
      if (!kids.has(b.parent)) kids.set(b.parent, []);
      kids.get(b.parent).push(b);
    }
  }
  for (const list of kids.values()) list.sort(natural);
  roots.sort(natural);
  const top = 78;
  const py = (d) => top + d * LEVEL;
  const pos = new Map();
  const seen = new Set();
  let cursor = 0;
  let bottom = top + NH;
  // Leaves take consecutive columns and a parent sits centred over its
  // children, except that three or more leaf children of one bus are stacked
  // in a column under it (a feeder with many houses would otherwise make the
  // drawing many screens wide).
  const place = (b, depth) => {
    seen.add(b.id);
    const ch = (kids.get(b.id) || []).filter((c) => !seen.has(c.id));
    const leaves = ch.every((c) => !(kids.get(c.id) || []).length);
    let x;
    if (!ch.length) {
      x = cursor + SLOT / 2;
      cursor += SLOT;
    } else if (depth > 0 && ch.length >= 3 && leaves) {
      x = cursor + NW / 2 + 8;
      cursor += GROUP;
      ch.forEach((c, k) => {
        seen.add(c.id);
        const cy = py(depth) + NH / 2 + 14 + NH / 2 + k * ROW;
        pos.set(c.id, { x: x + 22, y: cy, depth: depth + 1, stacked: true });
        bottom = Math.max(bottom, cy + NH / 2);
      });
    } else {
      const placed = ch.map((c) => place(c, depth + 1));
      x = (placed[0] + placed[placed.length - 1]) / 2;
    }
    pos.set(b.id, { x, y: py(depth), depth });
    bottom = Math.max(bottom, py(depth) + NH / 2);
    return x;
  };
  for (const r of roots) place(r, 0);
  const ml = 30;
  const width = Math.max(o.minWidth || 600, Math.ceil(cursor) + ml * 2);
  const offset = (width - cursor) / 2;
  const height = bottom + 30;
  const px = (x) => r1(offset + x);

  const lines = [];
  const hot = [];
  const labels = [];
  const spines = new Map();
  for (const b of o.buses) {
    const p = pos.get(b.id);
    const parent = b.parent && pos.get(b.parent);
    if (!p || !parent) continue;
    const cw = (o.curtailed || {})[b.id] || 0;
    const lw = (o.last || {})[b.id] || 0;
    const tip =
      `line ${b.id} -> ${b.parent}\ncapacity ${o.kwh(b.capacity_wh)} per interval\n` +
      `loss ${o.pct(b.loss_ppm)}\ncurtailed over window ${o.kwh(cw)}\ncurtailed last interval ${o.kwh(lw)}`;
    const stroke = `stroke="${cw > 0 ? COLORS.bad : "#7d8894"}" stroke-width="${cw > 0 ? 5 : 1.6}"`;
    let lx;
    let ly;
    let el;
    if (p.stacked) {
      // shared spine down the left of the column, one stub per leaf
      const sx = px(parent.x - NW / 2 + 8);
      const sy = parent.y + NH / 2;
      spines.set(b.parent, [sx, sy, Math.max((spines.get(b.parent) || [0, 0, 0])[2], p.y)]);
      el = `<path d="M${sx},${r1(p.y)}H${px(p.x - NW / 2)}" ${stroke} fill="none" stroke-linecap="round" data-tip="${esc(tip)}"/>`;
      lx = px(p.x + NW / 2) + 5;
      ly = r1(p.y - 3);
    } else {
      const x1 = px(parent.x);
      const y1 = parent.y + NH / 2;
      const x2 = px(p.x);
      const y2 = p.y - NH / 2;
      el = `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" ${stroke} stroke-linecap="round" data-tip="${esc(tip)}"/>`;
      // label near the child end so a wide fan-out stays readable
      lx = r1(x1 + (x2 - x1) * 0.68) + 5;
      ly = r1(y1 + (y2 - y1) * 0.68 - 4);
    }
    (cw > 0 ? hot : lines).push(el);
    labels.push(
      `<g data-tip="${esc(tip)}"><text x="${lx}" y="${ly}">${esc(o.kwh(b.capacity_wh))}</text>` +
        `<text x="${lx}" y="${ly + 12}" class="muted-t">${esc(o.pct(b.loss_ppm))} loss</text>` +
        (cw > 0 ? `<text class="curt" x="${lx}" y="${ly + 24}">&#9888; ${esc(o.kwh(cw))} curtailed</text>` : "") +
        "</g>",
    );
  }
  for (const [sx, sy, ey] of spines.values()) {
    lines.unshift(`<path d="M${sx},${sy}V${r1(ey)}" stroke="#7d8894" stroke-width="1.6" fill="none"/>`);
  }
  const nodes = [];
  for (const b of o.buses) {
    const p = pos.get(b.id);
    if (!p) continue;
    const cx = px(p.x);
    const cy = r1(p.y);
    const isRoot = p.depth === 0;
    const name = String(b.id).length > 11 ? `${String(b.id).slice(0, 10)}\u2026` : String(b.id);
    const tip =
      `bus ${b.id}${isRoot ? " (point of common coupling)" : ""}\nparent ${b.parent || "main grid"}\n` +
      `participants ${b.participants ?? 0}\ncapacity ${o.kwh(b.capacity_wh)} per interval`;
    nodes.push(
      `<g data-tip="${esc(tip)}" data-bus="${esc(b.id)}"><rect x="${cx - NW / 2}" y="${cy - NH / 2}" width="${NW}" height="${NH}" rx="6" ` +
        `fill="${isRoot ? "#16324f" : "#fff"}" stroke="${isRoot ? "#16324f" : "#8fa1b3"}" stroke-width="1.3"/>` +
        `<text x="${cx}" y="${cy - 2}" text-anchor="middle" style="font-weight:600;fill:${isRoot ? "#fff" : "#1c2733"}">` +
        `${esc(isRoot ? `PCC ${name}` : name)}</text>` +
        `<text x="${cx}" y="${cy + 11}" text-anchor="middle" style="fill:${isRoot ? "#cfe0f1" : "#66717d"}">` +
        `${esc(b.participants ?? 0)} participant${b.participants === 1 ? "" : "s"}</text></g>`,
    );
  }
  const grid = [];
  let rootX = width / 2;
  for (const r of roots) {
    const cx = px(pos.get(r.id).x);
    rootX = cx;
    grid.push(
      `<line x1="${cx}" y1="28" x2="${cx}" y2="${top - NH / 2}" stroke="#16324f" stroke-width="3"/>` +
        `<rect x="${cx - 50}" y="4" width="100" height="26" rx="13" fill="#e9eef4" stroke="#16324f"/>` +
        `<text x="${cx}" y="21" text-anchor="middle" style="font-weight:600;fill:#16324f">&#9889; main grid</text>` +
        `<text x="${cx + 8}" y="${top - NH / 2 - 10}">${esc(o.kwh(r.capacity_wh))} at the PCC</text>`,
    );
  }
  const svg =
    `<svg class="chart network" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `style="width:${width}px;height:${height}px;max-width:none" role="img" aria-label="network diagram">` +
    `<style>.muted-t{fill:#8a94a0}</style>` +
    grid.join("") +
    lines.join("") +
    hot.join("") +
    labels.join("") +
    nodes.join("") +
    "</svg>";
  return { svg, width, height, rootX };
}

/**
 * Who traded with whom: sellers on the left, buyers on the right, one ribbon
 * per pair with its width proportional to energy. At most `top` parties per
 * side are shown; the rest merge into "others".
 */
export function flowChart(o) {
  const W = Math.max(420, Math.round(o.width || 700));
  const top = o.top || 16;
  const agg = (key) => {
    const m = new Map();
    for (const t of o.trades) m.set(t[key], (m.get(t[key]) || 0) + t.quantity_wh);
    const sorted = [...m.entries()].sort((a, b) => b[1] - a[1]);
    const keep = new Set(sorted.slice(0, top).map((e) => e[0]));
    return { keep, sorted, others: sorted.length - keep.size };
  };
  const S = agg("seller");
  const B = agg("buyer");
  const OTHER = "\u0000others";
  const sKey = (a) => (S.keep.has(a) ? a : OTHER);
  const bKey = (a) => (B.keep.has(a) ? a : OTHER);
  const pairs = new Map();
  let total = 0;
  for (const t of o.trades) {
    const k = `${sKey(t.seller)}|${bKey(t.buyer)}`;
    pairs.set(k, (pairs.get(k) || 0) + t.quantity_wh);
    total += t.quantity_wh;
  }
  const side = (a) => {
    const list = a.sorted.filter((e) => a.keep.has(e[0])).map((e) => [e[0], e[1]]);
    if (a.others > 0) {
      const rest = a.sorted.filter((e) => !a.keep.has(e[0])).reduce((s, e) => s + e[1], 0);
      list.push([OTHER, rest, a.others]);
    }
    return list;
  };
  const left = side(S);
  const right = side(B);
  const rows = Math.max(left.length, right.length, 1);
  const H = Math.max(140, rows * 26 + 30);
  const gap = 6;
  const avail = (n) => H - 30 - gap * (n - 1);
  const scaleFor = (n) => (total > 0 ? avail(n) / total : 0);
  const k = Math.min(scaleFor(left.length), scaleFor(right.length));
  const layout = (list) => {
    const m = new Map();
    let yy = 20;
    for (const [a, q] of list) {
      const h = Math.max(2, q * k);
      m.set(a, { y: yy, h, used: 0, q });
      yy += h + gap;
    }
    return m;
  };
  const L = layout(left);
  const R = layout(right);
  const xL = 190;
  const xR = W - 190;
  const NWD = 10;
  const ribbons = [];
  const sortedPairs = [...pairs.entries()].sort((a, b) => b[1] - a[1]);
  for (const [key, q] of sortedPairs) {
    const [s, b] = key.split("|");
    const ls = L.get(s);
    const rb = R.get(b);
    if (!ls || !rb) continue;
    const h = Math.max(1, q * k);
    const y0 = ls.y + ls.used;
    const y1 = rb.y + rb.used;
    ls.used += h;
    rb.used += h;
    const xa = xL + NWD;
    const xb = xR;
    const mx = (xa + xb) / 2;
    const d =
      `M${xa},${r1(y0)}C${mx},${r1(y0)} ${mx},${r1(y1)} ${xb},${r1(y1)}` +
      `V${r1(y1 + h)}C${mx},${r1(y1 + h)} ${mx},${r1(y0 + h)} ${xa},${r1(y0 + h)}Z`;
    const name = (a) => (a === OTHER ? "others" : a);
    ribbons.push(
      `<path d="${d}" fill="${COLORS.price}" fill-opacity="0.22" stroke="${COLORS.price}" stroke-opacity="0.35" ` +
        `stroke-width="0.6" data-tip="${esc(`${name(s)} \u2192 ${name(b)}\n${o.kwh(q)}`)}"/>`,
    );
  }
  const nodes = [];
  const label = (a, n, q, x, anchor) => {
    const txt = a === OTHER ? `${n} others` : o.short(a);
    const body = `${esc(txt)} \u00b7 ${esc(o.kwh(q))}`;
    if (a === OTHER) return `<text x="${x}" text-anchor="${anchor}" class="muted-t">${body}</text>`;
    return `<a href="#/participant/${encodeURIComponent(a)}"><title>${esc(a)}</title><text x="${x}" text-anchor="${anchor}">${body}</text></a>`;
  };
  for (const [a, q, n] of left) {
    const p = L.get(a);
    nodes.push(`<rect x="${xL}" y="${r1(p.y)}" width="${NWD}" height="${r1(p.h)}" fill="${COLORS.supply}"/>`);
    nodes.push(`<g transform="translate(0,${r1(p.y + p.h / 2 + 4)})">${label(a, n, q, xL - 6, "end")}</g>`);
  }
  for (const [a, q, n] of right) {
    const p = R.get(a);
    nodes.push(`<rect x="${xR}" y="${r1(p.y)}" width="${NWD}" height="${r1(p.h)}" fill="${COLORS.demand}"/>`);
    nodes.push(
      `<g transform="translate(0,${r1(p.y + p.h / 2 + 4)})">${label(a, n, q, xR + NWD + 6, "start")}</g>`,
    );
  }
  return (
    `<svg class="chart flow" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="trade flows">` +
    `<style>.muted-t{fill:#8a94a0}</style>` +
    `<text x="${xL + NWD}" y="12" text-anchor="end" class="title">sellers</text>` +
    `<text x="${xR}" y="12" class="title">buyers</text>` +
    ribbons.join("") +
    nodes.join("") +
    "</svg>"
  );
}

function placeTip(tip, ev) {
  const pad = 14;
  const w = tip.offsetWidth;
  const h = tip.offsetHeight;
  let x = ev.clientX + pad;
  let y = ev.clientY + pad;
  if (x + w > window.innerWidth - 4) x = ev.clientX - w - pad;
  if (y + h > window.innerHeight - 4) y = ev.clientY - h - pad;
  tip.style.left = `${Math.max(4, x)}px`;
  tip.style.top = `${Math.max(4, y)}px`;
}

function slotIndex(model, rect, ev) {
  const scale = rect.width / model.W;
  const xv = (ev.clientX - rect.left) / scale;
  const i = Math.floor((xv - model.x0) / model.bw);
  return Math.max(0, Math.min(model.n - 1, i));
}

/**
 * One delegated listener for every chart: slot charts show the values of the
 * slot under the pointer, curve charts the bid and ask price at that energy,
 * anything with a data-tip attribute shows that text.
 */
export function installHover(tip) {
  let lastLine = null;
  const hideLine = () => {
    if (lastLine) lastLine.setAttribute("visibility", "hidden");
    lastLine = null;
  };
  document.addEventListener("mousemove", (ev) => {
    const target = ev.target;
    if (!(target instanceof Element)) return;
    const cid = target.getAttribute("data-chart");
    const model = cid && models.get(cid);
    if (model) {
      const svg = target.ownerSVGElement;
      const rect = svg.getBoundingClientRect();
      const line = svg.querySelector(`[data-hover="${cid}"]`);
      let html = "";
      let lx = 0;
      if (model.kind === "slot") {
        if (model.n === 0) return;
        const i = slotIndex(model, rect, ev);
        lx = model.x0 + model.bw * (i + 0.5);
        html = `<b>${esc(model.tipTitle ? model.tipTitle(i) : i)}</b>`;
        for (const s of model.series) {
          if (s.tip === false) continue;
          const v = s.values[i];
          const f = s.fmt || model.yFmt;
          html +=
            `<br><span class="sw" style="background:${esc(s.color)}"></span>` +
            `${esc(s.name)}: ${esc(v == null ? "\u2013" : f(v))}`;
        }
        if (model.tipExtra) html += model.tipExtra(i);
      } else {
        const scale = rect.width / model.W;
        const xv = (ev.clientX - rect.left) / scale;
        const q = Math.max(0, ((xv - model.x0) / model.pw) * model.qmax);
        lx = xv;
        const bid = stepPrice(model.demand, q);
        const ask = stepPrice(model.supply, q);
        html =
          `<b>${esc(model.xFmt(q))}</b>` +
          `<br><span class="sw" style="background:${COLORS.demand}"></span>demand bid: ` +
          `${esc(bid == null ? "\u2013" : model.tipFmt(bid))}` +
          `<br><span class="sw" style="background:${COLORS.supply}"></span>supply ask: ` +
          `${esc(ask == null ? "\u2013" : model.tipFmt(ask))}`;
      }
      if (line) {
        if (lastLine && lastLine !== line) hideLine();
        line.setAttribute("x1", String(lx));
        line.setAttribute("x2", String(lx));
        line.setAttribute("visibility", "visible");
        lastLine = line;
      }
      tip.innerHTML = html;
      tip.style.whiteSpace = "normal";
      tip.hidden = false;
      placeTip(tip, ev);
      return;
    }
    hideLine();
    const el = target.closest("[data-tip]");
    if (el) {
      tip.textContent = el.getAttribute("data-tip");
      tip.style.whiteSpace = "pre-line";
      tip.hidden = false;
      placeTip(tip, ev);
      return;
    }
    tip.hidden = true;
  });
  document.addEventListener("click", (ev) => {
    const target = ev.target;
    if (!(target instanceof Element)) return;
    const cid = target.getAttribute("data-chart");
    const model = cid && models.get(cid);
    if (!model || model.kind !== "slot" || !model.href || model.n === 0) return;
    const i = slotIndex(model, target.ownerSVGElement.getBoundingClientRect(), ev);
    const href = model.href(i);
    if (href) window.location.hash = href;
  });
  document.addEventListener("mouseleave", () => {
    tip.hidden = true;
    hideLine();
  });
}

/** Hide the tooltip (after a re-render removed what it pointed at). */
export function hideTip(tip) {
  tip.hidden = true;
}
