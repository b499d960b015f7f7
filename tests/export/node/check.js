#!/usr/bin/env node
// check.js — checks pgopipe's exports the way their consumers read them.
//
//   node check.js formats DIR SHARE   every export of one profile in DIR (see export-test.sh)
//   node check.js diff DIR SHARE      the diff tree JSON of two profiles in DIR
//   node check.js top TREE.json       prints the tree JSON's top table: "FLAT CUM NAME" per row
//
// DIR holds totals.txt (from tests/export/ref: "TYPE UNIT TOTAL" lines, then
// "default I"), folded.I per sample type (already checked against Go's
// pprof), and the exports: speedscope.json, chrome.cpuprofile and
// chrome-small.cpuprofile (CPU profiles only; the second written with
// --max-samples from chrome-small.max), tree.I.json (share 0) and
// tree-share.json (default type, share SHARE). The folded stacks are the
// reference every other format is rebuilt into and compared with.
// Values are compared as BigInt. Exit status 0 when every check holds, 1
// otherwise (each failure printed).
'use strict';
const fs = require('fs');
const path = require('path');

let failures = 0;
let checks = 0;
function check(cond, msg) {
  checks++;
  if (!cond) {
    failures++;
    if (failures <= 40) console.error('FAILED: ' + msg);
  }
}

// Integers JavaScript numbers cannot hold exactly are read as BigInt: a
// JSON.parse reviver only sees the rounded double, so the text is parsed
// here (strictly: what JSON.parse refuses is refused too, it runs first).
function parseExact(text) {
  let i = 0;
  const ws = () => { while (' \t\n\r'.includes(text[i]) && i < text.length) i++; };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o = {};
      ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        const k = str();
        ws();
        i++; // ':'
        o[k] = value();
        ws();
        if (text[i++] === '}') return o;
      }
    }
    if (c === '[') {
      i++;
      const a = [];
      ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value());
        ws();
        if (text[i++] === ']') return a;
      }
    }
    if (c === '"') return str();
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(text.slice(i, i + 40));
    if (m) {
      i += m[0].length;
      if (m[2] || m[3]) return Number(m[0]);
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    for (const [w, v] of [['true', true], ['false', false], ['null', null]])
      if (text.startsWith(w, i)) { i += w.length; return v; }
    throw new Error(`bad JSON at ${i}`);
  };
  const str = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  return value();
}

// Strict reading: the bytes must be UTF-8 and the text strict JSON.
function readJSON(file, exact = true) {
  const buf = fs.readFileSync(file);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch (e) {
    check(false, `${file}: not valid UTF-8`);
    text = buf.toString('utf8');
  }
  const plain = JSON.parse(text);
  return exact ? parseExact(text) : plain;
}

function readTotals(dir, name = 'totals.txt') {
  const types = [];
  let def = -1;
  for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    if (f[0] === 'default' && f.length === 2) def = Number(f[1]);
    else types.push({ type: f[0], unit: f[1], total: BigInt(f[2]) });
  }
  return { types, def };
}

// folded text -> Map(stack -> BigInt)
function readFolded(file) {
  const m = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), BigInt(line.slice(sp + 1)));
  }
  return m;
}

// A frame name as folded writes it.
const foldName = (s) => s.replace(/;/g, ':').replace(/[\u0000-\u001f\u007f]/g, ' ');

function addTo(m, k, v) {
  const n = (m.get(k) || 0n) + v;
  if (n === 0n) m.delete(k);
  else m.set(k, n);
}

function sameMap(got, want, what) {
  let bad = 0;
  for (const [k, v] of want) {
    if (got.get(k) !== v) {
      if (bad++ < 5) check(false, `${what}: stack "${k}" has ${got.get(k)}, folded says ${v}`);
    }
  }
  for (const [k, v] of got) {
    if (!want.has(k)) {
      if (bad++ < 5) check(false, `${what}: stack "${k}" (${v}) is not in the folded stacks`);
    }
  }
  check(bad === 0, `${what}: ${bad} stacks differ from the folded stacks`);
}

// JSON text of anything, BigInts included (for messages and comparisons).
const js = (x) => JSON.stringify(x, (k, v) => (typeof v === 'bigint' ? String(v) + 'n' : v));
const sum = (a) => a.reduce((s, x) => s + BigInt(x), 0n);
const isInt = (x) => Number.isInteger(x) || typeof x === 'bigint';
const babs = (x) => (x < 0n ? -x : x);

