// The console's reports page (/console/reports): GET /api/reports with the token the console
// keeps after sign-in, drawn as hand-made SVG charts and tables. Every text goes in with
// textContent; SVG is built with createElementNS.
(function () {
  'use strict';
  const TOKEN_KEY = 'chatdesk.console.token';
  const SVG = 'http://www.w3.org/2000/svg';
  const token = localStorage.getItem(TOKEN_KEY);
  const $ = (id) => document.getElementById(id);
  const W = 560;
  const H = 220;
  const PAD = { left: 48, right: 10, top: 10, bottom: 34 };

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k of Object.keys(attrs || {})) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showError(message) {
    $('rp-error').textContent = message || '';
    $('rp-error').hidden = !message;
  }

  /** A duration in seconds as people read it: 45s, 2m 05s, 1h 20m, 2d 3h. */
  function duration(s) {
    if (s === null || s === undefined) return '–';
    s = Math.round(s);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
  }

  function rating(v) { return v === null || v === undefined ? '–' : v.toFixed(2); }

  /** A bucket's start as a short label: the local date, or the local hour for hour buckets. */
  function bucketLabel(b, size) {
    const date = b.start.slice(5, 10);
    return size === 'hour' ? date + ' ' + b.start.slice(11, 16) : date;
  }

  /** Today in time zone `tz` as YYYY-MM-DD. */
  function today(tz) {
    const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
    return parts.slice(0, 10);
  }

  function addDays(ymd, n) {
    const d = new Date(ymd + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  /** The query of the form: `to` is the day after the last day shown (the API's end is exclusive). */
  function query(format) {
    const p = new URLSearchParams({
      from: $('rp-from').value,
      to: addDays($('rp-to').value, 1),
      bucket: $('rp-bucket').value,
      tz: $('rp-tz').value.trim() || 'UTC',
    });
    if (format) p.set('format', format);
    return '/api/reports?' + p.toString();
  }

  async function get(path) {
    const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
    if (!res.ok) {
      const data = await res.json().catch(() => null);
      throw new Error((data && data.error && data.error.message) || ('HTTP ' + res.status));
    }
    return res;
  }

  /** The frame of a chart: axes, the y maximum and zero, and the x labels (thinned). */
  function frame(labels, yMax, yFormat) {
    const svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    const x0 = PAD.left;
    const y0 = H - PAD.bottom;
    svg.append(svgEl('line', { class: 'axis', x1: x0, y1: PAD.top, x2: x0, y2: y0 }));
    svg.append(svgEl('line', { class: 'axis', x1: x0, y1: y0, x2: W - PAD.right, y2: y0 }));
    svg.append(svgEl('text', { x: x0 - 6, y: PAD.top + 10, 'text-anchor': 'end', class: 'y-max' }, yFormat(yMax)));
    svg.append(svgEl('text', { x: x0 - 6, y: y0, 'text-anchor': 'end' }, yFormat(0)));
    const step = (W - PAD.left - PAD.right) / Math.max(labels.length, 1);
    const every = Math.max(1, Math.ceil(labels.length / 10));
    labels.forEach((l, i) => {
      if (i % every) return;
      svg.append(svgEl('text', { x: x0 + step * (i + 0.5), y: y0 + 16, 'text-anchor': 'middle', class: 'x-label' }, l));
    });
    return { svg, x0, y0, step, h: y0 - PAD.top };
  }

  /** Stacked bars: `series` is [{key, cls, values}]; one <rect class="bar"> per non-empty part. */
  function bars(target, labels, series, yFormat, fixedMax) {
    const totals = labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
    const yMax = fixedMax || Math.max(1, ...totals);
    const f = frame(labels, yMax, yFormat);
    const w = Math.max(1, f.step * 0.7);
    labels.forEach((label, i) => {
      let y = f.y0;
      for (const s of series) {
        const v = s.values[i] || 0;
        if (!v) continue;
        const h = f.h * v / yMax;
        y -= h;
        const r = svgEl('rect', { class: 'bar ' + s.cls, x: f.x0 + f.step * i + (f.step - w) / 2, y, width: w, height: h, 'data-bucket': i, 'data-series': s.key });
        r.append(svgEl('title', {}, label + ' · ' + s.key + ': ' + yFormat(v)));
        f.svg.append(r);
      }
    });
    target.replaceChildren(f.svg);
    if (series.length > 1) target.append(legend(series));
  }

  /** Lines with a point per bucket that has a value: `series` is [{key, cls, values}]. */
  function lines(target, labels, series, yFormat) {
    const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
    const yMax = Math.max(1, ...all);
    const f = frame(labels, yMax, yFormat);
    for (const s of series) {
      let d = '';
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const x = f.x0 + f.step * (i + 0.5);
        const y = f.y0 - f.h * v / yMax;
        d += (d ? ' L ' : 'M ') + x.toFixed(1) + ' ' + y.toFixed(1);
        const c = svgEl('circle', { class: 'point ' + s.cls, cx: x.toFixed(1), cy: y.toFixed(1), r: 3, 'data-bucket': i, 'data-series': s.key });
        c.append(svgEl('title', {}, labels[i] + ' · ' + s.key + ': ' + yFormat(v)));
        f.svg.append(c);
      });
      if (d) f.svg.insertBefore(svgEl('path', { class: 'line ' + s.cls, d }), f.svg.firstChild);
    }
    target.replaceChildren(f.svg);
    target.append(legend(series));
  }

  function legend(series) {
    const l = el('div', null, 'rp-legend');
    for (const s of series) {
      const item = el('span');
      const sw = el('i', null, 'bar ' + s.cls);
      sw.style.background = { 's-visitor': '#6366f1', 's-agent': '#16a34a', 's-assistant': '#f59e0b', 's-notes': '#9ca3af', median: '#4f46e5', p90: '#f97316' }[s.cls] || '#4f46e5';
      item.append(sw, document.createTextNode(s.key));
      l.append(item);
    }
    return l;
  }

  function card(title, value, detail) {
    const c = el('div', null, 'rp-card');
    c.append(el('small', title), el('strong', value));
    if (detail) c.append(el('small', detail));
    return c;
  }

  const COLUMNS = [
    ['Conversations', (f) => f.conversations],
    ['First response median', (f) => duration(f.firstResponse.median)],
    ['First response p90', (f) => duration(f.firstResponse.p90)],
    ['Answered', (f) => f.firstResponse.count],
    ['Resolved', (f) => f.resolution.count],
    ['Resolution median', (f) => duration(f.resolution.median)],
    ['Resolution p90', (f) => duration(f.resolution.p90)],
    ['Visitor msgs', (f) => f.messages.visitor],
    ['Agent msgs', (f) => f.messages.agent],
    ['Assistant msgs', (f) => f.messages.assistant],
    ['Notes', (f) => f.messages.notes],
    ['Ratings', (f) => f.csat.count],
    ['CSAT', (f) => rating(f.csat.average)],
  ];

  /** A table: one row per item, `name(item)` (a node or text) then the figures. */
  function table(target, first, items, name) {
    const head = el('tr');
    head.append(el('th', first));
    for (const [title] of COLUMNS) head.append(el('th', title));
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    for (const it of items) {
      const tr = el('tr');
      const th = el('td');
      th.append(name(it));
      tr.append(th);
      for (const [, value] of COLUMNS) tr.append(el('td', String(value(it))));
      tbody.append(tr);
    }
    if (!items.length) {
      const tr = el('tr');
      const td = el('td', 'Nothing in this range.', 'muted');
      td.colSpan = COLUMNS.length + 1;
      tr.append(td);
      tbody.append(tr);
    }
    target.replaceChildren(thead, tbody);
  }

  function render(r) {
    const t = r.total;
    $('rp-cards').replaceChildren(
      card('Conversations', String(t.conversations)),
      card('First response (median)', duration(t.firstResponse.median), 'p90 ' + duration(t.firstResponse.p90)),
      card('Resolution (median)', duration(t.resolution.median), 'p90 ' + duration(t.resolution.p90) + ' · ' + t.resolution.count + ' resolved'),
      card('Messages', String(t.messages.visitor + t.messages.agent + t.messages.assistant),
        t.messages.visitor + ' visitor · ' + t.messages.agent + ' agent · ' + t.messages.assistant + ' assistant · ' + t.messages.notes + ' notes'),
      card('CSAT', rating(t.csat.average), t.csat.count + ' ratings'),
    );
    const labels = r.buckets.map((b) => bucketLabel(b, r.bucket));
    const col = (f) => r.buckets.map(f);
    const count = (v) => String(Math.round(v));
    bars($('chart-conversations'), labels, [{ key: 'conversations', cls: 'conversations', values: col((b) => b.conversations) }], count);
    lines($('chart-first-response'), labels, [
      { key: 'median', cls: 'median', values: col((b) => b.firstResponse.median) },
      { key: 'p90', cls: 'p90', values: col((b) => b.firstResponse.p90) },
    ], duration);
    lines($('chart-resolution'), labels, [
      { key: 'median', cls: 'median', values: col((b) => b.resolution.median) },
      { key: 'p90', cls: 'p90', values: col((b) => b.resolution.p90) },
    ], duration);
    bars($('chart-messages'), labels, [
      { key: 'visitor', cls: 's-visitor', values: col((b) => b.messages.visitor) },
      { key: 'agent', cls: 's-agent', values: col((b) => b.messages.agent) },
      { key: 'assistant', cls: 's-assistant', values: col((b) => b.messages.assistant) },
      { key: 'notes', cls: 's-notes', values: col((b) => b.messages.notes) },
    ], count);
    bars($('chart-csat'), labels, [{ key: 'average rating', cls: 'csat', values: col((b) => b.csat.average) }], (v) => v.toFixed(1), 5);

    table($('rp-buckets'), 'Bucket (' + r.tz + ')', r.buckets, (b) => document.createTextNode(b.start.slice(0, 16).replace('T', ' ')));
    table($('rp-agents'), 'Agent', r.agents, (a) => document.createTextNode(a.name || '(deleted account)'));
    table($('rp-labels'), 'Label', r.labels, (l) => {
      const span = el('span');
      const sw = el('span', null, 'rp-swatch');
      sw.style.background = l.color;
      span.append(sw, document.createTextNode(l.name));
      return span;
    });
    $('rp-result').hidden = false;
  }

  async function show(ev) {
    if (ev) ev.preventDefault();
    showError('');
    $('rp-status').textContent = 'Loading…';
    try {
      const r = await (await get(query())).json();
      render(r);
      $('rp-status').textContent = r.buckets.length + ' buckets, ' + r.from.slice(0, 16).replace('T', ' ') + ' to ' + r.to.slice(0, 16).replace('T', ' ') + ' (' + r.tz + ')';
    } catch (e) {
      $('rp-status').textContent = '';
      showError(e.message);
    }
  }

  /** Fetches the CSV with the token and saves it under the server's file name. */
  async function downloadCsv() {
    showError('');
    try {
      const res = await get(query('csv'));
      const blob = await res.blob();
      const disposition = res.headers.get('Content-Disposition') || '';
      const m = /filename="([^"]+)"/.exec(disposition);
      const a = el('a');
      a.href = URL.createObjectURL(blob);
      a.download = m ? m[1] : 'chatdesk-report.csv';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) {
      showError(e.message);
    }
  }

  function start() {
    if (!token) {
      $('rp-signin').hidden = false;
      return;
    }
    let tz = 'UTC';
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (_) { tz = 'UTC'; }
    const params = new URLSearchParams(location.search);
    $('rp-tz').value = params.get('tz') || tz;
    try {
      const zones = $('rp-zones');
      for (const z of ['UTC'].concat(Intl.supportedValuesOf('timeZone'))) {
        const o = document.createElement('option');
        o.value = z;
        zones.append(o);
      }
    } catch (_) { /* an older browser: the field takes any name */ }
    const end = params.get('to') || today($('rp-tz').value);
    $('rp-to').value = end;
    $('rp-from').value = params.get('from') || addDays(end, -6);
    if (params.get('bucket')) $('rp-bucket').value = params.get('bucket');
    $('rp-form').hidden = false;
    $('rp-form').addEventListener('submit', show);
    $('rp-csv').addEventListener('click', downloadCsv);
    show();
  }

  start();
})();
