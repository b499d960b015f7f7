// flame.js — an icicle flame graph on a <canvas>: the root at the top, each
// frame's callees below it, widths proportional to their totals.
//
// Input is the tree JSON of /api/ui/tree or /api/ui/diff (lib/pprof
// export.h): nodes [NAME, PARENT, SELF, TOTAL(, BASESELF, BASETOTAL)] in
// depth-first order, parents before children. buildModel turns them into
// typed arrays once: depth, horizontal offset (siblings side by side in the
// order given), the end of each subtree (so a too-narrow frame skips its
// whole subtree) and its deepest level. A diff's widths add the node's share
// of each profile, so frames that shrank to nothing still show, and its
// colours go from green (a smaller share of the total than before) through
// grey to red (a larger one), by relative change.
//
// Drawing happens in two steps: layout (which frames are visible where, on
// data, zoom, search or size changes; it also refreshes the hit map, a
// hidden list of the drawn frames with their numbers that tests and
// assistive tools read) and paint (fills and labels from that list; cheap
// enough to run on every hover). The canvas is sized in device pixels for
// sharp text on high-DPI screens and follows its container's width.

const ROW = 20; // CSS pixels per level
const MIN_W = 0.4; // frames narrower than this are not drawn (nor their callees)
const LABEL_MIN = 26; // narrowest frame that gets a label
const HITMAP_MAX = 5000;

// Muted, distinct hues for packages (warm first: a flame graph should look like one).
const HUES = [18, 32, 44, 8, 200, 212, 262, 286, 328, 170, 94, 56, 348, 232];

