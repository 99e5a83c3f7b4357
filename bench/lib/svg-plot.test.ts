// Tests for the hand-written SVG plot renderer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { niceTicks, renderSvg } from './svg-plot.js';

test('renders panels, series, bands and escapes text', () => {
  const svg = renderSvg({
    title: 'a <b> & "c"',
    xLabel: 's',
    bands: [{ from: 2, to: 4, label: 'outage' }],
    panels: [
      { title: 'p1', yLabel: 'µs', yRange: [-10, 10], hLines: [{ y: 5, label: '+5' }], series: [{ name: 'm1', points: [[0, 1], [5, 20], [10, -3]] }] },
      { title: 'p2', yLabel: 'ms', series: [{ name: 'm1', points: [[0, 1], [10, 2]] }, { name: 'm2', points: [] }] },
    ],
  });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /a &lt;b&gt; &amp; &quot;c&quot;/);
  assert.equal((svg.match(/<path /g) ?? []).length, 2); // empty series draws no path
  assert.match(svg, /m1 \(1 clipped\)/);
  assert.match(svg, />outage</);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.doesNotMatch(svg, /NaN/);
});

test('decimates long series but keeps extremes', () => {
  const pts = Array.from({ length: 50_000 }, (_, i) => [i, i === 31_337 ? 1000 : Math.sin(i)] as const);
  const svg = renderSvg({ title: 't', xLabel: 'x', panels: [{ title: 'p', yLabel: 'y', series: [{ name: 's', points: pts }] }] });
  const d = /<path d="([^"]+)"/.exec(svg)?.[1] ?? '';
  assert.ok(d.split('L').length <= 4001, `path has ${d.split('L').length} points`);
  assert.match(svg, />1000</); // y axis reaches the spike
});

test('nice ticks', () => {
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(-100, 100, 4), [-100, -50, 0, 50, 100]);
});
