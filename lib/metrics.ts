/**
 * The k6-side custom metrics, named from lib/vocabulary.ts (the same words the reference service
 * exports). Importing this module registers them, which thresholds on them require.
 */
import { Counter, Rate, Trend } from 'k6/metrics';
import { K6_METRICS } from './vocabulary.ts';

export const connectionSuccess = new Rate(K6_METRICS.connectionSuccess);
export const agentEventCompletion = new Rate(K6_METRICS.agentEventCompletion);
export const isolationViolations = new Counter(K6_METRICS.isolationViolations);
export const eventLatency = new Trend(K6_METRICS.eventLatency, true);
export const idleSurvival = new Rate(K6_METRICS.idleSurvival);
export const authFailures = new Rate(K6_METRICS.authFailures);
export const checksRun = new Counter(K6_METRICS.checksRun);
export const connectionDrops = new Counter(K6_METRICS.connectionDrops);
export const delivery = new Rate(K6_METRICS.delivery);
export const duplicates = new Counter(K6_METRICS.duplicates);
export const outOfOrder = new Counter(K6_METRICS.outOfOrder);
export const messageLatency = new Trend(K6_METRICS.messageLatency, true);
