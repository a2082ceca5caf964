import { defineConfig } from "vite";

// Built into dist/dashboard: index.html at its root (served at /), hashed files under /dashboard/assets/.
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  logLevel: "warn",
  build: { outDir: "../dist/dashboard", emptyOutDir: true, assetsDir: "dashboard/assets", reportCompressedSize: true },
});
