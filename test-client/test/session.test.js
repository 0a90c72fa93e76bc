// init_session: create, recover from stale/malformed ids, resume.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  requireServer, connect, initSession, emitAck, waitForMessage, assertMessage, uniq,
  TEST_TIMEOUT_MS,
} from '../lib/helpers.js';

before(requireServer);
const opts = { timeout: TEST_TIMEOUT_MS };

test('init_session {sessionId:null} creates a session: UUID, resumed false', opts, async (t) => {
  const s = await connect(t);
  const ack = await initSession(s, { sessionId: null });
  assert.equal(ack.resumed, false, `ack ${JSON.stringify(ack)}`);
});

test('init_session {} creates a session: UUID, resumed false', opts, async (t) => {
  const s = await connect(t);
  const ack = await initSession(s, {});
  assert.equal(ack.resumed, false, `ack ${JSON.stringify(ack)}`);
});

test('two init_session calls without id create two different sessions', opts, async (t) => {
  const a = await connect(t);
  const b = await connect(t);
  const ackA = await initSession(a, { sessionId: null });
  const ackB = await initSession(b, { sessionId: null });
  assert.notEqual(ackA.sessionId, ackB.sessionId);
});

for (const bad of ['nope', 42]) {
  test(`init_session with malformed sessionId ${JSON.stringify(bad)} starts a NEW session`, opts, async (t) => {
    const s = await connect(t);
    const ack = await initSession(s, { sessionId: bad });
    assert.notEqual(ack.sessionId, bad);
    assert.equal(ack.resumed, false, `ack ${JSON.stringify(ack)}`);
  });
}

test('init_session with an unknown (well-formed) sessionId starts a new session, resumed false', opts, async (t) => {
  const s = await connect(t);
  const ack = await initSession(s, { sessionId: randomUUID() });
  assert.equal(ack.resumed, false, `ack ${JSON.stringify(ack)}`);
});

test('resume: a new socket with an existing sessionId gets it back (resumed true) and hears the next message', opts, async (t) => {
  const a = await connect(t, { label: 'first' });
  const { sessionId } = await initSession(a, { sessionId: null });

  const first = uniq('before resume');
  const gotFirst = waitForMessage(a, first, 'first');
  a.emit('user_message', { sessionId, content: first });
  await gotFirst;

  const b = await connect(t, { label: 'resumer' });
  const ack = await initSession(b, { sessionId });
  assert.equal(ack.sessionId, sessionId, 'resumed sessionId must be the same');
  assert.equal(ack.resumed, true, `ack ${JSON.stringify(ack)}`);

  // Next message from the original socket reaches the resumed one, with the next seq.
  const second = uniq('after resume');
  const atB = waitForMessage(b, second, 'resumer');
  const atA = waitForMessage(a, second, 'first');
  a.emit('user_message', { sessionId, content: second });
  const [mb] = await Promise.all([atB, atA]);
  assertMessage(mb, { sender: 'user', content: second, sessionId, seq: 2 });

  // And the resumed socket can talk back into the same room.
  const third = uniq('from resumer');
  const back = waitForMessage(a, third, 'first');
  const ackMsg = await emitAck(b, 'user_message', { sessionId, content: third });
  assert.equal(ackMsg?.ok, true, `ack ${JSON.stringify(ackMsg)}`);
  assertMessage(await back, { sender: 'user', content: third, sessionId, seq: 3 });
});
