// Satisfaction ratings, the offline form and business hours in a real browser: the widget
// asks for a rating once an agent resolves (in the console or over REST), the rating reaches
// the console; with nobody online the widget offers the offline form, whose address staff
// see in the queue; outside business hours it says when the desk opens again, and admins
// set the hours in the console. Every wait is for something visible, bounded by WAIT_MS.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  ALICE, TEST_TIMEOUT_MS,
  api, consoleBubble, consoleLogin, consoleWithToken, newPerson, openConversation, openWidget,
  screenshot, seedStaff, startBrowser, startServer, visitorSays, widget, widgetSessionId,
} from '../lib/harness.js';

describe('CSAT, offline form and business hours', { timeout: 8 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let tokens;

  before(async () => {
    server = await startServer();
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the agent resolves in the console; the visitor rates; the console shows the rating', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'My parcel is late, can someone help?');
      const sessionId = await widgetSessionId(visitor.page, server.url);

      await consoleLogin(agent.page, server.url, ALICE);
      await openConversation(agent.page, sessionId);
      await agent.page.locator('#act-claim').click();
      await agent.page.locator('#act-resolve').waitFor();
      await agent.page.locator('#act-resolve').click();

      const card = w.root.locator('.card .rating');
      await card.waitFor();
      await card.locator('.card-title', { hasText: 'How would you rate this conversation?' }).waitFor();
      assert.equal(await card.locator('.star').count(), 5);
      assert.equal(await card.locator('.card-send').isDisabled(), true, 'nothing to send before a star is chosen');
      await card.locator('.star[data-score="4"]').click();
      assert.equal(await card.locator('.star.on').count(), 4);
      await card.locator('.comment').fill('Quick and friendly');
      await screenshot(visitor.page, 'csat-widget-rating');
      await card.locator('.card-send').click();
      await w.root.locator('.card .thanks', { hasText: 'Thanks for your feedback!' }).waitFor();

      // The console shows it, live, in the details and in the list.
      await agent.page.locator('#detail-rating', { hasText: '4/5' }).waitFor();
      assert.match(await agent.page.locator('#detail-rating').textContent(), /Quick and friendly/);
      await agent.page.locator('.tab[data-filter="resolved"]').click();
      await agent.page.locator(`.session-item[data-session-id="${sessionId}"] .rating-chip`, { hasText: '★ 4' }).waitFor();
      await screenshot(agent.page, 'csat-console-rating');

      // Back on the page later: a rated resolution is not asked again.
      await visitor.page.reload();
      const again = await openWidget(visitor.page);
      await again.root.locator('.status[data-status="resolved"]').waitFor();
      await again.bubble('My parcel is late', 'me').waitFor();
      assert.equal(await again.root.locator('.card .rating').count(), 0, 'asked twice');

      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('resolved over REST, the widget asks, and asks again after a reload until rated', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'Where can I change my address?');
      const sessionId = await widgetSessionId(visitor.page, server.url);
      await api(server.url, `/api/chats/${sessionId}`, { method: 'PATCH', token: tokens.admin, body: { status: 'resolved' } });
      await w.root.locator('.card .rating').waitFor();

      await visitor.page.reload();
      const again = await openWidget(visitor.page);
      const card = again.root.locator('.card .rating');
      await card.waitFor();
      await card.locator('.star[data-score="2"]').click();
      await card.locator('.card-send').click();
      await again.root.locator('.card .thanks').waitFor();

      const ratings = await api(server.url, '/api/ratings', { token: tokens.alice });
      const mine = ratings.filter((r) => r.sessionId === sessionId);
      assert.equal(mine.length, 1);
      assert.equal(mine[0].rating, 2);
      assert.equal(mine[0].comment, undefined);
      visitor.assertClean();
    } finally {
      await visitor.close();
    }
  });

  test('with nobody online the widget offers the offline form; the queue shows the address', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      const form = w.root.locator('.card .offline');
      await form.locator('.card-title', { hasText: 'Nobody is online right now.' }).waitFor();
      await w.status.filter({ hasText: 'We are offline' }).waitFor();
      await screenshot(visitor.page, 'offline-form');

      await form.locator('.email').fill('not an address');
      await form.locator('.card-send').click();
      await form.locator('.card-error', { hasText: 'valid email address' }).waitFor();

      await form.locator('.email').fill('dana@example.com');
      await form.locator('.comment').fill('Please email me the invoice for order 77.');
      await form.locator('.card-send').click();
      await w.root.locator('.card .thanks', { hasText: 'We will reply to dana@example.com.' }).waitFor();
      await w.bubble('invoice for order 77', 'me').waitFor();
      await w.root.locator('.status[data-status="waiting"]').waitFor();
      await screenshot(visitor.page, 'offline-form-sent');
      const sessionId = await widgetSessionId(visitor.page, server.url);

      // A reload, still with nobody online: the widget remembers the address was left.
      await visitor.page.reload();
      const back = await openWidget(visitor.page);
      await back.root.locator('.card .thanks', { hasText: 'We will reply by email.' }).waitFor();
      await back.bubble('invoice for order 77', 'me').waitFor();
      assert.equal(await back.root.locator('.card .email').count(), 0, 'the form asked again after a reload');

      // An agent comes online: the queue shows who to write to.
      await consoleLogin(agent.page, server.url, ALICE);
      await agent.page.locator('.tab[data-filter="waiting"]').click();
      const item = agent.page.locator(`.session-item[data-session-id="${sessionId}"]`);
      await item.locator('.contact-chip', { hasText: 'dana@example.com' }).waitFor();
      await openConversation(agent.page, sessionId);
      await agent.page.locator('#detail-contact', { hasText: 'dana@example.com' }).waitFor();
      await consoleBubble(agent.page, 'invoice for order 77', 'them').waitFor();
      // The visitor keeps the thanks, not the form, now that someone is online.
      await back.status.filter({ hasText: 'Waiting for an agent' }).waitFor();
      await back.root.locator('.card .thanks').waitFor();
      assert.equal(await back.root.locator('.card .email').count(), 0);

      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('outside business hours the widget says when we are back; admins set the hours in the console', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const admin = await newPerson(browser);
    try {
      // Open only three days from now (UTC), all day: closed today.
      const day = new Date(Date.now() + 3 * 86_400_000);
      const key = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][day.getUTCDay()];
      await api(server.url, '/api/settings/business-hours', {
        method: 'PUT', token: tokens.admin,
        body: { enabled: true, timezone: 'UTC', days: { [key]: [['00:00', '24:00']] } },
      });
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      const title = w.root.locator('.card .offline .card-title');
      await title.filter({ hasText: 'We are closed right now. We are back at' }).waitFor();
      const weekday = day.toLocaleString('en-GB', { weekday: 'long', timeZone: 'UTC' });
      assert.match(await title.textContent(), new RegExp(`${weekday}.*00:00`));

      // The admin sees the schedule in the console and switches business hours off.
      await consoleWithToken(admin.page, server.url, tokens.admin);
      await admin.page.locator('#hours-open').click();
      await admin.page.locator('#hours-dialog[open]').waitFor();
      assert.equal(await admin.page.locator('#hours-enabled').isChecked(), true);
      assert.equal(await admin.page.locator('#hours-tz').inputValue(), 'UTC');
      assert.equal(await admin.page.locator(`#hours-${key}`).inputValue(), '00:00-24:00');
      await admin.page.locator('#hours-now', { hasText: 'Closed now' }).waitFor();
      // A bad interval is refused with the server's reason.
      await admin.page.locator('#hours-mon').fill('17:00-09:00');
      await admin.page.locator('#hours-save').click();
      await admin.page.locator('#hours-error', { hasText: 'before' }).waitFor();
      await admin.page.locator('#hours-mon').fill('');
      await admin.page.locator('#hours-enabled').uncheck();
      await admin.page.locator('#hours-save').click();
      await admin.page.locator('#hours-dialog').waitFor({ state: 'hidden' });
      const saved = await api(server.url, '/api/settings/business-hours', { token: tokens.alice });
      assert.equal(saved.enabled, false);

      // The admin's console counts as someone online: the widget drops the offline form.
      await w.root.locator('.card').waitFor({ state: 'hidden' });
      await w.status.filter({ hasText: 'We are online' }).waitFor();

      // Agents do not get the settings button.
      const agentView = await newPerson(browser);
      try {
        await consoleWithToken(agentView.page, server.url, tokens.alice);
        assert.equal(await agentView.page.locator('#hours-open').isVisible(), false);
      } finally {
        await agentView.close();
      }
      visitor.assertClean();
      admin.assertClean();
    } finally {
      await visitor.close();
      await admin.close();
    }
  });
});
