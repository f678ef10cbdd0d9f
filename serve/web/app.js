// The asiarch dashboard: one page, no build step, talking only to the daemon's
// HTTP API. The overview loads the lineage once and then follows the event
// stream, changing only what an event names; the table asks for one page at a
// time. Nothing here reloads everything per event, so 10,000 experiments stay fast.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);

// An element with attributes and children (strings become text: nothing is parsed as HTML).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// A daemon with a token: the page asks for it once (kept for the tab, never put in a URL), sends it
// in the Authorization header, and trades it for an HttpOnly session cookie that authenticates the
// event stream, which cannot set headers.
let token = sessionStorage.getItem('asiarch-token') || '';

async function startSession() {
  if (token) await fetch('/api/session', {method: 'POST', headers: {Authorization: 'Bearer ' + token}});
}

async function api(path, options = {}, retried = false) {
  const headers = token ? {Authorization: 'Bearer ' + token} : {};
  const r = await fetch(path, {...options, headers});
  if (r.status === 401 && !retried) {
    const t = prompt('This daemon requires its token:');
    if (t) {
      token = t.trim();
      sessionStorage.setItem('asiarch-token', token);
      await startSession();
      return api(path, options, true);
    }
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || (r.status + ' ' + r.statusText));
  return {body, total: Number(r.headers.get('X-Total-Count') || 0)};
}

const fmt = (x, digits = 3) => (x === null || x === undefined ? '—' : Number(x).toFixed(digits));
const link = (id) => (id === null || id === undefined ? '—' : el('a', {href: '#/e/' + id}, '#' + id));

// ---- state shared by the views -------------------------------------------------------------

const model = {
  nodes: new Map(),  // id -> summary (id, name, origin, status, fitness, parent, seconds, ...)
  lastSeq: 0,
  status: null,
};
const table = {status: '', origin: '', q: '', sort: '-id', offset: 0, limit: 50, total: 0};

// ---- status line ----------------------------------------------------------------------------

function renderStatus(s) {
  model.status = s;
  const box = $('#status');
  box.replaceChildren();
  const counts = Object.entries(s.counts || {}).map(([k, n]) => k + ' ' + n).join(' · ') || 'no experiments yet';
  const parts = [
    el('span', {class: 'state state-' + (s.state || 'unknown'), id: 'state'}, s.paused ? 'paused' : (s.state || 'unknown')),
    el('span', {}, counts),
  ];
  if (s.preset) parts.push(el('span', {}, 'preset ' + s.preset));
  if (s.budget !== undefined) parts.push(el('span', {}, 'budget ' + (s.budget === 0 ? '∞' : s.budget)));
  if (s.workers !== undefined) parts.push(el('span', {}, (s.running || []).length + '/' + s.workers + ' workers busy'));
  if (s.llm) {
    const b = s.llm.budget_usd ? ' of $' + fmt(s.llm.budget_usd, 2) : '';
    parts.push(el('span', {}, 'LLM $' + fmt(s.llm.spent_usd, 4) + b + ', breaker ' + s.llm.breaker));
  }
  if (s.version) parts.push(el('span', {class: 'muted'}, s.version));
  box.append(...parts);
  const running = $('#running');
  running.replaceChildren(el('h3', {}, 'In flight'),
    (s.running || []).length
      ? el('ul', {}, (s.running || []).map((r) => el('li', {}, link(r.id), ' ', r.name)))
      : el('p', {class: 'muted'}, 'nothing'));
}

async function refreshStatus() {
  try {
    renderStatus((await api('/api/status')).body);
  } catch (e) {
    $('#status').textContent = 'daemon unreachable: ' + e.message;
  }
}

// ---- charts (canvas: thousands of points without thousands of DOM nodes) ---------------------

function colourOf(f, lo, hi) {
  if (f === null || f === undefined) return '#c8c8c8';
  const t = hi > lo ? Math.min(1, Math.max(0, (f - lo) / (hi - lo))) : 0.5;
  // blue (low) -> yellow -> red (high)
  const stops = [[49, 54, 149], [116, 173, 209], [254, 224, 144], [244, 109, 67], [165, 0, 38]];
  const x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), u = x - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * u));
  return 'rgb(' + c.join(',') + ')';
}

