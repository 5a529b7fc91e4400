// How long a connection has waited on its peer with no traffic: what
// serve()'s idleTimeout reads. Clocks cost a system call here and there,
// so traffic is dated only when someone looks: at most one look late,
// never early.

/** The idle time of one connection, from its waits and its traffic. */
export class IdleClock {
  /** Reads (and waits for input) waiting on the peer. */
  waiters = 0;
  /** A flush is waiting for the peer to take bytes. */
  draining = false;
  #waitStart = 0;
  #seenTraffic = 0;
  #lastActive = 0;

  /** A read begins to wait on the peer. */
  beginWait(): void {
    if (this.waiters++ === 0 && !this.draining) this.#waitStart = NaN;
  }

  /** A read no longer waits. */
  endWait(): void {
    this.waiters--;
  }

  /** A flush begins to wait on the peer. */
  beginDrain(): void {
    if (this.waiters === 0) this.#waitStart = NaN;
    this.draining = true;
  }

  /**
   * Milliseconds since traffic last moved while something waited on the
   * peer; 0 when nothing waits. `traffic` counts reads and writes so far.
   */
  idleTime(traffic: number): number {
    if (this.waiters === 0 && !this.draining) return 0;
    const now = performance.now();
    if (traffic !== this.#seenTraffic) {
      this.#seenTraffic = traffic;
      this.#lastActive = now;
    }
    // A wait is dated when first looked at, like traffic.
    if (Number.isNaN(this.#waitStart)) this.#waitStart = now;
    return now - Math.max(this.#lastActive, this.#waitStart);
  }
}
