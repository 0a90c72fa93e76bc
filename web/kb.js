// The console's knowledge-base page (/console/kb): articles and auto-reply rules over REST,
// with the token the console keeps after sign-in. Everything is rendered with textContent.
(function () {
  'use strict';
  const TOKEN_KEY = 'chatdesk.console.token';
  const USER_KEY = 'chatdesk.console.user';
  const token = localStorage.getItem(TOKEN_KEY);
  let user = null;
  try { user = JSON.parse(localStorage.getItem(USER_KEY) || 'null'); } catch (_) { user = null; }
  const isAdmin = user && user.role === 'admin';
  const $ = (id) => document.getElementById(id);
  let editing = null;

  function showError(message) {
    const el = $('kb-error');
    el.textContent = message || '';
    el.hidden = !message;
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
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function button(text, onClick) {
    const b = el('button', text, 'btn btn-ghost');
    b.type = 'button';
    b.disabled = !isAdmin;
    b.addEventListener('click', onClick);
    return b;
  }

  async function loadArticles() {
    const list = $('article-list');
    const articles = await api('GET', '/api/kb/articles');
    list.replaceChildren();
    for (const a of articles) {
      const li = el('li');
      li.append(el('span', a.title, 'kb-grow'));
      li.append(el('span', a.published ? 'published' : 'draft', 'kb-badge'));
      if (a.published) {
        const link = el('a', a.url);
        link.href = a.url;
        link.rel = 'noopener';
        link.target = '_blank';
        li.append(link);
      }
      li.append(button('Edit', () => startEdit(a)));
      li.append(button('Delete', () => run(async () => {
        if (!confirm('Delete "' + a.title + '"?')) return;
        await api('DELETE', '/api/kb/articles/' + encodeURIComponent(a.id));
        await loadArticles();
      })));
      list.append(li);
    }
    if (!articles.length) list.append(el('li', 'No article yet.', 'muted'));
  }

  function startEdit(a) {
    editing = a ? a.id : null;
    $('article-form-title').textContent = a ? 'Edit "' + a.title + '"' : 'New article';
    $('a-title').value = a ? a.title : '';
    $('a-slug').value = a ? a.slug : '';
    $('a-tags').value = a ? a.tags.join(', ') : '';
    $('a-body').value = a ? a.body : '';
    $('a-published').checked = a ? a.published : false;
    $('a-cancel').hidden = !a;
  }

  async function saveArticle(ev) {
    ev.preventDefault();
    const body = {
      title: $('a-title').value,
      body: $('a-body').value,
      tags: $('a-tags').value.split(',').map((t) => t.trim()).filter(Boolean),
      published: $('a-published').checked,
    };
    const slug = $('a-slug').value.trim();
    if (slug) body.slug = slug;
    await run(async () => {
      if (editing) await api('PATCH', '/api/kb/articles/' + encodeURIComponent(editing), body);
      else await api('POST', '/api/kb/articles', body);
      startEdit(null);
      await loadArticles();
    });
  }

  async function loadRules() {
    const list = $('rule-list');
    const rules = await api('GET', '/api/auto-replies');
    list.replaceChildren();
    for (const r of rules) {
      const li = el('li');
      li.append(el('code', r.pattern));
      li.append(el('span', r.reply, 'kb-grow'));
      li.append(el('span', r.active ? 'active' : 'off', 'kb-badge'));
      li.append(button(r.active ? 'Switch off' : 'Switch on', () => run(async () => {
        await api('PATCH', '/api/auto-replies/' + encodeURIComponent(r.id), { active: !r.active });
        await loadRules();
      })));
      li.append(button('Delete', () => run(async () => {
        await api('DELETE', '/api/auto-replies/' + encodeURIComponent(r.id));
        await loadRules();
      })));
      list.append(li);
    }
    if (!rules.length) list.append(el('li', 'No rule yet.', 'muted'));
  }

  async function addRule(ev) {
    ev.preventDefault();
    await run(async () => {
      await api('POST', '/api/auto-replies', { pattern: $('r-pattern').value, reply: $('r-reply').value });
      $('r-pattern').value = '';
      $('r-reply').value = '';
      await loadRules();
    });
  }

  async function run(f) {
    showError('');
    try { await f(); } catch (e) { showError(e.message); }
  }

  function start() {
    if (!token) {
      $('kb-signin').hidden = false;
      return;
    }
    $('kb-articles').hidden = false;
    $('kb-rules').hidden = false;
    for (const f of [$('article-form'), $('rule-form')]) {
      for (const c of f.querySelectorAll('input, textarea, button')) c.disabled = !isAdmin;
    }
    if (!isAdmin) showError('Only admins can change articles and rules.');
    $('article-form').addEventListener('submit', saveArticle);
    $('rule-form').addEventListener('submit', addRule);
    $('a-cancel').addEventListener('click', () => startEdit(null));
    run(loadArticles);
    run(loadRules);
  }

  start();
})();
