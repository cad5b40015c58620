/**
 * Counters behind `GET /metrics`. Plain numbers bumped in place: the hot paths (frames, agent events)
 * pay one property increment each. A scrape renders them with prom-client (the maintained Prometheus
 * client) under the names in lib/core/vocabulary.ts SERVICE_METRICS, the vocabulary the suites and the
 * dashboards share.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { AGENT_EVENTS } from '../lib/dialects/dialect.ts';
import type { AgentEventType } from '../lib/dialects/dialect.ts';
import { SERVICE_METRICS } from '../lib/core/vocabulary.ts';

export { AGENT_EVENTS };
export type { AgentEventType };

/** Statuses the backend can refuse a handshake with; pre-seeded so a scrape shows zeros, not gaps. */
const KNOWN_REJECTION_STATUSES = [400, 401, 403, 404, 405, 426, 503] as const;

export interface GaugeValues {
  readonly activeConnections: number;
  readonly users: number;
  readonly uptimeSeconds: number;
}

export class Metrics {
  connectionsTotal = 0;
  agentRunsTotal = 0;
  messagesReceivedTotal = 0;
  readonly handshakeRejections = new Map<number, number>(KNOWN_REJECTION_STATUSES.map((s) => [s, 0]));
  readonly agentEvents: Record<AgentEventType, number> = {
    agent_started: 0,
    agent_thinking: 0,
    tool_executing: 0,
    tool_completed: 0,
    agent_completed: 0,
  };
  readonly tokenRefreshes = { accepted: 0, rejected: 0 };

  rejectHandshake(status: number): void {
    this.handshakeRejections.set(status, (this.handshakeRejections.get(status) ?? 0) + 1);
  }

  /** Prometheus text exposition format 0.0.4, rendered by prom-client from the numbers above. */
  render(gauges: GaugeValues): Promise<string> {
    const registry = new Registry();
    const registers = [registry];
    const gauge = (name: string, help: string, value: number) => new Gauge({ name, help, registers }).set(value);
    gauge(SERVICE_METRICS.activeConnections, 'Open WebSocket connections.', gauges.activeConnections);
    gauge(SERVICE_METRICS.users, 'Distinct users with at least one open connection.', gauges.users);
    gauge(SERVICE_METRICS.uptimeSeconds, 'Seconds since the service started.', gauges.uptimeSeconds);
    new Counter({ name: SERVICE_METRICS.connectionsTotal, help: 'WebSocket handshakes accepted.', registers }).inc(this.connectionsTotal);
    const rejections = new Counter({ name: SERVICE_METRICS.handshakeRejectionsTotal, help: 'WebSocket handshakes refused, by HTTP status.', labelNames: ['status'], registers });
    for (const [status, n] of [...this.handshakeRejections.entries()].sort(([x], [y]) => x - y)) rejections.inc({ status: String(status) }, n);
    new Counter({ name: SERVICE_METRICS.agentRunsTotal, help: 'Agent runs started.', registers }).inc(this.agentRunsTotal);
    const events = new Counter({ name: SERVICE_METRICS.agentEventsTotal, help: 'Agent events sent, by event type.', labelNames: ['event'], registers });
    for (const event of AGENT_EVENTS) events.inc({ event }, this.agentEvents[event]);
    const refreshes = new Counter({ name: SERVICE_METRICS.tokenRefreshesTotal, help: 'In-band token refreshes, by result.', labelNames: ['result'], registers });
    refreshes.inc({ result: 'accepted' }, this.tokenRefreshes.accepted);
    refreshes.inc({ result: 'rejected' }, this.tokenRefreshes.rejected);
    new Counter({ name: SERVICE_METRICS.messagesReceivedTotal, help: 'Frames received from clients.', registers }).inc(this.messagesReceivedTotal);
    return registry.metrics();
  }
}
