// Shared helpers for the chatdesk compatibility suite (PROTOCOL.md part 1).
// Kept outside test/ on purpose: `node --test` runs every .js file under a test/ folder.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { io } from 'socket.io-client';

export const BASE_URL = (process.env.CHATDESK_URL || 'http://localhost:4000').replace(/\/+$/, '');
export const ADMIN_TOKEN = process.env.CHATDESK_ADMIN_TOKEN || undefined;

/** Default bound for anything we wait for (ack, event, connect). */
export const WAIT_MS = 5000;
/** Bounded wait used only to prove that something did NOT arrive. */
export const QUIET_MS = 300;
/** Per-test timeout handed to node:test so nothing can hang. */
export const TEST_TIMEOUT_MS = 20000;

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const RFC3339_MS_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Content that is unique to one test, so a stray broadcast can never be mistaken for ours. */
export function uniq(label = 'msg') {
  return `${label} ${randomUUID().slice(0, 8)}`;
}

/**
 * Fail loudly (never skip) when the server under test cannot be reached.
 * Use as `before(requireServer)` in every test file.
 */
export async function requireServer() {
  let res;
  try {
    res = await fetch(`${BASE_URL}/health`, { signal: AbortSignal.timeout(3000) });
  } catch (err) {
    const why = err?.cause?.code || err?.cause?.message || err?.message || String(err);
    throw new Error(
      `chatdesk server at ${BASE_URL} is unreachable (${why}). ` +
        'Start the server or point CHATDESK_URL at a running one; this suite does not skip.',
    );
  }
  await res.arrayBuffer(); // drain the body so the connection is released
  if (!res.ok) {
    throw new Error(`chatdesk server at ${BASE_URL} answered GET /health with HTTP ${res.status}`);
  }
}

/** GET a path on the server and parse JSON; returns {status, headers, body, text}. */
export async function getJson(path) {
  const res = await fetch(`${BASE_URL}${path}`, { signal: AbortSignal.timeout(WAIT_MS) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`GET ${path}: HTTP ${res.status}, body is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** GET /api/chats/:sessionId, asserting HTTP 200 and an array body. */
export async function history(sessionId) {
  const { status, body } = await getJson(`/api/chats/${encodeURIComponent(sessionId)}`);
  assert.equal(status, 200, `GET /api/chats/${sessionId} status`);
  assert.ok(Array.isArray(body), `GET /api/chats/${sessionId} must return an array, got ${JSON.stringify(body)}`);
  return body;
}

/**
 * Connect a fresh socket (own Manager, no reconnection) and resolve once connected.
 * `t` is the node:test context: the socket is closed in t.after() whatever happens.
 * opts: { transports?: string[], token?: string, label?: string }
 */
export function connect(t, opts = {}) {
  const ioOpts = {
    forceNew: true,
    reconnection: false,
    timeout: WAIT_MS,
  };
  if (opts.transports) ioOpts.transports = opts.transports;
  if (opts.token) ioOpts.auth = { token: opts.token };
  if (opts.transports && opts.transports.length === 1 && opts.transports[0] === 'polling') {
    ioOpts.upgrade = false;
  }
  const socket = io(BASE_URL, ioOpts);
  if (t) t.after(() => socket.close());
  // The engine opens synchronously inside io(): remember which transport it started on
  // (a local upgrade can finish before 'connect' fires).
  socket.initialTransport = socket.io.engine?.transport?.name;
  const label = opts.label || 'socket';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.close();
      reject(new Error(`${label}: connect to ${BASE_URL} timed out after ${WAIT_MS + 1000} ms`));
    }, WAIT_MS + 1000);
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err) => {
      cleanup();
      socket.close();
      reject(new Error(`${label}: connect_error from ${BASE_URL}: ${err?.message || err}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Connect as staff: with auth {token} when CHATDESK_ADMIN_TOKEN is set, else without a token. */
export function connectAdmin(t, opts = {}) {
  return connect(t, { ...opts, token: ADMIN_TOKEN, label: opts.label || 'admin' });
}

/** Emit with a socket.io ack, bounded by WAIT_MS. */
export async function emitAck(socket, event, payload, timeoutMs = WAIT_MS) {
  try {
    return await socket.timeout(timeoutMs).emitWithAck(event, payload);
  } catch (err) {
    throw new Error(`no ack for '${event}' within ${timeoutMs} ms (${err?.message || err})`);
  }
}

/** init_session with an ack; returns the ack object after checking its basic shape. */
export async function initSession(socket, payload = { sessionId: null }) {
  const ack = await emitAck(socket, 'init_session', payload);
  assert.ok(ack && typeof ack === 'object' && !Array.isArray(ack), `init_session ack must be an object, got ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.sessionId, 'string', `init_session ack.sessionId must be a string: ${JSON.stringify(ack)}`);
  assert.match(ack.sessionId, UUID_RE, 'init_session ack.sessionId must be a UUID');
  return ack;
}

/**
 * Resolve with the first `event` on `socket` for which filter(payload) is true.
 * Rejects after timeoutMs, or if the socket disconnects first.
 */
export function waitFor(socket, event, { filter = () => true, timeoutMs = WAIT_MS, label = '' } = {}) {
  return new Promise((resolve, reject) => {
    const onEvent = (payload) => {
      let ok;
      try {
        ok = filter(payload);
      } catch {
        ok = false;
      }
      if (ok) {
        cleanup();
        resolve(payload);
      }
    };
    const onDisconnect = (reason) => {
      cleanup();
      reject(new Error(`${label || 'socket'} disconnected (${reason}) while waiting for '${event}'`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${label || 'socket'}: timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off(event, onEvent);
      socket.off('disconnect', onDisconnect);
    };
    socket.on(event, onEvent);
    socket.on('disconnect', onDisconnect);
  });
}

/** Wait for a `message` event whose content equals `content`. */
export function waitForMessage(socket, content, label) {
  return waitFor(socket, 'message', { filter: (m) => m && m.content === content, label });
}

/** Record every `event` on a socket from now on. Call .stop() when done. */
export function collect(socket, event) {
  const items = [];
  const waiters = [];
  const onEvent = (payload) => {
    items.push(payload);
    for (const w of [...waiters]) w.check();
  };
  socket.on(event, onEvent);
  return {
    items,
    stop() {
      socket.off(event, onEvent);
    },
    /** Resolve once at least n items have arrived (bounded). */
    waitForCount(n, timeoutMs = WAIT_MS) {
      return new Promise((resolve, reject) => {
        const w = {
          check: () => {
            if (items.length >= n) {
              done();
              resolve(items.slice());
            }
          },
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms: got ${items.length}/${n} '${event}' events`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiters.push(w);
        w.check();
      });
    },
  };
}

