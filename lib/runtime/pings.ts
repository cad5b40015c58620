/**
 * The pings one socket has in flight, kept the same way by both runtimes: the first caller sends a
 * ping, every caller still waiting when the pong comes gets its round trip, and a caller that times
 * out gets undefined. Uses only the timers both runtimes have.
 */
type Waiter = (rtt: number | undefined) => void;

export class Pings {
  private waiting: Waiter[] | undefined;
  private sentAt = 0;

  /** Waits for the pong of the ping in flight; when none is, `send()` sends one, stamped `now`. */
  wait(timeoutMs: number, now: number, send: () => void): Promise<number | undefined> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done: Waiter = (rtt) => {
        clearTimeout(timer);
        resolve(rtt);
      };
      if (!this.waiting) {
        this.waiting = [];
        this.sentAt = now;
        send();
      }
      this.waiting.push(done);
      timer = setTimeout(() => {
        this.waiting = this.waiting?.filter((w) => w !== done);
        // Every waiter gave up: the next wait sends a new ping instead of waiting for a lost pong.
        if (this.waiting?.length === 0) this.waiting = undefined;
        resolve(undefined);
      }, timeoutMs);
    });
  }

  /** The pong came at `now`: its round trip, given to every waiter; undefined when nobody waited. */
  ponged(now: number): number | undefined {
    const waiting = this.waiting;
    if (!waiting) return undefined;
    this.waiting = undefined;
    const rtt = now - this.sentAt;
    for (const w of waiting) w(rtt);
    return rtt;
  }

  /** The socket closed: every waiter gets undefined. */
  closed(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) for (const w of waiting) w(undefined);
  }
}
