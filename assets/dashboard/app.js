// firesight's built-in dashboard: a client of the public /v1 API and nothing else. No framework and no
// build step: the service embeds this file as it is. The view (time range, comparison, filters) lives in
// the page URL so a view can be shared; the API key lives in this tab's session storage.
//
// Every value that comes from the logs (paths, referrers, user agents) is put into the page as text, never
// parsed as markup, and the page's Content-Security-Policy allows no inline script or style.

const SVG_NS = 'http://www.w3.org/2000/svg';
const KEY_STORAGE = 'firesight.apiKey';
const AUTO_REFRESH_STORAGE = 'firesight.autoRefresh';
const REFRESH_SECONDS = 60;

const RANGES = {
  '15m': { from: 'now-15m', title: 'Last 15 minutes' },
  '1h': { from: 'now-1h', title: 'Last hour' },
  '24h': { from: 'now-24h', title: 'Last 24 hours' },
  '7d': { from: 'now-7d', title: 'Last 7 days' },
};
const DEFAULT_RANGE = '24h';

// The API's filter parameters, in the order their chips are shown. `single` ones take one value.
const FILTERS = {
  country: { label: 'Country' },
  city: { label: 'City' },
  browser: { label: 'Browser' },
  os: { label: 'OS' },
  device: { label: 'Device' },
  status: { label: 'Status' },
  method: { label: 'Method' },
  path: { label: 'Path' },
  path_prefix: { label: 'Path prefix', single: true },
  referrer_host: { label: 'Referrer' },
  client_ip: { label: 'Client IP' },
  bot: { label: 'Bots', single: true },
  q: { label: 'Search', single: true },
};

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

// ---------------------------------------------------------------------------------------------------------
// Formatting

const numberFormat = new Intl.NumberFormat();
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const hourMinuteFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dayHourFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const regionNames = (() => {
  try {
    return new Intl.DisplayNames(undefined, { type: 'region' });
  } catch {
    return null;
  }
})();
const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const fmtInt = (n) => numberFormat.format(n ?? 0);
const plural = (n, one, many) => `${fmtInt(n)} ${n === 1 ? one : many}`;
const fmtCompact = (n) => compactFormat.format(n);

// Shares and rates: "39%", "4.3%", "0.03%" (a small share stays visible), "0%".
function fmtPercent(ratio, { precise = false } = {}) {
  const pct = Math.abs((ratio ?? 0) * 100);
  if (pct === 0) return '0%';
  const digits = pct < 0.1 ? 2 : pct < 10 || precise ? 1 : 0;
  return `${pct.toFixed(digits)}%`;
}

function fmtBytes(bytes) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes ?? 0;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

// A relative change (0.25) as "+25%", a fall as "−3.4%" with a real minus sign.
function fmtChange(change) {
  const pct = change * 100;
  const digits = Math.abs(pct) < 10 ? 1 : 0;
  const text = Math.abs(pct).toFixed(digits);
  if (Number(text) === 0) return '±0%';
  return `${pct > 0 ? '+' : '\u2212'}${text}%`;
}

// A difference of two ratios in percentage points.
function fmtPoints(diff) {
  const pts = diff * 100;
  const text = Math.abs(pts).toFixed(1);
  if (Number(text) === 0) return '±0 pp';
  return `${pts > 0 ? '+' : '\u2212'}${text} pp`;
}

function countryName(code) {
  if (!code) return '';
  try {
    return regionNames?.of(code.toUpperCase()) || code;
  } catch {
    return code;
  }
}

function filterValueLabel(dim, value) {
  if (dim === 'country') return `${countryName(value)} (${value})`;
  if (dim === 'bot') return value === 'true' ? 'only' : 'excluded';
  return value;
}

function axisTimeLabel(date, spanSecs) {
  if (spanSecs <= 36 * 3600) return hourMinuteFormat.format(date);
  if (spanSecs <= 8 * 86400) return dayHourFormat.format(date);
  return dayFormat.format(date);
}

const pad2 = (n) => String(n).padStart(2, '0');

// What a datetime-local input holds: local time to the minute.
function toLocalInput(date) {
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}T${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

// A log line's time, local, sortable: 2026-11-26 07:21:04 (the date goes above the time on a phone).
function logTime(date) {
  const [day, time] = toLocalInput(date).split('T');
  return [h('span', { class: 'date' }, day), ' ', `${time}:${pad2(date.getSeconds())}`];
}

// ---------------------------------------------------------------------------------------------------------
// DOM helpers

const $ = (selector) => document.querySelector(selector);

// An HTML element. Children are nodes or strings (always text, never markup).
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// An SVG element.
function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
}

function deltaBadge(change, { invert = false, points = false } = {}) {
  if (change === null || change === undefined || Number.isNaN(change)) return null;
  const text = points ? fmtPoints(change) : fmtChange(change);
  const rounded = Math.round(change * 1000);
  const direction = rounded === 0 ? 'flat' : rounded > 0 ? 'up' : 'down';
  const good = direction === 'flat' ? 'neutral' : (direction === 'up') !== invert ? 'good' : 'bad';
  return h('span', { class: `delta ${direction} ${good}`, title: 'Change from the previous period' }, text);
}

const tooltip = {
  show(event, lines) {
    const box = $('#tooltip');
    box.replaceChildren(...lines.map((line, i) => h(i === 0 ? 'strong' : 'span', {}, line)));
    box.hidden = false;
    const { innerWidth, innerHeight } = window;
    const rect = box.getBoundingClientRect();
    let x = event.clientX + 14;
    let y = event.clientY + 14;
    if (x + rect.width > innerWidth - 8) x = event.clientX - rect.width - 14;
    if (y + rect.height > innerHeight - 8) y = event.clientY - rect.height - 14;
    box.style.left = `${Math.max(4, x)}px`;
    box.style.top = `${Math.max(4, y)}px`;
  },
  hide() {
    $('#tooltip').hidden = true;
  },
};

// Pointer hover shows a tooltip; the same text is the element's accessible name.
function withTooltip(node, lines) {
  node.setAttribute('aria-label', lines.join(', '));
  node.addEventListener('pointermove', (event) => tooltip.show(event, lines));
  node.addEventListener('pointerleave', () => tooltip.hide());
  return node;
}

