/**
 * The picture: every entity the playback says exists now, keyed by `(table_name, entity_id)`, and the changes
 * since the map last drew them, as a diff the map applies in one go (MapLibre's `updateData`).
 *
 * `events` frames change entities one by one; a `state` (in chunks) replaces the whole picture: the chunks are
 * staged and swapped in when the last arrives, so a seek never shows a half-empty map.
 */

import type { Feature, Geometry } from "geojson";

import type { WireEvent } from "../api/protocol.js";
import { Bounds, anchorOf, locate } from "./geo.js";

/** Colours of tables, chosen for a dark map; a table keeps its colour for the life of the page. */
export const PALETTE = ["#4cc9f0", "#f9c74f", "#f3722c", "#90be6d", "#c77dff", "#ff6b9a", "#43aa8b", "#f8961e", "#a5b4fc", "#e9edc9"];

export interface EntityRecord {
  /** The map feature id (stable while the entity exists in this page). */
  readonly fid: number;
  readonly key: string;
  readonly table: string;
  readonly entityId: string;
  op: WireEvent["op"];
  timestamp: string;
  state: unknown;
  geometry: Geometry | null;
  properties: Record<string, unknown>;
  kind: string;
  label: string;
}

/** The changes to send to the map: the entities, and the label points of those that are not points. */
export interface EntityDiff {
  upserts: Feature[];
  removes: number[];
  anchorUpserts: Feature[];
}

export interface TableInfo {
  name: string;
  color: string;
  count: number;
}

