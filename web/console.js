// chatdesk agent console: sign in, then a live session list and one conversation at a time,
// over socket.io namespace "/admin". Plain JavaScript, no build step.
//
// Safety rule: everything that comes from the server or from a visitor (message content,
// names, codes, IP, user agent) is put into the page with textContent, never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'chatdesk.console.token';
  const REPLY_PLACEHOLDER = 'Write a reply…  (Enter to send, Shift+Enter for a new line, / for canned responses)';
  const NOTE_PLACEHOLDER = 'Write a private note: only staff see it…';
  const USER_KEY = 'chatdesk.console.user';
  const PAGE_SIZE = 50;
  const TYPING_REFRESH_MS = 3000; // the server drops an unrefreshed "typing" after ~6 s
  const TYPING_IDLE_MS = 2500;
  const ACK_TIMEOUT_MS = 10000;

  const $ = (id) => document.getElementById(id);

  /** A new element with an optional class and text (always as text). */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  const state = {
    token: null,
    user: null,
    socket: null,
    everConnected: false,
    sessions: new Map(), // sessionId -> SessionSummary (merged with every update)
    listed: new Set(), // sessionIds the current tab's query returned (or that arrived live)
    filter: 'open',
    listHasMore: false,
    listCursor: null,
    onlineAgents: [],
    current: null, // the open conversation, see newConversation()
    opening: null, // the join_session in flight (a newer one wins)
    stash: [], // messages that arrived while opening by code
    labels: [], // the desk's labels ({id, name, color}), from GET /api/labels
    labelFilter: '', // the list shows only sessions with this label ('' = all)
    canned: [], // canned responses visible to this agent, from GET /api/canned-responses
    cannedPick: null, // the suggestions shown for "/code": {items, index}
  };

  // ---------------------------------------------------------------- helpers

  async function api(path, { method = 'GET', body, auth = true } = {}) {
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && state.token) headers.authorization = `Bearer ${state.token}`;
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || `HTTP ${res.status}`);
      err.status = res.status;
      err.code = data && data.error && data.error.code;
      throw err;
    }
    return data;
  }

  /** Emits an event with an ack and unwraps `{ok, data}` / `{ok: false, error}`. */
  function request(event, payload) {
    const socket = state.socket;
    return new Promise((resolve, reject) => {
      if (!socket) {
        reject(new Error('not connected'));
        return;
      }
      socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, res) => {
        if (err) {
          reject(new Error(`${event}: the server did not answer`));
        } else if (res && res.ok === false) {
          const e = new Error((res.error && res.error.message) || event + ' failed');
          e.code = res.error && res.error.code;
          reject(e);
        } else {
          resolve(res && typeof res === 'object' && 'data' in res ? res.data : res);
        }
      });
    });
  }

  function toast(text, kind = 'info') {
    const t = el('div', `toast toast-${kind}`, text);
    $('toasts').append(t);
    setTimeout(() => t.remove(), 5000);
  }

  function ts(s) {
    const d = s ? new Date(s) : null;
    return d && !Number.isNaN(d.getTime()) ? d : null;
  }

  function clock(s) {
    const d = ts(s);
    return d ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
  }

  function ago(s) {
    const d = ts(s);
    if (!d) return '';
    const sec = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    if (sec < 45) return 'now';
    const min = Math.round(sec / 60);
    if (min < 60) return `${min}m`;
    const h = Math.round(min / 60);
    if (h < 24) return `${h}h`;
    return `${Math.round(h / 24)}d`;
  }

  function duration(s) {
    const d = ts(s);
    if (!d) return '';
    const min = Math.max(0, Math.floor((Date.now() - d.getTime()) / 60000));
    if (min < 1) return '<1 min';
    if (min < 60) return `${min} min`;
    return `${Math.floor(min / 60)} h ${min % 60} min`;
  }

  function dayLabel(d) {
    const today = new Date();
    const y = new Date(today);
    y.setDate(today.getDate() - 1);
    if (d.toDateString() === today.toDateString()) return 'Today';
    if (d.toDateString() === y.toDateString()) return 'Yesterday';
    return d.toLocaleDateString([], { weekday: 'short', month: 'short', day: 'numeric' });
  }

  /** "Chrome 126 on macOS" from a user agent (a summary for people; the raw string is shown too). */
  function browserOf(ua) {
    if (!ua) return 'Unknown';
    const os = /Windows/.test(ua) ? 'Windows' : /Android/.test(ua) ? 'Android'
      : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS'
        : /Linux/.test(ua) ? 'Linux' : '';
    const m = /(Edg|OPR|Firefox|Chrome|Version)\/(\d+)/.exec(ua);
    let name = m ? m[1] : ua.split(/[\s/]/)[0];
    if (name === 'Edg') name = 'Edge';
    if (name === 'OPR') name = 'Opera';
    if (name === 'Version') name = 'Safari';
    if (/HeadlessChrome/.test(ua)) name = 'Headless Chrome';
    const version = m ? ` ${m[2]}` : '';
    return os ? `${name}${version} on ${os}` : `${name}${version}`;
  }

  function colorClass(seed) {
    let h = 0;
    for (const c of String(seed || '')) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return `av-${h % 8}`;
  }

  function initials(name) {
    const parts = String(name || '?').trim().split(/\s+/);
    return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
  }

  const STATUS_LABEL = { open: 'Open', waiting: 'Waiting', assigned: 'Assigned', resolved: 'Resolved' };

  function pill(status) {
    return el('span', `pill pill-${status || 'open'}`, STATUS_LABEL[status] || status || 'Open');
  }

  // ---------------------------------------------------------------- auth

  function showLogin(message) {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    const err = $('login-error');
    err.hidden = !message;
    err.textContent = message ? message[0].toUpperCase() + message.slice(1) : '';
    $('login-email').focus();
  }

  async function onLoginSubmit(ev) {
    ev.preventDefault();
    const login = $('login-email').value.trim();
    const password = $('login-password').value;
    if (!login || !password) {
      showLogin('Enter your email (or username) and password.');
      return;
    }
    $('login-submit').disabled = true;
    try {
      const body = login.includes('@') ? { email: login, password } : { username: login, password };
      const res = await api('/api/auth/login', { method: 'POST', body, auth: false });
      if (!res.user || (res.user.role !== 'agent' && res.user.role !== 'admin')) {
        showLogin('This account is not a support agent.');
        return;
      }
      state.token = res.token;
      state.user = res.user;
      localStorage.setItem(TOKEN_KEY, res.token);
      localStorage.setItem(USER_KEY, JSON.stringify(res.user));
      $('login-password').value = '';
      startApp();
    } catch (e) {
      showLogin(e.status === 429 ? 'Too many attempts; wait a minute and try again.' : e.message);
    } finally {
      $('login-submit').disabled = false;
    }
  }

  function forget() {
    state.token = null;
    state.user = null;
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.disconnect();
      state.socket = null;
    }
    state.sessions.clear();
    state.listed.clear();
    state.current = null;
    state.everConnected = false;
  }

  async function logout() {
    try {
      await api('/api/auth/logout', { method: 'POST', body: {} });
    } catch {
      // The token may already be invalid; signing out locally is what matters.
    }
    forget();
    showLogin('');
  }

  // ---------------------------------------------------------------- socket

  function startApp() {
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    $('me-name').textContent = state.user.name || state.user.email || 'Agent';
    $('me-role').textContent = state.user.role === 'admin' ? 'Admin' : 'Agent';
    $('hours-open').hidden = state.user.role !== 'admin';
    const av = $('me-avatar');
    av.textContent = initials(state.user.name || state.user.email);
    av.className = `avatar avatar-sm ${colorClass(state.user.id)}`;
    setConn('connecting', 'Connecting…');
    renderList();
    renderConversation();
    loadLabels();
    loadCanned();

    // eslint-disable-next-line no-undef
    const socket = io('/admin', { auth: { token: state.token } });
    state.socket = socket;

    socket.on('connect', onConnect);
    // The server may have missed cross-node events (a Redis outage): refresh the list and
    // catch up the open conversation, as after a reconnect.
    socket.on('resync', () => {
      loadSessions(true).catch(() => {});
      if (state.current) resync(state.current).catch((e) => toast(e.message, 'error'));
    });
    socket.on('disconnect', (reason) => {
      setConn('offline', 'Reconnecting…');
      // The server closed the socket itself (shutting down, say): socket.io does not retry
      // that case on its own, so come back shortly (spread out, not all agents at once).
      if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 1000 + Math.random() * 2000);
    });
    socket.on('connect_error', (err) => {
      const msg = String((err && err.message) || '');
      if (!socket.active || /^(unauthorized|forbidden)/.test(msg)) {
        forget();
        showLogin(/forbidden/.test(msg) ? 'This account is not a support agent.' : 'Your session has expired; sign in again.');
      } else {
        setConn('offline', 'Reconnecting…');
      }
    });
    socket.on('presence', (p) => {
      state.onlineAgents = (p && Array.isArray(p.agents)) ? p.agents : [];
      renderPresence();
    });
    socket.on('session_created', (s) => {
      if (s && s.status === 'waiting') notify('queue', s.sessionId, 'A visitor is waiting', `Conversation ${s.code || ''} is in the queue.`);
      upsert(s);
      if (matchesFilter(state.sessions.get(s.sessionId))) state.listed.add(s.sessionId);
      renderList();
    });
    socket.on('session_updated', (u) => {
      noticeUpdate(u);
      upsert(u);
      const s = state.sessions.get(u.sessionId);
      if (s && matchesFilter(s) && isComplete(s)) state.listed.add(u.sessionId);
      renderList();
      if (state.current && state.current.id === u.sessionId) renderHeader();
    });
    socket.on('session_status', (s) => {
      if (!s || !s.sessionId) return;
      upsert({ sessionId: s.sessionId, status: s.status, assignee: s.assignee, assigneeId: s.assignee ? s.assignee.id : null });
      renderList();
      if (state.current && state.current.id === s.sessionId) renderHeader();
    });
    socket.on('ai-mode-changed', (c) => {
      if (!c || !c.sessionId) return;
      upsert({ sessionId: c.sessionId, aiEnabled: !!c.enabled, aiMode: c.mode });
      if (state.current && state.current.id === c.sessionId) renderHeader();
    });
    socket.on('visitor_presence', (p) => {
      if (!p || !state.sessions.has(p.sessionId)) return;
      upsert({ sessionId: p.sessionId, visitorOnline: !!p.online });
      renderList();
      if (state.current && state.current.id === p.sessionId) renderHeader();
    });
    socket.on('message', (m) => {
      const conv = state.current;
      if (!m) return;
      if (conv && m.sessionId === conv.id) addMessages(conv, [m]);
      else if (state.opening) state.stash.push(m); // opening by code: the id is not known yet
    });
    socket.on('typing', onTyping);
    socket.on('read', (r) => {
      const conv = state.current;
      if (!conv || !r || r.sessionId !== conv.id || r.reader !== 'user') return;
      if (r.seq > conv.visitorRead) {
        conv.visitorRead = r.seq;
        renderMessages(conv);
      }
    });
    socket.on('history_cleared', (h) => {
      const conv = state.current;
      if (conv && h && h.sessionId === conv.id) {
        conv.messages.clear();
        conv.hasMore = false;
        renderMessages(conv);
        toast('The conversation history was cleared.');
      }
    });
    socket.on('stream-start', (s) => streamPart(s, null));
    socket.on('stream-token', (t) => streamPart(t, t));
    socket.on('stream-end', (e) => {
      const conv = state.current;
      if (!conv || !e || e.sessionId !== conv.id) return;
      conv.streams.delete(e.messageId);
      if (e.message) addMessages(conv, [e.message]);
      else renderMessages(conv);
    });
    socket.on('error', (e) => {
      if (e && e.message) toast(`${e.event || 'error'}: ${e.message}`, 'error');
    });
  }

  function setConn(kind, text) {
    const c = $('conn-state');
    c.dataset.state = kind;
    c.textContent = text;
  }

  async function onConnect() {
    setConn('online', 'Online');
    const reconnect = state.everConnected;
    state.everConnected = true;
    await loadSessions(true);
    const wanted = state.current ? state.current.id : sessionFromHash();
    if (state.current && reconnect) {
      resync(state.current).catch((e) => toast(e.message, 'error'));
    } else if (wanted && !state.current) {
      openSession({ sessionId: wanted });
    }
  }

  // ---------------------------------------------------------------- session list

  /** Merges a full or partial summary into the cache (partial updates carry only what changed). */
  function upsert(update) {
    if (!update || !update.sessionId) return;
    const prev = state.sessions.get(update.sessionId) || { sessionId: update.sessionId };
    const next = Object.assign({}, prev, update);
    // A status announcement may name the assignee without a name: keep the one we know.
    if (update.assignee && !update.assignee.name && prev.assignee && prev.assignee.id === update.assignee.id) {
      next.assignee = prev.assignee;
    }
    if ('assigneeId' in update && !update.assigneeId) next.assignee = null;
    if (update.lastMessage) next.lastMessage = update.lastMessage;
    state.sessions.set(update.sessionId, next);
  }

  /** True when we know enough of a session to list it (a light update alone is not enough). */
  function isComplete(s) {
    return !!(s && s.code && s.status);
  }

  function hasLabel(s, name) {
    const want = name.toLowerCase();
    return (s.labels || []).some((l) => String(l).toLowerCase() === want);
  }

  function matchesFilter(s) {
    if (!isComplete(s)) return false;
    if (state.labelFilter && !hasLabel(s, state.labelFilter)) return false;
    const me = state.user && state.user.id;
    switch (state.filter) {
      case 'waiting': return s.status === 'waiting';
      case 'mine': return s.assigneeId === me && s.status !== 'resolved';
      case 'resolved': return s.status === 'resolved';
      default: return s.status !== 'resolved';
    }
  }

  function queryForFilter() {
    switch (state.filter) {
      case 'waiting': return { status: 'waiting' };
      case 'mine': return { assignee: 'me' };
      case 'resolved': return { status: 'resolved' };
      default: return {};
    }
  }

  async function loadSessions(reset) {
    const q = Object.assign({ limit: PAGE_SIZE }, queryForFilter());
    if (state.labelFilter) q.label = state.labelFilter;
    if (!reset && state.listCursor) q.before = state.listCursor;
    const filter = state.filter;
    const labelFilter = state.labelFilter;
    try {
      const data = await request('list_sessions', q);
      if (filter !== state.filter || labelFilter !== state.labelFilter) return;
      if (reset) state.listed.clear();
      for (const s of data.sessions) {
        upsert(s);
        state.listed.add(s.sessionId);
      }
      state.listHasMore = !!data.hasMore && filter !== 'waiting';
      // The server's cursor is exact when sessions share an instant; createdAt is the
      // fallback for servers that do not send one.
      const last = data.sessions[data.sessions.length - 1];
      if (data.nextBefore) state.listCursor = data.nextBefore;
      else if (last) state.listCursor = last.createdAt;
      renderList();
    } catch (e) {
      toast(`Could not load conversations: ${e.message}`, 'error');
    }
  }

  function activityOf(s) {
    return (ts(s.lastMessageAt) || ts(s.updatedAt) || ts(s.createdAt) || new Date(0)).getTime();
  }

  function renderList() {
    const list = $('session-list');
    const items = [...state.listed].map((id) => state.sessions.get(id)).filter(matchesFilter);
    if (state.filter === 'waiting') {
      items.sort((a, b) => (ts(a.waitingSince) || 0) - (ts(b.waitingSince) || 0));
    } else {
      items.sort((a, b) => activityOf(b) - activityOf(a));
    }
    const frag = document.createDocumentFragment();
    for (const s of items) frag.append(sessionItem(s));
    list.replaceChildren(frag);
    const searching = !$('search-results').hidden;
    $('list-empty').hidden = searching || items.length > 0;
    $('list-more').hidden = searching || !state.listHasMore;

    let waiting = 0;
    let unreadChats = 0;
    for (const s of state.sessions.values()) {
      if (s.status === 'waiting') waiting += 1;
      if (s.status !== 'resolved' && s.unread > 0) unreadChats += 1;
    }
    const wc = $('count-waiting');
    wc.hidden = waiting === 0;
    wc.textContent = String(waiting);
    document.title = unreadChats ? `(${unreadChats}) chatdesk console` : 'chatdesk console';
  }

  function sessionItem(s) {
    const li = el('li', 'session-item');
    li.dataset.sessionId = s.sessionId;
    li.dataset.status = s.status;
    if (state.current && state.current.id === s.sessionId) li.classList.add('active');
    if (s.unread > 0) li.classList.add('has-unread');
    const btn = el('button', 'session-btn');
    btn.type = 'button';
    btn.addEventListener('click', () => openSession({ sessionId: s.sessionId }));

    const av = el('span', `avatar ${colorClass(s.code)}`, (s.code || '??').slice(0, 2));
    const dot = el('span', `presence-dot${s.visitorOnline ? ' online' : ''}`);
    dot.title = s.visitorOnline ? 'Visitor online' : 'Visitor offline';
    av.append(dot);

    const main = el('span', 'session-main');
    const top = el('span', 'session-top');
    const name = el('span', 'session-name', s.customerId ? 'Customer' : 'Visitor');
    const code = el('span', 'code-chip', s.code);
    const when = el('span', 'session-time', ago(s.lastMessageAt || s.createdAt));
    top.append(name, code, when);

    const preview = el('span', 'session-preview');
    if (s.lastMessage) {
      const who = s.lastMessage.sender === 'user' ? '' : (s.lastMessage.isAI ? 'AI: ' : 'Agent: ');
      preview.textContent = who + s.lastMessage.content;
    } else {
      preview.textContent = [s.ip, browserOf(s.userAgent)].filter(Boolean).join(' · ');
      preview.classList.add('muted');
    }

    const bottom = el('span', 'session-bottom');
    bottom.append(pill(s.status));
    if (s.status === 'waiting' && s.waitingSince) {
      bottom.append(el('span', 'session-wait', `waiting ${duration(s.waitingSince)}`));
    } else if (s.assignee && s.assignee.name) {
      bottom.append(el('span', 'session-assignee', s.assignee.id === state.user.id ? 'You' : s.assignee.name));
    }
    if (s.labels && s.labels.length) bottom.append(labelChips(s.labels));
    if (s.contactEmail) {
      const contact = el('span', 'contact-chip', `✉ ${s.contactEmail}`);
      contact.title = 'The visitor left this address on the offline form';
      bottom.append(contact);
    }
    if (s.rating && s.rating.rating) {
      const r = el('span', 'rating-chip', `★ ${s.rating.rating}`);
      r.title = s.rating.comment ? `Rated ${s.rating.rating}/5: ${s.rating.comment}` : `Rated ${s.rating.rating}/5`;
      bottom.append(r);
    }
    if (s.unread > 0) bottom.append(el('span', 'unread', s.unread > 99 ? '99+' : String(s.unread)));

    main.append(top, preview, bottom);
    btn.append(av, main);
    li.append(btn);
    return li;
  }

  function renderPresence() {
    const box = $('online-agents');
    const frag = document.createDocumentFragment();
    const agents = state.onlineAgents.slice(0, 6);
    for (const a of agents) {
      const av = el('span', `avatar avatar-xs ${colorClass(a.id)}`, initials(a.name));
      av.title = `${a.name} (online)`;
      frag.append(av);
    }
    const more = state.onlineAgents.length - agents.length;
    if (more > 0) frag.append(el('span', 'avatar avatar-xs av-more', `+${more}`));
    frag.append(el('span', 'online-label', `${state.onlineAgents.length} online`));
    box.replaceChildren(frag);
  }

  function setFilter(filter) {
    if (filter === state.filter) return;
    state.filter = filter;
    state.listCursor = null;
    state.listHasMore = false;
    for (const t of document.querySelectorAll('.tab')) {
      t.setAttribute('aria-selected', String(t.dataset.filter === filter));
    }
    state.listed.clear();
    for (const s of state.sessions.values()) if (matchesFilter(s)) state.listed.add(s.sessionId);
    renderList();
    loadSessions(true);
  }

  // ---------------------------------------------------------------- conversation

  function newConversation(sessionId) {
    return {
      id: sessionId,
      messages: new Map(), // seq -> message
      pending: new Map(), // clientMsgId -> {content, failed}
      streams: new Map(), // messageId -> {tokens: [], createdAt}
      hasMore: false,
      loaded: false,
      loadingOlder: false,
      readSent: 0,
      visitorRead: 0,
      members: [],
      visitorTyping: false,
      typingOn: false,
      typingSentAt: 0,
      typingIdle: null,
    };
  }

  function sessionFromHash() {
    const m = /session=([0-9a-fA-F-]{36})/.exec(location.hash);
    return m ? m[1].toLowerCase() : null;
  }

  async function openSession(ref) {
    if (ref.sessionId && state.current && state.current.id === ref.sessionId) return;
    const ticket = {};
    state.opening = ticket;
    state.stash = [];
    const prev = state.current;
    // By id we know it is another session: leave the previous one now. By code we only
    // know after the join (it may be the same session).
    if (prev && ref.sessionId) leave(prev);
    state.current = ref.sessionId ? newConversation(ref.sessionId) : prev;
    renderConversation();
    renderList();
    try {
      const data = await request('join_session', ref);
      if (state.opening !== ticket) return;
      const id = data.session.sessionId;
      let conv = state.current;
      if (!conv || conv.id !== id) {
        if (conv) leave(conv);
        conv = newConversation(id);
        state.current = conv;
      }
      upsert(data.session);
      state.listed.add(id);
      conv.hasMore = !!data.hasMore;
      conv.members = Array.isArray(data.members) ? data.members : [];
      conv.visitorRead = (data.session.readSeq && data.session.readSeq.user) || 0;
      conv.loaded = true;
      history.replaceState(null, '', `#session=${id}`);
      renderConversation();
      renderList();
      const live = state.stash.filter((m) => m.sessionId === id);
      addMessages(conv, data.messages.concat(live), { scroll: 'bottom' });
      $('reply').focus();
    } catch (e) {
      if (state.opening === ticket && ref.sessionId) {
        state.current = null;
        renderConversation();
        renderList();
      }
      toast(e.code === 'session_not_found' ? 'No conversation with that code.' : e.message, 'error');
    } finally {
      if (state.opening === ticket) {
        state.opening = null;
        state.stash = [];
      }
    }
  }

  function leave(conv) {
    stopTyping(conv);
    request('leave_session', { sessionId: conv.id }).catch(() => {});
  }

  /** After a reconnect: join again and fetch what was missed, without gaps. */
  async function resync(conv) {
    const before = maxSeq(conv);
    const data = await request('join_session', { sessionId: conv.id });
    if (state.current !== conv) return;
    upsert(data.session);
    if (Array.isArray(data.members)) conv.members = data.members;
    conv.visitorRead = Math.max(conv.visitorRead, (data.session.readSeq && data.session.readSeq.user) || 0);
    const fresh = data.messages;
    let lowest = fresh.length ? fresh[0].seq : 0;
    addMessages(conv, fresh);
    while (before > 0 && lowest > before + 1) {
      const page = await request('get_history', {
        sessionId: conv.id, beforeSeq: lowest, limit: Math.min(lowest - before - 1, 500),
      });
      if (state.current !== conv || !page.messages.length) break;
      addMessages(conv, page.messages, { keep: true });
      lowest = page.messages[0].seq;
    }
    renderHeader();
  }

  function maxSeq(conv) {
    let max = 0;
    for (const s of conv.messages.keys()) if (s > max) max = s;
    return max;
  }

  function minSeq(conv) {
    let min = Infinity;
    for (const s of conv.messages.keys()) if (s < min) min = s;
    return min === Infinity ? null : min;
  }

  /** Adds messages by seq (duplicates ignored) and drops the provisional bubbles they replace. */
  function addMessages(conv, list, opts = {}) {
    for (const m of list || []) {
      if (!m || typeof m.seq !== 'number') continue;
      if (m.clientMsgId) conv.pending.delete(m.clientMsgId);
      conv.streams.delete(m.id);
      if (!conv.messages.has(m.seq)) conv.messages.set(m.seq, m);
      if (m.sender === 'user' && conv.visitorTyping) conv.visitorTyping = false;
    }
    if (state.current === conv) {
      renderMessages(conv, opts);
      renderTyping(conv);
    }
  }

  async function loadOlder() {
    const conv = state.current;
    if (!conv || !conv.hasMore || conv.loadingOlder) return;
    const before = minSeq(conv);
    if (before === null) return;
    conv.loadingOlder = true;
    $('load-older').textContent = 'Loading…';
    try {
      const page = await request('get_history', { sessionId: conv.id, beforeSeq: before, limit: PAGE_SIZE });
      if (state.current !== conv) return;
      conv.hasMore = !!page.hasMore;
      addMessages(conv, page.messages, { keep: true });
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      conv.loadingOlder = false;
      $('load-older').textContent = 'Load earlier messages';
    }
  }

  function renderConversation() {
    const conv = state.current;
    $('conv-empty').hidden = !!conv;
    $('conv').hidden = !conv;
    if (!conv) {
      $('message-list').replaceChildren();
      return;
    }
    renderHeader();
    renderMessages(conv, { scroll: 'bottom' });
    renderTyping(conv);
  }

  function renderHeader() {
    const conv = state.current;
    if (!conv) return;
    const s = state.sessions.get(conv.id) || { sessionId: conv.id };
    const me = state.user;
    $('conv-name').textContent = s.customerId ? 'Customer' : 'Visitor';
    $('conv-code').textContent = s.code || '······';
    const status = $('conv-status');
    status.className = `pill pill-${s.status || 'open'}`;
    status.textContent = STATUS_LABEL[s.status] || 'Loading';
    $('conv-avatar').className = `avatar ${colorClass(s.code)}`;
    $('conv-initials').textContent = (s.code || '??').slice(0, 2);
    const dot = $('conv-online');
    dot.className = `presence-dot${s.visitorOnline ? ' online' : ''}`;
    dot.title = s.visitorOnline ? 'Visitor online' : 'Visitor offline';

    const assignee = s.assignee && s.assignee.id
      ? (s.assignee.id === me.id ? 'Assigned to you' : `Assigned to ${ownerName(s)}`)
      : 'Unassigned';
    $('conv-assignee').textContent = assignee;
    let since = '';
    if (s.status === 'waiting' && s.waitingSince) since = ` · waiting for ${duration(s.waitingSince)}`;
    else if (s.status === 'resolved' && s.resolvedAt) since = ` · resolved ${ago(s.resolvedAt)} ago`;
    $('conv-since').textContent = since;

    $('detail-ip').textContent = s.ip || 'unknown';
    $('detail-browser').textContent = browserOf(s.userAgent);
    $('detail-ua').textContent = s.userAgent || 'unknown';
    $('detail-ua').title = s.userAgent || '';
    const started = ts(s.createdAt);
    $('detail-started').textContent = started ? started.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) : '';
    $('detail-labels').replaceChildren(labelChips(s.labels || []));
    $('detail-contact-row').hidden = !s.contactEmail;
    $('detail-contact').textContent = s.contactEmail || '';
    if (s.contactEmail) $('detail-contact').href = `mailto:${encodeURIComponent(s.contactEmail).replace('%40', '@')}`;
    else $('detail-contact').removeAttribute('href');
    $('detail-rating-row').hidden = !(s.rating && s.rating.rating);
    $('detail-rating').textContent = s.rating && s.rating.rating
      ? `${'★'.repeat(s.rating.rating)}${'☆'.repeat(5 - s.rating.rating)} ${s.rating.rating}/5${s.rating.comment ? ` · “${s.rating.comment}”` : ''}`
      : '';
    // A room (seed 004) may have several customers: every member, as text.
    const members = conv.members || [];
    $('detail-members-row').hidden = members.length === 0;
    $('detail-members').textContent = members
      .map((m) => (m.email ? `${m.name} <${m.email}>` : m.name) + (m.role === 'Admin' ? ' (created the room)' : ''))
      .join(', ');

    // Only what this agent can do here: claim a session nobody owns; release, transfer and
    // resolve their own; on a colleague's, an admin may take it over (naming whom from).
    const acts = actionsFor(s, me);
    $('act-claim').hidden = !acts.claim;
    $('act-takeover').hidden = !acts.takeOver;
    $('act-takeover').textContent = acts.takeOver ? `Take over from ${ownerName(s)}` : 'Take over';
    $('act-release').hidden = !acts.release;
    $('act-transfer').hidden = !acts.transfer;
    $('act-transfer').textContent = acts.assign ? 'Assign' : 'Transfer';
    $('act-resolve').hidden = !acts.resolve;
    $('act-reopen').hidden = !acts.reopen;
    // The assistant switch: automatic (answers until a human does), on, or off.
    const ai = $('act-ai');
    const mode = s.aiMode || 'auto';
    ai.textContent = `Assistant: ${mode}`;
    ai.setAttribute('aria-pressed', String(s.aiEnabled !== false));
    ai.dataset.mode = mode;
    const resolved = s.status === 'resolved';
    $('reply').placeholder = $('note-mode').checked
      ? NOTE_PLACEHOLDER
      : (resolved ? 'This conversation is resolved. Reopen it, or reply anyway…' : REPLY_PLACEHOLDER);
  }

  /** The owner's name as the header shows it. */
  function ownerName(s) {
    return (s.assignee && s.assignee.name) || 'another agent';
  }

  /**
   * The actions `me` can take on session `s` (the server's rules: a claim only of a session
   * nobody owns; release and transfer by the owner or an admin; a take-over by an admin,
   * naming the owner). `assign`: an admin hands a session nobody owns to an agent.
   */
  function actionsFor(s, me) {
    const resolved = s.status === 'resolved';
    const owned = !!s.assigneeId;
    const mine = owned && s.assigneeId === me.id;
    const admin = me.role === 'admin';
    const live = !resolved && !!s.status;
    return {
      claim: live && !owned,
      takeOver: live && owned && !mine && admin,
      release: live && mine,
      transfer: live && (mine || (admin && !owned)),
      assign: live && admin && !owned,
      resolve: live && mine,
      reopen: resolved,
    };
  }

  function isNearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  /** Renders the whole message list (cheap at these sizes) and keeps the scroll position sensible. */
  function renderMessages(conv, opts = {}) {
    if (state.current !== conv) return;
    const box = $('messages');
    const stick = opts.scroll === 'bottom' || isNearBottom(box);
    const fromBottom = box.scrollHeight - box.scrollTop;

    const frag = document.createDocumentFragment();
    const sorted = [...conv.messages.values()].sort((a, b) => a.seq - b.seq);
    // The visitor has seen up to visitorRead: mark the last of our messages at or below it.
    let seenSeq = 0;
    for (const m of sorted) if (m.sender !== 'user' && !m.private && m.seq <= conv.visitorRead) seenSeq = m.seq;

    let lastDay = '';
    sorted.forEach((m, i) => {
      const d = ts(m.createdAt);
      const day = d ? d.toDateString() : '';
      if (day && day !== lastDay) {
        frag.append(el('li', 'day-sep', dayLabel(d)));
        lastDay = day;
      }
      const next = sorted[i + 1];
      const lastOfGroup = !next || next.sender !== m.sender || next.isAI !== m.isAI || !!next.private !== !!m.private;
      frag.append(messageItem(m, { lastOfGroup, seen: m.seq === seenSeq }));
    });
    for (const [id, p] of conv.pending) frag.append(pendingItem(conv, id, p));
    for (const [id, st] of conv.streams) frag.append(streamItem(id, st));
    $('message-list').replaceChildren(frag);
    $('load-older').hidden = !conv.hasMore;

    if (opts.keep) box.scrollTop = box.scrollHeight - fromBottom;
    else if (stick) box.scrollTop = box.scrollHeight;
    maybeMarkRead();
  }

  /**
   * A file message's URL as the console may load it: https:, or a path on this server. The
   * server stores nothing else; checked again here, so a URL that is neither is shown as text.
   */
  function fileUrl(m) {
    const u = m.type && m.type !== 'text' ? m.fileUrl : null;
    if (typeof u !== 'string' || !u || /[\s\\]/.test(u)) return null;
    if (u.startsWith('/')) return u.startsWith('//') ? null : u;
    try {
      return new URL(u).protocol === 'https:' ? u : null;
    } catch {
      return null;
    }
  }

  /**
   * A message's bubble: its text; an uploaded file (`attachment`) as a thumbnail or a file
   * chip; an image at a `fileUrl` inline (in a fixed 240x180 box, so the list does not jump
   * while it loads); any other file as a link. Built with textContent and setAttribute only:
   * nothing a message holds (file names included) is ever parsed as HTML.
   */
  function bubbleOf(m) {
    if (m.attachment && typeof m.attachment.url === 'string') return attachmentBubble(m, m.attachment);
    const url = fileUrl(m);
    if (!url) return el('div', 'bubble', m.content);
    const b = el('div', 'bubble bubble-file');
    const a = el('a', 'file-link', m.type === 'image' ? null : m.content);
    a.setAttribute('href', url);
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer');
    if (m.type === 'image') {
      const img = el('img', 'file-image');
      img.setAttribute('src', url);
      img.setAttribute('alt', m.content);
      img.setAttribute('width', '240');
      img.setAttribute('height', '180');
      img.setAttribute('loading', 'lazy');
      img.setAttribute('referrerpolicy', 'no-referrer');
      a.append(img);
      b.append(a, el('div', 'file-caption', m.content));
    } else {
      b.append(a);
    }
    return b;
  }

  // ---------------------------------------------------------------- attachments

  const THUMB_BOX = { w: 240, h: 180 };

  /** `1.2 MB`, `340 KB`, `12 B`. */
  function fmtSize(n) {
    if (!Number.isFinite(n) || n < 0) return '';
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
    return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  }

  /** The size an image is shown at: its own, scaled down to fit THUMB_BOX. */
  function fitted(a) {
    const w = Number(a.width);
    const h = Number(a.height);
    if (!(w > 0 && h > 0)) return { ...THUMB_BOX };
    const k = Math.min(1, THUMB_BOX.w / w, THUMB_BOX.h / h);
    return { w: Math.max(1, Math.round(w * k)), h: Math.max(1, Math.round(h * k)) };
  }

  /** Attachment URLs are paths on this server (`/api/attachments/<hex>[/thumbnail]`) only. */
  function attachmentPath(u) {
    return typeof u === 'string' && /^\/api\/attachments\/[0-9a-f]{32}(\/thumbnail)?$/.test(u) ? u : null;
  }

  const thumbUrls = new Map(); // thumbnail path -> Promise<object URL> (small; kept for re-renders)

  /** The bytes at `path`, fetched with the console's token, as a Blob. */
  async function authedBlob(path) {
    const res = await fetch(path, { headers: { authorization: `Bearer ${state.token}` } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.blob();
  }

  /** A thumbnail as an object URL, fetched once. */
  function thumbUrl(path) {
    if (!thumbUrls.has(path)) {
      const p = authedBlob(path).then((b) => URL.createObjectURL(b));
      p.catch(() => thumbUrls.delete(path));
      thumbUrls.set(path, p);
    }
    return thumbUrls.get(path);
  }

  /** Downloads an attachment's original (with the token) under its own name; the object URL
   *  is let go once the download started (originals can be large: none is kept). */
  async function downloadAttachment(a) {
    const path = attachmentPath(a.url);
    if (!path) return;
    try {
      const href = URL.createObjectURL(await authedBlob(path));
      const link = el('a');
      link.href = href;
      link.download = typeof a.name === 'string' ? a.name : 'file';
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
    } catch (e) {
      toast(`Could not download the file: ${e.message}`, 'error');
    }
  }

  function attachmentBubble(m, a) {
    const b = el('div', 'bubble bubble-file');
    const thumb = attachmentPath(a.thumbnailUrl);
    const name = typeof a.name === 'string' ? a.name : 'file';
    if (thumb) {
      const open = el('button', 'file-open');
      open.type = 'button';
      open.title = `Download ${name}`;
      const img = el('img', 'file-thumb');
      const size = fitted(a);
      img.setAttribute('width', String(size.w));
      img.setAttribute('height', String(size.h));
      img.setAttribute('alt', name);
      thumbUrl(thumb).then((u) => img.setAttribute('src', u)).catch(() => {});
      open.append(img);
      open.addEventListener('click', () => downloadAttachment(a));
      b.append(open);
    } else {
      const chip = el('button', 'file-chip');
      chip.type = 'button';
      chip.title = `Download ${name}`;
      chip.append(el('span', 'file-name', name), el('span', 'file-size', fmtSize(Number(a.size))));
      chip.addEventListener('click', () => downloadAttachment(a));
      b.append(chip);
    }
    if (m.content && m.content !== name) b.append(el('div', 'file-caption', m.content));
    return b;
  }

  /** What a refused upload is told, by the server's code. */
  function uploadRefusal(code, message) {
    switch (code) {
      case 'attachment_too_large': return `That file is too large: ${message}`;
      case 'attachment_type_refused': return `That type of file is not accepted. ${message}`;
      case 'quota_exceeded': return 'This conversation has no room for more files.';
      case 'rate_limited': return 'Too many files at once; try again in a minute.';
      default: return `File not sent: ${message}`;
    }
  }

  /** Uploads `file` into `conv` (XHR, for its progress), then sends it as a message. */
  function uploadFile(conv, file) {
    const clientMsgId = crypto.randomUUID();
    const p = { content: file.name || 'file', failed: false, upload: { loaded: 0, total: file.size } };
    conv.pending.set(clientMsgId, p);
    renderMessages(conv, { scroll: 'bottom' });
    const fail = (text) => {
      p.failed = true;
      p.upload = null;
      renderMessages(conv);
      toast(text, 'error');
    };
    const form = new FormData();
    form.append('file', file, file.name || 'file');
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/chats/${encodeURIComponent(conv.id)}/attachments`);
    xhr.setRequestHeader('authorization', `Bearer ${state.token}`);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (ev) => {
      if (!ev.lengthComputable || !p.upload) return;
      p.upload.loaded = ev.loaded;
      p.upload.total = ev.total;
      const bar = document.querySelector(`[data-upload="${clientMsgId}"]`);
      if (bar) bar.value = ev.loaded / ev.total;
    });
    xhr.addEventListener('error', () => fail('File not sent: the connection failed.'));
    xhr.addEventListener('load', async () => {
      const body = xhr.response || {};
      if (xhr.status !== 201 || !body.id) {
        const err = body.error || {};
        fail(uploadRefusal(err.code, err.message || `HTTP ${xhr.status}`));
        return;
      }
      p.upload = null;
      try {
        const m = await request('admin_message', { sessionId: conv.id, attachmentId: body.id, clientMsgId });
        addMessages(conv, [m]);
      } catch (e) {
        fail(`File not sent: ${e.message}`);
      }
    });
    xhr.send(form);
  }

  function uploadFiles(files) {
    const conv = state.current;
    if (!conv || !files) return;
    for (const f of Array.from(files)) uploadFile(conv, f);
  }

  function messageItem(m, { lastOfGroup, seen }) {
    const side = m.sender === 'user' ? 'them' : 'us';
    const li = el('li', `msg msg-${side}${m.isAI ? ' msg-ai' : ''}${m.private ? ' msg-note' : ''}${lastOfGroup ? ' msg-last' : ''}`);
    li.dataset.seq = String(m.seq);
    if (m.isAI && lastOfGroup) li.append(el('span', 'msg-author', 'AI assistant'));
    if (m.private) li.append(el('span', 'msg-author', 'Private note · only staff see this'));
    li.append(bubbleOf(m));
    if (lastOfGroup || seen) {
      const meta = el('div', 'msg-meta', clock(m.createdAt) + (m.interrupted ? ' · interrupted' : ''));
      if (seen) meta.append(el('span', 'seen', ' · Seen'));
      li.append(meta);
    }
    return li;
  }

  function pendingItem(conv, clientMsgId, p) {
    const li = el('li', `msg msg-us msg-last msg-pending${p.private ? ' msg-note' : ''}${p.failed ? ' msg-failed' : ''}`);
    const bubble = el('div', 'bubble', p.content);
    if (p.upload) {
      const bar = el('progress', 'upload-progress');
      bar.max = 1;
      bar.value = p.upload.total ? p.upload.loaded / p.upload.total : 0;
      bar.dataset.upload = clientMsgId;
      bubble.append(bar);
    }
    li.append(bubble);
    const meta = el('div', 'msg-meta', p.failed ? 'Not sent' : p.upload ? 'Uploading…' : 'Sending…');
    if (p.failed && p.upload === null) {
      li.append(meta);
      return li; // a refused file: pick it again to retry
    }
    if (p.failed) {
      const retry = el('button', 'link-btn', 'Retry');
      retry.type = 'button';
      retry.addEventListener('click', () => sendReply(conv, p.content, clientMsgId, p.private));
      meta.append(' · ', retry);
    }
    li.append(meta);
    return li;
  }

  function streamItem(messageId, st) {
    const li = el('li', 'msg msg-us msg-ai msg-last msg-streaming');
    li.dataset.streamId = messageId;
    li.append(el('span', 'msg-author', 'AI assistant'));
    const bubble = el('div', 'bubble');
    // A text node first, always (even empty): the tokens that follow go into it.
    bubble.append(document.createTextNode(st.tokens.join('')), el('span', 'caret'));
    li.append(bubble);
    return li;
  }

  /** stream-start / stream-token: a provisional AI bubble, token by token (by index). */
  function streamPart(p, token) {
    const conv = state.current;
    if (!conv || !p || p.sessionId !== conv.id || !p.messageId) return;
    let st = conv.streams.get(p.messageId);
    const isNew = !st;
    if (!st) {
      st = { tokens: [] };
      conv.streams.set(p.messageId, st);
    }
    if (token && Number.isInteger(token.index) && token.index >= 0 && typeof token.token === 'string') {
      st.tokens[token.index] = token.token;
    }
    const node = document.querySelector(`[data-stream-id="${CSS.escape(p.messageId)}"] .bubble`);
    if (isNew || !node) {
      renderMessages(conv);
      return;
    }
    const box = $('messages');
    const stick = isNearBottom(box);
    node.firstChild.textContent = st.tokens.join('');
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function maybeMarkRead() {
    const conv = state.current;
    if (!conv || !conv.loaded || document.visibilityState !== 'visible') return;
    if (!isNearBottom($('messages'))) return;
    const max = maxSeq(conv);
    if (max <= conv.readSent) return;
    conv.readSent = max;
    request('read', { sessionId: conv.id, seq: max }).catch(() => {
      conv.readSent = 0; // try again on the next occasion
    });
  }

  // ---------------------------------------------------------------- typing

  function onTyping(t) {
    const conv = state.current;
    if (!conv || !t || t.sessionId !== conv.id || t.sender !== 'user') return;
    conv.visitorTyping = !!t.isTyping;
    renderTyping(conv);
  }

  function renderTyping(conv) {
    if (state.current !== conv) return;
    const box = $('messages');
    const stick = isNearBottom(box);
    $('visitor-typing').hidden = !conv.visitorTyping;
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function onReplyInput() {
    const conv = state.current;
    if (!conv) return;
    if ($('note-mode').checked) return stopTyping(conv);
    const text = $('reply').value;
    clearTimeout(conv.typingIdle);
    if (!text.trim()) {
      stopTyping(conv);
      return;
    }
    const now = Date.now();
    if (!conv.typingOn || now - conv.typingSentAt > TYPING_REFRESH_MS) {
      conv.typingOn = true;
      conv.typingSentAt = now;
      request('typing', { sessionId: conv.id, isTyping: true }).catch(() => {});
    }
    conv.typingIdle = setTimeout(() => stopTyping(conv), TYPING_IDLE_MS);
  }

  function stopTyping(conv) {
    clearTimeout(conv.typingIdle);
    if (!conv.typingOn) return;
    conv.typingOn = false;
    request('typing', { sessionId: conv.id, isTyping: false }).catch(() => {});
  }

  // ---------------------------------------------------------------- actions

  function onComposerSubmit(ev) {
    ev.preventDefault();
    const conv = state.current;
    const text = $('reply').value;
    if (!conv || !text.trim()) return;
    $('reply').value = '';
    const note = $('note-mode').checked;
    // A private note is not something the visitor should see being typed.
    stopTyping(conv);
    sendReply(conv, text, crypto.randomUUID(), note);
  }

  async function sendReply(conv, content, clientMsgId, isPrivate = false) {
    conv.pending.set(clientMsgId, { content, failed: false, private: isPrivate });
    renderMessages(conv, { scroll: 'bottom' });
    try {
      const payload = { sessionId: conv.id, content, clientMsgId };
      if (isPrivate) payload.private = true;
      const m = await request('admin_message', payload);
      addMessages(conv, [m]);
    } catch (e) {
      const p = conv.pending.get(clientMsgId);
      if (p) p.failed = true;
      renderMessages(conv);
      toast(`Message not sent: ${e.message}`, 'error');
    }
  }

  async function act(event, extra = {}) {
    const conv = state.current;
    if (!conv) return;
    try {
      const sum = await request(event, Object.assign({ sessionId: conv.id }, extra));
      if (sum && sum.sessionId) upsert(sum);
      renderHeader();
      renderList();
    } catch (e) {
      const why = e.code === 'conflict' ? 'Someone else got there first, or the state changed.' : e.message;
      toast(why, 'error');
    }
  }

  /** Switches the assistant off for this conversation, or (when off) on. */
  async function toggleAssistant() {
    const conv = state.current;
    if (!conv) return;
    const s = state.sessions.get(conv.id) || {};
    try {
      const r = await request('toggle-ai-mode', { sessionId: conv.id, enabled: s.aiEnabled === false });
      upsert({ sessionId: r.sessionId, aiEnabled: r.enabled, aiMode: r.mode });
      renderHeader();
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  async function openTransferMenu() {
    const menu = $('transfer-menu');
    const btn = $('act-transfer');
    if (!menu.hidden) {
      closeMenu();
      return;
    }
    const conv = state.current;
    if (!conv) return;
    const s = state.sessions.get(conv.id) || {};
    let agents;
    const online = new Set(state.onlineAgents.map((a) => a.id));
    if (state.user.role === 'admin') {
      try {
        const all = await api('/api/agents');
        agents = all.filter((a) => !a.disabled && (a.role === 'agent' || a.role === 'admin'));
      } catch (e) {
        toast(`Could not load agents: ${e.message}`, 'error');
        agents = state.onlineAgents;
      }
    } else {
      agents = state.onlineAgents;
    }
    agents = agents.filter((a) => a.id !== s.assigneeId);
    const frag = document.createDocumentFragment();
    frag.append(el('div', 'menu-title', s.assigneeId ? 'Transfer to' : 'Assign to'));
    if (!agents.length) frag.append(el('div', 'menu-empty', 'No other agent is online.'));
    agents.sort((a, b) => Number(online.has(b.id)) - Number(online.has(a.id)));
    for (const a of agents) {
      const item = el('button', 'menu-item');
      item.type = 'button';
      item.setAttribute('role', 'menuitem');
      item.dataset.agentId = a.id;
      const av = el('span', `avatar avatar-xs ${colorClass(a.id)}`, initials(a.name || a.email));
      const dot = el('span', `presence-dot${online.has(a.id) ? ' online' : ''}`);
      av.append(dot);
      item.append(av, el('span', 'menu-label', a.id === state.user.id ? `${a.name} (you)` : (a.name || a.email)));
      item.addEventListener('click', () => {
        closeMenu();
        act('transfer_session', { agentId: a.id });
      });
      frag.append(item);
    }
    menu.replaceChildren(frag);
    menu.hidden = false;
    btn.setAttribute('aria-expanded', 'true');
  }

  function closeMenu() {
    $('transfer-menu').hidden = true;
    $('act-transfer').setAttribute('aria-expanded', 'false');
    $('labels-menu').hidden = true;
    $('act-labels').setAttribute('aria-expanded', 'false');
  }

  // ---------------------------------------------------------------- labels

  function labelColor(name) {
    const l = state.labels.find((x) => x.name.toLowerCase() === String(name).toLowerCase());
    return l && /^#[0-9a-f]{6}$/i.test(l.color) ? l.color : '#6b7280';
  }

  /** Chips for label names (text only: a name is never HTML). */
  function labelChips(names) {
    const box = el('span', 'label-chips');
    for (const n of names) {
      const chip = el('span', 'label-chip', n);
      chip.style.background = labelColor(n);
      chip.title = n;
      box.append(chip);
    }
    return box;
  }

  async function loadLabels() {
    try {
      state.labels = await api('/api/labels');
    } catch {
      state.labels = [];
    }
    const sel = $('label-filter');
    const keep = state.labelFilter;
    const opts = [new Option('All labels', '')];
    for (const l of state.labels) opts.push(new Option(l.name, l.name));
    sel.replaceChildren(...opts);
    sel.value = state.labels.some((l) => l.name === keep) ? keep : '';
    sel.hidden = state.labels.length === 0 && !keep;
  }

  function setLabelFilter(name) {
    state.labelFilter = name;
    state.listCursor = null;
    renderList();
    loadSessions(true);
  }

  function openLabelsMenu() {
    const menu = $('labels-menu');
    if (!menu.hidden) {
      closeMenu();
      return;
    }
    const conv = state.current;
    if (!conv) return;
    const s = state.sessions.get(conv.id) || {};
    const frag = document.createDocumentFragment();
    frag.append(el('div', 'menu-title', 'Labels'));
    if (!state.labels.length) {
      frag.append(el('div', 'menu-empty', state.user.role === 'admin'
        ? 'No labels yet: create them with POST /api/labels.' : 'An admin has not defined any labels yet.'));
    }
    for (const l of state.labels) {
      const row = el('label', 'menu-check');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = hasLabel(s, l.name);
      box.addEventListener('change', () => {
        const cur = (state.sessions.get(conv.id) || {}).labels || [];
        const next = box.checked
          ? cur.concat([l.name])
          : cur.filter((n) => n.toLowerCase() !== l.name.toLowerCase());
        setLabels(conv.id, next);
      });
      const chip = el('span', 'label-chip', l.name);
      chip.style.background = labelColor(l.name);
      row.append(box, chip);
      frag.append(row);
    }
    menu.replaceChildren(frag);
    menu.hidden = false;
    $('act-labels').setAttribute('aria-expanded', 'true');
  }

  async function setLabels(sessionId, names) {
    try {
      const sum = await request('set_labels', { sessionId, labels: names });
      upsert(sum);
      renderList();
      if (state.current && state.current.id === sessionId) renderHeader();
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  // ---------------------------------------------------------------- canned responses

  async function loadCanned() {
    try {
      state.canned = await api('/api/canned-responses');
    } catch {
      state.canned = [];
    }
  }

  /** The text with its placeholders filled from the open session and this agent. */
  function fillPlaceholders(text, conv) {
    const s = (conv && state.sessions.get(conv.id)) || {};
    const visitor = s.customerId ? 'there' : (s.code ? `visitor ${s.code}` : 'there');
    const values = {
      visitor,
      code: s.code || '',
      agent: (state.user && (state.user.name || state.user.email)) || '',
    };
    return text.replace(/\{\{\s*(visitor|code|agent)\s*\}\}/g, (_, k) => values[k]);
  }

  /** While the reply box holds only "/code", offer the matching responses. */
  function updateCannedMenu() {
    const m = /^\/([a-z0-9_-]*)$/i.exec($('reply').value);
    if (!m) return closeCanned();
    const prefix = m[1].toLowerCase();
    // A personal response hides a shared one with the same code (the server lists it first).
    const seen = new Set();
    const items = state.canned.filter((c) => {
      if (!c.shortCode.startsWith(prefix) || seen.has(c.shortCode)) return false;
      seen.add(c.shortCode);
      return true;
    }).slice(0, 20);
    if (!items.length) return closeCanned();
    const index = state.cannedPick ? Math.min(state.cannedPick.index, items.length - 1) : 0;
    state.cannedPick = { items, index };
    renderCanned();
  }

  function renderCanned() {
    const menu = $('canned-menu');
    const pick = state.cannedPick;
    const frag = document.createDocumentFragment();
    pick.items.forEach((c, i) => {
      const li = el('li', 'canned-item');
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === pick.index));
      li.dataset.code = c.shortCode;
      li.append(el('span', 'canned-code', `/${c.shortCode}`), el('span', 'canned-text', c.content));
      li.addEventListener('mousedown', (ev) => {
        ev.preventDefault();
        insertCanned(c);
      });
      frag.append(li);
    });
    menu.replaceChildren(frag);
    menu.hidden = false;
  }

  function closeCanned() {
    state.cannedPick = null;
    $('canned-menu').hidden = true;
  }

  function insertCanned(c) {
    const reply = $('reply');
    reply.value = fillPlaceholders(c.content, state.current);
    closeCanned();
    reply.focus();
    reply.setSelectionRange(reply.value.length, reply.value.length);
    onReplyInput();
  }

  /** Keys while suggestions are shown; true when the key was theirs. */
  function cannedKey(ev) {
    const pick = state.cannedPick;
    if (!pick) return false;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      const step = ev.key === 'ArrowDown' ? 1 : -1;
      pick.index = (pick.index + step + pick.items.length) % pick.items.length;
      renderCanned();
      return true;
    }
    if (ev.key === 'Enter' || ev.key === 'Tab') {
      insertCanned(pick.items[pick.index]);
      return true;
    }
    if (ev.key === 'Escape') {
      closeCanned();
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- search

  /** Text with the given [start, end) character ranges wrapped in <mark>, built as nodes. */
  function marked(text, ranges) {
    const chars = [...text];
    const frag = document.createDocumentFragment();
    let at = 0;
    for (const [a, b] of ranges || []) {
      if (a < at || b > chars.length || a >= b) continue;
      if (a > at) frag.append(chars.slice(at, a).join(''));
      frag.append(el('mark', null, chars.slice(a, b).join('')));
      at = b;
    }
    if (at < chars.length) frag.append(chars.slice(at).join(''));
    return frag;
  }

  async function runSearch(q, before) {
    const params = new URLSearchParams({ q, limit: '20' });
    if (before) params.set('before', before);
    try {
      const data = await api(`/api/search?${params}`);
      if (!before) $('search-list').replaceChildren();
      for (const h of data.results) $('search-list').append(searchHit(h));
      state.searchNext = data.nextBefore || null;
      state.searchQuery = q;
      $('search-more').hidden = !state.searchNext;
      const n = $('search-list').children.length;
      $('search-summary').textContent = n ? `${n}${state.searchNext ? '+' : ''} result${n === 1 ? '' : 's'} for "${q}"` : `Nothing found for "${q}"`;
      $('search-results').hidden = false;
      $('session-list').hidden = true;
      $('list-empty').hidden = true;
      $('list-more').hidden = true;
    } catch (e) {
      toast(`Search failed: ${e.message}`, 'error');
    }
  }

  function searchHit(h) {
    const li = el('li');
    const btn = el('button', 'search-hit');
    btn.type = 'button';
    btn.dataset.sessionId = h.sessionId;
    const top = el('span', 'search-hit-top');
    const who = h.kind === 'session' ? 'Visitor' : (h.private ? 'Private note' : (h.sender === 'user' ? 'Visitor' : 'Agent'));
    top.append(el('span', 'code-chip', h.code), el('span', null, who), el('span', null, ago(h.createdAt)));
    const text = el('span', 'search-hit-text');
    text.append(marked(h.snippet, h.highlights));
    btn.append(top, text);
    btn.addEventListener('click', () => openSession({ sessionId: h.sessionId }));
    li.append(btn);
    return li;
  }

  function closeSearch() {
    $('search-results').hidden = true;
    $('session-list').hidden = false;
    $('search-input').value = '';
    renderList();
  }

  // ---------------------------------------------------------------- notifications

  const NOTIFY_KEY = 'chatdesk.console.notify';
  const SOUND_KEY = 'chatdesk.console.sound';
  let audio = null;

  function notifyEnabled() {
    return localStorage.getItem(NOTIFY_KEY) === 'on' && 'Notification' in window && Notification.permission === 'granted';
  }

  function renderNotifyToggle() {
    const on = notifyEnabled();
    $('notify-toggle').textContent = `Notifications: ${on ? 'on' : 'off'}`;
    $('notify-toggle').setAttribute('aria-pressed', String(on));
    $('sound-toggle').checked = localStorage.getItem(SOUND_KEY) === 'on';
  }

  async function toggleNotifications() {
    if (!('Notification' in window)) {
      toast('This browser has no notifications.', 'error');
      return;
    }
    if (notifyEnabled()) {
      localStorage.setItem(NOTIFY_KEY, 'off');
    } else {
      const p = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
      if (p === 'granted') localStorage.setItem(NOTIFY_KEY, 'on');
      else toast('Notifications are blocked for this site in the browser.', 'error');
    }
    renderNotifyToggle();
  }

  function beep() {
    if (localStorage.getItem(SOUND_KEY) !== 'on') return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch {
      // no audio here: the notification alone
    }
  }

  /** A browser notification (one per kind and session at a time); clicking it opens the session. */
  function notify(kind, sessionId, title, body) {
    state.notified = (state.notified || 0) + 1;
    beep();
    if (!notifyEnabled()) return;
    try {
      const n = new Notification(title, { body, tag: `${kind}:${sessionId}`, icon: '/static/icon.svg' });
      n.onclick = () => {
        window.focus();
        openSession({ sessionId });
        n.close();
      };
    } catch {
      // some browsers only notify from a service worker: the title badge still counts
    }
  }

  /** What a session update means for this agent: assigned to them, queued, or a visitor writing. */
  function noticeUpdate(u) {
    if (!u || !u.sessionId || !state.user) return;
    const before = state.sessions.get(u.sessionId) || {};
    const me = state.user.id;
    const code = u.code || before.code || '';
    if (u.assigneeId === me && before.assigneeId !== me && before.status) {
      notify('assigned', u.sessionId, 'A conversation is yours', `Conversation ${code} was assigned to you.`);
    } else if (u.status === 'waiting' && before.status && before.status !== 'waiting') {
      notify('queue', u.sessionId, 'A visitor is waiting', `Conversation ${code} is in the queue.`);
    }
    const m = u.lastMessage;
    const mine = (u.assigneeId || before.assigneeId) === me;
    if (m && m.sender === 'user' && mine && document.hidden) {
      notify('message', u.sessionId, `Visitor ${code}`, m.content);
    }
  }

  // ---------------------------------------------------------------- keyboard

  const SHORTCUTS = [
    ['Alt+↓ / Alt+↑', 'next / previous conversation in the list'],
    ['Alt+C', 'claim the open conversation'],
    ['Alt+R', 'resolve it'],
    ['Alt+N', 'toggle private note'],
    ['Ctrl+/', 'canned responses (types / in the reply box)'],
    ['Ctrl+K', 'search'],
    ['Esc', 'close menus and suggestions'],
  ];

  function moveInList(step) {
    const ids = [...document.querySelectorAll('#session-list .session-item')].map((li) => li.dataset.sessionId);
    if (!ids.length) return;
    const at = state.current ? ids.indexOf(state.current.id) : -1;
    const next = ids[Math.min(Math.max(at + step, 0), ids.length - 1)];
    if (next && (!state.current || next !== state.current.id)) openSession({ sessionId: next });
  }

  function onShortcut(ev) {
    if (ev.ctrlKey && ev.key.toLowerCase() === 'k') {
      ev.preventDefault();
      $('search-input').focus();
      return;
    }
    if (ev.ctrlKey && ev.key === '/') {
      ev.preventDefault();
      const reply = $('reply');
      if (!state.current || !reply) return;
      reply.value = '/';
      reply.focus();
      updateCannedMenu();
      return;
    }
    if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const s = state.current && state.sessions.get(state.current.id);
    const acts = s && state.user ? actionsFor(s, state.user) : {};
    switch (key) {
      case 'ArrowDown': moveInList(1); break;
      case 'ArrowUp': moveInList(-1); break;
      case 'c': if (acts.claim) act('claim_session'); break;
      case 'r': if (s && s.status !== 'resolved') act('resolve_session'); break;
      case 'n': $('note-mode').click(); break;
      default: return;
    }
    ev.preventDefault();
  }

  function showShortcuts() {
    toast(SHORTCUTS.map(([k, what]) => `${k}: ${what}`).join(' · '), 'info');
  }

  // ---------------------------------------------------------------- wiring

  // ------------------------------------------------------------------ business hours (admins)

  const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
    ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];

  /** "09:00-12:00, 13:00-17:00" -> [["09:00","12:00"],["13:00","17:00"]] (checked by the server). */
  function parseIntervals(text) {
    return text.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
      const [from, to] = p.split('-').map((t) => (t || '').trim());
      return [from, to || ''];
    });
  }

  async function openHours() {
    const box = $('hours-days');
    if (!box.children.length) {
      for (const [key, name] of DAYS) {
        const row = el('label', 'hours-day');
        const input = el('input');
        input.id = `hours-${key}`;
        input.placeholder = 'closed';
        input.autocomplete = 'off';
        row.append(el('span', null, name), input);
        box.append(row);
      }
      const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
      $('hours-zones').replaceChildren(...zones.map((z) => { const o = el('option'); o.value = z; return o; }));
    }
    $('hours-error').hidden = true;
    try {
      showHours(await api('/api/settings/business-hours'));
      $('hours-dialog').showModal();
    } catch (e) {
      toast(`Business hours not loaded: ${e.message}`, 'error');
    }
  }

  function showHours(h) {
    $('hours-enabled').checked = !!h.enabled;
    $('hours-tz').value = h.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    for (const [key] of DAYS) {
      $(`hours-${key}`).value = ((h.days || {})[key] || []).map((i) => `${i[0]}-${i[1]}`).join(', ');
    }
    let now = '';
    if (h.enabled) {
      now = h.openNow ? 'Open now.' : (h.nextOpening
        ? `Closed now; opens ${new Date(h.nextOpening).toLocaleString([], { weekday: 'long', hour: '2-digit', minute: '2-digit' })} (your time).`
        : 'Closed now, and no opening is set.');
    }
    $('hours-now').textContent = now;
  }

  async function saveHours(ev) {
    ev.preventDefault();
    const days = {};
    for (const [key] of DAYS) {
      const list = parseIntervals($(`hours-${key}`).value);
      if (list.length) days[key] = list;
    }
    const body = { enabled: $('hours-enabled').checked, timezone: $('hours-tz').value.trim(), days };
    try {
      const saved = await api('/api/settings/business-hours', { method: 'PUT', body });
      showHours(saved);
      $('hours-dialog').close();
      toast('Business hours saved.');
    } catch (e) {
      $('hours-error').textContent = e.message;
      $('hours-error').hidden = false;
    }
  }

  function wire() {
    $('login-form').addEventListener('submit', onLoginSubmit);
    $('hours-open').addEventListener('click', openHours);
    $('hours-form').addEventListener('submit', saveHours);
    $('hours-cancel').addEventListener('click', () => $('hours-dialog').close());
    $('logout').addEventListener('click', logout);
    for (const t of document.querySelectorAll('.tab')) {
      t.addEventListener('click', () => setFilter(t.dataset.filter));
    }
    $('list-more').addEventListener('click', () => loadSessions(false));
    $('code-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const code = $('code-input').value.trim();
      if (code.length !== 6) {
        toast('A code has 6 characters.', 'error');
        return;
      }
      $('code-input').value = '';
      openSession({ code });
    });
    $('composer').addEventListener('submit', onComposerSubmit);
    $('attach').addEventListener('click', () => $('attach-input').click());
    $('attach-input').addEventListener('change', () => {
      uploadFiles($('attach-input').files);
      $('attach-input').value = '';
    });
    $('reply').addEventListener('paste', (ev) => {
      const files = ev.clipboardData && ev.clipboardData.files;
      if (files && files.length) {
        ev.preventDefault();
        uploadFiles(files);
      }
    });
    const dropZone = $('messages');
    dropZone.addEventListener('dragover', (ev) => {
      if (!state.current || !ev.dataTransfer || !Array.from(ev.dataTransfer.types).includes('Files')) return;
      ev.preventDefault();
      dropZone.classList.add('dropping');
    });
    dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dropping'));
    dropZone.addEventListener('drop', (ev) => {
      dropZone.classList.remove('dropping');
      if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
      ev.preventDefault();
      uploadFiles(ev.dataTransfer.files);
    });
    $('reply').addEventListener('input', () => {
      onReplyInput();
      updateCannedMenu();
    });
    $('reply').addEventListener('keydown', (ev) => {
      if (!ev.isComposing && cannedKey(ev)) {
        ev.preventDefault();
        return;
      }
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        $('composer').requestSubmit();
      }
    });
    $('reply').addEventListener('blur', () => {
      closeCanned();
      if (state.current) stopTyping(state.current);
    });
    $('reply').addEventListener('focus', () => loadCanned());
    $('label-filter').addEventListener('change', (ev) => setLabelFilter(ev.target.value));
    $('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = $('search-input').value.trim();
      if (q) runSearch(q, null);
      else closeSearch();
    });
    $('search-close').addEventListener('click', closeSearch);
    $('search-more').addEventListener('click', () => runSearch(state.searchQuery, state.searchNext));
    $('note-mode').addEventListener('change', () => {
      const on = $('note-mode').checked;
      $('composer').classList.toggle('composer-note', on);
      $('reply').placeholder = on ? NOTE_PLACEHOLDER : REPLY_PLACEHOLDER;
      if (on && state.current) stopTyping(state.current);
      $('reply').focus();
    });
    $('act-labels').addEventListener('click', openLabelsMenu);
    $('messages').addEventListener('scroll', () => {
      if ($('messages').scrollTop < 60) loadOlder();
      maybeMarkRead();
    });
    $('load-older').addEventListener('click', loadOlder);
    $('act-claim').addEventListener('click', () => act('claim_session'));
    $('act-takeover').addEventListener('click', () => {
      const s = state.current && state.sessions.get(state.current.id);
      if (s && s.assigneeId) act('claim_session', { takeOverFrom: s.assigneeId });
    });
    $('act-release').addEventListener('click', () => act('release_session'));
    $('act-resolve').addEventListener('click', () => act('resolve_session'));
    $('act-reopen').addEventListener('click', () => act('reopen_session'));
    $('act-transfer').addEventListener('click', openTransferMenu);
    $('act-ai').addEventListener('click', toggleAssistant);
    document.addEventListener('click', (ev) => {
      if (!ev.target.closest('.menu-wrap')) closeMenu();
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') closeMenu();
      onShortcut(ev);
    });
    $('notify-toggle').addEventListener('click', toggleNotifications);
    $('sound-toggle').addEventListener('change', (ev) => {
      localStorage.setItem(SOUND_KEY, ev.target.checked ? 'on' : 'off');
      if (ev.target.checked) beep();
    });
    $('shortcuts-help').addEventListener('click', showShortcuts);
    renderNotifyToggle();
    document.addEventListener('visibilitychange', maybeMarkRead);
    window.addEventListener('focus', maybeMarkRead);
    // Relative times ("waiting 4 min") move on by themselves.
    setInterval(() => {
      if (!state.socket) return;
      renderList();
      renderHeader();
    }, 30000);
  }

  async function boot() {
    wire();
    const token = localStorage.getItem(TOKEN_KEY);
    if (!token) {
      showLogin('');
      return;
    }
    state.token = token;
    try {
      const me = await api('/api/auth/me');
      if (!me.user || (me.user.role !== 'agent' && me.user.role !== 'admin')) throw new Error('not staff');
      state.user = me.user;
      localStorage.setItem(USER_KEY, JSON.stringify(me.user));
      startApp();
    } catch {
      forget();
      showLogin('');
    }
  }

  boot();
})();
