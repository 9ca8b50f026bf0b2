/** The viewport the map reports: boxes in range, the antimeridian, the whole world, debouncing. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { type Bbox, ViewportReporter, viewportBox } from "../src/map/viewport.js";

test("a map view becomes a box within the valid ranges", () => {
  assert.deepEqual(viewportBox(103.6, 1.2, 104.1, 1.5), [103.6, 1.2, 104.1, 1.5]);
  assert.deepEqual(viewportBox(-10, -95, 10, 95), [-10, -90, 10, 90], "latitudes are clamped");
  assert.deepEqual(viewportBox(170, -5, 190, 5), [170, -5, -170, 5], "across the antimeridian: west > east");
  assert.deepEqual(viewportBox(-200, 0, -170, 5), [160, 0, -170, 5]);
  assert.equal(viewportBox(-180, -80, 180, 80), null, "the whole world is no box");
  assert.equal(viewportBox(-300, -80, 300, 80), null);
});

test("the viewport is sent once the map rests, and only when it changed", async () => {
  const sent: (Bbox | null)[] = [];
  let box: Bbox | null = [1, 2, 3, 4];
  const reporter = new ViewportReporter(() => box, (bbox) => (sent.push(bbox), true), 20);
  reporter.moved();
  reporter.moved();
  reporter.moved();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(sent, [[1, 2, 3, 4]], "three moves in a row: one message");
  reporter.moved();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(sent.length, 1, "the same box is not sent again");
  box = [5, 6, 7, 8];
  reporter.moved();
  await new Promise((resolve) => setTimeout(resolve, 60));
  reporter.reconnected();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(sent, [[1, 2, 3, 4], [5, 6, 7, 8], [5, 6, 7, 8]], "a new connection gets the box again");
});
