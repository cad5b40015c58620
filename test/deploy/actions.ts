/**
 * Just enough of a GitHub Actions runner to run .github/workflows/deployment-gate.yml's jobs here, from
 * the parsed workflow: job and step `if:` conditions and `${{ }}` templates evaluated (the expression
 * subset the workflow uses: contexts, string literals, ==, !=, &&, ||, !, always(), success(),
 * failure(); anything else throws, so a new construct fails the test instead of being misread), the
 * workflow, job and step env merged, each `run:` script run as GitHub runs it on Linux (`bash -e` on a
 * file, in the job's workspace, with GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as files), step and job
 * outputs read back. Actions are played by what they do to the workspace: checkout and setup-node
 * have nothing to do (the workspace's `npx wsgate` is this checkout, on this Node), upload-artifact and
 * download-artifact copy between workspaces, the JUnit reporter must find its files; an action not
 * listed throws. `npm ci` steps are this checkout's own installation, so they are not run again.
 */
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { at, runProgram, scratch } from './harness.ts';
import type { Obj } from './harness.ts';

type Value = string | number | boolean | null | Obj;

/** The contexts an expression can read. */
export interface Contexts {
  github: Obj;
  inputs: Obj;
  secrets: Obj;
  env: Obj;
  steps: Obj;
  needs: Obj;
  /** For success() and failure(): whether an earlier step (in a job) or a needed job failed. */
  failed: boolean;
}

const TOKEN = /\s*(?:'((?:[^']|'')*)'|(\d+(?:\.\d+)?)\b|(==|!=|&&|\|\||!|\(|\))|([A-Za-z_][\w-]*(?:\.[\w-]+)*))/y;

