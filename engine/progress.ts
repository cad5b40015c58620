/**
 * Live progress on stderr for runs longer than a few seconds: VUs, connections open, iterations,
 * failed checks so far, elapsed and (at most) remaining. One redrawn line on a terminal, a plain line
 * every PLAIN_EVERY_MS otherwise (CI logs must not get a line per second).
 */
const QUIET_FOR_MS = 3000;
const PLAIN_EVERY_MS = 10_000;

export interface ProgressState {
  elapsedMs: number;
  /** Upper bound of the run's length, if the scenarios give one. */
  maxMs: number | undefined;
  vus: number;
  sockets: number;
  iterations: number;
  checksFailed: number;
  checksTotal: number;
}

export class Progress {
  private lastPlain = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly enabled: boolean,
  ) {}

  update(s: ProgressState): void {
    if (!this.enabled || s.elapsedMs < QUIET_FOR_MS) return;
    const line = render(s);
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${line}`);
      this.drawn = true;
    } else if (s.elapsedMs - this.lastPlain >= PLAIN_EVERY_MS) {
      this.lastPlain = s.elapsedMs;
      this.out.write(`${line}\n`);
    }
  }

  /** Clears the redrawn line so what follows starts on a clean line. */
  end(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(0)}s`;
}

function render(s: ProgressState): string {
  const left = s.maxMs === undefined ? '' : `, at most ${secs(Math.max(0, s.maxMs - s.elapsedMs))} left`;
  const failed = s.checksTotal === 0 ? 'no checks yet' : `${s.checksFailed.toLocaleString('en-US')} of ${s.checksTotal.toLocaleString('en-US')} checks failed`;
  return `wsgate engine: ${secs(s.elapsedMs)} elapsed${left} · ${s.vus} VUs · ${s.sockets.toLocaleString('en-US')} connections open · ${s.iterations.toLocaleString('en-US')} iterations · ${failed}`;
}
