/**
 * wsgate's custom metrics, named from lib/core/vocabulary.ts (the same words the reference service
 * exports). Importing this module declares them, which thresholds on them require (k6 refuses a
 * threshold on an undeclared metric, and so does the engine).
 */
import { runtime } from '#runtime';
import { CLIENT_METRICS } from './core/vocabulary.ts';

export const connectionSuccess = runtime.metric('rate', CLIENT_METRICS.connectionSuccess);
export const agentEventCompletion = runtime.metric('rate', CLIENT_METRICS.agentEventCompletion);
export const isolationViolations = runtime.metric('counter', CLIENT_METRICS.isolationViolations);
export const eventLatency = runtime.metric('trend', CLIENT_METRICS.eventLatency, true);
export const idleSurvival = runtime.metric('rate', CLIENT_METRICS.idleSurvival);
export const authFailures = runtime.metric('rate', CLIENT_METRICS.authFailures);
export const checksRun = runtime.metric('counter', CLIENT_METRICS.checksRun);
export const connectionDrops = runtime.metric('counter', CLIENT_METRICS.connectionDrops);
export const delivery = runtime.metric('rate', CLIENT_METRICS.delivery);
export const duplicates = runtime.metric('counter', CLIENT_METRICS.duplicates);
export const outOfOrder = runtime.metric('counter', CLIENT_METRICS.outOfOrder);
export const messageLatency = runtime.metric('trend', CLIENT_METRICS.messageLatency, true);
export const isolationChecked = runtime.metric('counter', CLIENT_METRICS.isolationChecked);
export const greetingLatency = runtime.metric('trend', CLIENT_METRICS.greetingLatency, true);
/** Seconds, not a time metric: the engine and k6 would print milliseconds for one. */
export const reapSeconds = runtime.metric('trend', CLIENT_METRICS.reapSeconds);
