// The console and the widget in a real browser (Debian's chromium via playwright-core)
// against a freshly started chatdesk server. Every wait is for something visible on the
// page (a selector, a text), bounded by WAIT_MS; no sleeps.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  ADMIN, ALICE, BEN, TEST_TIMEOUT_MS,
  api, consoleBubble, consoleLogin, consoleWithToken, newPerson, openConversation, openWidget,
  recordSocketEvents, screenshot, seedStaff, sendReply, socketEvents, startBrowser, startFakeLlm,
  startHostSite, startServer, vendoredClient, visitorSays, widget, widgetSessionId,
} from '../lib/harness.js';

describe('chatdesk console and widget', { timeout: 10 * TEST_TIMEOUT_MS }, () => {
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

  test('a visitor and an agent exchange messages both ways, with typing and read receipts', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'Hi! My order #1042 has not arrived yet.');
      const sessionId = await widgetSessionId(visitor.page, server.url);

      await consoleLogin(agent.page, server.url, ALICE);
      await openConversation(agent.page, sessionId);
      await consoleBubble(agent.page, 'My order #1042 has not arrived yet.', 'them').waitFor();

      // The agent has the conversation in view: the visitor sees their message was read.
      await w.root.locator('.msg-me[data-seq] .seen').waitFor();

      // The agent types: the visitor sees it; the reply arrives and the indicator goes.
      await agent.page.locator('#reply').pressSequentially('Sorry to hear that', { delay: 10 });
      await w.typing.waitFor({ state: 'visible' });
      await agent.page.locator('#reply').fill('Sorry to hear that! Let me check the tracking for you.');
      await agent.page.locator('#reply').press('Enter');
      await w.bubble('Let me check the tracking for you.', 'them').waitFor();
      await w.typing.waitFor({ state: 'hidden' });

      // The visitor types: the agent sees it.
      await w.input.pressSequentially('Thanks', { delay: 10 });
      await agent.page.locator('#visitor-typing').waitFor({ state: 'visible' });
      await w.input.fill('Thanks, it was sent on Monday.');
      await w.input.press('Enter');
      await consoleBubble(agent.page, 'it was sent on Monday.', 'them').waitFor();
      await agent.page.locator('#visitor-typing').waitFor({ state: 'hidden' });

      // The visitor has the panel open: the agent sees "Seen" under their reply.
      await agent.page.locator('#message-list .msg-us[data-seq] .seen').waitFor();

      // Own messages come back once (by seq), none left pending.
      assert.equal(await agent.page.locator('#message-list .msg[data-seq]').count(), 3);
      assert.equal(await agent.page.locator('#message-list .msg-pending').count(), 0);
      assert.equal(await w.list.locator('.msg[data-seq]').count(), 3);

      // The details header shows where the visitor is.
      assert.equal(await agent.page.locator('#detail-ip').textContent(), '127.0.0.1');
      assert.match(await agent.page.locator('#detail-ua').textContent(), /Chrome/);
      // The socket.io connection upgraded to a WebSocket despite the page's strict CSP.
      assert.ok(agent.seen.websockets.some((u) => u.includes('/socket.io/')), 'console used a WebSocket');
      assert.ok(visitor.seen.websockets.some((u) => u.includes('/socket.io/')), 'widget used a WebSocket');

      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('the agent claims, transfers and resolves; the visitor sees every status change', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const alice = await newPerson(browser);
    const ben = await newPerson(browser);
    try {
      await consoleWithToken(ben.page, server.url, tokens.ben);
      await consoleWithToken(alice.page, server.url, tokens.alice);
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'Can someone help me with billing?');
      const sessionId = await widgetSessionId(visitor.page, server.url);

      // The visitor asks for a human: the session enters the queue.
      await w.human.click();
      await w.root.locator('.status[data-status="waiting"]').waitFor();
      await w.root.locator('.status-text', { hasText: '#1 in the queue' }).waitFor();
      await alice.page.locator('.tab[data-filter="waiting"]').click();
      await alice.page.locator(`.session-item[data-session-id="${sessionId}"][data-status="waiting"]`).waitFor();
      await openConversation(alice.page, sessionId);

      await alice.page.locator('#act-claim').click();
      await alice.page.locator('#conv-status', { hasText: 'Assigned' }).waitFor();
      await alice.page.locator('#conv-assignee', { hasText: 'Assigned to you' }).waitFor();
      await w.root.locator('.status[data-status="assigned"]').waitFor();
      await w.root.locator('.status-text', { hasText: `${ALICE.name} is here to help` }).waitFor();
      await w.root.locator('.note', { hasText: `${ALICE.name} joined the conversation` }).waitFor();

      // Transfer to Ben (an agent picks among the agents online).
      await alice.page.locator('#act-transfer').click();
      await alice.page.locator('#transfer-menu .menu-item', { hasText: BEN.name }).click();
      await alice.page.locator('#conv-assignee', { hasText: `Assigned to ${BEN.name}` }).waitFor();
      await w.root.locator('.note', { hasText: `${BEN.name} joined the conversation` }).waitFor();
      await ben.page.locator('.tab[data-filter="mine"]').click();
      await openConversation(ben.page, sessionId);
      await ben.page.locator('#conv-assignee', { hasText: 'Assigned to you' }).waitFor();

      await ben.page.locator('#act-resolve').click();
      await ben.page.locator('#conv-status', { hasText: 'Resolved' }).waitFor();
      await ben.page.locator('#act-reopen').waitFor();
      await w.root.locator('.status[data-status="resolved"]').waitFor();
      await w.root.locator('.note', { hasText: 'marked as resolved' }).waitFor();
      await alice.page.locator('#conv-status', { hasText: 'Resolved' }).waitFor();

      // Writing again reopens it, back to its assignee.
      await visitorSays(visitor.page, 'One more question, sorry!');
      await w.root.locator('.status[data-status="assigned"]').waitFor();
      await ben.page.locator('#conv-status', { hasText: 'Assigned' }).waitFor();
      await consoleBubble(ben.page, 'One more question, sorry!', 'them').waitFor();

      visitor.assertClean();
      alice.assertClean();
      ben.assertClean();
    } finally {
      await visitor.close();
      await alice.close();
      await ben.close();
    }
  });

  test('markup in messages is shown as text and runs nothing, on an embedding site and in the console', { timeout: TEST_TIMEOUT_MS }, async () => {
    // A third-party site (another origin, no CSP of its own) embeds the widget with one tag.
    const site = await startHostSite(`<!doctype html><html><head><title>Shop</title>
      <script src="${server.url}/widget.js" data-title="Shop help" data-color="#0f766e" defer></script>
      </head><body><h1>A shop</h1></body></html>`);
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(site.url);
      const w = await openWidget(visitor.page);
      assert.equal(await w.root.locator('.title').textContent(), 'Shop help');
      // Our socket.io client left no global behind on the host page.
      assert.equal(await visitor.page.evaluate(() => typeof window.io), 'undefined');

      const attack = '<img src=x onerror=alert(1)>';
      await visitorSays(visitor.page, attack);
      const sessionId = await widgetSessionId(visitor.page, server.url);

      await consoleWithToken(agent.page, server.url, tokens.alice);
      await openConversation(agent.page, sessionId);
      const inConsole = consoleBubble(agent.page, attack, 'them');
      await inConsole.waitFor();
      assert.equal(await inConsole.textContent(), attack);
      const reply = '<b>bold</b><script>alert(2)</script>';
      await sendReply(agent.page, reply);

      const inWidget = w.bubble(reply, 'them');
      await inWidget.waitFor();
      assert.equal(await inWidget.textContent(), reply);
      assert.equal(await w.bubble(attack, 'me').textContent(), attack);

      // No element was made from the text, no image was requested, no dialog opened.
      assert.equal(await w.list.locator('img, b, script').count(), 0);
      assert.equal(await agent.page.locator('#message-list img, #message-list b, #message-list script').count(), 0);
      for (const p of [visitor, agent]) {
        assert.ok(!p.seen.requests.some((u) => new URL(u).pathname === '/x'), 'no request for the injected image');
      }
      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
      await site.stop();
    }
  });

  test('reloading the widget page resumes the same conversation', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      let w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'Do you ship to Norway?');
      const sessionId = await widgetSessionId(visitor.page, server.url);
      const code = await w.code.textContent();

      // The agent finds the conversation by the code the visitor reads out.
      await consoleWithToken(agent.page, server.url, tokens.alice);
      const spoken = code.replace('Your code: ', '').toLowerCase();
      assert.match(spoken, /^[a-z0-9]{6}$/);
      await agent.page.locator('#code-input').fill(spoken);
      await agent.page.locator('#code-input').press('Enter');
      await consoleBubble(agent.page, 'Do you ship to Norway?', 'them').waitFor();
      assert.equal((await agent.page.locator('#conv-code').textContent()).toLowerCase(), spoken);
      await sendReply(agent.page, 'Yes, we ship to Norway within 5 days.');
      await w.bubble('we ship to Norway', 'them').waitFor();

      await visitor.page.reload();
      w = widget(visitor.page);
      // A returning visitor with unread agent replies would see a badge; this one read them.
      w = await openWidget(visitor.page);
      await w.bubble('Do you ship to Norway?', 'me').waitFor();
      await w.bubble('we ship to Norway within 5 days.', 'them').waitFor();
      assert.equal(await widgetSessionId(visitor.page, server.url), sessionId);
      assert.equal(await w.code.textContent(), code);
      assert.equal(await w.list.locator('.msg[data-seq]').count(), 2);

      // The conversation goes on in the same session.
      await visitorSays(visitor.page, 'Great, thanks!');
      await consoleBubble(agent.page, 'Great, thanks!', 'them').waitFor();
      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('scrolling to the top of a long conversation loads older messages, without gaps or doubles', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      await openWidget(visitor.page);
      await visitorSays(visitor.page, 'Message number one');
      const sessionId = await widgetSessionId(visitor.page, server.url);
      // The panel is closed while the agent writes (so the visitor sends no read receipts).
      await widget(visitor.page).root.locator('.minimise').click();
      await widget(visitor.page).panel.waitFor({ state: 'hidden' });
      // Seventy agent messages through REST. A retry carries the same clientMsgId, so it can
      // never store a message twice: the server sometimes answers a send made while another
      // write commits with 500 "database is locked" (SQLite; reported, not what this test is about).
      for (let i = 2; i <= 71; i += 1) {
        const send = () => api(server.url, `/api/chats/${sessionId}/messages`, {
          method: 'POST', token: tokens.alice, body: { content: `Update ${i}`, clientMsgId: `bulk-${i}` },
        });
        await send().catch((e) => (/HTTP 500/.test(e.message) ? send() : Promise.reject(e)));
      }

      await consoleWithToken(agent.page, server.url, tokens.alice);
      await openConversation(agent.page, sessionId);
      await agent.page.locator('#message-list [data-seq="71"]').waitFor();
      assert.equal(await agent.page.locator('#message-list .msg[data-seq]').count(), 50);
      await agent.page.locator('#messages').evaluate((box) => { box.scrollTop = 0; });
      await agent.page.locator('#message-list [data-seq="1"]').waitFor();
      assert.equal(await agent.page.locator('#message-list .msg[data-seq]').count(), 71);

      await visitor.page.reload();
      const w = await openWidget(visitor.page);
      await w.list.locator('[data-seq="71"]').waitFor();
      await w.root.locator('.body').evaluate((box) => { box.scrollTop = 0; });
      await w.list.locator('[data-seq="1"]').waitFor();
      const seqs = await w.list.locator('.msg[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
      assert.deepEqual(seqs, Array.from({ length: 71 }, (_, i) => i + 1));
      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('logging out revokes the token and returns to the sign-in form', { timeout: TEST_TIMEOUT_MS }, async () => {
    const admin = await newPerson(browser);
    try {
      await consoleLogin(admin.page, server.url, ADMIN);
      await admin.page.locator('#me-name', { hasText: ADMIN.name }).waitFor();
      const token = await admin.page.evaluate(() => localStorage.getItem('chatdesk.console.token'));
      await admin.page.locator('#logout').click();
      await admin.page.locator('#login-form').waitFor();
      assert.equal(await admin.page.evaluate(() => localStorage.getItem('chatdesk.console.token')), null);
      await assert.rejects(api(server.url, '/api/auth/me', { token }), /HTTP 401/);

      // A wrong password is answered on the form.
      await admin.page.locator('#login-email').fill(ADMIN.email);
      await admin.page.locator('#login-password').fill('not the password');
      await admin.page.locator('#login-submit').click();
      await admin.page.locator('#login-error', { hasText: /wrong/i }).waitFor();
      await screenshot(admin.page, 'console-login');
      admin.assertClean();
    } finally {
      await admin.close();
    }
  });

  test('pages and assets are embedded, typed, cached, and the pages carry a strict CSP', async () => {
    for (const [p, type] of [
      ['/console', 'text/html'], ['/widget', 'text/html'], ['/widget.js', 'text/javascript'],
      ['/static/console.js', 'text/javascript'], ['/static/console.css', 'text/css'],
      ['/static/widget.css', 'text/css'], ['/static/socket.io.min.js', 'text/javascript'],
    ]) {
      const res = await fetch(server.url + p);
      assert.equal(res.status, 200, p);
      assert.ok(res.headers.get('content-type').startsWith(type), `${p}: ${res.headers.get('content-type')}`);
      assert.ok(res.headers.get('cache-control'), `${p} has Cache-Control`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      const etag = res.headers.get('etag');
      const again = await fetch(server.url + p, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304, `${p} revalidates`);
      if (type === 'text/html') {
        const csp = res.headers.get('content-security-policy');
        assert.match(csp, /script-src 'self'(;|$)/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
        assert.doesNotMatch(await res.text(), /<script(?![^>]*\ssrc=)/, `${p}: no inline script`);
      }
      if (p === '/static/socket.io.min.js') {
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(vendoredClient()), 'served byte for byte');
      }
    }
  });
});

describe('state after a reload, and actions that follow ownership', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let tokens;

  // A server of its own: the queue holds only this suite's visitors.
  before(async () => {
    server = await startServer();
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** The widget's status line, read once, as soon as the widget is ready after a reload. */
  async function statusRightAfterReload(page) {
    await page.reload();
    const w = await openWidget(page);
    return w.root.locator('.status-text').textContent();
  }

  test('after a reload the widget shows at once who is helping, or the place in the queue', { timeout: TEST_TIMEOUT_MS }, async () => {
    const helped = await newPerson(browser);
    const queued = await newPerson(browser);
    const ben = await newPerson(browser);
    try {
      const sessions = [];
      for (const [p, text] of [[helped, 'My parcel is stuck in customs.'], [queued, 'How do I change my address?']]) {
        await p.page.goto(`${server.url}/widget`);
        const w = await openWidget(p.page);
        await visitorSays(p.page, text);
        await w.human.click();
        await w.root.locator('.status[data-status="waiting"]').waitFor();
        sessions.push(await widgetSessionId(p.page, server.url));
      }
      const hw = widget(helped.page);
      const qw = widget(queued.page);
      await qw.root.locator('.status-text', { hasText: '#2 in the queue' }).waitFor();

      await consoleWithToken(ben.page, server.url, tokens.ben);
      await openConversation(ben.page, sessions[0]);
      await ben.page.locator('#act-claim').click();
      await ben.page.locator('#conv-assignee', { hasText: 'Assigned to you' }).waitFor();
      await hw.root.locator('.status-text', { hasText: `${BEN.name} is here to help` }).waitFor();
      await hw.root.locator('.msg-me[data-seq] .seen').waitFor();
      await qw.root.locator('.status-text', { hasText: '#1 in the queue' }).waitFor();

      // Nothing is announced during a reload: all the widget knows comes from init_session.
      assert.equal(await statusRightAfterReload(helped.page), `${BEN.name} is here to help`);
      assert.equal(await hw.root.locator('.status').getAttribute('data-status'), 'assigned');
      assert.equal(await hw.root.locator('.msg-me[data-seq] .seen').count(), 1, 'read receipt kept');
      assert.match(await hw.code.textContent(), /^Your code: [A-Z0-9]{6}$/);
      assert.equal(await statusRightAfterReload(queued.page), 'Waiting for an agent · you are #1 in the queue');
      assert.equal(await qw.root.locator('.status').getAttribute('data-status'), 'waiting');

      // The agent's typing is announced by name too.
      await ben.page.locator('#reply').pressSequentially('Let me look', { delay: 10 });
      await hw.typing.filter({ hasText: `${BEN.name} is typing` }).waitFor();
      helped.assertClean();
      queued.assertClean();
      ben.assertClean();
    } finally {
      await helped.close();
      await queued.close();
      await ben.close();
    }
  });

  test('the console offers only what each one can do: no Claim on a colleague\'s session, an admin takes it over by name', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const alice = await newPerson(browser);
    const ben = await newPerson(browser);
    const admin = await newPerson(browser);
    const shown = async (page) => {
      const ids = ['act-claim', 'act-takeover', 'act-release', 'act-transfer', 'act-resolve', 'act-reopen'];
      const visible = [];
      for (const id of ids) if (await page.locator(`#${id}`).isVisible()) visible.push(id);
      return visible;
    };
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'I was charged twice this month.');
      await w.human.click();
      await w.root.locator('.status[data-status="waiting"]').waitFor();
      const sessionId = await widgetSessionId(visitor.page, server.url);

      // Nobody owns it: an agent can claim it, and nothing else.
      await consoleWithToken(ben.page, server.url, tokens.ben);
      await openConversation(ben.page, sessionId);
      await ben.page.locator('#conv-assignee', { hasText: 'Unassigned' }).waitFor();
      assert.deepEqual(await shown(ben.page), ['act-claim']);

      await consoleWithToken(alice.page, server.url, tokens.alice);
      await openConversation(alice.page, sessionId);
      await alice.page.locator('#act-claim').click();
      await alice.page.locator('#conv-assignee', { hasText: 'Assigned to you' }).waitFor();
      assert.deepEqual(await shown(alice.page), ['act-release', 'act-transfer', 'act-resolve']);

      // Ben, who has it open, sees whose it is now, and no action at all.
      await ben.page.locator('#conv-assignee', { hasText: `Assigned to ${ALICE.name}` }).waitFor();
      assert.deepEqual(await shown(ben.page), []);

      // An admin sees who owns it and a take-over that names them.
      await consoleWithToken(admin.page, server.url, tokens.admin);
      await openConversation(admin.page, sessionId);
      await admin.page.locator('#conv-assignee', { hasText: `Assigned to ${ALICE.name}` }).waitFor();
      assert.deepEqual(await shown(admin.page), ['act-takeover']);
      assert.equal(await admin.page.locator('#act-takeover').textContent(), `Take over from ${ALICE.name}`);
      await admin.page.locator('#act-takeover').click();
      await admin.page.locator('#conv-assignee', { hasText: 'Assigned to you' }).waitFor();
      assert.deepEqual(await shown(admin.page), ['act-release', 'act-transfer', 'act-resolve']);
      await w.root.locator('.status-text', { hasText: `${ADMIN.name} is here to help` }).waitFor();
      await alice.page.locator('#conv-assignee', { hasText: `Assigned to ${ADMIN.name}` }).waitFor();
      assert.deepEqual(await shown(alice.page), []);
      for (const p of [visitor, alice, ben, admin]) p.assertClean();
    } finally {
      for (const p of [visitor, alice, ben, admin]) await p.close();
    }
  });
});

