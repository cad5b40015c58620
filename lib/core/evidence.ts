/**
 * How much a run could have seen. A fault that hits a share p of agent runs (or connections, messages,
 * isolation checks) goes unseen by n independent trials with probability (1 - p)^n; a run of n trials
 * with no failure therefore rules out, at confidence c, every fault rate p with (1 - p)^n <= 1 - c:
 *   detectable(n) = 1 - (1 - c)^(1/n)          (about 3/n at 95%: the rule of three)
 *   required(p)   = ceil(ln(1 - c) / ln(1 - p)) (299 trials for p = 1% at 95%)
 * Each environment preset names the floor it needs (config/environments.json: detection_floor) and
 * whether a sample too small for it fails the run or only warns (evidence_policy). Pure module.
 */

const CONFIDENCE = 0.95;

/** The families of evidence a suite gathers, with the metric that counts each family's trials. */
export const EVIDENCE_FAMILIES = {
  agent_runs: { metric: 'wsgate_agent_event_completion', noun: 'agent runs', unit: 'runs' },
  connections: { metric: 'wsgate_connection_success', noun: 'connections', unit: 'connections' },
  messages: { metric: 'wsgate_delivery', noun: 'messages', unit: 'messages' },
  isolation: { metric: 'wsgate_isolation_checked', noun: 'isolation checks', unit: 'per-user messages' },
} as const;

export type EvidenceFamily = keyof typeof EVIDENCE_FAMILIES;

/** The smallest fault rate n clean trials would have caught with `confidence`; 1 when n is 0. */
export function detectableRate(n: number, confidence = CONFIDENCE): number {
  if (n <= 0) return 1;
  return 1 - (1 - confidence) ** (1 / n);
}

/** Trials needed so that a fault rate of `floor` or more is caught with `confidence`. */
export function requiredTrials(floor: number, confidence = CONFIDENCE): number {
  if (floor >= 1) return 1;
  return Math.ceil(Math.log(1 - confidence) / Math.log(1 - floor));
}

export interface Evidence {
  family: EvidenceFamily;
  /** Trials this run made (runs judged, connections attempted, messages expected, messages guarded). */
  trials: number;
  failures: number;
  /** The smallest fault rate the run would have caught (meaningful when failures is 0). */
  detectable: number;
  /** The preset's floor and the trials it needs. */
  floor: number;
  required: number;
  /** 'enough' when trials >= required; 'too small' otherwise; 'not gathered' when the suite made none. */
  sufficiency: 'enough' | 'too small' | 'not gathered';
  /** One sentence for people: what the run could have caught. */
  sentence: string;
}

/** Percent with the precision that matters for floors between 0.1% and 100%. */
export function percent(p: number): string {
  const v = p * 100;
  return `${v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/0$/, '')}%`;
}

export function assess(family: EvidenceFamily, trials: number, failures: number, floor: number, confidence = CONFIDENCE): Evidence {
  const f = EVIDENCE_FAMILIES[family];
  const detectable = detectableRate(trials, confidence);
  const required = requiredTrials(floor, confidence);
  const sufficiency = trials === 0 ? 'not gathered' : trials >= required ? 'enough' : 'too small';
  const conf = `${Math.round(confidence * 100)}%`;
  let sentence: string;
  if (trials === 0) sentence = `no ${f.noun}: this suite gathered no evidence of this kind`;
  else if (failures > 0) sentence = `${trials} ${f.noun}, ${failures} failed (${percent(failures / trials)}): the fault was seen`;
  else {
    const caught = `a fault in ${percent(detectable)} of ${f.unit} or more would have been caught with ${conf} confidence`;
    const short = sufficiency === 'too small' ? `; the floor of ${percent(floor)} needs ${required}` : '';
    sentence = `${trials} ${f.noun}, 0 failed: ${caught}${short}`;
  }
  return { family, trials, failures, detectable, floor, required, sufficiency, sentence };
}
