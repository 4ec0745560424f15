// lb stats page: polls /api/status every 2 s and renders one table per
// pool; drain/enable buttons call the admin API. No dependencies.
'use strict';

const REFRESH_MS = 2000;
const $ = (sel) => document.querySelector(sel);
let token = localStorage.getItem('lb-admin-token') || '';
let timer = null;

// api calls the admin API with the token, when there is one, and returns
// the decoded JSON; errors carry the API's message.
async function api(method, path) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  let resp;
  try {
    resp = await fetch(path, { method, headers, cache: 'no-store' });
  } catch (e) {
    throw new Error('cannot reach the admin API: ' + e.message);
  }
  let body = null;
  try { body = await resp.json(); } catch (e) { /* not JSON */ }
  if (resp.status === 401) {
    $('#token-form').hidden = false;
    throw new Error(token ? 'the admin API refused the token (401)' : 'the admin API needs a token (401)');
  }
  if (!resp.ok) {
    throw new Error(method + ' ' + path + ': ' + resp.status + (body && body.error ? ': ' + body.error : ''));
  }
  return body;
}

function showError(msg) {
  const e = $('#error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') n.className = v;
    else if (k.startsWith('data-')) n.setAttribute(k, v);
    else n[k] = v;
  }
  for (const k of kids) if (k != null) n.append(k);
  return n;
}

const fmt = {
  rps: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  pct: (v) => (v * 100).toFixed(v > 0 && v < 0.1 ? 2 : 1) + '%',
  ms: (v) => (v == null ? '—' : v >= 100 ? v.toFixed(0) + ' ms' : v.toFixed(1) + ' ms'),
  ago(t) {
    const s = Math.max(0, Math.round((Date.now() - new Date(t).getTime()) / 1000));
    return s < 60 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
  },
};

// sparkline draws requests/s samples as an SVG line.
function sparkline(values) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 120 24');
  svg.setAttribute('preserveAspectRatio', 'none');
  const vs = values.slice(-60);
  if (vs.length > 1) {
    const max = Math.max(...vs, 1e-9);
    const pts = vs.map((v, i) => (i * 120 / (vs.length - 1)).toFixed(1) + ',' + (22 - (v / max) * 20).toFixed(1));
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.append(line);
  }
  const title = document.createElementNS(ns, 'title');
  title.textContent = 'requests/s, last ' + Math.round(vs.length * REFRESH_MS / 1000) + ' s';
  svg.append(title);
  return svg;
}

async function command(pool, addr, verb, button) {
  button.disabled = true;
  try {
    await api('POST', '/api/servers/' + encodeURIComponent(pool) + '/' + encodeURIComponent(addr) + '/' + verb);
    showError('');
  } catch (e) {
    showError(e.message);
  }
  await refresh();
}

function serverRow(pool, s) {
  const state = el('span', { class: 'state ' + s.state, 'data-state': s.state }, s.state);
  const flags = [];
  if (s.health === 'down') flags.push(el('span', { class: 'flag bad' }, 'check failing'));
  if (s.ejected) flags.push(el('span', { class: 'flag bad' }, 'ejected'));
  if (s.slow_start) flags.push(el('span', { class: 'flag slow' }, 'slow start'));
  if (s.backup) flags.push(el('span', { class: 'flag' }, 'backup'));
  let check = '—';
  if (s.last_check) {
    check = el('span', { class: s.last_check.ok ? '' : 'bad', title: s.last_check.reason || '' },
      (s.last_check.ok ? 'ok' : 'failed' + (s.last_check.reason ? ': ' + s.last_check.reason : '')) +
      ' · ' + fmt.ago(s.last_check.at));
  }
  const drain = el('button', { 'data-action': 'drain', disabled: s.state === 'draining', type: 'button' }, 'drain');
  const enable = el('button', { 'data-action': 'enable', disabled: s.state === 'up', type: 'button' }, 'enable');
  drain.addEventListener('click', () => command(pool, s.address, 'drain', drain));
  enable.addEventListener('click', () => command(pool, s.address, 'enable', enable));
  const td = (label, cls, ...kids) => el('td', { class: cls || '', 'data-label': label }, ...kids);
  return el('tr', { 'data-pool': pool, 'data-server': s.address },
    td('server', '', s.address),
    td('state', 'state-cell', state, ...flags),
    td('weight', 'num', String(s.weight)),
    td('in flight', 'num', String(s.in_flight)),
    td('req/s', 'num', fmt.rps(s.rps)),
    td('errors', 'num' + (s.error_rate > 0 ? ' bad' : ''), fmt.pct(s.error_rate)),
    td('p50', 'num', fmt.ms(s.p50_ms)),
    td('p99', 'num', fmt.ms(s.p99_ms)),
    td('last check', '', check),
    td('req/s history', '', sparkline(s.rps_history || [])),
    td('', 'actions', drain, ' ', enable));
}

function poolSection(p) {
  const t = p.totals;
  const head = el('div', { class: 'pool-head' },
    el('h2', {}, p.name),
    el('div', { class: 'totals muted' },
      el('span', {}, t.up + '/' + t.servers + ' up'),
      el('span', {}, fmt.rps(t.rps) + ' req/s'),
      el('span', {}, fmt.pct(t.error_rate) + ' errors'),
      el('span', {}, t.in_flight + ' in flight'),
      el('span', {}, p.queue + ' queued'),
      el('span', {}, t.requests + ' requests')));
  const cols = ['server', 'state', 'weight', 'in flight', 'req/s', 'errors', 'p50', 'p99', 'last check', 'last 5 min', ''];
  const numeric = new Set(['weight', 'in flight', 'req/s', 'errors', 'p50', 'p99']);
  const thead = el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { class: numeric.has(c) ? 'num' : '' }, c))));
  const tbody = el('tbody', {}, ...p.servers.map((s) => serverRow(p.name, s)));
  return el('section', { class: 'pool', 'data-pool': p.name }, head, el('table', {}, thead, tbody));
}

async function refresh() {
  clearTimeout(timer);
  try {
    const st = await api('GET', '/api/status');
    $('#token-form').hidden = true;
    $('#pools').replaceChildren(...st.pools.map(poolSection));
    const r = st.last_reload;
    $('#reload').textContent = r ? 'last reload ' + fmt.ago(r.at) + (r.ok ? ': ok' : ': failed: ' + r.error) : '';
    $('#updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    if ($('#error').dataset.source === 'status') showError('');
  } catch (e) {
    showError(e.message);
    $('#error').dataset.source = 'status';
  }
  if (!$('#pause').checked) timer = setTimeout(refresh, REFRESH_MS);
}

$('#token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('#token').value.trim();
  localStorage.setItem('lb-admin-token', token);
  showError('');
  refresh();
});
$('#pause').addEventListener('change', () => { if (!$('#pause').checked) refresh(); });
refresh();