/** Bounded wait (QUIET_MS) used only to prove that no matching event arrives. Returns what did arrive. */
export async function expectNothing(socket, event, { filter = () => true, ms = QUIET_MS } = {}) {
  const seen = [];
  const onEvent = (payload) => {
    if (filter(payload)) seen.push(payload);
  };
  socket.on(event, onEvent);
  await new Promise((r) => setTimeout(r, ms));
  socket.off(event, onEvent);
  return seen;
}

/** The seed's message fields, plus `seq` (every message carries it). */
export const SEED_FIELDS = ['id', 'sender', 'content', 'createdAt', 'isAI', 'chatSessionId'];

/** Pick the fields two views of one message (live, ack, REST) must agree on. */
export function pickStable(msg) {
  const out = {};
  for (const k of [...SEED_FIELDS, 'seq']) out[k] = msg?.[k];
  return out;
}

/**
 * Assert a broadcast `message` matches PROTOCOL part 1 (+ seq/sessionId from part 2).
 * expected: { sender, content, sessionId, seq? , requireSessionId? (default true) }
 */
export function assertMessage(msg, expected) {
  const where = `message ${JSON.stringify(msg)}`;
  assert.ok(msg && typeof msg === 'object' && !Array.isArray(msg), `${where}: must be an object`);
  assert.equal(typeof msg.id, 'string', `${where}: id must be a string`);
  assert.ok(msg.id.length > 0, `${where}: id must be non-empty`);
  assert.equal(msg.sender, expected.sender, `${where}: sender`);
  assert.equal(msg.content, expected.content, `${where}: content`);
  assert.equal(typeof msg.createdAt, 'string', `${where}: createdAt must be a string`);
  assert.match(msg.createdAt, RFC3339_MS_Z, `${where}: createdAt must be RFC 3339 UTC with millis`);
  const t = Date.parse(msg.createdAt);
  assert.ok(Number.isFinite(t), `${where}: createdAt must parse`);
  assert.ok(Math.abs(Date.now() - t) < 5 * 60 * 1000, `${where}: createdAt is far from now`);
  assert.equal(msg.isAI, false, `${where}: isAI must be false`);
  assert.equal(typeof msg.chatSessionId, 'string', `${where}: chatSessionId must be a string`);
  assert.ok(msg.chatSessionId.length > 0, `${where}: chatSessionId must be non-empty`);
  assert.ok(Number.isInteger(msg.seq) && msg.seq >= 1, `${where}: seq must be an integer >= 1`);
  if (expected.seq !== undefined) assert.equal(msg.seq, expected.seq, `${where}: seq`);
  if (expected.requireSessionId !== false) {
    assert.equal(msg.sessionId, expected.sessionId, `${where}: sessionId`);
  } else if (msg.sessionId !== undefined) {
    assert.equal(msg.sessionId, expected.sessionId, `${where}: sessionId`);
  }
}

/** Assert a wrapped error ack {ok:false, error:{code, message}} with the given code. */
export function assertErrorAck(ack, code) {
  const where = `ack ${JSON.stringify(ack)}`;
  assert.ok(ack && typeof ack === 'object', `${where}: must be an object`);
  assert.equal(ack.ok, false, `${where}: ok must be false`);
  assert.ok(ack.error && typeof ack.error === 'object', `${where}: error must be an object`);
  assert.equal(ack.error.code, code, `${where}: error.code`);
  assert.equal(typeof ack.error.message, 'string', `${where}: error.message must be a string`);
  assert.ok(ack.error.message.length > 0, `${where}: error.message must be non-empty`);
}

/** Assert a wrapped success ack {ok:true, data} and return data. */
export function assertOkAck(ack) {
  const where = `ack ${JSON.stringify(ack)}`;
  assert.ok(ack && typeof ack === 'object', `${where}: must be an object`);
  assert.equal(ack.ok, true, `${where}: ok must be true`);
  assert.ok(ack.data && typeof ack.data === 'object', `${where}: data must be an object`);
  return ack.data;
}
