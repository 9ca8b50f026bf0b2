/**
 * The offline basemap: Natural Earth land and borders as vector tiles, packed by the build into one file
 * (`basemap.bin`, see ui/build.mjs). It is fetched once from this server; MapLibre's tile requests for the
 * `msrbase://` scheme are answered from it.
 */

import { addProtocol } from "maplibre-gl";

export const BASEMAP_PROTOCOL = "msrbase";
export const BASEMAP_TILES = `${BASEMAP_PROTOCOL}://{z}/{x}/{y}`;

interface Pack {
  maxzoom: number;
  tiles: Record<string, [number, number]>;
  data: ArrayBuffer;
}

/** Read a packed basemap: "MSRT", uint32 index length, JSON index, tiles. */
export function unpack(buffer: ArrayBuffer): Pack {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== "MSRT") throw new Error("basemap.bin is not a packed basemap");
  const length = view.getUint32(4, true);
  const index = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, length))) as Omit<Pack, "data">;
  return { ...index, data: buffer.slice(8 + length) };
}

let pack: Promise<Pack> | null = null;

/** Register the `msrbase://` protocol (once per page). */
export function registerBasemap(url: string): void {
  addProtocol(BASEMAP_PROTOCOL, async (params) => {
    pack ??= fetch(url).then(async (response) => {
      if (!response.ok) throw new Error(`basemap: HTTP ${response.status}`);
      return unpack(await response.arrayBuffer());
    });
    const loaded = await pack;
    const match = /^msrbase:\/\/(\d+)\/(\d+)\/(\d+)/.exec(params.url);
    const entry = match ? loaded.tiles[`${match[1]}/${match[2]}/${match[3]}`] : undefined;
    // A tile the pack lacks is open sea: an empty answer draws nothing.
    return { data: entry ? loaded.data.slice(entry[0], entry[0] + entry[1]) : new ArrayBuffer(0) };
  });
}
