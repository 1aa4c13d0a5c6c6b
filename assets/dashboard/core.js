// The dashboard's core: the view in the URL, the API client, the panels' loading and drawing, charts.
import { KEY_STORAGE, AUTO_REFRESH_STORAGE, REFRESH_SECONDS, RANGES, DEFAULT_RANGE, FILTERS, clockFormat, hourMinuteFormat, dateTimeFormat, fmtInt, fmtCompact, fmtPercent, axisTimeLabel, $, h, s, deltaBadge, withTooltip } from './format.js';
import { renderControls, apiKeyAccepted, waitingForKey, askForKey, showBanner, hideBanner } from './app.js';

// ---------------------------------------------------------------------------------------------------------
// The view: what the URL says

export let view = readView();

export function readView() {
  const query = new URLSearchParams(location.search);
  const result = { range: DEFAULT_RANGE, from: null, to: null, compare: query.get('compare') === '1', filters: [] };
  const range = query.get('range');
  if (range === 'custom' && isTime(query.get('from')) && (!query.get('to') || isTime(query.get('to')))) {
    result.range = 'custom';
    result.from = query.get('from');
    result.to = query.get('to') || null;
  } else if (range in RANGES) {
    result.range = range;
  }
  for (const [dim, def] of Object.entries(FILTERS)) {
    const values = query.getAll(dim).filter((v) => v !== '');
    for (const value of def.single ? values.slice(0, 1) : values) {
      if (!result.filters.some((f) => f.dim === dim && f.value === value)) result.filters.push({ dim, value });
    }
  }
  return result;
}

// What the API takes as a time: RFC 3339 or relative to now.
export function isTime(text) {
  return Boolean(text) && (/^now(-\d+[smhdw])?$/.test(text) || !Number.isNaN(Date.parse(text)));
}

export function viewQuery(v) {
  const query = new URLSearchParams();
  query.set('range', v.range);
  if (v.range === 'custom') {
    query.set('from', v.from);
    if (v.to) query.set('to', v.to);
  }
  if (v.compare) query.set('compare', '1');
  for (const f of v.filters) query.append(f.dim, f.value);
  return query;
}

// Applies a change to the view: a new history entry (Back undoes it), then every panel reloads.
export function changeView(update) {
  const next = { ...view, filters: [...view.filters] };
  update(next);
  view = next;
  history.pushState(null, '', `?${viewQuery(view)}`);
  reloadView();
}

// What other modules do when the view changed: `before` the panels reload, `after` it (the log table's
// paging and Live stream, in logs.js).
export const viewHooks = { before: [], after: [] };

// Every panel reloads for the current view.
export function reloadView() {
  viewHooks.before.forEach((hook) => hook());
  refreshAll();
  viewHooks.after.forEach((hook) => hook());
}

// The view as the URL says after Back or Forward.
export function setView(next) {
  view = next;
}

export function isFiltered(dim, value) {
  return view.filters.some((f) => f.dim === dim && f.value === value);
}

export function toggleFilter(dim, value) {
  changeView((v) => {
    if (isFiltered(dim, value)) {
      v.filters = v.filters.filter((f) => !(f.dim === dim && f.value === value));
    } else {
      if (FILTERS[dim].single) v.filters = v.filters.filter((f) => f.dim !== dim);
      v.filters.push({ dim, value: String(value) });
    }
  });
}

// The API parameters of the view: its range and filters, plus `extra`.
export function apiParams(extra = {}, { compare = false, filters = true } = {}) {
  const params = new URLSearchParams();
  if (view.range === 'custom') {
    params.set('from', view.from);
    if (view.to) params.set('to', view.to);
  } else {
    params.set('from', RANGES[view.range].from);
  }
  if (filters) for (const f of view.filters) params.append(f.dim, f.value);
  if (compare && view.compare) params.set('compare', 'previous_period');
  for (const [name, value] of Object.entries(extra)) {
    if (value !== null && value !== undefined) params.set(name, value);
  }
  return params;
}

// ---------------------------------------------------------------------------------------------------------
// The API

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(status, message, { field = null, requestId = null } = {}) {
    super(field ? `${field}: ${message}` : message);
    this.status = status;
    this.requestId = requestId;
  }
}

export let apiKey = sessionStorage.getItem(KEY_STORAGE) || '';

export async function api(path, params, { signal, key = apiKey } = {}) {
  const query = params && params.toString() ? `?${params}` : '';
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(`/v1${path}${query}`, { headers, signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'Cannot reach the firesight service. Is it running?');
  }
  if (response.status === 401) throw new AuthError('The API key was refused.');
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      // not a problem document: the status line says it
    }
    const detail = problem.detail || problem.title || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail, { field: problem.field, requestId: problem.request_id });
  }
  return response;
}

