/** The picture: entities from states and events, the diffs for the map, and where an entity is. */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { WireEvent } from "../src/api/protocol.js";
import { EntityStore } from "../src/model/entities.js";
import { anchorOf, locate } from "../src/model/geo.js";

const point = (lon: number, lat: number): string => JSON.stringify({ type: "Feature", geometry: { type: "Point", coordinates: [lon, lat] }, properties: { kind: "vehicle", name: "V" } });
const event = (id: string, op: WireEvent["op"], lon = 103.8, table = "fleet.vehicles"): WireEvent => ({
  entity_id: id,
  table_name: table,
  op,
  entity_state: op === "d" ? null : { id, geojson: point(lon, 1.3), entity_type: "vehicle" },
  event_timestamp: "2024-01-01T00:00:00Z",
});

test("events create, move and delete entities, and the diff says so", () => {
  const store = new EntityStore();
  store.applyEvents([event("a", "c"), event("b", "c")]);
  const first = store.takeDiff();
  assert.equal(first?.upserts.length, 2);
  assert.equal(store.size, 2);
  store.applyEvents([event("a", "u", 103.9), event("b", "d")]);
  const second = store.takeDiff();
  assert.deepEqual(second?.upserts.map((f) => (f.geometry as { coordinates: number[] }).coordinates[0]), [103.9]);
  assert.equal(second?.removes.length, 1);
  assert.equal(store.size, 1);
  assert.equal(store.takeDiff(), null, "nothing changed since");
});

test("an entity deleted and created again keeps its map id", () => {
  const store = new EntityStore();
  store.applyEvents([event("a", "c")]);
  const id = store.takeDiff()?.upserts[0]?.id;
  store.applyEvents([event("a", "d"), event("a", "c")]);
  assert.equal(store.takeDiff()?.upserts[0]?.id, id);
});

test("a state in chunks replaces the picture only when its last chunk arrives", () => {
  const store = new EntityStore();
  store.applyEvents([event("old", "c")]);
  store.takeDiff();
  store.applyStateChunk([event("a", "r")], 1, 2);
  assert.equal(store.size, 1);
  assert.ok(store.find("fleet.vehicles", "old"), "the old picture stays while the state arrives");
  assert.ok(store.receivingState);
  store.applyStateChunk([event("b", "r")], 2, 2);
  assert.equal(store.size, 2);
  assert.equal(store.find("fleet.vehicles", "old"), undefined);
  const diff = store.takeDiff();
  assert.equal(diff?.upserts.length, 2);
  assert.equal(diff?.removes.length, 1);
});

test("tables get distinct colours and counts", () => {
  const store = new EntityStore();
  store.applyEvents([event("a", "c"), event("z", "c", 103.8, "geo.zones"), event("b", "c")]);
  const tables = store.tableList();
  assert.deepEqual(tables.map((t) => [t.name, t.count]), [["fleet.vehicles", 2], ["geo.zones", 1]]);
  assert.notEqual(tables[0]?.color, tables[1]?.color);
});

test("lines and polygons get a label anchor, points do not", () => {
  const store = new EntityStore();
  const square = { type: "Polygon", coordinates: [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]] };
  store.applyEvents([{ ...event("z", "c", 0, "geo.zones"), entity_state: { geometry: square, name: "Zone 1" } }, event("a", "c")]);
  const diff = store.takeDiff();
  assert.equal(diff?.anchorUpserts.length, 1);
  assert.deepEqual(diff?.anchorUpserts[0]?.geometry, { type: "Point", coordinates: [1, 1] });
  assert.equal(diff?.anchorUpserts[0]?.properties?.["label"], "Zone 1");
});

test("locate reads the seed's geojson string, geometry objects, features and lon/lat fields", () => {
  assert.deepEqual(locate({ geojson: point(1, 2) }).geometry, { type: "Point", coordinates: [1, 2] });
  assert.equal(locate({ geojson: point(1, 2) }).properties["name"], "V");
  assert.deepEqual(locate({ geometry: { type: "LineString", coordinates: [[0, 0], [1, 1]] } }).geometry?.type, "LineString");
  assert.deepEqual(locate({ type: "Feature", geometry: { type: "Point", coordinates: [3, 4] }, properties: {} }).geometry, { type: "Point", coordinates: [3, 4] });
  assert.deepEqual(locate({ lon: "5", lat: 6 }).geometry, { type: "Point", coordinates: [5, 6] });
  assert.equal(locate({ geojson: "{broken" }).geometry, null);
  assert.equal(locate(null).geometry, null);
  assert.deepEqual(anchorOf({ type: "Point", coordinates: [7, 8] }), [7, 8]);
});

test("a diff-seek frame brings the picture to the target's: upserts, and deletes even of unknown entities", () => {
  const store = new EntityStore();
  store.applyStateChunk([event("a", "c"), event("b", "c")], 1, 1);
  store.takeDiff();
  // Backward past b's creation and a's move; c is deleted at the target although this picture never had it.
  store.applyEvents([event("a", "u", 100.5), event("b", "d"), event("c", "d")]);
  const diff = store.takeDiff();
  assert.equal(diff?.upserts.length, 1);
  assert.equal(diff?.removes.length, 1);
  assert.equal(store.size, 1);
});
