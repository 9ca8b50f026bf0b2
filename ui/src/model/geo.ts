/**
 * Where an entity is: its GeoJSON geometry and display properties, read from its `entity_state`.
 *
 * The seed's entities carry a `geojson` field holding a GeoJSON Feature as a string; other shapes are accepted
 * too: `geojson` as an object, a `geometry` field, the state being a Feature itself, or `lon`/`lat` fields.
 */

import type { Geometry } from "geojson";

export interface Located {
  geometry: Geometry | null;
  /** The Feature's own properties (name, kind, status, ...), for labels and the popup. */
  properties: Record<string, unknown>;
}

const GEOMETRY_TYPES = new Set(["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asGeometry(value: unknown): Geometry | null {
  if (!isObject(value) || typeof value["type"] !== "string" || !GEOMETRY_TYPES.has(value["type"])) return null;
  if (value["type"] === "GeometryCollection") return Array.isArray(value["geometries"]) ? (value as unknown as Geometry) : null;
  return Array.isArray(value["coordinates"]) ? (value as unknown as Geometry) : null;
}

function fromFeatureLike(value: unknown): Located | null {
  if (typeof value === "string") {
    try {
      return fromFeatureLike(JSON.parse(value));
    } catch {
      return null;
    }
  }
  if (!isObject(value)) return null;
  if (value["type"] === "Feature") {
    return { geometry: asGeometry(value["geometry"]), properties: isObject(value["properties"]) ? value["properties"] : {} };
  }
  const geometry = asGeometry(value);
  return geometry ? { geometry, properties: {} } : null;
}

function number(value: unknown): number | null {
  const n = typeof value === "string" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : null;
}

/** The geometry and properties of an entity's state; geometry null when it has no location. */
export function locate(state: unknown): Located {
  if (!isObject(state)) return { geometry: null, properties: {} };
  for (const key of ["geojson", "geometry", "location", "geom"]) {
    if (key in state) {
      const found = fromFeatureLike(state[key]);
      if (found) return found;
    }
  }
  const itself = fromFeatureLike(state);
  if (itself) return itself;
  const lon = number(state["lon"] ?? state["lng"] ?? state["longitude"]);
  const lat = number(state["lat"] ?? state["latitude"]);
  if (lon !== null && lat !== null) return { geometry: { type: "Point", coordinates: [lon, lat] }, properties: {} };
  return { geometry: null, properties: {} };
}

/** Bounding box `[west, south, east, north]` accumulator over geometries. */
export class Bounds {
  west = Infinity;
  south = Infinity;
  east = -Infinity;
  north = -Infinity;

  get empty(): boolean {
    return this.west > this.east;
  }

  extend(geometry: Geometry): void {
    if (geometry.type === "GeometryCollection") {
      for (const part of geometry.geometries) this.extend(part);
      return;
    }
    this.extendCoordinates(geometry.coordinates);
  }

  private extendCoordinates(coordinates: unknown): void {
    if (!Array.isArray(coordinates)) return;
    if (typeof coordinates[0] === "number") {
      const [lon, lat] = coordinates as number[];
      if (lon === undefined || lat === undefined) return;
      if (lon < this.west) this.west = lon;
      if (lon > this.east) this.east = lon;
      if (lat < this.south) this.south = lat;
      if (lat > this.north) this.north = lat;
      return;
    }
    for (const part of coordinates) this.extendCoordinates(part);
  }
}

/** A representative point of a geometry (first vertex's ring centroid for polygons): where to follow it. */
export function anchorOf(geometry: Geometry): [number, number] | null {
  const bounds = new Bounds();
  bounds.extend(geometry);
  if (bounds.empty) return null;
  return [(bounds.west + bounds.east) / 2, (bounds.south + bounds.north) / 2];
}
