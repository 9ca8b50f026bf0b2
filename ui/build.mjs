// Builds the browser UI into ../static/build: the bundles (esbuild), MapLibre's worker, and the offline
// Natural Earth basemap converted from the world-atlas npm package. `node build.mjs --tests` instead bundles
// the unit tests into build/tests for `node --test`.
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { GeoJSONVT } from "@maplibre/geojson-vt";
import { fromGeojsonVt } from "@maplibre/vt-pbf";
import * as esbuild from "esbuild";
import { feature, mesh } from "topojson-client";

const root = dirname(fileURLToPath(import.meta.url));
const modules = join(root, "node_modules");

async function buildTests() {
  const out = join(root, "build", "tests");
  await rm(out, { recursive: true, force: true });
  const entries = (await readdir(join(root, "tests"))).filter((name) => name.endsWith(".test.ts"));
  await esbuild.build({
    entryPoints: entries.map((name) => join(root, "tests", name)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: out,
    outExtension: { ".js": ".mjs" },
    packages: "external",
    logLevel: "warning",
  });
}

/** The deepest zoom of the basemap tiles; MapLibre overzooms them beyond (the data is 1:10m, about 1 km). */
const BASEMAP_MAX_ZOOM = 6;

/**
 * The basemap as vector tiles packed in one file, `basemap.bin`: "MSRT", the byte length of a JSON index
 * (uint32, little endian), the index `{maxzoom, tiles: {"z/x/y": [offset, length]}}`, then the tiles. The page
 * fetches it once and serves MapLibre's tile requests from it, so the map shows its first frame at once instead
 * of cutting megabytes of GeoJSON into tiles in the browser.
 */
async function buildBasemap(out) {
  const topology = JSON.parse(await readFile(join(modules, "world-atlas", "countries-10m.json"), "utf8"));
  const options = { maxZoom: BASEMAP_MAX_ZOOM, indexMaxZoom: 0, tolerance: 2, extent: 4096, buffer: 64 };
  const layers = {
    land: new GeoJSONVT(feature(topology, topology.objects.land), options),
    borders: new GeoJSONVT(mesh(topology, topology.objects.countries, (a, b) => a !== b), options),
  };
  const index = {};
  const chunks = [];
  let offset = 0;
  const visit = (z, x, y) => {
    const tiles = {};
    for (const [name, vt] of Object.entries(layers)) {
      const tile = vt.getTile(z, x, y);
      if (tile && tile.features.length) tiles[name] = tile;
    }
    if (Object.keys(tiles).length === 0) return;
    const bytes = fromGeojsonVt(tiles, { version: 2, extent: 4096 });
    index[`${z}/${x}/${y}`] = [offset, bytes.length];
    chunks.push(bytes);
    offset += bytes.length;
    if (z < BASEMAP_MAX_ZOOM) {
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) visit(z + 1, x * 2 + dx, y * 2 + dy);
    }
  };
  visit(0, 0, 0);
  const header = Buffer.from(JSON.stringify({ maxzoom: BASEMAP_MAX_ZOOM, tiles: index }), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.write("MSRT", 0, "ascii");
  prefix.writeUInt32LE(header.length, 4);
  const dir = join(out, "basemap");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "basemap.bin"), Buffer.concat([prefix, header, ...chunks]));
  await copyFile(join(modules, "world-atlas", "LICENSE"), join(dir, "LICENSE.world-atlas.txt"));
}

async function buildApp() {
  const out = resolve(root, "..", "static", "build");
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { app: "src/main.ts", operator: "src/operator.ts" },
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: "linked",
    legalComments: "linked",
    outdir: out,
    logLevel: "warning",
  });
  await copyFile(join(modules, "maplibre-gl", "dist", "maplibre-gl-worker.mjs"), join(out, "maplibre-gl-worker.mjs"));
  await copyFile(join(modules, "maplibre-gl", "LICENSE.txt"), join(out, "LICENSE.maplibre-gl.txt"));
  await buildBasemap(out);
}

if (process.argv.includes("--tests")) await buildTests();
else await buildApp();
