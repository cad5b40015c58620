/**
 * The HTML report a pipeline links to, asked of whichever engine runs the suite:
 *   - the wsgate engine writes its self-contained report (engine/report/html.ts) to WSGATE_REPORT;
 *   - k6 writes its web dashboard's export. Checked against k6 v2.2.0: with no host k6 serves the
 *     dashboard on every interface (port 5665), and K6_WEB_DASHBOARD_PORT=-1 still binds a random
 *     port on every interface; host 127.0.0.1 with port 0 binds a random loopback port, so that is
 *     what wsgate sets. k6 writes no export when the run spans at most one period, hence a 1 s period.
 * Both sets of variables are given; each engine reads only its own.
 */
export function dashboardVars(exportFile: string, env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    WSGATE_REPORT: exportFile,
    K6_WEB_DASHBOARD: 'true',
    K6_WEB_DASHBOARD_EXPORT: exportFile,
    K6_WEB_DASHBOARD_HOST: '127.0.0.1',
    K6_WEB_DASHBOARD_PORT: '0',
    K6_WEB_DASHBOARD_OPEN: 'false',
    K6_WEB_DASHBOARD_PERIOD: env['K6_WEB_DASHBOARD_PERIOD'] || '1s',
  };
}

/** Turns the report off even when the caller's environment turned it on (no port bound at all). */
export const NO_DASHBOARD: Record<string, string> = { WSGATE_REPORT: '', K6_WEB_DASHBOARD: 'false' };
