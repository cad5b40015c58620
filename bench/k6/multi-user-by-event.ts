/**
 * wsgate's multi-user scenario unchanged, plus one always-true threshold per agent event type: k6 and
 * the engine keep a sub-metric (and so a median) only for tagged metrics that a threshold names. The
 * accuracy benchmark reads wsgate_event_latency{event:...} from this bundle's summary. Written against
 * the runtime port like the scenarios, so it is bundled for both engines (dist/bench/engine/*.mjs and,
 * with WSGATE_K6, dist/bench/*.js); it sits here because tsconfig.k6.json checks bench/k6/.
 */
import '../../lib/polyfills.ts';
import { AGENT_EVENTS } from '../../lib/dialects/dialect.ts';
import { options as base } from '../../scenarios/multi-user.ts';

export { handleSummary, setup, users } from '../../scenarios/multi-user.ts';

export const options = {
  ...base,
  thresholds: { ...base.thresholds, ...Object.fromEntries(AGENT_EVENTS.map((e) => [`wsgate_event_latency{event:${e}}`, ['max>=0']])) },
};
