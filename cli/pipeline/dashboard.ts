/**
 * k6's own web dashboard, used only for its HTML export (the plots a report links to). Checked against
 * k6 v2.2.0 on this machine: with no host k6 serves the dashboard on every interface (port 5665), and
 * K6_WEB_DASHBOARD_PORT=-1 still binds a random port on every interface; host 127.0.0.1 with port 0
 * binds a random loopback port, so that is what wsgate sets, whatever the caller's environment says.
 * k6 writes no export when the run spans at most one period ("not enough data"), hence a 1 s period
 * (k6 widens it by itself on long runs with a known duration).
 */
export function dashboardVars(exportFile: string, env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    K6_WEB_DASHBOARD: 'true',
    K6_WEB_DASHBOARD_EXPORT: exportFile,
    K6_WEB_DASHBOARD_HOST: '127.0.0.1',
    K6_WEB_DASHBOARD_PORT: '0',
    K6_WEB_DASHBOARD_OPEN: 'false',
    K6_WEB_DASHBOARD_PERIOD: env['K6_WEB_DASHBOARD_PERIOD'] || '1s',
  };
}

/** Turns the dashboard off even when the caller's environment turned it on (no port bound at all). */
export const NO_DASHBOARD: Record<string, string> = { K6_WEB_DASHBOARD: 'false' };