// ---- speedscope ----
function checkSpeedscope(dir, T) {
  const Ajv = require('ajv');
  const schema = JSON.parse(
    fs.readFileSync(require.resolve('speedscope/dist/release/file-format-schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  const ok = validate(readJSON(path.join(dir, 'speedscope.json'), false));
  const doc = readJSON(path.join(dir, 'speedscope.json'));
  check(ok, 'speedscope.json does not validate against speedscope\'s schema: ' +
    js((validate.errors || []).slice(0, 3)));
  const frames = doc.shared.frames;
  check(doc.profiles.length === T.types.length, `speedscope: ${doc.profiles.length} profiles for ${T.types.length} sample types`);
  if (T.types.length) check(doc.activeProfileIndex === T.def, `speedscope: activeProfileIndex ${doc.activeProfileIndex}, want ${T.def}`);
  const units = { nanoseconds: 'nanoseconds', bytes: 'bytes', microseconds: 'microseconds', milliseconds: 'milliseconds', seconds: 'seconds' };
  doc.profiles.forEach((p, i) => {
    const t = T.types[i];
    if (!t) return;
    check(p.type === 'sampled' && p.name === t.type, `speedscope profile ${i}: type ${p.type} name ${p.name}`);
    check(p.unit === (units[t.unit] || 'none'), `speedscope profile ${i}: unit ${p.unit} for ${t.unit}`);
    check(p.samples.length === p.weights.length, `speedscope profile ${i}: ${p.samples.length} samples, ${p.weights.length} weights`);
    check(p.weights.every(isInt) && p.weights.every((w) => w !== 0), `speedscope profile ${i}: weights must be non-zero integers`);
    const total = sum(p.weights);
    check(total === t.total, `speedscope profile ${i} (${t.type}): weights sum to ${total}, total is ${t.total}`);
    check(p.startValue === 0 && BigInt(p.endValue) === t.total, `speedscope profile ${i}: start ${p.startValue} end ${p.endValue}`);
    const m = new Map();
    p.samples.forEach((st, j) => {
      check(st.length > 0 && st.every((f) => isInt(f) && f >= 0 && f < frames.length), `speedscope profile ${i} sample ${j}: bad frame index`);
      addTo(m, st.map((f) => foldName((frames[f] || { name: '?' }).name)).join(';'), BigInt(p.weights[j]));
    });
    sameMap(m, readFolded(path.join(dir, `folded.${i}`)), `speedscope profile ${i}`);
  });
  frames.forEach((f, i) => {
    check(typeof f.name === 'string' && f.name.length > 0, `speedscope frame ${i}: no name`);
    if ('line' in f) check(isInt(f.line) && f.line > 0, `speedscope frame ${i}: line ${f.line}`);
  });
}

// ---- chrome ----
function chromeTree(doc, file) {
  const byId = new Map();
  doc.nodes.forEach((n) => {
    check(isInt(n.id) && n.id > 0 && !byId.has(n.id), `${file}: node id ${n.id} not unique and positive`);
    byId.set(n.id, n);
    const cf = n.callFrame || {};
    check(typeof cf.functionName === 'string' && typeof cf.scriptId === 'string' && typeof cf.url === 'string' &&
      isInt(cf.lineNumber) && cf.lineNumber >= -1 && isInt(cf.columnNumber) && cf.columnNumber >= -1,
      `${file}: node ${n.id}: bad callFrame ${js(cf)}`);
    check(isInt(n.hitCount) && n.hitCount >= 0, `${file}: node ${n.id}: hitCount ${n.hitCount}`);
  });
  const root = doc.nodes[0];
  check(root && root.id === 1 && root.callFrame.functionName === '(root)', `${file}: first node is not (root) with id 1`);
  const parent = new Map();
  for (const n of doc.nodes)
    for (const c of n.children || []) {
      check(byId.has(c), `${file}: node ${n.id} has unknown child ${c}`);
      check(!parent.has(c), `${file}: node ${c} has two parents`);
      parent.set(c, n.id);
    }
  // Every node is reached from the root exactly once (a tree, no cycles).
  const seen = new Set();
  const todo = [1];
  while (todo.length) {
    const id = todo.pop();
    if (seen.has(id)) { check(false, `${file}: node ${id} reached twice`); continue; }
    seen.add(id);
    for (const c of (byId.get(id) || {}).children || []) todo.push(c);
  }
  check(seen.size === doc.nodes.length, `${file}: ${doc.nodes.length - seen.size} nodes not reachable from the root`);
  // Samples name existing nodes, hitCount = samples naming the node.
  check(doc.samples.length === doc.timeDeltas.length, `${file}: ${doc.samples.length} samples, ${doc.timeDeltas.length} time deltas`);
  const hits = new Map();
  for (const s of doc.samples) {
    check(byId.has(s), `${file}: sample names unknown node ${s}`);
    hits.set(s, (hits.get(s) || 0) + 1);
  }
  for (const n of doc.nodes) check((hits.get(n.id) || 0) === n.hitCount, `${file}: node ${n.id}: hitCount ${n.hitCount}, ${hits.get(n.id) || 0} samples`);
  check(doc.timeDeltas.every((d) => isInt(d) && d >= 0), `${file}: negative or fractional time delta`);
  check(isInt(doc.startTime) && isInt(doc.endTime) && BigInt(doc.endTime - doc.startTime) === sum(doc.timeDeltas),
    `${file}: endTime - startTime = ${doc.endTime - doc.startTime}, time deltas sum to ${sum(doc.timeDeltas)}`);
  return { byId, parent };
}

function chromeStacks(doc, t) {
  const m = new Map();
  for (const n of doc.nodes) {
    if (!n.hitCount) continue;
    const names = [];
    for (let id = n.id; id !== 1; id = t.parent.get(id)) names.push(foldName(t.byId.get(id).callFrame.functionName));
    addTo(m, names.reverse().join(';'), BigInt(n.hitCount));
  }
  return m;
}

// A chrome profile scaled from H hits to M samples: each node within one
// sample of its share, so a stack made of k nodes within k samples.
function scaledLike(doc, t, folded, H, M, what) {
  const got = new Map(), nodes = new Map();
  for (const n of doc.nodes) {
    if (n.id === 1) continue;
    const names = [];
    for (let id = n.id; id !== 1; id = t.parent.get(id)) names.push(foldName(t.byId.get(id).callFrame.functionName));
    const k = names.reverse().join(';');
    got.set(k, (got.get(k) || 0n) + BigInt(n.hitCount));
    nodes.set(k, (nodes.get(k) || 0n) + 1n);
  }
  for (const [k, v] of folded) {
    const d = babs((got.get(k) || 0n) * H - v * M);
    check(d < H * (nodes.get(k) || 1n), `${what}: stack ${k}: ${got.get(k)} samples for ${v} of ${H} hits scaled to ${M}`);
  }
  for (const [k, v] of got) check(folded.has(k) || v === 0n, `${what}: stack ${k} has ${v} samples but no hits`);
}

function checkChrome(dir, T) {
  const file = path.join(dir, 'chrome.cpuprofile');
  if (!fs.existsSync(file)) return;
  const doc = readJSON(file);
  const t = chromeTree(doc, 'chrome.cpuprofile');
  const ci = T.types.findIndex((x) => x.type === 'samples' && x.unit === 'count');
  const ti = T.types.findIndex((x) => x.type === 'cpu' && x.unit === 'nanoseconds');
  const H = T.types[ci].total;
  const DEF = 1000000n; // PP_EXPORT_CHROME_MAX_SAMPLES
  const folded = readFolded(path.join(dir, `folded.${ci}`));
  if (H <= DEF) {
    check(BigInt(doc.samples.length) === H, `chrome: ${doc.samples.length} samples, the profile has ${H}`);
    sameMap(chromeStacks(doc, t), folded, 'chrome hit counts');
  } else {
    check(BigInt(doc.samples.length) === DEF, `chrome: ${doc.samples.length} samples, want the default bound ${DEF}`);
    scaledLike(doc, t, folded, H, DEF, 'chrome');
  }  let us = T.types[ti].total / 1000n;
  if (us < 0n) us = 0n; // a wrapped (negative) CPU total counts as none
  check(BigInt(doc.endTime - doc.startTime) === us, `chrome: lasts ${doc.endTime - doc.startTime} us, CPU time is ${us} us`);
  // The bounded export: same tree, hits scaled to exactly M with each node
  // within one sample of its share.
  const sfile = path.join(dir, 'chrome-small.cpuprofile');
  if (!fs.existsSync(sfile)) return;
  const M = BigInt(fs.readFileSync(path.join(dir, 'chrome-small.max'), 'utf8').trim());
  const small = readJSON(sfile);
  const st = chromeTree(small, 'chrome-small.cpuprofile');
  const want = H > M ? M : H;
  check(BigInt(small.samples.length) === want, `chrome-small: ${small.samples.length} samples, want ${want}`);
  check(small.nodes.length === doc.nodes.length, 'chrome-small: not the same tree');
  check(BigInt(small.endTime - small.startTime) === us, `chrome-small: lasts ${small.endTime - small.startTime} us, want ${us}`);
  if (H > M) scaledLike(small, st, folded, H, M, 'chrome-small');
  if (H <= DEF) small.nodes.forEach((n, i) => {
    const full = doc.nodes[i] || { hitCount: 0 };
    check(n.callFrame.functionName === full.callFrame.functionName, `chrome-small: node ${n.id} is another function`);
    if (H > M) {
      const d = BigInt(n.hitCount) * H - BigInt(full.hitCount) * M;
      check(babs(d) < H, `chrome-small: node ${n.id}: ${n.hitCount} samples for ${full.hitCount} of ${H} hits scaled to ${M}`);
    } else check(n.hitCount === full.hitCount, `chrome-small: node ${n.id} scaled without need`);
  });
}

// ---- tree JSON ----
// Parses and checks the invariants every tree holds; returns per-node paths.
function treeCheck(doc, file, k) {
  const w = 2 + 2 * k; // fields per node
  const nodes = doc.nodes;
  check(doc.version === 1, `${file}: version ${doc.version}`);
  check(doc.names[0] === 'all', `${file}: names[0] is not "all"`);
  check(nodes.length > 0 && nodes[0][0] === 0 && nodes[0][1] === -1, `${file}: node 0 is not the root`);
  const kids = nodes.map(() => []);
  const paths = [];
  nodes.forEach((n, i) => {
    check(n.length === w && n.every(isInt), `${file}: node ${i}: ${js(n)}`);
    if (i > 0) {
      check(n[1] >= 0 && n[1] < i, `${file}: node ${i}: parent ${n[1]} does not precede it`);
      check(n[0] === -1 || (n[0] > 0 && n[0] < doc.names.length), `${file}: node ${i}: name ${n[0]}`);
      if (kids[n[1]]) kids[n[1]].push(i);
      paths[i] = (paths[n[1]] ? paths[n[1]] + ';' : '') + (n[0] === -1 ? '(other)' : foldName(doc.names[n[0]]));
    } else paths[i] = '';
  });
  nodes.forEach((n, i) => {
    for (let s = 0; s < k; s++) {
      const self = BigInt(n[2 + 2 * s]), tot = BigInt(n[3 + 2 * s]);
      const c = kids[i].reduce((a, j) => a + BigInt(nodes[j][3 + 2 * s]), 0n);
      check(tot === self + c, `${file}: node ${i} slot ${s}: total ${tot} != self ${self} + children ${c}`);
      if (n[0] === -1) check(self === tot && kids[i].length === 0, `${file}: other node ${i} has children or self != total`);
    }
    if (i === 0) check(BigInt(n[2]) === 0n, `${file}: root self ${n[2]}`);
    // Siblings: kept ones by decreasing |total| (then |base total|), "other" last.
    const ks = kids[i];
    for (let j = 1; j < ks.length; j++) {
      const a = nodes[ks[j - 1]], b = nodes[ks[j]];
      if (b[0] === -1) { check(j === ks.length - 1, `${file}: other node not last under ${i}`); continue; }
      check(a[0] !== -1, `${file}: other node not last under ${i}`);
      const ta = babs(BigInt(a[3])), tb = babs(BigInt(b[3]));
      check(ta > tb || (ta === tb && (k === 1 || babs(BigInt(a[5])) >= babs(BigInt(b[5])))),
        `${file}: children of ${i} not ordered by total: ${a} before ${b}`);
    }
  });
  return { kids, paths };
}

function treeStacks(doc, paths, slot) {
  const m = new Map();
  doc.nodes.forEach((n, i) => { if (i > 0) addTo(m, paths[i], BigInt(n[2 + 2 * slot])); });
  return m;
}

// flat/cum per name from a share-0 tree, computed independently of the writer.
function topFromTree(doc, kids, slot) {
  const flat = new Map(), cum = new Map();
  const walk = (i, onpath) => {
    const n = doc.nodes[i];
    const name = doc.names[n[0]];
    if (i > 0) {
      flat.set(name, (flat.get(name) || 0n) + BigInt(n[2 + 2 * slot]));
      if (!onpath.has(name)) cum.set(name, (cum.get(name) || 0n) + BigInt(n[3 + 2 * slot]));
    }
    const added = i > 0 && !onpath.has(name);
    if (added) onpath.add(name);
    for (const c of kids[i]) walk(c, onpath);
    if (added) onpath.delete(name);
  };
  walk(0, new Set());
  return { flat, cum };
}

function checkTop(doc, file, kids, k) {
  const T = BigInt(doc.total);
  const ref = [topFromTree(doc, kids, 0), k > 1 ? topFromTree(doc, kids, 1) : null];
  const names = new Set([...ref[0].flat.keys()].concat(k > 1 ? [...ref[1].flat.keys()] : []));
  const want = [...names].filter((n) => ref.some((r) => r && ((r.flat.get(n) || 0n) !== 0n || (r.cum.get(n) || 0n) !== 0n)));
  check(doc.functions === want.length, `${file}: ${doc.functions} functions in the top table, want ${want.length}`);
  check(doc.top.length === want.length, `${file}: ${doc.top.length} top rows, want ${want.length}`);
  let run = 0n;
  const pct = (v) => (T === 0n ? 0 : (Number(v) * 100) / Number(T));
  doc.top.forEach((r, i) => {
    const name = doc.names[r[0]];
    const fl = BigInt(r[1]), cu = BigInt(r[4]);
    run += fl;
    check(fl === (ref[0].flat.get(name) || 0n) && cu === (ref[0].cum.get(name) || 0n),
      `${file}: top ${name}: flat ${fl} cum ${cu}, the tree says ${ref[0].flat.get(name)} ${ref[0].cum.get(name)}`);
    if (k > 1) check(BigInt(r[6]) === (ref[1].flat.get(name) || 0n) && BigInt(r[7]) === (ref[1].cum.get(name) || 0n),
      `${file}: top ${name}: base flat/cum ${r[6]} ${r[7]}`);
    check(Math.abs(r[2] - pct(fl)) <= 0.0051 && Math.abs(r[3] - pct(run)) <= 0.0051 && Math.abs(r[5] - pct(cu)) <= 0.0051,
      `${file}: top ${name}: percentages ${r[2]} ${r[3]} ${r[5]}`);
    if (i > 0) {
      const p = doc.top[i - 1], pf = babs(BigInt(p[1]));
      check(pf > babs(fl) || (pf === babs(fl) && Buffer.compare(Buffer.from(doc.names[p[0]]), Buffer.from(name)) < 0),
        `${file}: top rows ${i - 1} and ${i} out of order`);
    }
  });
}

// Collapsed tree against the full one: kept exactly the nodes at or above
// the share (with kept ancestors), same values, "other" = the rest.
function checkCollapsed(full, fullInfo, doc, info, file, share, k, totals) {
  const fullBy = new Map();
  full.nodes.forEach((n, i) => fullBy.set(fullInfo.paths[i], n));
  const thr = totals.map((t) => share * Number(babs(t)));
  const keep = (n) => totals.some((_, s) => Number(babs(BigInt(n[3 + 2 * s]))) >= thr[s]);
  let kept = 0;
  doc.nodes.forEach((n, i) => {
    if (i === 0 || n[0] === -1) return;
    kept++;
    const f = fullBy.get(info.paths[i]);
    check(f && f.slice(2).every((v, j) => v === n[2 + j]), `${file}: node ${info.paths[i]} differs from the full tree`);
    check(keep(n), `${file}: node ${info.paths[i]} under the share was kept`);
  });
  // Every full-tree node that should be kept is there.
  const has = new Set(info.paths);
  let want = 0;
  const walk = (i) => {
    for (const c of fullInfo.kids[i]) {
      if (!keep(full.nodes[c])) continue;
      want++;
      check(has.has(fullInfo.paths[c]), `${file}: node ${fullInfo.paths[c]} over the share is missing`);
      walk(c);
    }
  };
  walk(0);
  check(kept === want, `${file}: ${kept} nodes kept, want ${want}`);
  const byName = (d) => js(d.top.map((r) => [d.names[r[0]]].concat(r.slice(1))));
  check(byName(doc) === byName(full) && doc.functions === full.functions, `${file}: top table differs from the full tree's`);
}

function sampleTypesEqual(got, T, what) {
  check(got.length === T.types.length && got.every((s, i) => s.type === T.types[i].type && s.unit === T.types[i].unit && BigInt(s.total) === T.types[i].total),
    `${what}: sampleTypes ${js(got)} differ from the profile's`);
}

function checkTrees(dir, T, share) {
  const full = [];
  T.types.forEach((t, i) => {
    const file = `tree.${i}.json`;
    const doc = readJSON(path.join(dir, file));
    sampleTypesEqual(doc.sampleTypes, T, file);
    check(doc.sampleType === i && BigInt(doc.total) === t.total && doc.unit === t.unit, `${file}: sampleType ${doc.sampleType} total ${doc.total}`);
    check(BigInt(doc.nodes[0][3]) === t.total, `${file}: root total ${doc.nodes[0][3]}, want ${t.total}`);
    const info = treeCheck(doc, file, 1);
    check(doc.nodes.every((n) => n[0] !== -1), `${file}: share 0 collapsed a node`);
    sameMap(treeStacks(doc, info.paths, 0), readFolded(path.join(dir, `folded.${i}`)), file);
    checkTop(doc, file, info.kids, 1);
    full[i] = { doc, info };
  });
  const sfile = path.join(dir, 'tree-share.json');
  if (T.types.length && fs.existsSync(sfile)) {
    const doc = readJSON(sfile);
    const info = treeCheck(doc, 'tree-share.json', 1);
    const f = full[T.def];
    check(doc.sampleType === T.def && doc.minShare === share, `tree-share.json: sampleType ${doc.sampleType} minShare ${doc.minShare}`);
    checkCollapsed(f.doc, f.info, doc, info, 'tree-share.json', share, 1, [T.types[T.def].total]);
  }
}

function checkDiff(dir, share) {
  const B = readTotals(dir, 'base-totals.txt'), N = readTotals(dir, 'new-totals.txt');
  const doc = readJSON(path.join(dir, 'diff.json'));
  const vi = doc.sampleType, bi = doc.base.sampleType;
  sampleTypesEqual(doc.sampleTypes, N, 'diff.json');
  sampleTypesEqual(doc.base.sampleTypes, B, 'diff.json base');
  check(vi === N.def, `diff.json: sampleType ${vi}, default is ${N.def}`);
  check(B.types[bi].type === N.types[vi].type && B.types[bi].unit === N.types[vi].unit, 'diff.json: base sample type differs');
  check(BigInt(doc.total) === N.types[vi].total && BigInt(doc.base.total) === B.types[bi].total, 'diff.json: totals');
  check(BigInt(doc.nodes[0][3]) === N.types[vi].total && BigInt(doc.nodes[0][5]) === B.types[bi].total, 'diff.json: root totals');
  const info = treeCheck(doc, 'diff.json', 2);
  sameMap(treeStacks(doc, info.paths, 0), readFolded(path.join(dir, 'new.folded')), 'diff.json (new)');
  sameMap(treeStacks(doc, info.paths, 1), readFolded(path.join(dir, 'base.folded')), 'diff.json (base)');
  checkTop(doc, 'diff.json', info.kids, 2);
  const sdoc = readJSON(path.join(dir, 'diff-share.json'));
  const sinfo = treeCheck(sdoc, 'diff-share.json', 2);
  checkCollapsed(doc, info, sdoc, sinfo, 'diff-share.json', share, 2, [N.types[vi].total, B.types[bi].total]);
}

const [cmd, arg, shareArg] = process.argv.slice(2);
if (cmd === 'top') {
  const doc = readJSON(arg);
  for (const r of doc.top) console.log(`${r[1]} ${r[4]} ${doc.names[r[0]]}`);
  process.exit(0);
}
if (cmd === 'formats') {
  const T = readTotals(arg);
  checkSpeedscope(arg, T);
  checkChrome(arg, T);
  checkTrees(arg, T, Number(shareArg));
} else if (cmd === 'diff') {
  checkDiff(arg, Number(shareArg));
} else {
  console.error('usage: check.js formats DIR SHARE | diff DIR SHARE | top TREE.json');
  process.exit(2);
}
if (failures) {
  console.error(`check.js ${cmd}: ${failures} of ${checks} checks failed`);
  process.exit(1);
}
console.log(`check.js ${cmd}: all ${checks} checks passed`);
