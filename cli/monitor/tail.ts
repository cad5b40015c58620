/**
 * Follows a file another process is appending to (k6's `--out json=FILE`), by polling: fs.watch is
 * unreliable across filesystems, and k6 only flushes every ~200 ms anyway. The file may not exist yet
 * when tailing starts (k6 creates it once its outputs start).
 */
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK_BYTES = 1 << 20;

export class FileTail {
  private fd: number | undefined;
  private offset = 0;
  private readonly buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    private readonly onData: (chunk: Buffer) => void,
    private readonly onPoll: () => void = () => undefined,
  ) {}

  /** Reads what was appended since the last read, at most `maxBytes` (everything when omitted). */
  read(maxBytes = Number.POSITIVE_INFINITY): number {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw err;
      }
    }
    let total = 0;
    while (total < maxBytes) {
      const n = readSync(this.fd, this.buffer, 0, CHUNK_BYTES, this.offset);
      if (n === 0) break;
      this.offset += n;
      total += n;
      // A copy: the buffer is reused by the next read, the consumer may keep what it got.
      this.onData(Buffer.from(this.buffer.subarray(0, n)));
    }
    return total;
  }

  /** Polls every `intervalMs`; each poll reads at most 8 MiB so one burst cannot stall the event loop. */
  start(intervalMs = 250): void {
    this.timer ??= setInterval(() => {
      this.read(8 * CHUNK_BYTES);
      this.onPoll();
    }, intervalMs);
  }

  /** Stops polling and reads the rest of the file. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.read();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Bytes read so far. */
  get bytes(): number {
    return this.offset;
  }
}
