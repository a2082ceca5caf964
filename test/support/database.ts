import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A `DATABASE_URL` of its own for a child `src/main.ts`: without one it would default to ./data/pulse.db in the
 * repository, shared by every test process running at once. The folder is removed by the `onCleanup` given.
 */
export function tempDatabaseUrl(onCleanup: (close: () => unknown) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "pulse-test-db-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return `file:${join(dir, "pulse.db")}`;
}
