// dashboard.js - the behaviour of the `staffelctl web` dashboard page.
//
// Purpose: shows one section at a time (hash navigation: #overview,
//   #senders, #tags, #suppression, #routes, #events), fetches its JSON from
//   the relative api/ URLs of notes/dashboard_api.md and renders tables,
//   cards and Chart.js 3 charts (category x axes only). The visible section
//   is refreshed every 30 s; the event list polls every 2 s while shown.
// Security: the server's CSP forbids inline code and styles, so everything
//   is wired with addEventListener. Every value from the API (senders, tags,
//   route names, event fields, addresses) is attacker-controlled and goes
//   into the page with textContent only, never innerHTML.
// Errors: a failed API call puts its error text into the #error banner and
//   the next successful call of the same kind clears it; polling goes on.
// Test hooks: ids of cards, tr[data-value] or tr[data-id] rows with
//   td[data-field] cells, data-raw (the exact JSON number) on numbers, and
//   data-loaded="true" (plus data-period) on a section once it rendered.
'use strict';

(function () {
  const SECTIONS = ['overview', 'senders', 'tags', 'suppression', 'routes', 'events'];
  const REFRESH_MS = 30000;
  const EVENTS_MS = 2000;
  const EVENTS_KEEP = 200;
  const COLORS = ['#2f6db3', '#c0392b', '#d68910', '#7d3c98', '#117a65', '#5d6d7e',
    '#a04000', '#1f618d'];

  // Columns of a Row (one row of `staffelctl stats --json`).
  const ROW_COLUMNS = [
    ['messages', 'Messages', 'int'],
    ['recipients', 'Recipients', 'int'],
    ['held', 'Held', 'int'],
    ['refused', 'Refused', 'int'],
    ['deferred', 'Deferred', 'int'],
    ['recipients_refused', 'Rcpts refused', 'int'],
    ['bounces', 'Bounces', 'int'],
    ['complaints', 'Complaints', 'int'],
    ['unsubscribes', 'Unsubscribes', 'int'],
    ['bounce_rate', 'Bounce rate', 'rate'],
    ['complaint_rate', 'Complaint rate', 'rate'],
  ];
  const SPLIT_LABELS = { 'in-house': 'In-house', esp: 'ESP', none: 'No route' };
  const REASONS = ['hard_bounce', 'complaint', 'unsubscribe', 'manual', 'invalid'];
  const EVENT_COLUMNS = ['time', 'type', 'queue_id', 'sender', 'recipients', 'stream', 'route',
    'tag'];

  const state = {
    section: null,
    charts: {},
    errors: new Map(),
    seq: {},
    events: { last: null, paused: false, timer: null, busy: false },
  };

  // ---------------------------------------------------------------- helpers

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        node.setAttribute(k, v);
      }
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  // Integers exactly (no grouping, no rounding of the JSON value).
  function fmtInt(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      return '–';
    }
    return Number.isInteger(n) ? String(n) : String(Math.round(n));
  }

  function fmtRate(r) {
    if (typeof r !== 'number' || !Number.isFinite(r)) {
      return '–';
    }
    return (r * 100).toFixed(2) + '%';
  }

  function fmt(kind, v) {
    return kind === 'rate' ? fmtRate(v) : fmtInt(v);
  }

  function setNumber(id, kind, value) {
    const node = $(id);
    node.textContent = fmt(kind, value);
    node.setAttribute('data-raw', String(value));
  }

  function numCell(field, kind, value) {
    const td = el('td', fmt(kind, value), { 'data-field': field, class: 'n' });
    td.setAttribute('data-raw', String(value));
    return td;
  }

  function textCell(field, value) {
    const shown = value === undefined || value === null || value === '' ? '–' : value;
    return el('td', Array.isArray(shown) ? shown.join(', ') : shown, { 'data-field': field });
  }

  function periodOf(section) {
    const select = $(section + '-period');
    return select ? select.value : '24h';
  }

  function markLoading(section) {
    $(section).setAttribute('data-loaded', 'false');
  }

  function markLoaded(section, period) {
    const node = $(section);
    if (period) {
      node.setAttribute('data-period', period);
    }
    node.setAttribute('data-loaded', 'true');
  }

  // ------------------------------------------------------------ error banner

  function renderErrors() {
    const banner = $('error');
    clear(banner);
    if (state.errors.size === 0) {
      banner.hidden = true;
      return;
    }
    for (const [what, text] of state.errors) {
      banner.appendChild(el('p', what + ': ' + text));
    }
    banner.hidden = false;
  }

  function setError(what, text) {
    state.errors.set(what, text);
    renderErrors();
  }

  function clearError(what) {
    if (state.errors.delete(what)) {
      renderErrors();
    }
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // GETs a relative API URL; resolves to the parsed JSON or throws ApiError.
  async function getJson(url) {
    let response;
    try {
      response = await fetch(url, {
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { Accept: 'application/json' },
      });
    } catch (e) {
      throw new ApiError(0, 'cannot reach the server (' + e.message + ')');
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const text = body && typeof body.error === 'string' ? body.error : response.statusText;
      throw new ApiError(response.status, 'HTTP ' + response.status + ': ' + text);
    }
    if (body === null || typeof body !== 'object') {
      throw new ApiError(response.status, 'the answer is not JSON');
    }
    return body;
  }

  // Fetches for a banner-reported source ("what"); null on failure.
  // Answers that arrive after a newer request of the same source are dropped.
  async function load(what, url) {
    const seq = (state.seq[what] || 0) + 1;
    state.seq[what] = seq;
    try {
      const data = await getJson(url);
      if (state.seq[what] !== seq) {
        return null;
      }
      clearError(what);
      return data;
    } catch (e) {
      if (state.seq[what] === seq) {
        setError(what, e.message);
      }
      return null;
    }
  }

  // ------------------------------------------------------------------ charts

  function chartOptions(stacked) {
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { position: 'bottom' } },
      scales: {
        x: { type: 'category', stacked: stacked, ticks: { autoSkip: true, maxRotation: 0 } },
        y: { type: 'linear', stacked: stacked, beginAtZero: true, ticks: { precision: 0 } },
      },
    };
  }

  function drawChart(id, type, labels, datasets, stacked) {
    if (typeof window.Chart !== 'function') {
      setError('charts', 'Chart.js did not load (static/chart.min.js)');
      return;
    }
    const existing = state.charts[id];
    if (existing) {
      existing.data.labels = labels;
      existing.data.datasets = datasets;
      existing.update();
      return;
    }
    state.charts[id] = new window.Chart($(id), {
      type: type,
      data: { labels: labels, datasets: datasets },
      options: chartOptions(stacked),
    });
  }

  function lineSet(label, data, i) {
    return {
      type: 'line', label: label, data: data, borderColor: COLORS[i % COLORS.length],
      backgroundColor: COLORS[i % COLORS.length], borderWidth: 2, pointRadius: 2, tension: 0,
      order: 0,
    };
  }

  function barSet(label, data, i, stack) {
    return {
      type: 'bar', label: label, data: data, stack: stack,
      backgroundColor: COLORS[i % COLORS.length], order: 1,
    };
  }

  // ------------------------------------------------------------ row tables

  function rowHead(table, firstLabel) {
    const thead = table.tHead;
    if (thead.rows.length) {
      return;
    }
    const tr = el('tr');
    tr.appendChild(el('th', firstLabel, { scope: 'col' }));
    for (const [, label] of ROW_COLUMNS) {
      tr.appendChild(el('th', label, { scope: 'col', class: 'n' }));
    }
    thead.appendChild(tr);
  }

  function rowElement(row, cellTag) {
    const tr = el('tr', null, { 'data-value': String(row.value) });
    const first = el(cellTag || 'th', row.value, { scope: 'row', 'data-field': 'value' });
    tr.appendChild(first);
    for (const [field, , kind] of ROW_COLUMNS) {
      const td = numCell(field, kind, row[field]);
      if (field === 'complaint_rate' && row.complaint_rate_over_limit) {
        td.classList.add('over');
        td.setAttribute('data-over-limit', 'true');
        td.title = 'over the complaint-rate limit';
      }
      tr.appendChild(td);
    }
    if (row.complaint_rate_over_limit) {
      tr.classList.add('over-limit');
    }
    return tr;
  }

  function fillRows(table, rows, total, firstLabel) {
    rowHead(table, firstLabel);
    const body = table.tBodies[0];
    clear(body);
    for (const row of rows || []) {
      body.appendChild(rowElement(row));
    }
    if (!rows || rows.length === 0) {
      const tr = el('tr', null, { class: 'empty' });
      const colspan = String(ROW_COLUMNS.length + 1);
      tr.appendChild(el('td', 'No mail in this period.', { colspan: colspan }));
      body.appendChild(tr);
    }
    if (table.tFoot && total) {
      clear(table.tFoot);
      const tr = rowElement(total);
      tr.classList.add('total');
      table.tFoot.appendChild(tr);
    }
  }

  function showMore(id, more) {
    const node = $(id);
    node.setAttribute('data-raw', String(more || 0));
    if (more > 0) {
      node.textContent = fmtInt(more) + ' more not shown.';
      node.hidden = false;
    } else {
      node.textContent = '';
      node.hidden = true;
    }
  }

  // ---------------------------------------------------------------- overview

  async function loadOverview() {
    const period = periodOf('overview');
    const data = await load('overview', 'api/overview?period=' + encodeURIComponent(period));
    if (!data) {
      return;
    }
    const total = data.total || {};
    const outcomes = data.outcomes || {};
    setNumber('overview-messages', 'int', total.messages);
    setNumber('overview-recipients', 'int', total.recipients);
    setNumber('overview-accepted', 'int', outcomes.accepted);
    setNumber('overview-refused', 'int', outcomes.refused);
    setNumber('overview-held', 'int', outcomes.held);
    setNumber('overview-deferred', 'int', outcomes.deferred);
    setNumber('overview-bounces', 'int', total.bounces);
    setNumber('overview-complaints', 'int', total.complaints);
    setNumber('overview-bounce-rate', 'rate', total.bounce_rate);
    setNumber('overview-complaint-rate', 'rate', total.complaint_rate);
    setNumber('overview-complaint-limit', 'rate', data.complaint_limit);
    const over = total.complaint_rate_over_limit === true ||
      (typeof data.complaint_limit === 'number' && total.complaint_rate > data.complaint_limit);
    $('overview-complaint-card').classList.toggle('over', over);
    $('overview-complaint-rate').setAttribute('data-over-limit', over ? 'true' : 'false');
    $('overview-complaint-flag').hidden = !over;

    const split = $('overview-split').tBodies[0];
    clear(split);
    for (const part of data.split || []) {
      const tr = el('tr', null, { 'data-value': String(part.kind) });
      tr.appendChild(el('th', SPLIT_LABELS[part.kind] || part.kind, { scope: 'row' }));
      tr.appendChild(numCell('messages', 'int', part.messages));
      tr.appendChild(numCell('recipients', 'int', part.recipients));
      split.appendChild(tr);
    }

    fillRows($('overview-streams'), data.streams, null, 'Stream');

    const s = data.series || {};
    const bars = ['accepted', 'refused', 'held', 'deferred'];
    const datasets = bars.map((name, i) => barSet(name, s[name] || [], i, 'outcomes'));
    datasets.push(lineSet('bounces', s.bounces || [], 4));
    datasets[datasets.length - 1].stack = 'bounces';
    datasets.push(lineSet('complaints', s.complaints || [], 5));
    datasets[datasets.length - 1].stack = 'complaints';
    drawChart('overview-chart', 'bar', data.labels || [], datasets, true);
    markLoaded('overview', data.period || period);
  }

  // ----------------------------------------------------------------- senders

  function sendersBy() {
    return $('senders-by-sender').checked ? 'sender' : 'sender_domain';
  }

  async function loadSenders() {
    const period = periodOf('senders');
    const by = sendersBy();
    const url = 'api/senders?period=' + encodeURIComponent(period) + '&by=' +
      encodeURIComponent(by) + '&top=20';
    const data = await load('senders', url);
    if (!data) {
      return;
    }
    const table = $('senders-table');
    clear(table.tHead);
    fillRows(table, data.rows, data.total, by === 'sender' ? 'Sender' : 'Sender domain');
    for (const tr of table.tBodies[0].rows) {
      if (tr.hasAttribute('data-value')) {
        tr.tabIndex = 0;
        tr.setAttribute('aria-label', 'Show quota use of ' + tr.getAttribute('data-value'));
      }
    }
    showMore('senders-more', data.more);
    const datasets = (data.series || [])
      .map((s, i) => lineSet(String(s.value), s.messages || [], i));
    drawChart('senders-chart', 'line', data.labels || [], datasets, false);
    $('senders').setAttribute('data-by', data.by || by);
    markLoaded('senders', data.period || period);
  }

  async function loadQuota(key) {
    const box = $('quota-result');
    box.setAttribute('data-loaded', 'false');
    const data = await load('quota', 'api/quota?key=' + encodeURIComponent(key));
    if (!data) {
      return;
    }
    $('quota-result-key').textContent = data.key;
    box.setAttribute('data-key', String(data.key));
    const body = $('quota-table').tBodies[0];
    clear(body);
    const limits = data.limits || [];
    for (const q of limits) {
      const tr = el('tr', null, { 'data-value': String(q.name) });
      tr.appendChild(el('th', q.name, { scope: 'row', 'data-field': 'name' }));
      tr.appendChild(textCell('keyed_on', q.keyed_on));
      tr.appendChild(textCell('key', q.key));
      tr.appendChild(numCell('used', 'int', q.used));
      tr.appendChild(numCell('limit', 'int', q.limit));
      tr.appendChild(textCell('window', q.window));
      tr.appendChild(textCell('resets', q.resets));
      if (typeof q.used === 'number' && typeof q.limit === 'number' && q.used >= q.limit) {
        tr.classList.add('over-limit');
      }
      body.appendChild(tr);
    }
    $('quota-empty').hidden = limits.length > 0;
    $('quota-table').hidden = limits.length === 0;
    box.hidden = false;
    box.setAttribute('data-loaded', 'true');
  }

  function pickSender(tr) {
    const key = tr.getAttribute('data-value');
    if (!key || tr.parentNode !== $('senders-table').tBodies[0]) {
      return;
    }
    for (const row of $('senders-table').tBodies[0].rows) {
      row.classList.toggle('selected', row === tr);
    }
    $('quota-key').value = key;
    loadQuota(key);
  }

  // -------------------------------------------------------------------- tags

  async function loadTags() {
    const period = periodOf('tags');
    const data = await load('tags', 'api/tags?period=' + encodeURIComponent(period) + '&top=50');
    if (!data) {
      return;
    }
    fillRows($('tags-table'), data.rows, data.total, 'Tag');
    showMore('tags-more', data.more);
    markLoaded('tags', data.period || period);
  }

  // ------------------------------------------------------------- suppression

  function eventRecipients(ev) {
    if (Array.isArray(ev.recipients)) {
      return ev.recipients.join(', ');
    }
    if (ev.recipients !== undefined && ev.recipients !== null) {
      return String(ev.recipients);
    }
    return ev.recipient;
  }

  async function loadSuppression() {
    const data = await load('suppression', 'api/suppression');
    if (!data) {
      return;
    }
    const census = data.census || {};
    const at = $('suppression-at');
    at.textContent = census.at ? census.at : 'never counted';
    if (census.at) {
      at.setAttribute('datetime', census.at);
    } else {
      at.removeAttribute('datetime');
    }
    $('suppression-running').hidden = !census.running;
    const body = $('suppression-census').tBodies[0];
    clear(body);
    const byReason = census.by_reason || {};
    const reasons = REASONS.concat(Object.keys(byReason).filter((r) => !REASONS.includes(r)));
    for (const reason of reasons) {
      const tr = el('tr', null, { 'data-value': reason });
      tr.appendChild(el('th', reason.replace('_', ' '), { scope: 'row' }));
      const td = numCell('count', 'int', byReason[reason] || 0);
      td.id = 'suppression-reason-' + reason.replace(/[^A-Za-z0-9_-]/g, '_');
      tr.appendChild(td);
      body.appendChild(tr);
    }
    setNumber('suppression-total', 'int', census.total);
    setNumber('suppression-scoped', 'int', census.scoped);
    const censusError = $('suppression-census-error');
    censusError.textContent = census.error ? 'The last count failed: ' + census.error : '';
    censusError.hidden = !census.error;
    $('suppression-hashed').hidden = !data.hashed;

    const recent = $('suppression-recent').tBodies[0];
    clear(recent);
    for (const item of data.recent || []) {
      const ev = (item && item.event) || item || {};
      const tr = el('tr', null, { 'data-id': String(item.id || ''), 'data-type': String(ev.type) });
      tr.appendChild(textCell('time', ev.time));
      tr.appendChild(textCell('type', ev.type));
      tr.appendChild(textCell('recipient', eventRecipients(ev)));
      tr.appendChild(textCell('sender_domain', ev.sender_domain));
      tr.appendChild(textCell('tag', ev.tag));
      tr.appendChild(textCell('reason', ev.reason));
      recent.appendChild(tr);
    }
    $('suppression-recent-empty').hidden = (data.recent || []).length > 0;
    markLoaded('suppression');
  }

  async function lookup(address, senderDomain) {
    const box = $('lookup-result');
    box.setAttribute('data-loaded', 'false');
    let url = 'api/suppression/lookup?address=' + encodeURIComponent(address);
    if (senderDomain) {
      url += '&sender_domain=' + encodeURIComponent(senderDomain);
    }
    const body = $('lookup-table').tBodies[0];
    const verdict = $('lookup-verdict');
    clear(body);
    $('lookup-result-address').textContent = address;
    let data;
    try {
      data = await getJson(url);
    } catch (e) {
      // A bad address is the user's typo, not an outage: said here.
      verdict.textContent = e.message;
      verdict.setAttribute('data-suppressed', 'error');
      $('lookup-table').hidden = true;
      box.hidden = false;
      box.setAttribute('data-loaded', 'true');
      return;
    }
    $('lookup-result-address').textContent = data.address;
    const entries = data.entries || [];
    for (const entry of entries) {
      const tr = el('tr', null, { 'data-value': String(entry.scope || '') });
      tr.appendChild(textCell('scope', entry.scope ? entry.scope : 'global'));
      tr.appendChild(textCell('reason', entry.reason));
      const streams = Array.isArray(entry.streams) && entry.streams.length ? entry.streams
        : 'every stream';
      tr.appendChild(textCell('streams', streams));
      tr.appendChild(textCell('added', entry.added));
      tr.appendChild(textCell('expires', entry.expires === null ? 'never' : entry.expires));
      tr.appendChild(textCell('source', entry.source));
      body.appendChild(tr);
    }
    verdict.textContent = entries.length
      ? 'suppressed (' + fmtInt(entries.length) + (entries.length === 1 ? ' entry)' : ' entries)')
      : 'not suppressed';
    verdict.setAttribute('data-suppressed', entries.length ? 'true' : 'false');
    $('lookup-table').hidden = entries.length === 0;
    box.hidden = false;
    box.setAttribute('data-loaded', 'true');
  }

  // ------------------------------------------------------------------ routes

  async function loadRoutes() {
    const period = periodOf('routes');
    const data = await load('routes', 'api/routes?period=' + encodeURIComponent(period));
    if (!data) {
      return;
    }
    const body = $('routes-table').tBodies[0];
    clear(body);
    const routes = data.routes || [];
    for (const r of routes) {
      const tr = el('tr', null, { 'data-value': String(r.name), 'data-status': String(r.status) });
      tr.appendChild(el('th', r.name, { scope: 'row', 'data-field': 'name' }));
      tr.appendChild(textCell('kind', r.kind));
      const status = el('td', null, { 'data-field': 'status' });
      const up = r.status === 'up';
      status.appendChild(el('span', r.status, { class: 'status status-' + (up ? 'up' : 'down') }));
      tr.appendChild(status);
      tr.appendChild(textCell('fallback', r.fallback));
      tr.appendChild(textCell('bounce_domain', r.bounce_domain));
      tr.appendChild(numCell('messages', 'int', r.messages));
      tr.appendChild(numCell('recipients', 'int', r.recipients));
      tr.appendChild(numCell('fallback_taken', 'int', r.fallback_taken));
      if (r.status !== 'up') {
        tr.classList.add('down');
      }
      body.appendChild(tr);
    }
    if (routes.length === 0) {
      const tr = el('tr', null, { class: 'empty' });
      tr.appendChild(el('td', 'The policy names no routes.', { colspan: '8' }));
      body.appendChild(tr);
    }
    const unrouted = data.unrouted || {};
    setNumber('routes-unrouted-messages', 'int', unrouted.messages);
    setNumber('routes-unrouted-recipients', 'int', unrouted.recipients);
    const datasets = routes.map((r, i) => lineSet(String(r.name), r.series || [], i));
    drawChart('routes-chart', 'line', data.labels || [], datasets, false);
    markLoaded('routes', data.period || period);
  }

  // ------------------------------------------------------------------ events

  function eventDetails(ev) {
    const parts = [];
    for (const [k, v] of Object.entries(ev)) {
      if (EVENT_COLUMNS.includes(k) || k === 'v' || k === 'recipient') {
        continue;
      }
      parts.push(k + '=' + (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)));
    }
    return parts.join(' ');
  }

  function eventRow(item) {
    const ev = (item && item.event) || {};
    const tr = el('tr', null, { 'data-id': String(item.id), 'data-type': String(ev.type) });
    tr.appendChild(textCell('time', ev.time));
    tr.appendChild(textCell('type', ev.type));
    tr.appendChild(textCell('queue_id', ev.queue_id));
    tr.appendChild(textCell('sender', ev.sender));
    tr.appendChild(textCell('recipients', eventRecipients(ev)));
    tr.appendChild(textCell('stream', ev.stream));
    tr.appendChild(textCell('route', ev.route));
    tr.appendChild(textCell('tag', ev.tag));
    tr.appendChild(textCell('details', eventDetails(ev)));
    return tr;
  }

  async function pollEvents() {
    const ev = state.events;
    if (ev.busy) {
      return;
    }
    ev.busy = true;
    try {
      let url = 'api/events?count=100';
      if (ev.last !== null) {
        url += '&after=' + encodeURIComponent(ev.last);
      }
      const data = await load('events', url);
      if (!data) {
        return;
      }
      const body = $('events-table').tBodies[0];
      for (const item of data.events || []) {
        body.insertBefore(eventRow(item), body.firstChild);
      }
      while (body.rows.length > EVENTS_KEEP) {
        body.removeChild(body.lastChild);
      }
      if (typeof data.last === 'string') {
        ev.last = data.last;
      }
      $('events-count').textContent = fmtInt(body.rows.length);
      $('events').setAttribute('data-last', ev.last === null ? '' : ev.last);
      markLoaded('events');
    } finally {
      ev.busy = false;
    }
  }

  function startEvents() {
    const ev = state.events;
    if (ev.timer === null && !ev.paused) {
      pollEvents();
      ev.timer = window.setInterval(pollEvents, EVENTS_MS);
    }
  }

  function stopEvents() {
    const ev = state.events;
    if (ev.timer !== null) {
      window.clearInterval(ev.timer);
      ev.timer = null;
    }
  }

  // ---------------------------------------------------------------- sections

  const LOADERS = {
    overview: loadOverview,
    senders: loadSenders,
    tags: loadTags,
    suppression: loadSuppression,
    routes: loadRoutes,
  };

  function refresh(section) {
    const loader = LOADERS[section];
    if (loader) {
      loader();
    }
  }

  function showSection() {
    let name = window.location.hash.replace(/^#/, '');
    if (!SECTIONS.includes(name)) {
      name = 'overview';
    }
    for (const s of SECTIONS) {
      $(s).hidden = s !== name;
    }
    for (const a of document.querySelectorAll('nav a[data-section]')) {
      if (a.getAttribute('data-section') === name) {
        a.setAttribute('aria-current', 'page');
      } else {
        a.removeAttribute('aria-current');
      }
    }
    state.section = name;
    if (name === 'events') {
      startEvents();
    } else {
      stopEvents();
      refresh(name);
    }
  }

  async function loadInfo() {
    const data = await load('info', 'api/info');
    if (!data) {
      return;
    }
    const parts = [];
    if (data.node) {
      parts.push('node ' + data.node);
    }
    if (data.version) {
      parts.push('Staffel ' + data.version);
    }
    if (data.time_zone) {
      parts.push('times in ' + data.time_zone);
    }
    if (data.auth === false) {
      parts.push('no authentication');
    }
    $('info').textContent = parts.join(' · ');
  }

  function wire() {
    window.addEventListener('hashchange', showSection);
    // The link of the section already shown refreshes it (no hashchange).
    for (const a of document.querySelectorAll('nav a[data-section]')) {
      a.addEventListener('click', () => {
        const section = a.getAttribute('data-section');
        if (section !== state.section) {
          return;
        }
        if (section === 'events') {
          pollEvents();
        } else {
          refresh(section);
        }
      });
    }
    for (const select of document.querySelectorAll('select[data-period-for]')) {
      select.addEventListener('change', () => {
        const section = select.getAttribute('data-period-for');
        markLoading(section);
        refresh(section);
      });
    }
    for (const radio of document.querySelectorAll('input[name="senders-by"]')) {
      radio.addEventListener('change', () => {
        markLoading('senders');
        loadSenders();
      });
    }
    const senders = $('senders-table');
    senders.addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr) {
        pickSender(tr);
      }
    });
    senders.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ') {
        return;
      }
      const tr = e.target.closest('tr');
      if (tr) {
        e.preventDefault();
        pickSender(tr);
      }
    });
    $('quota-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const key = $('quota-key').value.trim();
      if (key) {
        loadQuota(key);
      }
    });
    $('lookup-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const address = $('lookup-address').value.trim();
      if (address) {
        lookup(address, $('lookup-sender-domain').value.trim());
      }
    });
    $('events-pause').addEventListener('click', () => {
      const ev = state.events;
      ev.paused = !ev.paused;
      $('events-pause').setAttribute('aria-pressed', ev.paused ? 'true' : 'false');
      $('events-pause').textContent = ev.paused ? 'Resume' : 'Pause';
      if (ev.paused) {
        stopEvents();
      } else if (state.section === 'events') {
        startEvents();
      }
    });
    window.setInterval(() => {
      if (state.section && state.section !== 'events' && !document.hidden) {
        refresh(state.section);
      }
    }, REFRESH_MS);
  }

  function start() {
    wire();
    loadInfo();
    showSection();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
