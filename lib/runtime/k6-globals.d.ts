// Globals k6 v2.2 provides that @types/k6 does not declare (see docs/k6.md). Only what
// wsgate uses is declared, so a use of something k6 lacks (btoa, Buffer, structuredClone) fails the
// type check instead of failing at run time.
declare global {
  function setTimeout(fn: () => void, delayMs?: number): number;
  function clearTimeout(id: number | undefined): void;
  function setInterval(fn: () => void, delayMs?: number): number;
  function clearInterval(id: number | undefined): void;
  const console: {
    log(...data: unknown[]): void;
    info(...data: unknown[]): void;
    warn(...data: unknown[]): void;
    error(...data: unknown[]): void;
  };
  const crypto: {
    getRandomValues<T extends Uint8Array>(array: T): T;
    randomUUID(): string;
  };
  class TextEncoder {
    encode(input?: string): Uint8Array;
  }
  class TextDecoder {
    decode(input?: Uint8Array): string;
  }
}
export {};
