// npm runs this after every `npm install` / `npm ci` in this folder (the `prepare` script). A development install
// generates the Prisma clients and builds dist/ (`npm run build`), so `node dist/main.js` works right after it. An
// install without dev dependencies (`npm ci --omit=dev`) cannot build: it builds nothing, and runs the dist/ built
// beforehand (as the Dockerfile's runtime stage runs what its build stage built).
import { execSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// Everything the build runs: the compiler, the Prisma CLI, Vite and tsx (all dev dependencies).
try {
  for (const name of ["typescript", "prisma/package.json", "vite/package.json", "tsx/package.json"]) require.resolve(name);
} catch {
  console.log("pulse: no dev dependencies (a production install): not building; run the dist/ built beforehand.");
  process.exit(0);
}
execSync("npm run generate && npm run build", { stdio: "inherit" });
