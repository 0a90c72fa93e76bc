// The reference app's admin dashboard protocol (issue 16; PROTOCOL.md part 1, last bullet),
// spoken by socket.io-client 4.8 (the client the dashboard ships with) against freshly
// started chatdesk binaries: legacy open mode, a staff token in the URL, refusals without a
// staff token, SQLite and PostgreSQL, two nodes sharing PostgreSQL and Redis, and the AI
// switch with a local stand-in for the LLM.
//
// Pushes of `sessions-list` are coalesced by the server: every wait is for a push whose
// content reflects the change, never a count of pushes. Every wait is bounded; the only
// sleeps are bounded quiet periods that prove something did not arrive.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';

import {
  ADMIN, RFC3339_MS_Z, REDIS_URL, UUID_RE, WAIT_MS,
  api, assertQuiet, connectSocket, createPostgresDatabase, delay, emitAck, eventAfter, login,
  mark, startFakeLlm, startServer, uniq,
} from '../lib/harness.js';

const TEST_TIMEOUT_MS = 45_000;
/** Bounded quiet period proving that a room event did not come. */
const QUIET_MS = 500;
/** Bounded quiet period proving that the assistant does not answer. */
const AI_QUIET_MS = 1_500;

/** Cleanups of one test, run last-registered first (sockets, then servers, then databases). */
function cleanups(t) {
  const stack = [];
  t.after(async () => {
    for (const f of stack.reverse()) {
      try {
        await f();
      } catch (e) {
        console.error(`cleanup failed: ${e?.message || e}`);
      }
    }
  });
  return (f) => stack.push(f);
}

// ---------------------------------------------------------------- shapes

const SUMMARY_EXTRAS = ['code', 'status', 'assignee', 'unread', 'lastSeq', 'aiEnabled'];
const MESSAGE_FIELDS = ['id', 'sender', 'content', 'createdAt', 'isAI', 'chatSessionId', 'seq', 'sessionId'];

/** A session summary of `sessions-list` / `all-sessions-list`, every field the dashboard reads. */
function checkSummary(s, where) {
  const at = `${where}: ${JSON.stringify(s)}`;
  assert.ok(s && typeof s === 'object', at);
  assert.match(s.sessionId, UUID_RE, `sessionId is a UUID (${at})`);
  assert.equal(s.user, `User-${s.sessionId.substring(0, 8)}`, `user is "User-" + 8 chars (${at})`);
  assert.equal(typeof s.lastMessage, 'string', `lastMessage is a string (${at})`);
  assert.match(s.timestamp, RFC3339_MS_Z, `timestamp is RFC 3339 with ms (${at})`);
  assert.match(s.createdAt, RFC3339_MS_Z, `createdAt is RFC 3339 with ms (${at})`);
  assert.equal(typeof s.isActive, 'boolean', `isActive is a boolean (${at})`);
  for (const k of SUMMARY_EXTRAS) assert.ok(k in s, `summary has ${k} (${at})`);
  assert.equal(typeof s.aiEnabled, 'boolean', `aiEnabled is a boolean (${at})`);
}

/** `sessions-list`: summaries of the sessions whose visitor is connected now. */
function checkSessionsList(list, where) {
  assert.ok(Array.isArray(list), `${where}: sessions-list is an array: ${JSON.stringify(list)}`);
  for (const s of list) {
    checkSummary(s, where);
    assert.equal(s.isActive, true, `${where}: sessions-list lists only sessions whose visitor is connected: ${JSON.stringify(s)}`);
  }
}

/** `all-sessions-list`: every session, newest first. */
function checkAllSessions(list, where) {
  assert.ok(Array.isArray(list), `${where}: all-sessions-list is an array: ${JSON.stringify(list)}`);
  list.forEach((s) => checkSummary(s, where));
  for (let i = 1; i < list.length; i++) {
    assert.ok(Date.parse(list[i - 1].createdAt) >= Date.parse(list[i].createdAt),
      `${where}: newest first (createdAt desc): ${list.map((s) => s.createdAt).join(', ')}`);
  }
}

const entry = (list, sessionId) => list.find((s) => s.sessionId === sessionId);
const activeIn = (list, sessionId) => Array.isArray(list) && entry(list, sessionId)?.isActive === true;
const pickMessage = (m) => Object.fromEntries(MESSAGE_FIELDS.map((k) => [k, m?.[k]]));

