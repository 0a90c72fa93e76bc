// The console's webhooks page (/console/webhooks): endpoints over REST with the token the
// console keeps after sign-in (admins only), the secret shown once at creation, and each
// endpoint's delivery log with a redeliver button. Everything is rendered with textContent.
(function () {
  'use strict';
  const TOKEN_KEY = 'chatdesk.console.token';
  const USER_KEY = 'chatdesk.console.user';
  const EVENTS = ['session.created', 'message.created', 'session.status_changed', 'session.assigned', 'rating.created'];
  const token = localStorage.getItem(TOKEN_KEY);
  let user = null;
  try { user = JSON.parse(localStorage.getItem(USER_KEY) || 'null'); } catch (_) { user = null; }
  const $ = (id) => document.getElementById(id);
  let shown = null; // the endpoint whose log is open

  function showError(message) {
    const e = $('wh-error');
    e.textContent = message || '';
    e.hidden = !message;
  }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: Object.assign({ Authorization: 'Bearer ' + token },
        body ? { 'Content-Type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      throw new Error((data && data.error && data.error.message) || ('HTTP ' + res.status));
    }
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function button(text, onClick) {
    const b = el('button', text, 'btn btn-ghost');
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  async function run(f) {
    showError('');
    try { await f(); } catch (e) { showError(e.message); }
  }

  async function loadEndpoints() {
    const list = $('endpoint-list');
    const endpoints = await api('GET', '/api/webhooks');
    list.replaceChildren();
    for (const ep of endpoints) {
      const li = el('li');
      li.dataset.id = ep.id;
      li.append(el('span', ep.url, 'kb-grow wh-url'));
      li.append(el('span', ep.events.join(', '), 'muted'));
      li.dataset.batch = String(ep.batchSize || 1);
      li.append(el('span', ep.active ? 'active' : 'paused', 'kb-badge'));
      li.append(button(ep.active ? 'Pause' : 'Activate', () => run(async () => {
        await api('PATCH', '/api/webhooks/' + encodeURIComponent(ep.id), { active: !ep.active });
        await loadEndpoints();
      })));
      // Events per request, changed in place (1: one event per POST).
      const batch = document.createElement('input');
      batch.type = 'number';
      batch.min = '1';
      batch.max = '500';
      batch.value = String(ep.batchSize || 1);
      batch.className = 'wh-batch';
      batch.title = 'Events per request: 1 sends one event per POST; more sends {"events": [...]}';
      batch.setAttribute('aria-label', 'Events per request');
      batch.addEventListener('change', () => run(async () => {
        const n = Number(batch.value);
        if (!Number.isInteger(n) || n < 1 || n > 500) throw new Error('Events per request must be a whole number from 1 to 500');
        await api('PATCH', '/api/webhooks/' + encodeURIComponent(ep.id), { batchSize: n });
        await loadEndpoints();
      }));
      li.append(batch);
      li.append(button('Deliveries', () => run(() => openLog(ep))));
      li.append(button('Delete', () => run(async () => {
        if (!confirm('Delete the webhook to ' + ep.url + ' and its delivery log?')) return;
        await api('DELETE', '/api/webhooks/' + encodeURIComponent(ep.id));
        if (shown && shown.id === ep.id) { shown = null; $('wh-log').hidden = true; }
        await loadEndpoints();
      })));
      list.append(li);
    }
    if (!endpoints.length) list.append(el('li', 'No webhook yet.', 'muted'));
  }

  async function openLog(ep) {
    shown = ep;
    $('log-title').textContent = 'Deliveries to ' + ep.url;
    $('wh-log').hidden = false;
    await loadLog();
  }

  async function loadLog() {
    if (!shown) return;
    const page = await api('GET', '/api/webhooks/' + encodeURIComponent(shown.id) + '/deliveries?limit=100');
    const rows = $('log-rows');
    rows.replaceChildren();
    for (const d of page.deliveries) {
      const tr = el('tr');
      tr.dataset.status = d.status;
      for (const v of [d.id, d.event, d.status, d.attempts, d.lastStatusCode, d.lastError, d.nextAttemptAt, d.createdAt]) {
        tr.append(el('td', v === null || v === undefined ? '' : v));
      }
      const td = el('td');
      td.append(button('Redeliver', () => run(async () => {
        await api('POST', '/api/webhooks/' + encodeURIComponent(shown.id) + '/deliveries/' + encodeURIComponent(d.id) + '/retry');
        await loadLog();
      })));
      tr.append(td);
      rows.append(tr);
    }
    if (!page.deliveries.length) {
      const tr = el('tr');
      const td = el('td', 'No delivery yet.', 'muted');
      td.colSpan = 9;
      tr.append(td);
      rows.append(tr);
    }
  }

  function eventBoxes() {
    const box = $('e-events');
    for (const name of EVENTS) {
      const label = el('label', null, 'kb-check');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.value = name;
      input.checked = true;
      label.append(input, document.createTextNode(' ' + name));
      box.append(label);
    }
  }

  function start() {
    if (!token || !user || user.role !== 'admin') {
      $('wh-signin').hidden = false;
      return;
    }
    eventBoxes();
    $('wh-endpoints').hidden = false;
    $('endpoint-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      run(async () => {
        const events = Array.from($('e-events').querySelectorAll('input:checked')).map((i) => i.value);
        const made = await api('POST', '/api/webhooks', {
          url: $('e-url').value.trim(),
          events,
          active: $('e-active').checked,
          batchSize: Number($('e-batch').value) || 1,
        });
        $('secret-value').textContent = made.secret;
        $('secret-box').hidden = false;
        $('e-url').value = '';
        await loadEndpoints();
      });
    });
    $('secret-done').addEventListener('click', () => {
      $('secret-value').textContent = '';
      $('secret-box').hidden = true;
    });
    $('log-refresh').addEventListener('click', () => run(loadLog));
    run(loadEndpoints);
    // The log of the open endpoint follows on its own.
    setInterval(() => { if (shown && !document.hidden) loadLog().catch(() => {}); }, 2000);
  }

  start();
})();
