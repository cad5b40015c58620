/**
 * The one metric vocabulary. The suites' metrics (lib/metrics.ts, either engine) and the reference
 * service's /metrics (reference-service/metrics.ts) import these names, so a dashboard reads the same
 * words from both sides of the wire. Pure module.
 */
export const METRIC_PREFIX = 'wsgate_';

/** Metrics the suites record (on either engine). */
export const CLIENT_METRICS = {
  /** Rate: a handshake that was meant to succeed did (the server greeted the right user). */
  connectionSuccess: 'wsgate_connection_success',
  /** Rate: an agent run delivered all five events, in order, within the deadline. */
  agentEventCompletion: 'wsgate_agent_event_completion',
  /** Counter: events (or messages) received by a user they were not meant for. */
  isolationViolations: 'wsgate_isolation_violations',
  /** Trend (ms), tagged `event`: from starting the run to receiving each agent event. */
  eventLatency: 'wsgate_event_latency',
  /** Rate: a connection held idle for the hold time was still open and answered a ping. */
  idleSurvival: 'wsgate_idle_survival',
  /** Rate: a handshake with a valid token was refused with 401/403 (authentication failure). */
  authFailures: 'wsgate_auth_failures',
  /**
   * Counter, tagged by scenario: checks recorded. k6 passes a rate threshold that has no samples,
   * so `count>0` on this is what makes a scenario that never checked anything fail.
   */
  checksRun: 'wsgate_checks_run',
  /** Rate, tagged `pattern`: an expected message reached its recipient (exactly once counts). */
  delivery: 'wsgate_delivery',
  /** Counter, tagged `pattern`: a message received a second time. */
  duplicates: 'wsgate_duplicates',
  /** Counter, tagged `pattern`: a message received after a later one of the same stream. */
  outOfOrder: 'wsgate_out_of_order',
  /** Trend (ms), tagged `pattern`: from send to receipt of a user-to-user message. */
  messageLatency: 'wsgate_message_latency',
  /** Counter: long-lived monitoring connections that closed without being asked to. */
  connectionDrops: 'wsgate_connection_drops',
  /**
   * Counter: per-user messages the isolation guard examined (each could have been someone else's): the
   * trials behind an isolation verdict (lib/core/evidence.ts).
   */
  isolationChecked: 'wsgate_isolation_checked',
  /** Trend (ms): from opening a connection to the server's greeting for the right user. */
  greetingLatency: 'wsgate_greeting_latency',
  /**
   * Trend (seconds): how long the server took to reap a client that vanished without a packet (a
   * connection the drop relay black-holed), from the black-holing to the server closing its side.
   */
  reapSeconds: 'wsgate_reap_seconds',
} as const;

/** Metrics the reference service exports on GET /metrics (see docs/protocol.md). */
export const SERVICE_METRICS = {
  activeConnections: 'wsgate_active_connections',
  users: 'wsgate_users',
  uptimeSeconds: 'wsgate_uptime_seconds',
  connectionsTotal: 'wsgate_connections_total',
  handshakeRejectionsTotal: 'wsgate_handshake_rejections_total',
  agentRunsTotal: 'wsgate_agent_runs_total',
  agentEventsTotal: 'wsgate_agent_events_total',
  tokenRefreshesTotal: 'wsgate_token_refreshes_total',
  messagesReceivedTotal: 'wsgate_messages_received_total',
} as const;
