/**
 * wsgate's custom metrics, named from lib/vocabulary.ts (the same words the reference service
 * exports). Importing this module declares them, which thresholds on them require (k6 refuses a
 * threshold on an undeclared metric, and so does the engine).
 */
import { runtime } from '#runtime';
import { K6_METRICS } from './vocabulary.ts';

export const connectionSuccess = runtime.metric('rate', K6_METRICS.connectionSuccess);
export const agentEventCompletion = runtime.metric('rate', K6_METRICS.agentEventCompletion);
export const isolationViolations = runtime.metric('counter', K6_METRICS.isolationViolations);
export const eventLatency = runtime.metric('trend', K6_METRICS.eventLatency, true);
export const idleSurvival = runtime.metric('rate', K6_METRICS.idleSurvival);
export const authFailures = runtime.metric('rate', K6_METRICS.authFailures);
export const checksRun = runtime.metric('counter', K6_METRICS.checksRun);
export const connectionDrops = runtime.metric('counter', K6_METRICS.connectionDrops);
export const delivery = runtime.metric('rate', K6_METRICS.delivery);
export const duplicates = runtime.metric('counter', K6_METRICS.duplicates);
export const outOfOrder = runtime.metric('counter', K6_METRICS.outOfOrder);
export const messageLatency = runtime.metric('trend', K6_METRICS.messageLatency, true);
export const isolationChecked = runtime.metric('counter', K6_METRICS.isolationChecked);
export const greetingLatency = runtime.metric('trend', K6_METRICS.greetingLatency, true);