function fitnessRange() {
  let lo = Infinity, hi = -Infinity;
  for (const n of model.nodes.values())
    if (n.fitness !== null && n.fitness !== undefined) { lo = Math.min(lo, n.fitness); hi = Math.max(hi, n.fitness); }
  return lo === Infinity ? [0, 1] : [lo, hi];
}

// Axes in a box, returning the mapping from data to pixels.
function axes(ctx, w, h, xr, yr, xlabel, ylabel) {
  const L = 48, R = 12, T = 10, B = 32;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#888';
  ctx.fillStyle = '#444';
  ctx.font = '11px sans-serif';
  ctx.beginPath();
  ctx.moveTo(L, T); ctx.lineTo(L, h - B); ctx.lineTo(w - R, h - B);
  ctx.stroke();
  const sx = (x) => L + (xr[1] > xr[0] ? (x - xr[0]) / (xr[1] - xr[0]) : 0.5) * (w - L - R);
  const sy = (y) => h - B - (yr[1] > yr[0] ? (y - yr[0]) / (yr[1] - yr[0]) : 0.5) * (h - T - B);
  ctx.textAlign = 'right';
  for (const y of [yr[0], (yr[0] + yr[1]) / 2, yr[1]]) ctx.fillText(Number(y).toFixed(2), L - 4, sy(y) + 4);
  ctx.textAlign = 'center';
  for (const x of [xr[0], (xr[0] + xr[1]) / 2, xr[1]]) ctx.fillText(Number(x).toFixed(x < 10 ? 1 : 0), sx(x), h - B + 14);
  ctx.fillText(xlabel, (L + w - R) / 2, h - 4);
  ctx.save();
  ctx.translate(11, (T + h - B) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(ylabel, 0, 0);
  ctx.restore();
  return {sx, sy};
}

function drawFitness() {
  const c = $('#fitness-chart'), ctx = c.getContext('2d');
  const pts = [];
  let i = 0;
  for (const n of [...model.nodes.values()].sort((a, b) => a.id - b.id)) {
    ++i;
    if (n.fitness !== null && n.fitness !== undefined) pts.push([i, n.fitness, n]);
  }
  const [lo, hi] = fitnessRange();
  const {sx, sy} = axes(ctx, c.width, c.height, [1, Math.max(2, i)], [lo, hi], 'experiments, in order', 'fitness');
  for (const [x, y, n] of pts) {
    ctx.fillStyle = n.origin === 'baseline' ? '#222' : colourOf(y, lo, hi);
    ctx.fillRect(sx(x) - 1.5, sy(y) - 1.5, 3, 3);
  }
  ctx.strokeStyle = '#c0392b';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let best = -Infinity;
  pts.forEach(([x, y], k) => {
    const before = best;
    best = Math.max(best, y);
    if (k === 0) ctx.moveTo(sx(x), sy(best));
    else { ctx.lineTo(sx(x), sy(before)); ctx.lineTo(sx(x), sy(best)); }
  });
  ctx.stroke();
  ctx.lineWidth = 1;
  c.dataset.points = pts.length;
}

// The paper's discovery-scaling plot: designs that beat the reference, against compute.
function drawScaling() {
  const c = $('#scaling-chart'), ctx = c.getContext('2d');
  const nodes = [...model.nodes.values()].sort((a, b) => a.id - b.id);
  const ref = nodes.find((n) => n.origin === 'baseline' && n.name === model.reference && n.fitness !== null);
  let hours = 0, count = 0;
  const pts = [[0, 0]];
  for (const n of nodes) {
    hours += (n.seconds || 0) / 3600;
    if (ref && n.origin !== 'baseline' && n.fitness !== null && n.fitness > ref.fitness) ++count;
    pts.push([hours, count]);
  }
  const {sx, sy} = axes(ctx, c.width, c.height, [0, Math.max(hours, 1e-3)], [0, Math.max(count, 1)],
    'compute spent (hours of wall time)', 'designs beating DeltaNet');
  if (!ref) {
    ctx.fillStyle = '#888';
    ctx.fillText('no scored DeltaNet reference in the archive yet', c.width / 2, c.height / 2);
  }
  ctx.strokeStyle = '#1f6fb2';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  pts.forEach(([x, y], k) => (k ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
  ctx.stroke();
  ctx.lineWidth = 1;
  c.dataset.beating = count;
}

// Tree layout: depth down, leaves left to right, a parent over the middle of its children.
let lineagePos = new Map();
function drawLineage() {
  const c = $('#lineage'), ctx = c.getContext('2d');
  const kids = new Map(), roots = [];
  const nodes = [...model.nodes.values()].sort((a, b) => a.id - b.id);
  for (const n of nodes) {
    if (n.parent !== null && model.nodes.has(n.parent)) {
      if (!kids.has(n.parent)) kids.set(n.parent, []);
      kids.get(n.parent).push(n.id);
    } else roots.push(n.id);
  }
  const x = new Map(), depth = new Map();
  let leaves = 0, maxDepth = 0;
  // Iterative post-order: lineages can be thousands deep.
  for (const r of roots) {
    const stack = [[r, 0, false]];
    while (stack.length) {
      const [id, d, done] = stack.pop();
      const ch = kids.get(id) || [];
      if (!done) {
        depth.set(id, d);
        maxDepth = Math.max(maxDepth, d);
        stack.push([id, d, true]);
        for (let k = ch.length - 1; k >= 0; --k) stack.push([ch[k], d + 1, false]);
      } else {
        x.set(id, ch.length ? (x.get(ch[0]) + x.get(ch[ch.length - 1])) / 2 : leaves++);
      }
    }
  }
  const W = c.width, H = c.height, pad = 10;
  const px = (id) => pad + (leaves > 1 ? x.get(id) / (leaves - 1) : 0.5) * (W - 2 * pad);
  const py = (id) => pad + (maxDepth > 0 ? depth.get(id) / maxDepth : 0.5) * (H - 2 * pad);
  ctx.clearRect(0, 0, W, H);
  ctx.strokeStyle = 'rgba(120,120,120,0.45)';
  ctx.beginPath();
  let edges = 0;
  for (const [p, ch] of kids)
    for (const k of ch) { ctx.moveTo(px(p), py(p)); ctx.lineTo(px(k), py(k)); ++edges; }
  ctx.stroke();
  const [lo, hi] = fitnessRange();
  const r = nodes.length > 2000 ? 1.5 : 3.5;
  lineagePos = new Map();
  for (const n of nodes) {
    const X = px(n.id), Y = py(n.id);
    lineagePos.set(n.id, [X, Y]);
    ctx.fillStyle = n.status === 'failed' || n.status === 'stopped' ? '#9e9e9e' : colourOf(n.fitness, lo, hi);
    ctx.beginPath();
    ctx.arc(X, Y, n.origin === 'baseline' ? r + 1.5 : r, 0, 2 * Math.PI);
    ctx.fill();
  }
  c.dataset.nodes = nodes.length;
  c.dataset.edges = edges;
}

$('#lineage').addEventListener('click', (ev) => {
  const c = ev.currentTarget, b = c.getBoundingClientRect();
  const mx = (ev.clientX - b.left) * (c.width / b.width), my = (ev.clientY - b.top) * (c.height / b.height);
  let best = null, bd = 64;
  for (const [id, [X, Y]] of lineagePos) {
    const d = (X - mx) ** 2 + (Y - my) ** 2;
    if (d < bd) { bd = d; best = id; }
  }
  if (best !== null) location.hash = '#/e/' + best;
});

let drawPending = false;
function drawOverview() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    drawFitness();
    drawScaling();
    drawLineage();
  });
}