/** A stored message as the room `message` event carries it. */
function checkRoomMessage(m, { sessionId, sender, content, seq, isAI = false }, where) {
  const at = `${where}: ${JSON.stringify(m)}`;
  assert.match(m.id, UUID_RE, `id (${at})`);
  assert.equal(m.sender, sender, `sender (${at})`);
  assert.equal(m.content, content, `content (${at})`);
  assert.match(m.createdAt, RFC3339_MS_Z, `createdAt (${at})`);
  assert.equal(m.isAI, isAI, `isAI (${at})`);
  assert.equal(typeof m.chatSessionId, 'string', `chatSessionId (${at})`);
  assert.ok(m.chatSessionId.length > 0, `chatSessionId (${at})`);
  assert.equal(m.sessionId, sessionId, `sessionId (${at})`);
  if (seq !== undefined) assert.equal(m.seq, seq, `seq (${at})`);
}

/** An item of `messages-history`, against the stored message as the room carried it. */
function checkHistoryItem(item, stored, where) {
  const at = `${where}: ${JSON.stringify(item)} (stored: ${JSON.stringify(stored)})`;
  assert.equal(item.id, stored.id, `id (${at})`);
  assert.equal(item.message, stored.content, `message is the content (${at})`);
  assert.equal(item.content, stored.content, `content (${at})`);
  assert.equal(item.sender, stored.sender, `sender (${at})`);
  assert.equal(item.isAdmin, stored.sender === 'admin', `isAdmin is sender === "admin" (${at})`);
  assert.equal(item.isAI, stored.isAI, `isAI (${at})`);
  assert.equal(item.seq, stored.seq, `seq (${at})`);
  assert.equal(item.sessionId, stored.sessionId, `sessionId (${at})`);
  assert.equal(item.createdAt, stored.createdAt, `createdAt (${at})`);
  assert.equal(item.timestamp, stored.createdAt, `timestamp is createdAt (${at})`);
  assert.match(item.timestamp, RFC3339_MS_Z, `timestamp is RFC 3339 with ms (${at})`);
}

// ---------------------------------------------------------------- the two sides

/** Sends one dashboard event without an ack (as the dashboard does) and waits for its answer. */
async function ask(dash, event, payload, answer, pred = () => true) {
  const m = mark(dash);
  if (payload === undefined) dash.emit(event);
  else dash.emit(event, payload);
  return eventAfter(dash, m, answer, pred, { what: `answer to ${event}` });
}

/** A dashboard socket: connected as `connect` says, then `admin-connect` -> `sessions-list`. */
async function openDashboard(connect, defer, where) {
  const dash = await connect();
  defer(() => dash.close());
  const list = await ask(dash, 'admin-connect', undefined, 'sessions-list', Array.isArray);
  checkSessionsList(list, `${where}: sessions-list after admin-connect`);
  return dash;
}

/** A widget-like visitor: connects without a token and starts a session (`init_session`). */
async function openVisitor(url, defer) {
  const socket = await connectSocket(url);
  defer(() => socket.close());
  const ack = await emitAck(socket, 'init_session', { sessionId: null });
  assert.ok(ack && typeof ack === 'object', `init_session ack: ${JSON.stringify(ack)}`);
  assert.match(ack.sessionId, UUID_RE, `init_session ack carries the sessionId, not wrapped: ${JSON.stringify(ack)}`);
  return { socket, sessionId: ack.sessionId };
}

/** The visitor writes; resolves with the stored message as the room echoes it to them. */
async function visitorSays(visitor, content) {
  const m = mark(visitor.socket);
  visitor.socket.emit('user_message', { sessionId: visitor.sessionId, content });
  return eventAfter(visitor.socket, m, 'message', (x) => x.content === content, { what: 'the visitor\'s own message from the room' });
}

// ---------------------------------------------------------------- the dashboard's sequence

/**
 * The reference dashboard's sequence, event by event, checking every field it reads.
 * `connectDashboard` opens the dashboard's socket (without a token in legacy mode, with
 * `?token=` otherwise).
 */
