/**
 * The map: MapLibre GL (WebGL) with the entity layers fed from the EntityStore. Changes are sent to MapLibre's
 * worker as diffs (`updateData`), at most once per animation frame and never while the previous one is still
 * being applied, so 10,000 moving entities cost the main thread only the changed features.
 */

import * as maplibregl from "maplibre-gl";
import type { GeoJSONSource, MapGeoJSONFeature, MapLayerMouseEvent } from "maplibre-gl";

import type { EntityRecord, EntityStore } from "../model/entities.js";
import { anchorOf } from "../model/geo.js";
import { registerBasemap } from "./basemap.js";
import { ANCHOR_SOURCE, ENTITY_LAYERS, ENTITY_SOURCE, LABEL_LAYERS, buildStyle } from "./style.js";

export interface MapViewOptions {
  container: HTMLElement;
  store: EntityStore;
  tileUrl: string | null;
  /** Shows the popup content of an entity. */
  renderPopup: (record: EntityRecord, view: MapView) => HTMLElement;
  /** Called after each flush with how long it took on the main thread (ms). */
  onFlush?: (ms: number, features: number) => void;
}

/** The slowest drawing pace: the picture is redrawn at least once a second whatever the machine. */
const MAX_FLUSH_INTERVAL_MS = 1000;

/** Singapore: where the demo data lives, the view before any data arrives. */
const START_CENTER: [number, number] = [103.82, 1.35];
const START_ZOOM = 10;

export class MapView {
  readonly map: maplibregl.Map;
  private ready = false;
  private flushing = false;
  private dirty = false;
  private frameGap = 16.7;
  private lastFrame = 0;
  private lastFlush = 0;
  private selectedFid: number | null = null;
  private followFid: number | null = null;
  private popup: maplibregl.Popup | null = null;
  private popupVersion = "";
  private hiddenTables = new Set<string>();
  /** Called when following stops (the user panned, or the entity left). */
  onFollowChange: (fid: number | null) => void = () => undefined;

