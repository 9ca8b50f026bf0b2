/** Trails: recent positions per entity, bounded, dropped when old, reset by going back in time. */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { WireEvent } from "../src/api/protocol.js";
import { Trails } from "../src/model/trails.js";

const T0 = Date.parse("2024-01-01T00:00:00Z");
const move = (id: string, seconds: number, lon: number, op: WireEvent["op"] = "u"): WireEvent => ({
  entity_id: id,
  table_name: "fleet.vehicles",
  op,
  entity_state: op === "d" ? null : { geometry: { type: "Point", coordinates: [lon, 1.3] } },
  event_timestamp: new Date(T0 + seconds * 1000).toISOString(),
});

test("a trail follows an entity's positions within its length", () => {
  const trails = new Trails({ lengthMs: 60_000 });
  trails.addEvents([move("a", 0, 103.0), move("a", 30, 103.1), move("a", 50, 103.2), move("b", 50, 104.0)]);
  const now = trails.features(T0 + 60_000);
  assert.equal(now.length, 1, "b has one position: no line yet");
  assert.deepEqual(now[0]!.geometry.coordinates, [[103.0, 1.3], [103.1, 1.3], [103.2, 1.3]]);
  const later = trails.features(T0 + 80_000);
  assert.deepEqual(later[0]!.geometry.coordinates, [[103.1, 1.3], [103.2, 1.3]], "positions older than the length go");
  assert.equal(trails.points, 3);
});

test("memory is bounded per entity and in entities, and deletes and seeks back drop trails", () => {
  const trails = new Trails({ lengthMs: 3_600_000, maxPoints: 5, maxEntities: 3 });
  trails.addEvents(Array.from({ length: 50 }, (_, i) => move("a", i, 103 + i / 100)));
  assert.equal(trails.points, 5);
  trails.addEvents([move("b", 60, 1), move("c", 61, 2), move("d", 62, 3), move("b", 63, 1.5)]);
  assert.equal(trails.size, 3, "the least recently moved (a) is forgotten");
  trails.addEvents([move("b", 64, 0, "d")]);
  assert.equal(trails.size, 2);
  trails.addEvents([move("c", 10, 2.5)]);
  assert.equal(trails.size, 1, "going back in time starts afresh");
});
