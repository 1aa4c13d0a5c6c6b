// Constants, number and date formatting, DOM and SVG helpers, the tooltip: what every module uses.
export const SVG_NS = 'http://www.w3.org/2000/svg';
export const KEY_STORAGE = 'firesight.apiKey';
export const AUTO_REFRESH_STORAGE = 'firesight.autoRefresh';
export const REFRESH_SECONDS = 60;

export const RANGES = {
  '15m': { from: 'now-15m', title: 'Last 15 minutes' },
  '1h': { from: 'now-1h', title: 'Last hour' },
  '24h': { from: 'now-24h', title: 'Last 24 hours' },
  '7d': { from: 'now-7d', title: 'Last 7 days' },
};
export const DEFAULT_RANGE = '24h';

// The API's filter parameters, in the order their chips are shown. `single` ones take one value.
export const FILTERS = {
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
  crawler: { label: 'Crawler' },
  crawler_category: { label: 'Crawler type' },
  vhost: { label: 'Host', single: true },
  q: { label: 'Search', single: true },
};

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

// ---------------------------------------------------------------------------------------------------------
// Formatting

export const numberFormat = new Intl.NumberFormat();
export const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
export const clockFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
export const hourMinuteFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
export const dayHourFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
export const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
export const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
export const regionNames = (() => {
  try {
    return new Intl.DisplayNames(undefined, { type: 'region' });
  } catch {
    return null;
  }
})();
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export const fmtInt = (n) => numberFormat.format(n ?? 0);
export const plural = (n, one, many) => `${fmtInt(n)} ${n === 1 ? one : many}`;
export const fmtCompact = (n) => compactFormat.format(n);

// Shares and rates: "39%", "4.3%", "0.03%" (a small share stays visible), "0%".
export function fmtPercent(ratio, { precise = false } = {}) {
  const pct = Math.abs((ratio ?? 0) * 100);
  if (pct === 0) return '0%';
  const digits = pct < 0.1 ? 2 : pct < 10 || precise ? 1 : 0;
  return `${pct.toFixed(digits)}%`;
}

export function fmtBytes(bytes) {
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
export function fmtChange(change) {
  const pct = change * 100;
  const digits = Math.abs(pct) < 10 ? 1 : 0;
  const text = Math.abs(pct).toFixed(digits);
  if (Number(text) === 0) return '±0%';
  return `${pct > 0 ? '+' : '\u2212'}${text}%`;
}

// A difference of two ratios in percentage points.
export function fmtPoints(diff) {
  const pts = diff * 100;
  const text = Math.abs(pts).toFixed(1);
  if (Number(text) === 0) return '±0 pp';
  return `${pts > 0 ? '+' : '\u2212'}${text} pp`;
}

export function countryName(code) {
  if (!code) return '';
  try {
    return regionNames?.of(code.toUpperCase()) || code;
  } catch {
    return code;
  }
}

export function filterValueLabel(dim, value) {
  if (dim === 'country') return `${countryName(value)} (${value})`;
  if (dim === 'bot') return value === 'true' ? 'only' : 'excluded';
  return value;
}

export function axisTimeLabel(date, spanSecs) {
  if (spanSecs <= 36 * 3600) return hourMinuteFormat.format(date);
  if (spanSecs <= 8 * 86400) return dayHourFormat.format(date);
  return dayFormat.format(date);
}

export const pad2 = (n) => String(n).padStart(2, '0');

// What a datetime-local input holds: local time to the minute.
export function toLocalInput(date) {
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}T${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

// A log line's time, local, sortable: 2026-11-26 07:21:04 (the date goes above the time on a phone).
export function logTime(date) {
  const [day, time] = toLocalInput(date).split('T');
  return [h('span', { class: 'date' }, day), ' ', `${time}:${pad2(date.getSeconds())}`];
}

// ---------------------------------------------------------------------------------------------------------
// DOM helpers

export const $ = (selector) => document.querySelector(selector);

// An HTML element. Children are nodes or strings (always text, never markup).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// An SVG element.
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
}

export function deltaBadge(change, { invert = false, points = false } = {}) {
  if (change === null || change === undefined || Number.isNaN(change)) return null;
  const text = points ? fmtPoints(change) : fmtChange(change);
  const rounded = Math.round(change * 1000);
  const direction = rounded === 0 ? 'flat' : rounded > 0 ? 'up' : 'down';
  const good = direction === 'flat' ? 'neutral' : (direction === 'up') !== invert ? 'good' : 'bad';
  return h('span', { class: `delta ${direction} ${good}`, title: 'Change from the previous period' }, text);
}

export const tooltip = {
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
export function withTooltip(node, lines) {
  node.setAttribute('aria-label', lines.join(', '));
  node.addEventListener('pointermove', (event) => tooltip.show(event, lines));
  node.addEventListener('pointerleave', () => tooltip.hide());
  return node;
}
