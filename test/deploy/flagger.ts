/**
 * Flagger's analysis loop for one Canary, played from the manifest, for deploy/flagger/canary.yaml:
 * the order in which one tick of pkg/controller/scheduler.go (advanceCanary) calls the webhooks and
 * acts on their answers, for the progressive canary strategy (stepWeight/maxWeight, no mirroring):
 *
 *   - a new revision moves the canary to Progressing (checkCanaryStatus; the tick ends there);
 *   - Progressing or Waiting: `rollback` webhooks first; one answering 2xx rolls back at once;
 *   - Promoting: all traffic to the primary, then Finalising; Finalising: Succeeded, `post-rollout`;
 *   - failedChecks >= threshold: roll back;
 *   - weight 0 before the first iteration: `pre-rollout` webhooks, else `rollout` webhooks; a failure
 *     counts one failed check (never reset within the analysis) and ends the tick: no advance;
 *   - else advance by stepWeight up to maxWeight; at maxWeight, promote (Promoting);
 *   - rolling back: weight 0, Failed, then `post-rollout` webhooks.
 *
 * Each webhook is what Flagger's load tester does with metadata type "bash": `bash -c CMD`, 200 when
 * it exits 0, else 500 (and Flagger treats any status above 202 as a failure). Ticks run back to back
 * here: the interval only spaces them in time. Webhook types the manifest does not use (confirm-*,
 * event) and metric checks are not simulated, so a manifest that adds them fails here until they are.
 */
import type { Obj } from './harness.ts';

export type Phase = 'Initialized' | 'Progressing' | 'Promoting' | 'Finalising' | 'Succeeded' | 'Failed';

export interface Webhook {
  name: string;
  type: string;
  cmd: string;
}

/** One webhook call: which, and whether the load tester answered 2xx. */
export interface Call {
  webhook: string;
  type: string;
  ok: boolean;
}

/** One tick: the webhooks it called, what Flagger did, and the status after it. */
export interface Tick {
  calls: Call[];
  event: string;
  phase: Phase;
  canaryWeight: number;
  failedChecks: number;
}

const SIMULATED = ['rollback', 'pre-rollout', 'rollout', 'post-rollout'];

export class CanaryAnalysis {
  readonly threshold: number;
  readonly maxWeight: number;
  readonly stepWeight: number;
  readonly webhooks: Webhook[];
  phase: Phase = 'Initialized';
  canaryWeight = 0;
  failedChecks = 0;
  iterations = 0;
  readonly ticks: Tick[] = [];

  constructor(
    private readonly canary: Obj,
    /** Calls a webhook the way the load tester does; resolves with true for a 2xx answer. */
    private readonly call: (hook: Webhook) => Promise<boolean>,
  ) {
    const analysis = ((canary['spec'] as Obj)['analysis'] ?? {}) as Obj;
    // Flagger's defaults: threshold 1 when unset, maxWeight 100.
    this.threshold = Number(analysis['threshold'] ?? 0) > 0 ? Number(analysis['threshold']) : 1;
    this.maxWeight = Number(analysis['maxWeight'] ?? 0) > 0 ? Number(analysis['maxWeight']) : 100;
    this.stepWeight = Number(analysis['stepWeight'] ?? 0);
    if (this.stepWeight <= 0 || analysis['stepWeights'] !== undefined || analysis['iterations'] !== undefined || analysis['mirror'] === true || analysis['metrics'] !== undefined) {
      throw new Error('only the progressive canary strategy (stepWeight, maxWeight) without metrics or mirroring is simulated');
    }
    this.webhooks = ((analysis['webhooks'] ?? []) as Obj[]).map((h) => {
      const type = String(h['type'] ?? 'rollout') || 'rollout';
      if (!SIMULATED.includes(type)) throw new Error(`webhook type ${type} is not simulated`);
      const md = (h['metadata'] ?? {}) as Obj;
      if (md['type'] !== 'bash') throw new Error(`webhook ${String(h['name'])}: only the load tester's bash tasks are simulated`);
      return { name: String(h['name']), type, cmd: String(md['cmd']) };
    });
  }

  /**
   * The same canary in the same state, calling webhooks through `call` from here on: the analysis
   * forks, to see what each outcome of the next checks leads to.
   */
  branch(call: (hook: Webhook) => Promise<boolean>): CanaryAnalysis {
    const c = new CanaryAnalysis(this.canary, call);
    Object.assign(c, { phase: this.phase, canaryWeight: this.canaryWeight, failedChecks: this.failedChecks, iterations: this.iterations });
    c.ticks.push(...this.ticks);
    return c;
  }

  private async run(type: string, calls: Call[], stopOn: boolean): Promise<boolean> {
    for (const hook of this.webhooks.filter((h) => h.type === type)) {
      const ok = await this.call(hook);
      calls.push({ webhook: hook.name, type, ok });
      if (ok === stopOn) return stopOn;
    }
    return !stopOn;
  }

  /** Any rollback webhook answering 2xx asks for a rollback. */
  private rollbackHooks = (calls: Call[]) => this.run('rollback', calls, true);
  /** Pre-rollout and rollout webhooks all have to pass; the first failure stops them. */
  private checks = (type: string, calls: Call[]) => this.run(type, calls, false);

  private async rollBack(calls: Call[]): Promise<void> {
    this.canaryWeight = 0;
    this.phase = 'Failed';
    await this.checks('post-rollout', calls);
  }

  /** One analysis tick (the interval elapsed); `newRevision` when the target's spec changed since the last. */
  async tick(newRevision = false): Promise<Tick> {
    const calls: Call[] = [];
    const event = await this.advance(calls, newRevision);
    const t: Tick = { calls, event, phase: this.phase, canaryWeight: this.canaryWeight, failedChecks: this.failedChecks };
    this.ticks.push(t);
    return t;
  }

  private async advance(calls: Call[], newRevision: boolean): Promise<string> {
    if (this.phase === 'Initialized' || this.phase === 'Succeeded' || this.phase === 'Failed') {
      if (!newRevision) return 'no change';
      Object.assign(this, { phase: 'Progressing', canaryWeight: 0, failedChecks: 0, iterations: 0 });
      return 'new revision detected';
    }
    if (this.phase === 'Progressing' && (await this.rollbackHooks(calls))) {
      await this.rollBack(calls);
      return 'rolled back: rollback webhook';
    }
    if (this.phase === 'Promoting') {
      this.canaryWeight = 0;
      this.phase = 'Finalising';
      return 'all traffic to the primary';
    }
    if (this.phase === 'Finalising') {
      this.phase = 'Succeeded';
      await this.checks('post-rollout', calls);
      return 'promoted';
    }
    if (this.failedChecks >= this.threshold) {
      await this.rollBack(calls);
      return 'rolled back: failed checks threshold';
    }
    const first = this.canaryWeight === 0 && this.iterations === 0;
    if (!(await this.checks(first ? 'pre-rollout' : 'rollout', calls))) {
      this.failedChecks++;
      return `halted: ${first ? 'pre-rollout' : 'rollout'} check failed`;
    }
    if (this.canaryWeight < this.maxWeight) {
      this.canaryWeight = Math.min(this.canaryWeight + this.stepWeight, 100);
      return `advanced to ${this.canaryWeight}`;
    }
    this.phase = 'Promoting';
    return 'promoting';
  }
}
