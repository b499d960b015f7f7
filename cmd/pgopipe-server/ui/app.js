// app.js — pgopipe's web UI: pick an app and a profile kind (and a time
// range when the server keeps history), see its flame graph and top table,
// compare it with another app or range, download it in every format.
//
// Data: GET ../api/ui/apps (apps, kinds, formats, whether ranges are
// served, the session), GET ../api/ui/tree/{app} and ../api/ui/diff (the
// tree JSON of lib/pprof's export.h). URLs are relative to /ui/, so the page
// also works behind a proxy that mounts the server under a path.
//
// State lives in the URL's fragment (#app=…&kind=…&q=…), so a view can be
// bookmarked and shared; it is rewritten with replaceState as controls
// change and read back on hashchange.

import { FlameGraph, buildModel, nodeName } from './flame.js';
import { TopTable } from './table.js';
import { formatValue, formatShare, formatTime, formatSize } from './format.js';

const $ = (id) => document.getElementById(id);

const state = {
  app: '',
  kind: 'cpu',
  st: '', // sample type name; '' = the profile's default
  detail: '0.001',
  q: '',
  range: '', // '' whole base, hours back ('1', '6', ...) or 'custom'
  from: '',
  to: '',
  compare: false,
  base: '',
  shift: '', // compare with the same range this many hours earlier
};

let info = null; // the apps JSON
let current = null; // the tree JSON shown
let model = null;
let loadSeq = 0;
let aborter = null;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJSON(url, signal) {
  const r = await fetch(url, { signal, credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) {
    window.location.assign('login');
    throw new HttpError(401, 'This server needs its token: log in.');
  }
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = null;
  }
  if (!r.ok) throw new HttpError(r.status, (body && body.message) || `${r.status} ${r.statusText}`);
  return body;
}

// ---- state in the URL ----

function readHash() {
  const p = new URLSearchParams(window.location.hash.slice(1));
  state.app = p.get('app') || '';
  state.kind = p.get('kind') || 'cpu';
  state.st = p.get('st') || '';
  state.detail = p.get('detail') || '0.001';
  state.q = p.get('q') || '';
  state.range = p.get('range') || '';
  state.from = p.get('from') || '';
  state.to = p.get('to') || '';
  state.base = p.get('base') || '';
  state.compare = !!state.base;
  state.shift = p.get('shift') || '';
}

function writeHash() {
  const p = new URLSearchParams();
  if (state.app) p.set('app', state.app);
  if (state.kind !== 'cpu') p.set('kind', state.kind);
  if (state.st) p.set('st', state.st);
  if (state.detail !== '0.001') p.set('detail', state.detail);
  if (state.range) p.set('range', state.range);
  if (state.range === 'custom') {
    p.set('from', state.from);
    p.set('to', state.to);
  }
  if (state.compare && state.base) p.set('base', state.base);
  if (state.compare && state.shift) p.set('shift', state.shift);
  if (state.q) p.set('q', state.q);
  const h = `#${p.toString()}`;
  if (h !== window.location.hash) window.history.replaceState(null, '', h === '#' ? window.location.pathname : h);
}

// ---- messages ----