async function loadLineage() {
  const {body} = await api('/api/lineage');
  model.nodes = new Map(body.nodes.map((n) => [n.id, n]));
  model.reference = body.reference;  // the server names the reference design
  drawOverview();
}

// ---- experiments table ----------------------------------------------------------------------

async function loadTable() {
  const p = new URLSearchParams({sort: table.sort, limit: table.limit, offset: table.offset});
  for (const k of ['status', 'origin', 'q']) if (table[k]) p.set(k, table[k]);
  const tbody = $('#experiments-table tbody');
  try {
    const {body, total} = await api('/api/experiments?' + p);
    table.total = total;
    tbody.replaceChildren(...body.map((s) => el('tr', {'data-id': s.id, class: 'status-' + s.status},
      el('td', {}, link(s.id)), el('td', {}, s.name), el('td', {}, s.origin), el('td', {}, s.status),
      el('td', {class: 'num'}, fmt(s.fitness)), el('td', {}, link(s.parent)), el('td', {}, (s.created_at || '').replace('T', ' ').slice(0, 19)),
      el('td', {class: 'reason'}, s.fail_reason))));
    const last = Math.min(total, table.offset + body.length);
    $('#page-info').textContent = total ? (table.offset + 1) + '–' + last + ' of ' + total : 'no experiments match';
    $('#prev').disabled = table.offset === 0;
    $('#next').disabled = last >= total;
  } catch (e) {
    tbody.replaceChildren(el('tr', {}, el('td', {colspan: 8, class: 'error'}, e.message)));
  }
  for (const th of document.querySelectorAll('#experiments-table th[data-sort]')) {
    const key = th.dataset.sort;
    th.classList.toggle('asc', table.sort === key);
    th.classList.toggle('desc', table.sort === '-' + key);
  }
}