  constructor(private readonly options: MapViewOptions) {
    maplibregl.setWorkerUrl(new URL("/static/build/maplibre-gl-worker.mjs", location.origin).href);
    registerBasemap(new URL("/static/build/basemap/basemap.bin", location.origin).href);
    this.map = new maplibregl.Map({
      container: options.container,
      style: buildStyle(location.origin, options.tileUrl),
      center: START_CENTER,
      zoom: START_ZOOM,
      attributionControl: { compact: true },
      maxPitch: 0,
      fadeDuration: 0,
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    this.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    this.map.dragRotate.disable();
    this.map.touchZoomRotate.disableRotation();
    this.map.on("load", () => {
      this.ready = true;
      const { features, anchors } = options.store.allFeatures();
      this.source().setData({ type: "FeatureCollection", features });
      this.anchorSource().setData({ type: "FeatureCollection", features: anchors });
    });
    for (const layer of ENTITY_LAYERS) {
      this.map.on("click", layer, (event: MapLayerMouseEvent) => this.onClick(event));
      this.map.on("mouseenter", layer, () => (this.map.getCanvas().style.cursor = "pointer"));
      this.map.on("mouseleave", layer, () => (this.map.getCanvas().style.cursor = ""));
    }
    this.map.on("dragstart", () => this.follow(null));
  }

  private source(): GeoJSONSource {
    return this.map.getSource(ENTITY_SOURCE) as GeoJSONSource;
  }

  private anchorSource(): GeoJSONSource {
    return this.map.getSource(ANCHOR_SOURCE) as GeoJSONSource;
  }

  /** Mark the store's changes for drawing; they go out at the next animation frame the pacing allows. */
  requestFlush(): void {
    this.dirty = true;
  }

  /**
   * Called at every animation frame. Drawing is paced by how smoothly the machine draws: every frame when
   * frames come every 16 ms, less often when drawing falls behind (each flush makes MapLibre rebuild the tiles
   * it touches). The picture in the store is always current; only how often it is drawn adapts, so frames from
   * the server are still applied as they arrive.
   */
  onAnimationFrame(now: number): void {
    if (this.lastFrame > 0) this.frameGap = 0.8 * this.frameGap + 0.2 * Math.min(now - this.lastFrame, 2000);
    this.lastFrame = now;
    if (!this.dirty || this.flushing || now - this.lastFlush < this.flushInterval) return;
    this.dirty = false;
    this.lastFlush = now;
    void this.flush();
  }

  /** The least time between two flushes (ms), from the smoothed gap between animation frames. */
  get flushInterval(): number {
    return Math.min(MAX_FLUSH_INTERVAL_MS, Math.max(0, (this.frameGap - 17) * 4));
  }

  private async flush(): Promise<void> {
    if (!this.ready || this.flushing) return;
    const started = performance.now();
    const diff = this.options.store.takeDiff();
    if (diff === null) {
      this.keepFollowing();
      return;
    }
    this.flushing = true;
    const pending = Promise.all([
      this.source().updateData({ add: diff.upserts, remove: diff.removes }),
      this.anchorSource().updateData({ add: diff.anchorUpserts, remove: diff.removes }),
    ]);
    this.options.onFlush?.(performance.now() - started, diff.upserts.length + diff.removes.length);
    this.keepFollowing();
    this.refreshPopup();
    try {
      await pending;
    } catch (error) {
      console.error("map update failed", error);
    } finally {
      this.flushing = false;
    }
  }

  /** Show or hide a table's entities. */
  setTableVisible(table: string, visible: boolean): void {
    if (visible) this.hiddenTables.delete(table);
    else this.hiddenTables.add(table);
    const filter = this.hiddenTables.size ? ["!", ["in", ["get", "table"], ["literal", [...this.hiddenTables]]]] : null;
    const byType: Record<string, unknown[]> = {
      "entities-fill": ["==", ["geometry-type"], "Polygon"],
      "entities-line": ["in", ["geometry-type"], ["literal", ["Polygon", "LineString"]]],
      "entities-point": ["==", ["geometry-type"], "Point"],
      "entities-label": ["==", ["geometry-type"], "Point"],
      "entities-area-label": ["literal", true],
    };
    for (const layer of [...ENTITY_LAYERS, ...LABEL_LAYERS]) {
      const base = byType[layer];
      this.map.setFilter(layer, (filter ? ["all", base, filter] : base) as maplibregl.FilterSpecification);
    }
  }

  /** Zoom to every visible entity (not closer than `maxZoom`). */
  fitToData(maxZoom = 15): boolean {
    const visible = new Set(this.options.store.tableList().map((t) => t.name).filter((name) => !this.hiddenTables.has(name)));
    const bounds = this.options.store.bounds(visible);
    if (bounds.empty) return false;
    this.follow(null);
    this.map.fitBounds(
      [
        [bounds.west, bounds.south],
        [bounds.east, bounds.north],
      ],
      { padding: { top: 60, bottom: 60, left: 60, right: 330 }, maxZoom, duration: 600 },
    );
    return true;
  }

  /** Select an entity (highlight and popup); null clears. */
  select(fid: number | null): void {
    if (this.selectedFid !== null && this.ready) {
      this.map.setFeatureState({ source: ENTITY_SOURCE, id: this.selectedFid }, { selected: false });
    }
    this.selectedFid = fid;
    this.popup?.remove();
    this.popup = null;
    if (fid === null) return;
    const record = this.options.store.get(fid);
    if (!record || !record.geometry) return;
    if (this.ready) this.map.setFeatureState({ source: ENTITY_SOURCE, id: fid }, { selected: true });
    const anchor = anchorOf(record.geometry);
    if (!anchor) return;
    this.popupVersion = record.timestamp;
    this.popup = new maplibregl.Popup({ closeButton: true, maxWidth: "380px", className: "entity-popup", focusAfterOpen: false })
      .setLngLat(anchor)
      .setDOMContent(this.options.renderPopup(record, this))
      .addTo(this.map);
    this.popup.on("close", () => {
      if (this.popup && !this.popup.isOpen()) this.popup = null;
    });
  }

  get selected(): number | null {
    return this.selectedFid;
  }

  get following(): number | null {
    return this.followFid;
  }

  /** Keep the map centred on an entity as it moves; null stops. */
  follow(fid: number | null): void {
    if (this.followFid === fid) return;
    this.followFid = fid;
    this.onFollowChange(fid);
    if (fid !== null) this.keepFollowing(true);
    // The popup's button says whether its entity is followed.
    this.popupVersion = "";
    this.refreshPopup();
  }

  private keepFollowing(jump = false): void {
    if (this.followFid === null) return;
    const record = this.options.store.get(this.followFid);
    if (!record || !record.geometry) {
      this.follow(null);
      return;
    }
    const anchor = anchorOf(record.geometry);
    if (!anchor) return;
    if (jump) this.map.easeTo({ center: anchor, zoom: Math.max(this.map.getZoom(), 14), duration: 500 });
    else this.map.setCenter(anchor);
  }

  private refreshPopup(): void {
    if (this.selectedFid === null || !this.popup) return;
    const record = this.options.store.get(this.selectedFid);
    if (!record || !record.geometry) {
      this.popup.remove();
      this.popup = null;
      return;
    }
    // Redraw only when the entity changed: an open "Full state" or a text selection should survive other updates.
    if (record.timestamp === this.popupVersion) return;
    this.popupVersion = record.timestamp;
    const anchor = anchorOf(record.geometry);
    if (anchor) this.popup.setLngLat(anchor);
    this.popup.setDOMContent(this.options.renderPopup(record, this));
  }

  private onClick(event: MapLayerMouseEvent): void {
    const feature: MapGeoJSONFeature | undefined = event.features?.[0];
    if (feature === undefined || typeof feature.id !== "number") return;
    this.select(feature.id);
  }

  /** Resize after the container changed size. */
  resize(): void {
    this.map.resize();
  }
}
