/**
 * Webhook delivery against a real local HTTP receiver: Slack-compatible payloads, in order, retried
 * with backoff on 5xx/429/no answer, not on other 4xx; send() never waits; the exit's drain is bounded.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { WebhookSender, slackPayload, webhookOrigin } from '../../cli/monitor/webhook.ts';
import type { DeliveryResult, Notification } from '../../cli/monitor/webhook.ts';
import { closedPort } from './helpers.ts';

interface Received {
  method: string;
  type: string | undefined;
  body: unknown;
  at: number;
}

/** A receiver on 127.0.0.1:0 that answers each request with `answer(n)` (n counts from 1). */
async function receiver(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void = (_n, _q, res) => res.end('ok')): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ method: req.method ?? '', type: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')), at: Date.now() });
      answer(got.length, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const addr = server.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('no address');
  return { url: `http://127.0.0.1:${addr.port}/hooks/T000/B000/XXXXsecretpart`, got };
}

const note = (text: string, level: Notification['level'] = 'critical'): Notification => ({
  kind: level === 'ok' ? 'resolved' : 'alert',
  level,
  text,
  at: Date.parse('2026-11-24T12:00:30Z'),
  fields: [{ title: 'Environment', value: 'staging', short: true }],
});

const fast = { backoffMs: [20, 40, 80], timeoutMs: 500 };

