#!/usr/bin/env node
// chatdesk seed-flow client: plays the seed app's test-socket.js flow against a server.
//
//   node test-client/index.js --url http://localhost:4000 [--token JWT] [--timeout 10000] [--verbose]
//
// A visitor socket creates a session (init_session {sessionId:null}); an admin socket joins the
// same room with init_session {sessionId}; the visitor sends user_message, the admin answers
// with admin_message. Both sockets print every `message` they receive. Exit 0 once both sockets
// saw both messages; exit 1 on any error or on timeout; exit 2 on bad arguments.

import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';

const USAGE = `usage: node index.js [--url URL] [--token JWT] [--timeout MS] [--verbose]
  --url      server URL (default: $CHATDESK_URL or http://localhost:4000)
  --token    staff token for the admin socket, sent as auth {token} (default: $CHATDESK_TOKEN)
  --timeout  overall time limit in ms (default 10000)
  --verbose  also print each message object in full`;

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      timeout: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  console.error(`error: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const url = (args.url || process.env.CHATDESK_URL || 'http://localhost:4000').replace(/\/+$/, '');
const token = args.token || process.env.CHATDESK_TOKEN || undefined;
const timeoutMs = args.timeout === undefined ? 10000 : Number(args.timeout);
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
  console.error(`error: --timeout must be a positive number of milliseconds\n${USAGE}`);
  process.exit(2);
}

const sockets = [];
const seen = { visitor: new Set(), admin: new Set() }; // contents each socket received
const texts = {
  user: `Hello from the visitor (${new Date().toISOString()})`,
  admin: `Hello from the admin (${new Date().toISOString()})`,
};
let step = 'starting';
let finished = false;

const log = (who, line) => console.log(`${`[${who}]`.padEnd(9)} ${line}`);

function finish(code, line) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (code === 0) console.log(`OK: ${line}`);
  else console.error(`FAIL: ${line}`);
  for (const s of sockets) s.close();
  process.exitCode = code;
  // Sockets are closed; make sure nothing keeps us alive.
  setTimeout(() => process.exit(code), 200).unref();
}

const timer = setTimeout(() => {
  const has = (who, k) => (seen[who].has(texts[k]) ? 'yes' : 'NO');
  finish(
    1,
    `timed out after ${timeoutMs} ms during: ${step}. ` +
      `visitor saw user=${has('visitor', 'user')} admin=${has('visitor', 'admin')}; ` +
      `admin saw user=${has('admin', 'user')} admin=${has('admin', 'admin')}`,
  );
}, timeoutMs);

function connect(who, auth) {
  const opts = { forceNew: true, reconnection: false, timeout: Math.min(timeoutMs, 5000) };
  if (auth) opts.auth = auth;
  const socket = io(url, opts);
  sockets.push(socket);
  socket.on('message', (m) => {
    const seq = m?.seq === undefined ? '' : ` seq=${m.seq}`;
    log(who, `<- message${seq} ${m?.sender}: ${JSON.stringify(m?.content)} (id=${m?.id}, createdAt=${m?.createdAt}, isAI=${m?.isAI})`);
    if (args.verbose) log(who, `   ${JSON.stringify(m)}`);
    if (typeof m?.content === 'string') seen[who].add(m.content);
    check();
  });
  socket.on('error', (e) => {
    log(who, `<- error ${JSON.stringify(e)}`);
    let hint = '';
    if (e?.code === 'unauthorized' && who === 'admin') {
      hint = token
        ? ' (the token was refused)'
        : ' (the server requires a staff token: pass --token or set CHATDESK_TOKEN, or run it in legacy open mode)';
    }
    finish(1, `${who} got error ${e?.code ?? ''} for ${e?.event ?? 'an event'}: ${e?.message ?? JSON.stringify(e)}${hint}`);
  });
  socket.on('disconnect', (reason) => {
    if (!finished) finish(1, `${who} disconnected (${reason}) during: ${step}`);
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      log(who, `connected (socket id ${socket.id}, transport ${socket.io.engine.transport.name})`);
      socket.io.engine.once('upgrade', (t) => log(who, `transport upgraded to ${t.name}`));
      resolve(socket);
    });
    socket.once('connect_error', (err) => reject(new Error(`${who} could not connect to ${url}: ${err.message}`)));
  });
}

async function initSession(who, socket, payload) {
  const ack = await socket.timeout(Math.min(timeoutMs, 5000)).emitWithAck('init_session', payload).catch((err) => {
    throw new Error(`${who}: no ack for init_session (${err.message})`);
  });
  log(who, `init_session ${JSON.stringify(payload)} -> ${JSON.stringify(ack)}`);
  if (!ack || typeof ack.sessionId !== 'string') throw new Error(`${who}: init_session ack has no sessionId: ${JSON.stringify(ack)}`);
  return ack;
}

let adminSent = false;
let adminSocket;
let sessionId;

function check() {
  if (finished) return;
  // Admin answers once it has heard the visitor, so the order is deterministic.
  if (!adminSent && adminSocket && seen.admin.has(texts.user)) {
    adminSent = true;
    step = 'waiting for admin_message to be broadcast';
    adminSocket.emit('admin_message', { sessionId, content: texts.admin });
    log('admin', `-> admin_message ${JSON.stringify(texts.admin)}`);
  }
  const all = ['visitor', 'admin'].every((w) => seen[w].has(texts.user) && seen[w].has(texts.admin));
  if (all) finish(0, `both sockets received both messages (session ${sessionId})`);
}

async function main() {
  console.log(`chatdesk seed flow against ${url} (admin token: ${token ? 'yes' : 'no'}, timeout ${timeoutMs} ms)`);

  step = 'connecting the visitor';
  const visitor = await connect('visitor');
  step = 'visitor init_session';
  ({ sessionId } = await initSession('visitor', visitor, { sessionId: null }));

  step = 'connecting the admin';
  adminSocket = await connect('admin', token ? { token } : undefined);
  step = 'admin init_session (join)';
  const joined = await initSession('admin', adminSocket, { sessionId });
  if (joined.sessionId !== sessionId) {
    throw new Error(`admin joined ${joined.sessionId}, not the visitor's session ${sessionId}`);
  }

  step = 'waiting for user_message to be broadcast';
  visitor.emit('user_message', { sessionId, content: texts.user });
  log('visitor', `-> user_message ${JSON.stringify(texts.user)}`);
}

main().catch((err) => finish(1, err.message));
