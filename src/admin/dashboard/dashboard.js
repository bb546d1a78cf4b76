// The live dashboard: polls /api/v1/services and /api/v1/stats every second, follows the event feed
// (/api/v1/events) and draws the last five minutes with uPlot. The feed is read with fetch(), not
// EventSource, so that the admin token goes in an Authorization header like every other call (an
// EventSource cannot send one); reconnects send Last-Event-ID, so nothing in the ring is missed.
// Everything shown is set with textContent: names and messages from the gateway are never markup.

const POLL_MS = 1000;
/** Points kept per chart: five minutes at one a second. */
const HISTORY = 300;
/** Seconds behind the latency and error columns (their counters are diffed over this span). */
const RECENT_S = 10;
const EVENTS_SHOWN = 200;
const COLORS = ['#0f62fe', '#da1e28', '#198038', '#8a3ffc', '#b28600', '#007d79', '#ff7eb6', '#6f6f6f'];

// --- the admin token: ?token= once (then kept for the tab and taken out of the address), or asked for ---

const params = new URLSearchParams(location.search);
if (params.has('token')) {
  sessionStorage.setItem('sluice-token', params.get('token') ?? '');
  params.delete('token');
  const query = params.toString();
  history.replaceState(null, '', location.pathname + (query ? `?${query}` : ''));
}

function authHeaders() {
  const token = sessionStorage.getItem('sluice-token');
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A 401: ask for the token once per refusal (the prompt blocks the page, so polls do not pile up). */
function askToken() {
  const token = prompt('Admin token (SLUICE_ADMIN_TOKEN)');
  if (token) sessionStorage.setItem('sluice-token', token.trim());
}

async function getJson(path) {
  const res = await fetch(path, { headers: authHeaders() });
  if (res.status === 401) {
    askToken();
    throw new Error('unauthorized');
  }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

// --- numbers ---

/** The upper bound (ms) of the bucket holding quantile q; null with no requests (as src/rollout/analysis.ts). */
function quantileMs(counts, bounds, q) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total - 1e-9));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return i < bounds.length ? bounds[i] * 1000 : Infinity;
  }
  return Infinity;
}

