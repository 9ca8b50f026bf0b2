/**
 * The map's style, inline: a dark control-room basemap from Natural Earth (land, coastlines and borders, shipped
 * with the page from the `world-atlas` npm package), an optional raster tile layer (MSR_TILE_URL), and the
 * entity layers. Nothing in it is fetched from outside the server; labels use the browser's own fonts (no
 * `glyphs` URL: MapLibre renders text locally).
 */

import type { ExpressionSpecification, LayerSpecification, StyleSpecification } from "maplibre-gl";


export const ENTITY_SOURCE = "entities";
export const ANCHOR_SOURCE = "entity-anchors";
/** The layers drawing entities (clickable). */
export const ENTITY_LAYERS = ["entities-fill", "entities-line", "entities-point"] as const;
/** The label layers: points are labelled where they are, lines and polygons at their anchor point. */
export const LABEL_LAYERS = ["entities-label", "entities-area-label"] as const;

import { BASEMAP_TILES } from "./basemap.js";
const FONT = ["sans-serif"];

/** Absolute tile URL template (MapLibre needs absolute URLs; MSR_TILE_URL may be a path on this server). */
export function tileTemplate(tileUrl: string, origin: string): string {
  return tileUrl.startsWith("/") && !tileUrl.startsWith("//") ? `${origin}${tileUrl}` : tileUrl;
}

const LABEL_LAYOUT = {
  "text-field": ["get", "label"] as ExpressionSpecification,
  "text-font": FONT,
  "text-size": 11,
  "text-optional": true,
  "text-max-width": 10,
};
const LABEL_PAINT = { "text-color": "#dce6ee", "text-halo-color": "#0a141d", "text-halo-width": 1.4 };

const selected: ExpressionSpecification = ["boolean", ["feature-state", "selected"], false];

export function buildStyle(origin: string, tileUrl: string | null): StyleSpecification {
  const layers: LayerSpecification[] = [
    { id: "background", type: "background", paint: { "background-color": "#0a141d" } },
    { id: "land", type: "fill", source: "basemap", "source-layer": "land", paint: { "fill-color": "#17232d" } },
  ];
  const sources: StyleSpecification["sources"] = {
    basemap: { type: "vector", tiles: [BASEMAP_TILES], maxzoom: 6, attribution: "Natural Earth" },
    [ENTITY_SOURCE]: { type: "geojson", data: { type: "FeatureCollection", features: [] }, tolerance: 0.2, buffer: 32 },
    [ANCHOR_SOURCE]: { type: "geojson", data: { type: "FeatureCollection", features: [] }, buffer: 32 },
  };
  if (tileUrl) {
    sources["tiles"] = { type: "raster", tiles: [tileTemplate(tileUrl, origin)], tileSize: 256, maxzoom: 19 };
    layers.push({ id: "tiles", type: "raster", source: "tiles", paint: { "raster-opacity": 0.85 } });
  }
  layers.push(
    {
      id: "coastline",
      type: "line",
      source: "basemap",
      "source-layer": "land",
      paint: { "line-color": "#4f6b82", "line-width": ["interpolate", ["linear"], ["zoom"], 2, 0.6, 10, 1.4] },
    },
    {
      id: "borders",
      type: "line",
      source: "basemap",
      "source-layer": "borders",
      paint: { "line-color": "#5d7389", "line-width": 1, "line-dasharray": [3, 2], "line-opacity": 0.8 },
    },
    {
      id: "entities-fill",
      type: "fill",
      source: ENTITY_SOURCE,
      filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": ["get", "color"], "fill-opacity": ["case", selected, 0.42, 0.18] },
    },
    {
      id: "entities-line",
      type: "line",
      source: ENTITY_SOURCE,
      filter: ["in", ["geometry-type"], ["literal", ["Polygon", "LineString"]]],
      paint: { "line-color": ["case", selected, "#ffffff", ["get", "color"]], "line-width": ["case", selected, 3, 1.5] },
    },
    {
      id: "entities-point",
      type: "circle",
      source: ENTITY_SOURCE,
      filter: ["==", ["geometry-type"], "Point"],
      paint: {
        "circle-color": ["get", "color"],
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 4, 2, 10, 3.5, 14, 6, 18, 9],
        "circle-stroke-color": ["case", selected, "#ffffff", "#0a141d"],
        "circle-stroke-width": ["case", selected, 3, 0.8],
      },
    },
    {
      id: "entities-label",
      type: "symbol",
      source: ENTITY_SOURCE,
      minzoom: 12,
      filter: ["==", ["geometry-type"], "Point"],
      layout: { ...LABEL_LAYOUT, "text-offset": [0, 1.0], "text-anchor": "top" },
      paint: LABEL_PAINT,
    },
    {
      id: "entities-area-label",
      type: "symbol",
      source: ANCHOR_SOURCE,
      minzoom: 11,
      layout: LABEL_LAYOUT,
      paint: { ...LABEL_PAINT, "text-color": "#b8c7d3" },
    },
  );
  return { version: 8, name: "MSR control room", sources, layers };
}
