// format.js — numbers as people read them: a value in its profile's unit
// (nanoseconds as "1.23 s", bytes as "4.5 MB", counts with separators),
// shares as percentages, times in the viewer's locale.

const TIME_UNITS = [
  [3600e9, 'h'],
  [60e9, 'min'],
  [1e9, 's'],
  [1e6, 'ms'],
  [1e3, 'µs'],
  [1, 'ns'],
];
const BYTE_UNITS = [
  [2 ** 40, 'TB'],
  [2 ** 30, 'GB'],
  [2 ** 20, 'MB'],
  [2 ** 10, 'kB'],
  [1, 'B'],
];

function scaled(v, units) {
  const a = Math.abs(v);
  for (const [f, u] of units) {
    if (a >= f || f === 1) {
      const x = v / f;
      const ax = Math.abs(x);
      const s = ax >= 100 || f === 1 ? x.toFixed(0) : ax >= 10 ? x.toFixed(1) : x.toFixed(2);
      return `${s} ${u}`;
    }
  }
  return String(v);
}

const counts = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

// A value of the sample type's unit ("nanoseconds", "bytes", "count", ...).
export function formatValue(v, unit) {
  if (!Number.isFinite(v)) return '–';
  switch (unit) {
    case 'nanoseconds':
    case 'ns':
      return scaled(v, TIME_UNITS);
    case 'microseconds':
    case 'us':
      return scaled(v * 1e3, TIME_UNITS);
    case 'milliseconds':
    case 'ms':
      return scaled(v * 1e6, TIME_UNITS);
    case 'seconds':
    case 's':
      return scaled(v * 1e9, TIME_UNITS);
    case 'bytes':
    case 'B':
      return scaled(v, BYTE_UNITS);
    default:
      return counts.format(v);
  }
}

// A share (0..1) as a percentage with two decimals: "12.34%".
export function formatShare(x) {
  if (!Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(2)}%`;
}

// A change of share in percentage points, signed: "+1.20 pp".
export function formatDelta(d) {
  if (!Number.isFinite(d)) return '–';
  const s = (d * 100).toFixed(2);
  return `${d > 0 ? '+' : ''}${s === '-0.00' ? '0.00' : s} pp`;
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

// An RFC 3339 time or milliseconds since the epoch, in the viewer's zone.
export function formatTime(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : when.format(d);
}

// A byte count of a file: "1.2 MB".
export function formatSize(n) {
  return scaled(n, BYTE_UNITS);
}
