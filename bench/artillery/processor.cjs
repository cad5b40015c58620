// Artillery processor for bench/peer.ts: the same workload as wsgate's multi-user scenario and the
// minimal k6 scripts, written the way Artillery's WebSocket engine is meant to be extended (a connect
// function and flow functions). Every user gets its own HS256 token, signed with Node's native HMAC
// over the same claims wsgate signs (sub, iss, aud, iat, exp, jti), sent as Authorization: Bearer.
// Timeline and secret come from BENCH_* environment variables set by the harness.
'use strict';
const { createHmac, randomBytes } = require('node:crypto');

const E = process.env;
const SECRET = E.BENCH_JWT_SECRET;
const RAMP_START = Number(E.BENCH_RAMP_START);
const START_AT = Number(E.BENCH_START_AT);
const HOLD_UNTIL = Number(E.BENCH_HOLD_UNTIL);
const RUNS = Number(E.BENCH_RUNS);
const STEP_MS = Number(E.BENCH_MS_PER_RUN);
const SETTLE_MS = Number(E.BENCH_SETTLE_MS);
const KEEPALIVE_MS = 30000;
const AGENT_EVENTS = new Set(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed']);
const b64 = (s) => Buffer.from(s).toString('base64url');
const HEADER = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

// Users are numbered in arrival order within this worker; with one worker that is the global order.
let nextUser = 0;

function mint(sub) {
  const now = Math.floor(Date.now() / 1000);
  const body = `${HEADER}.${b64(JSON.stringify({ sub, iss: E.BENCH_ISSUER, aud: E.BENCH_AUDIENCE, iat: now, exp: now + 900, jti: randomBytes(16).toString('hex') }))}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

/** connect.function: this user's token on the handshake (a fresh headers object: config's is shared). */
function authenticate(wsArgs, context, done) {
  const user = nextUser++;
  // Tells the harness when the first connection began, so its memory baseline is taken before it.
  if (user === 0 && E.BENCH_FIRST_CONNECT_FILE) require('node:fs').writeFileSync(E.BENCH_FIRST_CONNECT_FILE, String(Date.now()));
  context.vars.user = user;
  wsArgs.options = { ...wsArgs.options, headers: { ...(wsArgs.options.headers || {}), Authorization: `Bearer ${mint(`bench-art-${user}`)}` } };
  done();
}

/**
 * The ws engine resolves a connection on 'open'; the service's connection_established often arrives
 * before the flow's first function can listen (k6's Session waits for it; here 'open' is what
 * Artillery offers). Every frame from here on is counted; a connection_established that came before
 * the listener is counted at the end of the hold, so both generators count the same frames.
 */
function established(context, events, done) {
  const ws = context.ws;
  context.vars.sawEstablished = false;
  ws.on('message', (data) => {
    events.emit('counter', 'bench.msgs_received', 1);
    if (!context.vars.sawEstablished && String(data).includes('"connection_established"')) context.vars.sawEstablished = true;
  });
  const ok = ws.readyState === 1;
  events.emit('counter', ok ? 'bench.connected' : 'bench.not_connected', 1);
  done(ok ? undefined : new Error('not open'));
}

/** BENCH_RUNS agent runs on wsgate's schedule; latency of every event by type. */
function runAgents(context, events, done) {
  const ws = context.ws;
  const user = context.vars.user;
  const pending = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (!AGENT_EVENTS.has(m.type)) return;
    const sent = pending.get(m.message_id);
    if (sent === undefined) return;
    events.emit('histogram', `bench.event_latency.${m.type}`, Date.now() - sent);
    events.emit('histogram', 'bench.event_latency', Date.now() - sent);
    if (m.type === 'agent_completed') {
      events.emit('counter', 'bench.runs_completed', 1);
      pending.delete(m.message_id);
    }
  });
  const jitter = (user % 97) * (STEP_MS / 97);
  for (let q = 0; q < RUNS; q++) {
    setTimeout(() => {
      if (ws.readyState !== 1) return;
      const id = `bench-art-${user}-m${q}`;
      pending.set(id, Date.now());
      ws.send(JSON.stringify({ type: 'user_message', thread_id: `bench-art-${user}-t0`, message_id: id, content: 'bench run' }));
      events.emit('counter', 'bench.msgs_sent', 1);
    }, Math.max(0, START_AT + q * STEP_MS + jitter - Date.now()));
  }
  setTimeout(() => {
    events.emit('counter', 'bench.runs_not_completed', pending.size);
    done();
  }, Math.max(0, START_AT + RUNS * STEP_MS + SETTLE_MS - Date.now()));
}

/** Holds the connection until BENCH_HOLD_UNTIL with the same sparse keep-alive ping as wsgate. */
function hold(context, events, done) {
  const ws = context.ws;
  const user = context.vars.user;
  const offset = (user * 7919) % KEEPALIVE_MS;
  let n = 0;
  const ping = () => {
    if (ws.readyState !== 1) return;
    ws.send(JSON.stringify({ type: 'ping', id: `keepalive-${++n}` }));
    events.emit('counter', 'bench.msgs_sent', 1);
  };
  let timer = setTimeout(function tick() {
    ping();
    timer = setTimeout(tick, KEEPALIVE_MS);
  }, offset);
  setTimeout(() => {
    clearTimeout(timer);
    if (!context.vars.sawEstablished) events.emit('counter', 'bench.msgs_received', 1);
    events.emit('counter', ws.readyState === 1 ? 'bench.held' : 'bench.not_held', 1);
    done();
  }, Math.max(0, HOLD_UNTIL - Date.now()));
}

module.exports = { authenticate, established, runAgents, hold, RAMP_START };
