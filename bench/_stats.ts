// Small statistics functions shared by the load generator and the runner.

/**
 * The median of some numbers (NaN for none).
 *
 * @param values The numbers; not changed.
 * @returns The middle value, or the mean of the two middle ones.
 */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A fixed-size uniform sample of a stream of latencies (reservoir sampling),
 * so a long run keeps bounded memory.
 */
export class Reservoir {
  readonly #samples: Float64Array;
  #seen = 0;

  /** @param capacity How many samples to keep at most. */
  constructor(capacity = 1 << 18) {
    this.#samples = new Float64Array(capacity);
  }

  /** Offers one value. */
  add(value: number): void {
    const i = this.#seen++;
    if (i < this.#samples.length) {
      this.#samples[i] = value;
    } else {
      const j = Math.floor(Math.random() * this.#seen);
      if (j < this.#samples.length) this.#samples[j] = value;
    }
  }

  /**
   * Percentiles of what was kept.
   *
   * @param ps The wanted percentiles, 0 to 100.
   * @returns One value per percentile (NaN when nothing was added).
   */
  percentiles(ps: readonly number[]): number[] {
    const n = Math.min(this.#seen, this.#samples.length);
    const sorted = this.#samples.slice(0, n).sort();
    return ps.map((p) =>
      n === 0 ? NaN : sorted[Math.min(n - 1, Math.floor(p / 100 * n))]!
    );
  }
}