describe('each event reaches a console once', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let tokens;

  // A server of its own: no other agent comes or goes while the events are counted.
  before(async () => {
    server = await startServer();
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a second agent signing in: each console receives one presence; visitor_presence once with the session open', { timeout: TEST_TIMEOUT_MS }, async () => {
    const alice = await newPerson(browser);
    const ben = await newPerson(browser);
    const people = [];
    const visit = async () => {
      const p = await newPerson(browser);
      people.push(p);
      await p.page.goto(`${server.url}/widget`);
      await openWidget(p.page);
      await visitorSays(p.page, 'Hello there');
      return { person: p, sessionId: await widgetSessionId(p.page, server.url) };
    };
    // A later event every console hears (session_created): what came before it has arrived.
    const inBothLists = (sessionId) => Promise.all([alice, ben].map((c) => c.page
      .locator(`.session-item[data-session-id="${sessionId}"]`).waitFor()));
    try {
      await recordSocketEvents(alice.page);
      await recordSocketEvents(ben.page);
      await consoleWithToken(alice.page, server.url, tokens.alice);
      await alice.page.locator('.online-label', { hasText: '1 online' }).waitFor();
      await consoleLogin(ben.page, server.url, BEN);
      for (const c of [alice, ben]) await c.page.locator('.online-label', { hasText: '2 online' }).waitFor();
      const first = await visit();
      await inBothLists(first.sessionId);

      const names = (p) => p.agents.map((a) => a.name).sort();
      const bens = await socketEvents(ben.page, 'presence');
      assert.equal(bens.length, 1, `Ben's console, signing in: ${JSON.stringify(bens)}`);
      assert.deepEqual(names(bens[0]), [ALICE.name, BEN.name]);
      const alices = await socketEvents(alice.page, 'presence');
      assert.equal(alices.length, 2, `Alice's console: one for her own sign-in, one for Ben's: ${JSON.stringify(alices)}`);
      assert.deepEqual(alices.map(names), [[ALICE.name], [ALICE.name, BEN.name]]);
      assert.equal((await socketEvents(alice.page, 'session_created')).length, 1);

      // Alice has the conversation open (she is in its room too) when the visitor leaves.
      await openConversation(alice.page, first.sessionId);
      await alice.page.locator('#conv-online.online').waitFor();
      people.splice(people.indexOf(first.person), 1);
      await first.person.close();
      await alice.page.locator('#conv-online:not(.online)').waitFor();
      await inBothLists((await visit()).sessionId);
      for (const c of [alice, ben]) {
        const about = (await socketEvents(c.page, 'visitor_presence')).filter((p) => p.sessionId === first.sessionId);
        assert.deepEqual(about.map((p) => p.online), [true, false], JSON.stringify(about));
      }
      alice.assertClean();
      ben.assertClean();
    } finally {
      await alice.close();
      await ben.close();
      for (const p of people) await p.close();
    }
  });
});

