// Attachments in a real browser (Debian's chromium via playwright-core): the visitor pastes
// a screenshot into the widget; the agent sees its thumbnail in the console, at the size the
// attachment gives, and downloads the original, byte for byte. A refused file is told
// plainly in the widget. Every wait is for something visible on the page; no sleeps.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';

import {
  ALICE, TEST_TIMEOUT_MS,
  consoleWithToken, newPerson, openConversation, openWidget, seedStaff, startBrowser, startServer,
  visitorSays, widgetSessionId,
} from '../lib/harness.js';

/** A `w` x `h` RGB PNG (a gradient, so that every byte counts), made with node:zlib. */
function png(w, h) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      raw[row + 1 + x * 3] = x % 256;
      raw[row + 2 + x * 3] = y % 256;
      raw[row + 3 + x * 3] = (x * y) % 256;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Pastes files into `input` as a browser does (a `paste` event carrying them). */
async function paste(input, files) {
  await input.evaluate((node, list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    node.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, files.map((f) => ({ name: f.name, type: f.type, b64: f.bytes.toString('base64') })));
}

describe('attachments in the widget and the console', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let tokens;

  before(async () => {
    server = await startServer({ MAX_ATTACHMENT_BYTES: String(512 * 1024) });
    tokens = await seedStaff(server.url);
    browser = await startBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a pasted screenshot reaches the agent as a thumbnail, and downloads byte for byte', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    const agent = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'The checkout page shows an error, see:');
      const sessionId = await widgetSessionId(visitor.page, server.url);

      const shot = png(400, 300);
      await paste(w.input, [{ name: 'checkout error.png', type: 'image/png', bytes: shot }]);
      // The widget shows its own thumbnail once sent, at the size the attachment gives.
      const mine = w.list.locator('.msg-me[data-seq] img.file-thumb');
      await mine.waitFor();
      assert.equal(await mine.getAttribute('width'), '240');
      assert.equal(await mine.getAttribute('height'), '180');
      await visitor.page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await mine.elementHandle());

      await consoleWithToken(agent.page, server.url, tokens.alice);
      await openConversation(agent.page, sessionId);
      const thumb = agent.page.locator('#message-list .msg-them[data-seq] img.file-thumb');
      await thumb.waitFor();
      assert.equal(await thumb.getAttribute('width'), '240');
      assert.equal(await thumb.getAttribute('height'), '180');
      assert.equal(await thumb.getAttribute('alt'), 'checkout error.png');
      // The thumbnail (not the original) is what the console loaded and shows.
      await agent.page.waitForFunction((img) => img.complete && img.naturalWidth > 0 && img.src.startsWith('blob:'), await thumb.elementHandle());
      assert.deepEqual(await thumb.evaluate((img) => [img.naturalWidth, img.naturalHeight]), [320, 240]);
      assert.ok(agent.seen.requests.some((u) => /\/api\/attachments\/[0-9a-f]{32}\/thumbnail$/.test(u)), 'the thumbnail was fetched');
      assert.ok(!agent.seen.requests.some((u) => /\/api\/attachments\/[0-9a-f]{32}$/.test(u)), 'the original is not loaded until asked for');

      // A click downloads the original under its own name, byte for byte.
      const [download] = await Promise.all([
        agent.page.waitForEvent('download'),
        agent.page.locator('#message-list .msg-them[data-seq] .file-open').click(),
      ]);
      assert.equal(download.suggestedFilename(), 'checkout error.png');
      const got = await readFile(await download.path());
      assert.ok(got.equals(shot), `downloaded ${got.length} bytes, sent ${shot.length}`);

      visitor.assertClean();
      agent.assertClean();
    } finally {
      await visitor.close();
      await agent.close();
    }
  });

  test('a refused file is told plainly and nothing is sent', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPerson(browser);
    try {
      await visitor.page.goto(`${server.url}/widget`);
      const w = await openWidget(visitor.page);
      await visitorSays(visitor.page, 'Here is the page:');
      const page = Buffer.from('<html><body><script>alert(1)</script></body></html>');
      await paste(w.input, [{ name: 'page.png', type: 'image/png', bytes: page }]);
      await w.root.locator('.flash', { hasText: 'That type of file cannot be sent.' }).waitFor();
      await paste(w.input, [{ name: 'big.txt', type: 'text/plain', bytes: Buffer.alloc(512 * 1024 + 1, 'a') }]);
      await w.root.locator('.flash', { hasText: 'That file is too large' }).waitFor();
      assert.equal(await w.list.locator('.msg[data-seq]').count(), 1, 'only the text was sent');
      assert.equal(await w.list.locator('.msg-failed').count(), 2);
      visitor.assertClean();
    } finally {
      await visitor.close();
    }
  });
});
