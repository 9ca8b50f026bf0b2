/**
 * The trails layer: a line per entity behind the entities (below their layers), from a `Trails` model, coloured
 * by table. Redrawn at most four times a second while shown; hidden, it keeps nothing.
 */

import type * as maplibregl from "maplibre-gl";
import type { GeoJSONSource } from "maplibre-gl";

import type { Trails } from "../model/trails.js";

const SOURCE = "trails";
const LAYER = "trails";
const BELOW = "entities-fill";
const REDRAW_MS = 250;

export class TrailLayer {
  private drawnAt = 0;
  private added = false;
  enabled = false;
  /** Trails in the last drawing. */
  drawn = 0;

  constructor(
    private readonly map: maplibregl.Map,
    private readonly trails: Trails,
    private readonly colorOf: (table: string) => string,
  ) {
    if (map.isStyleLoaded()) this.add();
    else map.once("load", () => this.add());
  }

  private add(): void {
    this.map.addSource(SOURCE, { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    this.map.addLayer(
      {
        id: LAYER,
        type: "line",
        source: SOURCE,
        layout: { "line-cap": "round", "line-join": "round", visibility: this.enabled ? "visible" : "none" },
        paint: { "line-color": ["get", "color"], "line-width": 2, "line-opacity": 0.55 },
      },
      this.map.getLayer(BELOW) ? BELOW : undefined,
    );
    this.added = true;
  }

  /** Show or hide the trails; hiding forgets them (they are rebuilt from the next events). */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    if (!enabled) this.trails.clear();
    if (!this.added) return;
    this.map.setLayoutProperty(LAYER, "visibility", enabled ? "visible" : "none");
    if (!enabled) {
      this.drawn = 0;
      (this.map.getSource(SOURCE) as GeoJSONSource).setData({ type: "FeatureCollection", features: [] });
    }
  }

  /** Per animation frame, with the playback position (ms; null when not attached). */
  onAnimationFrame(now: number, position: number | null): void {
    if (!this.enabled || !this.added || position === null || now - this.drawnAt < REDRAW_MS) return;
    this.drawnAt = now;
    const features = this.trails.features(position);
    for (const feature of features) {
      const table = String(feature.properties?.["table"] ?? "");
      feature.properties = { table, color: this.colorOf(table) };
    }
    this.drawn = features.length;
    (this.map.getSource(SOURCE) as GeoJSONSource).setData({ type: "FeatureCollection", features });
  }
}
