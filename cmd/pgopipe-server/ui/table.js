// table.js — the top table, like `go tool pprof -top`: per function its
// flat value (where it is the leaf), flat%, sum% (running total of flat% in
// the order shown), cum (samples it appears in) and cum%. Sortable by each
// column; a click on a row hands the function's name to the page, which
// highlights it in the flame graph. In a diff it shows the share before and
// the change instead of sum%.
//
// Rows carry the raw numbers as data attributes (data-flat, data-cum, ...)
// beside the formatted text, for tests and for copying.

const MAX_ROWS = 2000;

export class TopTable {
  // table: a <table> with an empty <thead> and <tbody>; on.pick(name) is
  // called when a row is chosen; on.format(v) formats a value.
  constructor(table, on) {
    this.table = table;
    this.on = on;
    this.rows = [];
    this.diff = false;
    this.sort = { key: 'flat', desc: true };
    this.match = null;
    table.tBodies[0].addEventListener('click', (e) => this.pickFrom(e));
    table.tBodies[0].addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.pickFrom(e);
      }
    });
  }

  pickFrom(e) {
    const tr = e.target.closest('tr[data-name]');
    if (tr) this.on.pick(tr.dataset.name);
  }

  columns() {
    const c = [
      { key: 'flat', label: 'Flat', title: 'value where the function is the leaf frame' },
      { key: 'flatPct', label: 'Flat%', title: 'flat, in percent of the total' },
    ];
    if (this.diff) {
      c.push({ key: 'cum', label: 'Cum', title: 'value of the samples the function appears in' });
      c.push({ key: 'cumPct', label: 'Cum%', title: 'cum, in percent of the total' });
      c.push({ key: 'baseCumPct', label: 'Before', title: 'cum% in the profile compared with' });
      c.push({ key: 'delta', label: 'Δ Cum%', title: 'change of cum%, in percentage points' });
    } else {
      c.push({ key: 'sumPct', label: 'Sum%', title: 'running total of flat% in this order', nosort: true });
      c.push({ key: 'cum', label: 'Cum', title: 'value of the samples the function appears in' });
      c.push({ key: 'cumPct', label: 'Cum%', title: 'cum, in percent of the total' });
    }
    c.push({ key: 'name', label: 'Function', title: 'function name', cls: 'name' });
    return c;
  }

  // json: the tree or diff JSON (its "top" rows).
  setData(json) {
    this.diff = !!json.base;
    const B = this.diff ? json.base.total : 0;
    const names = json.names || [];
    this.rows = (json.top || []).map((r, order) => {
      const row = {
        order,
        name: names[r[0]],
        flat: r[1],
        flatPct: r[2],
        sumPct: r[3],
        cum: r[4],
        cumPct: r[5],
      };
      if (this.diff) {
        row.baseFlat = r[6];
        row.baseCum = r[7];
        row.baseCumPct = B ? (r[7] / B) * 100 : 0;
        row.delta = row.cumPct - row.baseCumPct;
      }
      return row;
    });
    this.functions = json.functions || this.rows.length;
    if (!this.diff && (this.sort.key === 'delta' || this.sort.key === 'baseCumPct')) this.sort = { key: 'flat', desc: true };
    this.render();
  }

  // Highlights the rows whose name satisfies test (null: none).
  setMatcher(test) {
    this.match = test;
    for (const tr of this.table.tBodies[0].rows) {
      if (tr.dataset.name !== undefined) tr.classList.toggle('match', !!test && test(tr.dataset.name));
    }
  }

  sortBy(key) {
    if (this.sort.key === key) this.sort.desc = !this.sort.desc;
    else this.sort = { key, desc: key !== 'name' };
    this.render();
  }

  sorted() {
    const { key, desc } = this.sort;
    const rows = this.rows.slice();
    if (key === 'flat' && desc) return rows; // the server's order: pprof's
    const abs = key === 'flat' || key === 'cum' || key === 'delta';
    rows.sort((a, b) => {
      let c;
      if (key === 'name') c = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      else c = abs ? Math.abs(a[key]) - Math.abs(b[key]) : a[key] - b[key];
      if (desc) c = -c;
      return c || a.order - b.order;
    });
    return rows;
  }

  render() {
    const fmt = this.on.format;
    const cols = this.columns();
    const head = document.createElement('tr');
    for (const c of cols) {
      const th = document.createElement('th');
      th.scope = 'col';
      if (c.cls) th.className = c.cls;
      if (this.sort.key === c.key) th.setAttribute('aria-sort', this.sort.desc ? 'descending' : 'ascending');
      if (c.nosort) {
        th.textContent = c.label;
        th.title = c.title;
      } else {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = c.label;
        b.title = `${c.title} (click to sort)`;
        b.addEventListener('click', () => this.sortBy(c.key));
        th.appendChild(b);
      }
      head.appendChild(th);
    }
    this.table.tHead.replaceChildren(head);

    const body = document.createDocumentFragment();
    const rows = this.sorted();
    const inServerOrder = this.sort.key === 'flat' && this.sort.desc;
    let sum = 0;
    const n = Math.min(rows.length, MAX_ROWS);
    for (let k = 0; k < n; k++) {
      const r = rows[k];
      sum += r.flatPct;
      const sumPct = inServerOrder ? r.sumPct : sum;
      const tr = document.createElement('tr');
      tr.tabIndex = 0;
      const d = tr.dataset;
      d.name = r.name;
      d.flat = r.flat;
      d.flatPct = r.flatPct;
      d.sumPct = sumPct.toFixed(2);
      d.cum = r.cum;
      d.cumPct = r.cumPct;
      if (this.diff) {
        d.baseFlat = r.baseFlat;
        d.baseCum = r.baseCum;
      }
      for (const c of cols) {
        const td = tr.insertCell();
        switch (c.key) {
          case 'flat':
          case 'cum':
            td.textContent = fmt(r[c.key]);
            break;
          case 'flatPct':
          case 'cumPct':
          case 'baseCumPct':
            td.textContent = `${r[c.key].toFixed(2)}%`;
            break;
          case 'sumPct':
            td.textContent = `${sumPct.toFixed(2)}%`;
            break;
          case 'delta':
            td.textContent = `${r.delta > 0 ? '+' : ''}${r.delta.toFixed(2)}`;
            td.className = r.delta > 0.005 ? 'up' : r.delta < -0.005 ? 'down' : '';
            break;
          default:
            td.textContent = r.name;
            td.title = r.name;
            td.className = 'name';
        }
      }
      if (this.match && this.match(r.name)) tr.classList.add('match');
      body.appendChild(tr);
    }
    const hidden = this.functions - n;
    if (hidden > 0) {
      const tr = document.createElement('tr');
      tr.className = 'more';
      const td = tr.insertCell();
      td.colSpan = cols.length;
      td.textContent = `${hidden.toLocaleString()} more functions not listed`;
      body.appendChild(tr);
    }
    this.table.tBodies[0].replaceChildren(body);
  }
}
