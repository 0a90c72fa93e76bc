// Webhooks in a real browser: the admin registers an endpoint on /console/webhooks, sees its
// signing secret once (gone after a reload), opens its delivery log, and the log fills with a
// delivered `message.created` after a visitor writes; the local receiver got it, signed; a
// redelivery from the log, then several events per request set from the page.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  ADMIN, TEST_TIMEOUT_MS,
  connectSocket, consoleLogin, emitAck, newPerson, startBrowser, startServer,
} from '../lib/harness.js';

describe('webhooks', { timeout: 2 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let receiver;
  const got = [];

  before(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    server = await startServer({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_MS: '100' });
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    receiver?.close();
  });

  test('an admin registers an endpoint, sees the secret once, and watches the log fill', { timeout: TEST_TIMEOUT_MS }, async () => {
    const admin = await newPerson(browser);
    try {
      await consoleLogin(admin.page, server.url, ADMIN);
      await admin.page.goto(`${server.url}/console/webhooks`);
      const url = `http://127.0.0.1:${receiver.address().port}/hook`;
      await admin.page.locator('#e-url').fill(url);
      // message.created only
      for (const box of await admin.page.locator('#e-events input').all()) {
        if ((await box.getAttribute('value')) !== 'message.created') await box.uncheck();
      }
      await admin.page.locator('#endpoint-form button[type="submit"]').click();
      await admin.page.locator('#secret-box').waitFor();
      const secret = (await admin.page.locator('#secret-value').textContent()).trim();
      assert.match(secret, /^whsec_[0-9a-f]{64}$/);
      const row = admin.page.locator('#endpoint-list li').filter({ hasText: url });
      await row.waitFor();

      // Shown once: after a reload the page has no trace of it.
      await admin.page.reload();
      await row.waitFor();
      assert.equal(await admin.page.locator('#secret-box').isHidden(), true);
      assert.equal((await admin.page.content()).includes(secret), false, 'the secret is shown again');

      await row.getByRole('button', { name: 'Deliveries' }).click();
      await admin.page.locator('#wh-log').waitFor();

      // A visitor writes.
      const visitor = await connectSocket(server.url);
      const init = await emitAck(visitor, 'init_session', { sessionId: null });
      const ack = await emitAck(visitor, 'user_message', { sessionId: init.sessionId, content: 'hello hooks' });
      assert.equal(ack.ok, true);
      visitor.close();

      const delivered = admin.page.locator('#log-rows tr[data-status="delivered"]').filter({ hasText: 'message.created' });
      await delivered.waitFor({ timeout: 15_000 });
      assert.equal(got.length, 1);
      const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(got[0].headers['x-chatdesk-signature']);
      assert.ok(sig, 'signature header');
      const expected = createHmac('sha256', secret).update(`${sig[1]}.${got[0].body}`).digest('hex');
      assert.equal(sig[2], expected);
      assert.equal(JSON.parse(got[0].body).data.content, 'hello hooks');

      // Redeliver from the log: the receiver hears it again.
      await delivered.first().getByRole('button', { name: 'Redeliver' }).click();
      const deadline = Date.now() + 10_000;
      while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(got.length, 2, 'redelivered');
      assert.equal(got[1].headers['x-chatdesk-delivery'], got[0].headers['x-chatdesk-delivery']);

      // Several events per request: set from the page, then a POST is {"events": [...]}.
      const batchBox = row.getByLabel('Events per request');
      assert.equal(await batchBox.inputValue(), '1');
      await batchBox.fill('5');
      await batchBox.press('Enter');
      await admin.page.locator(`#endpoint-list li[data-batch="5"]`).filter({ hasText: url }).waitFor();
      const again = await connectSocket(server.url);
      const init2 = await emitAck(again, 'init_session', { sessionId: null });
      const sent = await emitAck(again, 'user_message', { sessionId: init2.sessionId, content: 'batched hello' });
      assert.equal(sent.ok, true);
      again.close();
      const until = Date.now() + 10_000;
      while (got.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.equal(got.length, 3, 'the batched delivery');
      assert.equal(got[2].headers['x-chatdesk-event'], 'batch');
      const batch = JSON.parse(got[2].body);
      assert.deepEqual(batch.events.map((e) => e.data.content), ['batched hello']);
      const sig2 = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(got[2].headers['x-chatdesk-signature']);
      assert.equal(sig2[2], createHmac('sha256', secret).update(`${sig2[1]}.${got[2].body}`).digest('hex'));
      admin.assertClean();
    } finally {
      await admin.close();
    }
  });
});
