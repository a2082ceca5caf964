// npm runs this after every `npm install` / `npm ci` in this folder (the `prepare` script). A development install
// generates the Prisma clients and builds dist/ (`npm run build`), so `node dist/main.js` works right after it. An
// install without dev dependencies (`npm ci --omit=dev`) has no Prisma CLI and no compiler: it builds nothing, and
// runs the dist/ built beforehand (the Dockerfile's build stage).
import { execSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
try {
  require.resolve("typescript");
  require.resolve("prisma/package.json");
} catch {
  console.log("pulse: no dev dependencies (a production install): not building; run the dist/ built beforehand.");
  process.exit(0);
}
execSync("npm run generate && npm run build", { stdio: "inherit" });