for (const th of document.querySelectorAll('#experiments-table th[data-sort]'))
  th.addEventListener('click', () => {
    const key = th.dataset.sort;
    table.sort = table.sort === '-' + key ? key : '-' + key;
    table.offset = 0;
    loadTable();
  });
let filterTimer = null;
$('#filters').addEventListener('input', () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    const f = new FormData($('#filters'));
    table.status = f.get('status');
    table.origin = f.get('origin');
    table.q = f.get('q').trim();
    table.offset = 0;
    loadTable();
  }, 200);
});
$('#filters').addEventListener('submit', (e) => e.preventDefault());
$('#prev').addEventListener('click', () => { table.offset = Math.max(0, table.offset - table.limit); loadTable(); });
$('#next').addEventListener('click', () => { table.offset += table.limit; loadTable(); });

// ---- plugins --------------------------------------------------------------------------------

async function loadPlugins() {
  const tbody = $('#plugins-table tbody');
  try {
    const {body} = await api('/api/plugins');
    tbody.replaceChildren(...(body.length ? body.map((p) => el('tr', {'data-file': p.file, class: 'state-' + p.state},
      el('td', {}, p.file, p.present ? '' : ' (removed)'), el('td', {}, p.state),
      el('td', {}, p.experiment ? link(p.experiment.id) : '—'), el('td', {class: 'num'}, fmt(p.experiment && p.experiment.fitness)),
      el('td', {class: 'reason'}, p.reason || (p.experiment && p.experiment.fail_reason) || '')))
      : [el('tr', {}, el('td', {colspan: 5, class: 'muted'}, 'no files in the drop folder; save a .cpp plugin there'))]));
  } catch (e) {
    tbody.replaceChildren(el('tr', {}, el('td', {colspan: 5, class: 'error'}, e.message)));
  }
}

// ---- one experiment -------------------------------------------------------------------------

function diffBlock(text) {
  return el('pre', {class: 'diff'}, (text || '(no difference)').split('\n').map((line) =>
    el('span', {class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : ''}, line + '\n')));
}

function diagnosticsBlock(d) {
  const items = (d && d.items) || [];
  if (!items.length) return el('p', {class: 'muted'}, 'no diagnostics');
  return el('ul', {class: 'diagnostics'}, items.map((x) => el('li', {class: 'sev-' + x.severity},
    el('code', {}, (x.file || '?') + ':' + x.line + ':' + x.column + ': '), el('b', {}, x.severity + ': '), x.message,
    x.source_line ? el('pre', {class: 'src'}, x.source_line) : null,
    (x.notes || []).length ? el('ul', {}, x.notes.map((n) => el('li', {class: 'note'}, (n.line ? n.line + ': ' : '') + n.message))) : null)),
  d.dropped ? el('li', {class: 'muted'}, d.dropped + ' more not kept') : null);
}