// The key the user typed in, once the service accepted it.
export function setApiKey(key) {
  apiKey = key;
}

export async function getJson(path, params, options) {
  return (await api(path, params, options)).json();
}

// ---------------------------------------------------------------------------------------------------------
// Panels: each loads its data, then draws itself from it (again on resize, without a request)

export const panels = [];

export function panel(id, { load, render, isEmpty = () => false, emptyText = () => 'Nothing in this range.', auto = () => true, onDraw = () => {} }) {
  const section = document.getElementById(id);
  const entry = { id, section, body: section.querySelector('.body'), load, render, isEmpty, emptyText, auto, onDraw, data: null, error: null };
  panels.push(entry);
  return entry;
}

export function setPanelState(entry, state) {
  entry.section.dataset.state = state;
  entry.section.setAttribute('aria-busy', state === 'loading' || state === 'refreshing' ? 'true' : 'false');
}

export function draw(entry) {
  const { body } = entry;
  // A bucket that had the keyboard focus gets it back once the panel is drawn again.
  const focused = body.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused?.dataset?.key;
  body.replaceChildren();
  if (entry.error) {
    body.append(
      h('div', { class: 'state error' },
        h('p', {}, `Could not load this panel: ${entry.error.message}`,
          entry.error.requestId ? h('small', { class: 'request-id' }, `request id ${entry.error.requestId}`) : null),
        h('button', { type: 'button', onclick: () => reloadPanel(entry) }, 'Try again')),
    );
    setPanelState(entry, 'error');
  } else if (entry.data === null && waitingForKey) {
    body.append(h('div', { class: 'state' }, 'Waiting for an API key.'));
    setPanelState(entry, 'waiting');
  } else if (entry.data === null) {
    body.append(h('div', { class: 'state loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading…'));
    setPanelState(entry, 'loading');
  } else if (entry.isEmpty(entry.data)) {
    body.append(h('div', { class: 'state empty' }, entry.emptyText(entry.data)));
    setPanelState(entry, 'empty');
  } else {
    entry.render(entry.data, body);
    setPanelState(entry, 'ready');
  }
  if (focused) {
    const again = focusKey !== undefined ? [...body.querySelectorAll('[data-key]')].find((n) => n.dataset.key === focusKey && n.tagName === focused.tagName) : null;
    (again || entry.section.querySelector('h2')).focus({ preventScroll: true });
  }
  entry.onDraw();
}

export async function loadPanel(entry, signal, generationAtStart) {
  if (entry.data === null && !entry.error) draw(entry);
  else setPanelState(entry, 'refreshing');
  try {
    const data = await entry.load(signal);
    if (generationAtStart !== generation) return;
    entry.data = data;
    entry.error = null;
  } catch (error) {
    if (error.name === 'AbortError' || generationAtStart !== generation) return;
    if (error instanceof AuthError) throw error;
    entry.data = null;
    entry.error = error;
  }
  draw(entry);
}

export async function reloadPanel(entry) {
  entry.error = null;
  entry.data = null;
  try {
    await loadPanel(entry, controller?.signal, generation);
  } catch (error) {
    if (error instanceof AuthError) askForKey('The API key was refused; enter it again.');
  }
}

// One counter per round of loading: answers of a round that was overtaken are dropped.
export let generation = 0;
export let controller = null;
export let refreshTimer = null;
export let lastUpdated = null;

export async function refreshAll({ automatic = false } = {}) {
  generation += 1;
  const round = generation;
  controller?.abort();
  controller = new AbortController();
  clearTimeout(refreshTimer);
  document.body.dataset.state = 'loading';
  document.body.dataset.refresh = automatic ? 'auto' : 'view';
  renderControls();
  hideBanner();
  const due = automatic ? panels.filter((p) => p.auto()) : panels;
  try {
    await Promise.all(due.map((entry) => loadPanel(entry, controller.signal, round)));
  } catch (error) {
    if (error instanceof AuthError && round === generation) {
      controller.abort();
      askForKey('The API key was refused; enter it again.');
      return;
    }
    throw error;
  }
  if (round !== generation) return;
  const failed = due.filter((p) => p.error);
  if (failed.length === due.length && due.length > 1) {
    // The same refusal everywhere is about the view (a bad range in a shared link), not a panel.
    showBanner(`The dashboard could not load this view: ${failed[0].error.message}`, failed[0].error.status === 400
      ? { label: 'Back to the last 24 hours', action: () => changeView((v) => Object.assign(v, { range: DEFAULT_RANGE, from: null, to: null })) }
      : { label: 'Try again', action: () => refreshAll() });
  } else {
    lastUpdated = new Date();
    renderUpdated();
  }
  document.body.dataset.state = 'ready';
  document.body.dataset.generation = String(round);
  scheduleRefresh();
}

export function autoRefreshOn() {
  return sessionStorage.getItem(AUTO_REFRESH_STORAGE) !== 'off';
}

export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!autoRefreshOn() || !apiKeyAccepted) return;
  refreshTimer = setTimeout(() => {
    if (document.visibilityState === 'visible') refreshAll({ automatic: true });
  }, REFRESH_SECONDS * 1000);
}

