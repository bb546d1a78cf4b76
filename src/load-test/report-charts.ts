/**
 * The script a report runs in the browser (plain ES2020, no imports: it is inlined into the page).
 * `drawChart(id, title, xs, series, marks)` draws one uPlot chart into the element with that id:
 * series are `{label, values, color, unit?, axis?, range?, fill?, bars?}`, marks are vertical lines with a label (scale
 * decisions, cold starts, phase starts). Every chart drawn is kept in `window.sluiceCharts`, and
 * `document.body.dataset.charts` says how many, for whoever checks the page.
 */
export const CHART_SCRIPT = String.raw`
window.sluiceCharts = [];
function drawChart(id, title, xs, series, marks) {
  const el = document.getElementById(id);
  const width = Math.max(320, Math.min(1000, el.clientWidth || 1000));
  const axes = [{ label: 'seconds' }, { label: series[0].unit || '' }];
  const scales = { x: { time: false } };
  if (series.some((s) => s.axis === 'right')) {
    const right = series.find((s) => s.axis === 'right');
    axes.push({ side: 1, scale: 'right', label: right.unit || '', grid: { show: false } });
    scales.right = right.range ? { auto: false, range: right.range } : { auto: true };
  }
  const opts = {
    title, width, height: 260, scales, axes,
    series: [{ label: 't' }].concat(series.map((s) => ({
      label: s.label, stroke: s.color, width: 2, spanGaps: true,
      scale: s.axis === 'right' ? 'right' : 'y',
      fill: s.fill ? s.color + '22' : undefined,
      paths: s.bars ? uPlot.paths.bars({ size: [0.6, 12] }) : undefined,
      points: { show: !!s.points },
    }))),
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.font = (10 * devicePixelRatio) + 'px system-ui, sans-serif';
        for (const m of marks || []) {
          const x = Math.round(u.valToPos(m.t, 'x', true));
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.strokeStyle = m.color; ctx.fillStyle = m.color;
          ctx.setLineDash(m.dash ? [4 * devicePixelRatio, 3 * devicePixelRatio] : []);
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          if (m.label) ctx.fillText(m.label, x + 3 * devicePixelRatio, u.bbox.top + (m.row || 1) * 12 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
  const u = new uPlot(opts, [xs].concat(series.map((s) => s.values)), el);
  window.sluiceCharts.push({ id, series: series.map((s) => s.label), points: xs.length, u });
  document.body.dataset.charts = String(window.sluiceCharts.length);
  return u;
}
`;
