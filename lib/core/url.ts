/**
 * URLs as wsgate prints and tags them: parsed the same way on both engines (k6 has no URL global),
 * and redacted before they reach a tag, a log line or an error: user info and query values are
 * where credentials and tokens hide. Pure module.
 */
export interface ParsedUrl {
  scheme: string;
  userinfo: string | undefined;
  host: string;
  port: number | undefined;
  path: string;
  query: string;
}

/** A small URL parser: k6 has no URL global, and this one must behave the same on both sides. */
export function parseUrl(raw: string): ParsedUrl | undefined {
  const m = /^([a-z][a-z0-9+.-]*:)\/\/(?:([^@/?#]*)@)?(\[[0-9a-fA-F:.]+\]|[^:/?#\s]+)(?::(\d{1,5}))?(\/[^?#\s]*)?(\?[^#\s]*)?(#\S*)?$/i.exec(
    raw.trim(),
  );
  if (!m) return undefined;
  const port = m[4] === undefined ? undefined : Number(m[4]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return {
    scheme: (m[1] ?? '').toLowerCase(),
    userinfo: m[2],
    host: m[3] ?? '',
    port,
    path: m[5] ?? '/',
    query: m[6] ?? '',
  };
}

/**
 * Removes anything secret-shaped from a URL before it is printed or used as a metric tag: user info,
 * and the values of query parameters (tokens are often passed as ?token=).
 */
export function redactUrl(raw: string): string {
  const u = parseUrl(raw);
  if (!u) return '<unparseable URL>';
  const query = u.query ? '?' + u.query.slice(1).split('&').map((kv) => kv.split('=')[0] + '=REDACTED').join('&') : '';
  return `${u.scheme}//${u.userinfo !== undefined ? 'REDACTED@' : ''}${u.host}${u.port ? ':' + u.port : ''}${u.path}${query}`;
}

/** URL-shaped substrings of free text (error messages from sockets and servers), redacted. */
export function redactText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (u) => redactUrl(u));
}
