// Harness of the browser tests: a fresh chatdesk server per suite, Debian's chromium driven by
// playwright-core, a small local stand-in for an OpenAI-compatible endpoint, and helpers that
// drive the console and the widget the way a person does. Kept outside test/ on purpose:
// `node --test` runs every file under a test/ folder.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const SCREENSHOTS = path.join(REPO, 'test-output', 'screenshots');

/** Bound for anything we wait for in a page (a selector, a text, a server line). */
export const WAIT_MS = 10_000;
export const TEST_TIMEOUT_MS = 90_000;

export const ADMIN = { email: 'admin@e2e.test', password: 'e2e-admin-passphrase', name: 'Administrator' };
export const ALICE = { email: 'alice@e2e.test', password: 'alice-passphrase-1', name: 'Alice Martin' };
export const BEN = { email: 'ben@e2e.test', password: 'ben-passphrase-22', name: 'Ben Okafor' };

/**
 * Starts the chatdesk binary (CHATDESK_BIN, default target/debug/chatdesk of this checkout)
 * in a fresh temporary directory (so a fresh SQLite database) on a port the OS picks
 * (PORT=0: no race between choosing a port and binding it), and resolves once it prints
 * where it listens. `restart()` stops it and starts it again on the same port and database.
 */
export async function startServer(extraEnv = {}) {
  const bin = process.env.CHATDESK_BIN || path.join(REPO, 'target', 'debug', 'chatdesk');
  const dir = mkdtempSync(path.join(tmpdir(), 'chatdesk-e2e-'));
  let output = '';
  let running = await spawnServer(bin, dir, 0, extraEnv, (chunk) => { output += chunk; });
  const port = running.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log: () => output,
    async restart() {
      await stopChild(running.child);
      running = await spawnServer(bin, dir, port, extraEnv, (chunk) => { output += chunk; });
    },
    async stop() {
      await stopChild(running.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function spawnServer(bin, dir, port, extraEnv, collect) {
  const child = spawn(bin, [], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      PORT: String(port),
      HOST: '127.0.0.1',
      RUST_LOG: 'warn',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let seen = '';
  child.stdout.on('data', (c) => { seen += c; collect(c.toString()); });
  child.stderr.on('data', (c) => { seen += c; collect(c.toString()); });
  const bound = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chatdesk did not start within ${WAIT_MS} ms:\n${seen}`)), WAIT_MS);
    const onData = () => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chatdesk exited (${code}) before listening:\n${seen}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${bin}: ${e.message} (build it with cargo build, or set CHATDESK_BIN)`));
    });
  });
  return { child, port: bound };
}

/** SIGTERM (chatdesk shuts down gracefully), SIGKILL if it is still there 15 s later. */
async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

