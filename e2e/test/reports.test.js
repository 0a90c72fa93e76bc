// The reports page in a real browser: conversations made through the real API (visitors
// over socket.io, Alice's replies and resolutions over REST, a label), then /console/reports
// draws them: a bar per bucket with conversations, median and p90 points for the answered
// buckets, stacked message bars, the tables, a 24-hour view, and the CSV download.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import {
  ALICE, TEST_TIMEOUT_MS,
  api, connectSocket, emitAck, newPerson, screenshot, seedStaff, startBrowser, startServer,
} from '../lib/harness.js';

describe('reports', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let tokens;
  let aliceId;

  before(async () => {
    server = await startServer();
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
    aliceId = (await api(server.url, '/api/auth/me', { token: tokens.alice })).user.id;
    await api(server.url, '/api/labels', { method: 'POST', token: tokens.admin, body: { name: 'Billing', color: '#d97706' } });
    // Three visitors write; Alice answers and resolves two of them; one is labelled.
    for (let i = 0; i < 3; i++) {
      const socket = await connectSocket(server.url);
      try {
        const ack = await emitAck(socket, 'init_session', { sessionId: null });
        const sessionId = ack.sessionId;
        const sent = await emitAck(socket, 'user_message', { sessionId, content: `question ${i}`, clientMsgId: `q-${i}` });
        assert.ok(sent && sent.ok !== false, `user_message: ${JSON.stringify(sent)}`);
        if (i < 2) {
          await api(server.url, `/api/chats/${sessionId}`, { method: 'PATCH', token: tokens.alice, body: { status: 'assigned', assigneeId: aliceId } });
          await api(server.url, `/api/chats/${sessionId}/messages`, { method: 'POST', token: tokens.alice, body: { content: `answer ${i}` } });
          await api(server.url, `/api/chats/${sessionId}`, { method: 'PATCH', token: tokens.alice, body: { status: 'resolved' } });
        }
        if (i === 0) {
          await api(server.url, `/api/chats/${sessionId}/labels`, { method: 'PUT', token: tokens.alice, body: { labels: ['Billing'] } });
        }
      } finally {
        socket.close();
      }
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Opens /console/reports signed in as Alice (the console's token in localStorage). */
  async function openReports(page, search = '') {
    await page.goto(`${server.url}/console/reports`);
    await page.evaluate((t) => localStorage.setItem('chatdesk.console.token', t), tokens.alice);
    await page.goto(`${server.url}/console/reports${search}`);
    await page.locator('#rp-result:not([hidden])').waitFor();
  }

  test('the last 7 days: charts, cards and tables of what was seeded', { timeout: TEST_TIMEOUT_MS }, async () => {
    const p = await newPerson(browser);
    try {
      await openReports(p.page);
      // The browser's time zone (UTC in these contexts) is the default.
      assert.equal(await p.page.locator('#rp-tz').inputValue(), 'UTC');
      const conv = p.page.locator('#chart-conversations svg');
      // 7 day buckets labelled; today (the last) is the only one with conversations.
      assert.equal(await conv.locator('text.x-label').count(), 7);
      assert.equal(await conv.locator('rect.bar').count(), 1);
      assert.equal(await conv.locator('rect.bar').getAttribute('data-bucket'), '6');
      assert.equal(await conv.locator('rect.bar title').textContent().then((t) => t.endsWith(': 3')), true);
      // First response and resolution: a median and a p90 point for today.
      for (const id of ['#chart-first-response', '#chart-resolution']) {
        assert.equal(await p.page.locator(`${id} svg circle.point.median`).count(), 1, id);
        assert.equal(await p.page.locator(`${id} svg circle.point.p90`).count(), 1, id);
      }
      // Messages: visitor and agent parts stacked in today's bar; no rating yet.
      const msgs = p.page.locator('#chart-messages svg rect.bar');
      assert.deepEqual(await msgs.evaluateAll((rs) => rs.map((r) => [r.dataset.bucket, r.dataset.series])),
        [['6', 'visitor'], ['6', 'agent']]);
      assert.equal(await p.page.locator('#chart-csat svg rect.bar').count(), 0);
      // Cards and tables.
      assert.equal(await p.page.locator('#rp-cards .rp-card strong').first().textContent(), '3');
      assert.equal(await p.page.locator('#rp-buckets tbody tr').count(), 7);
      const agentRow = p.page.locator('#rp-agents tbody tr');
      assert.equal(await agentRow.count(), 1);
      assert.equal(await agentRow.locator('td').first().textContent(), ALICE.name);
      // Alice: 2 conversations assigned, 2 answered, 2 resolved.
      const cells = await agentRow.locator('td').allTextContents();
      assert.deepEqual([cells[1], cells[4], cells[5]], ['2', '2', '2']);
      assert.equal(await p.page.locator('#rp-labels tbody tr td').first().textContent(), 'Billing');
      await screenshot(p.page, 'reports-week');
      p.assertClean();
    } finally {
      await p.close();
    }
  });

  test('one day by the hour, then the CSV download', { timeout: TEST_TIMEOUT_MS }, async () => {
    const p = await newPerson(browser);
    try {
      await openReports(p.page);
      const today = await p.page.locator('#rp-to').inputValue();
      await p.page.locator('#rp-from').fill(today);
      await p.page.locator('#rp-bucket').selectOption('hour');
      await p.page.locator('#rp-form button[type="submit"]').click();
      await p.page.locator('#rp-buckets tbody tr:nth-child(24)').waitFor();
      assert.equal(await p.page.locator('#rp-buckets tbody tr').count(), 24);
      // 24 buckets, every third one labelled (at most 10 labels); the seeded conversations
      // are all in one hour (or two, when the seeding crossed an hour).
      assert.equal(await p.page.locator('#chart-conversations svg text.x-label').count(), 8);
      await screenshot(p.page, 'reports-hours');
      const bars = await p.page.locator('#chart-conversations svg rect.bar').count();
      assert.ok(bars === 1 || bars === 2, `conversation bars: ${bars}`);

      const [download] = await Promise.all([
        p.page.waitForEvent('download'),
        p.page.locator('#rp-csv').click(),
      ]);
      assert.equal(download.suggestedFilename(), `chatdesk-report-${today.replaceAll('-', '')}-hour.csv`);
      const csv = await readFile(await download.path(), 'utf8');
      const lines = csv.trimEnd().split('\r\n');
      assert.ok(lines[0].startsWith('section,key,name,start,end,conversations,'), lines[0]);
      assert.equal(lines.filter((l) => l.startsWith('bucket,')).length, 24);
      const total = lines.find((l) => l.startsWith('total,')).split(',');
      assert.equal(total[5], '3', 'conversations in total');
      assert.equal(total[6], '2', 'answered in total');
      assert.ok(lines.some((l) => l.startsWith(`agent,${aliceId},${ALICE.name},`)), csv);
      assert.ok(lines.some((l) => /^label,[^,]+,Billing,/.test(l)), csv);
      p.assertClean();
    } finally {
      await p.close();
    }
  });
});
