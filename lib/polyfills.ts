/**
 * Globals that jose needs and k6 v2.2 lacks. Every scenario imports this module first, before
 * anything that may import jose: `new SignJWT()` calls structuredClone, signing calls btoa, and
 * without atob decoding fails with a misleading "JWS Protected Header is invalid".
 */
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX: Record<string, number> = {};
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charAt(i)] = i;

function btoaPolyfill(binary: string): string {
  let out = '';
  for (let i = 0; i < binary.length; i += 3) {
    const a = binary.charCodeAt(i);
    const b = i + 1 < binary.length ? binary.charCodeAt(i + 1) : -1;
    const c = i + 2 < binary.length ? binary.charCodeAt(i + 2) : -1;
    if (a > 255 || b > 255 || c > 255) throw new Error('btoa: the string contains characters outside Latin-1');
    out += B64.charAt(a >> 2);
    out += B64.charAt(((a & 3) << 4) | (b < 0 ? 0 : b >> 4));
    out += b < 0 ? '=' : B64.charAt(((b & 15) << 2) | (c < 0 ? 0 : c >> 6));
    out += c < 0 ? '=' : B64.charAt(c & 63);
  }
  return out;
}

function atobPolyfill(encoded: string): string {
  const clean = encoded.replace(/[\t\n\f\r ]/g, '').replace(/=+$/, '');
  if (clean.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(clean)) throw new Error('atob: the string is not valid base64');
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const ch of clean) {
    buffer = (buffer << 6) | (B64_INDEX[ch] ?? 0);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}

/** Deep copy of the plain data jose clones (objects, arrays, typed arrays, dates). */
function structuredClonePolyfill<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (ArrayBuffer.isView(value)) return (value as unknown as Uint8Array).slice() as T;
  if (value instanceof ArrayBuffer) return value.slice(0) as T;
  if (Array.isArray(value)) return value.map((v) => structuredClonePolyfill(v)) as T;
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) copy[k] = structuredClonePolyfill(v);
  return copy as T;
}

const g = globalThis as Record<string, unknown>;
if (typeof g['btoa'] !== 'function') g['btoa'] = btoaPolyfill;
if (typeof g['atob'] !== 'function') g['atob'] = atobPolyfill;
if (typeof g['structuredClone'] !== 'function') g['structuredClone'] = structuredClonePolyfill;

export { atobPolyfill, btoaPolyfill, structuredClonePolyfill };
