/** The world map's shapes, made when the page is built (dashboard/world-map.ts). */
declare module "virtual:world-map" {
  const world: { readonly width: number; readonly height: number; readonly countries: Readonly<Record<string, string>> };
  export default world;
}
