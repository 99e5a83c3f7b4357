// Hand-written SVG line plots (no dependencies) for benchmark reports: one or more stacked
// panels sharing the x axis, each with series, dashed reference lines and shaded x-intervals.

const WIDTH_PX = 1000;
const PANEL_HEIGHT_PX = 300;
const MARGIN = { left: 70, right: 200, top: 36, bottom: 40 } as const;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const MAX_POINTS_PER_SERIES = 4000; // keeps files small; longer series are decimated min/max-preserving

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  color?: string;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** fixed y range; values outside are clipped to the edge (and counted in the legend) */
  yRange?: [number, number];
  hLines?: Array<{ y: number; label?: string }>;
}

export interface Figure {
  title: string;
  xLabel: string;
  panels: Panel[];
  /** fixed x range (default: the data's extent) */
  xRange?: [number, number];
  /** shaded x intervals drawn on every panel, e.g. an outage */
  bands?: Array<{ from: number; to: number; label?: string }>;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toPrecision(2);
}

/** About n "nice" tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && ticks.length < 50; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}

function decimate(points: ReadonlyArray<readonly [number, number]>): ReadonlyArray<readonly [number, number]> {
  if (points.length <= MAX_POINTS_PER_SERIES) return points;
  const buckets = Math.floor(MAX_POINTS_PER_SERIES / 2);
  const per = points.length / buckets;
  const out: Array<readonly [number, number]> = [];
  for (let b = 0; b < buckets; b++) {
    const chunk = points.slice(Math.floor(b * per), Math.floor((b + 1) * per));
    if (chunk.length === 0) continue;
    let lo = chunk[0] as readonly [number, number];
    let hi = lo;
    for (const p of chunk) {
      if (p[1] < lo[1]) lo = p;
      if (p[1] > hi[1]) hi = p;
    }
    out.push(...(lo[0] <= hi[0] ? [lo, hi] : [hi, lo]));
  }
  return out;
}

function extent(values: number[]): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  return [lo, hi];
}

export function renderSvg(fig: Figure): string {
  const xs = fig.panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt[0])));
  const [x0, x1] = fig.xRange ?? extent(xs);
  const plotW = WIDTH_PX - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT_PX - MARGIN.top - MARGIN.bottom;
  const height = PANEL_HEIGHT_PX * fig.panels.length + 30;
  const sx = (x: number): number => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${WIDTH_PX / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(fig.title)}</text>`);
  fig.panels.forEach((panel, pi) => {
    const top = 30 + pi * PANEL_HEIGHT_PX;
    const yVals = panel.series.flatMap((s) => s.points.map((pt) => pt[1]));
    const [y0, y1] = panel.yRange ?? extent([...yVals, ...(panel.hLines ?? []).map((h) => h.y)]);
    const sy = (y: number): number => top + MARGIN.top + (1 - (Math.min(y1, Math.max(y0, y)) - y0) / (y1 - y0)) * plotH;
    const px0 = MARGIN.left, py0 = top + MARGIN.top;
    out.push(`<g>`);
    out.push(`<text x="${px0}" y="${py0 - 10}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    for (const b of fig.bands ?? []) {
      const bx0 = sx(Math.max(x0, b.from)), bx1 = sx(Math.min(x1, b.to));
      if (bx1 <= bx0) continue;
      out.push(`<rect x="${bx0.toFixed(1)}" y="${py0}" width="${(bx1 - bx0).toFixed(1)}" height="${plotH}" fill="#f3d6d6"/>`);
      if (b.label) out.push(`<text x="${((bx0 + bx1) / 2).toFixed(1)}" y="${py0 + 14}" text-anchor="middle" fill="#a33">${esc(b.label)}</text>`);
    }
    for (const t of niceTicks(y0, y1)) {
      const y = sy(t).toFixed(1);
      out.push(`<line x1="${px0}" x2="${px0 + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${px0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
    }
    for (const t of niceTicks(x0, x1)) {
      const x = sx(t).toFixed(1);
      out.push(`<line x1="${x}" x2="${x}" y1="${py0}" y2="${py0 + plotH}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${x}" y="${py0 + plotH + 16}" text-anchor="middle">${fmt(t)}</text>`);
    }
    out.push(`<rect x="${px0}" y="${py0}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
    for (const h of panel.hLines ?? []) {
      if (h.y < y0 || h.y > y1) continue;
      const y = sy(h.y).toFixed(1);
      out.push(`<line x1="${px0}" x2="${px0 + plotW}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="5,4"/>`);
      if (h.label) out.push(`<text x="${px0 + plotW + 4}" y="${y}" dominant-baseline="middle" fill="#555">${esc(h.label)}</text>`);
    }
    out.push(`<text x="${px0 + plotW / 2}" y="${py0 + plotH + 32}" text-anchor="middle">${esc(fig.xLabel)}</text>`);
    out.push(`<text transform="translate(16 ${py0 + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(panel.yLabel)}</text>`);
    panel.series.forEach((s, si) => {
      const color = s.color ?? PALETTE[si % PALETTE.length] ?? '#000';
      const pts = decimate(s.points.filter((p) => p[0] >= x0 && p[0] <= x1));
      const clipped = s.points.filter((p) => p[1] < y0 || p[1] > y1).length;
      const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
      if (d !== '') out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1" stroke-opacity="0.85"/>`);
      const ly = py0 + 10 + si * 16;
      out.push(`<line x1="${px0 + plotW + 10}" x2="${px0 + plotW + 28}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
      out.push(`<text x="${px0 + plotW + 32}" y="${ly}" dominant-baseline="middle">${esc(s.name)}${clipped > 0 ? ` (${clipped} clipped)` : ''}</text>`);
    });
    out.push(`</g>`);
  });
  out.push(`</svg>`);
  return `${out.join('\n')}\n`;
}
