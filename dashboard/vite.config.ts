import { defineConfig } from "vite";
import { worldMap } from "./world-map.ts";

// Built into dist/dashboard: index.html at its root (served at /), hashed files under /dashboard/assets/. The world
// map's shapes are made here, at build time, from the world-atlas package (./world-map.ts), into a chunk of their own.
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  logLevel: "warn",
  plugins: [worldMap()],
  build: { outDir: "../dist/dashboard", emptyOutDir: true, assetsDir: "dashboard/assets", reportCompressedSize: true },
});
