// The dashboard's latency and crawler panels, and the virtual-host selector of the filter bar.
// Durations come only from log formats that record them: without any, the latency panels say how to get them.
import { FILTERS, dateTimeFormat, fmtInt, fmtCompact, axisTimeLabel, $, h, s, withTooltip } from './format.js';
import { view, isFiltered, toggleFilter, changeView, apiParams, getJson, panel, chartWidth, barChart, topPanel, niceTicks } from './core.js';

export const NO_DURATIONS = 'No request durations in these logs: log `$request_time` (nginx) or `%D` (Apache) and set FIRESIGHT_PARSE__LOG_FORMAT';

const fmtMs = (ms) => (ms === null || ms === undefined ? '–' : ms >= 100 ? fmtInt(Math.round(ms)) : String(Math.round(ms * 10) / 10));
const fmtSecs = (ms) => (ms / 1000 >= 100 ? fmtInt(Math.round(ms / 1000)) : String(Math.round(ms / 100) / 10));

const PERCENTILES = [
  { key: 'duration_p50_ms', label: 'p50', cls: 'p50' },
  { key: 'duration_p95_ms', label: 'p95', cls: 'p95' },
  { key: 'duration_p99_ms', label: 'p99', cls: 'p99' },
];

// The summary's latency tiles, when the selection has durations. `figure` draws one tile.
export function durationFigures(data, figure) {
  if (data.duration_p50_ms === null || data.duration_p50_ms === undefined) return [];
  return PERCENTILES.map((p) => figure(p.key, `Latency ${p.label}`, data[p.key], `${fmtMs(data[p.key])} ms`, null, null));
}

