import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { requireServer, getJson } from '../lib/helpers.js';

before(requireServer);

test('GET /health returns exactly {"status":"ok"}', { timeout: 10000 }, async () => {
  const { status, headers, body } = await getJson('/health');
  assert.equal(status, 200);
  assert.match(headers.get('content-type') || '', /application\/json/, 'content-type must be JSON');
  assert.deepStrictEqual(body, { status: 'ok' });
});
