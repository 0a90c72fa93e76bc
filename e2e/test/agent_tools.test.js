// Agent tools in a real browser: a canned response inserted with /code, a private note the
// visitor's widget never shows, labels put on a session and the list filtered by one, and a
// staff reply introduced by name in the widget. Every wait is for something on the page.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  ALICE, TEST_TIMEOUT_MS,
  api, consoleBubble, consoleLogin, newPerson, openConversation, openWidget,
  seedStaff, startBrowser, startServer, visitorSays, widgetSessionId,
} from '../lib/harness.js';

describe('agent tools', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let tokens;

  before(async () => {
    server = await startServer();
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
    await api(server.url, '/api/canned-responses', {
      method: 'POST', token: tokens.admin,
      body: { shortCode: 'refund', content: 'Hi {{visitor}}, {{agent}} here: refunds take 5 days.', shared: true },
    });
    for (const [name, color] of [['Billing', '#d97706'], ['VIP', '#7c3aed']]) {
      await api(server.url, '/api/labels', { method: 'POST', token: tokens.admin, body: { name, color } });
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('canned response by /code, a private note the widget never shows, the author named in the widget', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'I want my money back');
      const sessionId = await widgetSessionId(visitor.page, server.url);

      await consoleLogin(agent.page, server.url, ALICE);
      await openConversation(agent.page, sessionId);
      const code = (await agent.page.locator('#conv-code').textContent()).trim();

      // "/ref" offers the response; Enter inserts it with its placeholders filled.
      await agent.page.locator('#reply').pressSequentially('/ref', { delay: 10 });
      await agent.page.locator('#canned-menu .canned-item[data-code="refund"]').waitFor();
      await agent.page.locator('#reply').press('Enter');
      assert.equal(await agent.page.locator('#reply').inputValue(), `Hi visitor ${code}, ${ALICE.name} here: refunds take 5 days.`);
      await agent.page.locator('#canned-menu').waitFor({ state: 'hidden' });
      await agent.page.locator('#reply').press('Enter');
      await consoleBubble(agent.page, 'refunds take 5 days.', 'us').waitFor();
      await w.bubble('refunds take 5 days.', 'them').waitFor();
      // the widget introduces the agent by name
      await w.root.locator('.msg-them .author').filter({ hasText: `${ALICE.name} from Support` }).waitFor();

      // A private note: styled as one in the console, never in the widget.
      await agent.page.locator('#note-mode').check();
      await agent.page.locator('#reply').fill('NOTE: customer is on the annual plan');
      await agent.page.locator('#reply').press('Enter');
      await agent.page.locator('#message-list .msg-note[data-seq] .bubble').filter({ hasText: 'annual plan' }).waitFor();
      await agent.page.locator('#note-mode').uncheck();
      // a public reply after the note reaches the widget; the note never does
      await agent.page.locator('#reply').fill('Anything else I can do?');
      await agent.page.locator('#reply').press('Enter');
      await w.bubble('Anything else I can do?', 'them').waitFor();
      assert.equal(await w.list.getByText('annual plan').count(), 0, 'the widget shows the note');
      // nor after a reload of the visitor's page (history)
      await visitor.page.reload();
      const again = await openWidget(visitor.page);
      await again.bubble('Anything else I can do?', 'them').waitFor();
      assert.equal(await again.list.getByText('annual plan').count(), 0, 'the widget history shows the note');

      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('labels on a session, and the list filtered by one', { timeout: TEST_TIMEOUT_MS }, async () => {
    const first = await newPerson(browser);
    const second = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      const ids = [];
      for (const [p, text] of [[first, 'Invoice question'], [second, 'Just saying hi']]) {
        await p.page.goto(`${server.url}/widget`);
        await openWidget(p.page);
        await visitorSays(p.page, text);
        ids.push(await widgetSessionId(p.page, server.url));
      }
      await consoleLogin(agent.page, server.url, ALICE);
      await openConversation(agent.page, ids[0]);
      await agent.page.locator('#act-labels').click();
      await agent.page.locator('#labels-menu .menu-check').filter({ hasText: 'Billing' }).locator('input').check();
      await agent.page.locator('#detail-labels .label-chip').filter({ hasText: 'Billing' }).waitFor();
      await agent.page.keyboard.press('Escape');
      const item = (id) => agent.page.locator(`.session-item[data-session-id="${id}"]`);
      await item(ids[0]).locator('.label-chip').filter({ hasText: 'Billing' }).waitFor();

      // filter: only the labelled session stays
      await agent.page.locator('#label-filter').selectOption('Billing');
      await item(ids[1]).waitFor({ state: 'detached' });
      await item(ids[0]).waitFor();
      // and back
      await agent.page.locator('#label-filter').selectOption('');
      await item(ids[1]).waitFor();

      // stored on the server
      const sessions = await api(server.url, '/api/chats?label=billing', { token: tokens.admin });
      assert.deepEqual(sessions.map((s) => s.sessionId), [ids[0]]);
      agent.assertClean();
    } finally {
      await first.close();
      await second.close();
      await agent.close();
    }
  });
});

describe('search in the console', { timeout: 2 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    await seedStaff(server.url);
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('an agent finds an old conversation by a word and opens it', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      await openWidget(visitor.page);
      await visitorSays(visitor.page, 'The <b>espresso</b> machine leaks water');
      const sessionId = await widgetSessionId(visitor.page, server.url);

      await consoleLogin(agent.page, server.url, ALICE);
      await agent.page.locator('#search-input').fill('espresso');
      await agent.page.locator('#search-input').press('Enter');
      const hit = agent.page.locator(`#search-list .search-hit[data-session-id="${sessionId}"]`);
      await hit.waitFor();
      // the word is marked, the markup stays text
      assert.equal(await hit.locator('mark').textContent(), 'espresso');
      assert.match(await hit.locator('.search-hit-text').textContent(), /The <b>espresso<\/b> machine/);
      await hit.click();
      await consoleBubble(agent.page, 'machine leaks water', 'them').waitFor();
      await agent.page.locator('#search-close').click();
      await agent.page.locator('#session-list').waitFor();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });
});