// One line per series over time; a gap where a bucket has no value.
function lineChart({ columns, intervalSecs, series, height = 220, width, label }) {
  const margin = { top: 12, right: 12, bottom: 28, left: 56 };
  const plotW = Math.max(40, width - margin.left - margin.right);
  const plotH = height - margin.top - margin.bottom;
  const values = columns.flatMap((c) => series.map((ser) => c.values[ser.key])).filter((v) => v !== null && v !== undefined);
  const ticks = niceTicks(Math.max(1, ...values));
  const top = ticks[ticks.length - 1];
  const y = (value) => margin.top + plotH - (value / top) * plotH;
  const step = plotW / Math.max(1, columns.length);
  const x = (i) => margin.left + i * step + step / 2;
  const chart = s('svg', { class: 'chart lines', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  for (const tick of ticks) {
    chart.append(
      s('line', { class: 'gridline', x1: margin.left, x2: margin.left + plotW, y1: y(tick), y2: y(tick) }),
      s('text', { class: 'axis', x: margin.left - 8, y: y(tick), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, `${fmtCompact(tick)} ms`),
    );
  }
  for (const ser of series) {
    // Runs of buckets with a value, each its own line.
    let run = [];
    const flush = () => {
      if (run.length > 1) chart.append(s('polyline', { class: `line ${ser.cls}`, points: run.join(' ') }));
      run = [];
    };
    columns.forEach((c, i) => {
      const value = c.values[ser.key];
      if (value === null || value === undefined) flush();
      else run.push(`${x(i)},${y(value)}`);
    });
    flush();
  }
  columns.forEach((c, i) => {
    if (series.every((ser) => c.values[ser.key] === null || c.values[ser.key] === undefined)) return;
    const lines = [dateTimeFormat.format(c.start), ...series.map((ser) => `${ser.label}: ${fmtMs(c.values[ser.key])} ms`)];
    const group = withTooltip(s('g', { class: 'point', dataset: { start: c.start.toISOString() } }), lines);
    group.append(s('rect', { class: 'hit', x: margin.left + i * step, y: margin.top, width: step, height: plotH }));
    for (const ser of series) {
      const value = c.values[ser.key];
      if (value !== null && value !== undefined) group.append(s('circle', { class: `dot ${ser.cls}`, cx: x(i), cy: y(value), r: 2.5 }));
    }
    chart.append(group);
  });
  const spanSecs = columns.length * intervalSecs;
  const every = Math.max(1, Math.ceil(90 / step));
  columns.forEach((c, i) => {
    if (i % every === 0) chart.append(s('text', { class: 'axis', x: x(i), y: height - 8, 'text-anchor': 'middle' }, axisTimeLabel(c.start, spanSecs)));
  });
  chart.append(s('line', { class: 'baseline', x1: margin.left, x2: margin.left + plotW, y1: margin.top + plotH, y2: margin.top + plotH }));
  return chart;
}

// The API parameters of the view without one dimension's filter (a selector lists all its values).
function paramsWithout(dim, extra) {
  const params = apiParams(extra, { filters: false });
  for (const f of view.filters) if (f.dim !== dim) params.append(f.dim, f.value);
  return params;
}

export function registerPerfPanels() {
  panel('panel-latency', {
    load: (signal) => getJson('/stats/timeline', apiParams({ metric: 'duration' }), { signal }),
    isEmpty: (data) => data.buckets.every((b) => b.duration_p50_ms === null || b.duration_p50_ms === undefined),
    emptyText: () => NO_DURATIONS,
    render(data, body) {
      const columns = data.buckets.map((b) => ({ start: new Date(b.start), values: b }));
      const points = columns.filter((c) => c.values.duration_p50_ms !== null).length;
      const legend = h('div', { class: 'legend', dataset: { points } },
        PERCENTILES.map((p) => h('span', { class: 'legend-item static' }, h('span', { class: `swatch ${p.cls}`, 'aria-hidden': 'true' }), p.label)));
      body.append(legend, lineChart({
        columns, intervalSecs: data.interval_secs, series: PERCENTILES, width: chartWidth(body),
        label: 'Request duration percentiles over time, in milliseconds',
      }));
    },
  });

  panel('panel-slowest', {
    async load(signal) {
      // The ranking counts only timed requests: the summary tells "no durations" from "too few requests".
      const [top, summary] = await Promise.all([
        getJson('/stats/top/path', apiParams({ rank_by: 'duration_p95', min_requests: 5, limit: 10 }), { signal }),
        getJson('/stats/summary', apiParams(), { signal }),
      ]);
      return { ...top, timed: summary.duration_p50_ms !== null && summary.duration_p50_ms !== undefined, requests: summary.requests };
    },
    isEmpty: (data) => data.buckets.length === 0,
    emptyText: (data) => (data.requests === 0 ? 'No requests match the range and filters.'
      : !data.timed ? NO_DURATIONS : 'No path has 5 timed requests in this range.'),
    render(data, body) {
      const rows = data.buckets.map((b) => {
        const active = isFiltered('path', b.key);
        return h('tr', { dataset: { key: b.key, count: b.count, p95: b.duration_p95_ms } },
          h('td', {}, h('button', {
            type: 'button', class: 'cell-button', 'aria-pressed': active ? 'true' : 'false', dataset: { dim: 'path', key: b.key, count: b.count },
            title: active ? 'Remove this filter' : 'Filter by this path', onclick: () => toggleFilter('path', b.key),
          }, b.key)),
          h('td', { class: 'num' }, fmtInt(b.count)),
          h('td', { class: 'num' }, fmtMs(b.duration_p95_ms)),
          h('td', { class: 'num' }, fmtSecs(b.duration_total_ms)));
      });
      body.append(h('div', { class: 'table-scroll short' },
        h('table', { class: 'data' },
          h('caption', { class: 'visually-hidden' }, 'Slowest paths by 95th percentile duration'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Path'), h('th', { scope: 'col', class: 'num' }, 'Requests'),
            h('th', { scope: 'col', class: 'num' }, 'p95 ms'), h('th', { scope: 'col', class: 'num' }, 'Total s'))),
          h('tbody', {}, rows))),
      h('p', { class: 'note' }, 'Paths with at least 5 timed requests, slowest 95th percentile first.'));
    },
  });

  panel('panel-crawler-categories', {
    load: (signal) => getJson('/stats/top/crawler_category', apiParams({ limit: 10 }), { signal }),
    isEmpty: (data) => data.buckets.length === 0,
    emptyText: () => 'No known crawler in this range.',
    render(data, body) {
      body.append(barChart({
        buckets: data.buckets, width: chartWidth(body), label: 'Crawler requests by category', labelOf: (b) => b.key,
        activeOf: (b) => isFiltered('crawler_category', b.key), onClick: (b) => toggleFilter('crawler_category', b.key),
      }));
    },
  });
  topPanel('panel-crawlers', 'crawler', { limit: 10, emptyText: 'No known crawler in this range.' });

  // The virtual-host selector: a panel of the filter bar, hidden while it has no host to offer.
  const vhosts = panel('vhost-select', {
    load: (signal) => getJson('/stats/top/vhost', paramsWithout('vhost', { limit: 50 }), { signal }),
    render(data, body) {
      const current = view.filters.find((f) => f.dim === 'vhost')?.value ?? '';
      const keys = data.buckets.map((b) => String(b.key));
      if (current && !keys.includes(current)) keys.push(current);
      const select = h('select', {
        id: 'vhost-input', 'aria-label': FILTERS.vhost.label,
        onchange: (event) => changeView((v) => {
          v.filters = v.filters.filter((f) => f.dim !== 'vhost');
          if (event.target.value) v.filters.push({ dim: 'vhost', value: event.target.value });
        }),
      }, h('option', { value: '' }, 'All hosts'), keys.map((key) => {
        const bucket = data.buckets.find((b) => String(b.key) === key);
        return h('option', { value: key, dataset: { count: bucket ? bucket.count : 0 } }, bucket ? `${key} (${fmtInt(bucket.count)})` : key);
      }));
      select.value = current;
      body.append(h('label', { class: 'vhost' }, h('span', { class: 'muted' }, 'Host '), select));
    },
    onDraw: () => {
      $('#vhost-select').hidden = !(vhosts?.data && vhosts.data.buckets.length > 0) && !view.filters.some((f) => f.dim === 'vhost');
    },
  });
}
