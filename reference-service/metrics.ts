/**
 * Counters behind `GET /metrics`. Plain numbers bumped in place: the hot paths (frames, agent events)
 * pay one property increment each, and the text is only built when scraped.
 */

/** The five agent events in the order a run sends them. */
export const AGENT_EVENTS = [
  'agent_started',
  'agent_thinking',
  'tool_executing',
  'tool_completed',
  'agent_completed',
] as const;

export type AgentEventType = (typeof AGENT_EVENTS)[number];

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

  /** Prometheus text exposition format 0.0.4. */
  render(gauges: GaugeValues): string {
    const lines: string[] = [];
    const family = (name: string, type: 'gauge' | 'counter', help: string, samples: string[]): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
    };
    family('wsgate_active_connections', 'gauge', 'Open WebSocket connections.', [
      `wsgate_active_connections ${gauges.activeConnections}`,
    ]);
    family('wsgate_users', 'gauge', 'Distinct users with at least one open connection.', [
      `wsgate_users ${gauges.users}`,
    ]);
    family('wsgate_uptime_seconds', 'gauge', 'Seconds since the service started.', [
      `wsgate_uptime_seconds ${gauges.uptimeSeconds}`,
    ]);
    family('wsgate_connections_total', 'counter', 'WebSocket handshakes accepted.', [
      `wsgate_connections_total ${this.connectionsTotal}`,
    ]);
    family(
      'wsgate_handshake_rejections_total',
      'counter',
      'WebSocket handshakes refused, by HTTP status.',
      [...this.handshakeRejections.entries()]
        .sort(([a], [b]) => a - b)
        .map(([status, n]) => `wsgate_handshake_rejections_total{status="${status}"} ${n}`),
    );
    family('wsgate_agent_runs_total', 'counter', 'Agent runs started.', [
      `wsgate_agent_runs_total ${this.agentRunsTotal}`,
    ]);
    family(
      'wsgate_agent_events_total',
      'counter',
      'Agent events sent, by event type.',
      AGENT_EVENTS.map((event) => `wsgate_agent_events_total{event="${event}"} ${this.agentEvents[event]}`),
    );
    family('wsgate_token_refreshes_total', 'counter', 'In-band token refreshes, by result.', [
      `wsgate_token_refreshes_total{result="accepted"} ${this.tokenRefreshes.accepted}`,
      `wsgate_token_refreshes_total{result="rejected"} ${this.tokenRefreshes.rejected}`,
    ]);
    family('wsgate_messages_received_total', 'counter', 'Frames received from clients.', [
      `wsgate_messages_received_total ${this.messagesReceivedTotal}`,
    ]);
    return `${lines.join('\n')}\n`;
  }
}
