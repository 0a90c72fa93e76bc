/*
 * chatdesk visitor widget. Embed with ONE tag:
 *
 *   <script src="https://desk.example/widget.js" defer></script>
 *
 * Optional attributes on that tag: data-title, data-subtitle, data-team (how staff are
 * introduced: "Anna from <team>", default "Support"), data-color (any CSS color),
 * data-position ("right" or "left"), data-open ("true": start opened).
 *
 * The script finds its server from its own src, loads the socket.io client from that server
 * (/static/socket.io.min.js, without leaving a global behind), and renders a chat launcher
 * and panel inside a shadow root, so the host page's CSS and ours never mix. Messages are
 * always rendered as text (textContent), never as HTML. The sessionId is kept in
 * localStorage, so a reload (or a later visit) resumes the same conversation.
 * Files: the attach button, pasting, or dropping a file on the panel uploads it
 * (POST /api/chats/:sessionId/attachments, with its progress) and sends it by attachmentId;
 * the widget loads attachments with ?sessionId= (its session id is its key to them).
 * Small API: window.chatdeskWidget.open() / .close() / .toggle().
 */
(function () {
  'use strict';

  if (window.chatdeskWidget) return; // included twice: keep the first
  var script = document.currentScript;
  if (!script || !script.src) {
    console.error('chatdesk widget: include it with <script src=".../widget.js">');
    return;
  }

  var ORIGIN = new URL(script.src, location.href).origin;
  var data = script.dataset;
  var CFG = {
    title: data.title || 'Chat with us',
    subtitle: data.subtitle || 'We usually reply in a few minutes',
    team: data.team || 'Support',
    color: data.color || '',
    position: data.position === 'left' ? 'left' : 'right',
    open: data.open === 'true',
  };
  var STORE_KEY = 'chatdesk:' + ORIGIN + ':sessionId';
  var TYPING_REFRESH_MS = 3000;
  var TYPING_IDLE_MS = 2500;
  var ACK_TIMEOUT_MS = 10000;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var ICONS = {
    chat: 'M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.6a.5.5 0 0 1-.8-.4V16h-.5A2.5 2.5 0 0 1 2 13.5z',
    close: 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z',
    down: 'M5.3 8.3 12 15l6.7-6.7 1.4 1.4L12 17.8 3.9 9.7z',
    send: 'M3.4 20.4 21 12 3.4 3.6l-.01 6.53L15 12 3.39 13.87z',
    clip: 'M16.5 6v11.5a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6H9v9.5a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v12.5a6 6 0 0 0 12 0V6z',
  };

  var state = {
    io: null,
    socket: null,
    sessionId: null,
    code: '',
    status: 'open',
    assignee: null,
    position: null,
    messages: new Map(), // seq -> message
    pending: new Map(), // clientMsgId -> {content, failed}
    streams: new Map(), // messageId -> {tokens: []}
    notes: [], // ephemeral system lines: {afterSeq, text}
    hasMore: false,
    loadingOlder: false,
    ready: false,
    open: false,
    adminRead: 0, // the agents' read watermark ("Seen")
    readSent: 0, // ours
    agentTyping: false,
    typingOn: false,
    typingSentAt: 0,
    typingIdle: null,
    connecting: null,
    waiters: [], // sends waiting for init_session
    availability: null, // {online, agentsOnline, reason?, nextOpening?}
    rating: null, // {score, comment, sending, done, error}: asked to rate this resolution
    contact: null, // {email, sending, done, error}: the offline form
  };

  // ------------------------------------------------------------------ DOM

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A file message's URL as the page may load it: https:, or a path on the chat server
  // (resolved against ORIGIN, not the site the widget is on). The server stores nothing
  // else; this is checked again here, so a URL that is neither is shown as plain text.
  function fileUrl(m) {
    var u = m.type && m.type !== 'text' ? m.fileUrl : null;
    if (typeof u !== 'string' || !u || /[\s\\]/.test(u)) return null;
    if (u.charAt(0) === '/') return u.charAt(1) === '/' ? null : ORIGIN + u;
    try {
      return new URL(u).protocol === 'https:' ? u : null;
    } catch (e) {
      return null;
    }
  }

  // A message's bubble: its text; an image inline (in a fixed 240x180 box, so the list does
  // not jump while it loads); any other file as a link. Built with textContent and
  // setAttribute only: nothing a message holds is ever parsed as HTML.
  function bubbleOf(m) {
    if (m.attachment && typeof m.attachment.url === 'string') return attachmentBubble(m, m.attachment);
    var url = fileUrl(m);
    if (!url) return el('div', 'bubble', m.content);
    var b = el('div', 'bubble bubble-file');
    var a = el('a', 'file-link', m.type === 'image' ? null : m.content);
    a.setAttribute('href', url);
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer');
    if (m.type === 'image') {
      var img = el('img', 'file-image');
      img.setAttribute('src', url);
      img.setAttribute('alt', m.content);
      img.setAttribute('width', '240');
      img.setAttribute('height', '180');
      img.setAttribute('loading', 'lazy');
      img.setAttribute('referrerpolicy', 'no-referrer');
      a.appendChild(img);
      b.appendChild(a);
      b.appendChild(el('div', 'file-caption', m.content));
    } else {
      b.appendChild(a);
    }
    return b;
  }

  // ------------------------------------------------------------------ attachments

  var THUMB_BOX = { w: 240, h: 180 };

  function fmtSize(n) {
    if (!isFinite(n) || n < 0) return '';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return Math.round(n / 1024) + ' KB';
    return (n / (1024 * 1024)).toFixed(1) + ' MB';
  }

  /** The size an image is shown at: its own, scaled down to fit THUMB_BOX. */
  function fitted(a) {
    var w = Number(a.width);
    var h = Number(a.height);
    if (!(w > 0 && h > 0)) return { w: THUMB_BOX.w, h: THUMB_BOX.h };
    var k = Math.min(1, THUMB_BOX.w / w, THUMB_BOX.h / h);
    return { w: Math.max(1, Math.round(w * k)), h: Math.max(1, Math.round(h * k)) };
  }

  /** An attachment path of the chat server (`/api/attachments/<hex>[/thumbnail]`), with the
   *  session id that opens it; anything else is no URL. */
  function attachmentUrl(u) {
    if (typeof u !== 'string' || !/^\/api\/attachments\/[0-9a-f]{32}(\/thumbnail)?$/.test(u)) return null;
    return ORIGIN + u + '?sessionId=' + encodeURIComponent(state.sessionId || '');
  }

  function attachmentBubble(m, a) {
    var b = el('div', 'bubble bubble-file');
    var name = typeof a.name === 'string' ? a.name : 'file';
    var original = attachmentUrl(a.url);
    var thumb = attachmentUrl(a.thumbnailUrl);
    var link = el('a', thumb ? 'file-open' : 'file-chip');
    if (original) link.setAttribute('href', original);
    link.setAttribute('target', '_blank');
    link.setAttribute('rel', 'noopener noreferrer');
    link.setAttribute('title', name);
    if (thumb) {
      var img = el('img', 'file-thumb');
      var size = fitted(a);
      img.setAttribute('src', thumb);
      img.setAttribute('alt', name);
      img.setAttribute('width', String(size.w));
      img.setAttribute('height', String(size.h));
      img.setAttribute('referrerpolicy', 'no-referrer');
      link.appendChild(img);
    } else {
      link.append(el('span', 'file-name', name), el('span', 'file-size', fmtSize(Number(a.size))));
    }
    b.appendChild(link);
    if (m.content && m.content !== name) b.appendChild(el('div', 'file-caption', m.content));
    return b;
  }

  /** What a refused upload is told, by the server's code. */
  function uploadRefusal(code, message) {
    if (code === 'attachment_too_large') return 'That file is too large (' + message + ').';
    if (code === 'attachment_type_refused') return 'That type of file cannot be sent.';
    if (code === 'quota_exceeded') return 'No room for more files in this conversation.';
    if (code === 'rate_limited') return 'Too many files at once; try again in a minute.';
    return 'File not sent: ' + message;
  }

  /** Uploads `file` (XHR, for its progress), then sends it as a message. */
  async function sendFile(file) {
    var clientMsgId = newId();
    var p = { content: file.name || 'file', failed: false, upload: { loaded: 0, total: file.size } };
    state.pending.set(clientMsgId, p);
    render({ scroll: 'bottom' });
    function fail(text) {
      p.failed = true;
      p.upload = null;
      p.file = file;
      render();
      flash(text);
    }
    try {
      await connect();
      await whenReady();
    } catch (e) {
      fail('File not sent: ' + e.message);
      return;
    }
    var form = new FormData();
    form.append('file', file, file.name || 'file');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', ORIGIN + '/api/chats/' + encodeURIComponent(state.sessionId) + '/attachments');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', function (ev) {
      if (!ev.lengthComputable || !p.upload) return;
      p.upload.loaded = ev.loaded;
      p.upload.total = ev.total;
      var bar = ui.list.querySelector('[data-upload="' + clientMsgId + '"]');
      if (bar) bar.value = ev.loaded / ev.total;
    });
    xhr.addEventListener('error', function () { fail('File not sent: the connection failed.'); });
    xhr.addEventListener('load', async function () {
      var body = xhr.response || {};
      if (xhr.status !== 201 || !body.id) {
        var err = body.error || {};
        fail(uploadRefusal(err.code, err.message || 'HTTP ' + xhr.status));
        return;
      }
      p.upload = null;
      try {
        var m = await request('user_message', { sessionId: state.sessionId, attachmentId: body.id, clientMsgId: clientMsgId });
        addMessages([m]);
      } catch (e) {
        fail('File not sent: ' + e.message);
      }
    });
    xhr.send(form);
  }

  function sendFiles(files) {
    if (!files) return;
    Array.prototype.forEach.call(files, function (f) { sendFile(f); });
  }

  function icon(name) {
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'icon icon-' + name);
    var path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICONS[name]);
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  var ui = {};

  function build() {
    var host = el('div');
    host.id = 'chatdesk-widget';
    host.hidden = true; // until our stylesheet is in: no flash of unstyled widget
    if (CFG.color && window.CSS && CSS.supports('color', CFG.color)) {
      host.style.setProperty('--cdw-accent', CFG.color);
    }
    var root = host.attachShadow({ mode: 'open' });
    var css = el('link');
    css.rel = 'stylesheet';
    css.href = ORIGIN + '/static/widget.css';
    css.addEventListener('load', function () { host.hidden = false; });
    css.addEventListener('error', function () { host.hidden = false; });

    var wrap = el('div', 'cdw');
    wrap.dataset.position = CFG.position;
    wrap.dataset.open = 'false';

    var panel = el('section', 'panel');
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', CFG.title);

    var head = el('header', 'head');
    var headTop = el('div', 'head-top');
    var logo = el('span', 'head-logo');
    logo.appendChild(icon('chat'));
    var titles = el('div', 'head-titles');
    titles.append(el('h2', 'title', CFG.title), el('p', 'subtitle', CFG.subtitle));
    var minimise = el('button', 'icon-btn minimise');
    minimise.type = 'button';
    minimise.setAttribute('aria-label', 'Minimise chat');
    minimise.appendChild(icon('down'));
    headTop.append(logo, titles, minimise);
    var statusBar = el('div', 'status');
    statusBar.dataset.status = 'open';
    var statusDot = el('span', 'status-dot');
    var statusText = el('span', 'status-text', 'Connecting…');
    statusBar.append(statusDot, statusText);
    head.append(headTop, statusBar);

    var body = el('div', 'body');
    body.setAttribute('role', 'log');
    body.setAttribute('aria-live', 'polite');
    var older = el('button', 'older', 'Load earlier messages');
    older.type = 'button';
    older.hidden = true;
    var welcome = el('div', 'welcome');
    welcome.append(el('strong', null, 'Hi there 👋'), el('span', null, 'Ask us anything, we are happy to help.'));
    var list = el('ol', 'messages');
    var typing = el('div', 'typing');
    typing.hidden = true;
    var dots = el('span', 'dots');
    dots.append(el('i'), el('i'), el('i'));
    var typingText = el('span', 'typing-text', 'Agent is typing…');
    typing.append(dots, typingText);
    body.append(older, welcome, list, typing);

    var card = el('div', 'card');
    card.hidden = true;

    var actions = el('div', 'actions');
    var human = el('button', 'human', 'Talk to a human');
    human.type = 'button';
    actions.appendChild(human);

    var form = el('form', 'composer');
    var attach = el('button', 'attach');
    attach.type = 'button';
    attach.setAttribute('aria-label', 'Attach a file');
    attach.setAttribute('title', 'Attach a file (or paste, or drop it here)');
    attach.appendChild(icon('clip'));
    var fileInput = el('input', 'file-input');
    fileInput.type = 'file';
    fileInput.multiple = true;
    fileInput.hidden = true;
    var input = el('textarea', 'input');
    input.rows = 1;
    input.placeholder = 'Type your message…';
    input.setAttribute('aria-label', 'Message');
    input.maxLength = 10000;
    var send = el('button', 'send');
    send.type = 'submit';
    send.setAttribute('aria-label', 'Send');
    send.appendChild(icon('send'));
    form.append(attach, fileInput, input, send);

    var foot = el('footer', 'foot');
    var codeText = el('span', 'code');
    foot.append(el('span', null, 'Powered by chatdesk'), codeText);

    panel.append(head, body, card, actions, form, foot);

    var launcher = el('button', 'launcher');
    launcher.type = 'button';
    launcher.setAttribute('aria-label', 'Open chat');
    var badge = el('span', 'badge');
    badge.hidden = true;
    launcher.append(icon('chat'), icon('close'), badge);

    wrap.append(panel, launcher);
    root.append(css, wrap);
    document.body.appendChild(host);

    ui = {
      host: host, root: root, wrap: wrap, panel: panel, statusBar: statusBar, statusText: statusText,
      body: body, older: older, welcome: welcome, list: list, typing: typing, typingText: typingText, human: human, actions: actions,
      form: form, input: input, send: send, codeText: codeText, launcher: launcher, badge: badge,
      minimise: minimise, attach: attach, fileInput: fileInput, card: card,
    };

    launcher.addEventListener('click', toggle);
    minimise.addEventListener('click', close);
    older.addEventListener('click', loadOlder);
    body.addEventListener('scroll', function () {
      if (body.scrollTop < 40) loadOlder();
      markRead();
    });
    human.addEventListener('click', requestHuman);
    form.addEventListener('submit', onSubmit);
    input.addEventListener('input', onInput);
    input.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    input.addEventListener('blur', stopTyping);
    attach.addEventListener('click', function () { fileInput.click(); });
    fileInput.addEventListener('change', function () {
      sendFiles(fileInput.files);
      fileInput.value = '';
    });
    input.addEventListener('paste', function (ev) {
      var files = ev.clipboardData && ev.clipboardData.files;
      if (files && files.length) {
        ev.preventDefault();
        sendFiles(files);
      }
    });
    panel.addEventListener('dragover', function (ev) {
      if (!ev.dataTransfer || Array.prototype.indexOf.call(ev.dataTransfer.types, 'Files') < 0) return;
      ev.preventDefault();
      panel.classList.add('dropping');
    });
    panel.addEventListener('dragleave', function () { panel.classList.remove('dropping'); });
    panel.addEventListener('drop', function (ev) {
      panel.classList.remove('dropping');
      if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
      ev.preventDefault();
      sendFiles(ev.dataTransfer.files);
    });
    document.addEventListener('visibilitychange', markRead);
    window.addEventListener('focus', markRead);
  }

  // ------------------------------------------------------------------ open / close

  function open() {
    state.open = true;
    ui.wrap.dataset.open = 'true';
    ui.launcher.setAttribute('aria-label', 'Close chat');
    connect();
    render({ scroll: 'bottom' });
    ui.input.focus();
  }

  function close() {
    state.open = false;
    ui.wrap.dataset.open = 'false';
    ui.launcher.setAttribute('aria-label', 'Open chat');
    stopTyping();
  }

  function toggle() {
    if (state.open) close();
    else open();
  }

  // ------------------------------------------------------------------ socket

  /** Loads our socket.io client without clobbering a `window.io` the host page may have. */
  function loadClient() {
    return new Promise(function (resolve, reject) {
      var had = Object.prototype.hasOwnProperty.call(window, 'io');
      var theirs = window.io;
      var s = document.createElement('script');
      s.src = ORIGIN + '/static/socket.io.min.js';
      s.async = true;
      s.onload = function () {
        var ours = window.io;
        if (had) window.io = theirs;
        else delete window.io;
        if (typeof ours === 'function') resolve(ours);
        else reject(new Error('socket.io client did not load'));
      };
      s.onerror = function () { reject(new Error('could not load the chat client')); };
      document.head.appendChild(s);
    });
  }

  function connect() {
    if (state.connecting) return state.connecting;
    state.connecting = loadClient().then(function (io) {
      state.io = io;
      var socket = io(ORIGIN, { withCredentials: false });
      state.socket = socket;
      socket.on('connect', onConnect);
      socket.on('disconnect', function (reason) {
        state.ready = false;
        renderStatus();
        // Closed by the server itself (a restart, say): socket.io does not retry that case
        // on its own. Come back shortly, spread out so that not every visitor comes at once.
        if (reason === 'io server disconnect') {
          setTimeout(function () { socket.connect(); }, 1000 + Math.random() * 4000);
        }
      });
      socket.on('connect_error', function () { renderStatus(); });
      // The server may have missed cross-node messages (a Redis outage): catch up with lastSeq.
      socket.on('resync', function () { if (state.ready) onConnect(); });
      socket.on('message', function (m) {
        // A private note never reaches a visitor; should one ever arrive, it is not shown.
        if (m && m.sessionId === state.sessionId && !m.private) addMessages([m]);
      });
      socket.on('typing', function (t) {
        if (!t || t.sessionId !== state.sessionId || t.sender !== 'admin') return;
        state.agentTyping = !!t.isTyping;
        renderTyping();
      });
      socket.on('read', function (r) {
        if (!r || r.sessionId !== state.sessionId || r.reader !== 'admin') return;
        if (r.seq > state.adminRead) {
          state.adminRead = r.seq;
          render();
        }
      });
      socket.on('session_status', function (s) {
        if (!s || s.sessionId !== state.sessionId) return;
        var was = state.status;
        var wasWith = state.assignee && state.assignee.id;
        state.status = s.status;
        if (s.assignee && (s.assignee.name || !state.assignee || state.assignee.id !== s.assignee.id)) {
          state.assignee = s.assignee;
        } else if (!s.assignee) {
          state.assignee = null;
        }
        if (s.status !== 'waiting') state.position = null;
        if (s.status !== 'resolved' && state.rating && !state.rating.done) state.rating = null;
        if (s.status === 'resolved' && was !== 'resolved' && state.rating && state.rating.done) state.rating = null;
        var nowWith = state.assignee && state.assignee.id;
        if (was !== s.status || (s.status === 'assigned' && wasWith !== nowWith)) note(statusNote(s.status));
        renderStatus();
        render();
        renderCard();
      });
      socket.on('availability', function (a) {
        if (!a || typeof a.online !== 'boolean') return;
        state.availability = a;
        renderStatus();
        renderCard();
      });
      socket.on('rating_request', function (r) {
        if (!r || r.sessionId !== state.sessionId) return;
        askRating();
      });
      socket.on('queue_position', function (q) {
        if (!q || q.sessionId !== state.sessionId) return;
        state.position = q.position;
        renderStatus();
      });
      socket.on('human-escalation-response', function (r) {
        if (r && r.message) {
          note(r.message);
          render();
        }
      });
      socket.on('history_cleared', function (h) {
        if (!h || h.sessionId !== state.sessionId) return;
        state.messages.clear();
        state.notes = [];
        state.hasMore = false;
        render();
      });
      socket.on('stream-start', function (p) { streamPart(p, null); });
      socket.on('stream-token', function (t) { streamPart(t, t); });
      socket.on('stream-end', function (e) {
        if (!e || e.sessionId !== state.sessionId) return;
        state.streams.delete(e.messageId);
        if (e.message) addMessages([e.message]);
        else render();
      });
      socket.on('error', function (e) {
        if (e && e.message) flash(e.code === 'rate_limited' ? 'Slow down a little, please.' : e.message);
      });
    }).catch(function (e) {
      state.connecting = null;
      flash('Chat is unavailable right now.');
      console.error('chatdesk widget:', e);
    });
    return state.connecting;
  }

  /** Emits with an ack; unwraps `{ok, data}` (init_session's ack is not wrapped). */
  function request(event, payload) {
    return new Promise(function (resolve, reject) {
      if (!state.socket) {
        reject(new Error('not connected'));
        return;
      }
      state.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, function (err, res) {
        if (err) reject(new Error('no answer from the server'));
        else if (res && res.ok === false) {
          var e = new Error((res.error && res.error.message) || event + ' failed');
          e.code = res.error && res.error.code;
          reject(e);
        } else resolve(res && res.ok === true && 'data' in res ? res.data : res);
      });
    });
  }

  function storedSessionId() {
    try {
      return localStorage.getItem(STORE_KEY);
    } catch (e) {
      return null; // storage blocked (privacy mode): the conversation lasts as long as the page
    }
  }

  function storeSessionId(id) {
    try {
      localStorage.setItem(STORE_KEY, id);
    } catch (e) { /* see storedSessionId */ }
  }

  /**
   * (Re)joins the conversation. First time on this page: resume the stored session and fetch
   * its latest page of history. After a reconnect: init_session with lastSeq, which returns
   * everything after it (more rounds while hasMore), so nothing is missed and nothing doubled.
   */
  async function onConnect() {
    var known = state.sessionId || storedSessionId();
    var catchUp = state.sessionId !== null && state.messages.size > 0;
    var payload = {};
    if (known) payload.sessionId = known;
    if (catchUp) payload.lastSeq = maxSeq();
    try {
      var ack = await request('init_session', payload);
      if (state.sessionId && ack.sessionId !== state.sessionId) resetConversation();
      state.sessionId = ack.sessionId;
      storeSessionId(ack.sessionId);
      applyAck(ack);
      if (ack.messages) {
        addMessages(ack.messages);
        var more = ack.hasMore;
        while (more) {
          var next = await request('init_session', { sessionId: state.sessionId, lastSeq: maxSeq() });
          addMessages(next.messages || []);
          more = next.hasMore && next.messages && next.messages.length > 0;
        }
      } else if (ack.resumed) {
        var page = await request('get_history', { sessionId: state.sessionId, limit: 50 });
        state.hasMore = !!page.hasMore;
        addMessages(page.messages, { scroll: 'bottom' });
      }
      state.ready = true;
      state.waiters.splice(0).forEach(function (w) { w(); });
      renderStatus();
      render();
      renderCard();
    } catch (e) {
      flash('Could not start the chat: ' + e.message);
    }
  }

  /**
   * The conversation's state as the init_session ack tells it: status, who is helping,
   * place in the queue, code and both read watermarks. The same on a first load, a reload
   * and a reconnect, so nothing depends on having heard the events that led there.
   */
  function applyAck(ack) {
    state.code = ack.code || '';
    state.status = ack.status || 'open';
    state.assignee = ack.assignee && ack.assignee.id ? ack.assignee : null;
    state.position = state.status === 'waiting' && ack.queuePosition ? ack.queuePosition : null;
    if (ack.availability && typeof ack.availability.online === 'boolean') state.availability = ack.availability;
    // An address left before a reload: say we will write back, do not ask again.
    if (ack.contactLeft && !(state.contact && state.contact.done)) {
      state.contact = { email: '', sending: false, done: true, error: '' };
    }
    if (state.status !== 'resolved' && state.rating && !state.rating.done) state.rating = null;
    renderCard();
    if (ack.readSeq) {
      // Watermarks never move back (a read receipt may have arrived before the ack).
      state.adminRead = Math.max(state.adminRead, ack.readSeq.admin || 0);
      state.readSent = Math.max(state.readSent, ack.readSeq.user || 0);
    }
  }

  function resetConversation() {
    state.messages.clear();
    state.pending.clear();
    state.streams.clear();
    state.notes = [];
    state.hasMore = false;
    state.adminRead = 0;
    state.readSent = 0;
    state.assignee = null;
    state.position = null;
    state.rating = null;
    state.contact = null;
  }

  // ------------------------------------------------------------------ messages

  function maxSeq() {
    var max = 0;
    state.messages.forEach(function (_, s) { if (s > max) max = s; });
    return max;
  }

  function minSeq() {
    var min = Infinity;
    state.messages.forEach(function (_, s) { if (s < min) min = s; });
    return min === Infinity ? null : min;
  }

  function addMessages(list, opts) {
    (list || []).forEach(function (m) {
      if (!m || typeof m.seq !== 'number') return;
      if (m.clientMsgId) state.pending.delete(m.clientMsgId);
      state.streams.delete(m.id);
      if (!state.messages.has(m.seq)) state.messages.set(m.seq, m);
      if (m.sender === 'admin') state.agentTyping = false;
    });
    render(opts);
  }

  function note(text) {
    if (text) state.notes.push({ afterSeq: maxSeq(), text: text });
  }

  function statusNote(status) {
    if (status === 'assigned') {
      return (state.assignee && state.assignee.name ? state.assignee.name : 'An agent') + ' joined the conversation';
    }
    if (status === 'resolved') return 'This conversation was marked as resolved';
    if (status === 'waiting') return 'Waiting for an agent';
    if (status === 'open') return 'Conversation reopened';
    return '';
  }

  async function loadOlder() {
    if (!state.hasMore || state.loadingOlder || !state.sessionId) return;
    var before = minSeq();
    if (before === null) return;
    state.loadingOlder = true;
    try {
      var page = await request('get_history', { sessionId: state.sessionId, beforeSeq: before, limit: 50 });
      state.hasMore = !!page.hasMore;
      addMessages(page.messages, { keep: true });
    } catch (e) {
      flash(e.message);
    } finally {
      state.loadingOlder = false;
    }
  }

  function onSubmit(ev) {
    ev.preventDefault();
    var text = ui.input.value;
    if (!text.trim()) return;
    ui.input.value = '';
    stopTyping();
    sendMessage(text, newId());
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'm-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
  }

  async function sendMessage(content, clientMsgId) {
    state.pending.set(clientMsgId, { content: content, failed: false });
    render({ scroll: 'bottom' });
    try {
      await connect();
      await whenReady();
      var m = await request('user_message', { sessionId: state.sessionId, content: content, clientMsgId: clientMsgId });
      addMessages([m]);
    } catch (e) {
      var p = state.pending.get(clientMsgId);
      if (p) p.failed = true;
      render();
      flash(e.code === 'content_too_long' ? 'That message is too long.' : 'Message not sent: ' + e.message);
    }
  }

  /** Resolves once init_session has answered (rejects after ACK_TIMEOUT_MS). */
  function whenReady() {
    if (state.ready) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        state.waiters = state.waiters.filter(function (w) { return w !== done; });
        reject(new Error('not connected'));
      }, ACK_TIMEOUT_MS);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      state.waiters.push(done);
    });
  }

  async function requestHuman() {
    ui.human.disabled = true;
    try {
      await connect();
      await whenReady();
      var r = await request('request_human', { sessionId: state.sessionId });
      if (r.status) state.status = r.status;
      if (r.position) state.position = r.position;
      renderStatus();
    } catch (e) {
      flash(e.message);
    } finally {
      ui.human.disabled = false;
    }
  }

  function streamPart(p, token) {
    if (!p || p.sessionId !== state.sessionId || !p.messageId) return;
    var st = state.streams.get(p.messageId);
    if (!st) {
      st = { tokens: [] };
      state.streams.set(p.messageId, st);
    }
    if (token && Number.isInteger(token.index) && token.index >= 0 && typeof token.token === 'string') {
      st.tokens[token.index] = token.token;
    }
    // The bubble exists already: only its text changes (no full re-render per token).
    var bubble = null;
    ui.list.querySelectorAll('.msg-streaming').forEach(function (li) {
      if (li.dataset.streamId === p.messageId) bubble = li.querySelector('.bubble');
    });
    if (bubble && !state.agentTyping) {
      var stick = nearBottom();
      bubble.firstChild.textContent = st.tokens.join('');
      if (stick) ui.body.scrollTop = ui.body.scrollHeight;
      return;
    }
    state.agentTyping = false;
    render();
  }

  // ------------------------------------------------------------------ typing and read

  function onInput() {
    clearTimeout(state.typingIdle);
    if (!state.ready || !ui.input.value.trim()) {
      stopTyping();
      return;
    }
    var now = Date.now();
    if (!state.typingOn || now - state.typingSentAt > TYPING_REFRESH_MS) {
      state.typingOn = true;
      state.typingSentAt = now;
      request('typing', { sessionId: state.sessionId, isTyping: true }).catch(function () {});
    }
    state.typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingIdle);
    if (!state.typingOn) return;
    state.typingOn = false;
    request('typing', { sessionId: state.sessionId, isTyping: false }).catch(function () {});
  }

  function nearBottom() {
    return ui.body.scrollHeight - ui.body.scrollTop - ui.body.clientHeight < 40;
  }

  /** Sends `read` for the latest message, when the visitor can actually see it. */
  function markRead() {
    if (!state.open || !state.ready || document.visibilityState !== 'visible' || !nearBottom()) return;
    var max = maxSeq();
    if (max <= state.readSent) return;
    state.readSent = max;
    renderBadge();
    request('read', { sessionId: state.sessionId, seq: max }).catch(function () {
      state.readSent = 0;
    });
  }

  // ------------------------------------------------------------------ rendering

  function clock(s) {
    var d = s ? new Date(s) : null;
    return d && !isNaN(d.getTime()) ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
  }

  function render(opts) {
    opts = opts || {};
    if (!ui.list) return;
    var box = ui.body;
    var stick = opts.scroll === 'bottom' || nearBottom();
    var fromBottom = box.scrollHeight - box.scrollTop;

    var sorted = Array.from(state.messages.values()).sort(function (a, b) { return a.seq - b.seq; });
    var seenSeq = 0;
    sorted.forEach(function (m) { if (m.sender === 'user' && m.seq <= state.adminRead) seenSeq = m.seq; });
    var notes = state.notes.slice();
    var frag = document.createDocumentFragment();
    function flushNotes(upTo) {
      while (notes.length && notes[0].afterSeq <= upTo) frag.appendChild(el('li', 'note', notes.shift().text));
    }
    flushNotes(sorted.length ? sorted[0].seq - 1 : 0);
    sorted.forEach(function (m, i) {
      var next = sorted[i + 1];
      var last = !next || next.sender !== m.sender || next.isAI !== m.isAI ||
        (next.authorName || '') !== (m.authorName || '');
      frag.appendChild(messageItem(m, last, m.seq === seenSeq));
      flushNotes(next ? next.seq - 1 : Infinity);
    });
    flushNotes(Infinity);
    state.pending.forEach(function (p, id) { frag.appendChild(pendingItem(id, p)); });
    state.streams.forEach(function (st, id) { frag.appendChild(streamItem(id, st)); });
    ui.list.replaceChildren(frag);
    ui.welcome.hidden = state.messages.size > 0 || state.pending.size > 0 || state.hasMore;
    ui.older.hidden = !state.hasMore;
    renderTyping();
    renderBadge();

    if (opts.keep) box.scrollTop = box.scrollHeight - fromBottom;
    else if (stick) box.scrollTop = box.scrollHeight;
    markRead();
  }

  function messageItem(m, last, seen) {
    var side = m.sender === 'user' ? 'me' : 'them';
    var li = el('li', 'msg msg-' + side + (m.isAI ? ' msg-ai' : '') + (last ? ' msg-last' : ''));
    li.dataset.seq = String(m.seq);
    if (m.isAI && last) li.appendChild(el('span', 'author', 'AI assistant'));
    // "Anna from Support": the staff member who wrote it (text only, never HTML).
    else if (last && m.sender === 'admin' && typeof m.authorName === 'string' && m.authorName) {
      li.appendChild(el('span', 'author', m.authorName + ' from ' + CFG.team));
    }
    li.appendChild(bubbleOf(m));
    if (last || seen) {
      var meta = el('div', 'meta', clock(m.createdAt) + (m.interrupted ? ' · interrupted' : ''));
      if (seen) meta.appendChild(el('span', 'seen', ' · Seen'));
      li.appendChild(meta);
    }
    return li;
  }

  function pendingItem(clientMsgId, p) {
    var li = el('li', 'msg msg-me msg-last msg-pending' + (p.failed ? ' msg-failed' : ''));
    var bubble = el('div', 'bubble', p.content);
    if (p.upload) {
      var bar = el('progress', 'upload-progress');
      bar.max = 1;
      bar.value = p.upload.total ? p.upload.loaded / p.upload.total : 0;
      bar.dataset.upload = clientMsgId;
      bubble.appendChild(bar);
    }
    li.appendChild(bubble);
    var meta = el('div', 'meta', p.failed ? 'Not sent' : p.upload ? 'Uploading…' : 'Sending…');
    if (p.failed) {
      var retry = el('button', 'retry', 'Retry');
      retry.type = 'button';
      retry.addEventListener('click', function () {
        state.pending.delete(clientMsgId);
        if (p.file) sendFile(p.file);
        else sendMessage(p.content, clientMsgId);
      });
      meta.append(' · ', retry);
    }
    li.appendChild(meta);
    return li;
  }

  function streamItem(messageId, st) {
    var li = el('li', 'msg msg-them msg-ai msg-last msg-streaming');
    li.dataset.streamId = messageId;
    li.appendChild(el('span', 'author', 'AI assistant'));
    var bubble = el('div', 'bubble');
    // A text node first, always (even empty): the tokens that follow go into it.
    bubble.append(document.createTextNode(st.tokens.join('')), el('span', 'caret'));
    li.appendChild(bubble);
    return li;
  }

  function renderTyping() {
    var stick = nearBottom();
    ui.typing.hidden = !state.agentTyping;
    var who = state.status === 'assigned' && state.assignee && state.assignee.name ? state.assignee.name : 'Agent';
    ui.typingText.textContent = who + ' is typing…';
    if (stick) ui.body.scrollTop = ui.body.scrollHeight;
  }

  function renderBadge() {
    var unread = 0;
    state.messages.forEach(function (m) { if (m.sender === 'admin' && m.seq > state.readSent) unread += 1; });
    ui.badge.hidden = state.open || unread === 0;
    ui.badge.textContent = unread > 9 ? '9+' : String(unread);
  }

  // ------------------------------------------------------------------ rating and offline form

  /** The server asks us to rate this resolution (on resolve, or when we come back to it). */
  function askRating() {
    if (state.rating && !state.rating.done) return;
    state.rating = { score: 0, comment: '', sending: false, done: false, error: '' };
    renderCard();
  }

  async function sendRating() {
    var r = state.rating;
    if (!r || r.sending || !r.score) return;
    r.sending = true;
    r.error = '';
    renderCard();
    try {
      await request('rate_session', { sessionId: state.sessionId, rating: r.score, comment: r.comment || undefined });
      r.done = true;
    } catch (e) {
      if (e.code === 'already_rated') r.done = true;
      else if (e.code === 'not_resolved') state.rating = null;
      else r.error = e.message || 'Your rating was not sent.';
    }
    r.sending = false;
    renderCard();
  }

  async function sendContact(email, message) {
    var c = state.contact || {};
    if (c.sending) return;
    state.contact = { email: email, message: message, sending: true, done: false, error: '' };
    renderCard();
    try {
      var left = await request('leave_contact', { sessionId: state.sessionId, email: email, message: message || undefined });
      state.contact = { email: left.contactEmail, sending: false, done: true, error: '' };
    } catch (e) {
      state.contact = {
        email: email, message: message, sending: false, done: false,
        error: e.code === 'invalid_email' ? 'Please enter a valid email address.' : (e.message || 'Not sent.'),
      };
    }
    renderCard();
  }

  /** When the desk opens again, in the visitor's own time. */
  function openingText(iso) {
    var d = iso ? new Date(iso) : null;
    if (!d || isNaN(d.getTime())) return '';
    var sameDay = d.toDateString() === new Date().toDateString();
    var opts = sameDay ? { hour: '2-digit', minute: '2-digit' }
      : { weekday: 'long', hour: '2-digit', minute: '2-digit' };
    return d.toLocaleString(undefined, opts);
  }

  function ratingCard(r) {
    var box = el('div', 'rating');
    if (r.done) {
      box.appendChild(el('p', 'card-title thanks', 'Thanks for your feedback!'));
      return box;
    }
    box.appendChild(el('p', 'card-title', 'How would you rate this conversation?'));
    var stars = el('div', 'stars');
    stars.setAttribute('role', 'radiogroup');
    stars.setAttribute('aria-label', 'Rating from 1 to 5');
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el('button', 'star', '★');
      b.type = 'button';
      b.dataset.score = String(n);
      b.setAttribute('role', 'radio');
      b.setAttribute('aria-checked', r.score === n ? 'true' : 'false');
      b.setAttribute('aria-label', n + ' out of 5');
      if (n <= r.score) b.classList.add('on');
      b.addEventListener('click', function () {
        r.score = n;
        renderCard();
      });
      stars.appendChild(b);
    });
    var comment = el('textarea', 'comment');
    comment.rows = 2;
    comment.maxLength = 2000;
    comment.placeholder = 'Anything to add? (optional)';
    comment.setAttribute('aria-label', 'Comment');
    comment.value = r.comment;
    comment.addEventListener('input', function () { r.comment = comment.value; });
    var send = el('button', 'card-send', r.sending ? 'Sending…' : 'Send rating');
    send.type = 'button';
    send.disabled = !r.score || r.sending;
    send.addEventListener('click', sendRating);
    box.append(stars, comment, send);
    if (r.error) box.appendChild(el('p', 'card-error', r.error));
    return box;
  }

  function offlineCard(a) {
    var box = el('form', 'offline');
    box.noValidate = true; // the server checks the address and says what is wrong
    var c = state.contact;
    if (c && c.done) {
      box.appendChild(el('p', 'card-title thanks',
        c.email ? 'Thanks! We will reply to ' + c.email + '.' : 'Thanks! We will reply by email.'));
      return box;
    }
    var when = a.reason === 'outside_hours' ? openingText(a.nextOpening) : '';
    var title = a.reason === 'outside_hours'
      ? (when ? 'We are closed right now. We are back at ' + when + '.' : 'We are closed right now.')
      : 'Nobody is online right now.';
    box.append(el('p', 'card-title', title),
      el('p', 'card-text', 'Leave your email address and a message: we will get back to you.'));
    var email = el('input', 'email');
    email.type = 'email';
    email.required = true;
    email.maxLength = 254;
    email.placeholder = 'you@example.com';
    email.setAttribute('aria-label', 'Your email address');
    email.value = (c && c.email) || '';
    var message = el('textarea', 'comment');
    message.rows = 2;
    message.placeholder = 'Your message (optional)';
    message.setAttribute('aria-label', 'Your message');
    message.value = (c && c.message) || '';
    var send = el('button', 'card-send', c && c.sending ? 'Sending…' : 'Send');
    send.type = 'submit';
    send.disabled = !!(c && c.sending);
    box.append(email, message, send);
    if (c && c.error) box.appendChild(el('p', 'card-error', c.error));
    box.addEventListener('submit', function (ev) {
      ev.preventDefault();
      sendContact(email.value.trim(), message.value.trim());
    });
    return box;
  }

  /** The card under the conversation: the rating after a resolution, else the offline form. */
  function renderCard() {
    if (!ui.card) return;
    var a = state.availability;
    var node = null;
    if (state.rating && (state.status === 'resolved' || state.rating.done)) node = ratingCard(state.rating);
    else if (state.ready && a && !a.online && state.status !== 'assigned' && state.status !== 'resolved') {
      node = offlineCard(a);
    } else if (state.contact && state.contact.done && state.status === 'waiting') node = offlineCard(a || {});
    var focused = ui.root.activeElement;
    var keepFocus = focused && ui.card.contains(focused) ? focused.className : null;
    if (node) ui.card.replaceChildren(node);
    else ui.card.replaceChildren();
    ui.card.hidden = !node;
    if (keepFocus) {
      var again = ui.card.querySelector('.' + keepFocus.split(' ')[0]);
      if (again) again.focus();
    }
  }

  function renderStatus() {
    var s = state.status;
    var text;
    var connected = state.socket && state.socket.connected;
    if (!connected && state.socket) text = 'Reconnecting…';
    else if (!state.ready) text = 'Connecting…';
    else if (s === 'waiting') text = state.position ? 'Waiting for an agent · you are #' + state.position + ' in the queue' : 'Waiting for an agent';
    else if (s === 'assigned') text = (state.assignee && state.assignee.name ? state.assignee.name : 'An agent') + ' is here to help';
    else if (s === 'resolved') text = 'Resolved · write to reopen the conversation';
    else if (state.availability && !state.availability.online) text = 'We are offline';
    else text = 'We are online';
    ui.statusBar.dataset.status = connected && state.ready ? s : 'connecting';
    ui.statusText.textContent = text;
    ui.actions.hidden = !(state.ready && s === 'open');
    ui.codeText.textContent = state.code ? 'Your code: ' + state.code : '';
    ui.codeText.title = 'Read this code to an agent so they can find your conversation';
  }

  var flashTimer = null;
  function flash(text) {
    var n = ui.root && ui.root.querySelector('.flash');
    if (!n) {
      n = el('div', 'flash');
      n.setAttribute('role', 'alert');
      ui.panel.insertBefore(n, ui.form);
    }
    n.textContent = text;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { n.remove(); }, 6000);
  }

  // ------------------------------------------------------------------ start

  function start() {
    build();
    renderStatus();
    render();
    window.chatdeskWidget = { open: open, close: close, toggle: toggle };
    // A returning visitor reconnects at once (agent replies show as a badge); a new one
    // creates a session only when they open the chat.
    if (storedSessionId()) connect();
    if (CFG.open) open();
  }

  window.chatdeskWidget = { open: function () {}, close: function () {}, toggle: function () {} };
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