document.addEventListener('visibilitychange', () => {
  // A tab that comes back after its refresh was due catches up at once.
  if (document.visibilityState !== 'visible' || !autoRefreshOn() || !lastUpdated || !apiKeyAccepted) return;
  if (Date.now() - lastUpdated.getTime() >= REFRESH_SECONDS * 1000 && document.body.dataset.state === 'ready') {
    refreshAll({ automatic: true });
  }
});

export function renderUpdated() {
  const node = $('#updated');
  if (!lastUpdated) {
    node.textContent = '';
    return;
  }
  node.textContent = `Updated ${clockFormat.format(lastUpdated)}`;
  node.title = lastUpdated.toString();
}

// ---------------------------------------------------------------------------------------------------------
// Charts (SVG)

// Round axis steps: 1, 2 or 5 times a power of ten, about `count` of them up to `max`.
export function niceTicks(max, count = 4) {
  if (max <= 0) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  // Whole requests: never a step below 1.
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw));
  const ticks = [];
  for (let value = 0; value <= max + step * 0.999; value += step) ticks.push(Math.round(value * 1e6) / 1e6);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

// Columns over time, each a stack of series. `columns`: [{start: Date, values: {key: n}}];
// `series`: [{key, label, cls}], bottom first; `previous`: totals of the period before, or null.
export function timeChart({ columns, intervalSecs, series, previous = null, height = 220, width, label, onSeriesClick, bands = [] }) {
  const margin = { top: 12, right: 12, bottom: 28, left: 48 };
  const plotW = Math.max(40, width - margin.left - margin.right);
  const plotH = height - margin.top - margin.bottom;
  const totals = columns.map((c) => series.reduce((sum, ser) => sum + (c.values[ser.key] || 0), 0));
  const max = Math.max(1, ...totals, ...(previous || []));
  const ticks = niceTicks(max);
  const top = ticks[ticks.length - 1];
  const y = (value) => margin.top + plotH - (value / top) * plotH;
  const step = plotW / Math.max(1, columns.length);
  const barW = Math.max(1, Math.min(step * 0.78, 48));
  const spanSecs = columns.length * intervalSecs;

  const chart = s('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  for (const band of bands) {
    const x0 = margin.left + band.from * step;
    chart.append(withTooltip(s('rect', { class: `band ${band.cls || ''}`, x: x0, y: margin.top, width: Math.max(2, (band.to - band.from) * step), height: plotH }), band.lines));
  }
  for (const tick of ticks) {
    chart.append(
      s('line', { class: 'gridline', x1: margin.left, x2: margin.left + plotW, y1: y(tick), y2: y(tick) }),
      s('text', { class: 'axis', x: margin.left - 8, y: y(tick), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, fmtCompact(tick)),
    );
  }
  columns.forEach((column, i) => {
    const x = margin.left + i * step + (step - barW) / 2;
    const end = new Date(column.start.getTime() + intervalSecs * 1000);
    const lines = [`${dateTimeFormat.format(column.start)} – ${hourMinuteFormat.format(end)}`, `${fmtInt(totals[i])} total`];
    for (const ser of series) if (column.values[ser.key]) lines.push(`${ser.label}: ${fmtInt(column.values[ser.key])}`);
    if (previous) lines.push(`previous period: ${fmtInt(previous[i] ?? 0)}`);
    const group = withTooltip(s('g', { class: 'column' }), lines);
    group.append(s('rect', { class: 'hit', x: margin.left + i * step, y: margin.top, width: step, height: plotH }));
    let base = 0;
    for (const ser of series) {
      const value = column.values[ser.key] || 0;
      if (!value) continue;
      const rect = s('rect', { class: `seg ${ser.cls}`, x, y: y(base + value), width: barW, height: Math.max(0.5, y(base) - y(base + value)) });
      if (onSeriesClick) rect.addEventListener('click', () => onSeriesClick(ser.key));
      group.append(rect);
      base += value;
    }
    chart.append(group);
  });
  if (previous) {
    const points = previous.map((value, i) => `${margin.left + i * step + step / 2},${y(value)}`).join(' ');
    chart.append(s('polyline', { class: 'previous', points }));
  }
  // Time labels at least 90 px apart.
  const every = Math.max(1, Math.ceil(90 / step));
  columns.forEach((column, i) => {
    if (i % every !== 0) return;
    chart.append(s('text', { class: 'axis', x: margin.left + i * step + step / 2, y: height - 8, 'text-anchor': 'middle' }, axisTimeLabel(column.start, spanSecs)));
  });
  chart.append(s('line', { class: 'baseline', x1: margin.left, x2: margin.left + plotW, y1: margin.top + plotH, y2: margin.top + plotH }));
  return chart;
}

// Horizontal bars, one per bucket, each a button for the keyboard as well.
export function barChart({ buckets, width, label, labelOf, onClick, activeOf }) {
  const rowH = 26;
  const labelW = Math.min(170, Math.max(90, width * 0.3));
  const countW = 64;
  const plotW = Math.max(40, width - labelW - countW - 12);
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const height = buckets.length * rowH + 4;
  const chart = s('svg', { class: 'chart bars', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': label });
  buckets.forEach((bucket, i) => {
    const y0 = i * rowH + 2;
    const name = labelOf(bucket);
    const group = s('g', {
      class: `bar-row${activeOf(bucket) ? ' active' : ''}`, tabindex: 0, role: 'button',
      'aria-pressed': activeOf(bucket) ? 'true' : 'false',
      'aria-label': `${name}: ${fmtInt(bucket.count)} requests. Filter by it`,
      dataset: { key: bucket.key, count: bucket.count },
    });
    group.append(
      s('rect', { class: 'hit', x: 0, y: y0, width, height: rowH - 2 }),
      s('text', { class: 'label', x: labelW - 8, y: y0 + rowH / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, truncate(name, Math.floor(labelW / 7.5))),
      s('rect', { class: 'bar', x: labelW, y: y0 + 4, width: Math.max(2, (bucket.count / max) * plotW), height: rowH - 10, rx: 3 }),
      s('text', { class: 'value', x: labelW + Math.max(2, (bucket.count / max) * plotW) + 6, y: y0 + rowH / 2, 'dominant-baseline': 'middle' }, fmtCompact(bucket.count)),
      s('title', {}, `${name}: ${fmtInt(bucket.count)}`),
    );
    group.addEventListener('click', () => onClick(bucket));
    group.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        onClick(bucket);
      }
    });
    chart.append(group);
  });
  return chart;
}

export function truncate(text, max) {
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}

// The share of the largest value as a bar behind a list row.
export function rowBar(ratio, cls = '') {
  return s('svg', { class: 'rowbar', viewBox: '0 0 1000 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
    s('rect', { class: cls, x: 0, y: 0, height: 10, width: Math.max(4, Math.round(ratio * 1000)) }));
}

export function chartWidth(body) {
  return Math.max(260, Math.floor(body.clientWidth || body.parentElement.clientWidth - 32));
}

// ---------------------------------------------------------------------------------------------------------
// Top-N lists

export function topPanel(id, dim, { limit = 8, labelOf = (b) => b.key, clsOf = () => '', emptyText = 'No requests with this in the range.' } = {}) {
  return panel(id, {
    load: (signal) => getJson(`/stats/top/${dim}`, apiParams({ limit }, { compare: true }), { signal }),
    isEmpty: (data) => data.buckets.length === 0,
    emptyText: (data) => (data.total === 0 ? 'No requests match the range and filters.' : emptyText),
    render: (data, body) => body.append(topList(data, dim, { labelOf, clsOf })),
  });
}

export function topList(data, dim, { labelOf, clsOf }) {
  const max = Math.max(1, ...data.buckets.map((b) => b.count));
  const compare = view.compare && data.previous && data.previous.total > 0;
  const list = h('ol', { class: 'toplist', dataset: { total: data.total } });
  for (const bucket of data.buckets) {
    const name = labelOf(bucket);
    const active = isFiltered(dim, bucket.key);
    list.append(h('li', {},
      h('button', {
        type: 'button', class: 'bucket', 'aria-pressed': active ? 'true' : 'false',
        title: active ? `Remove the filter ${name}` : `Filter by ${name}`,
        dataset: { dim, key: bucket.key, count: bucket.count },
        onclick: () => toggleFilter(dim, bucket.key),
      },
      rowBar(bucket.count / max, clsOf(bucket)),
      h('span', { class: 'name' }, name),
      h('span', { class: 'count' }, fmtInt(bucket.count)),
      h('span', { class: 'share' }, fmtPercent(bucket.share)),
      compare ? deltaBadge(bucket.change) ?? h('span', { class: 'delta new', title: 'None in the previous period' }, 'new') : null)));
  }
  const notes = [];
  if (data.other > 0) notes.push(`${fmtInt(data.other)} in other values`);
  if (data.missing > 0) notes.push(`${fmtInt(data.missing)} without a value`);
  if (data.distinct) notes.push(`${fmtInt(data.distinct)} distinct`);
  if (view.compare && data.previous && data.previous.total === 0) notes.push('none in the previous period');
  return h('div', {}, list, notes.length ? h('p', { class: 'note' }, notes.join(' · ')) : null);
}
