// Tiny time-series plots: a bounded history of samples per series and an SVG polyline drawing of
// the last window (x: leader time, y: auto-scaled to the visible min..max).

/** What the plots show: the last two minutes of sync health. */
export const WINDOW_US = 120e6;
/** Shortest time axis, so the first few samples do not stretch across the plot. */
const MIN_SPAN_US = 10e6;
/** Bound on stored samples per series (status events come at most 4/s). */
const MAX_SAMPLES = 600;
/** The SVG viewBox the polylines are drawn in (index.html uses the same). */
const W = 120;
const H = 32;
/** Keep the line off the top and bottom edges. */
const PAD = 2;

export class Series {
  constructor() {
    this.t = [];
    this.v = [];
  }

  /** Adds a sample at leader time `tUs`; older than the window or beyond the bound are dropped. */
  add(tUs, value) {
    if (!Number.isFinite(tUs) || !Number.isFinite(value)) return;
    const last = this.t.length - 1;
    if (last >= 0 && tUs <= this.t[last]) return; // same event seen twice, or time went back
    this.t.push(tUs);
    this.v.push(value);
    let drop = 0;
    while (drop < this.t.length && (this.t[drop] < tUs - WINDOW_US || this.t.length - drop > MAX_SAMPLES)) drop++;
    if (drop > 0) {
      this.t.splice(0, drop);
      this.v.splice(0, drop);
    }
  }

  get last() {
    return this.v.length > 0 ? this.v[this.v.length - 1] : undefined;
  }
}

/**
 * Draws `series` into the polyline of `svg`, ending at `nowUs`; returns the number of points and
 * the visible range ({points: 0} when there is nothing to draw).
 */
export function drawSparkline(svg, series, nowUs) {
  const line = svg.querySelector('polyline');
  // Fixed 2-minute axis once there is that much history; until then the data fills the plot.
  const first = series.t.length > 0 ? series.t[0] : nowUs;
  const from = Math.max(nowUs - WINDOW_US, Math.min(first, nowUs - MIN_SPAN_US));
  const span = nowUs - from;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < series.v.length; i++) {
    if (series.t[i] < from) continue;
    lo = Math.min(lo, series.v[i]);
    hi = Math.max(hi, series.v[i]);
  }
  if (lo === Infinity) {
    line.setAttribute('points', '');
    svg.setAttribute('aria-label', 'no data');
    return { points: 0, lo: NaN, hi: NaN };
  }
  const range = { lo, hi };
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const pts = [];
  for (let i = 0; i < series.v.length; i++) {
    if (series.t[i] < from) continue;
    const x = ((series.t[i] - from) / span) * W;
    const y = H - PAD - ((series.v[i] - lo) / (hi - lo)) * (H - 2 * PAD);
    pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  line.setAttribute('points', pts.join(' '));
  svg.setAttribute('aria-label', `last ${Math.round(span / 1e6)} s: ${fmtNum(range.lo)} to ${fmtNum(range.hi)}`);
  return { points: pts.length, ...range };
}

function fmtNum(x) {
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
}