function lossChart(runs) {
  const c = el('canvas', {width: 560, height: 220, class: 'loss-chart'});
  const ctx = c.getContext('2d');
  const curves = runs.filter((r) => (r.curve || []).length);
  let xs = [Infinity, -Infinity], ys = [Infinity, -Infinity];
  for (const r of curves)
    for (const [s, l] of r.curve) { xs = [Math.min(xs[0], s), Math.max(xs[1], s)]; ys = [Math.min(ys[0], l), Math.max(ys[1], l)]; }
  if (!curves.length) return el('p', {class: 'muted'}, 'no loss curve recorded');
  const {sx, sy} = axes(ctx, c.width, c.height, xs, ys, 'step', 'training loss');
  const palette = ['#1f6fb2', '#c0392b', '#27ae60', '#8e44ad', '#d35400', '#16a085'];
  curves.forEach((r, k) => {
    ctx.strokeStyle = palette[k % palette.length];
    ctx.beginPath();
    r.curve.forEach(([s, l], i) => (i ? ctx.lineTo(sx(s), sy(l)) : ctx.moveTo(sx(s), sy(l))));
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle;
    ctx.textAlign = 'right';
    ctx.fillText(r.task, c.width - 14, 16 + 13 * k);
  });
  c.dataset.curves = curves.length;
  return c;
}

// "0.123 ± 0.045" from an interval ({mean, half_width}); the mean alone with one seed.
function interval(i, digits = 3) {
  if (!i) return '—';
  return i.half_width === undefined ? fmt(i.mean, digits) : fmt(i.mean, digits) + ' ± ' + fmt(i.half_width, digits);
}

// Per preset: each metric's mean and 95% interval over seeds, and the verdict against DeltaNet
// paired by seed ("better" or "worse" only where the interval of the difference excludes zero).
function measuredTable(rows) {
  if (!rows || !rows.length) return el('p', {class: 'muted'}, 'no seed measured yet');
  const tasks = [...new Set(rows.flatMap((r) => Object.keys(r.measured.tasks || {})))].sort();
  const signed = (i) => (i.mean >= 0 ? '+' : '') + interval(i);
  return [el('table', {class: 'grid', id: 'measured'},
    el('tr', {}, ['preset', 'seeds', 'bits/byte', 'mean accuracy', ...tasks, 'against DeltaNet, paired by seed'].map((x) => el('th', {}, x))),
    rows.map((r) => {
      const vs = r.reference ? 'the reference' : !r.against_reference ? '—'
        : r.against_reference.verdict + ': fitness ' + signed(r.against_reference.fitness) +
          (r.against_reference.bits_per_byte ? '; bits/byte ' + signed(r.against_reference.bits_per_byte) : '') +
          (r.against_reference.accuracy ? '; accuracy ' + signed(r.against_reference.accuracy) : '');
      const verdict = r.against_reference ? r.against_reference.verdict : '';
      return el('tr', {}, el('td', {}, r.preset), el('td', {class: 'num'}, r.measured.seeds),
        el('td', {class: 'num'}, interval(r.measured.bits_per_byte)), el('td', {class: 'num'}, interval(r.measured.accuracy)),
        tasks.map((t) => el('td', {class: 'num'}, interval((r.measured.tasks || {})[t]))),
        el('td', {class: verdict === 'better' ? 'pass' : verdict === 'worse' ? 'fail' : ''}, vs));
    })),
    el('p', {class: 'muted'}, '± is a 95% interval over seeds (Student\'s t); "better" or "worse" only where the ' +
      'interval of the paired fitness difference excludes zero, which needs two seeds or more.')];
}