function showError(e) {
  const box = $('error');
  box.textContent = e instanceof Error ? e.message : String(e);
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function setStatus(parts) {
  $('status').replaceChildren(...parts);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// ---- pickers ----

const appInfo = (name) => info.apps.find((a) => a.app === name);
const kindInfo = () => {
  const a = appInfo(state.app);
  return a && a.kinds.find((k) => k.kind === state.kind);
};

function renderPickers() {
  const sel = $('app');
  sel.replaceChildren(...info.apps.map((a) => new Option(a.app, a.app)));
  sel.value = state.app;

  const a = appInfo(state.app);
  const kinds = $('kinds');
  kinds.replaceChildren(
    ...a.kinds.map((k) => {
      const b = el('button', k.kind);
      b.type = 'button';
      b.setAttribute('role', 'radio');
      b.setAttribute('aria-checked', String(k.kind === state.kind));
      b.dataset.kind = k.kind;
      b.title = k.base ? `${formatSize(k.size)}, updated ${formatTime(k.lastModified)}` : 'history only';
      b.addEventListener('click', () => {
        if (state.kind === k.kind) return;
        state.kind = k.kind;
        state.st = '';
        onChange(true);
      });
      return b;
    }),
  );

  const ki = kindInfo();
  const ranged = !!(info.ranges && ki && ki.history);
  $('range').hidden = !ranged;
  if (!ranged) state.range = '';
  $('range-preset').value = state.range;
  $('range-custom').hidden = state.range !== 'custom';
  if (ranged) {
    const min = toLocalInput(ki.history.from);
    const max = toLocalInput(ki.history.to);
    for (const id of ['range-from', 'range-to']) {
      $(id).min = min;
      $(id).max = max;
    }
    if (state.range === 'custom') {
      $('range-from').value = state.from ? toLocalInput(state.from) : min;
      $('range-to').value = state.to ? toLocalInput(state.to) : max;
    }
  }

  $('compare').checked = state.compare;
  $('compare-with').hidden = !state.compare;
  const bases = info.apps.filter((x) => x.kinds.some((k) => k.kind === state.kind));
  const bsel = $('base-app');
  bsel.replaceChildren(...bases.map((x) => new Option(x.app, x.app)));
  if (state.compare && !bases.some((x) => x.app === state.base)) {
    state.base = (bases.find((x) => x.app !== state.app) || bases[0] || { app: state.app }).app;
  }
  bsel.value = state.base;
  $('base-range').hidden = !(state.compare && ranged && state.range);
  $('base-range').value = state.shift;
  $('detail').value = state.detail;
  if (document.activeElement !== $('search')) $('search').value = state.q;
}

function toLocalInput(t) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:00`;
}

// The [from, to) of the chosen range as RFC 3339 strings, or null for the base.
function rangeOf() {
  if (!state.range) return null;
  if (state.range === 'custom') {
    if (!state.from || !state.to) return null;
    return [state.from, state.to];
  }
  const hour = 3600e3;
  const to = Math.floor(Date.now() / hour) * hour + hour;
  return [new Date(to - Number(state.range) * hour).toISOString(), new Date(to).toISOString()];
}

function shifted(r, hours) {
  const s = Number(hours) * 3600e3;
  return r.map((t) => new Date(new Date(t).getTime() - s).toISOString());
}

// ---- loading ----

function treeURL() {
  const p = new URLSearchParams();
  p.set('kind', state.kind);
  p.set('min_share', state.detail);
  if (state.st) p.set('sample_type', state.st);
  const r = rangeOf();
  if (r) {
    p.set('from', r[0]);
    p.set('to', r[1]);
  }
  if (state.compare) {
    p.set('app', state.app);
    p.set('base', state.base || state.app);
    if (r && state.shift) {
      const b = shifted(r, state.shift);
      p.set('base_from', b[0]);
      p.set('base_to', b[1]);
    }
    return `../api/ui/diff?${p}`;
  }
  return `../api/ui/tree/${encodeURIComponent(state.app)}?${p}`;
}

async function load() {
  const seq = ++loadSeq;
  if (aborter) aborter.abort();
  aborter = new AbortController();
  delete $('view').dataset.view;
  setStatus([el('span', 'Loading…')]);
  renderDownloads();
  let json;
  try {
    json = await getJSON(treeURL(), aborter.signal);
  } catch (e) {
    if (e.name === 'AbortError' || seq !== loadSeq) return;
    showError(e);
    setStatus([]);
    return;
  }
  if (seq !== loadSeq) return;
  performance.mark('pgopipe:tree-loaded');
  clearError();
  current = json;
  renderSampleTypes();
  model = buildModel(json);
  $('legend').hidden = !model.diff;
  flame.setData(model); // the graph first: it is what people look at
  table.setData(json);
  applySearch();
  // What is shown, for tests and scripts waiting on a change: app|kind|sample type|detail|compared app|range.
  const st = (json.sampleTypes || [])[json.sampleType];
  const r = rangeOf();
  $('view').dataset.view = [state.app, state.kind, st ? st.type : '', state.detail, state.compare ? state.base : '', r ? r.join('/') : ''].join('|');
}

function renderSampleTypes() {
  const sel = $('sample-type');
  const types = current.sampleTypes || [];
  sel.replaceChildren(...types.map((t) => new Option(`${t.type} (${t.unit})`, t.type)));
  const cur = types[current.sampleType];
  if (cur) sel.value = cur.type;
  sel.disabled = types.length < 2;
}

function renderStatus(match) {
  const s = $('status');
  const parts = [];
  if (!current) return;
  const fmt = (v) => formatValue(v, current.unit);
  const d = s.dataset;
  d.total = current.total;
  d.unit = current.unit;
  if (model.diff) {
    parts.push(el('b', fmt(current.total)), el('span', ' now, '));
    parts.push(el('b', fmt(current.base.total)), el('span', ' before'));
  } else {
    parts.push(el('b', fmt(current.total)), el('span', ` of ${current.sampleTypes[current.sampleType]?.type || 'values'}`));
  }
  const ki = kindInfo();
  if (ki && ki.base && !rangeOf()) parts.push(el('span', ` · base ${formatSize(ki.size)}, updated ${formatTime(ki.lastModified)}`));
  if (current.total === 0) parts.push(el('span', ' · this profile has no samples of this type'));
  if (Number(state.detail) > 0) parts.push(el('span', ` · frames under ${formatShare(Number(state.detail))} merged into “other”`));
  if (match) {
    d.matchFrames = match.frames;
    d.matchFunctions = match.functions;
    d.matchValue = match.value;
    d.matchShare = match.share;
    const m = el('span', '', 'matches');
    let text = ` · ${match.frames} frames in ${match.functions} functions match: ${fmt(match.value)}, ${formatShare(match.share)} of the total`;
    if (model.diff) text += ` (before ${formatShare(match.baseShare)})`;
    if (match.substring) text += ' (not a valid regular expression: matched as text)';
    m.textContent = text;
    parts.push(m);
  } else {
    delete d.matchFrames;
    delete d.matchFunctions;
    delete d.matchValue;
    delete d.matchShare;
  }
  setStatus(parts);
}

function renderDownloads() {
  const ul = $('download-links');
  const r = rangeOf();
  const items = info.formats
    .filter((f) => f.kinds.includes(state.kind))
    .map((f) => {
      const p = new URLSearchParams();
      p.set('kind', state.kind);
      p.set('format', f.name);
      if (r) {
        p.set('from', r[0]);
        p.set('to', r[1]);
      }
      const a = el('a');
      a.href = `../api/profile/${encodeURIComponent(state.app)}?${p}`;
      a.download = `${state.app}-${state.kind}${f.suffix}`;
      a.title = f.summary;
      a.dataset.format = f.name;
      a.append(el('b', f.name), el('span', f.suffix));
      const li = el('li');
      li.appendChild(a);
      return li;
    });
  ul.replaceChildren(...items);
}

// ---- search ----

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// A test for names from the search text: a regular expression, case-blind
// unless the text has a capital letter; text that does not compile as one is
// matched as a plain substring.
function compile(q) {
  if (!q) return null;
  const flags = /[A-Z]/.test(q) ? '' : 'i';
  try {
    const re = new RegExp(q, flags);
    const t = (s) => re.test(s);
    t.substring = false;
    return t;
  } catch {
    const needle = flags ? q.toLowerCase() : q;
    const t = (s) => (flags ? s.toLowerCase() : s).includes(needle);
    t.substring = true;
    return t;
  }
}

function applySearch() {
  const test = compile(state.q);
  $('search').classList.toggle('bad', !!(test && test.substring));
  const match = flame.setMatcher(test);
  table.setMatcher(test);
  if (test) match.substring = test.substring;
  renderStatus(test ? match : null);
}

// ---- wiring ----

const formatCurrent = (v) => formatValue(v, current ? current.unit : '');

const flame = new FlameGraph($('flame'), $('tooltip'), $('flame-hitmap'), {
  format: formatCurrent,
  zoom: (path) => renderCrumbs(path),
});

const table = new TopTable($('top'), {
  format: formatCurrent,
  pick: (name) => {
    state.q = `^${escapeRegExp(name)}$`;
    $('search').value = state.q;
    writeHash();
    applySearch();
  },
});

function renderCrumbs(path) {
  const nav = $('crumbs');
  const items = [];
  path.forEach((i, k) => {
    if (k) items.push(el('span', '›', 'sep'));
    const b = el('button', k === 0 ? 'all' : nodeName(model, i));
    b.type = 'button';
    b.dataset.node = i;
    if (k === path.length - 1) b.setAttribute('aria-current', 'true');
    else b.addEventListener('click', () => flame.zoom(i));
    items.push(b);
  });
  nav.replaceChildren(...items);
}

// A control changed: write the state down and load again.
function onChange(repick) {
  writeHash();
  if (repick) renderPickers();
  load();
}

function wire() {
  $('app').addEventListener('change', (e) => {
    state.app = e.target.value;
    const a = appInfo(state.app);
    if (!a.kinds.some((k) => k.kind === state.kind)) state.kind = a.kinds[0].kind;
    state.st = '';
    onChange(true);
  });
  $('sample-type').addEventListener('change', (e) => {
    state.st = e.target.value;
    onChange(false);
  });
  $('detail').addEventListener('change', (e) => {
    state.detail = e.target.value;
    onChange(false);
  });
  $('range-preset').addEventListener('change', (e) => {
    state.range = e.target.value;
    if (state.range === 'custom') {
      const ki = kindInfo();
      state.from = ki && ki.history ? ki.history.from : '';
      state.to = ki && ki.history ? ki.history.to : '';
    }
    if (!state.range) state.shift = '';
    onChange(true);
  });
  for (const id of ['range-from', 'range-to']) {
    $(id).addEventListener('change', () => {
      const f = new Date($('range-from').value);
      const t = new Date($('range-to').value);
      if (Number.isNaN(f.getTime()) || Number.isNaN(t.getTime())) return;
      state.from = f.toISOString();
      state.to = t.toISOString();
      onChange(false);
    });
  }
  $('compare').addEventListener('change', (e) => {
    state.compare = e.target.checked;
    if (!state.compare) {
      state.base = '';
      state.shift = '';
    }
    onChange(true);
  });
  $('base-app').addEventListener('change', (e) => {
    state.base = e.target.value;
    onChange(false);
  });
  $('base-range').addEventListener('change', (e) => {
    state.shift = e.target.value;
    onChange(false);
  });
  let timer = 0;
  $('search').addEventListener('input', (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.q = e.target.value;
      writeHash();
      applySearch();
    }, 120);
  });
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      $('search').focus();
      $('search').select();
    } else if (e.key === 'Escape') {
      $('downloads').open = false;
      if (t === $('search')) $('search').blur();
      if (state.q) {
        state.q = '';
        $('search').value = '';
        writeHash();
        applySearch();
      }
      flame.zoom(0);
    }
  });
  document.addEventListener('click', (e) => {
    const d = $('downloads');
    if (d.open && !d.contains(e.target)) d.open = false;
  });
  window.addEventListener('hashchange', () => {
    readHash();
    if (!info || !info.apps.length) return;
    if (!appInfo(state.app)) state.app = info.apps[0].app;
    renderPickers();
    load();
  });
}

let wired = false;

async function start() {
  if (!wired) wire();
  wired = true;
  readHash();
  try {
    info = await getJSON('../api/ui/apps');
  } catch (e) {
    showError(e);
    return;
  }
  $('logout').hidden = !(info.auth && info.auth.session);
  if (!info.apps.length) {
    // Nothing yet: show how to upload, and look again every few seconds.
    $('empty').hidden = false;
    $('view').hidden = true;
    document.querySelector('.controls').hidden = true;
    document.querySelector('.tools').hidden = true;
    setTimeout(start, 5000);
    return;
  }
  $('empty').hidden = true;
  document.querySelector('.controls').hidden = false;
  document.querySelector('.tools').hidden = false;
  $('view').hidden = false;
  if (!appInfo(state.app)) state.app = info.apps[0].app;
  const a = appInfo(state.app);
  if (!a.kinds.some((k) => k.kind === state.kind)) state.kind = a.kinds[0].kind;
  renderPickers();
  writeHash();
  await load();
}

start();