describe('screenshots', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let tokens;

  // A server of its own, so the console shows only this scene.
  before(async () => {
    server = await startServer();
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a busy console and the widget, on a desktop and on a phone', { timeout: TEST_TIMEOUT_MS }, async () => {
    const agent = await newPerson(browser, { viewport: { width: 1440, height: 900 } });
    const teammate = await newPerson(browser);
    const people = [];
    try {
      await consoleWithToken(teammate.page, server.url, tokens.ben);
      await consoleWithToken(agent.page, server.url, tokens.alice);
      const scenes = [
        { says: ['Do you have an API for exporting invoices?'] },
        { says: ['Hello! Is the Pro plan billed monthly or yearly?'], human: true },
        { says: ['Hi, I cannot log in since this morning 😕', 'It says my password is wrong but I just reset it.'] },
      ];
      for (const scene of scenes) {
        const p = await newPerson(browser);
        people.push(p);
        await p.page.goto(`${server.url}/widget`);
        const w = await openWidget(p.page);
        for (const line of scene.says) await visitorSays(p.page, line);
        if (scene.human) {
          await w.human.click();
          await w.root.locator('.status[data-status="waiting"]').waitFor();
        }
        scene.sessionId = await widgetSessionId(p.page, server.url);
        await agent.page.locator(`.session-item[data-session-id="${scene.sessionId}"] .session-preview`, { hasText: scene.says.at(-1).slice(0, 20) }).waitFor();
      }
      const main = scenes[2];
      const vw = widget(people[2].page);
      await openConversation(agent.page, main.sessionId);
      await agent.page.locator('#act-claim').click();
      await agent.page.locator('#conv-assignee', { hasText: 'Assigned to you' }).waitFor();
      await sendReply(agent.page, 'Sorry about that! I can see two resets on your account: the second one cancelled the first link.');
      await vw.bubble('cancelled the first link', 'them').waitFor();
      await vw.input.fill('Oh I see. So I should use the newest email?');
      await vw.input.press('Enter');
      await consoleBubble(agent.page, 'use the newest email?', 'them').waitFor();
      await agent.page.locator('#reply').pressSequentially('Exactly, the one from 10:42', { delay: 5 });
      await vw.typing.waitFor({ state: 'visible' });
      await agent.page.locator('#message-list .msg-us[data-seq] .seen').waitFor();
      await screenshot(agent.page, 'console');
      await screenshot(people[2].page, 'widget');

      const phone = await newPerson(browser, { viewport: { width: 390, height: 780 } });
      people.push(phone);
      await phone.page.goto(`${server.url}/widget`);
      await openWidget(phone.page);
      await visitorSays(phone.page, 'Hi! Where can I find my invoices?');
      await screenshot(phone.page, 'widget-mobile');
      for (const p of [agent, teammate, ...people]) p.assertClean();
    } finally {
      await agent.close();
      await teammate.close();
      for (const p of people) await p.close();
    }
  });
});