function keyOf(table: string, entityId: string): string {
  return `${table}\u0000${entityId}`;
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function text(value: unknown): string | null {
  return typeof value === "string" && value.trim() ? value : typeof value === "number" ? String(value) : null;
}

export class EntityStore {
  private readonly byKey = new Map<string, EntityRecord>();
  private readonly byFid = new Map<number, EntityRecord>();
  private readonly fids = new Map<string, number>();
  private readonly tables = new Map<string, TableInfo>();
  private nextFid = 1;
  private staging: Map<string, WireEvent> | null = null;
  private upserts = new Map<number, EntityRecord>();
  private removes = new Set<number>();

  /** Entities in the picture. */
  get size(): number {
    return this.byKey.size;
  }

  /** Entities that have a location (drawn on the map). */
  located = 0;

  get(fid: number): EntityRecord | undefined {
    return this.byFid.get(fid);
  }

  find(table: string, entityId: string): EntityRecord | undefined {
    return this.byKey.get(keyOf(table, entityId));
  }

  /** The tables seen so far, with their colour and how many entities each has now. */
  tableList(): TableInfo[] {
    return [...this.tables.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  colorOf(table: string): string {
    return this.table(table).color;
  }

  /** Whether a state is being received (chunks staged, not yet shown). */
  get receivingState(): boolean {
    return this.staging !== null;
  }

  /** Apply the events of an `events` frame, in order. */
  applyEvents(events: readonly WireEvent[]): void {
    for (const event of events) this.apply(event);
  }

  /** Take one chunk of a `state` message; the picture changes when the last chunk arrives. */
  applyStateChunk(entities: readonly WireEvent[], chunk: number, chunks: number): void {
    if (chunk === 1 || this.staging === null) this.staging = new Map();
    const staging = this.staging;
    for (const event of entities) staging.set(keyOf(event.table_name, event.entity_id), event);
    if (chunk >= chunks) this.commitState();
  }

  private commitState(): void {
    const next = this.staging ?? new Map<string, WireEvent>();
    this.staging = null;
    for (const [key, record] of this.byKey) {
      if (!next.has(key)) this.remove(record);
    }
    for (const event of next.values()) this.apply(event);
  }

  /** Forget everything (sign-out, another session). */
  clear(): void {
    for (const record of this.byKey.values()) this.removes.add(record.fid);
    this.byKey.clear();
    this.byFid.clear();
    this.upserts.clear();
    this.located = 0;
    this.staging = null;
    for (const info of this.tables.values()) info.count = 0;
  }

  /** The changes since the last call, as features for the map; null when nothing changed. */
  takeDiff(): EntityDiff | null {
    if (this.upserts.size === 0 && this.removes.size === 0) return null;
    const upserts: Feature[] = [];
    const anchorUpserts: Feature[] = [];
    for (const record of this.upserts.values()) {
      if (record.geometry === null) continue;
      upserts.push(this.feature(record));
      const anchor = this.anchor(record);
      if (anchor) anchorUpserts.push(anchor);
    }
    const diff: EntityDiff = { upserts, removes: [...this.removes], anchorUpserts };
    this.upserts = new Map();
    this.removes = new Set();
    return diff;
  }

  /** Every located entity as a feature, and the label anchors (when the map sources are created). */
  allFeatures(): { features: Feature[]; anchors: Feature[] } {
    const features: Feature[] = [];
    const anchors: Feature[] = [];
    for (const record of this.byKey.values()) {
      if (record.geometry === null) continue;
      features.push(this.feature(record));
      const anchor = this.anchor(record);
      if (anchor) anchors.push(anchor);
    }
    this.upserts.clear();
    this.removes.clear();
    return { features, anchors };
  }

  /** The bounds of every located entity (of the given tables, when given). */
  bounds(tables?: ReadonlySet<string>): Bounds {
    const bounds = new Bounds();
    for (const record of this.byKey.values()) {
      if (record.geometry !== null && (!tables || tables.has(record.table))) bounds.extend(record.geometry);
    }
    return bounds;
  }

  /** A few entities' first coordinates (diagnostics and tests: did anything move?). */
  sample(limit: number): { key: string; coordinates: unknown }[] {
    const out: { key: string; coordinates: unknown }[] = [];
    for (const record of this.byKey.values()) {
      if (out.length >= limit) break;
      if (record.geometry && record.geometry.type !== "GeometryCollection") {
        out.push({ key: `${record.table}/${record.entityId}`, coordinates: record.geometry.coordinates });
      }
    }
    return out;
  }

  private feature(record: EntityRecord): Feature {
    return {
      type: "Feature",
      id: record.fid,
      geometry: record.geometry as Geometry,
      properties: { table: record.table, kind: record.kind, label: record.label, color: this.colorOf(record.table) },
    };
  }

  /** The label point of a line or polygon (points are labelled where they are). */
  private anchor(record: EntityRecord): Feature | null {
    const geometry = record.geometry;
    if (geometry === null || geometry.type === "Point" || geometry.type === "MultiPoint") return null;
    const at = anchorOf(geometry);
    if (!at) return null;
    return { type: "Feature", id: record.fid, geometry: { type: "Point", coordinates: at }, properties: { label: record.label, table: record.table } };
  }

  private table(name: string): TableInfo {
    let info = this.tables.get(name);
    if (!info) {
      const used = new Set([...this.tables.values()].map((t) => t.color));
      let index = hash(name) % PALETTE.length;
      for (let probe = 0; probe < PALETTE.length && used.has(PALETTE[index] as string); probe++) {
        index = (index + 1) % PALETTE.length;
      }
      info = { name, color: PALETTE[index] as string, count: 0 };
      this.tables.set(name, info);
    }
    return info;
  }

  private apply(event: WireEvent): void {
    const key = keyOf(event.table_name, event.entity_id);
    const existing = this.byKey.get(key);
    if (event.op === "d") {
      if (existing) this.remove(existing);
      return;
    }
    const { geometry, properties } = locate(event.entity_state);
    const state = event.entity_state;
    const stateObject = typeof state === "object" && state !== null ? (state as Record<string, unknown>) : {};
    const kind = text(properties["kind"]) ?? text(stateObject["entity_type"]) ?? text(stateObject["kind"]) ?? shortTable(event.table_name);
    const label =
      text(properties["name"]) ?? text(properties["label"]) ?? text(stateObject["name"]) ?? text(properties["plate"]) ?? event.entity_id.slice(0, 8);
    if (existing) {
      if (existing.geometry !== null) this.located -= 1;
      existing.op = event.op;
      existing.timestamp = event.event_timestamp;
      existing.state = state;
      existing.geometry = geometry;
      existing.properties = properties;
      existing.kind = kind;
      existing.label = label;
      if (geometry !== null) this.located += 1;
      else this.removes.add(existing.fid);
      this.upserts.set(existing.fid, existing);
      return;
    }
    let fid = this.fids.get(key);
    if (fid === undefined) {
      fid = this.nextFid++;
      this.fids.set(key, fid);
    }
    const record: EntityRecord = {
      fid,
      key,
      table: event.table_name,
      entityId: event.entity_id,
      op: event.op,
      timestamp: event.event_timestamp,
      state,
      geometry,
      properties,
      kind,
      label,
    };
    this.byKey.set(key, record);
    this.byFid.set(fid, record);
    this.table(event.table_name).count += 1;
    if (geometry !== null) this.located += 1;
    this.removes.delete(fid);
    this.upserts.set(fid, record);
  }

  private remove(record: EntityRecord): void {
    this.byKey.delete(record.key);
    this.byFid.delete(record.fid);
    this.upserts.delete(record.fid);
    this.removes.add(record.fid);
    this.table(record.table).count -= 1;
    if (record.geometry !== null) this.located -= 1;
  }
}

function shortTable(table: string): string {
  const dot = table.lastIndexOf(".");
  return dot >= 0 ? table.slice(dot + 1) : table;
}
