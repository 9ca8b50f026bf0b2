/**
 * The timeline: the event density of the chosen window (a histogram from `/replay/histogram`, stacked by table),
 * the playback position, and seeking by click or drag (the seek is sent when the pointer is released; the marker
 * follows the pointer meanwhile). Drawn on one canvas.
 */

import type { Histogram } from "../api/client.js";
import { formatUtc } from "./dom.js";

export interface TimelineOptions {
  canvas: HTMLCanvasElement;
  onSeek: (ms: number) => void;
  /** A shift-click: pause playback when it gets there. */
  onUntil?: (ms: number) => void;
  colorOf: (table: string) => string;
}

interface Bucket {
  start: number;
  end: number;
  count: number;
  tables: [string, number][];
}

const TICK_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800].map(
  (s) => s * 1000,
);

export class Timeline {
  private start = 0;
  private end = 1;
  private position: number | null = null;
  private preview: number | null = null;
  private hover: number | null = null;
  private buckets: Bucket[] = [];
  private maxCount = 0;
  private dirty = false;
  private drawnX = -1;
  private pointerId: number | null = null;
  private loop: [number, number] | null = null;
  private until: number | null = null;
  private gaps: [number, number][] = [];

  constructor(private readonly options: TimelineOptions) {
    const canvas = options.canvas;
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      if (event.shiftKey && options.onUntil) {
        options.onUntil(this.msAt(event.offsetX));
        return;
      }
      canvas.setPointerCapture(event.pointerId);
      this.pointerId = event.pointerId;
      this.preview = this.msAt(event.offsetX);
      this.changed();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (this.pointerId === event.pointerId) this.preview = this.msAt(event.offsetX);
      this.hover = this.msAt(event.offsetX);
      this.changed();
    });
    canvas.addEventListener("pointerleave", () => {
      this.hover = null;
      this.changed();
    });
    const release = (event: PointerEvent, commit: boolean): void => {
      if (this.pointerId !== event.pointerId) return;
      this.pointerId = null;
      const target = this.msAt(event.offsetX);
      this.preview = null;
      if (commit) {
        this.position = target;
        options.onSeek(target);
      }
      this.changed();
    };
    canvas.addEventListener("pointerup", (event) => release(event, true));
    canvas.addEventListener("pointercancel", (event) => release(event, false));
    new ResizeObserver(() => this.changed()).observe(canvas);
    this.changed();
  }

  /** The window shown, in ms since the epoch. */
  setWindow(start: number, end: number): void {
    if (start === this.start && end === this.end) return;
    this.start = start;
    this.end = Math.max(end, start + 1);
    this.changed();
  }

  get window(): [number, number] {
    return [this.start, this.end];
  }

  setHistogram(histogram: Histogram | null): void {
    this.buckets = [];
    this.maxCount = 0;
    if (histogram) {
      const size = histogram.bucket_seconds * 1000;
      for (const bucket of histogram.buckets) {
        const start = Date.parse(bucket.start);
        const tables = Object.entries(bucket.tables ?? {}).sort((a, b) => a[0].localeCompare(b[0]));
        this.buckets.push({ start, end: start + size, count: bucket.count, tables });
        this.maxCount = Math.max(this.maxCount, bucket.count);
      }
    }
    this.changed();
  }

  /** The loop (a band with brackets) and the until (a dashed marker) to show, as the server reported them. */
  setTransport(loop: [number, number] | null, until: number | null): void {
    if (loop?.[0] === this.loop?.[0] && loop?.[1] === this.loop?.[1] && until === this.until) return;
    this.loop = loop;
    this.until = until;
    this.options.canvas.dataset["loop"] = loop ? `${loop[0]}-${loop[1]}` : "";
    this.options.canvas.dataset["until"] = until === null ? "" : String(until);
    this.changed();
  }

  /** The quiet stretches to shade (no events; a skipping playback jumps them). */
  setGaps(gaps: [number, number][]): void {
    this.gaps = gaps;
    this.options.canvas.dataset["gaps"] = gaps.map(([from, to]) => `${from}-${to}`).join(" ");
    this.changed();
  }

  get hasHistogram(): boolean {
    return this.buckets.length > 0;
  }

  setPosition(ms: number | null): void {
    this.position = ms;
    const x = ms === null ? -1 : Math.round(this.xAt(ms));
    if (x !== this.drawnX) this.changed();
  }

  /** Whether the user is dragging the marker (the page then leaves the position alone). */
  get dragging(): boolean {
    return this.pointerId !== null;
  }

  private changed(): void {
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => this.draw());
  }

  private width(): number {
    return this.options.canvas.clientWidth || 1;
  }

  private msAt(x: number): number {
    const fraction = Math.min(1, Math.max(0, x / this.width()));
    return Math.round(this.start + fraction * (this.end - this.start));
  }

  private xAt(ms: number): number {
    return ((ms - this.start) / (this.end - this.start)) * this.width();
  }

  /** Draw now (also called by the first frame). */
  draw(): void {
    this.dirty = false;
    const canvas = this.options.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext("2d");
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.fillStyle = "#0f1c27";
    g.fillRect(0, 0, width, height);
    const axis = 16;
    const plot = height - axis;

    // Histogram: one bar per bucket, stacked by table in each table's colour.
    if (this.maxCount > 0) {
      for (const bucket of this.buckets) {
        const x0 = Math.max(0, this.xAt(bucket.start));
        const x1 = Math.min(width, this.xAt(bucket.end));
        if (x1 <= 0 || x0 >= width) continue;
        const barWidth = Math.max(1, x1 - x0 - (x1 - x0 > 3 ? 1 : 0));
        const total = (bucket.count / this.maxCount) * (plot - 6);
        if (bucket.tables.length === 0) {
          g.fillStyle = "rgba(120, 160, 190, 0.55)";
          g.fillRect(x0, plot - total, barWidth, total);
          continue;
        }
        let y = plot;
        for (const [table, count] of bucket.tables) {
          const part = bucket.count ? (count / bucket.count) * total : 0;
          g.fillStyle = this.options.colorOf(table);
          g.globalAlpha = 0.55;
          g.fillRect(x0, y - part, barWidth, part);
          y -= part;
        }
        g.globalAlpha = 1;
      }
    }

    // Axis ticks with times (UTC).
    g.fillStyle = "#08121a";
    g.fillRect(0, plot, width, axis);
    const span = this.end - this.start;
    const step = TICK_STEPS_MS.find((s) => (s / span) * width >= 110) ?? TICK_STEPS_MS[TICK_STEPS_MS.length - 1]!;
    g.font = "10px ui-monospace, SFMono-Regular, Menlo, monospace";
    g.textBaseline = "middle";
    g.fillStyle = "#7e93a6";
    g.strokeStyle = "rgba(126, 147, 166, 0.25)";
    for (let t = Math.ceil(this.start / step) * step; t <= this.end; t += step) {
      const x = Math.round(this.xAt(t)) + 0.5;
      g.beginPath();
      g.moveTo(x, 0);
      g.lineTo(x, plot);
      g.stroke();
      const label = step >= 86400000 ? formatUtc(t, false).slice(5, 10) : step >= 60000 ? formatUtc(t, false).slice(11) : formatUtc(t).slice(11);
      g.fillText(label, x + 3, plot + axis / 2);
    }

    // Quiet stretches: hatched, so that what playback may skip stands out from a merely sparse stretch.
    if (this.gaps.length > 0) {
      g.save();
      g.beginPath();
      for (const [from, to] of this.gaps) {
        const x0 = Math.max(0, this.xAt(from));
        const x1 = Math.min(width, this.xAt(to));
        if (x1 > x0) g.rect(x0, 0, x1 - x0, plot);
      }
      g.fillStyle = "rgba(126, 147, 166, 0.10)";
      g.fill();
      g.clip();
      g.strokeStyle = "rgba(126, 147, 166, 0.35)";
      g.beginPath();
      for (let x = -plot; x < width; x += 8) {
        g.moveTo(x, plot);
        g.lineTo(x + plot, 0);
      }
      g.stroke();
      g.restore();
    }

    // The loop: a band over its stretch, with brackets at its ends.
    if (this.loop) {
      const x0 = Math.max(0, this.xAt(this.loop[0]));
      const x1 = Math.min(width, this.xAt(this.loop[1]));
      if (x1 > x0) {
        g.fillStyle = "rgba(157, 223, 128, 0.12)";
        g.fillRect(x0, 0, x1 - x0, plot);
        g.strokeStyle = "#9ddf80";
        g.lineWidth = 2;
        for (const [x, inward] of [
          [x0 + 1, 5],
          [x1 - 1, -5],
        ] as const) {
          g.beginPath();
          g.moveTo(x + inward, 1);
          g.lineTo(x, 1);
          g.lineTo(x, plot - 1);
          g.lineTo(x + inward, plot - 1);
          g.stroke();
        }
        g.lineWidth = 1;
      }
    }

    // The until: a dashed marker where playback will pause.
    if (this.until !== null && this.until >= this.start && this.until <= this.end) {
      const x = Math.round(this.xAt(this.until)) + 0.5;
      g.strokeStyle = "#f4a261";
      g.setLineDash([4, 3]);
      g.lineWidth = 2;
      g.beginPath();
      g.moveTo(x, 0);
      g.lineTo(x, plot);
      g.stroke();
      g.setLineDash([]);
      g.lineWidth = 1;
    }

    // Hover time.
    if (this.hover !== null && this.pointerId === null) {
      const x = Math.round(this.xAt(this.hover)) + 0.5;
      g.strokeStyle = "rgba(220, 230, 238, 0.35)";
      g.beginPath();
      g.moveTo(x, 0);
      g.lineTo(x, plot);
      g.stroke();
    }

    // The position (or the drag preview) as a bright marker with its time.
    const shown = this.preview ?? this.position;
    this.drawnX = this.position === null ? -1 : Math.round(this.xAt(this.position));
    if (shown !== null) {
      const x = Math.round(this.xAt(shown)) + 0.5;
      g.strokeStyle = this.preview !== null ? "#ffd166" : "#4cc9f0";
      g.lineWidth = 2;
      g.beginPath();
      g.moveTo(x, 0);
      g.lineTo(x, plot);
      g.stroke();
      g.lineWidth = 1;
      if (this.preview !== null) {
        const label = formatUtc(shown);
        const w = g.measureText(label).width + 10;
        const lx = Math.min(Math.max(0, x - w / 2), width - w);
        g.fillStyle = "#ffd166";
        g.fillRect(lx, 2, w, 14);
        g.fillStyle = "#0a141d";
        g.fillText(label, lx + 5, 9);
      }
    }
    const canvasLabel = this.position === null ? "no position" : formatUtc(this.position);
    canvas.setAttribute("aria-valuenow", String(this.position ?? this.start));
    canvas.setAttribute("aria-valuetext", canvasLabel);
    canvas.setAttribute("aria-valuemin", String(this.start));
    canvas.setAttribute("aria-valuemax", String(this.end));
  }
}