describe('AI replies', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  let llm;
  let server;
  let browser;
  let tokens;

  before(async () => {
    llm = await startFakeLlm();
    server = await startServer({ AI_BASE_URL: llm.baseUrl, AI_API_KEY: 'e2e-key', AI_MAX_RETRIES: '0' });
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await llm?.stop();
  });

  test('stream token by token into a provisional bubble, then become the stored message', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      const asked = llm.nextRequest();
      await visitorSays(visitor.page, 'What are your opening hours?');
      const sessionId = await widgetSessionId(visitor.page, server.url);
      const reply = await asked;
      assert.equal(reply.body.messages.at(-1).content, 'What are your opening hours?');

      await consoleWithToken(agent.page, server.url, tokens.alice);
      await openConversation(agent.page, sessionId);

      const streaming = w.root.locator('.msg-streaming .bubble');
      reply.send('We are open ');
      await streaming.filter({ hasText: /^We are open $/ }).waitFor();
      reply.send('from 9 to 5');
      await streaming.filter({ hasText: /^We are open from 9 to 5$/ }).waitFor();
      assert.equal(await w.root.locator('.msg-streaming .caret').textContent(), '', 'tokens go before the caret');
      await agent.page.locator('#message-list .msg-streaming .bubble', { hasText: 'We are open from 9 to 5' }).waitFor();
      assert.equal(await w.list.locator('.msg-ai[data-seq]').count(), 0, 'still provisional');

      reply.send(', Monday to Friday.');
      reply.end();
      const final = 'We are open from 9 to 5, Monday to Friday.';
      await w.root.locator('.msg-ai[data-seq="2"] .bubble', { hasText: final }).waitFor();
      await streaming.waitFor({ state: 'detached' });
      await agent.page.locator('#message-list .msg-ai[data-seq="2"] .bubble', { hasText: final }).waitFor();
      assert.equal(await agent.page.locator('#message-list .msg-streaming').count(), 0);
      assert.equal(await w.list.locator('.msg[data-seq]').count(), 2);
      await screenshot(visitor.page, 'widget-ai');
      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('the console switches the assistant off and on for one conversation', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      const first = llm.nextRequest();
      await visitorSays(visitor.page, 'Is anyone there?');
      const sessionId = await widgetSessionId(visitor.page, server.url);
      const answer = await first;
      answer.send('Yes, the assistant is.');
      answer.end();
      await w.root.locator('.msg-ai[data-seq] .bubble', { hasText: 'Yes, the assistant is.' }).waitFor();

      await consoleWithToken(agent.page, server.url, tokens.alice);
      await openConversation(agent.page, sessionId);
      const sw = agent.page.locator('#act-ai');
      await sw.filter({ hasText: 'Assistant: auto' }).waitFor();
      assert.equal(await sw.getAttribute('aria-pressed'), 'true');
      await sw.click();
      await sw.filter({ hasText: 'Assistant: off' }).waitFor();
      assert.equal(await sw.getAttribute('aria-pressed'), 'false');

      // Off: the visitor's next message reaches the agent, and the model is not asked.
      const asked = llm.nextRequest();
      await visitorSays(visitor.page, 'Only a human, please.');
      await consoleBubble(agent.page, 'Only a human, please.', 'them').waitFor();
      const quiet = await Promise.race([asked.then(() => 'asked'), new Promise((r) => setTimeout(() => r('quiet'), 1500))]);
      assert.equal(quiet, 'quiet', 'the assistant was asked while switched off');

      // On again: the next message is answered.
      await sw.click();
      await sw.filter({ hasText: 'Assistant: on' }).waitFor();
      await visitorSays(visitor.page, 'Actually, the assistant is fine.');
      const reply = await asked;
      assert.equal(reply.body.messages.at(-1).content, 'Actually, the assistant is fine.');
      reply.send('Happy to help.');
      reply.end();
      await w.root.locator('.msg-ai[data-seq] .bubble', { hasText: 'Happy to help.' }).waitFor();
      await agent.page.locator('#message-list .msg-ai .bubble', { hasText: 'Happy to help.' }).waitFor();
      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });
});

