// REST history: GET /api/chats/:sessionId.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  requireServer, connect, connectAdmin, initSession, emitAck, getJson, history,
  assertMessage, assertOkAck, pickStable, uniq, SEED_FIELDS, TEST_TIMEOUT_MS,
} from '../lib/helpers.js';

before(requireServer);
const opts = { timeout: TEST_TIMEOUT_MS };

test('GET /api/chats/:sessionId returns the session messages in order with the seed fields', opts, async (t) => {
  const visitor = await connect(t, { label: 'visitor' });
  const { sessionId } = await initSession(visitor, { sessionId: null });
  assert.deepStrictEqual(await history(sessionId), [], 'a fresh session has no messages');

  const admin = await connectAdmin(t);
  await initSession(admin, { sessionId });

  const sent = [];
  const plan = [
    [visitor, 'user_message', 'user'],
    [admin, 'admin_message', 'admin'],
    [visitor, 'user_message', 'user'],
  ];
  for (const [sock, event, sender] of plan) {
    const content = uniq(`${sender} line`);
    const data = assertOkAck(await emitAck(sock, event, { sessionId, content }));
    sent.push({ ...data, expectSender: sender });
  }

  const hist = await history(sessionId);
  assert.equal(hist.length, 3, `history ${JSON.stringify(hist)}`);
  hist.forEach((m, i) => {
    for (const f of SEED_FIELDS) assert.ok(f in m, `history[${i}] lacks seed field ${f}: ${JSON.stringify(m)}`);
    assertMessage(m, {
      sender: sent[i].expectSender,
      content: sent[i].content,
      sessionId,
      seq: i + 1,
      requireSessionId: false,
    });
    assert.deepStrictEqual(pickStable(m), pickStable(sent[i]), `history[${i}] equals the message as broadcast`);
  });
  const created = hist.map((m) => Date.parse(m.createdAt));
  assert.deepStrictEqual([...created].sort((x, y) => x - y), created, 'createdAt non-decreasing');
  assert.equal(new Set(hist.map((m) => m.chatSessionId)).size, 1, 'one chatSessionId per session');
});

test('GET /api/chats/<random uuid> returns []', opts, async () => {
  const { status, body } = await getJson(`/api/chats/${randomUUID()}`);
  assert.equal(status, 200);
  assert.deepStrictEqual(body, []);
});