async function showExperiment(id) {
  const box = $('#experiment');
  box.replaceChildren(el('p', {class: 'muted'}, 'loading #' + id + '…'));
  let d, h, diff;
  try {
    [d, h, diff] = await Promise.all([api('/api/experiments/' + id), api('/api/experiments/' + id + '/history'),
      api('/api/experiments/' + id + '/diff')]).then((rs) => rs.map((r) => r.body));
  } catch (e) {
    box.replaceChildren(el('p', {class: 'error'}, 'experiment #' + id + ': ' + e.message));
    return;
  }
  const score = d.score ? el('p', {}, 'fitness ', el('b', {}, fmt(d.fitness)), ' = loss ' + fmt(d.score.loss) +
    ' + benchmarks ' + fmt(d.score.bench) + ' + judge ' + fmt(d.score.judge)) : null;
  const sections = [
    el('h2', {}, '#' + d.id + ' ' + d.name, ' ', el('span', {class: 'badge status-' + d.status}, d.status),
      ' ', el('span', {class: 'badge'}, d.origin)),
    el('p', {}, 'parent ', link(d.parent), d.design && d.design.file ? ' · file ' + d.design.file : '',
      ' · created ' + (d.created_at || '')),
    d.fail_reason ? el('p', {class: 'error', id: 'fail-reason'}, d.fail_reason) : null,
    score,
    d.motivation ? el('blockquote', {}, d.motivation) : null,
    el('h3', {}, 'Gates'),
    d.gates.length ? el('table', {class: 'grid', id: 'gates'}, el('tr', {}, el('th', {}, 'gate'), el('th', {}, 'result'), el('th', {}, 'reason')),
      d.gates.map((g) => el('tr', {class: g.passed ? 'pass' : 'fail'}, el('td', {}, g.name), el('td', {}, g.passed ? 'passed' : 'failed'), el('td', {}, g.reason))))
      : el('p', {class: 'muted'}, 'no gate ran'),
    el('h3', {}, 'Training'),
    d.training_runs.length ? el('table', {class: 'grid', id: 'training-runs'}, el('tr', {}, ['preset', 'task', 'metric', 'value', 'steps', 'tokens/s', 'peak memory', 'stopped'].map((x) => el('th', {}, x))),
      d.training_runs.map((r) => el('tr', {}, el('td', {}, r.preset), el('td', {}, r.task), el('td', {}, r.metric_name), el('td', {class: 'num'}, fmt(r.metric)),
        el('td', {class: 'num'}, r.steps), el('td', {class: 'num'}, fmt(r.tokens_per_second, 0)),
        el('td', {class: 'num peak-memory'}, r.peak_bytes ? fmt(r.peak_bytes / 1048576, 1) + ' MiB' : '—'), el('td', {}, r.stop_reason)))) : null,
    lossChart(d.training_runs),
    el('h3', {}, 'Measured over seeds'),
    measuredTable(d.measured),
    el('h3', {}, 'Compile and repair attempts'),
    h.attempts.length ? el('ol', {class: 'attempts', id: 'attempts'}, h.attempts.map((a) => el('li', {class: a.ok ? 'ok' : 'failed'},
      el('p', {}, el('b', {}, 'attempt ' + a.attempt + ': ' + (a.ok ? 'built' : 'failed')), ' in ' + fmt(a.seconds, 2) + ' s',
        a.method ? ' · ' + a.method : '', a.failure ? ' · ' + a.failure : ''),
      diagnosticsBlock(a.diagnostics),
      a.diff ? el('details', {}, el('summary', {}, 'repair diff'), diffBlock(a.diff)) : null)))
      : el('p', {class: 'muted'}, 'not compiled yet'),
    h.runtime_attempts.length ? [el('h3', {}, 'Runtime attempts'), el('ol', {class: 'attempts'}, h.runtime_attempts.map((r) => el('li', {},
      el('p', {}, el('b', {}, 'revision ' + r.revision + ' (' + r.stage + ')'), ': ' + r.failure),
      el('p', {class: 'muted'}, r.revised ? 'revised: ' + r.method : 'not revised: ' + r.method),
      r.diff ? el('details', {}, el('summary', {}, 'revision diff'), diffBlock(r.diff)) : null)))] : null,
    el('h3', {}, 'LLM calls'),
    h.llm_calls.length ? el('table', {class: 'grid', id: 'llm-calls'}, el('tr', {}, ['role', 'purpose', 'model', 'tokens', 'cost', 'latency', 'outcome'].map((x) => el('th', {}, x))),
      h.llm_calls.map((c) => el('tr', {}, el('td', {}, c.role), el('td', {}, c.purpose), el('td', {}, c.model),
        el('td', {class: 'num'}, c.prompt_tokens + '+' + c.completion_tokens), el('td', {class: 'num'}, '$' + fmt(c.cost_usd, 4)),
        el('td', {class: 'num'}, fmt(c.latency_seconds, 1) + ' s'),
        el('td', {}, c.error ? 'error: ' + c.error : c.outcome, el('details', {}, el('summary', {}, 'answer'), el('pre', {}, c.response))))))
      : el('p', {class: 'muted'}, 'none: this design came from the offline agents or a file'),
    (d.analyses || []).length ? [el('h3', {}, 'Analysis'), d.analyses.map((a) => el('blockquote', {}, a.text))] : null,
    el('h3', {}, 'Diff from the parent'),
    diffBlock(diff.diff),
    el('h3', {}, 'Code'),
    el('pre', {class: 'code', id: 'code'}, d.source),
  ];
  box.replaceChildren(...sections.flat().filter(Boolean));
  box.dataset.id = d.id;
}