function fmt(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (n === Infinity) return '∞';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

function fmtMs(ms) {
  if (ms === null) return '–';
  return ms === Infinity ? '> 300 s' : ms >= 1000 ? `${fmt(ms / 1000)} s` : `${fmt(ms)} ms`;
}

/** Per revision: the counters as polled, newest last, for the last RECENT_S seconds. */
const snapshots = new Map();

/** p50, p99 and the 5xx rate over the last RECENT_S seconds of a revision's counters. */
function recent(key, r, nowS) {
  const list = snapshots.get(key) ?? [];
  list.push({ t: nowS, counts: r.latency?.counts ?? [], codes: r.codes ?? {} });
  while (list.length > 1 && list[0].t < nowS - RECENT_S) list.shift();
  snapshots.set(key, list);
  const first = list[0];
  const last = list[list.length - 1];
  const counts = last.counts.map((n, i) => n - (first === last ? 0 : (first.counts[i] ?? 0)));
  let answered = 0;
  let errors = 0;
  for (const [code, n] of Object.entries(last.codes)) {
    const d = n - (first === last ? 0 : (first.codes[code] ?? 0));
    if (code === '499') continue;
    answered += d;
    if (code.startsWith('5')) errors += d;
  }
  const bounds = r.latency?.boundsSeconds ?? [];
  return {
    p50: quantileMs(counts, bounds, 0.5),
    p99: quantileMs(counts, bounds, 0.99),
    errorRate: answered > 0 ? errors / answered : null,
  };
}

// --- the table ---

/** Live replica counts per revision key, updated by polls and by scale/endpoints events in between. */
const live = new Map();

function cell(row, field, text, attrs = {}) {
  let td = row.querySelector(`td[data-field="${field}"]`);
  if (!td) {
    td = document.createElement('td');
    td.dataset.field = field;
    row.append(td);
  }
  if (td.textContent !== text) td.textContent = text;
  for (const [k, v] of Object.entries(attrs)) td.dataset[k] = v;
  return td;
}

/** The replica cells of a revision's row; the hidden ones carry the bare numbers for scripts and tests. */
function replicaCells(row, replicas) {
  cell(row, 'replicas', `${replicas.desired} / ${replicas.actual} / ${replicas.ready}`);
  cell(row, 'desired', String(replicas.desired)).hidden = true;
  cell(row, 'ready', String(replicas.ready)).hidden = true;
}

function renderTable(services, quantiles) {
  const tbody = document.querySelector('#revisions tbody');
  document.getElementById('no-services').hidden = services.length > 0;
  const rows = [];
  for (const s of services) {
    const head = document.createElement('tr');
    head.className = 'service';
    const td = document.createElement('td');
    td.colSpan = 11;
    td.textContent = `${s.name}  ${[...s.match.hosts, s.match.pathPrefix ?? '', s.match.model ? `model ${s.match.model}` : ''].filter(Boolean).join(' · ')}`;
    head.append(td);
    rows.push(head);
    for (const r of s.revisions) {
      const key = `${s.name}/${r.name}`;
      const row = document.querySelector(`tr[data-key="${CSS.escape(key)}"]`) ?? document.createElement('tr');
      row.dataset.key = key;
      row.dataset.revision = r.name;
      const q = quantiles.get(key);
      const replicas = live.get(key) ?? r.replicas;
      cell(row, 'name', r.name);
      cell(row, 'traffic', `${r.percent} %${r.tag ? ` (${r.tag})` : ''}`);
      cell(row, 'condition', `${r.condition.status} · ${r.condition.reason}`, { status: r.condition.status }).className = 'condition';
      replicaCells(row, replicas);
      cell(row, 'inflight', String(r.inflight));
      cell(row, 'held', String(r.held));
      cell(row, 'concurrency', `${fmt(r.stableConcurrency, 2)} / ${fmt(r.panicConcurrency, 2)}${r.panicMode ? ' panic' : ''}`);
      cell(row, 'rps', fmt(r.rps, 2));
      cell(row, 'latency', `${fmtMs(q.p50)} / ${fmtMs(q.p99)}`);
      cell(row, 'errors', q.errorRate === null ? '–' : `${fmt(q.errorRate * 100)} %`);
      cell(row, 'coldStarts', String(r.coldStarts));
      rows.push(row);
    }
  }
  tbody.replaceChildren(...rows);
}

// --- rollouts ---

function renderRollouts(services) {
  const section = document.getElementById('rollouts');
  const boxes = [];
  for (const s of services) {
    const ro = s.rollout;
    if (!ro) continue;
    const box = document.createElement('div');
    box.className = 'rollout';
    box.dataset.service = s.name;
    const title = document.createElement('strong');
    title.textContent = `Rollout ${s.name}: ${ro.from} → ${ro.to} · ${ro.strategy} · ${ro.phase} · step ${ro.step} of ${ro.steps.length} · ${ro.percent} %`;
    const bar = document.createElement('div');
    bar.className = 'progress';
    const fill = document.createElement('div');
    fill.style.width = `${Math.max(0, Math.min(100, ro.percent))}%`;
    bar.append(fill);
    const list = document.createElement('ul');
    for (const e of ro.timeline.slice(-12)) {
      const li = document.createElement('li');
      const verdict = e.analysis?.verdict;
      if (verdict) li.className = `verdict-${verdict}`;
      li.textContent = `${e.at.slice(11, 19)} ${e.type}${verdict ? ` (${verdict})` : ''}: ${e.message}`;
      list.append(li);
    }
    const extra = document.createElement('div');
    extra.className = 'muted';
    extra.textContent = [ro.waiting, ro.reason, ro.nextCheckAt ? `next check ${ro.nextCheckAt.slice(11, 19)}` : '']
      .filter(Boolean)
      .join(' · ');
    box.append(title, bar, extra, list);
    boxes.push(box);
  }
  if (boxes.length > 0) {
    const h = document.createElement('h2');
    h.textContent = 'Rollouts';
    boxes.unshift(h);
  }
  section.replaceChildren(...boxes);
}

// --- charts ---

/** One uPlot chart whose series (one or two per revision) come and go with the revisions. */
class Chart {
  constructor(el, seriesOf) {
    this.el = el;
    this.seriesOf = seriesOf; // revision key → [{ label, value }]
    this.times = [];
    this.values = new Map(); // series label → number[] aligned with times
    this.plot = undefined;
    this.labels = '';
  }

  push(t, rows) {
    this.times.push(t);
    const seen = new Set();
    for (const [key, row] of rows) {
      for (const { label, value } of this.seriesOf(key, row)) {
        seen.add(label);
        let list = this.values.get(label);
        if (!list) {
          list = new Array(this.times.length - 1).fill(null);
          this.values.set(label, list);
        }
        list.push(value);
      }
    }
    for (const [label, list] of this.values) if (!seen.has(label)) list.push(null);
    if (this.times.length > HISTORY) {
      this.times.shift();
      for (const list of this.values.values()) list.shift();
    }
    this.draw();
  }

  draw() {
    const labels = [...this.values.keys()];
    const data = [this.times, ...labels.map((l) => this.values.get(l))];
    const width = Math.max(300, this.el.clientWidth || 420);
    if (this.plot === undefined || this.labels !== labels.join('\n')) {
      this.plot?.destroy();
      this.labels = labels.join('\n');
      this.plot = new uPlot(
        {
          width,
          height: 200,
          scales: { x: { time: true } },
          series: [
            {},
            ...labels.map((label, i) => ({
              label,
              stroke: COLORS[i % COLORS.length],
              width: 1.5,
              dash: label.endsWith(' ready') ? [4, 3] : undefined,
            })),
          ],
          axes: [{}, { size: 50 }],
          legend: { live: false },
        },
        data,
        this.el,
      );
    } else {
      this.plot.setData(data);
    }
  }
}

const charts = {
  concurrency: new Chart(document.getElementById('chart-concurrency'), (key, row) =>
    row.concurrency === undefined ? [] : [{ label: key, value: row.concurrency }],
  ),
  replicas: new Chart(document.getElementById('chart-replicas'), (key, row) => [
    { label: `${key} desired`, value: row.replicas.desired },
    { label: `${key} ready`, value: row.replicas.ready },
  ]),
  held: new Chart(document.getElementById('chart-held'), (key, row) => [{ label: key, value: row.held }]),
  latency: new Chart(document.getElementById('chart-latency'), (key, row) => [
    { label: key, value: row.p99 === Infinity ? null : row.p99 },
  ]),
};

// --- polling ---

async function poll() {
  const [{ services }, stats] = await Promise.all([getJson('/api/v1/services'), getJson('/api/v1/stats')]);
  const nowS = Date.now() / 1000;
  // The newest whole second each revision reported: the concurrency chart's point.
  const perSecond = new Map(stats.revisions.map((r) => [`${r.service}/${r.revision}`, r.seconds.at(-1)?.concurrency]));
  const quantiles = new Map();
  const rows = [];
  for (const s of services) {
    for (const r of s.revisions) {
      const key = `${s.name}/${r.name}`;
      live.set(key, { ...r.replicas });
      const q = recent(key, r, nowS);
      quantiles.set(key, q);
      rows.push([key, { concurrency: perSecond.get(key), replicas: r.replicas, held: r.held, p99: q.p99 }]);
    }
  }
  renderTable(services, quantiles);
  renderRollouts(services);
  for (const chart of Object.values(charts)) chart.push(nowS, rows);
  document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function pollForever() {
  for (;;) {
    try {
      await poll();
    } catch (err) {
      document.getElementById('updated').textContent = `poll failed: ${err.message}`;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

// --- the event feed ---

function describe(e) {
  const f = e.fields;
  switch (e.type) {
    case 'scale':
      return `${f.from} → ${f.to} (${f.reason})`;
    case 'panic':
      return `${f.panic ? 'entered' : 'left'} panic mode (desired ${f.desired}, ready ${f.ready})`;
    case 'cold_start':
      return `cold start: ${f.held} held request${f.held === 1 ? '' : 's'} released after ${fmtMs(f.heldMs)}`;
    case 'endpoints':
      return `${f.ready} ready${f.added.length ? ` +${f.added.join(' +')}` : ''}${f.removed.length ? ` −${f.removed.join(' −')}` : ''}`;
    case 'condition':
      return `${f.status} · ${f.reason}: ${f.message}`;
    case 'traffic':
      return f.traffic.map((t) => `${t.revision} ${t.percent} %${t.tag ? ` (${t.tag})` : ''}`).join(', ');
    case 'rollout':
      return `${f.phase}${f.step ? ` step ${f.step}` : ''}${f.percent !== undefined ? ` ${f.percent} %` : ''}${f.verdict ? ` [${f.verdict}]` : ''}${f.reason ? `: ${f.reason}` : ''}`;
    case 'config_reload':
      return f.ok ? 'config reloaded' : `config rejected: ${f.error}`;
    default:
      return JSON.stringify(f);
  }
}

function onEvent(e) {
  const key = e.service !== undefined && e.revision !== undefined ? `${e.service}/${e.revision}` : undefined;
  // Replica numbers move at once, between polls.
  const counts = key ? live.get(key) : undefined;
  if (counts && e.type === 'scale') counts.desired = e.fields.to;
  if (counts && e.type === 'endpoints') counts.ready = e.fields.ready;
  const row = counts ? document.querySelector(`tr[data-key="${CSS.escape(key)}"]`) : null;
  if (row) replicaCells(row, counts);
  // The replica chart gets a point at the moment of the change, not only at the next poll.
  if (counts && (e.type === 'scale' || e.type === 'endpoints')) {
    charts.replicas.push(
      Date.now() / 1000,
      [...live].map(([k, replicas]) => [k, { replicas }]),
    );
  }
  const li = document.createElement('li');
  li.dataset.type = e.type;
  li.dataset.id = String(e.id);
  if (e.type === 'config_reload') li.dataset.ok = String(e.fields.ok);
  if (e.type === 'condition') li.dataset.status = e.fields.status;
  li.textContent = `${e.time.slice(11, 23)} ${e.type.padEnd(13)} ${key ?? '(gateway)'}  ${describe(e)}`;
  const list = document.getElementById('events');
  list.prepend(li);
  while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
}

function setFeedStatus(state, text) {
  const el = document.getElementById('feed-status');
  el.dataset.state = state;
  el.textContent = text;
}

/** One SSE message block ("id: …\nevent: …\ndata: …"): the event it carries, or undefined (comments, retry). */
function parseBlock(block) {
  const data = [];
  for (const line of block.split('\n')) if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
  return data.length === 0 ? undefined : JSON.parse(data.join('\n'));
}

async function followEvents() {
  let lastId = 0;
  for (;;) {
    try {
      // 0 the first time: the recent events the gateway still holds fill the list at once.
      const headers = { ...authHeaders(), Accept: 'text/event-stream', 'Last-Event-ID': String(lastId) };
      const res = await fetch('/api/v1/events', { headers });
      if (res.status === 401) askToken();
      else if (res.ok && res.body) {
        setFeedStatus('live', 'live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
            const event = parseBlock(buffer.slice(0, i));
            buffer = buffer.slice(i + 2);
            if (event !== undefined) {
              lastId = event.id;
              onEvent(event);
            }
          }
        }
      }
    } catch {
      // Connection lost: try again below.
    }
    setFeedStatus('reconnecting', 'reconnecting…');
    await new Promise((r) => setTimeout(r, 1000));
  }
}

void pollForever();
void followEvents();
