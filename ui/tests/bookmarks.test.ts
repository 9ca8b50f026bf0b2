/** Where bookmarks sit on the timeline. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { markerFraction } from "../src/ui/bookmarks.js";

test("a bookmark's marker sits at its place in the window, and none outside it", () => {
  assert.equal(markerFraction(1500, 1000, 2000), 0.5);
  assert.equal(markerFraction(1000, 1000, 2000), 0);
  assert.equal(markerFraction(2000, 1000, 2000), 1);
  assert.equal(markerFraction(999, 1000, 2000), null);
  assert.equal(markerFraction(2001, 1000, 2000), null);
  assert.equal(markerFraction(1000, 1000, 1000), null, "an empty window has no places");
});
