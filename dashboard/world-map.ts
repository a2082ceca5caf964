// The dashboard's world map, made when the page is built (never in the browser): Natural Earth's 1:110m countries
// from the `world-atlas` package, projected with d3-geo's Natural Earth projection and written as SVG path data in
// whole units, one path per ISO 3166-1 alpha-2 code. The page imports it as `virtual:world-map`, a chunk of its own
// loaded after the first paint; it carries no TopoJSON decoder and no projection code.
import { createRequire } from "node:module";
import { geoNaturalEarth1, geoPath, type GeoContext } from "d3-geo";
import countries from "i18n-iso-countries";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import type { Plugin } from "vite";

const MODULE = "virtual:world-map";
const RESOLVED = `\0${MODULE}`;
/** Map units across; the page scales the SVG to its card. Whole units are finer than a pixel at any card width. */
const WIDTH = 1000;

/**
 * Shapes Natural Earth draws without an ISO 3166-1 numeric code, and the code a GeoIP database gives their visitors:
 * Kosovo's user-assigned XK (MaxMind's), and two regions shaded with the country that contains them.
 */
const UNCODED: Record<string, string> = { Kosovo: "XK", "N. Cyprus": "CY", Somaliland: "SO" };

export interface WorldMap {
  readonly width: number;
  readonly height: number;
  /** SVG path data by alpha-2 code (some codes draw several shapes, e.g. CY). */
  readonly countries: Readonly<Record<string, string>>;
}

/** Builds the map data. Antarctica is left out: no visitors to speak of, and a sixth of the map's height. */
export function buildWorldMap(): WorldMap {
  const require = createRequire(import.meta.url);
  const topology = require("world-atlas/countries-110m.json") as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const shapes = feature(topology, topology.objects.countries).features.filter((f) => f.properties.name !== "Antarctica");
  const projection = geoNaturalEarth1().fitWidth(WIDTH, { type: "FeatureCollection", features: shapes });
  const height = Math.ceil(geoPath(projection).bounds({ type: "FeatureCollection", features: shapes })[1][1]);
  const writers = new Map<string, RelativePath>();
  for (const shape of shapes) {
    const code = shape.id === undefined ? UNCODED[shape.properties.name] : countries.numericToAlpha2(String(shape.id));
    if (!code) throw new Error(`world map: no ISO code for ${shape.properties.name} (${String(shape.id)})`);
    const writer = writers.get(code) ?? new RelativePath();
    writers.set(code, writer);
    geoPath(projection, writer)(shape);
  }
  const paths = Object.fromEntries([...writers].map(([code, writer]) => [code, writer.toString()]));
  return { width: WIDTH, height, countries: paths };
}

/**
 * A d3-geo path context that writes relative SVG commands in whole units and drops points that round onto the one
 * before: a fraction of the size of d3's absolute, three-decimal output. The first `m` is relative to 0,0, which SVG
 * reads as absolute.
 */
class RelativePath implements GeoContext {
  private out = "";
  private x = 0;
  private y = 0;
  /** Where the open subpath started: after `z`, SVG's current point is back there. */
  private start: [number, number] = [0, 0];

  moveTo(x: number, y: number): void {
    const [rx, ry] = [Math.round(x), Math.round(y)];
    this.out += `m${rx - this.x} ${ry - this.y}`;
    [this.x, this.y] = [rx, ry];
    this.start = [rx, ry];
  }

  lineTo(x: number, y: number): void {
    const [rx, ry] = [Math.round(x), Math.round(y)];
    if (rx === this.x && ry === this.y) return;
    this.out += `l${rx - this.x} ${ry - this.y}`;
    [this.x, this.y] = [rx, ry];
  }

  closePath(): void {
    this.out += "z";
    [this.x, this.y] = this.start;
  }

  beginPath(): void {
    // Subpaths start with moveTo.
  }

  arc(): void {
    // Only called for points (Point geometries), which countries do not have.
  }

  toString(): string {
    return this.out.replace(/ -/g, "-");
  }
}

/** Vite plugin: `import("virtual:world-map")` resolves to the data of buildWorldMap(). */
export function worldMap(): Plugin {
  return {
    name: "pulse-world-map",
    resolveId: (id) => (id === MODULE ? RESOLVED : null),
    load: (id) => (id === RESOLVED ? `export default ${JSON.stringify(buildWorldMap())};` : null),
  };
}
