// One socket.io connection, two namespaces: socket.io-client multiplexes "/" and "/admin"
// over one engine.io connection when they share a Manager (its default for one URL), and the
// server then gives both sockets the same id. Relays that leave out "the sender" must leave
// out only the sender's own socket, not its sibling in the other namespace.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Manager } from 'socket.io-client';
import {
  requireServer, initSession, emitAck, waitFor, collect, BASE_URL, ADMIN_TOKEN, WAIT_MS, QUIET_MS,
  TEST_TIMEOUT_MS,
} from '../lib/helpers.js';

before(requireServer);
const opts = { timeout: TEST_TIMEOUT_MS };

/** Connects `socket` (of a shared Manager) and resolves once connected. */
function open(socket, label) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label}: no connect within ${WAIT_MS} ms`)), WAIT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${label}: connect_error ${err?.message || err}`));
    });
    socket.connect();
  });
}

test('a visitor and an agent multiplexed on one connection hear each other\'s typing and call signalling', {
  ...opts,
  skip: ADMIN_TOKEN ? false : 'CHATDESK_ADMIN_TOKEN unset: the /admin namespace needs a staff token',
}, async (t) => {
  const manager = new Manager(BASE_URL, { reconnection: false, timeout: WAIT_MS, autoConnect: false });
  const visitor = manager.socket('/');
  const agent = manager.socket('/admin', { auth: { token: ADMIN_TOKEN } });
  t.after(() => {
    visitor.close();
    agent.close();
    manager.engine?.close();
  });
  await open(visitor, 'visitor');
  await open(agent, 'agent');
  assert.equal(visitor.io, agent.io, 'both sockets share one Manager (one engine.io connection)');

  const { sessionId } = await initSession(visitor, { sessionId: null });
  const joined = await emitAck(agent, 'join_session', { sessionId });
  assert.equal(joined.ok, true, `join_session: ${JSON.stringify(joined)}`);

  // agent -> visitor
  const visitorTyping = waitFor(visitor, 'typing', {
    filter: (p) => p.sessionId === sessionId && p.sender === 'admin',
    label: 'visitor hears the agent typing',
  });
  const ack = await emitAck(agent, 'typing', { sessionId, isTyping: true });
  assert.equal(ack.ok, true, `typing ack: ${JSON.stringify(ack)}`);
  assert.equal((await visitorTyping).isTyping, true);

  // visitor -> agent
  const agentTyping = waitFor(agent, 'typing', {
    filter: (p) => p.sessionId === sessionId && p.sender === 'user',
    label: 'agent hears the visitor typing',
  });
  await emitAck(visitor, 'typing', { sessionId, isTyping: true });
  assert.equal((await agentTyping).isTyping, true);

  // call signalling, agent -> visitor; the agent's own socket does not hear its offer back
  const ownEcho = collect(agent, 'call-offer');
  const offer = waitFor(visitor, 'call-offer', {
    filter: (p) => p.sessionId === sessionId,
    label: 'visitor receives the call offer',
  });
  const sent = await emitAck(agent, 'call-offer', { sessionId, payload: { sdp: 'v=0 test' } });
  assert.equal(sent.ok, true, `call-offer ack: ${JSON.stringify(sent)}`);
  const got = await offer;
  assert.deepEqual(got.payload, { sdp: 'v=0 test' });
  assert.equal(got.from.sender, 'admin');
  await new Promise((r) => setTimeout(r, QUIET_MS));
  assert.deepEqual(ownEcho.items, [], 'the sender\'s own socket gets no copy of its offer');
});