/** JSON over HTTP; throws with the server's error on a non-2xx answer. */
export async function api(base, pathname, { method = 'GET', body, token } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + pathname, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${pathname}: HTTP ${res.status} ${text}`);
  return data;
}

export async function login(base, who) {
  return (await api(base, '/api/auth/login', { method: 'POST', body: { email: who.email, password: who.password } })).token;
}

/** The admin's token, and the agents Alice and Ben (created through the admin API). */
export async function seedStaff(base) {
  const admin = await login(base, ADMIN);
  for (const a of [ALICE, BEN]) {
    await api(base, '/api/agents', { method: 'POST', token: admin, body: { ...a, role: 'agent' } });
  }
  return { admin, alice: await login(base, ALICE), ben: await login(base, BEN) };
}

/**
 * Debian's chromium (never a browser downloaded by playwright), headless, with a fresh
 * profile: playwright's launch() gives every browser its own new --user-data-dir.
 */
export async function startBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page in its own browser context (its own localStorage: one person), recording what must
 * never happen: dialogs (alert/confirm/prompt), uncaught errors, CSP violations.
 */
export async function newPerson(browser, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC' });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const seen = { dialogs: [], errors: [], csp: [], requests: [], websockets: [] };
  page.on('dialog', (d) => {
    seen.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) seen.csp.push(m.text());
  });
  page.on('request', (r) => seen.requests.push(r.url()));
  page.on('websocket', (ws) => seen.websockets.push(ws.url()));
  return {
    context,
    page,
    seen,
    /** Nothing bad happened in this page. */
    assertClean() {
      assert.deepEqual(seen.dialogs, [], 'no dialog may open');
      assert.deepEqual(seen.errors, [], 'no uncaught error in the page');
      assert.deepEqual(seen.csp, [], 'no Content-Security-Policy violation');
    },
    close: () => context.close(),
  };
}

// ---------------------------------------------------------------- socket events

/**
 * From the next page load on, records every event packet the page's socket.io connections
 * receive, as `{nsp, event, data}`, whatever carried it (HTTP long-polling before the upgrade, or
 * the WebSocket after): the page's `io()` is wrapped as the vendored client defines it, and
 * each connection's manager reports the packets it decodes ("packet"), one per packet the
 * server sent. A server event sent twice is recorded twice.
 */
export async function recordSocketEvents(page) {
  await page.addInitScript(() => {
    const seen = [];
    const watched = new WeakSet();
    let wrapped;
    window.__socketEvents = seen;
    Object.defineProperty(window, 'io', {
      configurable: true,
      enumerable: true,
      get: () => wrapped,
      set(io) {
        if (typeof io !== 'function') {
          wrapped = io;
          return;
        }
        wrapped = Object.assign(function (...args) {
          const socket = io(...args);
          const manager = socket.io;
          if (!watched.has(manager)) {
            watched.add(manager);
            manager.on('packet', (p) => {
              if (p && p.type === 2 && Array.isArray(p.data)) seen.push({ nsp: p.nsp, event: p.data[0], data: p.data[1] });
            });
          }
          return socket;
        }, io);
      },
    });
  });
}

/** The payloads of the `event` packets the page has received on namespace `nsp` so far. */
export function socketEvents(page, event, nsp = '/admin') {
  return page.evaluate(([e, n]) => window.__socketEvents.filter((x) => x.event === e && x.nsp === n).map((x) => x.data), [event, nsp]);
}

// ---------------------------------------------------------------- console

/** Signs in through the login form. */
export async function consoleLogin(page, base, who) {
  await page.goto(`${base}/console`);
  await page.locator('#login-email').fill(who.email);
  await page.locator('#login-password').fill(who.password);
  await page.locator('#login-submit').click();
  await page.locator('#conn-state[data-state="online"]').waitFor();
}

/** Opens the console already signed in (token in localStorage, as after a login). */
export async function consoleWithToken(page, base, token) {
  await page.goto(`${base}/console`);
  await page.evaluate((t) => localStorage.setItem('chatdesk.console.token', t), token);
  await page.reload();
  await page.locator('#conn-state[data-state="online"]').waitFor();
}

export async function openConversation(page, sessionId) {
  await page.locator(`.session-item[data-session-id="${sessionId}"] .session-btn`).click();
  await page.locator('#conv-code').filter({ hasText: /^[A-Z0-9]{6}$/ }).waitFor();
}

export function consoleBubble(page, text, side) {
  const sel = side ? `#message-list .msg-${side}[data-seq] .bubble` : '#message-list .msg[data-seq] .bubble';
  return page.locator(sel).filter({ hasText: text });
}

export async function sendReply(page, text) {
  await page.locator('#reply').fill(text);
  await page.locator('#reply').press('Enter');
  await consoleBubble(page, text, 'us').waitFor();
}

// ---------------------------------------------------------------- widget

/** The widget's parts (inside its open shadow root: playwright's CSS engine pierces it). */
export function widget(page) {
  const root = page.locator('#chatdesk-widget');
  return {
    root,
    launcher: root.locator('.launcher'),
    panel: root.locator('.panel'),
    status: root.locator('.status'),
    input: root.locator('.input'),
    list: root.locator('.messages'),
    typing: root.locator('.typing'),
    human: root.locator('.human'),
    code: root.locator('.code'),
    bubble: (text, side) => root.locator(side ? `.msg-${side}[data-seq] .bubble` : '.msg[data-seq] .bubble').filter({ hasText: text }),
  };
}

/** Opens the widget and waits until its session is ready. */
export async function openWidget(page) {
  const w = widget(page);
  await w.launcher.click();
  await w.panel.waitFor();
  await w.root.locator('.status:not([data-status="connecting"])').waitFor();
  return w;
}

export async function visitorSays(page, text) {
  const w = widget(page);
  await w.input.fill(text);
  await w.input.press('Enter');
  await w.bubble(text, 'me').waitFor();
}

/** The sessionId the widget keeps in localStorage for the server at `base`. */
export async function widgetSessionId(page, base) {
  const key = `chatdesk:${new URL(base).origin}:sessionId`;
  const id = await page.evaluate((k) => localStorage.getItem(k), key);
  assert.match(id || '', /^[0-9a-f-]{36}$/, 'the widget stores its sessionId');
  return id;
}

// ---------------------------------------------------------------- other servers

/** A plain website on another origin (localhost vs 127.0.0.1) that embeds the widget. */
export async function startHostSite(html) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://localhost:${server.address().port}/`,
    stop: () => new Promise((r) => server.close(r)),
  };
}

/**
 * A local stand-in for an OpenAI-compatible chat-completions endpoint (real HTTP, real
 * server-sent events). Each request is handed to the test, which sends tokens and ends the
 * stream when it chooses: the browser's view can be checked between two tokens.
 */
