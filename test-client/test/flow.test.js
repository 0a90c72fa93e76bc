// The seed's test-socket.js flow, over each transport, plus admin_message.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  requireServer, connect, connectAdmin, initSession, emitAck, waitFor, waitForMessage,
  assertMessage, assertOkAck, pickStable, history, uniq, ADMIN_TOKEN, WAIT_MS, TEST_TIMEOUT_MS,
} from '../lib/helpers.js';

before(requireServer);
const opts = { timeout: TEST_TIMEOUT_MS };

/** Wait until the engine has upgraded to websocket (bounded). */
function waitUpgrade(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === 'websocket') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      engine.off('upgrade', onUpgrade);
      reject(new Error(`no upgrade to websocket within ${WAIT_MS} ms (still ${engine.transport.name})`));
    }, WAIT_MS);
    const onUpgrade = () => {
      clearTimeout(timer);
      resolve();
    };
    engine.once('upgrade', onUpgrade);
  });
}

const variants = [
  { name: 'websocket only', transports: ['websocket'], expect: 'websocket' },
  { name: 'polling only', transports: ['polling'], expect: 'polling' },
  { name: 'default (polling, then upgrade)', transports: undefined, expect: 'upgrade' },
];

for (const v of variants) {
  test(`seed flow over ${v.name}: user_message reaches the sender and a second socket in the room`, opts, async (t) => {
    const visitor = await connect(t, { transports: v.transports, label: 'visitor' });
    const other = await connect(t, { transports: v.transports, label: 'second' });
    for (const s of [visitor, other]) {
      assert.equal(s.initialTransport, v.expect === 'websocket' ? 'websocket' : 'polling', 'first transport');
    }

    const { sessionId } = await initSession(visitor, { sessionId: null });
    const joined = await initSession(other, { sessionId });
    assert.equal(joined.sessionId, sessionId);

    const content = uniq(`hello over ${v.name}`);
    const atVisitor = waitForMessage(visitor, content, 'visitor');
    const atOther = waitForMessage(other, content, 'second');
    visitor.emit('user_message', { sessionId, content }); // seed style: no ack
    const [m1, m2] = await Promise.all([atVisitor, atOther]);
    assertMessage(m1, { sender: 'user', content, sessionId, seq: 1 });
    assertMessage(m2, { sender: 'user', content, sessionId, seq: 1 });
    assert.deepStrictEqual(m2, m1, 'both sockets must receive the same message');

    if (v.expect === 'polling') {
      for (const s of [visitor, other]) {
        assert.equal(s.io.engine.transport.name, 'polling', 'polling-only socket must stay on polling');
      }
    }
    if (v.expect === 'websocket') {
      assert.equal(visitor.io.engine.transport.name, 'websocket');
    }
    if (v.expect === 'upgrade') {
      // After the upgrade a second message still flows both ways.
      await Promise.all([waitUpgrade(visitor), waitUpgrade(other)]);
      const content2 = uniq('after upgrade');
      const a = waitForMessage(visitor, content2, 'visitor');
      const b = waitForMessage(other, content2, 'second');
      other.emit('user_message', { sessionId, content: content2 });
      const [n1, n2] = await Promise.all([a, b]);
      assertMessage(n1, { sender: 'user', content: content2, sessionId, seq: 2 });
      assert.deepStrictEqual(n2, n1);
    }
  });
}

test('seed flow with admin: admin joins via init_session, admin_message broadcasts sender "admin"', opts, async (t) => {
  const visitor = await connect(t, { label: 'visitor' });
  const { sessionId } = await initSession(visitor, { sessionId: null });

  const admin = await connectAdmin(t);
  const joined = await initSession(admin, { sessionId });
  assert.equal(joined.sessionId, sessionId, 'admin must join the same session');

  const userText = uniq('visitor says');
  const u1 = waitForMessage(visitor, userText, 'visitor');
  const u2 = waitForMessage(admin, userText, 'admin');
  visitor.emit('user_message', { sessionId, content: userText });
  const [um] = await Promise.all([u1, u2]);
  assertMessage(um, { sender: 'user', content: userText, sessionId, seq: 1 });

  const adminText = uniq('admin replies');
  const a1 = waitForMessage(visitor, adminText, 'visitor');
  const a2 = waitForMessage(admin, adminText, 'admin');
  const errs = [];
  admin.on('error', (e) => errs.push(e));
  admin.emit('admin_message', { sessionId, content: adminText });
  let am, am2;
  try {
    [am, am2] = await Promise.all([a1, a2]);
  } catch (err) {
    const hint = errs.length ? ` (server emitted error ${JSON.stringify(errs)})` : '';
    const tok = ADMIN_TOKEN ? 'with' : 'without';
    throw new Error(`${err.message}${hint}; admin socket connected ${tok} CHATDESK_ADMIN_TOKEN`);
  }
  assertMessage(am, { sender: 'admin', content: adminText, sessionId, seq: 2 });
  assert.deepStrictEqual(am2, am);

  // The ack form of admin_message is wrapped too.
  const ackText = uniq('admin with ack');
  const seen = waitForMessage(visitor, ackText, 'visitor');
  const data = assertOkAck(await emitAck(admin, 'admin_message', { sessionId, content: ackText }));
  assertMessage(data, { sender: 'admin', content: ackText, sessionId, seq: 3 });
  assert.deepStrictEqual(pickStable(await seen), pickStable(data));

  const hist = await history(sessionId);
  assert.deepStrictEqual(hist.map((m) => [m.sender, m.content]), [
    ['user', userText],
    ['admin', adminText],
    ['admin', ackText],
  ]);
});

test('admin_message without a staff token is refused when the server requires one', {
  ...opts,
  skip: !ADMIN_TOKEN
    ? 'CHATDESK_ADMIN_TOKEN unset (server assumed to run in legacy open mode)'
    : process.env.CHATDESK_OPEN_ADMIN === 'true'
      ? 'CHATDESK_OPEN_ADMIN=true (server runs in legacy open mode)'
      : false,
}, async (t) => {
  const visitor = await connect(t, { label: 'visitor (no token)' });
  const { sessionId } = await initSession(visitor, { sessionId: null });
  const ack = await emitAck(visitor, 'admin_message', { sessionId, content: uniq('forged admin') });
  assert.equal(ack?.ok, false, `ack ${JSON.stringify(ack)}`);
  assert.equal(ack?.error?.code, 'unauthorized', `ack ${JSON.stringify(ack)}`);
  const errP = waitFor(visitor, 'error', { label: 'visitor' });
  visitor.emit('admin_message', { sessionId, content: uniq('forged admin, no ack') });
  const err = await errP;
  assert.equal(err?.code, 'unauthorized');
  assert.equal(err?.event, 'admin_message');
  assert.deepStrictEqual(await history(sessionId), [], 'nothing may be stored');
});