async function replayDashboard({ url, connectDashboard, defer, where }) {
  const dash = await openDashboard(connectDashboard, defer, where);
  const all0 = await ask(dash, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  checkAllSessions(all0, `${where}: first all-sessions-list`);

  // A visitor comes and goes: pushed when the session starts and when the visitor leaves.
  let m = mark(dash);
  const early = await openVisitor(url, defer);
  const withEarly = await eventAfter(dash, m, 'sessions-list', (l) => activeIn(l, early.sessionId), { what: 'push after init_session' });
  checkSessionsList(withEarly, `${where}: push after the first session started`);
  m = mark(dash);
  early.socket.close();
  const withoutEarly = await eventAfter(dash, m, 'sessions-list', (l) => Array.isArray(l) && !entry(l, early.sessionId), { what: 'push after the first visitor disconnected' });
  checkSessionsList(withoutEarly, `${where}: push after the first visitor left`);

  // The visitor of the conversation (a later session: strictly newer createdAt).
  await delay(5);
  m = mark(dash);
  const visitor = await openVisitor(url, defer);
  const sid = visitor.sessionId;
  const started = await eventAfter(dash, m, 'sessions-list', (l) => activeIn(l, sid), { what: 'push after init_session' });
  checkSessionsList(started, `${where}: push after the session started`);
  const s0 = entry(started, sid);
  assert.equal(s0.user, `User-${sid.substring(0, 8)}`);
  assert.equal(s0.lastMessage, 'No messages yet', `a session without messages: ${JSON.stringify(s0)}`);
  assert.equal(s0.timestamp, s0.createdAt, `without messages the timestamp is the session's createdAt: ${JSON.stringify(s0)}`);
  assert.equal(s0.isActive, true);

  const all1 = await ask(dash, 'get-all-sessions', undefined, 'all-sessions-list', (l) => Array.isArray(l) && !!entry(l, sid));
  checkAllSessions(all1, `${where}: all-sessions-list with two sessions`);
  assert.equal(all1.length, all0.length + 2, `every session is listed: ${JSON.stringify(all1)}`);
  assert.equal(all1[0].sessionId, sid, `the newest session comes first: ${JSON.stringify(all1)}`);
  assert.ok(all1.findIndex((s) => s.sessionId === early.sessionId) > 0, `the earlier session is listed after it: ${JSON.stringify(all1)}`);
  assert.equal(entry(all1, sid).isActive, true, 'the connected visitor\'s session is active');
  assert.equal(entry(all1, early.sessionId).isActive, false, 'the departed visitor\'s session is not active');
  assert.equal(entry(all1, early.sessionId).lastMessage, 'No messages yet');

  const active = await ask(dash, 'get-sessions', undefined, 'sessions-list', Array.isArray);
  checkSessionsList(active, `${where}: sessions-list answering get-sessions`);
  assert.ok(activeIn(active, sid), `get-sessions lists the connected visitor's session: ${JSON.stringify(active)}`);
  assert.equal(entry(active, early.sessionId), undefined, `get-sessions does not list a session whose visitor left: ${JSON.stringify(active)}`);

  // The agent opens the conversation: join, history (empty), the AI switch on.
  dash.emit('admin-join-session', { sessionId: sid });
  const h0 = await ask(dash, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray);
  assert.deepEqual(h0, [], 'a new session has no history');

  // The visitor writes: live `message` (joined), `new-message`, and a push with lastMessage.
  const c1 = uniq('Hello, where is my parcel?');
  m = mark(dash);
  const stored1 = await visitorSays(visitor, c1);
  checkRoomMessage(stored1, { sessionId: sid, sender: 'user', content: c1, seq: 1 }, `${where}: visitor's message`);
  const live1 = await eventAfter(dash, m, 'message', (x) => x.content === c1, { what: 'the visitor\'s message, live in the joined room' });
  assert.deepEqual(pickMessage(live1), pickMessage(stored1), 'the dashboard gets the stored message');
  const nm1 = await eventAfter(dash, m, 'new-message', (x) => x?.message?.content === c1, { what: 'new-message for the visitor\'s message' });
  assert.equal(nm1.sessionId, sid, `new-message names the session: ${JSON.stringify(nm1)}`);
  assert.deepEqual(pickMessage(nm1.message), pickMessage(stored1), 'new-message carries the stored message');
  const pushed1 = await eventAfter(dash, m, 'sessions-list', (l) => entry(l, sid)?.lastMessage === c1, { what: 'push with lastMessage after the visitor\'s message' });
  checkSessionsList(pushed1, `${where}: push after a message`);
  const s1 = entry(pushed1, sid);
  assert.equal(s1.timestamp, stored1.createdAt, `timestamp is the latest message's: ${JSON.stringify(s1)}`);
  assert.equal(s1.createdAt, s0.createdAt, 'createdAt stays the session\'s');

  const h1 = await ask(dash, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray);
  assert.equal(h1.length, 1, `one message: ${JSON.stringify(h1)}`);
  checkHistoryItem(h1[0], stored1, `${where}: history after the visitor's message`);

  // The AI switch: off, then on (the dashboard sends enabled: true when it opens a session).
  const off = await ask(dash, 'toggle-ai-mode', { sessionId: sid, enabled: false }, 'ai-mode-changed', (x) => x.sessionId === sid);
  assert.deepEqual({ sessionId: off.sessionId, enabled: off.enabled }, { sessionId: sid, enabled: false }, `ai-mode-changed: ${JSON.stringify(off)}`);
  const allOff = await ask(dash, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  assert.equal(entry(allOff, sid)?.aiEnabled, false, `the switch is stored with the session: ${JSON.stringify(entry(allOff, sid))}`);
  const on = await ask(dash, 'toggle-ai-mode', { sessionId: sid, enabled: true }, 'ai-mode-changed', (x) => x.sessionId === sid && x.enabled === true);
  assert.deepEqual({ sessionId: on.sessionId, enabled: on.enabled }, { sessionId: sid, enabled: true });
  const allOn = await ask(dash, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  assert.equal(entry(allOn, sid)?.aiEnabled, true, `switched on again: ${JSON.stringify(entry(allOn, sid))}`);

  // The agent replies: the dashboard shows only what comes back through the room.
  const c2 = uniq('Let me check that for you.');
  m = mark(dash);
  const vm = mark(visitor.socket);
  dash.emit('admin_message', { sessionId: sid, content: c2 });
  const own = await eventAfter(dash, m, 'message', (x) => x.content === c2, { what: 'the dashboard\'s own reply through the room' });
  checkRoomMessage(own, { sessionId: sid, sender: 'admin', content: c2, seq: 2 }, `${where}: the agent's reply`);
  const atVisitor = await eventAfter(visitor.socket, vm, 'message', (x) => x.content === c2, { what: 'the agent\'s reply at the visitor' });
  assert.deepEqual(pickMessage(atVisitor), pickMessage(own));
  const pushed2 = await eventAfter(dash, m, 'sessions-list', (l) => entry(l, sid)?.lastMessage === c2, { what: 'push with lastMessage after the agent\'s reply' });
  assert.equal(entry(pushed2, sid).timestamp, own.createdAt);

  // History, oldest first, every field; the sessionId given as a bare string.
  const h2 = await ask(dash, 'get-messages', sid, 'messages-history', Array.isArray);
  assert.equal(h2.length, 2, `two messages: ${JSON.stringify(h2)}`);
  checkHistoryItem(h2[0], stored1, `${where}: history[0]`);
  checkHistoryItem(h2[1], own, `${where}: history[1]`);

  // The agent leaves the session: no more `message` of it (new-message still comes).
  dash.emit('admin-leave-session', { sessionId: sid });
  await ask(dash, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray); // answered after the leave
  const c3 = uniq('Are you still there?');
  m = mark(dash);
  const stored3 = await visitorSays(visitor, c3);
  const nm3 = await eventAfter(dash, m, 'new-message', (x) => x?.message?.content === c3, { what: 'new-message after leaving the room' });
  assert.deepEqual(pickMessage(nm3.message), pickMessage(stored3));
  await assertQuiet(dash, m, 'message', (x) => x.sessionId === sid || x.content === c3, QUIET_MS, 'after admin-leave-session');

  // The visitor leaves: pushed without the session; listed as inactive.
  m = mark(dash);
  visitor.socket.close();
  const gone = await eventAfter(dash, m, 'sessions-list', (l) => Array.isArray(l) && !entry(l, sid), { what: 'push after the visitor disconnected' });
  checkSessionsList(gone, `${where}: push after the visitor left`);
  const all2 = await ask(dash, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  checkAllSessions(all2, `${where}: all-sessions-list at the end`);
  const s2 = entry(all2, sid);
  assert.equal(s2?.isActive, false, `inactive once the visitor left: ${JSON.stringify(s2)}`);
  assert.equal(s2.lastMessage, c3);
  assert.equal(s2.timestamp, stored3.createdAt);
  return { dash };
}

// ---------------------------------------------------------------- refusals

const REFUSED = [
  ['admin-connect'],
  ['get-sessions'],
  ['get-all-sessions'],
  ['get-messages', (sid) => ({ sessionId: sid })],
  ['admin-join-session', (sid) => ({ sessionId: sid })],
  ['admin-leave-session', (sid) => ({ sessionId: sid })],
  ['toggle-ai-mode', (sid) => ({ sessionId: sid, enabled: false })],
  ['admin_message', (sid) => ({ sessionId: sid, content: 'REFUSED reply that must never be stored' })],
];
const LEAKY = new Set(['sessions-list', 'all-sessions-list', 'messages-history', 'ai-mode-changed', 'new-message', 'message']);

/** Every staff event from `bad` is refused `unauthorized`, with an ack and without one. */
async function assertAllRefused(bad, sid, who) {
  for (const [event, payload] of REFUSED) {
    const args = payload ? [payload(sid)] : [];
    const ack = await emitAck(bad, event, ...args);
    assert.equal(ack?.ok, false, `${who}: ${event} with an ack is refused: ${JSON.stringify(ack)}`);
    assert.equal(ack?.error?.code, 'unauthorized', `${who}: ${event} is refused unauthorized: ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.error.message, 'string', `${who}: ${event}: error.message: ${JSON.stringify(ack)}`);
    assert.equal('data' in ack, false, `${who}: ${event}: a refusal carries no data: ${JSON.stringify(ack)}`);
  }
  for (const [event, payload] of REFUSED) {
    const m = mark(bad);
    bad.emit(event, ...(payload ? [payload(sid)] : []));
    const err = await eventAfter(bad, m, 'error', (e) => e?.event === event, { what: `${who}: error event for ${event} sent without an ack` });
    assert.equal(err.code, 'unauthorized', `${who}: ${event} without an ack: ${JSON.stringify(err)}`);
    assert.equal(typeof err.message, 'string');
  }
}

/** Nothing of the desk reached `bad`: no list, history, switch, message; no payload naming the session or its messages. */
function assertNothingLeaked(bad, { sid, contents }, who) {
  const leaked = bad.received.filter((x) => LEAKY.has(x.event));
  assert.deepEqual(leaked, [], `${who}: no desk event may reach a socket without a staff token`);
  for (const x of bad.received.filter((r) => r.event !== 'error')) {
    const text = JSON.stringify(x.data) ?? '';
    assert.ok(!text.includes(sid) && !contents.some((c) => text.includes(c)),
      `${who}: '${x.event}' discloses the session: ${text}`);
  }
}

/**
 * A staff dashboard joined to a live session; sockets without a staff token try every event
 * on it; the visitor then writes. The staff dashboard gets the message, the others nothing;
 * the refused switch and reply changed nothing.
 */
async function refusalsLeakNothing({ url, staffToken, bads, defer, where }) {
  const staff = await openDashboard(() => connectSocket(url, { extraHeaders: { Authorization: `Bearer ${staffToken}` } }), defer, `${where} (token in Authorization)`);
  const m0 = mark(staff);
  const visitor = await openVisitor(url, defer);
  const sid = visitor.sessionId;
  await eventAfter(staff, m0, 'sessions-list', (l) => activeIn(l, sid), { what: 'push after init_session' });
  staff.emit('admin-join-session', { sessionId: sid });
  await ask(staff, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray);
  const before = await visitorSays(visitor, uniq('First words'));

  const staffMark = mark(staff);
  const visitorMark = mark(visitor.socket);
  for (const [who, bad] of bads) await assertAllRefused(bad, sid, who);

  const c = uniq('Said after the refusals');
  const stored = await visitorSays(visitor, c);
  await eventAfter(staff, staffMark, 'message', (x) => x.content === c, { what: 'the staff dashboard still gets the room message' });
  await eventAfter(staff, staffMark, 'new-message', (x) => x?.message?.content === c);
  await eventAfter(staff, staffMark, 'sessions-list', (l) => entry(l, sid)?.lastMessage === c, { what: 'push after the message' });
  await delay(QUIET_MS);
  for (const [who, bad] of bads) assertNothingLeaked(bad, { sid, contents: [before.content, c] }, who);

  // The refused switch and reply changed nothing.
  assert.deepEqual(staff.received.slice(staffMark).filter((x) => x.event === 'ai-mode-changed'), [], 'a refused toggle-ai-mode is not announced');
  const all = await ask(staff, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  assert.equal(entry(all, sid)?.aiEnabled, true, `a refused toggle-ai-mode is not stored: ${JSON.stringify(entry(all, sid))}`);
  const history = await ask(staff, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray);
  assert.deepEqual(history.map((h) => h.content), [before.content, stored.content], 'a refused admin_message is not stored');
  assert.deepEqual(visitor.socket.received.slice(visitorMark).filter((x) => x.event === 'message').map((x) => x.data.content), [c],
    'the visitor got no refused reply');
}

async function registerCustomer(url) {
  const who = { email: `customer-${randomUUID().slice(0, 8)}@e2e.test`, password: 'customer-passphrase-9', name: 'Casey Customer' };
  await api(url, '/api/auth/register', { method: 'POST', body: who });
  const token = await login(url, who);
  const me = await api(url, '/api/auth/me', { token });
  assert.equal(me?.user?.role, 'customer', `the registration made a customer: ${JSON.stringify(me)}`);
  return token;
}

const withToken = (url, token) => `${url}/?token=${encodeURIComponent(token)}`;

// ---------------------------------------------------------------- tests

test('legacy open mode (INSECURE_OPEN_ADMIN=true, SQLite): the unmodified dashboard works without a token', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = cleanups(t);
  const server = await startServer({ INSECURE_OPEN_ADMIN: 'true' });
  defer(() => server.stop());
  await replayDashboard({ url: server.url, connectDashboard: () => connectSocket(server.url), defer, where: 'legacy' });
});

test('a staff token in the URL (SQLite): the sequence works; no token or a customer token is refused and sees nothing', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = cleanups(t);
  const server = await startServer();
  defer(() => server.stop());
  const admin = await login(server.url, ADMIN);
  await replayDashboard({ url: server.url, connectDashboard: () => connectSocket(withToken(server.url, admin)), defer, where: 'token in the URL' });

  // The token in the handshake's auth works too.
  await openDashboard(() => connectSocket(server.url, { auth: { token: admin } }), defer, 'token in auth');

  const customer = await registerCustomer(server.url);
  const anonymous = await connectSocket(server.url);
  defer(() => anonymous.close());
  const customerInUrl = await connectSocket(withToken(server.url, customer));
  defer(() => customerInUrl.close());
  const customerInAuth = await connectSocket(server.url, { auth: { token: customer } });
  defer(() => customerInAuth.close());
  await refusalsLeakNothing({
    url: server.url,
    staffToken: admin,
    bads: [['no token', anonymous], ['customer token in the URL', customerInUrl], ['customer token in auth', customerInAuth]],
    defer,
    where: 'refusals',
  });
});

test('a staff token in the URL on PostgreSQL: the same sequence', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = cleanups(t);
  const db = await createPostgresDatabase('dash');
  defer(() => db.drop());
  const server = await startServer({ DATABASE_URL: db.url });
  defer(() => server.stop());
  const admin = await login(server.url, ADMIN);
  await replayDashboard({ url: server.url, connectDashboard: () => connectSocket(withToken(server.url, admin)), defer, where: 'PostgreSQL' });
});

test('two nodes (PostgreSQL + Redis): dashboard on A, visitor on B', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = cleanups(t);
  const db = await createPostgresDatabase('dash');
  defer(() => db.drop());
  const shared = {
    DATABASE_URL: db.url,
    REDIS_URL,
    REDIS_PREFIX: `chatdesk-test-dash-${randomUUID().replace(/-/g, '')}`,
    JWT_SECRET: `dash-cluster-secret-${randomUUID()}`,
  };
  const a = await startServer(shared);
  defer(() => a.stop());
  const b = await startServer(shared);
  defer(() => b.stop());
  const token = await login(a.url, ADMIN);

  const dashA = await openDashboard(() => connectSocket(withToken(a.url, token)), defer, 'node A');
  const dashB = await openDashboard(() => connectSocket(withToken(b.url, token)), defer, 'node B');

  // The session starts on B: A's dashboard is told.
  let m = mark(dashA);
  const visitor = await openVisitor(b.url, defer);
  const sid = visitor.sessionId;
  const started = await eventAfter(dashA, m, 'sessions-list', (l) => activeIn(l, sid), { what: 'push on A after init_session on B' });
  checkSessionsList(started, 'node A: push after a session started on B');
  assert.equal(entry(started, sid).lastMessage, 'No messages yet');

  // A joins (bare-string sessionId); the visitor's message on B arrives live on A.
  dashA.emit('admin-join-session', sid);
  assert.deepEqual(await ask(dashA, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray), []);
  const c1 = uniq('Hello from node B');
  m = mark(dashA);
  const stored1 = await visitorSays(visitor, c1);
  const nm = await eventAfter(dashA, m, 'new-message', (x) => x?.message?.content === c1, { what: 'new-message on A' });
  assert.equal(nm.sessionId, sid);
  assert.deepEqual(pickMessage(nm.message), pickMessage(stored1));
  const live = await eventAfter(dashA, m, 'message', (x) => x.content === c1, { what: 'live message on A' });
  assert.deepEqual(pickMessage(live), pickMessage(stored1));
  const pushed = await eventAfter(dashA, m, 'sessions-list', (l) => entry(l, sid)?.lastMessage === c1, { what: 'push on A with lastMessage' });
  assert.equal(entry(pushed, sid).timestamp, stored1.createdAt);

  // A's reply reaches the visitor on B (and comes back to A).
  const c2 = uniq('Answer from node A');
  m = mark(dashA);
  const vm = mark(visitor.socket);
  dashA.emit('admin_message', { sessionId: sid, content: c2 });
  const atVisitor = await eventAfter(visitor.socket, vm, 'message', (x) => x.content === c2, { what: 'A\'s reply at the visitor on B' });
  checkRoomMessage(atVisitor, { sessionId: sid, sender: 'admin', content: c2, seq: 2 }, 'reply across nodes');
  const own = await eventAfter(dashA, m, 'message', (x) => x.content === c2, { what: 'A\'s own reply back on A' });
  assert.deepEqual(pickMessage(own), pickMessage(atVisitor));

  // The switch flipped on B is announced on A.
  m = mark(dashA);
  dashB.emit('toggle-ai-mode', { sessionId: sid, enabled: false });
  const changed = await eventAfter(dashA, m, 'ai-mode-changed', (x) => x.sessionId === sid, { what: 'ai-mode-changed on A after a toggle on B' });
  assert.deepEqual({ sessionId: changed.sessionId, enabled: changed.enabled }, { sessionId: sid, enabled: false });
  const allA = await ask(dashA, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  assert.equal(entry(allA, sid)?.aiEnabled, false, 'the switch is stored for every node');

  const history = await ask(dashA, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray);
  assert.equal(history.length, 2);
  checkHistoryItem(history[0], stored1, 'two nodes: history[0]');
  checkHistoryItem(history[1], atVisitor, 'two nodes: history[1]');

  // The visitor on B leaves: A's dashboard is told; the session is inactive.
  m = mark(dashA);
  visitor.socket.close();
  await eventAfter(dashA, m, 'sessions-list', (l) => Array.isArray(l) && !entry(l, sid), { what: 'push on A after the visitor on B disconnected' });
  const all = await ask(dashA, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  checkAllSessions(all, 'node A at the end');
  assert.equal(entry(all, sid)?.isActive, false, `inactive after the visitor on B left: ${JSON.stringify(entry(all, sid))}`);
});

test('the AI switch: off, the visitor gets no assistant reply; on again, the next message is answered; /admin hears the switch', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = cleanups(t);
  const llm = await startFakeLlm();
  defer(() => llm.stop());
  const server = await startServer({ AI_BASE_URL: llm.baseUrl, AI_API_KEY: 'e2e-key', AI_MODEL: 'e2e-model', AI_MAX_RETRIES: '0' });
  defer(() => server.stop());
  const token = await login(server.url, ADMIN);
  const dash = await openDashboard(() => connectSocket(withToken(server.url, token)), defer, 'AI');
  const console_ = await connectSocket(`${server.url}/admin`, { auth: { token } });
  defer(() => console_.close());

  const m0 = mark(dash);
  const visitor = await openVisitor(server.url, defer);
  const sid = visitor.sessionId;
  await eventAfter(dash, m0, 'sessions-list', (l) => activeIn(l, sid), { what: 'push after init_session' });
  // As the dashboard opens a session: join, history, AI on.
  dash.emit('admin-join-session', { sessionId: sid });
  await ask(dash, 'get-messages', { sessionId: sid }, 'messages-history', Array.isArray);

  /** The visitor writes; the stand-in is asked; its streamed answer arrives as an isAI message. */
  async function answered(text, answer) {
    const vm = mark(visitor.socket);
    const dm = mark(dash);
    const asked = llm.nextRequest();
    await visitorSays(visitor, text);
    let timer;
    const request = await Promise.race([asked, new Promise((r) => { timer = setTimeout(() => r(null), WAIT_MS); })]);
    clearTimeout(timer);
    assert.ok(request, `the LLM stand-in is asked after "${text}" within ${WAIT_MS} ms`);
    assert.equal(request.body.messages.at(-1).content, text, 'the request ends with the visitor\'s message');
    const [first, second] = [answer.slice(0, 6), answer.slice(6)];
    request.send(first);
    request.send(second);
    request.end();
    const start = await eventAfter(visitor.socket, vm, 'stream-start', (x) => x.sessionId === sid);
    await eventAfter(visitor.socket, vm, 'stream-token', (x) => x.messageId === start.messageId && x.token === first);
    await eventAfter(visitor.socket, vm, 'stream-end', (x) => x.messageId === start.messageId);
    const reply = await eventAfter(visitor.socket, vm, 'message', (x) => x.isAI === true && x.content === answer, { what: 'the assistant\'s reply at the visitor' });
    checkRoomMessage(reply, { sessionId: sid, sender: reply.sender, content: answer, isAI: true }, 'assistant reply');
    await eventAfter(dash, dm, 'message', (x) => x.isAI === true && x.content === answer, { what: 'the assistant\'s reply on the dashboard' });
    return reply;
  }

  // On (the default): answered. This proves the stand-in is wired, so silence below means "off".
  await answered(uniq('First question'), 'Happy to help with that.');

  // Off: announced to the dashboard and to /admin; the next visitor message gets no reply.
  let dm = mark(dash);
  let cm = mark(console_);
  dash.emit('toggle-ai-mode', { sessionId: sid, enabled: false });
  const offDash = await eventAfter(dash, dm, 'ai-mode-changed', (x) => x.sessionId === sid && x.enabled === false);
  assert.deepEqual({ sessionId: offDash.sessionId, enabled: offDash.enabled }, { sessionId: sid, enabled: false });
  const offAdmin = await eventAfter(console_, cm, 'ai-mode-changed', (x) => x.sessionId === sid, { what: '/admin hears the switch' });
  assert.deepEqual({ sessionId: offAdmin.sessionId, enabled: offAdmin.enabled }, { sessionId: sid, enabled: false });

  const requestsBefore = llm.requestCount();
  const vm = mark(visitor.socket);
  const silent = uniq('Question while the assistant is off');
  await visitorSays(visitor, silent);
  await delay(AI_QUIET_MS);
  assert.equal(llm.requestCount(), requestsBefore, 'the LLM is not asked while the switch is off');
  const aiEvents = visitor.socket.received.slice(vm)
    .filter((x) => ['stream-start', 'stream-token', 'stream-end'].includes(x.event) || (x.event === 'message' && x.data?.isAI));
  assert.deepEqual(aiEvents, [], 'no assistant reply while the switch is off');

  // A non-boolean `enabled` is refused and changes nothing.
  dm = mark(dash);
  const bad = await emitAck(dash, 'toggle-ai-mode', { sessionId: sid, enabled: 'yes' });
  assert.equal(bad?.ok, false, JSON.stringify(bad));
  assert.equal(bad?.error?.code, 'invalid_payload', JSON.stringify(bad));
  const all = await ask(dash, 'get-all-sessions', undefined, 'all-sessions-list', Array.isArray);
  assert.equal(entry(all, sid)?.aiEnabled, false, 'still off');
  assert.deepEqual(dash.received.slice(dm).filter((x) => x.event === 'ai-mode-changed'), [], 'an invalid toggle is not announced');

  // On again: announced; the next message is answered.
  dm = mark(dash);
  cm = mark(console_);
  dash.emit('toggle-ai-mode', { sessionId: sid, enabled: true });
  await eventAfter(dash, dm, 'ai-mode-changed', (x) => x.sessionId === sid && x.enabled === true);
  await eventAfter(console_, cm, 'ai-mode-changed', (x) => x.sessionId === sid && x.enabled === true, { what: '/admin hears the switch on' });
  assert.equal(llm.requestCount(), requestsBefore, 'switching on does not answer the message sent while off');
  await answered(uniq('Second question'), 'Here is the answer now.');
});