// ---------------------------------------------------------------------------------------------------------
// The view: what the URL says

let view = readView();

function readView() {
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
function isTime(text) {
  return Boolean(text) && (/^now(-\d+[smhdw])?$/.test(text) || !Number.isNaN(Date.parse(text)));
}

function viewQuery(v) {
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
function changeView(update) {
  const next = { ...view, filters: [...view.filters] };
  update(next);
  view = next;
  history.pushState(null, '', `?${viewQuery(view)}`);
  logs.reset();
  refreshAll();
  if (live.on) restartLive();
}

function isFiltered(dim, value) {
  return view.filters.some((f) => f.dim === dim && f.value === value);
}

function toggleFilter(dim, value) {
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
function apiParams(extra = {}, { compare = false, filters = true } = {}) {
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

class AuthError extends Error {}

class ApiError extends Error {
  constructor(status, message, { field = null, requestId = null } = {}) {
    super(field ? `${field}: ${message}` : message);
    this.status = status;
    this.requestId = requestId;
  }
}

let apiKey = sessionStorage.getItem(KEY_STORAGE) || '';

async function api(path, params, { signal, key = apiKey } = {}) {
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

async function getJson(path, params, options) {
  return (await api(path, params, options)).json();
}

// ---------------------------------------------------------------------------------------------------------
// Panels: each loads its data, then draws itself from it (again on resize, without a request)

const panels = [];

function panel(id, { load, render, isEmpty = () => false, emptyText = () => 'Nothing in this range.', auto = () => true, onDraw = () => {} }) {
  const section = document.getElementById(id);
  const entry = { id, section, body: section.querySelector('.body'), load, render, isEmpty, emptyText, auto, onDraw, data: null, error: null };
  panels.push(entry);
  return entry;
}

function setPanelState(entry, state) {
  entry.section.dataset.state = state;
  entry.section.setAttribute('aria-busy', state === 'loading' || state === 'refreshing' ? 'true' : 'false');
}

function draw(entry) {
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

async function loadPanel(entry, signal, generationAtStart) {
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

async function reloadPanel(entry) {
  entry.error = null;
  entry.data = null;
  try {
    await loadPanel(entry, controller?.signal, generation);
  } catch (error) {
    if (error instanceof AuthError) askForKey('The API key was refused; enter it again.');
  }
}

// One counter per round of loading: answers of a round that was overtaken are dropped.
let generation = 0;
let controller = null;
let refreshTimer = null;
let lastUpdated = null;

async function refreshAll({ automatic = false } = {}) {
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

function autoRefreshOn() {
  return sessionStorage.getItem(AUTO_REFRESH_STORAGE) !== 'off';
}

function scheduleRefresh() {
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

function renderUpdated() {
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
function niceTicks(max, count = 4) {
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
function timeChart({ columns, intervalSecs, series, previous = null, height = 220, width, label, onSeriesClick, bands = [] }) {
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
function barChart({ buckets, width, label, labelOf, onClick, activeOf }) {
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

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}

// The share of the largest value as a bar behind a list row.
function rowBar(ratio, cls = '') {
  return s('svg', { class: 'rowbar', viewBox: '0 0 1000 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
    s('rect', { class: cls, x: 0, y: 0, height: 10, width: Math.max(4, Math.round(ratio * 1000)) }));
}

function chartWidth(body) {
  return Math.max(260, Math.floor(body.clientWidth || body.parentElement.clientWidth - 32));
}

// ---------------------------------------------------------------------------------------------------------
// Top-N lists

function topPanel(id, dim, { limit = 8, labelOf = (b) => b.key, clsOf = () => '', emptyText = 'No requests with this in the range.' } = {}) {
  return panel(id, {
    load: (signal) => getJson(`/stats/top/${dim}`, apiParams({ limit }, { compare: true }), { signal }),
    isEmpty: (data) => data.buckets.length === 0,
    emptyText: (data) => (data.total === 0 ? 'No requests match the range and filters.' : emptyText),
    render: (data, body) => body.append(topList(data, dim, { labelOf, clsOf })),
  });
}

function topList(data, dim, { labelOf, clsOf }) {
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

// ---------------------------------------------------------------------------------------------------------
// The panels

let serviceInfo = null;

panel('panel-summary', {
  load: (signal) => getJson('/stats/summary', apiParams({}, { compare: true }), { signal }),
  render(data, body) {
    const change = data.change || {};
    // Against a previous period without traffic every change is "new": say that once instead.
    const previous = data.previous && data.previous.requests > 0 ? data.previous : null;
    const figure = (key, labelText, value, text, delta, extra) => h('div', { class: 'figure', dataset: { figure: key, value } },
      h('span', { class: 'label' }, labelText),
      h('span', { class: 'value' }, text),
      h('span', { class: 'foot' }, delta, extra ? h('span', { class: 'muted' }, extra) : null));
    const rateDelta = (key) => (previous ? deltaBadge(data[key] - previous[key], { invert: true, points: true }) : null);
    const countDelta = (key) => {
      if (!previous) return null;
      if (change[key] !== undefined) return deltaBadge(change[key]);
      return data[key] > 0 ? h('span', { class: 'delta neutral', title: 'None in the previous period' }, 'new') : null;
    };
    const figures = h('div', { class: 'figures' },
      figure('requests', 'Requests', data.requests, fmtInt(data.requests), countDelta('requests'),
        previous ? `was ${fmtInt(previous.requests)}` : data.previous ? 'none in the previous period' : null),
      figure('unique_visitors', 'Unique visitors', data.unique_visitors, fmtInt(data.unique_visitors), countDelta('unique_visitors'),
        `${fmtInt(data.unique_client_ips)} IPs`),
      figure('bytes', 'Data sent', data.bytes, fmtBytes(data.bytes), countDelta('bytes'),
        data.bytes_p50 ? `median ${fmtBytes(data.bytes_p50)}` : null),
      figure('error_rate_4xx', 'Client errors (4xx)', data.error_rate_4xx, fmtPercent(data.error_rate_4xx, { precise: true }), rateDelta('error_rate_4xx'),
        plural(data.status_4xx, 'request', 'requests')),
      figure('error_rate_5xx', 'Server errors (5xx)', data.error_rate_5xx, fmtPercent(data.error_rate_5xx, { precise: true }), rateDelta('error_rate_5xx'),
        plural(data.status_5xx, 'request', 'requests')),
      figure('bot_share', 'Bot share', data.bot_share, fmtPercent(data.bot_share, { precise: true }), previous ? deltaBadge(data.bot_share - previous.bot_share, { points: true, invert: true }) : null,
        plural(data.bot_requests, 'request', 'requests')),
    );
    body.append(figures, botSwitch());
    renderResolvedRange(data);
  },
});

// All traffic, people only, or bots only: the API's `bot` filter.
function botSwitch() {
  const current = view.filters.find((f) => f.dim === 'bot')?.value ?? '';
  const choices = [['', 'All traffic'], ['false', 'Without bots'], ['true', 'Bots only']];
  return h('div', { class: 'segmented small', role: 'group', 'aria-label': 'Bots' },
    choices.map(([value, label]) => h('button', {
      type: 'button', 'aria-pressed': value === current ? 'true' : 'false', dataset: { bot: value },
      onclick: () => changeView((v) => {
        v.filters = v.filters.filter((f) => f.dim !== 'bot');
        if (value) v.filters.push({ dim: 'bot', value });
      }),
    }, label)));
}

function renderResolvedRange(data) {
  const from = new Date(data.from);
  const to = new Date(data.to);
  let text = `${dateTimeFormat.format(from)} – ${dateTimeFormat.format(to)}`;
  if (data.previous) text += ` · compared with ${dateTimeFormat.format(new Date(data.previous.from))} – ${dateTimeFormat.format(new Date(data.previous.to))}`;
  $('#resolved-range').textContent = text;
}

const STATUS_SERIES = STATUS_CLASSES.map((cls) => ({ key: cls, label: cls, cls: `s${cls[0]}` }));

panel('panel-timeline', {
  load: (signal) => getJson('/stats/timeline', apiParams({ split: 'status_class' }, { compare: true }), { signal }),
  isEmpty: (data) => data.buckets.every((b) => b.count === 0),
  emptyText: () => 'No requests in this range. Try a longer range or fewer filters.',
  render(data, body) {
    const columns = data.buckets.map((b) => ({ start: new Date(b.start), values: b.split || { '2xx': b.count } }));
    const present = STATUS_SERIES.filter((ser) => columns.some((c) => c.values[ser.key]));
    const previous = data.previous ? data.buckets.map((_, i) => data.previous.buckets[i]?.count ?? 0) : null;
    const total = data.buckets.reduce((sum, b) => sum + b.count, 0);
    const legend = h('div', { class: 'legend', dataset: { total } });
    for (const ser of present) {
      const count = columns.reduce((sum, c) => sum + (c.values[ser.key] || 0), 0);
      const active = isFiltered('status', ser.key);
      legend.append(h('button', {
        type: 'button', class: 'legend-item', 'aria-pressed': active ? 'true' : 'false', dataset: { dim: 'status', key: ser.key, count },
        title: active ? `Remove the filter ${ser.key}` : `Filter by ${ser.key}`, onclick: () => toggleFilter('status', ser.key),
      }, h('span', { class: `swatch ${ser.cls}`, 'aria-hidden': 'true' }), `${ser.label} `, h('span', { class: 'muted' }, fmtInt(count))));
    }
    if (previous) {
      legend.append(h('span', { class: 'legend-item static' }, h('span', { class: 'swatch previous', 'aria-hidden': 'true' }),
        'previous period ', data.previous.change !== null && data.previous.change !== undefined ? deltaBadge(data.previous.change) : null));
    }
    const interval = data.interval_secs >= 3600 ? `${data.interval_secs / 3600} h` : data.interval_secs >= 60 ? `${data.interval_secs / 60} min` : `${data.interval_secs} s`;
    legend.append(h('span', { class: 'legend-item static muted' }, `${fmtInt(total)} requests · one bar per ${interval}`));
    body.append(legend, timeChart({
      columns, intervalSecs: data.interval_secs, series: present, previous, width: chartWidth(body),
      label: `Requests over time, ${fmtInt(total)} in all`, onSeriesClick: (key) => toggleFilter('status', key),
    }));
  },
});

panel('panel-countries', {
  load: (signal) => getJson('/stats/geo', apiParams({ city_limit: 1 }, { compare: true }), { signal }),
  isEmpty: (data) => data.countries.length === 0,
  emptyText: () => 'No located requests match. (Countries come from a GeoIP database: FIRESIGHT_GEOIP__CITY_DB.)',
  render(data, body) {
    const labelOf = (c) => c.name || countryName(c.iso_code);
    const compare = view.compare && data.countries.some((c) => c.previous_count > 0);
    const top = data.countries.slice(0, 10).map((c) => ({ ...c, key: c.iso_code }));
    const wide = chartWidth(body) >= 640;
    const chart = barChart({
      buckets: top, width: wide ? Math.floor((chartWidth(body) - 24) / 2) : chartWidth(body),
      label: 'Top countries by requests', labelOf, activeOf: (b) => isFiltered('country', b.key),
      onClick: (b) => toggleFilter('country', b.key),
    });
    const rows = data.countries.map((c) => {
      const active = isFiltered('country', c.iso_code);
      const change = c.previous_count ? (c.count - c.previous_count) / c.previous_count : null;
      return h('tr', { dataset: { key: c.iso_code, count: c.count } },
        h('td', {}, h('button', {
          type: 'button', class: 'cell-button', 'aria-pressed': active ? 'true' : 'false',
          dataset: { dim: 'country', key: c.iso_code, count: c.count },
          title: active ? 'Remove this filter' : 'Filter by this country', onclick: () => toggleFilter('country', c.iso_code),
        }, h('span', { class: 'code' }, c.iso_code), labelOf(c))),
        h('td', { class: 'num' }, fmtInt(c.count)),
        h('td', { class: 'num' }, fmtPercent(c.share)),
        compare ? h('td', { class: 'num' }, deltaBadge(change) ?? (c.previous_count === 0 ? h('span', { class: 'delta new' }, 'new') : '')) : null);
    });
    const table = h('div', { class: 'table-scroll short' },
      h('table', { class: 'data' },
        h('caption', { class: 'visually-hidden' }, 'Requests by country'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Country'), h('th', { scope: 'col', class: 'num' }, 'Requests'),
          h('th', { scope: 'col', class: 'num' }, 'Share'), compare ? h('th', { scope: 'col', class: 'num' }, 'Change') : null)),
        h('tbody', {}, rows)));
    body.append(h('div', { class: `split${wide ? ' wide' : ''}`, dataset: { located: data.located } }, h('div', { class: 'chart-box' }, chart), table),
      h('p', { class: 'note' }, `${fmtInt(data.located)} located requests in ${plural(data.countries.length, 'country', 'countries')}; shares are of located requests.`));
  },
});

topPanel('panel-cities', 'city', { limit: 8, emptyText: 'No requests in this range have a city.' });
topPanel('panel-browsers', 'browser', { limit: 8 });
topPanel('panel-os', 'os', { limit: 8 });
topPanel('panel-devices', 'device', { limit: 8 });
topPanel('panel-paths', 'path', { limit: 10 });
topPanel('panel-referrers', 'referrer_host', { limit: 10, emptyText: 'No request in this range came with a referrer.' });
topPanel('panel-status', 'status', { limit: 10, clsOf: (b) => `s${String(b.key)[0]}` });

panel('panel-heatmap', {
  load: (signal) => getJson('/stats/visit-times', apiParams({ tz: timeZone }), { signal }),
  isEmpty: (data) => data.counts.every((row) => row.every((n) => n === 0)),
  emptyText: () => 'No requests in this range.',
  render(data, body) {
    $('#heatmap-tz').textContent = `requests by weekday and hour, ${data.time_zone}`;
    body.append(heatmap(data, chartWidth(body)));
  },
});

function heatmap(data, width) {
  const labelW = 40;
  const cell = Math.max(8, Math.min(34, Math.floor((width - labelW - 4) / 24)));
  const gap = cell > 14 ? 2 : 1;
  const top = 18;
  const height = top + 7 * cell + 34;
  const svgWidth = labelW + 24 * cell + 4;
  const max = Math.max(1, ...data.counts.flat());
  const total = data.counts.flat().reduce((a, b) => a + b, 0);
  const chart = s('svg', { class: 'chart heatmap', width: svgWidth, height, viewBox: `0 0 ${svgWidth} ${height}`, role: 'img',
    'aria-label': `Requests by weekday and hour in ${data.time_zone}`, dataset: { total } });
  const hourEvery = cell >= 22 ? 2 : cell >= 12 ? 3 : 6;
  for (let hour = 0; hour < 24; hour += hourEvery) {
    chart.append(s('text', { class: 'axis', x: labelW + hour * cell + cell / 2, y: top - 6, 'text-anchor': 'middle' }, String(hour).padStart(2, '0')));
  }
  data.counts.forEach((row, day) => {
    chart.append(s('text', { class: 'axis', x: labelW - 8, y: top + day * cell + cell / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, WEEKDAYS[day]));
    row.forEach((count, hour) => {
      const lines = [`${WEEKDAYS[day]} ${String(hour).padStart(2, '0')}:00–${String(hour + 1).padStart(2, '0')}:00`, `${fmtInt(count)} requests`];
      chart.append(withTooltip(s('rect', {
        class: 'cell', x: labelW + hour * cell, y: top + day * cell, width: cell - gap, height: cell - gap, rx: 2, fill: heatColor(count / max),
      }), lines));
    });
  });
  // The scale.
  const legendY = top + 7 * cell + 14;
  chart.append(s('text', { class: 'axis', x: labelW, y: legendY + 10 }, 'fewer'));
  for (let i = 0; i < 6; i += 1) {
    chart.append(s('rect', { x: labelW + 40 + i * 16, y: legendY + 2, width: 14, height: 10, rx: 2, fill: heatColor(i / 5) }));
  }
  chart.append(s('text', { class: 'axis', x: labelW + 40 + 6 * 16 + 6, y: legendY + 10 }, `more (max ${fmtInt(max)})`));
  return chart;
}

// From a pale grey-blue (none) to a deep blue (the busiest hour).
function heatColor(ratio) {
  if (ratio <= 0) return '#eef1f5';
  const from = [219, 234, 254];
  const to = [30, 64, 175];
  // Linear, from a visible tint: one request must not look like none.
  const t = 0.1 + 0.9 * Math.min(1, ratio);
  const mix = from.map((c, i) => Math.round(c + (to[i] - c) * t));
  return `rgb(${mix.join(',')})`;
}

panel('panel-delivery', {
  async load(signal) {
    const params = apiParams({}, { filters: false });
    const [summary, incidents, alerts] = await Promise.all([
      getJson('/delivery-errors/summary', params, { signal }),
      getJson('/delivery-errors/incidents', params, { signal }),
      // Alert rules' open incidents are current state, whatever the range.
      getJson('/alerts/incidents', new URLSearchParams({ status: 'open', size: '20' }), { signal }),
    ]);
    return { summary, incidents, alerts };
  },
  render({ summary, incidents, alerts }, body) {
    if (alerts.items.length) {
      const measure = (a) => (a.kind === 'error_rate'
        ? `${a.last_value.toFixed(1)}% 5xx (threshold ${a.findings.threshold}%)`
        : a.kind === 'ingest_silence'
          ? `${fmtInt(a.last_value)} records in ${a.findings.window.duration}`
          : `${fmtInt(a.last_value)} delivery errors in ${a.findings.window.duration}`);
      body.append(h('h3', {}, 'Firing alerts'), h('ul', { class: 'incidents alerts', dataset: { figure: 'firing_alerts', value: alerts.items.length } },
        alerts.items.map((a) => h('li', { class: 'open' },
          h('span', { class: 'badge bad' }, 'firing'),
          h('strong', {}, a.rule_name),
          h('span', {}, measure(a)),
          h('span', { class: 'muted' }, `since ${dateTimeFormat.format(new Date(a.opened_at))}`)))));
    }
    const open = incidents.incidents.filter((i) => i.ongoing);
    // Records Firehose backed up to S3 during the incidents, and those replayed from there.
    const recovered = incidents.incidents.reduce((sum, i) => ({
      recoverable: sum.recoverable + (i.recoverable_records || 0), replayed: sum.replayed + (i.replayed_records || 0),
    }), { recoverable: 0, replayed: 0 });
    const figures = h('div', { class: 'figures small' },
      h('div', { class: 'figure', dataset: { figure: 'delivery_errors', value: summary.total } },
        h('span', { class: 'label' }, 'Delivery errors'), h('span', { class: 'value' }, fmtInt(summary.total))),
      h('div', { class: `figure${open.length ? ' alarm' : ''}`, dataset: { figure: 'open_incidents', value: open.length } },
        h('span', { class: 'label' }, 'Open incidents'), h('span', { class: 'value' }, fmtInt(open.length))),
      h('div', { class: 'figure', dataset: { figure: 'incidents', value: incidents.incidents.length } },
        h('span', { class: 'label' }, 'Incidents in range'), h('span', { class: 'value' }, fmtInt(incidents.incidents.length))),
      h('div', { class: 'figure', dataset: { figure: 'recovered', value: recovered.replayed, recoverable: recovered.recoverable } },
        h('span', { class: 'label' }, 'Recoverable / replayed'),
        h('span', { class: 'value smaller' }, `${fmtInt(recovered.recoverable)} / ${fmtInt(recovered.replayed)}`)),
      h('div', { class: 'figure' }, h('span', { class: 'label' }, 'Last error'),
        h('span', { class: 'value smaller' }, summary.last_seen ? dateTimeFormat.format(new Date(summary.last_seen)) : 'none')));
    body.append(figures);
    if (summary.total === 0) {
      const hint = serviceInfo && !serviceInfo.cloudwatch_enabled
        ? 'No delivery errors recorded. CloudWatch polling is off: set FIRESIGHT_CLOUDWATCH__ENABLED=true to follow Firehose delivery errors.'
        : 'No delivery errors in this range: every Firehose delivery went through.';
      body.append(h('div', { class: 'state empty ok' }, hint));
      return;
    }
    const start = new Date(summary.from).getTime();
    const intervalMs = summary.interval * 1000;
    const bands = incidents.incidents.map((incident) => {
      const from = (new Date(incident.start).getTime() - start) / intervalMs;
      const to = incident.end ? (new Date(incident.end).getTime() - start) / intervalMs : summary.timeline.length;
      return {
        from: Math.max(0, from), to: Math.min(summary.timeline.length, to), cls: incident.ongoing ? 'open' : '',
        lines: [`Incident on ${incident.stream}${incident.ongoing ? ' (open)' : ''}`, `${fmtInt(incident.error_count)} errors`],
      };
    });
    const columns = summary.timeline.map((b) => ({ start: new Date(b.start), values: { errors: b.count } }));
    body.append(timeChart({
      columns, intervalSecs: summary.interval, series: [{ key: 'errors', label: 'delivery errors', cls: 's5' }], bands,
      height: 160, width: chartWidth(body), label: `Delivery errors over time, ${fmtInt(summary.total)} in all`,
    }));
    const list = h('ul', { class: 'incidents' });
    const ordered = [...incidents.incidents].sort((a, b) => Number(b.ongoing) - Number(a.ongoing) || new Date(b.start) - new Date(a.start));
    for (const incident of ordered) {
      list.append(h('li', { class: incident.ongoing ? 'open' : '' },
        h('span', { class: `badge ${incident.ongoing ? 'bad' : 'neutral'}` }, incident.ongoing ? 'open' : 'resolved'),
        h('strong', {}, incident.stream),
        h('span', {}, `${dateTimeFormat.format(new Date(incident.start))} – ${incident.end ? dateTimeFormat.format(new Date(incident.end)) : 'now'}`),
        h('span', {}, `${fmtInt(incident.error_count)} errors`),
        incident.estimated_missing_records ? h('span', {}, `≈ ${fmtInt(incident.estimated_missing_records)} records missing`) : null,
        incident.recoverable_records
          ? h('span', { class: 'recovered' }, `${fmtInt(incident.recoverable_records)} recoverable in S3 / ${fmtInt(incident.replayed_records)} replayed`)
          : null,
        h('span', { class: 'muted' }, incident.codes.slice(0, 3).map((c) => `${c.code} ×${fmtInt(c.count)}`).join(', '))));
    }
    if (ordered.length) body.append(h('h3', {}, 'Incidents'), list);
    if (summary.by_code.length) {
      body.append(h('h3', {}, 'Error codes'), h('ul', { class: 'codes' },
        summary.by_code.slice(0, 6).map((c) => h('li', {}, h('code', {}, c.key), ` ${fmtInt(c.count)}`))));
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// The log table: pages by cursor, pinned to the range the first page resolved so paging stays put

const logs = {
  cursors: [null],
  page: 0,
  pinned: null,
  reset() {
    this.cursors = [null];
    this.page = 0;
    this.pinned = null;
  },
  params(extra = {}) {
    const params = apiParams(extra);
    if (this.pinned) {
      params.set('from', this.pinned.from);
      params.set('to', this.pinned.to);
    }
    return params;
  },
};

const logsPanel = panel('panel-logs', {
  // A later page stays as it is while the range moves on; only the newest page follows it. While Live
  // streams into the table, the table is not reloaded under it.
  auto: () => logs.page === 0 && !live.on,
  onDraw: () => renderPager(),
  async load(signal) {
    if (logs.page === 0) logs.pinned = null;
    const size = $('#logs-size').value;
    const data = await getJson('/logs', logs.params({ size, cursor: logs.cursors[logs.page] }), { signal });
    if (logs.page === 0) logs.pinned = { from: data.from, to: data.to };
    logs.cursors[logs.page + 1] = data.next_cursor || null;
    return data;
  },
  isEmpty: (data) => data.items.length === 0,
  emptyText: () => 'No requests match the range and filters.',
  render(data, body) {
    // Columns marked `wide` make room for the path on a phone.
    const columns = [
      ['Time', 'nowrap'], ['Client', 'mono wide'], ['Country', ''], ['Method', 'wide'], ['Path', 'path'], ['Status', ''],
      ['Size', 'num wide'], ['Browser', 'nowrap wide'], ['OS', 'nowrap wide'], ['Referrer', 'path ref wide'],
    ];
    const rows = data.items.map((item) => {
      const status = item.http?.response?.status_code;
      const geo = item.source?.geo || {};
      const ua = item.user_agent || {};
      const path = item.url?.original || item.url?.path || '';
      const bytes = item.http?.response?.body?.bytes;
      const cells = [
        [logTime(new Date(item['@timestamp']))],
        [item.source?.ip || item.source?.address || ''],
        [geo.country_iso_code || '–', geo.country_iso_code ? countryName(geo.country_iso_code) : null],
        [item.http?.request?.method || ''],
        [path, path],
        [status ? h('span', { class: `status s${String(status)[0]}` }, String(status)) : ''],
        [bytes !== undefined ? fmtBytes(bytes) : ''],
        [[ua.name || '', item.firesight?.bot ? h('span', { class: 'badge neutral', title: 'A known bot' }, 'bot') : null]],
        [ua.os?.name || ''],
        [item.firesight?.referrer_host || '', item.http?.request?.referrer || null],
      ];
      const dataset = { id: item.id, country: geo.country_iso_code || '', status: status ?? '', path: item.url?.path || '' };
      if (live.fresh.has(item.id)) dataset.live = '1';
      return h('tr', { dataset },
        cells.map(([content, title], i) => h('td', { class: columns[i][1], title }, content)));
    });
    body.append(h('div', { class: 'table-scroll' },
      h('table', { class: 'data logs' },
        h('caption', { class: 'visually-hidden' }, 'Requests matching the filters, newest first'),
        h('thead', {}, h('tr', {}, columns.map(([name, cls]) => h('th', { scope: 'col', class: cls.replace(/\b(mono|nowrap)\b/g, '').trim() }, name)))),
        h('tbody', {}, rows))));
  },
});

function renderPager() {
  const data = logsPanel.data;
  $('#logs-newer').disabled = logs.page === 0;
  $('#logs-older').disabled = !logs.cursors[logs.page + 1];
  const count = data ? data.items.length : 0;
  $('#logs-page').textContent = data ? `Page ${logs.page + 1}${count ? ` · ${fmtInt(count)} rows` : ''}` : '';
}

async function turnPage(delta) {
  // Live follows the newest page only.
  if (live.on) stopLive();
  logs.page = Math.max(0, logs.page + delta);
  try {
    await loadPanel(logsPanel, controller?.signal, generation);
  } catch (error) {
    if (error instanceof AuthError) askForKey('The API key was refused; enter it again.');
  }
  renderPager();
  $('#panel-logs').scrollIntoView({ block: 'start', behavior: 'smooth' });
}

async function exportCsv() {
  const button = $('#export-csv');
  const status = $('#export-status');
  button.disabled = true;
  status.textContent = 'Preparing the CSV file…';
  status.classList.remove('form-error');
  try {
    const response = await api('/logs/export', logs.params({ format: 'csv' }));
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const link = h('a', { href: url, download: `firesight-logs-${stamp}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status.textContent = `CSV downloaded (${fmtBytes(blob.size)}) with the current range and filters.`;
  } catch (error) {
    if (error instanceof AuthError) askForKey('The API key was refused; enter it again.');
    status.textContent = `Export failed: ${error.message}`;
    status.classList.add('form-error');
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Live: new requests matching the filters streamed into the table from /v1/logs/tail (Server-Sent Events).
// EventSource cannot send the API key, so the stream is read with fetch and parsed here; when it ends (the
// server bounds its duration) or breaks, it is opened again with Last-Event-ID and goes on without a gap.

const LIVE_ROWS = 200;

const live = {
  on: false,
  state: 'off',
  controller: null,
  lastId: null,
  retryMs: 1000,
  retryTimer: null,
  received: 0,
  skipped: 0,
  message: '',
  // Ids of the rows the stream added, marked in the table.
  fresh: new Set(),
  drawTimer: null,
};

function startLive() {
  live.on = true;
  live.lastId = null;
  live.received = 0;
  live.skipped = 0;
  live.fresh.clear();
  if (logs.page !== 0) {
    logs.reset();
    reloadPanel(logsPanel).then(renderPager);
  }
  connectLive();
}

function stopLive() {
  live.on = false;
  live.controller?.abort();
  live.controller = null;
  clearTimeout(live.retryTimer);
  setLiveState('off');
}

// The filters changed: a new stream for them, from now.
function restartLive() {
  live.controller?.abort();
  clearTimeout(live.retryTimer);
  live.lastId = null;
  live.received = 0;
  live.skipped = 0;
  live.fresh.clear();
  connectLive();
}

function setLiveState(state, message = '') {
  live.state = state;
  live.message = message;
  renderLive();
}

function renderLive() {
  const bar = $('#live-bar');
  bar.hidden = !live.on && live.state !== 'error';
  bar.dataset.state = live.state;
  document.body.dataset.live = live.state;
  const toggle = $('#live-toggle');
  toggle.setAttribute('aria-pressed', live.on ? 'true' : 'false');
  const following = view.filters.length ? 'new requests matching the filters' : 'new requests';
  $('#live-state').textContent = {
    connecting: 'Connecting…',
    reconnecting: live.message || 'Reconnecting…',
    live: `Live: ${following} appear at the top`,
    error: live.message,
  }[live.state] || '';
  const count = $('#live-count');
  count.dataset.value = String(live.received);
  count.textContent = live.state === 'error' ? '' : `${plural(live.received, 'new request', 'new requests')}`;
  const skipped = $('#live-skipped');
  skipped.dataset.value = String(live.skipped);
  skipped.hidden = live.skipped === 0;
  skipped.textContent = `${fmtInt(live.skipped)} skipped (too many at once)`;
  $('#live-stop').hidden = !live.on;
}

async function connectLive() {
  const controller = new AbortController();
  live.controller = controller;
  setLiveState(live.lastId ? 'reconnecting' : 'connecting');
  const params = new URLSearchParams();
  // The view's filters; its time range looks back, the stream forward.
  for (const f of view.filters) params.append(f.dim, f.value);
  const headers = { Accept: 'text/event-stream' };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  if (live.lastId) headers['Last-Event-ID'] = live.lastId;
  let response;
  try {
    response = await fetch(`/v1/logs/tail?${params}`, { headers, signal: controller.signal });
  } catch (error) {
    if (!controller.signal.aborted) retryLive(live.retryMs, 'Cannot reach the service; trying again…');
    return;
  }
  if (response.status === 401) {
    stopLive();
    askForKey('The API key was refused; enter it again.');
    return;
  }
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      // not a problem document
    }
    const detail = problem.detail || `${response.status} ${response.statusText}`;
    if (response.status === 429 || response.status >= 500) {
      const wait = Number(response.headers.get('Retry-After')) || 5;
      retryLive(wait * 1000, `Live is busy (${detail}); trying again in ${wait} s…`);
    } else {
      stopLive();
      setLiveState('error', `Live could not start: ${detail}`);
    }
    return;
  }
  setLiveState('live');
  try {
    await readEventStream(response.body, controller.signal, onLiveEvent);
  } catch {
    // a broken connection: opened again below
  }
  if (controller.signal.aborted || live.controller !== controller) return;
  // The server ended the stream (it bounds each one's duration): go on where it stopped.
  retryLive(live.retryMs, '');
}

function retryLive(ms, message) {
  clearTimeout(live.retryTimer);
  if (!live.on) return;
  setLiveState('reconnecting', message);
  live.retryTimer = setTimeout(() => {
    if (live.on) connectLive();
  }, ms);
}

function onLiveEvent(event) {
  if (event.type === 'log') {
    const item = JSON.parse(event.data);
    live.received += 1;
    live.fresh.add(item.id);
    const data = logsPanel.data || { items: [] };
    const items = [item, ...data.items.filter((i) => i.id !== item.id)].slice(0, LIVE_ROWS);
    logsPanel.data = { ...data, items };
    logsPanel.error = null;
    scheduleLiveDraw();
  } else if (event.type === 'lag') {
    live.skipped += JSON.parse(event.data).skipped || 0;
    renderLive();
  } else if (event.type === 'reset') {
    // The service restarted: what it indexed meanwhile is in the store, not in the stream.
    reloadPanel(logsPanel).then(renderPager);
  }
}

// Rows arrive in bursts: the table is drawn again at most every 200 ms.
function scheduleLiveDraw() {
  if (live.drawTimer) return;
  live.drawTimer = setTimeout(() => {
    live.drawTimer = null;
    draw(logsPanel);
    renderLive();
  }, 200);
}

// Reads `text/event-stream` (the HTML standard's rules): `data` lines join with LF, `id` sets the last
// event id (also on a message without data), an empty line dispatches, `:` starts a comment.
async function readEventStream(body, signal, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
  let buffer = '';
  let type = '';
  let data = null;
  let idBuffer = live.lastId;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (;;) {
      const at = buffer.search(/[\r\n]/);
      // A CR at the end may be the first half of a CRLF still on its way.
      if (at < 0 || (buffer[at] === '\r' && at === buffer.length - 1)) break;
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + (buffer.startsWith('\r\n', at) ? 2 : 1));
      if (line === '') {
        live.lastId = idBuffer;
        if (data !== null) onEvent({ type: type || 'message', data: data.endsWith('\n') ? data.slice(0, -1) : data });
        type = '';
        data = null;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) text = text.slice(1);
      if (field === 'event') type = text;
      else if (field === 'data') data = `${data ?? ''}${text}\n`;
      else if (field === 'id' && !text.includes('\0')) idBuffer = text;
      else if (field === 'retry' && /^\d+$/.test(text)) live.retryMs = Number(text);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Controls

function renderControls() {
  for (const button of document.querySelectorAll('#range-buttons button')) {
    button.setAttribute('aria-pressed', button.dataset.range === view.range ? 'true' : 'false');
  }
  $('#range-buttons [data-range="custom"]').setAttribute('aria-expanded', customOpen ? 'true' : 'false');
  const rangeTitle = view.range === 'custom' ? 'Custom range' : RANGES[view.range].title;
  const filterText = view.filters.map((f) => filterValueLabel(f.dim, f.value)).join(', ');
  document.title = `${rangeTitle}${filterText ? ` · ${filterText}` : ''} · firesight`;
  $('#compare').checked = view.compare;
  $('#auto-refresh').checked = autoRefreshOn();
  const chips = view.filters.map((f) => h('li', { class: 'chip', dataset: { dim: f.dim, value: f.value } },
    h('span', {}, h('span', { class: 'chip-dim' }, `${FILTERS[f.dim].label}: `), filterValueLabel(f.dim, f.value)),
    h('button', {
      type: 'button', class: 'chip-remove', 'aria-label': `Remove filter ${FILTERS[f.dim].label} ${f.value}`, title: 'Remove this filter',
      onclick: () => {
        toggleFilter(f.dim, f.value);
        // The removed chip's button is gone: keep the keyboard in the filter bar.
        ($('#filters .chip-remove') || $('#search-input')).focus();
      },
    }, '×')));
  $('#filters').replaceChildren(...chips);
  $('#no-filters').hidden = view.filters.length > 0;
  $('#clear-filters').hidden = view.filters.length < 2;
  const search = view.filters.find((f) => f.dim === 'q');
  if (document.activeElement !== $('#search-input')) $('#search-input').value = search ? search.value : '';
  if (view.range === 'custom') {
    $('#custom-from').value = toLocalInput(new Date(view.from));
    $('#custom-to').value = view.to ? toLocalInput(new Date(view.to)) : '';
  }
  $('#custom-range').hidden = !customOpen;
  renderPager();
}

let customOpen = false;

function openCustomRange() {
  customOpen = true;
  const now = new Date();
  if (view.range !== 'custom') {
    const hours = { '15m': 0.25, '1h': 1, '24h': 24, '7d': 168 }[view.range] || 24;
    $('#custom-from').value = toLocalInput(new Date(now.getTime() - hours * 3600 * 1000));
    $('#custom-to').value = '';
  }
  $('#custom-error').textContent = '';
  renderControls();
  $('#custom-from').focus();
}

function applyCustomRange(event) {
  event.preventDefault();
  const from = new Date($('#custom-from').value);
  const toValue = $('#custom-to').value;
  const to = toValue ? new Date(toValue) : null;
  if (Number.isNaN(from.getTime())) {
    $('#custom-error').textContent = 'Choose a start.';
    return;
  }
  if (to && to <= from) {
    $('#custom-error').textContent = 'The end must be after the start.';
    return;
  }
  customOpen = false;
  changeView((v) => {
    v.range = 'custom';
    v.from = from.toISOString();
    v.to = to ? to.toISOString() : null;
  });
}

function bindControls() {
  for (const button of document.querySelectorAll('#range-buttons button')) {
    button.addEventListener('click', () => {
      const range = button.dataset.range;
      if (range === 'custom') {
        if (customOpen) {
          customOpen = false;
          renderControls();
        } else {
          openCustomRange();
        }
        return;
      }
      customOpen = false;
      changeView((v) => {
        v.range = range;
        v.from = null;
        v.to = null;
      });
    });
  }
  $('#custom-range').addEventListener('submit', applyCustomRange);
  $('#custom-cancel').addEventListener('click', () => {
    customOpen = false;
    renderControls();
  });
  $('#compare').addEventListener('change', (event) => changeView((v) => {
    v.compare = event.target.checked;
  }));
  $('#auto-refresh').addEventListener('change', (event) => {
    sessionStorage.setItem(AUTO_REFRESH_STORAGE, event.target.checked ? 'on' : 'off');
    scheduleRefresh();
  });
  $('#refresh-now').addEventListener('click', () => refreshAll());
  $('#clear-filters').addEventListener('click', () => changeView((v) => {
    v.filters = [];
  }));
  $('#search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('#search-input').value.trim();
    changeView((v) => {
      v.filters = v.filters.filter((f) => f.dim !== 'q');
      if (text) v.filters.push({ dim: 'q', value: text });
    });
  });
  $('#logs-older').addEventListener('click', () => turnPage(1));
  $('#logs-newer').addEventListener('click', () => turnPage(-1));
  $('#logs-size').addEventListener('change', () => {
    logs.reset();
    reloadPanel(logsPanel).then(renderPager);
  });
  $('#export-csv').addEventListener('click', exportCsv);
  $('#live-toggle').addEventListener('click', () => (live.on ? stopLive() : startLive()));
  $('#live-stop').addEventListener('click', () => {
    stopLive();
    $('#live-toggle').focus();
  });
  $('#change-key').addEventListener('click', () => askForKey(''));
  $('#key-form').addEventListener('submit', submitKey);
  $('#key-dialog').addEventListener('cancel', (event) => {
    // Without an accepted key there is nothing to go back to.
    if (!apiKeyAccepted) event.preventDefault();
  });
  window.addEventListener('popstate', () => {
    view = readView();
    logs.reset();
    refreshAll();
    if (live.on) restartLive();
  });
  let resizeTimer = null;
  let lastWidth = window.innerWidth;
  window.addEventListener('resize', () => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => panels.forEach((p) => p.data && draw(p)), 150);
  });
}

// ---------------------------------------------------------------------------------------------------------
// The API key: asked once, kept in this tab's session storage, asked again when refused

let apiKeyAccepted = false;
let waitingForKey = false;

function askForKey(message) {
  apiKeyAccepted = false;
  waitingForKey = true;
  if (live.on) stopLive();
  clearTimeout(refreshTimer);
  controller?.abort();
  for (const entry of panels) if (entry.data === null && !entry.error) draw(entry);
  document.body.dataset.state = 'key';
  const dialog = $('#key-dialog');
  $('#key-error').textContent = message;
  $('#key-input').value = '';
  if (!dialog.open) dialog.showModal();
  $('#key-input').focus();
}

async function submitKey(event) {
  event.preventDefault();
  const key = $('#key-input').value.trim();
  if (!key) return;
  const submit = $('#key-submit');
  submit.disabled = true;
  $('#key-error').textContent = '';
  try {
    const info = await getJson('/info', null, { key });
    apiKey = key;
    sessionStorage.setItem(KEY_STORAGE, key);
    apiKeyAccepted = true;
    waitingForKey = false;
    $('#key-dialog').close();
    applyInfo(info);
    refreshAll();
  } catch (error) {
    $('#key-error').textContent = error instanceof AuthError ? 'This key was refused. Check FIRESIGHT_API_KEYS.' : error.message;
  } finally {
    submit.disabled = false;
  }
}

function applyInfo(info) {
  serviceInfo = info;
  $('#service-info').textContent = `firesight ${info.version} · ${info.store} store · ${info.state_db}`;
}

function showBanner(message, button) {
  const banner = $('#banner');
  banner.replaceChildren(h('span', {}, message), button ? h('button', { type: 'button', onclick: button.action }, button.label) : null);
  banner.hidden = false;
}

function hideBanner() {
  $('#banner').hidden = true;
}

function start() {
  bindControls();
  renderControls();
  renderLive();
  for (const entry of panels) draw(entry);
  connect();
}

async function connect() {
  try {
    // Also tells whether the service wants a key at all (authentication may be disabled on loopback).
    applyInfo(await getJson('/info'));
    apiKeyAccepted = true;
    refreshAll();
  } catch (error) {
    if (error instanceof AuthError) {
      if (apiKey) sessionStorage.removeItem(KEY_STORAGE);
      askForKey(apiKey ? 'The saved API key was refused; enter it again.' : '');
    } else {
      document.body.dataset.state = 'error';
      showBanner(error.message, {
        label: 'Try again',
        action: () => {
          hideBanner();
          connect();
        },
      });
    }
  }
}

start();
