/**
 * The Alertmanager example (monitoring/alertmanager/alertmanager.yml): valid for Debian's amtool, routed
 * as documented, and its inhibition working in a real Alertmanager on loopback (cluster off). The test's
 * Alertmanager is stopped long before its 30 s group_wait, so it never notifies anyone.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MONITORING, run, startServer, tempDir, tools } from './helpers.ts';
import type { Server } from './helpers.ts';

const CONFIG = join(MONITORING, 'alertmanager', 'alertmanager.yml');
const am = tools('amtool', 'prometheus-alertmanager');

function receivers(...labels: string[]): string {
  const r = run(am.paths['amtool'] ?? 'amtool', ['config', 'routes', 'test', `--config.file=${CONFIG}`, ...labels]);
  assert.equal(r.code, 0, r.out + r.err);
  return r.out.trim();
}

describe('alertmanager example', { skip: am.skip }, () => {
  test('amtool check-config accepts it', () => {
    const r = run(am.paths['amtool'] ?? 'amtool', ['check-config', CONFIG]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /SUCCESS/);
    assert.match(r.out, /1 inhibit rules\n - 3 receivers/);
  });

  test('the critical receiver has Slack, email and webhook integrations; the warning receiver only Slack', () => {
    // amtool validates the fields; which integrations each receiver has is read from the text
    const text = readFileSync(CONFIG, 'utf8');
    const receiver = (name: string) => /^ {2}- name: (\S+)\n((?: {4}.*\n|\s*\n)*)/gm.exec(text.slice(text.indexOf(`  - name: ${name}\n`)))?.[2] ?? '';
    const integrations = (name: string) => [...receiver(name).matchAll(/^ {4}(\w+_configs):/gm)].map((m) => m[1]);
    assert.deepEqual(integrations('critical'), ['slack_configs', 'email_configs', 'webhook_configs']);
    assert.deepEqual(integrations('slack-warnings'), ['slack_configs']);
    assert.deepEqual(integrations('rollback-webhook'), ['webhook_configs']);
  });

  test('critical alerts go to the critical receiver (Slack, email, pager webhook), warnings to Slack, rollback to the deploy webhook too', () => {
    assert.equal(receivers('alertname=WsgateConnectionSuccessCritical', 'env=production', 'severity=critical'), 'critical');
    assert.equal(receivers('alertname=WsgateIsolationViolationsCritical', 'env=staging', 'severity=critical'), 'critical');
    assert.equal(receivers('alertname=WsgateConnectionSuccessWarning', 'env=production', 'severity=warning'), 'slack-warnings');
    assert.equal(receivers('alertname=WsgateRollback', 'env=production', 'severity=critical', 'action=rollback'), 'rollback-webhook,critical');
    const show = run(am.paths['amtool'] ?? 'amtool', ['config', 'routes', 'show', `--config.file=${CONFIG}`]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /default-route {2}receiver: slack-warnings\n.*\{action="rollback"\} {2}continue: true {2}receiver: rollback-webhook\n.*\{severity="critical"\} {2}receiver: critical\n.*\{severity="warning"\} {2}receiver: slack-warnings\n/);
  });

  describe('inhibition in a running Alertmanager', () => {
    let server: Server | undefined;
    let dir: ReturnType<typeof tempDir> | undefined;
    before(async () => {
      dir = tempDir('alertmanager');
      const data = join(dir.path, 'data');
      server = await startServer(
        am.paths['prometheus-alertmanager'] ?? 'prometheus-alertmanager',
        (port) => [`--config.file=${CONFIG}`, `--storage.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
        '/-/ready',
      );
    });
    after(async () => {
      await server?.stop();
      dir?.remove();
    });

    test("a critical alert of an environment suppresses that environment's warnings, not another's", async () => {
      const url = server?.url ?? assert.fail('alertmanager did not start');
      const alert = (alertname: string, env: string, severity: string) => ({ labels: { alertname, env, severity, scenario: 'probes' } });
      const post = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([
          alert('WsgateConnectionSuccessCritical', 'production', 'critical'),
          alert('WsgateConnectionSuccessWarning', 'production', 'warning'),
          alert('WsgateErrorRateWarning', 'production', 'warning'),
          alert('WsgateConnectionSuccessWarning', 'staging', 'warning'),
        ]),
      });
      assert.equal(post.status, 200);
      type Got = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] }; receivers: { name: string }[] };
      const deadline = Date.now() + 5000;
      let states: Record<string, string> = {};
      while (Date.now() < deadline) {
        const got = (await (await fetch(`${url}/api/v2/alerts`)).json()) as Got[];
        states = Object.fromEntries(got.map((a) => [`${a.labels['alertname']}/${a.labels['env']}`, `${a.status.state} -> ${a.receivers.map((r) => r.name).join(',')}`]));
        if (Object.keys(states).length === 4 && !Object.values(states).some((s) => s.startsWith('unprocessed'))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(states, {
        'WsgateConnectionSuccessCritical/production': 'active -> critical',
        'WsgateConnectionSuccessWarning/production': 'suppressed -> slack-warnings',
        'WsgateErrorRateWarning/production': 'suppressed -> slack-warnings',
        'WsgateConnectionSuccessWarning/staging': 'active -> slack-warnings',
      });
    });
  });
});