export async function startFakeLlm() {
  const waiting = [];
  const queued = [];
  let received = 0;
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404).end();
      return;
    }
    received += 1;
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      const chunk = (delta) => `data: ${JSON.stringify({
        id: 'chatcmpl-e2e', object: 'chat.completion.chunk', model: 'e2e', choices: [{ index: 0, delta, finish_reason: null }],
      })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }));
      const ctl = {
        body: JSON.parse(body),
        send: (token) => res.write(chunk({ content: token })),
        end: () => {
          res.write('data: [DONE]\n\n');
          res.end();
        },
      };
      const w = waiting.shift();
      if (w) w(ctl);
      else queued.push(ctl);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}/v1`,
    nextRequest: () => (queued.length ? Promise.resolve(queued.shift()) : new Promise((r) => waiting.push(r))),
    /** How many chat-completions requests arrived so far (answered or not). */
    requestCount: () => received,
    stop: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

export function vendoredClient() {
  return readFileSync(path.join(REPO, 'web', 'vendor', 'socket.io.min.js'));
}

// ---------------------------------------------------------------- socket.io-client sockets

export const RFC3339_MS_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Content unique to one test step, so that no other message can be taken for it. */
export function uniq(label) {
  return `${label} ${randomUUID().slice(0, 8)}`;
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A socket.io-client socket (its own manager, no reconnection), resolved once connected.
 * Every event it receives is recorded, in order, in `socket.received` as `{event, data}`
 * (from before the connection completes: nothing sent right after connect is missed).
 * `url` may carry a namespace and a query (`http://host:port/?token=...`).
 */
export function connectSocket(url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...opts });
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push({ event, data: args[0] }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`connect to ${url} timed out after ${WAIT_MS} ms`));
    }, WAIT_MS + 500);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (e) => {
      clearTimeout(timer);
      socket.close();
      reject(new Error(`connect_error from ${url}: ${e?.message || e}`));
    });
  });
}

/** A position in a socket's record: what arrives after it is what a later step caused. */
export const mark = (socket) => socket.received.length;

function describeEvents(socket, from, event) {
  const seen = socket.received.slice(from).filter((x) => x.event === event).map((x) => JSON.stringify(x.data));
  const names = [...new Set(socket.received.slice(from).map((x) => x.event))];
  return `${seen.length} '${event}' event(s) since the mark: ${seen.slice(-4).join(' | ').slice(0, 3000) || '(none)'}; ` +
    `event names since the mark: ${names.join(', ') || '(none)'}`;
}

/**
 * The first `event` received at or after position `from` of the socket's record whose
 * payload satisfies `pred` (already there, or the next to come), bounded by `timeoutMs`.
 * On timeout, the error shows what did arrive.
 */
export function eventAfter(socket, from, event, pred = () => true, { timeoutMs = WAIT_MS, what = '' } = {}) {
  const ok = (data) => {
    try {
      return Boolean(pred(data));
    } catch {
      return false;
    }
  };
  const found = socket.received.slice(from).find((x) => x.event === event && ok(x.data));
  if (found) return Promise.resolve(found.data);
  return new Promise((resolve, reject) => {
    const onEvent = (data) => {
      if (!ok(data)) return;
      clearTimeout(timer);
      socket.off(event, onEvent);
      resolve(data);
    };
    const timer = setTimeout(() => {
      socket.off(event, onEvent);
      reject(new Error(`no matching '${event}'${what ? ` (${what})` : ''} within ${timeoutMs} ms; ${describeEvents(socket, from, event)}`));
    }, timeoutMs);
    socket.on(event, onEvent);
  });
}

/**
 * Waits `ms` (a bounded quiet period), then fails if any `event` received since `from`
 * satisfies `pred`.
 */
export async function assertQuiet(socket, from, event, pred = () => true, ms = 500, what = '') {
  await delay(ms);
  const bad = socket.received.slice(from).filter((x) => x.event === event).map((x) => x.data).filter((d) => {
    try {
      return pred(d);
    } catch {
      return false;
    }
  });
  assert.deepEqual(bad, [], `no '${event}' may arrive${what ? ` (${what})` : ''}`);
}

/** Emits with an ack, bounded by WAIT_MS. */
export async function emitAck(socket, event, ...args) {
  try {
    return await socket.timeout(WAIT_MS).emitWithAck(event, ...args);
  } catch (err) {
    throw new Error(`no ack for '${event}' within ${WAIT_MS} ms (${err?.message || err})`);
  }
}

// ---------------------------------------------------------------- PostgreSQL and Redis

export const POSTGRES_BASE = (process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432').replace(/\/+$/, '');
export const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';

function psql(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [`${POSTGRES_BASE}/postgres`, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { timeout: WAIT_MS }, (err, _out, stderr) => {
      if (err) reject(new Error(`psql ${sql}: ${stderr || err.message}`));
      else resolve();
    });
  });
}

/**
 * A fresh PostgreSQL database (named chatdesk_test_*, so scripts/test.sh drops it if it is
 * left behind): `{url, drop()}`. Drop it after the servers using it are stopped.
 */
export async function createPostgresDatabase(label = 'e2e') {
  const name = `chatdesk_test_${label}_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  await psql(`CREATE DATABASE ${name}`);
  return {
    url: `${POSTGRES_BASE}/${name}`,
    drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