function tokenize(expr: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.trimEnd().length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(expr);
    if (!m) throw new Error(`expression "${expr}": cannot read it at ${at}`);
    tokens.push(m[1] !== undefined ? `'${m[1].replaceAll("''", "'")}` : (m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return tokens;
}

const truthy = (v: Value): boolean => !(v === false || v === 0 || v === '' || v === null || Number.isNaN(v));
const text = (v: Value): string => (v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** GitHub's ==: strings compare ignoring case; other values by their text. */
function equal(a: Value, b: Value): boolean {
  return typeof a === 'string' && typeof b === 'string' ? a.toLowerCase() === b.toLowerCase() : text(a) === text(b);
}

/** Evaluates one expression (without the `${{ }}`). */
export function evaluate(expr: string, ctx: Contexts): Value {
  const tokens = tokenize(expr);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const take = (want?: string): string => {
    const t = tokens[i++];
    if (t === undefined || (want !== undefined && t !== want)) throw new Error(`expression "${expr}": expected ${want ?? 'more'} at token ${i}`);
    return t;
  };
  const primary = (): Value => {
    const t = take();
    if (t === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (t === '!') return !truthy(primary());
    if (t.startsWith("'")) return t.slice(1);
    if (/^\d/.test(t)) return Number(t);
    if (t === 'true' || t === 'false') return t === 'true';
    if (t === 'null') return null;
    if (peek() === '(') {
      take('(');
      take(')');
      const fns: Record<string, () => boolean> = { always: () => true, success: () => !ctx.failed, failure: () => ctx.failed, cancelled: () => false };
      const fn = fns[t];
      if (!fn) throw new Error(`expression "${expr}": function ${t}() is not simulated`);
      return fn();
    }
    const [head, ...rest] = t.split('.');
    if (!head || !(head in ctx) || head === 'failed') throw new Error(`expression "${expr}": context ${head} is not simulated`);
    let cur: unknown = ctx[head as keyof Contexts];
    for (const p of rest) cur = cur !== null && typeof cur === 'object' ? (cur as Obj)[p] : undefined;
    return (cur ?? null) as Value;
  };
  // Each level: operands of the next level joined by its operators (no short-circuit needed: nothing here has effects).
  const level = (next: () => Value, ops: string[], join: (op: string, l: Value, r: Value) => Value) => (): Value => {
    let v = next();
    while (ops.includes(peek() ?? '')) {
      const op = take();
      v = join(op, v, next());
    }
    return v;
  };
  const comparison = level(primary, ['==', '!='], (op, l, r) => (op === '==' ? equal(l, r) : !equal(l, r)));
  const and = level(comparison, ['&&'], (_, l, r) => (truthy(l) ? r : l));
  const or = level(and, ['||'], (_, l, r) => (truthy(l) ? l : r));
  const v = or();
  if (i !== tokens.length) throw new Error(`expression "${expr}": unexpected ${tokens[i]}`);
  return v;
}

/** A string with its `${{ }}` templates evaluated. */
export function interpolate(s: unknown, ctx: Contexts): string {
  return String(s ?? '').replace(/\$\{\{(.*?)\}\}/g, (_, e: string) => text(evaluate(e, ctx)));
}

/** An `if:` (with or without `${{ }}`; absent means success()). */
function condition(s: unknown, ctx: Contexts): boolean {
  if (s === undefined) return !ctx.failed;
  const expr = String(s).trim().replace(/^\$\{\{([\s\S]*)\}\}$/, '$1');
  return truthy(evaluate(expr, ctx));
}

function envOf(block: unknown, ctx: Contexts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((block ?? {}) as Obj)) out[k] = interpolate(v, { ...ctx, env: { ...ctx.env, ...out } });
  return out;
}

/** The `KEY=value` (and `KEY<<DELIM` ... `DELIM`) lines a step wrote to GITHUB_OUTPUT. */
function readOutputs(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const end = lines.indexOf(heredoc[2] ?? '', i + 1);
      out[heredoc[1] ?? ''] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (line.includes('=')) out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  }
  return out;
}

/** Files under `dir` whose path (relative to it) matches a glob with `**` and `*`. */
function globFiles(dir: string, pattern: string): string[] {
  const re = new RegExp(`^${pattern.split('**/').map((p) => p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('(?:.*/)?')}$`);
  const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  return existsSync(dir) ? walk(dir).filter((f) => re.test(relative(dir, f))) : [];
}

export interface StepResult {
  name: string;
  outcome: 'success' | 'failure' | 'skipped';
  outputs: Record<string, string>;
  /** What a run step printed (stdout and stderr). */
  log: string;
}

export interface JobResult {
  result: 'success' | 'failure' | 'skipped';
  outputs: Record<string, string>;
  steps: StepResult[];
  workspace: string;
  /** What the job's steps appended to GITHUB_STEP_SUMMARY. */
  summary: string;
}

/** One workflow run: its trigger, its secrets, the runner's environment and the artifacts uploaded so far. */
export interface WorkflowRun {
  workflow: Obj;
  github: Obj;
  inputs: Obj;
  secrets: Obj;
  /** The runner machine's environment (PATH with `npx wsgate` resolving to this checkout, HOME, ...). */
  runnerEnv: NodeJS.ProcessEnv;
  artifacts: Map<string, string>;
}

/** The step an action plays: what it does to the workspace. */
function playAction(uses: string, w: Obj, workspace: string, run: WorkflowRun): void {
  const action = uses.split('@')[0];
  const paths = String(w['path'] ?? '').split('\n').map((p) => p.trim()).filter(Boolean);
  switch (action) {
    case 'actions/checkout':
    case 'actions/setup-node':
      return;
    case 'actions/upload-artifact': {
      // The artifact holds the files relative to their least common ancestor: the directory itself when
      // one directory is uploaded (baselines/ -> staging.json), else here the workspace.
      const found = paths.filter((p) => existsSync(join(workspace, p)));
      if (found.length === 0 && w['if-no-files-found'] === 'error') throw new Error(`upload-artifact ${String(w['name'])}: no files at ${paths.join(', ')}`);
      const store = scratch('artifact-');
      const single = found.length === 1 && statSync(join(workspace, found[0] ?? '')).isDirectory();
      for (const p of found) cpSync(join(workspace, p), single ? store : join(store, p), { recursive: true });
      run.artifacts.set(String(w['name']), store);
      return;
    }
    case 'actions/download-artifact': {
      const store = run.artifacts.get(String(w['name']));
      if (!store) throw new Error(`download-artifact: no artifact ${String(w['name'])} was uploaded`);
      cpSync(store, join(workspace, paths[0] ?? '.'), { recursive: true });
      return;
    }
    case 'mikepenz/action-junit-report':
      if (globFiles(workspace, String(w['report_paths'])).length === 0) throw new Error(`action-junit-report: nothing matches ${String(w['report_paths'])}`);
      return;
    default:
      throw new Error(`action ${uses} is not simulated; teach test/deploy/actions.ts what it does`);
  }
}

/** Runs job `name` of the workflow after the jobs in `needs` (their results by name). */
export async function runJob(run: WorkflowRun, name: string, needs: Record<string, JobResult>): Promise<JobResult> {
  const job = (at(run.workflow, 'jobs', name) ?? {}) as Obj;
  const needsCtx: Obj = Object.fromEntries(Object.entries(needs).map(([k, r]) => [k, { result: r.result, outputs: r.outputs }]));
  const base: Contexts = { github: run.github, inputs: run.inputs, secrets: run.secrets, env: {}, steps: {}, needs: needsCtx, failed: Object.values(needs).some((r) => r.result !== 'success') };
  const workspace = scratch(`workspace-${name}-`);
  const skipped: JobResult = { result: 'skipped', outputs: {}, steps: [], workspace, summary: '' };
  if (!condition(job['if'], base)) return skipped;
  const env = { ...envOf(run.workflow['env'], base) };
  Object.assign(env, envOf(job['env'], { ...base, env }));
  const steps: Obj = {};
  const results: StepResult[] = [];
  let failed = false;
  let summary = '';
  for (const [i, step] of ((job['steps'] ?? []) as Obj[]).entries()) {
    const ctx: Contexts = { ...base, env, steps, failed };
    const label = String(step['name'] ?? step['run'] ?? step['uses'] ?? `step ${i + 1}`);
    if (!condition(step['if'], ctx)) {
      results.push({ name: label, outcome: 'skipped', outputs: {}, log: '' });
      continue;
    }
    const stepEnv = { ...env, ...envOf(step['env'], ctx) };
    let result: StepResult;
    if (step['uses'] !== undefined) {
      const w = Object.fromEntries(Object.entries((step['with'] ?? {}) as Obj).map(([k, v]) => [k, interpolate(v, { ...ctx, env: stepEnv })]));
      playAction(String(step['uses']), w, workspace, run);
      result = { name: label, outcome: 'success', outputs: {}, log: '' };
    } else if (/^npm ci\b/.test(String(step['run']))) {
      result = { name: label, outcome: 'success', outputs: {}, log: '(this checkout is installed already)' };
    } else {
      const dir = scratch('step-');
      const script = join(dir, 'script.sh');
      writeFileSync(script, interpolate(step['run'], { ...ctx, env: stepEnv }));
      const files = { GITHUB_OUTPUT: join(dir, 'output'), GITHUB_STEP_SUMMARY: join(dir, 'summary') };
      const r = await runProgram('bash', ['-e', script], { cwd: workspace, env: { ...run.runnerEnv, ...stepEnv, ...files, GITHUB_WORKSPACE: workspace, GITHUB_ACTIONS: 'true', CI: 'true' }, timeoutMs: 180_000 });
      if (existsSync(files.GITHUB_STEP_SUMMARY)) summary += readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8');
      result = { name: label, outcome: r.code === 0 ? 'success' : 'failure', outputs: readOutputs(files.GITHUB_OUTPUT), log: r.out };
    }
    results.push(result);
    if (result.outcome === 'failure') failed = true;
    if (step['id'] !== undefined) steps[String(step['id'])] = { outputs: result.outputs, outcome: result.outcome, conclusion: result.outcome };
  }
  const done: Contexts = { ...base, env, steps, failed };
  const outputs = Object.fromEntries(Object.entries((job['outputs'] ?? {}) as Obj).map(([k, v]) => [k, interpolate(v, done)]));
  return { result: failed ? 'failure' : 'success', outputs, steps: results, workspace, summary };
}
