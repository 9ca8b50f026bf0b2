/**
 * The viewport the map reports to the server (`view` messages, docs/protocol.md "Viewport"): the box of what the
 * map shows, sent a little after the map stops moving, so the server sends only the entities in it.
 */

export type Bbox = [number, number, number, number];

/** How long the map must rest before its viewport is sent (ms). */
export const VIEWPORT_DEBOUNCE_MS = 250;

function wrapLongitude(lon: number): number {
  if (lon >= -180 && lon <= 180) return lon;
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/**
 * The `bbox` of a map view (`[west, south, east, north]`), or null when the view shows every longitude. A view
 * across the antimeridian (MapLibre reports longitudes past ±180 there) becomes a box with west > east.
 */
export function viewportBox(west: number, south: number, east: number, north: number): Bbox | null {
  if (!(east - west < 360)) return null;
  const clampLat = (lat: number): number => Math.max(-90, Math.min(90, lat));
  return [round(wrapLongitude(west)), round(clampLat(south)), round(wrapLongitude(east)), round(clampLat(north))];
}

/** Sends a map's viewport, debounced, and only when it changed since it was last sent on this connection. */
export class ViewportReporter {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sent: string | null = null;
  /** How many times the map rested, and how many viewports were sent (for the diagnostics). */
  readonly counts = { moves: 0, sent: 0 };

  constructor(
    readonly current: () => Bbox | null,
    private readonly send: (bbox: Bbox | null) => boolean,
    private readonly delayMs = VIEWPORT_DEBOUNCE_MS,
  ) {}

  /** The map moved: send its viewport once it has rested. */
  moved(): void {
    this.counts.moves += 1;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.delayMs);
  }

  /** A new connection: its viewer has no box yet, so send the viewport again (debounced too). */
  reconnected(): void {
    this.sent = null;
    this.moved();
  }

  private flush(): void {
    const bbox = this.current();
    const key = JSON.stringify(bbox);
    if (key === this.sent) return;
    if (this.send(bbox)) {
      this.sent = key;
      this.counts.sent += 1;
    }
  }
}
