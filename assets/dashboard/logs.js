// The log table (pages by cursor, CSV export) and Live, its stream of new requests.
import { fmtInt, plural, fmtBytes, countryName, logTime, $, h, s } from './format.js';
import { viewHooks, view, apiParams, AuthError, apiKey, api, getJson, panel, draw, loadPanel, reloadPanel, generation, controller } from './core.js';
import { askForKey } from './app.js';

// ---------------------------------------------------------------------------------------------------------
// The log table: pages by cursor, pinned to the range the first page resolved so paging stays put

export const logs = {
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

export const logsPanelOptions = {
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
};

export let logsPanel = null;

// Called by app.js where the table stands among the panels (their order is the loading order).
export function registerLogsPanel() {
  logsPanel = panel('panel-logs', logsPanelOptions);
}

export function renderPager() {
  const data = logsPanel.data;
  $('#logs-newer').disabled = logs.page === 0;
  $('#logs-older').disabled = !logs.cursors[logs.page + 1];
  const count = data ? data.items.length : 0;
  $('#logs-page').textContent = data ? `Page ${logs.page + 1}${count ? ` · ${fmtInt(count)} rows` : ''}` : '';
}

export async function turnPage(delta) {
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

export async function exportCsv() {
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

export const LIVE_ROWS = 200;

export const live = {
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

// A new view: the table starts again at its first page, and Live follows the new filters.
viewHooks.before.push(() => logs.reset());
viewHooks.after.push(() => {
  if (live.on) restartLive();
});

export function startLive() {
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

export function stopLive() {
  live.on = false;
  live.controller?.abort();
  live.controller = null;
  clearTimeout(live.retryTimer);
  setLiveState('off');
}

// The filters changed: a new stream for them, from now.
export function restartLive() {
  live.controller?.abort();
  clearTimeout(live.retryTimer);
  live.lastId = null;
  live.received = 0;
  live.skipped = 0;
  live.fresh.clear();
  connectLive();
}

export function setLiveState(state, message = '') {
  live.state = state;
  live.message = message;
  renderLive();
}

export function renderLive() {
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

export async function connectLive() {
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

export function retryLive(ms, message) {
  clearTimeout(live.retryTimer);
  if (!live.on) return;
  setLiveState('reconnecting', message);
  live.retryTimer = setTimeout(() => {
    if (live.on) connectLive();
  }, ms);
}

export function onLiveEvent(event) {
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
export function scheduleLiveDraw() {
  if (live.drawTimer) return;
  live.drawTimer = setTimeout(() => {
    live.drawTimer = null;
    draw(logsPanel);
    renderLive();
  }, 200);
}

// Reads `text/event-stream` (the HTML standard's rules): `data` lines join with LF, `id` sets the last
// event id (also on a message without data), an empty line dispatches, `:` starts a comment.
export async function readEventStream(body, signal, onEvent) {
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