describe('webhook', { concurrency: true }, () => {
  test('the payload is Slack-compatible: text, and one attachment with colour and fields', () => {
    assert.deepEqual(slackPayload(note('ALERT critical agent_event_completion 50.0% < 85% (window 4)'), 'wsgate monitor (env staging)'), {
      text: 'wsgate monitor (env staging): ALERT critical agent_event_completion 50.0% < 85% (window 4)',
      attachments: [
        {
          color: '#d1242f',
          fallback: 'ALERT critical agent_event_completion 50.0% < 85% (window 4)',
          fields: [{ title: 'Environment', value: 'staging', short: true }],
          footer: 'wsgate monitor',
          ts: Date.parse('2026-11-24T12:00:30Z') / 1000,
        },
      ],
    });
    assert.equal(slackPayload(note('RESOLVED ...', 'ok'), 't').attachments[0]?.color, '#1a7f37');
  });

  test('only the origin of the URL is ever shown (a Slack webhook URL is a credential)', () => {
    assert.equal(webhookOrigin('https://hooks.slack.com/services/T000/B000/XXXX?x=1'), 'https://hooks.slack.com');
  });

  test('POSTs JSON, in the order sent; send() returns before anything is delivered', async () => {
    const r = await receiver();
    const results: DeliveryResult[] = [];
    const w = new WebhookSender(r.url, { ...fast, onResult: (x) => results.push(x) });
    for (let i = 1; i <= 5; i++) assert.equal(w.send(note(`ALERT ${i}`)), undefined);
    assert.equal(w.pending, 5, 'all queued, none started: send() returned before any network work');
    assert.equal(r.got.length, 0);
    assert.deepEqual(await w.drain(5000), { delivered: 5, failed: 0, abandoned: 0 });
    assert.deepEqual(r.got.map((g) => (g.body as { text: string }).text), [1, 2, 3, 4, 5].map((i) => `wsgate monitor: ALERT ${i}`));
    assert.ok(r.got.every((g) => g.method === 'POST' && g.type === 'application/json'));
    assert.ok(results.every((x) => x.ok && x.attempts === 1));
    assert.doesNotMatch(JSON.stringify(r.got), /secretpart/, 'the URL is not in the payload');
  });

  test('5xx and 429 are retried with backoff until delivered', async () => {
    const r = await receiver((n, _q, res) => {
      res.statusCode = n === 1 ? 503 : n === 2 ? 429 : 200;
      res.end();
    });
    const results: DeliveryResult[] = [];
    const w = new WebhookSender(r.url, { ...fast, onResult: (x) => results.push(x) });
    w.send(note('ALERT x'));
    await w.drain(5000);
    assert.equal(r.got.length, 3);
    assert.deepEqual(results, [{ kind: 'alert', text: 'ALERT x', ok: true, attempts: 3, status: 200 }]);
    const gaps = [(r.got[1]?.at ?? 0) - (r.got[0]?.at ?? 0), (r.got[2]?.at ?? 0) - (r.got[1]?.at ?? 0)];
    assert.ok((gaps[0] ?? 0) >= 15 && (gaps[1] ?? 0) >= 35, `backoff grows: ${gaps.join(', ')} ms`);
  });

  test('gives up after the retries, reports it, and goes on with the next notification', async () => {
    const r = await receiver((n, _q, res) => {
      res.statusCode = n <= 4 ? 500 : 200;
      res.end();
    });
    const results: DeliveryResult[] = [];
    const w = new WebhookSender(r.url, { ...fast, retries: 3, onResult: (x) => results.push(x) });
    w.send(note('first'));
    w.send(note('second'));
    assert.deepEqual(await w.drain(5000), { delivered: 1, failed: 1, abandoned: 0 });
    assert.deepEqual(results.map((x) => [x.text, x.ok, x.attempts, x.error]), [
      ['first', false, 4, 'HTTP 500'],
      ['second', true, 1, undefined],
    ]);
  });

  test('other 4xx answers are final: no retry', async () => {
    const r = await receiver((_n, _q, res) => {
      res.statusCode = 404;
      res.end('no_service');
    });
    const results: DeliveryResult[] = [];
    const w = new WebhookSender(r.url, { ...fast, onResult: (x) => results.push(x) });
    w.send(note('x'));
    await w.drain(5000);
    assert.equal(r.got.length, 1);
    assert.deepEqual(results.map((x) => [x.ok, x.attempts, x.status]), [[false, 1, 404]]);
  });

  test('a receiver that never answers times out per request and is retried', async () => {
    const r = await receiver(() => undefined);
    const results: DeliveryResult[] = [];
    const w = new WebhookSender(r.url, { backoffMs: [10], timeoutMs: 150, retries: 1, onResult: (x) => results.push(x) });
    w.send(note('x'));
    await w.drain(5000);
    assert.equal(r.got.length, 2);
    assert.deepEqual(results.map((x) => [x.ok, x.attempts, x.error]), [[false, 2, 'no answer within 150 ms']]);
  });

  test('nothing listening: a connection error, retried, then reported', async () => {
    const results: DeliveryResult[] = [];
    const w = new WebhookSender(`http://127.0.0.1:${await closedPort()}/hook`, { ...fast, retries: 1, onResult: (x) => results.push(x) });
    w.send(note('x'));
    await w.drain(5000);
    assert.deepEqual(results.map((x) => [x.ok, x.attempts, x.error]), [[false, 2, 'ECONNREFUSED']]);
  });

  test('an error that quotes the URL is reported without it (the URL is a credential)', async () => {
    const results: DeliveryResult[] = [];
    const url = 'https://hooks.example.invalid/services/T000/B000/XXXXsecretpart';
    const quoting = (() => Promise.reject(new TypeError(`Failed to parse URL from ${url}`))) as unknown as typeof fetch;
    const w = new WebhookSender(url, { ...fast, retries: 0, fetch: quoting, onResult: (x) => results.push(x) });
    w.send(note('x'));
    await w.drain(5000);
    assert.equal(results.length, 1);
    assert.doesNotMatch(results[0]?.error ?? '', /XXXXsecretpart/);
    assert.match(results[0]?.error ?? '', /^Failed to parse URL from /);
  });

  test('the drain at exit is bounded: a hanging receiver cannot hold the monitor', async () => {
    const r = await receiver(() => undefined);
    const results: DeliveryResult[] = [];
    const w = new WebhookSender(r.url, { timeoutMs: 60_000, onResult: (x) => results.push(x) });
    w.send(note('stuck'));
    w.send(note('queued'));
    const t = performance.now();
    const d = await w.drain(300);
    const took = performance.now() - t;
    assert.ok(took < 1500, `drain took ${Math.round(took)} ms`);
    assert.deepEqual(d, { delivered: 0, failed: 2, abandoned: 1 });
    assert.deepEqual(results.map((x) => [x.text, x.error]), [
      ['queued', 'not sent: time ran out at exit'],
      ['stuck', 'given up at exit'],
    ]);
  });

  test('the drain can be cut short (a second Ctrl-C)', async () => {
    const r = await receiver(() => undefined);
    const w = new WebhookSender(r.url, { timeoutMs: 60_000 });
    w.send(note('stuck'));
    const cut = new AbortController();
    setTimeout(() => cut.abort(), 100);
    const t = performance.now();
    await w.drain(10_000, cut.signal);
    assert.ok(performance.now() - t < 1500);
  });
});