// ---- routing --------------------------------------------------------------------------------

let current = {view: 'overview', id: null};
function route() {
  const m = location.hash.match(/^#\/e\/(\d+)/);
  const view = m ? 'experiment' : (location.hash.replace(/^#\//, '') || 'overview');
  current = {view: ['overview', 'experiments', 'plugins', 'experiment'].includes(view) ? view : 'overview', id: m ? Number(m[1]) : null};
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== current.view;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === current.view);
  if (current.view === 'overview') drawOverview();
  if (current.view === 'experiments') loadTable();
  if (current.view === 'plugins') loadPlugins();
  if (current.view === 'experiment') showExperiment(current.id);
}
window.addEventListener('hashchange', route);

// ---- live updates ---------------------------------------------------------------------------

// Events name experiments; each named one is re-read once (its summary), at most once a second.
const dirty = new Set();
let flushTimer = null, statusDirty = false;
function flushSoon() {
  if (flushTimer) return;
  flushTimer = setTimeout(async () => {
    flushTimer = null;
    const ids = [...dirty];
    dirty.clear();
    for (const id of ids) {
      try {
        const {body} = await api('/api/experiments/' + id);
        model.nodes.set(id, {id: body.id, name: body.name, origin: body.origin, status: body.status, fitness: body.fitness,
          parent: body.parent, created_at: body.created_at, fail_reason: body.fail_reason, seconds: body.seconds});
      } catch (e) { /* gone or unreadable: the next event tries again */ }
    }
    if (statusDirty) { statusDirty = false; refreshStatus(); }
    if (current.view === 'overview') drawOverview();
    if (current.view === 'experiments' && ids.length) loadTable();
    if (current.view === 'plugins') loadPlugins();
    if (current.view === 'experiment' && ids.includes(current.id)) showExperiment(current.id);
  }, 1000);
}

async function follow() {
  await startSession();
  const p = new URLSearchParams({since: model.lastSeq, unnamed: 1});
  const es = new EventSource('/api/events?' + p);
  es.onopen = () => $('#live').classList.add('on');
  es.onerror = () => $('#live').classList.remove('on');  // EventSource reconnects with Last-Event-ID
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    model.lastSeq = Math.max(model.lastSeq, ev.seq);
    document.body.dataset.lastEvent = ev.seq;
    if (ev.experiment !== null && ev.experiment !== undefined) dirty.add(ev.experiment);
    statusDirty = true;
    flushSoon();
  };
}

async function post(path) {
  try { await api(path, {method: 'POST'}); } catch (e) { alert(e.message); }
  refreshStatus();
}
$('#pause').addEventListener('click', () => post('/api/pause'));
$('#resume').addEventListener('click', () => post('/api/resume'));

async function start() {
  await refreshStatus();
  model.lastSeq = (model.status && model.status.last_event) || 0;
  try { await loadLineage(); } catch (e) { $('#lineage').replaceWith(el('p', {class: 'error'}, 'lineage: ' + e.message)); }
  route();
  follow();
  setInterval(refreshStatus, 5000);  // workers' progress between events
  document.body.dataset.ready = '1';
}
start();