describe('a server restart', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
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

  test('both sides reconnect by themselves and show every message exactly once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'Before the restart');
      const sessionId = await widgetSessionId(visitor.page, server.url);
      await consoleWithToken(agent.page, server.url, tokens.alice);
      await openConversation(agent.page, sessionId);
      await consoleBubble(agent.page, 'Before the restart', 'them').waitFor();

      await server.restart();
      // Written while the browsers may still be away: they must catch up on their own.
      for (const text of ['Missed one', 'Missed two', 'Missed three']) {
        await api(server.url, `/api/chats/${sessionId}/messages`, {
          method: 'POST', token: tokens.alice, body: { content: text, clientMsgId: text },
        });
      }
      await agent.page.locator('#conn-state[data-state="online"]').waitFor({ timeout: 20_000 });
      await w.root.locator('.status:not([data-status="connecting"])').waitFor({ timeout: 20_000 });
      await w.bubble('Missed three', 'them').waitFor();
      await consoleBubble(agent.page, 'Missed three', 'us').waitFor();

      // And the conversation goes on, live, both ways.
      await sendReply(agent.page, 'Back after the restart');
      await w.bubble('Back after the restart', 'them').waitFor();
      await visitorSays(visitor.page, 'Welcome back');
      await consoleBubble(agent.page, 'Welcome back', 'them').waitFor();

      const expected = [1, 2, 3, 4, 5, 6];
      const seqsIn = (loc) => loc.evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
      assert.deepEqual(await seqsIn(w.list.locator('.msg[data-seq]')), expected);
      assert.deepEqual(await seqsIn(agent.page.locator('#message-list .msg[data-seq]')), expected);
      assert.equal(await widgetSessionId(visitor.page, server.url), sessionId);
      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });
});
