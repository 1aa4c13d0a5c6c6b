// firesight's built-in dashboard: a client of the public /v1 API and nothing else. No framework and no
// build step: the service embeds this file as it is. The view (time range, comparison, filters) lives in
// the page URL so a view can be shared; the API key lives in this tab's session storage.
//
// Every value that comes from the logs (paths, referrers, user agents) is put into the page as text, never
// parsed as markup, and the page's Content-Security-Policy allows no inline script or style.
import { KEY_STORAGE, AUTO_REFRESH_STORAGE, RANGES, FILTERS, STATUS_CLASSES, WEEKDAYS, dateTimeFormat, timeZone, fmtInt, plural, fmtPercent, fmtBytes, countryName, filterValueLabel, toLocalInput, $, h, s, deltaBadge, withTooltip } from './format.js';
import { setView, reloadView, setApiKey, view, readView, changeView, isFiltered, toggleFilter, apiParams, AuthError, apiKey, getJson, panels, panel, draw, reloadPanel, controller, refreshTimer, refreshAll, autoRefreshOn, scheduleRefresh, timeChart, barChart, chartWidth, topPanel } from './core.js';
import { worldMap } from './map.js';
import { registerPerfPanels, durationFigures } from './perf.js';
import { logs, logsPanel, registerLogsPanel, renderPager, turnPage, exportCsv, live, startLive, stopLive, restartLive, renderLive } from './logs.js';

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
      durationFigures(data, figure),
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
    const map = worldMap({
      countries: data.countries, width: chartWidth(body), labelOf, activeOf: (code) => isFiltered('country', code),
      onClick: (code) => toggleFilter('country', code),
    });
    body.append(h('div', { class: 'map-box' }, map),
      h('div', { class: `split${wide ? ' wide' : ''}`, dataset: { located: data.located } }, h('div', { class: 'chart-box' }, chart), table),
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

// Latency, slowest endpoints, crawlers and the host selector (perf.js).
registerPerfPanels();

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


// The log table (logs.js), in its place among the panels.
registerLogsPanel();

// ---------------------------------------------------------------------------------------------------------
// Controls

export function renderControls() {
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
    setView(readView());
    reloadView();
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

export let apiKeyAccepted = false;
export let waitingForKey = false;

export function askForKey(message) {
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
    setApiKey(key);
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

export function showBanner(message, button) {
  const banner = $('#banner');
  banner.replaceChildren(h('span', {}, message), button ? h('button', { type: 'button', onclick: button.action }, button.label) : null);
  banner.hidden = false;
}

export function hideBanner() {
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