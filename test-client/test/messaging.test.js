// Room isolation, seq ordering, wrapped success acks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  requireServer, connect, initSession, emitAck, waitForMessage, expectNothing, collect,
  assertMessage, assertOkAck, pickStable, history, uniq, TEST_TIMEOUT_MS,
} from '../lib/helpers.js';

before(requireServer);
const opts = { timeout: TEST_TIMEOUT_MS };

test('two sessions are isolated: a message in A never reaches a socket only in B', opts, async (t) => {
  const a = await connect(t, { label: 'A' });
  const b = await connect(t, { label: 'B' });
  const sa = (await initSession(a, { sessionId: null })).sessionId;
  const sb = (await initSession(b, { sessionId: null })).sessionId;
  assert.notEqual(sa, sb);

  const textA = uniq('only for A');
  const quietB = expectNothing(b, 'message');
  const atA = waitForMessage(a, textA, 'A');
  a.emit('user_message', { sessionId: sa, content: textA });
  assertMessage(await atA, { sender: 'user', content: textA, sessionId: sa, seq: 1 });
  assert.deepStrictEqual(await quietB, [], 'socket in B must not hear session A');

  const textB = uniq('only for B');
  const quietA = expectNothing(a, 'message');
  const atB = waitForMessage(b, textB, 'B');
  b.emit('user_message', { sessionId: sb, content: textB });
  // B's own first message is seq 1 in B: seq is per session.
  assertMessage(await atB, { sender: 'user', content: textB, sessionId: sb, seq: 1 });
  assert.deepStrictEqual(await quietA, [], 'socket in A must not hear session B');

  assert.deepStrictEqual((await history(sa)).map((m) => m.content), [textA]);
  assert.deepStrictEqual((await history(sb)).map((m) => m.content), [textB]);
});

test('seq is 1..10 with no gaps or duplicates for 10 messages sent rapidly', opts, async (t) => {
  const sender = await connect(t, { label: 'sender' });
  const watcher = await connect(t, { label: 'watcher' });
  const { sessionId } = await initSession(sender, { sessionId: null });
  await initSession(watcher, { sessionId });

  const seenBySender = collect(sender, 'message');
  const seenByWatcher = collect(watcher, 'message');
  t.after(() => {
    seenBySender.stop();
    seenByWatcher.stop();
  });

  const tag = uniq('burst');
  const contents = Array.from({ length: 10 }, (_, i) => `${tag} #${i + 1}`);
  // Fire all ten without waiting for each other.
  const acks = await Promise.all(contents.map((content) => emitAck(sender, 'user_message', { sessionId, content })));
  const ackData = acks.map(assertOkAck);
  const range = Array.from({ length: 10 }, (_, i) => i + 1);
  assert.deepStrictEqual(ackData.map((d) => d.seq).sort((x, y) => x - y), range, 'ack seqs');

  for (const c of [seenBySender, seenByWatcher]) {
    const msgs = await c.waitForCount(10);
    assert.equal(msgs.length, 10);
    assert.deepStrictEqual(msgs.map((m) => m.seq).sort((x, y) => x - y), range, 'broadcast seqs');
    for (const m of msgs) assertMessage(m, { sender: 'user', content: m.content, sessionId });
    assert.deepStrictEqual(new Set(msgs.map((m) => m.content)), new Set(contents));
    assert.equal(new Set(msgs.map((m) => m.id)).size, 10, 'ids must be distinct');
  }

  const hist = await history(sessionId);
  assert.deepStrictEqual(hist.map((m) => m.seq), range, 'REST history in seq order');
  const bySeq = new Map(ackData.map((d) => [d.seq, d]));
  for (const m of hist) assert.deepStrictEqual(pickStable(m), pickStable(bySeq.get(m.seq)));
});

test('user_message with an ack returns {ok:true, data:<the message>} matching the broadcast', opts, async (t) => {
  const s = await connect(t);
  const { sessionId } = await initSession(s, { sessionId: null });
  const content = uniq('acked');
  const live = waitForMessage(s, content, 'sender');
  const data = assertOkAck(await emitAck(s, 'user_message', { sessionId, content }));
  assertMessage(data, { sender: 'user', content, sessionId, seq: 1 });
  const m = await live;
  assert.equal(m.id, data.id, 'ack data and broadcast are the same message');
  assert.deepStrictEqual(pickStable(m), pickStable(data));
});
