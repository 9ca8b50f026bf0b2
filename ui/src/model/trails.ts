/**
 * Trails: where each entity was over the last minutes of playback, from the events the page receives, as lines
 * drawn behind the entities. Memory is bounded: at most `maxPoints` positions per entity and `maxEntities`
 * entities (the least recently moved are forgotten first); positions older than the trail's length are dropped.
 * A `state` (a seek) or going back in time starts every trail afresh: the events in between were not seen.
 */

import type { Feature, LineString } from "geojson";

import type { WireEvent } from "../api/protocol.js";
import { anchorOf, locate } from "./geo.js";

export interface TrailOptions {
  /** How much history a trail shows, in ms of playback time. */
  lengthMs: number;
  maxPoints?: number;
  maxEntities?: number;
}

interface Trail {
  table: string;
  /** Flat [t, lon, lat, t, lon, lat, ...], oldest first. */
  points: number[];
}

export class Trails {
  private readonly trails = new Map<string, Trail>();
  private latest = -Infinity;
  lengthMs: number;
  readonly maxPoints: number;
  readonly maxEntities: number;

  constructor(options: TrailOptions) {
    this.lengthMs = options.lengthMs;
    this.maxPoints = options.maxPoints ?? 120;
    this.maxEntities = options.maxEntities ?? 20000;
  }

  /** Entities with a trail. */
  get size(): number {
    return this.trails.size;
  }

  /** Positions kept, over every trail (for tests and diagnostics). */
  get points(): number {
    let count = 0;
    for (const trail of this.trails.values()) count += trail.points.length / 3;
    return count;
  }

  clear(): void {
    this.trails.clear();
    this.latest = -Infinity;
  }

  /** Take the events of an `events` frame, in order. */
  addEvents(events: readonly WireEvent[]): void {
    for (const event of events) {
      const key = `${event.table_name}\u0000${event.entity_id}`;
      const t = Date.parse(event.event_timestamp);
      if (Number.isNaN(t)) continue;
      if (t < this.latest - 1000) this.clear(); // back in time: what was seen no longer leads here
      this.latest = Math.max(this.latest, t);
      if (event.op === "d") {
        this.trails.delete(key);
        continue;
      }
      const geometry = locate(event.entity_state).geometry;
      const at = geometry ? anchorOf(geometry) : null;
      if (!at) continue;
      this.add(key, event.table_name, t, at);
    }
  }

  private add(key: string, table: string, t: number, [lon, lat]: [number, number]): void {
    let trail = this.trails.get(key);
    if (trail) this.trails.delete(key); // re-inserted below: the map's order is least recently moved first
    else trail = { table, points: [] };
    const points = trail.points;
    const n = points.length;
    if (n === 0 || points[n - 2] !== lon || points[n - 1] !== lat) points.push(t, lon, lat);
    if (points.length > this.maxPoints * 3) points.splice(0, points.length - this.maxPoints * 3);
    this.trails.set(key, trail);
    while (this.trails.size > this.maxEntities) {
      const oldest = this.trails.keys().next().value as string;
      this.trails.delete(oldest);
    }
  }

  /** The trails as lines of the positions within `lengthMs` before `now` (older positions are dropped). */
  features(now: number): Feature<LineString>[] {
    const since = now - this.lengthMs;
    const features: Feature<LineString>[] = [];
    for (const [key, trail] of this.trails) {
      const points = trail.points;
      let first = 0;
      while (first < points.length && points[first]! < since) first += 3;
      if (first > 0) points.splice(0, first);
      if (points.length === 0) {
        this.trails.delete(key);
        continue;
      }
      if (points.length < 6) continue;
      const coordinates: [number, number][] = [];
      for (let i = 0; i < points.length; i += 3) coordinates.push([points[i + 1]!, points[i + 2]!]);
      features.push({ type: "Feature", geometry: { type: "LineString", coordinates }, properties: { table: trail.table } });
    }
    return features;
  }
}
