/**
 * In-page measurements: how long applying each frame took (from the message's arrival, JSON parsing included,
 * to the picture being updated), how long each map flush took, and a few counters. Bounded: the last
 * `capacity` samples of each kind.
 */

export interface Stats {
  count: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
  items: number;
}

class Ring {
  private readonly values: Float64Array;
  private readonly items: Float64Array;
  private next = 0;
  size = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
    this.items = new Float64Array(capacity);
  }

  push(value: number, items: number): void {
    this.values[this.next] = value;
    this.items[this.next] = items;
    this.next = (this.next + 1) % this.values.length;
    this.size = Math.min(this.size + 1, this.values.length);
  }

  stats(): Stats {
    if (this.size === 0) return { count: 0, p50: 0, p95: 0, max: 0, mean: 0, items: 0 };
    const sorted = Array.from(this.values.subarray(0, this.size)).sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
    let items = 0;
    for (let i = 0; i < this.size; i++) items += this.items[i] ?? 0;
    return {
      count: this.size,
      p50: at(0.5),
      p95: at(0.95),
      max: sorted[sorted.length - 1] ?? 0,
      mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
      items: items / this.size,
    };
  }
}

export type MetricKind = "events" | "state" | "flush";

export class Metrics {
  private rings = new Map<MetricKind, Ring>();
  private counts = new Map<string, number>();

  constructor(private readonly capacity = 5000) {}

  record(kind: MetricKind, ms: number, items: number): void {
    let ring = this.rings.get(kind);
    if (!ring) {
      ring = new Ring(this.capacity);
      this.rings.set(kind, ring);
    }
    ring.push(ms, items);
  }

  count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  counter(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  counters(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  summary(): Record<MetricKind, Stats> {
    const empty = new Ring(1).stats();
    return {
      events: this.rings.get("events")?.stats() ?? empty,
      state: this.rings.get("state")?.stats() ?? empty,
      flush: this.rings.get("flush")?.stats() ?? empty,
    };
  }

  reset(): void {
    this.rings.clear();
    this.counts.clear();
  }
}
