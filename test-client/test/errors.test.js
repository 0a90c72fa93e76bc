// Bad input: wrapped error acks, `error` events without acks, nothing stored.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  requireServer, connect, initSession, emitAck, waitFor, waitForMessage, expectNothing,
  assertErrorAck, assertOkAck, assertMessage, history, uniq, TEST_TIMEOUT_MS,
} from '../lib/helpers.js';

before(requireServer);
const opts = { timeout: TEST_TIMEOUT_MS };

/** A fresh session plus a socket in it. */
async function freshSession(t) {
  const s = await connect(t);
  const { sessionId } = await initSession(s, { sessionId: null });
  return { s, sessionId };
}

/** After bad input: nothing was stored and broadcast, and a good message still works as seq 1. */
async function assertStillHealthy(s, sessionId) {
  assert.deepStrictEqual(await history(sessionId), [], 'bad input must store nothing');
  const content = uniq('good after bad');
  const live = waitForMessage(s, content, 'sender');
  const data = assertOkAck(await emitAck(s, 'user_message', { sessionId, content }));
  assertMessage(data, { sender: 'user', content, sessionId, seq: 1 });
  assertMessage(await live, { sender: 'user', content, sessionId, seq: 1 });
  const hist = await history(sessionId);
  assert.equal(hist.length, 1, `exactly one stored message, got ${JSON.stringify(hist)}`);
  assert.equal(hist[0].content, content);
}

const ackCases = [
  { name: 'content 123 (not a string)', payload: (sid) => ({ sessionId: sid, content: 123 }), code: 'invalid_payload' },
  { name: 'empty content', payload: (sid) => ({ sessionId: sid, content: '' }), code: 'invalid_payload' },
  { name: 'missing content', payload: (sid) => ({ sessionId: sid }), code: 'invalid_payload' },
  { name: 'missing sessionId', payload: () => ({ content: 'hello' }), code: 'invalid_payload' },
  { name: 'sessionId 42 (not a string)', payload: () => ({ sessionId: 42, content: 'hello' }), code: 'invalid_payload' },
  { name: 'unknown sessionId (random uuid)', payload: () => ({ sessionId: randomUUID(), content: 'hello' }), code: 'session_not_found' },
  { name: 'content of 10001 chars', payload: (sid) => ({ sessionId: sid, content: 'x'.repeat(10001) }), code: 'content_too_long' },
];

for (const c of ackCases) {
  test(`user_message with ${c.name} -> ack {ok:false, error:{code:"${c.code}"}}`, opts, async (t) => {
    const { s, sessionId } = await freshSession(t);
    const quiet = expectNothing(s, 'message');
    const ack = await emitAck(s, 'user_message', c.payload(sessionId));
    assertErrorAck(ack, c.code);
    assert.deepStrictEqual(await quiet, [], 'no message may be broadcast');
    await assertStillHealthy(s, sessionId);
  });
}

test('user_message with content of exactly 10000 chars is accepted', opts, async (t) => {
  const { s, sessionId } = await freshSession(t);
  const content = 'y'.repeat(10000);
  const data = assertOkAck(await emitAck(s, 'user_message', { sessionId, content }));
  assert.equal(data.content.length, 10000);
  assert.equal(data.seq, 1);
});

const noAckCases = [
  { name: 'content 123', payload: (sid) => ({ sessionId: sid, content: 123 }), code: 'invalid_payload' },
  { name: 'missing sessionId', payload: () => ({ content: 'hello' }), code: 'invalid_payload' },
  { name: 'unknown sessionId', payload: () => ({ sessionId: randomUUID(), content: 'hello' }), code: 'session_not_found' },
];

for (const c of noAckCases) {
  test(`user_message with ${c.name} and no ack -> sender gets 'error' {code:"${c.code}", event:"user_message"}`, opts, async (t) => {
    const { s, sessionId } = await freshSession(t);
    const quiet = expectNothing(s, 'message');
    const errP = waitFor(s, 'error', { label: 'sender' });
    s.emit('user_message', c.payload(sessionId));
    const err = await errP;
    assert.ok(err && typeof err === 'object', `error payload ${JSON.stringify(err)}`);
    assert.equal(err.code, c.code, `error ${JSON.stringify(err)}`);
    assert.equal(typeof err.message, 'string', `error ${JSON.stringify(err)}`);
    assert.ok(err.message.length > 0);
    assert.equal(err.event, 'user_message', `error ${JSON.stringify(err)}`);
    assert.deepStrictEqual(await quiet, [], 'no message may be broadcast');
    await assertStillHealthy(s, sessionId);
  });
}

test('a bad message is reported to the sender only, not to others in the room', opts, async (t) => {
  const { s, sessionId } = await freshSession(t);
  const other = await connect(t, { label: 'other' });
  await initSession(other, { sessionId });
  const errP = waitFor(s, 'error', { label: 'sender' });
  const quietOther = expectNothing(other, 'error');
  s.emit('user_message', { sessionId, content: '' });
  assert.equal((await errP).code, 'invalid_payload');
  assert.deepStrictEqual(await quietOther, [], 'others must not get the sender\'s error');
});

test('a successful user_message without an ack emits no error', opts, async (t) => {
  const { s, sessionId } = await freshSession(t);
  const quiet = expectNothing(s, 'error');
  const content = uniq('fine');
  const live = waitForMessage(s, content, 'sender');
  s.emit('user_message', { sessionId, content });
  await live;
  assert.deepStrictEqual(await quiet, []);
});
