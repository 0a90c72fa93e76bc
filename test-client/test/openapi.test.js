// /api/openapi.json is a valid OpenAPI 3 document (validated by swagger-parser against the
// OpenAPI schema, with every $ref resolved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { BASE_URL as BASE } from '../lib/helpers.js';

test('GET /api/openapi.json is a valid OpenAPI 3 document', async () => {
  const res = await fetch(`${BASE}/api/openapi.json`);
  assert.equal(res.status, 200);
  const doc = await res.json();
  assert.match(doc.openapi, /^3\./);
  const api = await SwaggerParser.validate(structuredClone(doc));
  assert.ok(api.paths['/api/chats'], 'documents /api/chats');
  assert.ok(api.paths['/api/auth/login'].post, 'documents POST /api/auth/login');
});