function fnv(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// The package of a Go function name: "github.com/a/b.(*T).M" → "github.com/a/b".
export function packageOf(name) {
  if (!name || name[0] === '[' || name[0] === '<') return name || '';
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot > 0 ? name.slice(0, dot) : name;
}

// The name without its import path: "github.com/a/b.(*T).M" → "b.(*T).M".
function shortName(name) {
  const paren = name.indexOf('(');
  const slash = name.lastIndexOf('/', paren > 0 ? paren : name.length);
  return slash >= 0 ? name.slice(slash + 1) : name;
}

function hsl(h, s, l) {
  s /= 100;
  l /= 100;
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
}

function parseHex(s) {
  const m = /^#([0-9a-f]{6})$/i.exec((s || '').trim());
  if (!m) return [128, 128, 128];
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function mix(a, b, t) {
  return [
    Math.round(a[0] + (b[0] - a[0]) * t),
    Math.round(a[1] + (b[1] - a[1]) * t),
    Math.round(a[2] + (b[2] - a[2]) * t),
  ];
}

const css = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

// The tree JSON as typed arrays (see the file comment).
export function buildModel(json) {
  const nodes = json.nodes || [];
  const n = nodes.length;
  const diff = !!json.base;
  const T = Math.abs(json.total || 0);
  const B = diff ? Math.abs(json.base.total || 0) : 0;
  const m = {
    json,
    diff,
    n,
    names: json.names || [],
    unit: json.unit || '',
    total: json.total || 0,
    baseTotal: diff ? json.base.total || 0 : 0,
    name: new Int32Array(n),
    parent: new Int32Array(n),
    self: new Float64Array(n),
    tot: new Float64Array(n),
    bself: diff ? new Float64Array(n) : null,
    btot: diff ? new Float64Array(n) : null,
    weight: new Float64Array(n),
    x: new Float64Array(n),
    depth: new Int32Array(n),
    end: new Int32Array(n),
    maxDepth: new Int32Array(n),
  };
  const cursor = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = nodes[i];
    const p = r[1];
    m.name[i] = r[0];
    m.parent[i] = p;
    m.self[i] = r[2];
    m.tot[i] = r[3];
    if (diff) {
      m.bself[i] = r[4];
      m.btot[i] = r[5];
      m.weight[i] = (T ? Math.abs(r[3]) / T : 0) + (B ? Math.abs(r[5]) / B : 0);
    } else {
      m.weight[i] = Math.abs(r[3]);
    }
    if (p < 0) {
      m.depth[i] = 0;
      m.x[i] = 0;
    } else {
      m.depth[i] = m.depth[p] + 1;
      m.x[i] = cursor[p];
      cursor[p] += m.weight[i];
    }
    cursor[i] = m.x[i];
    m.maxDepth[i] = m.depth[i];
  }
  // Subtree ends: a node's subtree ends at the next node no deeper than it.
  const stack = [];
  for (let i = 0; i < n; i++) {
    while (stack.length && m.depth[stack[stack.length - 1]] >= m.depth[i]) m.end[stack.pop()] = i;
    stack.push(i);
  }
  while (stack.length) m.end[stack.pop()] = n;
  for (let i = n - 1; i > 0; i--) {
    const p = m.parent[i];
    if (m.maxDepth[i] > m.maxDepth[p]) m.maxDepth[p] = m.maxDepth[i];
  }
  return m;
}

// The name shown for node i ("other" nodes gather the small callees of their parent).
export function nodeName(m, i) {
  const k = m.name[i];
  return k >= 0 ? m.names[k] : 'other';
}

export class FlameGraph {
  // canvas: the <canvas>; tooltip: an absolutely placed box in the same
  // container; hitmap: a hidden element for the drawn frames' data.
  // on.zoom(path) is told the indexes from the root to the zoomed frame.
  constructor(canvas, tooltip, hitmap, on = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.tooltip = tooltip;
    this.hitmap = hitmap;
    this.on = on;
    this.m = null;
    this.zoomed = 0;
    this.match = null; // Uint8Array per name index, or null
    this.hover = -1;
    this.rects = [];
    this.rows = [];
    this.width = 0;
    this.theme = null;
    this.nameColor = new Map();
    this.pending = 0;
    this.firstPaint = false;
    canvas.addEventListener('mousemove', (e) => this.onMove(e));
    canvas.addEventListener('mouseleave', () => this.setHover(-1, null));
    canvas.addEventListener('click', (e) => this.onClick(e));
    const wrap = canvas.parentElement;
    new ResizeObserver(() => {
      if (wrap.clientWidth !== this.width) this.schedule(true);
    }).observe(wrap);
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      this.theme = null;
      this.nameColor.clear();
      this.schedule(true);
    });
  }

  setData(model) {
    this.m = model;
    this.zoomed = 0;
    this.hover = -1;
    this.nameColor.clear();
    this.hideTooltip();
    this.layout();
    this.emitZoom();
  }

  // Zooms to node i (0: the whole graph).
  zoom(i) {
    if (!this.m || i < 0 || i >= this.m.n) return;
    this.zoomed = i;
    this.hover = -1;
    this.hideTooltip();
    this.layout();
    this.emitZoom();
  }

  // The indexes from the root to node i.
  pathTo(i) {
    const path = [];
    for (let k = i; k >= 0; k = this.m.parent[k]) path.push(k);
    return path.reverse();
  }

  emitZoom() {
    if (this.on.zoom && this.m) this.on.zoom(this.pathTo(this.zoomed));
  }

  // Highlights the frames whose name satisfies test (null: none) and
  // returns what matched: frames, functions, and the value (and share) of
  // the samples under a matching frame, each counted once however many of
  // their frames match (nested matches are not added again).
  setMatcher(test) {
    const m = this.m;
    const res = { frames: 0, functions: 0, value: 0, share: 0, baseValue: 0, baseShare: 0 };
    if (!m || !test) {
      this.match = null;
      this.schedule(true);
      return res;
    }
    const match = new Uint8Array(m.names.length);
    for (let k = 0; k < m.names.length; k++) if (test(m.names[k])) match[k] = 1;
    this.match = match;
    const covered = new Uint8Array(m.n);
    const seen = new Uint8Array(m.names.length);
    for (let i = 0; i < m.n; i++) {
      const p = m.parent[i];
      if (p >= 0) covered[i] = covered[p] || (m.name[p] >= 0 && match[m.name[p]]);
      const k = m.name[i];
      if (k < 0 || !match[k]) continue;
      res.frames++;
      if (!seen[k]) {
        seen[k] = 1;
        res.functions++;
      }
      if (!covered[i]) {
        res.value += m.tot[i];
        if (m.diff) res.baseValue += m.btot[i];
      }
    }
    res.share = m.total ? res.value / m.total : 0;
    res.baseShare = m.baseTotal ? res.baseValue / m.baseTotal : 0;
    this.schedule(true);
    return res;
  }

  schedule(relayout) {
    this.needLayout = this.needLayout || relayout;
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      if (this.needLayout) this.layout();
      else this.paint();
      this.needLayout = false;
    });
  }

  readTheme() {
    const s = getComputedStyle(document.documentElement);
    const v = (k) => s.getPropertyValue(k).trim();
    this.theme = {
      text: v('--frame-text'),
      light: parseFloat(v('--frame-light')) || 70,
      sat: parseFloat(v('--frame-sat')) || 60,
      neutral: parseHex(v('--frame-neutral')),
      other: parseHex(v('--frame-other')),
      fade: parseFloat(v('--frame-fade')) || 0.7,
      bg: parseHex(v('--bg')),
      match: v('--match'),
      grew: parseHex(v('--grew')),
      shrank: parseHex(v('--shrank')),
      fg: v('--fg'),
      font: `12px ${v('--sans') || 'sans-serif'}`,
    };
  }

  // The colour of node i as [r, g, b], before any search fading.
  color(i) {
    const m = this.m;
    const th = this.theme;
    const k = m.name[i];
    if (k < 0) return th.other;
    if (m.diff) {
      const cs = m.total ? Math.abs(m.tot[i]) / Math.abs(m.total) : 0;
      const bs = m.baseTotal ? Math.abs(m.btot[i]) / Math.abs(m.baseTotal) : 0;
      const hi = Math.max(cs, bs);
      const r = hi > 0 ? (cs - bs) / hi : 0;
      return mix(th.neutral, r > 0 ? th.grew : th.shrank, Math.min(1, Math.abs(r)));
    }
    if (i === 0) return th.neutral;
    let c = this.nameColor.get(k);
    if (!c) {
      const name = m.names[k];
      const h = fnv(packageOf(name));
      const hue = HUES[h % HUES.length];
      // a little lightness variation per function keeps neighbours apart
      const l = th.light + ((fnv(name) % 7) - 3);
      c = hsl(hue, th.sat, l);
      this.nameColor.set(k, c);
    }
    return c;
  }

  layout() {
    const m = this.m;
    if (!this.theme) this.readTheme();
    const wrap = this.canvas.parentElement;
    const W = Math.max(100, wrap.clientWidth);
    this.width = wrap.clientWidth;
    const rects = [];
    const rows = [];
    let height = ROW;
    if (m && m.n && m.weight[this.zoomed] > 0) {
      const z = this.zoomed;
      for (const a of this.pathTo(z)) if (a !== z) rects.push({ i: a, x: 0, w: W, d: m.depth[a] });
      const scale = W / m.weight[z];
      const x0 = m.x[z];
      for (let i = z; i < m.end[z]; ) {
        const w = m.weight[i] * scale;
        if (w < MIN_W) {
          i = m.end[i];
          continue;
        }
        rects.push({ i, x: (m.x[i] - x0) * scale, w, d: m.depth[i] });
        i++;
      }
      height = (m.maxDepth[z] + 1) * ROW;
    }
    for (const r of rects) (rows[r.d] || (rows[r.d] = [])).push(r);
    this.rects = rects;
    this.rows = rows;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(W * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${W}px`;
    this.canvas.style.height = `${height}px`;
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.cssW = W;
    this.cssH = height;
    this.updateHitmap();
    this.paint();
  }

  // The colour node i is painted with: faded when a search is on and it does
  // not match, half faded when it is a caller of the zoomed frame.
  fill(i) {
    const c = this.color(i);
    const m = this.m;
    if (this.match && !(m.name[i] >= 0 && this.match[m.name[i]])) return mix(c, this.theme.bg, this.theme.fade);
    if (m.depth[i] < m.depth[this.zoomed]) return mix(c, this.theme.bg, 0.45);
    return c;
  }

  paint() {
    const ctx = this.ctx;
    const th = this.theme;
    const m = this.m;
    ctx.clearRect(0, 0, this.cssW, this.cssH);
    if (!m) return;
    ctx.font = th.font;
    ctx.textBaseline = 'middle';
    const labels = [];
    for (const r of this.rects) {
      const y = r.d * ROW;
      const w = r.w > 2 ? r.w - 1 : r.w;
      ctx.fillStyle = css(this.fill(r.i));
      ctx.fillRect(r.x, y, w, ROW - 1);
      if (this.match && m.name[r.i] >= 0 && this.match[m.name[r.i]] && r.w > 4) {
        ctx.strokeStyle = th.match;
        ctx.lineWidth = 2;
        ctx.strokeRect(r.x + 1, y + 1, w - 2, ROW - 3);
      }
      if (r.w >= LABEL_MIN) labels.push(r);
    }
    ctx.fillStyle = th.text;
    for (const r of labels) {
      const text = this.fit(nodeName(m, r.i), r.w - 10);
      if (text) ctx.fillText(text, r.x + 5, r.d * ROW + ROW / 2);
    }
    if (this.hover >= 0) {
      const r = this.rects.find((q) => q.i === this.hover);
      if (r) {
        ctx.strokeStyle = th.fg;
        ctx.lineWidth = 1.5;
        ctx.strokeRect(r.x + 0.75, r.d * ROW + 0.75, Math.max(r.w - 2.5, 1), ROW - 2.5);
      }
    }
    if (!this.firstPaint && this.rects.length) {
      this.firstPaint = true;
      const t = performance.now();
      performance.mark('pgopipe:first-flame-paint');
      document.documentElement.dataset.firstPaintMs = t.toFixed(1);
    }
  }

  // The longest form of name that fits in avail pixels: the name, the name
  // without its import path, or that cut short with an ellipsis.
  fit(name, avail) {
    const ctx = this.ctx;
    if (ctx.measureText(name).width <= avail) return name;
    const s = shortName(name);
    if (ctx.measureText(s).width <= avail) return s;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(`${s.slice(0, mid)}…`).width <= avail) lo = mid;
      else hi = mid - 1;
    }
    return lo > 1 ? `${s.slice(0, lo)}…` : '';
  }

  updateHitmap() {
    const hm = this.hitmap;
    if (!hm) return;
    const m = this.m;
    const frag = document.createDocumentFragment();
    const lim = Math.min(this.rects.length, HITMAP_MAX);
    for (let k = 0; k < lim; k++) {
      const r = this.rects[k];
      const s = document.createElement('span');
      const d = s.dataset;
      d.node = r.i;
      d.name = nodeName(m, r.i);
      d.depth = r.d;
      d.x = r.x.toFixed(2);
      d.y = r.d * ROW;
      d.w = r.w.toFixed(2);
      d.h = ROW - 1;
      d.total = m.tot[r.i];
      d.self = m.self[r.i];
      if (m.diff) {
        d.baseTotal = m.btot[r.i];
        d.baseSelf = m.bself[r.i];
      }
      d.color = css(this.color(r.i));
      frag.appendChild(s);
    }
    hm.replaceChildren(frag);
    hm.dataset.frames = this.rects.length;
    hm.dataset.zoom = this.zoomed;
    hm.dataset.width = this.cssW;
    hm.dataset.row = ROW;
  }

  // The node drawn at (x, y) in CSS pixels of the canvas, or -1.
  frameAt(x, y) {
    const row = this.rows[Math.floor(y / ROW)];
    if (!row) return -1;
    let lo = 0;
    let hi = row.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (row[mid].x <= x) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best >= 0 && x < row[best].x + row[best].w ? row[best].i : -1;
  }

  point(e) {
    const b = this.canvas.getBoundingClientRect();
    return [e.clientX - b.left, e.clientY - b.top];
  }

  onMove(e) {
    const [x, y] = this.point(e);
    this.setHover(this.frameAt(x, y), [x, y]);
  }

  onClick(e) {
    const [x, y] = this.point(e);
    const i = this.frameAt(x, y);
    if (i >= 0 && i !== this.zoomed) this.zoom(i);
  }

  setHover(i, at) {
    if (i !== this.hover) {
      this.hover = i;
      this.canvas.style.cursor = i >= 0 ? 'pointer' : 'default';
      this.schedule(false);
    }
    if (i < 0) this.hideTooltip();
    else this.showTooltip(i, at);
  }

  hideTooltip() {
    this.tooltip.hidden = true;
  }

  showTooltip(i, at) {
    const tip = this.tooltip;
    if (tip.dataset.node !== String(i)) {
      tip.dataset.node = i;
      tip.replaceChildren(...this.describe(i));
    }
    tip.hidden = false;
    const wrap = this.canvas.parentElement;
    const pad = 14;
    let left = at[0] + pad;
    let top = at[1] + pad;
    if (left + tip.offsetWidth > wrap.clientWidth) left = Math.max(0, at[0] - tip.offsetWidth - pad);
    if (top + tip.offsetHeight > this.cssH && at[1] - tip.offsetHeight - pad > 0) top = at[1] - tip.offsetHeight - pad;
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  }

  // The tooltip's content for node i, as DOM nodes (names are text, never HTML).
  describe(i) {
    const m = this.m;
    const fmt = this.on.format || ((v) => String(v));
    const pct = (v, t) => (t ? `${((v / t) * 100).toFixed(2)}%` : '–');
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = m.name[i] < 0 ? 'other: the callees below the detail level, together' : nodeName(m, i);
    const table = document.createElement('table');
    const row = (label, value, cls) => {
      const tr = table.insertRow();
      tr.insertCell().textContent = label;
      const td = tr.insertCell();
      td.textContent = value;
      if (cls) td.className = cls;
    };
    if (m.diff) {
      const cs = m.total ? m.tot[i] / m.total : 0;
      const bs = m.baseTotal ? m.btot[i] / m.baseTotal : 0;
      row('Total now', `${fmt(m.tot[i])} · ${pct(m.tot[i], m.total)}`);
      row('Total before', `${fmt(m.btot[i])} · ${pct(m.btot[i], m.baseTotal)}`);
      const d = (cs - bs) * 100;
      row('Change', `${d > 0 ? '+' : ''}${d.toFixed(2)} pp of the total`, d > 0 ? 'up' : d < 0 ? 'down' : '');
      row('Self now / before', `${fmt(m.self[i])} / ${fmt(m.bself[i])}`);
    } else {
      row('Total (cum)', `${fmt(m.tot[i])} · ${pct(m.tot[i], m.total)} of all`);
      row('Self (flat)', `${fmt(m.self[i])} · ${pct(m.self[i], m.total)} of all`);
      const p = m.parent[i];
      if (p >= 0) row('Of its caller', pct(m.tot[i], m.tot[p]));
      if (this.zoomed > 0 && i !== this.zoomed) row('Of the zoomed frame', pct(m.tot[i], m.tot[this.zoomed]));
    }
    return [name, table];
  }
}
